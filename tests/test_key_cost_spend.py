"""Spend grouped by API key: per-key billed cost (Usage and Cost Analytics API), named as the
dashboard names keys, with the Spend filters, adding up to the cost report where the simulator
makes the two agree. SQLite and Postgres."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from app.db import read_session
from app.models import ApiKey, KeyCost
from app.reports.filters import Filters
from app.reports.labels import CONSOLE_KEY
from app.reports.spend import has_key_cost, spend_by_day, total_cents
from app.settings import Settings
from app.simulator import Simulator
from tests.test_key_cost_sync import _synced


def test_spend_by_api_key_is_per_key_billed_cost(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    assert not has_key_cost(engine)
    _org_id, _pk = _synced(sim, engine, settings)
    assert has_key_cost(engine)
    with read_session(engine) as session:
        first, last = session.execute(select(func.min(KeyCost.date), func.max(KeyCost.date))).one()
        names = set(session.execute(select(ApiKey.name)).scalars())
    f = Filters(first, last + timedelta(days=1))
    rows = spend_by_day(engine, f, "api_key")
    labels = {label for _, label, _ in rows}
    # Keys by their directory names, and key-less usage as the dashboard names it.
    assert labels - {CONSOLE_KEY} <= names
    assert labels & names
    # The simulator's per-key cost adds up to its cost report: the same total, to the cent.
    assert sum(c for _, _, c in rows) == total_cents(engine, f)
    by_day: dict[date, Decimal] = {}
    for day, _, cents in rows:
        by_day[day] = by_day.get(day, Decimal(0)) + cents
    assert by_day == {day: cents for day, cents in _billed_by_day(engine, f).items() if cents}


def test_filters_apply_to_spend_by_api_key(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    with read_session(engine) as session:
        first, last, model = session.execute(
            select(func.min(KeyCost.date), func.max(KeyCost.date), func.max(KeyCost.model))
        ).one()
    f = Filters(first, last + timedelta(days=1), models=(model,))
    rows = spend_by_day(engine, f, "api_key")
    assert rows
    assert sum(c for _, _, c in rows) == total_cents(engine, f)


def _billed_by_day(engine: Engine, f: Filters) -> dict[date, Decimal]:
    out: dict[date, Decimal] = {}
    for day, _, cents in spend_by_day(engine, f, "cost_type"):
        out[day] = out.get(day, Decimal(0)) + cents
    return out


def test_spend_by_actor_is_per_key_cost_by_the_person_or_account_behind_it(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    with read_session(engine) as session:
        first, last = session.execute(select(func.min(KeyCost.date), func.max(KeyCost.date))).one()
        by_actor: dict[str, Decimal] = {}
        for name, actor_id, cents in session.execute(
            select(KeyCost.actor_name, KeyCost.actor_id, func.sum(KeyCost.amount_cents)).group_by(
                KeyCost.actor_name, KeyCost.actor_id
            )
        ):
            label = name or actor_id or "No actor (Console / Workbench, code execution)"
            by_actor[label] = by_actor.get(label, Decimal(0)) + Decimal(cents)
    f = Filters(first, last + timedelta(days=1))
    rows = spend_by_day(engine, f, "actor")
    shown: dict[str, Decimal] = {}
    for _, label, cents in rows:
        shown[label] = shown.get(label, Decimal(0)) + cents
    # Each actor by the name the API sends (people, service accounts, keys), the key-less
    # usage under its own label; the same total as by API key.
    assert shown == {k: v for k, v in by_actor.items() if v}
    assert len(shown) > 3
    assert sum(shown.values()) == sum(c for _, _, c in spend_by_day(engine, f, "api_key"))
