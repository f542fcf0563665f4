"""The Allocations page's rules table as a file (app.finops.allocation_editor): rows round-trip
an allocation exactly, every mistake is named by its rule, the preview applies the rules as the
allocation does, and each version says what it changed."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import Engine, select

from app.db import read_session
from app.finops.allocation import (
    history,
    import_allocation,
    spend_by_value,
    version_changes,
)
from app.finops.allocation_editor import EditorRow, check, editor_rows
from app.finops.allocation_file import describe_change, parse_allocation, spec_key
from app.finops.allocation_preview import preview
from app.models import AuditEvent
from tests.test_allocation_store import EXAMPLE, seed_orgs

NOW = datetime(2026, 10, 6, 12, tzinfo=UTC)  # the seeded days run Sep 25 - Oct 6


@pytest.fixture(autouse=True)
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.finops.allocation.utcnow", lambda: NOW)
    monkeypatch.setattr("app.finops.allocation_preview.utcnow", lambda: NOW)


def test_the_table_of_an_allocation_reads_back_as_the_same_allocation() -> None:
    spec = parse_allocation(EXAMPLE)
    rows = editor_rows(spec)
    assert [(r.kind, r.allocates_to) for r in rows] == [
        ("value", "Search"),
        ("value", "Support"),
        ("split fixed", "Search 60, Support 40"),
    ]
    assert rows[1].effective_from == date(2026, 10, 1)
    checked = check(spec.name, spec.default, rows)
    assert checked.errors == [] and checked.spec is not None
    assert spec_key(checked.spec) == spec_key(spec)
    # The YAML it saves is a file `finops allocations import` reads the same.
    assert spec_key(parse_allocation(checked.text)) == spec_key(spec)


def test_order_decides_and_blank_rows_are_left_out() -> None:
    rows = [
        EditorRow(2.0, "value", "Second", "workspace: [Production]"),
        EditorRow(None, "value", "Last", ""),
        EditorRow(float("nan"), "value", None, None),  # a new row not filled in
        EditorRow(1.0, "split even", "A, B", "{model: [claude-*]}"),
    ]
    checked = check("Team", "Unallocated", rows)
    assert checked.errors == [] and checked.spec is not None
    assert [r.values for r in checked.spec.rules] == [("A", "B"), ("Second",), ("Last",)]


def test_every_mistake_is_named_by_its_rule() -> None:
    rows = [
        EditorRow(1, "split fixed", "Search 60, Support 30", "workspace: [Default workspace]"),
        EditorRow(2, "value", "X", "wrkspace: [Production]"),
        EditorRow(3, "value", "Y", "model: [claude-*"),
        EditorRow(4, "split fixed", "Search sixty", ""),
        EditorRow(5, "value", "", "model: [x]"),
        EditorRow(6, "value", "Z", "", date(2026, 10, 2), date(2026, 10, 1)),
    ]
    checked = check("", "Unallocated", rows)
    assert checked.spec is None
    errors = checked.errors
    assert errors[0].startswith("Allocation")  # the missing name
    by_rule = {e.split(":")[0]: e for e in errors[1:]}
    assert set(by_rule) == {f"Rule {n}" for n in range(1, 7)}
    assert "add up to 90, not 100" in by_rule["Rule 1"]
    assert "unknown match key 'wrkspace'" in by_rule["Rule 2"]
    assert "the match is not key: [names]" in by_rule["Rule 3"]
    assert "e.g. Search 60, Support 40" in by_rule["Rule 4"]
    assert "say what it allocates to" in by_rule["Rule 5"]
    assert "effective_to must be after effective_from" in by_rule["Rule 6"]


def test_a_rule_cannot_match_on_another_allocation() -> None:
    rows = [EditorRow(1, "value", "A", "Cost centre: [CC-1]")]
    errors = check("Team", "Unallocated", rows, other_allocations=["Cost centre"]).errors
    assert errors and "cannot match on an allocation" in errors[0]


def test_the_preview_is_what_saving_would_allocate(engine: Engine) -> None:
    seed_orgs(engine)
    spec = parse_allocation(EXAMPLE)
    shown = preview(engine, spec, days=30)
    import_allocation(engine, EXAMPLE, actor="test")
    stored = dict(spend_by_value(engine, "Team", days=30))
    assert shown.by_value == stored
    assert shown.total == sum(stored.values())
    assert shown.default == stored["Unallocated"]
    # Per rule: the Production rule is all Search; the split sends 60/40 of the Default
    # workspace; the rules and the default add up to the whole.
    assert set(shown.rule_values[0]) == {"Search"}
    split = shown.rule_values[2]
    assert abs(split["Search"] - shown.by_rule[2] * Decimal("0.6")) < Decimal("0.001")
    assert sum(shown.by_rule.values()) + shown.default == shown.total
    # Nothing was written by the preview: the same again after a rule change not saved.
    other = dataclasses.replace(spec, rules=spec.rules[:1])
    assert preview(engine, other, days=30).by_rule.keys() == {0}
    assert dict(spend_by_value(engine, "Team", days=30)) == stored


def test_each_version_says_what_it_changed_in_the_history_and_the_audit(
    engine: Engine,
) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="a@example.com")
    changed = EXAMPLE.replace("{Search: 60, Support: 40}", "{Search: 50, Support: 50}")
    import_allocation(engine, changed.replace("default: Unallocated", "default: Shared"), actor="b")
    changes = version_changes(history(engine, "Team"))
    assert changes == {
        1: "created with 3 rules",
        2: "default Unallocated → Shared; rule 3 changed",
    }
    with read_session(engine) as session:
        details = list(
            session.execute(
                select(AuditEvent.detail).where(AuditEvent.action == "allocation.changed")
            ).scalars()
        )
    assert details and "rule 3 changed" in details[0]


def test_added_and_removed_rules_are_numbered() -> None:
    spec = parse_allocation(EXAMPLE)
    fewer = dataclasses.replace(spec, rules=spec.rules[1:])
    assert describe_change(spec, fewer) == "rule 1 removed"
    assert describe_change(fewer, spec) == "rule 1 added"
    assert describe_change(spec, spec) == "no change"
