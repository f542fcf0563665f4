"""The anomaly detector's statistics: pure numpy, no database (``app.finops.anomalies`` feeds
it the daily spend series and stores what it finds).

The method, as a FinOps user can follow it. Spend is compared as a ratio (logarithms of
dollars): a spike doubles spend whatever its size. For each complete day, the *expected* spend
is the average of (1) the median of the same weekday over the previous four weeks and (2) the
median of the previous 28 days times that weekday's usual share (its eight-week median over the
median of those 56 days), so a quiet weekend is expected to be quiet; it is never below that
weekday's eight-week median (the days after an outage are judged against normal spend), and it
is moved by how far the series has lately run above its own expectation (growth). The
*expected range* is the expected spend times or divided by exp(3.75 x the usual deviation), the
usual deviation being 1.4826 x the median absolute deviation of the previous 56 days' log
spend from its expectation (days already found anomalous left out, so one episode does not
widen the range for months), and at least 8 %. A day is an anomaly only when its spend is
*above* the range, its *impact* (actual minus expected) is at least $10 and at least 25 % of
the series' usual daily level, and the series has 14 days of stored history before it. Medians
ignore past spikes. Every figure is chosen by measurement in ``bench/anomaly_quality.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

# Chosen by measurement (bench/anomaly_quality.py): see that script for recall and false alarms.
RANGE_MULTIPLIER = 3.75
MAD_SCALE = 1.4826
MIN_RELATIVE_SPREAD = 0.08
MIN_IMPACT_USD = 10.0
MIN_RELATIVE_IMPACT = 0.25
LEARNING_DAYS = 14
SAME_WEEKDAY_WEEKS = 4
FACTOR_WEEKS = 8
LEVEL_DAYS = 28
SPREAD_DAYS = 56
# Days of history before the first day checked that the baseline reads.
LOOKBACK_DAYS = FACTOR_WEEKS * 7

Matrix = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Detection:
    """Per series (rows) and day (columns): the expected spend, its range and the anomalies."""

    expected: Matrix
    low: Matrix
    high: Matrix
    anomalous: npt.NDArray[np.bool_]


def _windows(x: Matrix, size: int) -> Matrix:
    """``w[:, t, k]`` = ``x[:, t - size + k]``: the ``size`` days before day ``t`` (NaN before
    the first day)."""
    padded = np.concatenate([np.full((x.shape[0], size), np.nan), x], axis=1)
    view = np.lib.stride_tricks.sliding_window_view(padded, size, axis=1)
    # Window t covers padded[t : t + size] = x[t - size : t]: the days before t, not t itself.
    return np.asarray(view[:, : x.shape[1], :])


def _rolling_median(x: Matrix, size: int) -> Matrix:
    """The median of the ``size`` days before each day (NaN ignored; NaN where none): pandas'
    rolling median (a sorted window kept as it slides), far cheaper than sorting each window.
    One call over every series laid end to end, each after ``size`` NaN so that no window
    reaches into the series before it."""
    import pandas as pd

    n, days = x.shape
    padded = np.concatenate([np.full((n, size), np.nan), x], axis=1).ravel()
    rolled = pd.Series(padded).rolling(size, min_periods=1).median().to_numpy(dtype=np.float64)
    # Position size - 1 + t of a row ends the window of the days before day t.
    return np.asarray(rolled.reshape(n, size + days)[:, size - 1 : size - 1 + days])


def _same_weekday(x: Matrix, weeks: int) -> Matrix:
    """``w[:, t, k]`` = ``x[:, t - 7 (k + 1)]``: the same weekday in each of ``weeks`` weeks."""
    n, days = x.shape
    out = np.full((n, days, weeks), np.nan)
    for k in range(weeks):
        lag = 7 * (k + 1)
        if lag < days:
            out[:, lag:, k] = x[:, : days - lag]
    return out


def _nanmedian(w: Matrix) -> Matrix:
    """The median of the last axis ignoring NaN; NaN where every value is NaN (no warning)."""
    count = np.sum(~np.isnan(w), axis=-1)
    filled = np.where(np.isnan(w), np.inf, w)
    ordered = np.sort(filled, axis=-1)
    lo_index = np.clip((count - 1) // 2, 0, None)
    hi_index = np.clip(count // 2, 0, None)
    lo = np.take_along_axis(ordered, lo_index[..., None], axis=-1)[..., 0]
    hi = np.take_along_axis(ordered, hi_index[..., None], axis=-1)[..., 0]
    median = (lo + hi) / 2
    return np.where(count > 0, median, np.nan)


def baseline(y: Matrix) -> Matrix:
    """The expected log-spend (``log1p`` of dollars) of every day from the days before it (NaN
    before the series starts: ``y`` holds NaN before each series' first stored day)."""
    same4 = _nanmedian(_same_weekday(y, SAME_WEEKDAY_WEEKS))
    same8 = _nanmedian(_same_weekday(y, FACTOR_WEEKS))
    level8 = _rolling_median(y, FACTOR_WEEKS * 7)
    level = _rolling_median(y, LEVEL_DAYS)
    # The weekday's usual share of the level (a ratio, so a difference of logs).
    scaled = level + np.nan_to_num(same8 - level8)
    blend = np.where(np.isnan(same4), scaled, (same4 + scaled) / 2)
    # Never below that weekday's eight-week median: the days after an outage or a quiet week
    # (which pull the short medians down) are judged against normal spend, not against the dip.
    return np.fmax(blend, same8)


def detect(x: Matrix, first: npt.NDArray[np.int64], checked_from: int) -> Detection:
    """Find the anomalies of series ``x`` (rows: series, columns: consecutive complete days, in
    dollars; NaN before a series' first stored day). ``first[i]`` is the column of series i's
    first stored day (it may be before column 0: then negative); days before ``checked_from``
    are context only, never flagged.

    Spend varies by a factor, not by dollars (a $10,000 day varies by more dollars than a $100
    one, and a spike doubles spend): the medians and deviations are of ``log1p(dollars)``, so
    the range is the expected spend times or divided by a factor, and converted back."""
    y = np.log1p(np.clip(x, 0.0, None))
    expected_log = baseline(y)
    residual = y - expected_log
    # Two passes: the days the first pass flags (a spike, the weeks after a level shift while
    # the medians catch up) are left out of the usual deviation the second pass measures, so
    # one episode does not widen the range for the next two months and hide the next spike.
    bias, spread = _spread(residual)
    flagged = _flag(x, expected_log + bias, spread, first, checked_from=0)
    bias, spread = _spread(np.where(flagged, np.nan, residual))
    # A series that has lately run above (growth) or below its medians is expected to go on so.
    expected_log = expected_log + bias
    anomalous = _flag(x, expected_log, spread, first, checked_from)
    expected = np.expm1(expected_log)
    low = np.clip(np.expm1(expected_log - RANGE_MULTIPLIER * spread), 0.0, None)
    high = np.expm1(expected_log + RANGE_MULTIPLIER * spread)
    return Detection(expected=expected, low=low, high=high, anomalous=anomalous)


def _spread(residual: Matrix) -> tuple[Matrix, Matrix]:
    """The usual deviation of log-spend from its expectation over the days before each day:
    its median (how far the series runs above its medians, as it grows) and its spread (1.4826
    x the median absolute deviation; at least ``MIN_RELATIVE_SPREAD``)."""
    centre = _rolling_median(residual, SPREAD_DAYS)
    # Each day's deviation from the centre of the days before it, then their median over the
    # window: the centre moves slowly, so this is the window's MAD without sorting each one.
    mad = _rolling_median(np.abs(residual - centre), SPREAD_DAYS)
    spread = np.fmax(MAD_SCALE * np.nan_to_num(mad), MIN_RELATIVE_SPREAD)
    return np.nan_to_num(centre), spread


def _flag(
    x: Matrix,
    expected_log: Matrix,
    spread: Matrix,
    first: npt.NDArray[np.int64],
    checked_from: int,
) -> npt.NDArray[np.bool_]:
    """The days above the range whose impact clears both floors, past the learning period."""
    expected = np.expm1(expected_log)
    high = np.expm1(expected_log + RANGE_MULTIPLIER * spread)
    y = np.log1p(np.clip(x, 0.0, None))
    level = np.expm1(_rolling_median(y, LEVEL_DAYS))
    impact = x - expected
    days = np.arange(x.shape[1])[None, :]
    learned = days - first[:, None] >= LEARNING_DAYS
    usual = np.fmax(np.nan_to_num(expected), np.nan_to_num(level))
    with np.errstate(invalid="ignore"):
        return np.asarray(
            learned
            & (days >= checked_from)
            & ~np.isnan(expected)
            & ~np.isnan(x)
            & (x > high)
            & (impact >= MIN_IMPACT_USD)
            & (impact >= MIN_RELATIVE_IMPACT * usual)
        )
