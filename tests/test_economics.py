"""The product's list prices against the pricing page (reference §9), the per-seat figures'
edges, and unit economics by model read from the daily rollups equal to the same read from the
detail rows (issue 15, unit economics)."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine, select, update

from app.clock import today
from app.datasets import ECONOMICS, decode_value
from app.db import read_session, write_session
from app.models import CostDaily, Provider, UsageDaily
from app.reports.economics import UnitEconomics, seat_economics, unit_economics
from app.reports.filters import Filters, uses_rollups
from app.reports.list_prices import input_rate, list_price
from app.reports.options import filter_options
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import org_pk, sync_engine
from tests.utils.snapshots import synced_copy


def rate(
    model: str,
    *,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
) -> Decimal | None:
    """USD per million uncached input tokens of a usage row of ``model``."""
    price = list_price(model)
    assert price is not None, model
    return input_rate(
        price,
        service_tier=service_tier,
        inference_geo=inference_geo,
        context_window=context_window,
    )


def test_input_prices_follow_the_pricing_page() -> None:
    # Dated ids and aliases share their model's price.
    assert rate("claude-sonnet-4-5-20250929") == Decimal(3)
    assert rate("claude-3-5-haiku-20241022") == Decimal("0.80")
    assert rate("claude-haiku-4-5") == Decimal(1)
    # Batch halves it; US residency on 4.6+ adds a tenth (not on Haiku 4.5); Sonnet 4.5 long
    # context is $6.
    assert rate("claude-opus-4-6", service_tier="batch") == Decimal("2.5")
    assert rate("claude-opus-4-6", inference_geo="us") == Decimal("5.5")
    assert rate("claude-haiku-4-5-20251001", inference_geo="us") == Decimal(1)
    assert rate("claude-sonnet-4-5", context_window="200k-1M") == Decimal(6)
    assert rate("claude-sonnet-4-6", context_window="200k-1M") == Decimal(3)
    # Tiers without a public price have none here.
    assert rate("claude-opus-4-6", service_tier="priority") is None
    assert rate("claude-opus-4-6", service_tier="flex") is None
    # A model nobody listed has no price: left out, never guessed.
    assert list_price("claude-nimbus-7-preview") is None


def test_seats_by_month_use_each_months_latest_snapshot() -> None:
    engagement = pd.DataFrame(
        [
            {"date": date(2026, 10, 30), "monthly_active_users": 40, "assigned_seats": 50},
            {"date": date(2026, 10, 31), "monthly_active_users": 41, "assigned_seats": 50},
            {"date": date(2026, 11, 10), "monthly_active_users": 60, "assigned_seats": 55},
        ]
    )
    spend = {date(2026, 10, 31): Decimal("4100"), date(2026, 11, 9): Decimal("1000")}
    seats = seat_economics(spend, engagement, date(2026, 10, 15), date(2026, 11, 20))
    october, november = seats.by_month.to_dict("records")
    assert october["days"] == 17 and october["amount_usd"] == Decimal(41)
    assert october["usd_per_active_user"] == Decimal("1.00") and october["idle_seats"] == 9
    # More active users than seats (people removed since): no negative idle seats.
    assert november["idle_seats"] == 0
    # The range: its spend over the latest day's monthly active users.
    assert seats.usd_per_active_user == (Decimal(51) / 60).quantize(Decimal("0.01"))
    assert seats.snapshot == date(2026, 11, 10)


# --- unit economics by model: the rollup path and the detail path ----------------------------


def detail_view(engine: Engine, f: Filters) -> Filters:
    """``f`` filtered to every model there is (and none): the same rows, read from the detail."""
    every = tuple({v for v, _ in filter_options(engine)["models"]} | {""})
    return dataclasses.replace(f, models=every)


def assert_same(rolled: UnitEconomics, detail: UnitEconomics) -> None:
    pd.testing.assert_frame_equal(rolled.frame, detail.frame, check_exact=True)
    for f in dataclasses.fields(UnitEconomics):
        if f.name != "frame":
            assert getattr(rolled, f.name) == getattr(detail, f.name), f.name


def test_unit_economics_read_from_the_rollups_equal_the_detail_rows(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced_copy(sim, engine, settings)
    end = today() + timedelta(days=1)
    views = [
        Filters(today() - timedelta(days=200), end),
        Filters(today() - timedelta(days=29), end),
        Filters(today() - timedelta(days=60), today() - timedelta(days=20)),
        Filters(today() - timedelta(days=29), end, (ids[0],)),
        Filters(today() - timedelta(days=29), end, providers=(Provider.ENTERPRISE,)),
        # The cost type filter is set aside: still the rollups.
        Filters(today() - timedelta(days=29), end, cost_types=("web_search",)),
    ]
    for f in views:
        detail = detail_view(engine, f)
        assert uses_rollups(dataclasses.replace(f, cost_types=())) and not uses_rollups(detail)
        for show_ids in (False, True):
            rolled = unit_economics(engine, f, show_ids=show_ids)
            assert not rolled.empty, f
            assert_same(rolled, unit_economics(engine, detail, show_ids=show_ids))
    whole = unit_economics(engine, views[0])
    unit_economics_before = unit_economics(engine, views[1])
    # What the comparison covers: priced and unpriced models, an unbilled tier, batch savings,
    # and the rows that carry none (no tier, no model, a Claude Enterprise row's no cost type).
    assert whole.unbilled_tokens and whole.unpriced_models and whole.batch_savings_usd > 0
    cost_values = stored_values(engine, CostDaily)
    assert any(ct is None for ct, model, _ in cost_values if model is not None)  # Enterprise
    assert any(tier is None for _, model, tier in cost_values if model is not None)
    assert any(model is None for _, model, _ in cost_values)
    usage_values = stored_values(engine, UsageDaily)
    assert any(tier is None for model, tier, *_ in usage_values if model is not None)
    enterprise = unit_economics(engine, views[4])
    assert enterprise.token_spend_usd > 0 and enterprise.tokens > 0

    # Upstream revisions, then a re-sync: the replaced days' rollup rows follow the detail.
    sync = sync_engine(sim, engine, settings)
    for org in sim.orgs.values():
        sim.revise(org.id, days=3)
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    revised = unit_economics(engine, views[1])
    assert revised.token_spend_usd != unit_economics_before.token_spend_usd
    assert_same(revised, unit_economics(engine, detail_view(engine, views[1])))


def stored_values(engine: Engine, table: type[CostDaily] | type[UsageDaily]) -> set[tuple]:
    with read_session(engine) as session:
        values = session.execute(select(table.value).where(table.dim == ECONOMICS)).scalars()
        return {decode_value(v) for v in values}


def test_unit_economics_read_the_rollups_so_a_wrong_rollup_shows(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """The unfiltered view reads ``economics`` rows, not the detail: a cent more in one of its
    rollup rows is a cent more on the page (the tests above would hold for a detail read)."""
    synced_copy(sim, engine, settings)
    f = Filters(today() - timedelta(days=200), today() + timedelta(days=1))
    before = unit_economics(engine, f)
    with write_session(engine) as session:
        [first] = session.execute(
            select(CostDaily.id)
            .where(
                CostDaily.dim == ECONOMICS,
                CostDaily.value == '["tokens","claude-sonnet-4-5-20250929","batch"]',
            )
            .order_by(CostDaily.date.desc())
            .limit(1)
        ).scalars()
        session.execute(
            update(CostDaily)
            .where(CostDaily.id == first)
            .values(amount_cents=CostDaily.amount_cents + 100)
        )
    after = unit_economics(engine, f)
    assert after.token_spend_usd == before.token_spend_usd + 1
    assert after.batch_savings_usd == before.batch_savings_usd + 1
    assert unit_economics(engine, detail_view(engine, f)).token_spend_usd == before.token_spend_usd
