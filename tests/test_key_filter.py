"""The API keys filter (issue 16 point 2): Spend of chosen keys is their per-key cost (billed,
or its estimate where the key may not read it), grouped every way per-key cost is kept; Usage
of chosen keys is their tokens; a grouping per-key cost does not hold is refused with the
reason. SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from app.db import read_session
from app.models import KeyCost, KeyCostEstimate, UsageBucket
from app.reports.filters import Filters
from app.reports.options import filter_options
from app.reports.spend import spend_by_day, total_cents, view_refusal
from app.reports.usage import usage_by_day
from app.settings import Settings
from app.simulator import Simulator
from app.store.key_estimate import estimate
from tests.test_key_cost_sync import _synced


def _largest_key(engine: Engine, table: type) -> tuple[str, Decimal, Filters]:
    """The key with the most cost in ``table``, its cents, and Filters of every stored day."""
    with read_session(engine) as session:
        first, last = session.execute(select(func.min(table.date), func.max(table.date))).one()
        key, cents = session.execute(
            select(table.api_key_id, func.sum(table.amount_cents))
            .where(table.api_key_id.is_not(None))
            .group_by(table.api_key_id)
            .order_by(func.sum(table.amount_cents).desc())
        ).first()
    return key, Decimal(cents), Filters(first, last + timedelta(days=1))


def test_spend_of_a_chosen_key_is_its_per_key_cost_every_way_it_is_grouped(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    key, cents, every_day = _largest_key(engine, KeyCost)
    f = Filters(every_day.start, every_day.end, api_keys=(key,))
    assert total_cents(engine, f) == cents
    # Not the bill: the cost report has every key's spend.
    assert total_cents(engine, every_day) > cents
    for group in ("model", "workspace", "service_tier", "token_type", "api_key", "actor"):
        rows = spend_by_day(engine, f, group)
        assert sum(c for _, _, c in rows) == cents, group
    assert {label for _, label, _ in spend_by_day(engine, f, "api_key")} == {
        dict(filter_options(engine)["api_keys"])[key]
    }
    # With another filter too: the key's cost of one model.
    with read_session(engine) as session:
        model, of_model = session.execute(
            select(KeyCost.model, func.sum(KeyCost.amount_cents))
            .where(KeyCost.api_key_id == key, KeyCost.model.is_not(None))
            .group_by(KeyCost.model)
        ).first()
    both = Filters(f.start, f.end, api_keys=(key,), models=(model,))
    assert total_cents(engine, both) == of_model


def test_a_grouping_per_key_cost_does_not_hold_is_refused_with_the_reason(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    key, _, every_day = _largest_key(engine, KeyCost)
    f = Filters(every_day.start, every_day.end, api_keys=(key,))
    reason = view_refusal(f, "description")
    assert reason is not None and "clear the API key filter" in reason
    with pytest.raises(ValueError, match="cannot be grouped by Description"):
        spend_by_day(engine, f, "description")
    both = Filters(f.start, f.end, api_keys=(key,), allocation="Team", allocation_values=("A",))
    assert "at once" in (view_refusal(both, "model") or "")
    assert view_refusal(every_day, "description") is None


def test_usage_of_a_chosen_key_is_its_tokens(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    key, _, every_day = _largest_key(engine, KeyCost)
    with read_session(engine) as session:
        output = session.execute(
            select(func.sum(UsageBucket.output_tokens)).where(UsageBucket.api_key_id == key)
        ).scalar_one()
        everyone = session.execute(select(func.sum(UsageBucket.output_tokens))).scalar_one()
    f = Filters(every_day.start, every_day.end, api_keys=(key,))
    for group in ("model", "workspace", "token_type"):
        rows = usage_by_day(engine, f, group)
        assert sum(v["output_tokens"] for _, _, v in rows) == output, group
    assert output < everyone


def test_the_filter_reads_the_estimate_where_the_key_may_not_read_per_key_cost(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.refuse = 403
    _synced(sim, engine, settings)
    estimate(engine)
    key, cents, every_day = _largest_key(engine, KeyCostEstimate)
    f = Filters(every_day.start, every_day.end, api_keys=(key,))
    assert total_cents(engine, f) == cents
    rows = spend_by_day(engine, f, "model")
    assert sum(c for _, _, c in rows) == cents
    # Keyless Console use is a choice of its own ("").
    assert ("", "Console / Workbench") in filter_options(engine)["api_keys"]


def test_spend_and_usage_of_a_chosen_actor(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    from app.models import KeyUsage

    _synced(sim, engine, settings)
    actor = func.coalesce(KeyCost.actor_name, KeyCost.actor_id)
    with read_session(engine) as session:
        first, last = session.execute(select(func.min(KeyCost.date), func.max(KeyCost.date))).one()
        name, cents = session.execute(
            select(actor, func.sum(KeyCost.amount_cents))
            .where(KeyCost.actor_type == "user")
            .group_by(actor)
            .order_by(func.sum(KeyCost.amount_cents).desc())
        ).first()
        output = session.execute(
            select(func.sum(KeyUsage.output_tokens)).where(
                func.coalesce(KeyUsage.actor_name, KeyUsage.actor_id) == name,
                KeyUsage.date >= first,
                KeyUsage.date <= last,
            )
        ).scalar_one()
    # The filter offers the actor by the name the charts show.
    assert (name, name) in filter_options(engine)["actors"]
    f = Filters(first, last + timedelta(days=1), actors=(name,))
    assert total_cents(engine, f) == Decimal(cents)
    assert sum(c for _, _, c in spend_by_day(engine, f, "api_key")) == Decimal(cents)
    assert {label for _, label, _ in spend_by_day(engine, f, "actor")} == {name}
    for group in ("model", "api_key", "token_type"):
        rows = usage_by_day(engine, f, group)
        assert sum(v["output_tokens"] for _, _, v in rows) == output, group
    with pytest.raises(ValueError, match="cannot be grouped by Product"):
        usage_by_day(engine, f, "product")
    assert "clear the actor filter" in (view_refusal(f, "description") or "")
