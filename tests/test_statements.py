"""``finops statements close|export``: monthly chargeback statements (issue 17 point 6), on
SQLite and Postgres. A closed month's CSV and PDF agree to the cent with the cost export,
survive a restatement unchanged, and the restated difference shows on the next month."""

from __future__ import annotations

import csv
import io
import re
import zlib
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.cli import main
from app.db import read_session, write_session
from app.finops.allocation import allocated_days, reallocate
from app.finops.statement_tables import StatementLine
from app.finops.statements import dollars
from app.models import AuditEvent, Organization
from app.store import replace_days
from tests.test_allocation_store import EXAMPLE, START, day_rows, seed_orgs

SEPTEMBER = "2026-09"
OCTOBER = "2026-10"
RESTATED_DAY = date(2026, 9, 28)
RESTATEMENT_CENTS = Decimal("1234.567891")


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def pdf_text(data: bytes) -> str:
    """The text drawn in an fpdf2 PDF: its content streams' strings decoded through the
    fonts' ToUnicode maps (no PDF reader is a dependency)."""
    streams = []
    for match in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        try:
            streams.append(zlib.decompress(match.group(1)))
        except zlib.error:
            streams.append(match.group(1))
    glyphs: dict[bytes, str] = {}
    for stream in streams:
        for block in re.findall(rb"beginbfchar(.*?)endbfchar", stream, re.S):
            for code, uni in re.findall(rb"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                glyphs[bytes.fromhex(code.decode())] = bytes.fromhex(uni.decode()).decode(
                    "utf-16-be"
                )
    text = []
    for stream in streams:
        for raw in re.findall(rb"\(((?:\\.|[^\\)])*)\)\s*Tj", stream, re.S):
            unescaped = re.sub(
                rb"\\([nrtbf()\\])",
                lambda m: {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}.get(
                    m.group(1), m.group(1)
                ),
                raw,
            )
            if glyphs:
                text.append(
                    "".join(
                        glyphs.get(unescaped[i : i + 2], "") for i in range(0, len(unescaped), 2)
                    )
                )
            else:
                text.append(unescaped.decode("latin-1"))
    return "\n".join(text)


def read_csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def csv_total(rows: list[dict[str, str]], **where: str) -> Decimal:
    return sum(
        (
            Decimal(r["amount_usd"])
            for r in rows
            if all(r[key] == wanted for key, wanted in where.items())
        ),
        Decimal(0),
    )


def cost_export_total(capsys: pytest.CaptureFixture[str], start: str, end: str) -> Decimal:
    code, out, _ = run(capsys, "export", "--dataset", "cost", "--start", start, "--end", end)
    assert code == 0
    return sum((Decimal(r["amount_usd"]) for r in csv.DictReader(io.StringIO(out))), Decimal(0))


def allocation_total(engine: Engine, start: date, end: date) -> Decimal:
    rows = allocated_days(engine, "Team", start=start, end=end)
    return sum((r.amount_cents for r in rows), Decimal(0)).scaleb(-2)


def export(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, month: str, fmt: str
) -> tuple[Path, str]:
    target = tmp_path / f"team-{month}.{fmt}"
    code, out, err = run(
        capsys,
        "statements",
        "export",
        month,
        "--allocation",
        "Team",
        "--format",
        fmt,
        "-o",
        str(target),
    )
    assert code == 0, err
    return target, out


