"""The forecast engine: a weekly series' month end is forecast close to the truth with an
interval that holds it, by the method the history allows, and the day a budget runs out."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

from app.finops.forecast import clear_cache, forecast_period

MONTH = (date(2026, 12, 1), date(2027, 1, 1))


def weekly(start: date, end: date, *, growth: float = 0.0, seed: int = 3) -> dict[date, Decimal]:
    """Weekdays $1,000, weekends $300 (in cents), a little noise, optional daily growth."""
    rng = random.Random(seed)
    out = {}
    for i in range((end - start).days):
        day = start + timedelta(days=i)
        base = 100_000 if day.weekday() < 5 else 30_000
        out[day] = Decimal(int(base * (1 + growth * i) * rng.uniform(0.95, 1.05)))
    return out


def test_a_weekly_series_is_forecast_by_ets_close_to_the_truth_inside_its_interval() -> None:
    clear_cache()
    today = date(2026, 12, 14)
    series = weekly(date(2026, 9, 1), MONTH[1])
    truth = sum(v for d, v in series.items() if d >= MONTH[0])
    known = {d: v for d, v in series.items() if d < today}
    known[today] = series[today] / 3  # a third of today so far
    f = forecast_period(known, today, *MONTH)
    assert f.method == "ets"
    assert abs(f.expected_cents - truth) / truth < Decimal("0.03")
    assert f.low_cents <= truth <= f.high_cents
    assert f.low_cents < f.expected_cents < f.high_cents
    assert f.actual_cents == sum(v for d, v in known.items() if d >= MONTH[0])


def test_short_history_uses_the_run_rate_and_no_history_the_actual_only() -> None:
    clear_cache()
    today = date(2026, 12, 8)
    series = weekly(date(2026, 12, 1), today)  # seven complete days
    f = forecast_period({**series, today: Decimal(0)}, today, *MONTH)
    assert f.method == "run_rate"
    per_day = sum(series.values()) / 7
    assert abs(f.expected_cents - (sum(series.values()) + per_day * 24)) < 1
    assert f.low_cents < f.expected_cents < f.high_cents
    nothing = forecast_period({today: Decimal(500)}, today, *MONTH)
    assert nothing.method == "actual_only"
    assert nothing.expected_cents == nothing.actual_cents == Decimal(500)


def test_exhausted_on_is_the_first_day_the_cumulative_spend_reaches_the_amount() -> None:
    clear_cache()
    today = date(2026, 12, 8)
    flat = {date(2026, 11, 1) + timedelta(days=i): Decimal(10_000) for i in range(37)}
    f = forecast_period({**flat, today: Decimal(0)}, today, *MONTH)
    # $100 a day from the 1st: $1,500 is reached on the 15th; $10,000 never in December.
    assert f.exhausted_on(Decimal(150_000)) == date(2026, 12, 15)
    assert f.exhausted_on(Decimal(1_000_000)) is None
    assert abs(f.expected_cents - Decimal(310_000)) < 100
