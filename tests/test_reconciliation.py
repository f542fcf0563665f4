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
