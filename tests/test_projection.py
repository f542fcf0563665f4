"""The month-end projection (issue 18, issue 15 point 4): the budgets' forecast engine's
figure to the cent, its 80 % interval, "run rate" under two weeks of history."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.finops.forecast import HISTORY_DAYS, clear_cache, forecast_period
from app.reports.projection import history_window, project_month_end

D = Decimal
DECEMBER = (date(2026, 12, 1), date(2027, 1, 1))


@pytest.fixture(autouse=True)
def _fresh_forecasts() -> None:
    clear_cache()


def days(start: date, values: list[int | str]) -> dict[date, Decimal]:
    """Cents per day from ``start``; gaps are written as "-" (no row that day)."""
    return {start + timedelta(days=i): D(v) for i, v in enumerate(values) if v != "-"}


def weekly(start: date, end: date, seed: int = 3) -> dict[date, Decimal]:
    """Weekdays about $1,000, weekends about $300 (cents), a little noise."""
    rng = random.Random(seed)
    out = {}
    for i in range((end - start).days):
        day = start + timedelta(days=i)
        base = 100_000 if day.weekday() < 5 else 30_000
        out[day] = D(int(base * rng.uniform(0.95, 1.05)))
    return out


def dollars(cents: Decimal) -> Decimal:
    return (cents / 100).quantize(D("0.01"))


def test_the_window_holds_the_forecasts_thirteen_weeks() -> None:
    today = date(2026, 12, 14)
    assert history_window(today) == (today - timedelta(days=HISTORY_DAYS), today)
    assert HISTORY_DAYS >= 28


def test_no_complete_day_with_spend_has_no_projection() -> None:
    assert project_month_end(date(2026, 12, 1), {}) is None
    # Today's partial spend alone is not extrapolated into a month.
    assert project_month_end(date(2026, 12, 1), {}, D(5000)) is None
    assert project_month_end(date(2026, 12, 1), {date(2026, 11, 30): D(0)}, D(5000)) is None


def test_the_projection_is_the_budget_forecast_of_the_month_to_the_cent() -> None:
    today = date(2026, 12, 14)
    start, end = history_window(today)
    series = weekly(start, end)
    so_far = D(31_234)
    p = project_month_end(today, series, so_far)
    f = forecast_period({**series, today: so_far}, today, *DECEMBER)
    assert p is not None and p.method == f.method == "ets" and not p.run_rate
    assert (p.expected, p.low, p.high) == (
        dollars(f.expected_cents),
        dollars(f.low_cents),
        dollars(f.high_cents),
    )
    assert p.low < p.expected < p.high
    # Close to the month's truth: each day left at its weekday's level.
    truth = weekly(start, DECEMBER[1])
    month = dollars(sum((v for d, v in truth.items() if d >= DECEMBER[0]), D(0)))
    assert abs(p.expected - month) / month < D("0.03")
    assert p.basis_days == HISTORY_DAYS
    assert p.note == f"Forecast with a weekly season from the last {HISTORY_DAYS} complete days."


def test_under_two_weeks_of_history_it_is_the_run_rate_and_says_so() -> None:
    today = date(2026, 12, 8)  # seven complete days; 24 left, today included
    history = days(date(2026, 12, 1), [1000, 3000, 1000, 3000, 1000, 3000, 2000])
    p = project_month_end(today, history, D(10))
    assert p is not None and p.method == "run_rate" and p.run_rate
    assert p.expected == D("140.00") + D("20.00") * 24  # $140 spent, $20 a day to come
    assert p.low < p.expected < p.high  # uneven days: a real range
    assert (
        p.note == "Run rate of the last 7 complete days: a forecast with a weekly season needs 14."
    )


def test_history_that_starts_late_is_not_averaged_with_zeros() -> None:
    today = date(2026, 12, 2)  # the organization's data begins Nov 29
    p = project_month_end(today, days(date(2026, 11, 29), [1000, 1000, 1000]))
    assert p is not None and p.run_rate
    assert p.basis_start == date(2026, 11, 29) and p.basis_days == 3
    assert p.expected == D("310.00")  # $10 spent on Dec 1, then 30 x $10


def test_today_counts_as_what_it_spent_when_that_is_more_than_an_average_day() -> None:
    today = date(2026, 12, 1)
    history = days(today - timedelta(days=10), [1000] * 10)
    p = project_month_end(today, history, D(4000))
    assert p is not None and p.expected == D("340.00")  # $40 today, then 30 x $10
    # A partial day in the history's own mapping is not a complete day: the argument wins.
    q = project_month_end(today, {**history, today: D(99_999)}, D(4000))
    assert q == p


def test_the_last_day_of_the_month_adds_only_today() -> None:
    today = date(2026, 11, 30)
    p = project_month_end(today, days(date(2026, 11, 20), [1000] * 10), D(200))
    assert p is not None and p.expected == D("100.00") + D("10.00")
