"""Per-key cost against the bill per day and workspace (issue 16 point 3): no difference where
the simulator makes them agree, the exact discount with its cause where it makes them differ,
organizations without per-key cost named; the CSV the same. SQLite and Postgres (the page:
tests/ui/test_reconciliation_page.py)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select

from app.db import read_session, write_session
from app.models import CostLine
from app.reports.reconciliation import CSV_COLUMNS, reconcile, reconciliation_csv
from app.settings import Settings
from app.simulator import Simulator
from tests.test_key_cost_sync import _synced
from tests.utils.factories import add_console_orgs


def _window(sim: Simulator) -> tuple:
    end = sim.today + timedelta(days=1)
    return end - timedelta(days=30), end


def _billed(engine: Engine, start: object, end: object) -> Decimal:
    with read_session(engine) as session:
        cents = session.execute(
            select(func.sum(CostLine.amount_cents)).where(
                CostLine.date >= start,  # type: ignore[operator]
                CostLine.date < end,  # type: ignore[operator]
            )
        ).scalar_one()
    return Decimal(cents)


def test_per_key_cost_that_agrees_with_the_bill_shows_no_difference(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    with write_session(engine) as session:
        add_console_orgs(session, "org-nokeys", 1, sim.today - timedelta(days=5))
    start, end = _window(sim)
    result = reconcile(engine, start, end)
    assert len(result.days) > 30  # days x workspaces
    assert result.billed_cents == _billed(engine, start, end)  # the whole bill, to the micro-cent
    assert result.per_key_cents == result.billed_cents
    assert result.differing == []
    assert result.without_per_key == ["Top 0"]


def test_a_discount_in_per_key_cost_is_shown_exactly_with_its_cause(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.discount = Decimal("0.10")
    _synced(sim, engine, settings)
    start, end = _window(sim)
    result = reconcile(engine, start, end)
    assert result.differing
    for day in result.differing:
        # Per-key amounts are 10 % below their list amounts, which are the bill.
        assert day.per_key_list_cents == day.billed_cents
        assert abs(day.difference_cents + day.billed_cents * Decimal("0.10")) < Decimal("0.001")
        assert day.cause.startswith("discount in per-key cost")
    rows = list(csv.DictReader(io.StringIO(reconciliation_csv(result).decode())))
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert len(rows) == len(result.days)
    assert sum(Decimal(r["difference_usd"]) for r in rows) == (
        result.per_key_cents - result.billed_cents
    ).scaleb(-2)


def test_tokens_at_list_price_against_the_bill_with_every_difference_explained(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """On the simulator (billed at the public prices, with US residency, unknown models and
    Priority Tier): each day and workspace's billed cost is its tokens' and the rest's, and
    every difference of a cent or more has a cause that names it."""
    from collections import defaultdict

    from app.reports.reconciliation import PRICE_CSV_COLUMNS, price_check, price_check_csv

    _synced(sim, engine, settings)
    start, end = sim.today - timedelta(days=45), sim.today + timedelta(days=1)
    days = price_check(engine, start, end)
    assert days
    with read_session(engine) as session:
        billed: dict[tuple, Decimal] = defaultdict(Decimal)
        for day, workspace, cents in session.execute(
            select(CostLine.date, CostLine.workspace_id, CostLine.amount_cents).where(
                CostLine.date >= start, CostLine.date < end
            )
        ):
            billed[(day, workspace)] += cents
    shown = {(d.date, d.workspace_id): d.billed_tokens_cents + d.billed_other_cents for d in days}
    assert shown == {k: billed.get(k, Decimal(0)) for k in shown} and set(billed) <= set(shown)
    differing = [d for d in days if abs(d.difference_cents) >= Decimal("0.01")]
    matching = [d for d in days if not d.cause]
    assert differing and matching  # not vacuous: both kinds are there
    assert all(d.cause for d in differing)
    assert not [d for d in differing if d.cause.startswith("billed above list price")]
    causes = {d.cause for d in differing}
    assert any("US data residency" in c for c in causes)
    assert any("model without a public price" in c for c in causes)
    assert any(d.unbilled_tier_tokens for d in days)  # Priority Tier counted, not priced
    rows = list(csv.DictReader(io.StringIO(price_check_csv(days).decode())))
    assert list(rows[0]) == list(PRICE_CSV_COLUMNS) and len(rows) == len(days)
