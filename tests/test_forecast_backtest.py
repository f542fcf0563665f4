"""`make bench`'s forecast backtest (bench/forecast_quality.py) measures what it says: whole
calendar months, origins on their day 7, 14 and 21, errors against the months' true totals, and
the run rate it is compared with."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from bench import forecast_quality as fq


def test_months_are_whole_calendar_months_inside_the_range() -> None:
    assert fq.months(date(2026, 1, 15), date(2026, 4, 1)) == [
        (date(2026, 2, 1), date(2026, 3, 1)),
        (date(2026, 3, 1), date(2026, 4, 1)),
    ]


def test_a_flat_series_is_forecast_exactly_by_the_engine_and_the_baseline() -> None:
    """$100 every day: every month-end forecast is the month's truth (error 0, inside)."""
    first = fq.TODAY - timedelta(days=fq.HISTORY)
    flat = {first + timedelta(days=i): Decimal(10_000) for i in range(fq.HISTORY)}
    trials = fq.backtest({"flat": flat})
    assert {t.origin for t in trials} == set(fq.ORIGINS)
    assert trials and all(t.error < 1e-9 and t.inside for t in trials)
    assert all(t.baseline_error < 1e-9 and t.baseline_inside for t in trials)
    assert all(t.method == "run_rate" for t in trials)  # no variation: ETS has nothing to fit


def test_the_report_prints_each_origin_with_its_targets(capsys: pytest.CaptureFixture[str]) -> None:
    assert fq.main(["--orgs", "1"]) == 0
    out = capsys.readouterr().out
    for origin in fq.ORIGINS:
        line = next(x for x in out.splitlines() if x.strip().startswith(f"day {origin:>2}:"))
        assert "MAPE" in line and "target <= 10%" in line and "run rate alone" in line
    assert "200 budgets' forecasts" in out


def test_the_80_percent_interval_holds_about_80_percent_of_month_totals() -> None:
    """On simulated organizations the width was not chosen on (seeds 7000-7002: checked, not
    fitted), the interval holds 70-90 % of month totals; the model's own paths held 55-63 %."""
    trials = fq.backtest(fq.series(3, seed=7000))
    coverage = sum(t.inside for t in trials) / len(trials)
    assert len(trials) > 150 and 0.70 <= coverage <= 0.90, coverage
