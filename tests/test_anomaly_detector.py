"""The detector's statistics alone (``app.finops.anomaly_detector``): what a FinOps user would
notice if it were wrong — a spike missed, a quiet weekend flagged, a dip called an anomaly, a
new series alerting while it is learning, a past spike hiding the next one."""

from __future__ import annotations

import numpy as np

from app.finops.anomaly_detector import LEARNING_DAYS, MIN_IMPACT_USD, detect

DAYS = 120


def weekly(level: float = 1000.0, weekend: float = 0.3, noise: float = 0.08, seed: int = 1):  # type: ignore[no-untyped-def]
    """One series with weekends at ``weekend`` of weekdays, 1 % weekly growth and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(DAYS)
    pattern = np.where(t % 7 >= 5, weekend, 1.0)
    return level * pattern * 1.01 ** (t / 7) * np.exp(rng.normal(0, noise, DAYS))


def run(*series: np.ndarray, first: list[int] | None = None) -> np.ndarray:
    x = np.vstack(series)
    starts = np.array(first if first is not None else [0] * len(series), dtype=np.int64)
    return detect(x, starts, 0).anomalous


def test_spikes_are_found_on_their_day_and_nowhere_else() -> None:
    x = weekly()
    x[60] *= 3  # a weekday
    x[89] *= 3  # a Sunday: small in dollars, but three times that weekend's spend
    found = run(x)[0]
    assert set(np.flatnonzero(found)) == {60, 89}


def test_expected_range_and_impact_are_consistent() -> None:
    x = weekly()
    x[70] *= 4
    result = detect(x[None, :], np.zeros(1, dtype=np.int64), 0)
    assert result.anomalous[0, 70]
    e, lo, hi = result.expected[0, 70], result.low[0, 70], result.high[0, 70]
    assert 0 <= lo < e < hi < x[70]
    # The expected spend is about that weekday's usual spend, not the spike.
    assert abs(e - x[63]) / x[63] < 0.25


def test_a_weekend_is_not_judged_by_the_weekdays() -> None:
    """Weekend spend at 10 % of weekdays, then a weekday-sized Saturday: flagged; the normal
    weekends around it are not."""
    x = weekly(weekend=0.1)
    x[75] = x[74]  # Saturday spending like Friday
    found = run(x)[0]
    assert found[75]
    assert not found[[68, 69, 82, 83]].any()


def test_spend_below_the_range_is_never_an_anomaly() -> None:
    x = weekly()
    x[60:70] *= 0.1
    x[90] = 0
    assert not run(x)[0].any()


def test_nothing_in_a_series_first_14_days() -> None:
    x = weekly()
    x[:40] = np.nan  # the series starts on day 40
    x[40 + 3] *= 10
    x[40 + LEARNING_DAYS - 1] *= 10
    x[40 + LEARNING_DAYS + 14] *= 10
    found = run(x, first=[40])[0]
    assert set(np.flatnonzero(found)) == {40 + LEARNING_DAYS + 14}


def test_a_tiny_series_does_not_alert() -> None:
    x = weekly(level=2.0)
    x[60] *= 4  # $6 above a $2 day: below the dollar floor
    assert MIN_IMPACT_USD > 6
    assert not run(x)[0].any()


def test_a_past_spike_does_not_hide_the_next_one() -> None:
    x = weekly()
    x[50] *= 8
    x[57] *= 3  # the same weekday, a week later
    found = run(x)[0]
    assert found[50] and found[57]


def test_a_level_shift_is_one_run_of_days_and_then_the_new_normal() -> None:
    x = weekly()
    x[70:] *= 2.5
    found = np.flatnonzero(run(x)[0])
    assert found.size and found[0] in (70, 71, 72)
    # Consecutive days (one episode) and not to the end: the baseline learns the new level.
    assert found[-1] < DAYS - 14


def test_clean_series_raise_almost_nothing() -> None:
    series = [weekly(level=50 + 100 * i, noise=0.1, seed=i) for i in range(40)]
    # 40 series x ~3.5 months checked: at most a couple of alarms.
    assert run(*series).sum() <= 2
