"""Deleting an organization removes its rows from every table that holds them, by itself: the
result must not depend on the database honouring ON DELETE CASCADE (a Postgres schema restored
without its constraints, a SQLite connection without foreign_keys=ON)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, event, func, select

from app.cli import main
from app.datasets import registry_tables
from app.db import make_engine
from app.services.access import OPERATOR
from app.services.organizations import delete_organization
from app.settings import Settings
from tests.utils.factories import rows_of_organization


def test_delete_empties_every_table_of_the_organization_without_the_cascade(
    settings: Settings, engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("switches SQLite's foreign-key enforcement off for one engine")
    monkeypatch.setenv("FINOPS_CLAUDE_CODE", "true")  # every table of a Console organization
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    assert main(["connect", "--demo", "--json"]) == 0
    console = json.loads(capsys.readouterr().out)["organization_id"]
    assert main(["connect", "--demo", "--provider", "enterprise", "--json"]) == 0
    enterprise = json.loads(capsys.readouterr().out)["organization_id"]
    # An allocation, so its lines and marks hold rows of both organizations after the sync.
    rules = settings.data_dir / "team.yaml"
    rules.write_text("allocation: Team\ndefault: Unallocated\nrules: []\n", encoding="utf-8")
    assert main(["allocations", "import", str(rules)]) == 0
    assert main(["sync"]) == 0
    capsys.readouterr()
    pks = {}
    with engine.connect() as conn:
        for org_id in (console, enterprise):
            pks[org_id] = conn.exec_driver_sql(
                "SELECT id FROM organization WHERE organization_id = ?", (org_id,)
            ).scalar_one()
    # Rows a sync writes only on some days or for some keys, written here for both: a day
    # Anthropic restated (a second sync logs it), an anomaly (whether the demo data has one
    # depends on today's date) and the per-key estimate (made where the key is refused).
    from decimal import Decimal

    from app.clock import utcnow
    from app.db import write_session
    from app.finops.anomaly_tables import Anomaly
    from app.models import KeyCostEstimate, KeyEstimateMark, Restatement

    day, one = utcnow().date(), Decimal(1)
    with write_session(engine) as session:
        for pk in pks.values():
            session.add(
                Restatement(
                    organization_pk=pk,
                    dataset="cost",
                    day=day,
                    before_cents=one,
                    after_cents=Decimal(2),
                    found_at=utcnow(),
                )
            )
            session.add(
                Anomaly(
                    organization_pk=pk,
                    date=day - timedelta(days=400),
                    dimension="organization",
                    value_key="written by the test",
                    value_name="written by the test",
                    actual_cents=one,
                    expected_cents=one,
                    low_cents=one,
                    high_cents=one,
                    impact_cents=one,
                    episode_start=day - timedelta(days=400),
                    first_found_at=utcnow(),
                    updated_at=utcnow(),
                )
            )
            session.add(KeyCostEstimate(organization_pk=pk, date=day, amount_cents=one))
            session.add(KeyEstimateMark(organization_pk=pk))
    before = {
        table: rows_of_organization(engine, pks[console])[table]
        + rows_of_organization(engine, pks[enterprise])[table]
        for table in rows_of_organization(engine, pks[console])
    }
    # Not vacuous: every table that belongs to an organization has rows of these two.
    assert all(before.values()), {t: n for t, n in before.items() if not n}

    loose = make_engine(settings.resolved_database_url)

    @event.listens_for(loose, "connect")
    def _no_cascade(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    try:
        for org_id in (console, enterprise):
            assert delete_organization(engine=loose, organization_id=org_id, actor=OPERATOR)
        for org_id in (console, enterprise):
            left = rows_of_organization(engine, pks[org_id])
            assert left == dict.fromkeys(left, 0), {t: n for t, n in left.items() if n}
            # Every table of the dataset registry too (detail and rollup of each dataset,
            # the derived and bookkeeping tables): tests/test_contracts.py holds the registry
            # to the schema's foreign keys, so this is also every table of the schema.
            with engine.connect() as conn:
                registered = {
                    table.name: conn.execute(
                        select(func.count())
                        .select_from(table)
                        .where(table.c.organization_pk == pks[org_id])
                    ).scalar_one()
                    for table in registry_tables()
                }
            assert set(registered) == set(before)
            assert registered == dict.fromkeys(registered, 0)
    finally:
        loose.dispose()
