"""Allocation rules on API keys and actors (issue 17 point 1): each cost row is divided by its
keys' per-key billed cost, so a key's allocated spend is its billed cost, a day still adds up to
the bill exactly, a per-key restatement allocates only its days again, and where an
organization has no per-key cost the rules say so. SQLite and Postgres."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select, update
from sqlmodel import col

from app.db import read_session, write_session
from app.finops.allocation import allocated_days, import_allocation, reallocate
from app.finops.allocation_keys import per_key_coverage
from app.finops.allocation_tables import AllocationLine
from app.finops.statements import month_statement
from app.models import ApiKey, CostLine, KeyCost
from app.settings import Settings
from app.simulator import Simulator
from app.store.changes import record_change
from tests.test_key_cost_sync import _synced
from tests.utils.factories import add_console_orgs


def _billed(engine: Engine, pk: int) -> dict[date, Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(CostLine.date, func.sum(CostLine.amount_cents))
            .where(CostLine.organization_pk == pk)
            .group_by(CostLine.date)
        )
        return {day: Decimal(cents) for day, cents in rows}


def _per_key(engine: Engine, pk: int, *where: object) -> dict[date, Decimal]:
    """Per-key billed cost per day of the rows ``where`` selects: the expected allocation."""
    with read_session(engine) as session:
        rows = session.execute(
            select(KeyCost.date, func.sum(KeyCost.amount_cents))
            .where(KeyCost.organization_pk == pk, *where)  # type: ignore[arg-type]
            .group_by(KeyCost.date)
        )
        return {day: Decimal(cents) for day, cents in rows if cents}


def _allocated(engine: Engine, name: str = "Team") -> dict[str, dict[date, Decimal]]:
    out: dict[str, dict[date, Decimal]] = defaultdict(dict)
    for row in allocated_days(engine, name):
        if row.amount_cents:
            out[row.value][row.date] = row.amount_cents
    return out


def _top(engine: Engine, pk: int) -> tuple[str, str, str]:
    """The key with the most per-key cost (its id and name) and a user actor of another key."""
    with read_session(engine) as session:
        key_id, key_name = session.execute(
            select(KeyCost.api_key_id, ApiKey.name)
            .join(ApiKey, ApiKey.api_key_id == KeyCost.api_key_id)
            .where(KeyCost.organization_pk == pk)
            .group_by(KeyCost.api_key_id, ApiKey.name)
            .order_by(func.sum(KeyCost.amount_cents).desc())
        ).first()  # type: ignore[misc]
        user = session.execute(
            select(KeyCost.actor_id)
            .where(
                KeyCost.organization_pk == pk,
                KeyCost.actor_type == "user",
                KeyCost.api_key_id != key_id,
            )
            .order_by(KeyCost.actor_id)
        ).scalar()
    assert user is not None
    return key_id, key_name, user


def _rules(key_name: str, user: str) -> str:
    return f"""\
allocation: Team
default: Unallocated
rules:
  - value: Backend
    match: {{api_key: ["{key_name}"]}}
  - value: People
    match: {{actor: ["{user}"]}}
  - value: Console
    match: {{api_key: ["Console / Workbench"]}}