def test_a_closed_month_agrees_to_the_cent_and_survives_a_restatement(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    org_pk, _ = seed_orgs(engine, 2)
    example = tmp_path / "team.yaml"
    example.write_text(EXAMPLE)
    assert run(capsys, "allocations", "import", str(example))[0] == 0

    code, out, _ = run(capsys, "statements", "close", SEPTEMBER)
    assert code == 0 and "Team: 2026-09 closed" in out
    with read_session(engine) as session:
        closed_lines = session.execute(select(func.count()).select_from(StatementLine)).scalar()
        actions = list(session.execute(select(col(AuditEvent.action))).scalars())
    assert actions.count("statement.closed") == 1

    # CSV, allocation and the cost report agree to the micro-cent; the PDF shows the same
    # figures to the cent.
    september_csv, out = export(capsys, tmp_path, SEPTEMBER, "csv")
    assert "closed" in out
    rows = read_csv(september_csv)
    assert {r["status"] for r in rows} == {"closed"}
    assert {r["kind"] for r in rows} == {"charge"}
    total = csv_total(rows)
    assert total == allocation_total(engine, date(2026, 9, 1), date(2026, 10, 1))
    assert total == cost_export_total(capsys, "2026-09-01", "2026-10-01")
    assert START.month == 9 and total > 0  # the seeded days reach into September
    # The fixed 60/40 split of the Default workspace is shown on its lines.
    shares = {
        (r["value"], r["split_share_percent"])
        for r in rows
        if r["workspace"] == "Default workspace"
    }
    assert shares == {("Search", "60"), ("Support", "40")}
    assert {r["value"] for r in rows} == {"Search", "Support", "Unallocated"}
    september_pdf, _ = export(capsys, tmp_path, SEPTEMBER, "pdf")
    text = pdf_text(september_pdf.read_bytes())
    assert f"Total of the statement: USD {dollars(total.scaleb(2)):,.2f}" in text
    for value in ("Search", "Support", "Unallocated"):
        value_total = csv_total(rows, value=value)
        assert f"Total for {value}: USD {dollars(value_total.scaleb(2)):,.2f}" in text
    assert "PROVISIONAL" not in text and "Closed" in text

    # Anthropic restates a day of September; the sync replaces it and allocation follows.
    before = cost_export_total(capsys, "2026-09-01", "2026-10-01")
    restated = day_rows(RESTATED_DAY, 1)
    restated[0].amount_cents += RESTATEMENT_CENTS
    with write_session(engine) as session:
        replace_days(
            session, org_pk, "cost", RESTATED_DAY, RESTATED_DAY + timedelta(days=1), restated
        )
    assert reallocate(engine) >= 1
    change = cost_export_total(capsys, "2026-09-01", "2026-10-01") - before
    assert change == RESTATEMENT_CENTS.scaleb(-2)

    # The sent statement is unchanged, byte for byte.
    figures = september_csv.read_bytes()
    again, _ = export(capsys, tmp_path, SEPTEMBER, "csv")
    assert again.read_bytes() == figures
    # October (open) is provisional and carries the difference as an adjustment of September.
    october_csv, out = export(capsys, tmp_path, OCTOBER, "csv")
    assert "provisional" in out
    october = read_csv(october_csv)
    assert {r["status"] for r in october} == {"provisional"}
    adjustments = [r for r in october if r["kind"] == "adjustment"]
    assert {r["for_month"] for r in adjustments} == {SEPTEMBER}
    assert csv_total(october, kind="adjustment") == change
    with read_session(engine) as session:
        org_id = session.get(Organization, org_pk).organization_id  # type: ignore[union-attr]
    assert {r["organization_id"] for r in adjustments} == {org_id}
    assert csv_total(october, kind="charge") == cost_export_total(
        capsys, "2026-10-01", "2026-11-01"
    )
    october_text = pdf_text(export(capsys, tmp_path, OCTOBER, "pdf")[0].read_bytes())
    assert "PROVISIONAL" in october_text and "Adjustments" in october_text
    assert f"Total of the statement: USD {dollars(csv_total(october).scaleb(2)):,.2f}" in (
        october_text
    )

    # Closing again is a no-op; closing October locks the adjustment, so November has none.
    code, out, _ = run(capsys, "statements", "close", SEPTEMBER)
    assert code == 0 and "closed already" in out
    with read_session(engine) as session:
        assert (
            session.execute(select(func.count()).select_from(StatementLine)).scalar()
            == closed_lines
        )
    assert run(capsys, "statements", "close", OCTOBER)[0] == 0
    assert read_csv(export(capsys, tmp_path, OCTOBER, "csv")[0]) == [
        {**r, "status": "closed"} for r in october
    ]
    november = read_csv(export(capsys, tmp_path, "2026-11", "csv")[0])
    assert [r for r in november if r["kind"] == "adjustment"] == []


def test_bad_months_and_unknown_allocations_are_refused(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_orgs(engine, 1)
    code, _, err = run(capsys, "statements", "close", SEPTEMBER)
    assert code != 0 and "no allocations" in err
    example = tmp_path / "team.yaml"
    example.write_text(EXAMPLE)
    assert run(capsys, "allocations", "import", str(example))[0] == 0
    from app.clock import today

    current = f"{today():%Y-%m}"
    for month, reason in (
        ("2026-9", "not a month"),
        ("2026-13", "not a month"),
        ("September", "not a month"),
        (current, "current month"),
        ("2999-01", "not begun"),
    ):
        code, _, err = run(capsys, "statements", "close", month)
        assert code != 0 and reason in err and err.count("\n") == 1, (month, err)
    target = tmp_path / "x.csv"
    code, _, err = run(
        capsys, "statements", "export", SEPTEMBER, "--allocation", "Nope", "-o", str(target)
    )
    assert code != 0 and "No allocation is named Nope" in err and not target.exists()
    code, _, err = run(
        capsys, "statements", "export", "2026/09", "--allocation", "Team", "-o", str(target)
    )
    assert code != 0 and "not a month" in err and not target.exists()
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(StatementLine)).scalar() == 0


def test_untrusted_names_are_plain_text_in_csv_and_pdf(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from app.models import Workspace

    seed_orgs(engine, 1)
    with write_session(engine) as session:
        workspace = session.execute(
            select(Workspace).where(col(Workspace.workspace_id) == "wrkspc_lab")
        ).scalar_one()
        workspace.name = '=HYPERLINK("x")\nÜber'
        session.add(workspace)
    example = tmp_path / "team.yaml"
    example.write_text(EXAMPLE)
    assert run(capsys, "allocations", "import", str(example))[0] == 0
    rows = read_csv(export(capsys, tmp_path, SEPTEMBER, "csv")[0])
    names = {r["workspace"] for r in rows}
    assert '\'=HYPERLINK("x")\nÜber' in names
    text = pdf_text(export(capsys, tmp_path, SEPTEMBER, "pdf")[0].read_bytes())
    assert "Über" in text
    by_value: dict[str, Decimal] = defaultdict(Decimal)
    for r in rows:
        by_value[r["value"]] += Decimal(r["amount_usd"])
    assert f"Total for Unallocated: USD {dollars(by_value['Unallocated'].scaleb(2)):,.2f}" in text
