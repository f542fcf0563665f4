"""Overview's "Projected month end" as a person reads it (issue 18, issue 15 point 4): the
Budgets page's forecast of the same organization and month to the cent, with its 80 % range
holding it; "run rate" while there are under two weeks of history; an organization that has
not reported today still counts.

The clock is pinned (``app.clock.utcnow``) and the simulator's world ends on the pinned day."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today as real_today
from app.finops.budgets import budget_statuses, import_budgets
from app.finops.forecast import clear_cache
from app.keystore import KeyStore
from app.reports.periods import month_start, next_month
from app.services.access import OPERATOR
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import money
from ingest.sync import Syncer
from tests.utils.factories import connect_org, org_pk, sim_factory


@pytest.fixture(autouse=True)
def _fresh_forecasts() -> Iterator[None]:
    """No fitted model of another test's series (they are kept per scope and day)."""
    clear_cache()
    yield
    clear_cache()


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
    """The projection's value and the caption under it (its "$" escaped for Markdown)."""
    [metric] = [m for m in at.metric if m.label == "Projected month end"]
    [caption] = [c.value for c in at.caption if c.value.startswith("80 % range ")]
    return metric.value, caption.replace("\\$", "$")


def dollars(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def amounts(text: str) -> list[Decimal]:
    return [dollars(a) for a in re.findall(r"\$[\d,]+\.\d\d", text)]


def monthly_budget(engine: Engine, org_id: str) -> None:
    """A monthly budget of the whole organization (a large amount: no alert is the point)."""
    import_budgets(
        engine,
        f"""budgets:
  - name: Whole org
    scope: {{organization: [{org_id}]}}
    period: monthly
    amount_usd: 1000000
    thresholds: [{{percent: 100, on: actual}}]
    channels: []
""",
        actor=OPERATOR,
    )


def budgets_forecast(at: AppTest) -> tuple[str, str, str]:
    """The Budgets page's forecast tile, its range caption and the method caption."""
    at.switch_page("../pages/budgets.py").run()
    assert not at.exception
    [metric] = [m for m in at.metric if m.label == "Forecast at period end"]
    [spread] = [c.value for c in at.caption if c.value.startswith("80 % range")]
    [method] = [c.value for c in at.caption if "forecast by" in c.value]
    return metric.value, spread, method


def test_the_overview_projects_the_budgets_forecast_of_the_same_month_to_the_cent(
    app: AppTest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    mid = month_start(month_start(real_today()) - timedelta(days=1)).replace(day=16)
    sim = Simulator(today=mid, history_days=60)
    org = sim.add_org(name="Acme Corp", seed=11)
    connect_org(sim, org, engine=engine, settings=settings)
    sync_until(sim, engine, settings, org.id, mid)
    monthly_budget(engine, org.id)
    pin_clock(monkeypatch, mid)
    app.run()
    assert not app.exception

    value, caption = projection_tile(app)
    [status] = budget_statuses(engine, today=mid)
    assert status.forecast.method == "ets"
    assert value == shown(status.forecast.expected_cents)  # to the cent
    assert "80 % range" in caption and "weekly season" in caption
    assert "Run rate" not in caption
    # The 80 % range is shown next to the figure and holds it.
    low, high = amounts(caption)[:2]
    figure = dollars(value)
    assert low < figure < high
    assert (f"${low:,}", f"${high:,}") == (
        shown(status.forecast.low_cents),
        shown(status.forecast.high_cents),
    )
    # And the Budgets page shows the same figure and range for the same month.
    budget_value, budget_spread, budget_method = budgets_forecast(app)
    assert budget_value == value
    # Its "$" escaped, as on the Overview: two bare ones would render as Markdown math.
    assert budget_spread == rf"80 % range \${low:,} – \${high:,}"
    assert "ETS with a weekly season" in budget_method


def test_under_two_weeks_of_history_it_says_run_rate_and_counts_an_org_not_reported_today(
    app: AppTest, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    day_one = month_start(real_today())
    sim = Simulator(today=day_one, history_days=10)
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
    history_days = (day_one - min(basis)).days  # a day without a row is a day without spend
    assert so_far and 7 <= history_days < 14  # some history, under two weeks of it
    mean = sum(basis.values(), Decimal(0)) / history_days
    value, caption = projection_tile(app)
    # Not today's partial spend run over the month.
    assert value != shown(so_far * days_in_month)
    # The run rate: the history's average day (both organizations' days: the one that has
    # not reported today counts at its average, not as $0) for today and every day left.
    assert value == shown(max(mean, so_far) + mean * (days_in_month - 1))
    assert f"Run rate of the last {history_days} complete days" in caption
    low, high = amounts(caption)[:2]
    assert low < dollars(value) < high
