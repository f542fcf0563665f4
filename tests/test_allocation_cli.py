"""``finops allocations import|list|export|remove`` and ``finops export --dataset allocation``
(in process, on SQLite and Postgres)."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.cli import main
from app.db import read_session
from app.models import AuditEvent, CostLine, Organization
from tests.test_allocation_store import EXAMPLE, seed_orgs


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def example_file(tmp_path: Path) -> Path:
    path = tmp_path / "team.yaml"
    path.write_text(EXAMPLE)
    return path


def test_import_list_export_remove(
    engine: Engine, capsys: pytest.CaptureFixture[str], example_file: Path, tmp_path: Path
) -> None:
    seed_orgs(engine, 1)
    code, out, _ = run(capsys, "allocations", "import", str(example_file))
    assert code == 0 and "Team imported" in out
    code, out, _ = run(capsys, "allocations", "list", "--json")
    listed = json.loads(out)
    assert [(a["name"], a["default"], a["rules"], a["version"]) for a in listed] == [
        ("Team", "Unallocated", 3, 1)
    ]
    code, exported, _ = run(capsys, "allocations", "export", "Team")
    assert code == 0 and exported.startswith("allocation: Team\n")
    # Re-importable: the exported file imports as the same rules.
    again = tmp_path / "again.yaml"
    again.write_text(exported)
    code, out, _ = run(capsys, "allocations", "import", str(again))
    assert code == 0 and "unchanged" in out
    assert run(capsys, "allocations", "export", "Team")[1] == exported
    code, out, _ = run(capsys, "allocations", "remove", "Team")
    assert code == 0
    code, out, err = run(capsys, "allocations", "export", "Team")
    assert code != 0 and "No allocation is named Team" in err
    assert json.loads(run(capsys, "allocations", "list", "--json")[1]) == []
    with read_session(engine) as session:
        actions = list(session.execute(select(col(AuditEvent.action))).scalars())
    assert actions.count("allocation.imported") == 1 and "allocation.removed" in actions


def test_a_refused_file_prints_line_and_reason_and_changes_nothing(
    engine: Engine, capsys: pytest.CaptureFixture[str], example_file: Path, tmp_path: Path
) -> None:
    seed_orgs(engine, 1)
    assert run(capsys, "allocations", "import", str(example_file))[0] == 0
    before = run(capsys, "allocations", "export", "Team")[1]
    bad = tmp_path / "bad.yaml"
    bad.write_text(EXAMPLE.replace("Search: 60", "Search: 50"))
    code, _, err = run(capsys, "allocations", "import", str(bad))
    assert code == 1
    assert "line 9: the weights add up to 90, not 100" in err
    assert "Nothing was changed" in err
    assert run(capsys, "allocations", "export", "Team")[1] == before
    bad.write_text("allocation: Team\nrules:\n  - value: A\n    match: {modle: x}\n")
    code, _, err = run(capsys, "allocations", "import", str(bad))
    assert code == 1 and "line 4: unknown match key 'modle'" in err
    code, _, err = run(capsys, "allocations", "import", str(tmp_path / "missing.yaml"))
    assert code == 1 and "Could not read" in err
    assert json.loads(run(capsys, "allocations", "list", "--json")[1])[0]["version"] == 1


def test_export_dataset_allocation_adds_up_to_the_cost_export(
    engine: Engine, capsys: pytest.CaptureFixture[str], example_file: Path, tmp_path: Path
) -> None:
    seed_orgs(engine, 2)
    assert run(capsys, "allocations", "import", str(example_file))[0] == 0
    code, out, _ = run(capsys, "export", "--dataset", "allocation", "--allocation", "Team")
    assert code == 0
    reader = csv.DictReader(io.StringIO(out))
    assert reader.fieldnames == [
        "date",
        "organization_id",
        "organization_name",
        "allocation",
        "value",
        "amount_usd",
    ]
    rows = list(reader)
    allocated: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        assert row["allocation"] == "Team"
        allocated[(row["date"], row["organization_id"])] += Decimal(row["amount_usd"])
    code, cost_out, _ = run(capsys, "export", "--dataset", "cost")
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(cost_out)):
        billed[(row["date"], row["organization_id"])] += Decimal(row["amount_usd"])
    assert dict(allocated) == dict(billed)
    assert {r["value"] for r in rows} == {"Search", "Support", "Unallocated"}
    assert {r["organization_name"] for r in rows} == {"Top 0", "Top 1"}
    # --org, --start, --end (exclusive) and -o.
    target = tmp_path / "out.csv"
    code, _, err = run(
        capsys,
        "export",
        "--dataset",
        "allocation",
        "--allocation",
        "Team",
        "--org",
        "org-alloc-1",
        "--start",
        "2026-10-01",
        "--end",
        "2026-10-03",
        "-o",
        str(target),
    )
    assert code == 0
    written = list(csv.DictReader(io.StringIO(target.read_text())))
    assert {r["date"] for r in written} == {"2026-10-01", "2026-10-02"}
    assert {r["organization_id"] for r in written} == {"org-alloc-1"}
    with read_session(engine) as session:
        expected = session.execute(
            select(func.sum(col(CostLine.amount_cents)))
            .join(Organization, col(Organization.id) == col(CostLine.organization_pk))
            .where(
                col(Organization.organization_id) == "org-alloc-1",
                col(CostLine.date) >= date(2026, 10, 1),
                col(CostLine.date) < date(2026, 10, 3),
            )
        ).scalar_one()
    assert sum(Decimal(r["amount_usd"]) for r in written) * 100 == expected


def test_export_dataset_allocation_needs_a_known_allocation(
    engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "export", "--dataset", "allocation")
    assert code == 1 and "--allocation NAME" in err
    code, _, err = run(capsys, "export", "--dataset", "allocation", "--allocation", "Nope")
    assert code == 1 and "No allocation is named Nope" in err


def test_finops_sync_allocates_the_new_days(
    engine: Engine,
    capsys: pytest.CaptureFixture[str],
    example_file: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An allocation imported before any data: `finops sync` (its after-sync step) allocates
    the synced days, and they add up to the cost export."""
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    assert run(capsys, "allocations", "import", str(example_file))[0] == 0
    assert run(capsys, "connect", "--demo", "--json")[0] == 0
    code, _, err = run(capsys, "sync")
    assert code == 0, err
    out = run(capsys, "export", "--dataset", "allocation", "--allocation", "Team")[1]
    allocated: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(out)):
        allocated[row["date"]] += Decimal(row["amount_usd"])
    billed: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(run(capsys, "export", "--dataset", "cost")[1])):
        billed[row["date"]] += Decimal(row["amount_usd"])
    assert len(billed) > 20
    assert dict(allocated) == dict(billed)


def test_list_says_what_rules_on_keys_do_where_no_organization_has_per_key_cost(
    engine: Engine, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    seed_orgs(engine, 1)  # the cost report only, no per-key cost
    path = tmp_path / "keys.yaml"
    path.write_text(EXAMPLE + "  - value: Backend\n    match: {api_key: [prod-backend]}\n")
    assert run(capsys, "allocations", "import", str(path))[0] == 0
    code, out, _ = run(capsys, "allocations", "list")
    assert code == 0
    [note] = [line for line in out.splitlines() if line.startswith("  lines 11: ")]
    assert "which no organization has synced: they match nothing for now" in note
    listed = json.loads(run(capsys, "allocations", "list", "--json")[1])
    assert listed[0]["per_key_rule_lines"] == [11]