"""


def test_a_key_rule_allocates_that_keys_billed_cost_and_days_add_up(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _, pk = _synced(sim, engine, settings)
    key_id, key_name, user = _top(engine, pk)
    import_allocation(engine, _rules(key_name, user), actor="cli")
    allocated = _allocated(engine)
    # The simulator's per-key cost adds up to each cost row: a key's part is its billed cost,
    # to the micro-cent, every day (by its name in the rule, as the dashboard shows it).
    backend = _per_key(engine, pk, col(KeyCost.api_key_id) == key_id)
    assert len(backend) > 20
    assert allocated["Backend"] == backend
    people = _per_key(engine, pk, col(KeyCost.actor_id) == user, col(KeyCost.api_key_id) != key_id)
    assert people and allocated["People"] == people
    console = _per_key(engine, pk, col(KeyCost.api_key_id).is_(None))
    assert console and allocated["Console"] == console
    # Every day's values add up to the bill exactly; the rest stays Unallocated.
    billed = _billed(engine, pk)
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for days in allocated.values():
        for day, cents in days.items():
            by_day[day] += cents
    assert {d: c for d, c in by_day.items() if c} == {d: c for d, c in billed.items() if c}
    assert sum(allocated["Unallocated"].values()) > 0
    # The lines keep the key: a statement of the month lists Backend's spend by that key.
    month = max(backend).replace(day=1)
    rows = [r for r in month_statement(engine, "Team", month).rows if r.value == "Backend"]
    assert rows and {r.api_key_id for r in rows} == {key_id}


def test_a_discount_in_per_key_cost_still_divides_the_bill_exactly(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    # Per-key amounts 15 % below the bill: the shares divide the billed rows, so the key still
    # gets about its list cost and every day adds up to the bill to the micro-cent.
    sim.key_cost.discount = Decimal("0.15")
    _, pk = _synced(sim, engine, settings)
    key_id, key_name, user = _top(engine, pk)
    import_allocation(engine, _rules(key_name, user), actor="cli")
    allocated = _allocated(engine)
    with read_session(engine) as session:
        listed = dict(
            session.execute(
                select(KeyCost.date, func.sum(KeyCost.list_amount_cents))
                .where(KeyCost.organization_pk == pk, KeyCost.api_key_id == key_id)
                .group_by(KeyCost.date)
            ).all()
        )
    assert allocated["Backend"].keys() == {d for d, c in listed.items() if c}
    for day, cents in allocated["Backend"].items():
        assert abs(cents - Decimal(listed[day])) < Decimal("0.01"), day  # under 1/100 cent
        assert cents != Decimal(listed[day]) * Decimal("0.85")  # not the discounted amount
    billed = _billed(engine, pk)
    for day in billed:
        assert sum(v.get(day, Decimal(0)) for v in allocated.values()) == billed[day]


def test_a_per_key_restatement_allocates_only_its_day_again(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _, pk = _synced(sim, engine, settings)
    key_id, key_name, user = _top(engine, pk)
    import_allocation(engine, _rules(key_name, user), actor="cli")
    # A second allocation without key rules follows only the cost rows.
    import_allocation(
        engine,
        "allocation: Env\ndefault: Shared\nrules:\n  - value: Prod\n    match: {}\n",
        actor="cli",
    )
    before = _line_ids(engine)
    day = sorted(_per_key(engine, pk, col(KeyCost.api_key_id) == key_id))[-5]
    # Anthropic restates that day's per-key cost: the key's rows go to the Console instead.
    with write_session(engine) as session:
        session.execute(
            update(KeyCost)
            .where(
                col(KeyCost.organization_pk) == pk,
                col(KeyCost.date) == day,
                col(KeyCost.api_key_id) == key_id,
            )
            .values(api_key_id=None, actor_type=None, actor_id=None, actor_name=None)
        )
        record_change(session, pk, "key_cost", day, day + timedelta(days=1))
    assert reallocate(engine) == 1  # Team only: Env has no rules on keys
    after = _line_ids(engine)
    assert after["Env"] == before["Env"]
    kept = {i for i, d in before["Team"].items() if d != day}
    assert kept <= after["Team"].keys()  # the other days' lines were not rewritten
    assert {d for i, d in after["Team"].items() if i not in before["Team"]} == {day}
    allocated = _allocated(engine)
    assert day not in allocated["Backend"]
    assert allocated["Console"][day] == _per_key(engine, pk, col(KeyCost.api_key_id).is_(None))[day]
    assert sum(v.get(day, Decimal(0)) for v in allocated.values()) == _billed(engine, pk)[day]
    assert reallocate(engine) == 0  # nothing left to do


def _line_ids(engine: Engine) -> dict[str, dict[int, date]]:
    from app.finops.allocation_tables import Allocation

    out: dict[str, dict[int, date]] = defaultdict(dict)
    with read_session(engine) as session:
        rows = session.execute(
            select(Allocation.name, AllocationLine.id, AllocationLine.date).join(
                Allocation, col(Allocation.id) == col(AllocationLine.allocation_pk)
            )
        )
        for name, line_id, day in rows:
            out[name][line_id] = day
    return out


def test_organizations_without_per_key_cost_are_named(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    with write_session(engine) as session:
        add_console_orgs(session, "org-nokeys", 1, date(2026, 10, 1))
    none = per_key_coverage(engine)
    assert not none.with_cost and "no organization has synced" in none.note()
    _synced(sim, engine, settings)
    some = per_key_coverage(engine)
    assert len(some.with_cost) == 1 and len(some.without) == 1
    assert f"Without per-key cost: {some.without[0]}." in some.note()
