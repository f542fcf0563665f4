"""Overview's "Projected month end" as a person reads it (issue 15, defect 4): on day 1 it is
not today's partial spend times the month, an organization that has not reported today still
counts, it shows a range and says it is early; mid-month it rests on this month's complete days.

The clock is pinned (``app.clock.utcnow``) and the simulator's world ends on the pinned day."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today as real_today
from app.keystore import KeyStore
from app.reports.periods import month_start, next_month
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import money
from ingest.sync import Syncer
from tests.utils.factories import connect_org, org_pk, sim_factory


def pin_clock(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    """The product's "now" is 09:00 UTC on ``day``: today is partial."""
    moment = datetime.combine(day, time(9), tzinfo=UTC)
    monkeypatch.setattr("app.clock.utcnow", lambda: moment)


def sync_until(sim: Simulator, engine: Engine, settings: Settings, org_id: str, day: date) -> None:
    """Sync one organization as a worker would at the end of ``day``: its data ends there."""
    syncer = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=sim_factory(sim, settings),
        clock=lambda: datetime.combine(day, time(23), tzinfo=UTC),
    )
    assert syncer.run(org_pk(engine, org_id)).outcome == "ok"


def cents(sim: Simulator, org_ids: list[str], start: date, end: date) -> dict[date, Decimal]:
    """The simulator's truth: spend of ``org_ids`` per day in ``[start, end)``."""
    by_day: dict[date, Decimal] = {}
    for org_id in org_ids:
        for row in sim.truth_cost(org_id, start, end):
            by_day[row.date] = by_day.get(row.date, Decimal(0)) + row.amount_cents
    return by_day


def shown(cents_value: Decimal) -> str:
    return money(cents_value.scaleb(-2).quantize(Decimal("0.01")))


def projection_tile(at: AppTest) -> tuple[str, str]:
    """The projection's value and the caption under it."""
    [metric] = [m for m in at.metric if m.label == "Projected month end"]
    captions = [c.value for c in at.caption if "based on" in c.value.lower()]
    return metric.value, "\n".join(captions)


def dollars(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def test_day_one_projects_from_last_month_and_counts_an_org_that_has_not_reported(
    app: AppTest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_one = month_start(real_today())
    sim = Simulator(today=day_one, history_days=60)
    reported = sim.add_org(name="Acme Corp", seed=11)
    quiet = sim.add_org(name="Globex", seed=22)  # nothing yet today
    for org in (reported, quiet):
        connect_org(sim, org, engine=engine, settings=settings)
    sync_until(sim, engine, settings, reported.id, day_one)
    sync_until(sim, engine, settings, quiet.id, day_one - timedelta(days=1))
    pin_clock(monkeypatch, day_one)
    app.run()
    assert not app.exception

    days_in_month = (next_month(day_one) - day_one).days
    so_far = sum(cents(sim, [reported.id], day_one, day_one + timedelta(days=1)).values())
    basis = cents(sim, [reported.id, quiet.id], day_one - timedelta(days=28), day_one)
    assert so_far and len(basis) > 20  # the data means something
    mean = sum(basis.values(), Decimal(0)) / 28
    value, caption = projection_tile(app)
    # Not today's partial spend run over the month, as it was before.
    assert value != shown(so_far * days_in_month)
    # The last four weeks' average day for today and every day left (today is partial).
    assert value == shown(max(mean, so_far) + mean * (days_in_month - 1))
    # The organization with no data yet today is counted at its own average, not as $0.
    quiet_days = cents(sim, [quiet.id], day_one - timedelta(days=28), day_one)
    assert dollars(value) > sum(quiet_days.values(), Decimal(0)).scaleb(-2) / 28 * days_in_month
    assert "Early estimate: based on the last 28 days of last month." in caption
    low, high = re.findall(r"\$[\d,]+\.\d\d", caption.split("Range ", 1)[1])[:2]
    assert dollars(low) < dollars(value) < dollars(high)


def test_mid_month_projects_from_this_months_complete_days(
    app: AppTest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = month_start(month_start(real_today()) - timedelta(days=1)).replace(day=16)
    sim = Simulator(today=mid, history_days=60)
    org = sim.add_org(name="Acme Corp", seed=11)
    connect_org(sim, org, engine=engine, settings=settings)
    sync_until(sim, engine, settings, org.id, mid)
    pin_clock(monkeypatch, mid)
    app.run()
    assert not app.exception

    first = month_start(mid)
    complete = cents(sim, [org.id], first, mid)  # the 1st to the 15th
    so_far = sum(cents(sim, [org.id], mid, mid + timedelta(days=1)).values(), Decimal(0))
    spent = sum(complete.values(), Decimal(0))
    mean = spent / 15
    days_left = (next_month(first) - mid).days  # today included
    value, caption = projection_tile(app)
    assert value == shown(spent + max(mean, so_far) + mean * (days_left - 1))
    assert "Based on this month's 15 complete days." in caption
    assert "Early" not in caption
    assert "Range $" in caption
