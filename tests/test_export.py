"""CSV exports: names from the API cannot become spreadsheet formulas, and quoting is right."""

from __future__ import annotations

import csv
import io
from datetime import date
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, insert

from app.clock import utcnow
from app.db import write_session
from app.models import CostLine, Organization, Workspace
from app.reports.export import export_csv
from app.reports.frames import to_csv


def test_formulas_are_neutralised_and_awkward_text_is_quoted(engine: Engine) -> None:
    with write_session(engine) as session:
        org = Organization(
            organization_id="org-1",
            name='Acme, "Inc"\nEU',
            key_ciphertext="x",
            key_hint="h",
            backfill_start=date(2026, 1, 1),
            created_at=utcnow(),
        )
        session.add(org)
        session.flush()
        session.add(
            Workspace(
                organization_pk=org.id,
                workspace_id="wrkspc_1",
                name='=HYPERLINK("http://evil.example","x")',
            )
        )
        session.execute(
            insert(CostLine),
            [
                {
                    "organization_pk": org.id,
                    "date": date(2026, 3, 1),
                    "workspace_id": "wrkspc_1",
                    "description": "@SUM(A1:A9)",
                    "amount_cents": Decimal("-12.5"),
                    "dims_key": "k",
                }
            ],
        )
    out = io.StringIO()
    assert export_csv(engine=engine, dataset="cost", out=out) == 1
    [row] = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert row["organization_name"] == 'Acme, "Inc"\nEU'  # commas, quotes and newlines survive
    assert row["workspace_name"] == '\'=HYPERLINK("http://evil.example","x")'
    assert row["description"] == "'@SUM(A1:A9)"
    assert row["amount_usd"] == "-0.125"  # a credit stays a number, not text


def test_chart_csv_keeps_numbers_and_neutralises_labels() -> None:
    frame = pd.DataFrame(
        [{"period": date(2026, 3, 1), "Workspace": "+cmd", "amount_usd": Decimal("-1.50")}]
    )
    [row] = list(csv.DictReader(io.StringIO(to_csv(frame).decode())))
    assert row == {"period": "2026-03-01", "Workspace": "'+cmd", "amount_usd": "-1.5"}
