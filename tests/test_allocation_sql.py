"""Allocation inside the database (app/finops/allocation_sql.py) gives exactly the lines the
row-by-row computation gives: random rule sets with every split method, model globs and
effective dates (also ending), over two organizations, on SQLite and Postgres."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db import read_session
from app.finops.allocation import (
    computed_lines,
    import_allocation,
    reallocate,
    stored_spec,
)
from app.finops.allocation_tables import (
    LINE_COLUMNS,
    Allocation,
    AllocationDaily,
    AllocationLine,
)
from app.models import Organization
from app.store import replace_days
from tests.test_allocation_store import START, day_rows, seed_orgs

_rule = st.builds(
    lambda kind, ws, model, value, first, start, end: (
        (
            f"  - value: {value}\n"
            if kind == "value"
            else f"  - split: {{method: fixed, weights: {{A: {first}, B: {100 - first}}}}}\n"
            if kind == "fixed"
            else f"  - split: {{method: {kind}, values: [A, B, C]}}\n"
        )
        + f'    match: {{workspace: ["{ws}"]'
        + (f', model: ["{model}"]' if model else "")
        + "}\n"
        + (f"    effective_from: 2026-09-{25 + start:02d}\n" if start else "")
        + (f"    effective_to: 2026-10-0{end}\n" if end else "")
    ),
    st.sampled_from(["value", "value", "even", "proportional", "fixed"]),
    st.sampled_from(["Production", "Support Bot", "Research", "Default workspace", "*", "R*"]),
    st.sampled_from([None, "claude-haiku-*", "Claude Sonnet 4.5"]),
    st.sampled_from(["A", "B", "C"]),
    st.integers(1, 99),
    st.sampled_from([0, 1, 4]),
    st.sampled_from([0, 3]),
)


def _stored(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    columns = [getattr(AllocationLine, c) for c in LINE_COLUMNS[1:]]
    with read_session(engine) as session:
        rows = session.execute(
            select(*columns)
            .join(Allocation, col(Allocation.id) == col(AllocationLine.allocation_pk))
            .where(col(Allocation.name) == name)
        ).all()
    return sorted((tuple(r) for r in rows), key=repr)


def _daily_is_the_lines_summed(engine: Engine) -> None:
    """``allocation_daily`` (what Spend by an allocation reads) is the lines summed per
    allocation, organization, day and value, after every change."""
    keys = ("allocation_pk", "organization_pk", "date", "value")
    with read_session(engine) as session:
        summed = session.execute(
            select(
                *(getattr(AllocationLine, k) for k in keys),
                func.sum(col(AllocationLine.amount_cents)),
            ).group_by(*(getattr(AllocationLine, k) for k in keys))
        ).all()
        daily = session.execute(
            select(*(getattr(AllocationDaily, k) for k in keys), col(AllocationDaily.amount_cents))
        ).all()
    assert summed
    assert sorted(map(tuple, daily), key=repr) == sorted(map(tuple, summed), key=repr)


def _row_by_row(engine: Engine, name: str) -> list[tuple[Any, ...]]:
    with read_session(engine) as session:
        allocation = session.execute(
            select(Allocation).where(col(Allocation.name) == name)
        ).scalar_one()
        spec = stored_spec(session, allocation)
        orgs = session.execute(select(Organization).order_by(col(Organization.id))).scalars()
        lines = [
            line[1:]
            for org in list(orgs)
            for line in computed_lines(session, allocation.id or 0, spec, org, None)
        ]
    return sorted(lines, key=repr)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rules=st.lists(_rule, min_size=1, max_size=6))
def test_the_database_allocates_exactly_as_row_by_row(engine: Engine, rules: list[str]) -> None:
    with read_session(engine) as session:
        seeded = session.execute(select(func.count()).select_from(Organization)).scalar_one()
    if not seeded:
        seed_orgs(engine, 2)
    import_allocation(engine, "allocation: Random\nrules:\n" + "".join(rules), actor="cli")
    stored = _stored(engine, "Random")
    assert stored  # every cost row is allocated somewhere
    assert stored == _row_by_row(engine, "Random")
    _daily_is_the_lines_summed(engine)


def test_a_restated_day_is_allocated_again_in_the_database_as_row_by_row(
    engine: Engine,
) -> None:
    (pk,) = seed_orgs(engine, 1)
    text = (
        "allocation: Team\nrules:\n"
        "  - split: {method: proportional, values: [A, B]}\n    match: {workspace: R*}\n"
        "  - value: A\n    match: {workspace: Production}\n"
        "  - value: B\n    match: {workspace: Support Bot}\n    effective_from: 2026-09-28\n"
    )
    import_allocation(engine, text, actor="cli")
    day = START + timedelta(days=4)
    from app.db import write_session

    with write_session(engine) as session:
        replace_days(session, pk, "cost", day, day + timedelta(days=1), day_rows(day, 42))
    assert reallocate(engine) == 1
    stored = _stored(engine, "Team")
    assert stored == _row_by_row(engine, "Team")
    assert {line[1] for line in stored} >= {day, date(2026, 9, 25)}
    _daily_is_the_lines_summed(engine)


_keyless_rule = _rule.filter(lambda text: "proportional" not in text)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    before=st.lists(_keyless_rule, min_size=1, max_size=5),
    after=st.lists(_keyless_rule, min_size=1, max_size=5),
)
def test_a_rule_change_rewrites_what_changed_and_ends_as_row_by_row(
    engine: Engine, before: list[str], after: list[str]
) -> None:
    # The second import rewrites only the groups whose rule changed (can_replace_changed):
    # the result must be exactly the new rules computed from scratch.
    with read_session(engine) as session:
        seeded = session.execute(select(func.count()).select_from(Organization)).scalar_one()
    if not seeded:
        seed_orgs(engine, 2)
    head = "allocation: Changing\ndefault: Rest\nrules:\n"
    import_allocation(engine, head + "".join(before), actor="cli")
    import_allocation(engine, head + "".join(after), actor="cli")
    assert _stored(engine, "Changing") == _row_by_row(engine, "Changing")
    _daily_is_the_lines_summed(engine)


def test_a_one_rule_edit_leaves_the_other_rows_lines_as_they_were(engine: Engine) -> None:
    seed_orgs(engine, 1)
    text = (
        "allocation: Team\nrules:\n"
        "  - value: A\n    match: {workspace: Production}\n"
        "  - value: B\n    match: {workspace: Research}\n"
        "  - split: {method: fixed, weights: {A: 30, B: 70}}\n    match: {workspace: Support*}\n"
    )
    import_allocation(engine, text, actor="cli")
    with read_session(engine) as session:
        before = {
            line.id: line.workspace_id for line in session.execute(select(AllocationLine)).scalars()
        }
    import_allocation(engine, text.replace("value: B", "value: C"), actor="cli")
    with read_session(engine) as session:
        after = {
            line.id: (line.workspace_id, line.value)
            for line in session.execute(select(AllocationLine)).scalars()
        }
    # Research's lines were written again (to C); every other line is the same row as before.
    kept = {i for i, ws in before.items() if ws != "wrkspc_lab"}
    assert kept <= after.keys()
    assert {v for ws, v in after.values() if ws == "wrkspc_lab"} == {"C"}
    assert not any(i in after for i, ws in before.items() if ws == "wrkspc_lab")
    assert _stored(engine, "Team") == _row_by_row(engine, "Team")
    _daily_is_the_lines_summed(engine)


def test_the_upgrade_to_daily_sums_sums_the_lines_already_allocated(engine: Engine) -> None:
    # Migration 21 (app.db): a database allocated before allocation_daily existed gets the
    # daily sums of its stored lines.
    from sqlalchemy import delete

    from app.db import _sum_allocation_lines, write_session

    seed_orgs(engine, 2)
    import_allocation(engine, "allocation: Team\nrules:\n" + _FIXED, actor="cli")
    with write_session(engine) as session:
        session.execute(delete(AllocationDaily))
    with engine.begin() as conn:
        _sum_allocation_lines(conn)
    _daily_is_the_lines_summed(engine)


_FIXED = (
    "  - split: {method: fixed, weights: {A: 60, B: 40}}\n    match: {workspace: Production}\n"
    "  - value: C\n    match: {workspace: Research}\n"
)
