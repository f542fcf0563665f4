"""Period-end spend of one scope with an 80 % interval: the forecast engine of budgets,
``finops forecast`` and the Overview's projected month end.

- ``ets``: with at least ``ETS_MIN_DAYS`` complete days, statsmodels' ETS model (additive
  error, damped additive trend, additive weekly season: weekends are often far lower), its
  interval from simulated future paths summed over the days left. statsmodels is the
  well-kept implementation of these models; a hand-written Holt-Winters would have neither
  the likelihood fit nor the simulation.
- ``run_rate``: fewer complete days (or a fit that fails): their average per day, the
  interval from their day-to-day spread.
- ``actual_only``: no complete day yet; the period's spend so far, no projection.

Today (UTC) is partial: what it has spent counts as actual, and it counts as at least its
forecast day. The model sees complete days only. Days before a scope's first spend are not
zeros (an organization connected last week is not averaged with weeks of nothing).
"""

from __future__ import annotations

import importlib
import logging
import math
import threading
import warnings
from collections import OrderedDict
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

log = logging.getLogger(__name__)

ETS_MIN_DAYS = 14
HISTORY_DAYS = 91  # thirteen whole weeks: what the model is fitted on
RUN_RATE_DAYS = 28
INTERVAL = 0.80
_Z = 1.2815515655446004  # the normal quantile of 90 %: the 80 % two-sided interval
SIMULATIONS = 400
# The simulated paths' spread of the period's sum, widened by this much around its mean: the
# model's own paths leave out the uncertainty of its fitted parameters and the month-to-month
# shifts of real spend, and held only 53-63 % of month totals inside their "80 %" interval in
# the backtest (bench/forecast_quality.py). 1.5 was chosen on simulated organizations of seeds
# 1000-1011 (coverage 76-85 % on day 7, 14 and 21) and held on seeds 7000-7011 (76-83 %).
INTERVAL_SCALE = 1.5
# The likelihood fit's iterations: a bound, not a budget; daily spend converges in about 20
# (on 33 rolling origins of a simulated organization every fit converged, and 1,000 gave the
# same forecast to the cent).
MAX_ITERATIONS = 60
_CACHE_SIZE = 4096
# Forecasts by (scope, day, period, exact history): a rerun with the same stored days fits
# nothing. There is no cache of fitted parameters: smoothing a restated history with a fit of
# the day before the restatement gave another figure than a fresh fit (173,292 against
# 233,695 in one case), so the Budgets page, the worker's alerts, the Overview and `finops
# forecast` (a new process) would not agree. A fresh fit is cheap: about 5 ms on 91 days
# (bench/forecast_quality.py times it).
_cache: OrderedDict[Hashable, Forecast] = OrderedDict()


_ETS_MODULE = "statsmodels.tsa.exponential_smoothing.ets"
_warming = threading.Lock()
_warmed = False


def warm_up() -> None:
    """Import statsmodels' ETS in a background thread, once per process: about a second of
    imports that the first Overview (its projected month end) or Budgets render would
    otherwise wait for. Imported lazily because the worker and the CLI rarely need it."""
    global _warmed
    with _warming:
        if _warmed:
            return
        _warmed = True
    threading.Thread(
        target=importlib.import_module, args=(_ETS_MODULE,), name="ets-import", daemon=True
    ).start()


@dataclass(frozen=True)
class Forecast:
    """A scope's spend for ``[period_start, period_end)`` in cents, as of ``today``.

    ``actual_cents``: the period's spend so far (today's partial day included).
    ``expected_cents``, ``low_cents``, ``high_cents``: its end of period, 80 % interval.
    ``days``: each day of the period with its spend, actual before today, forecast from it."""

    period_start: date
    period_end: date
    today: date
    actual_cents: Decimal
    expected_cents: Decimal
    low_cents: Decimal
    high_cents: Decimal
    method: str
    days: tuple[tuple[date, Decimal], ...]

    def exhausted_on(self, amount_cents: Decimal) -> date | None:
        """The first day the cumulative spend (actual, then forecast) reaches the amount;
        None when it is not projected to within the period."""
        total = Decimal(0)
        for day, cents in self.days:
            total += cents
            if total >= amount_cents and total > 0:
                return day
        return None


def forecast_period(
    daily_cents: Mapping[date, Decimal],
    today: date,
    period_start: date,
    period_end: date,
    *,
    cache_key: Hashable | None = None,
) -> Forecast:
    """The forecast of ``[period_start, period_end)`` from ``daily_cents`` (spend per day,
    history before the period included; ``today``'s entry is its partial day). With
    ``cache_key`` (a scope's name), the result is kept for the same history and day: the same
    stored days give the same figure in every process."""
    first = min((d for d, v in daily_cents.items() if v), default=None)
    start = today if first is None else max(first, today - timedelta(days=HISTORY_DAYS))
    history = tuple(
        Decimal(daily_cents.get(start + timedelta(days=i), 0)) for i in range((today - start).days)
    )
    today_cents = Decimal(daily_cents.get(today, 0))
    key = None
    if cache_key is not None:
        key = (cache_key, today, period_start, period_end, start, history, today_cents)
        hit = _cache.get(key)
        if hit is not None:
            _cache.move_to_end(key)
            return hit
    result = _forecast(daily_cents, history, today, today_cents, period_start, period_end)
    if key is not None:
        _cache[key] = result
        if len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return result


def _forecast(
    daily_cents: Mapping[date, Decimal],
    history: tuple[Decimal, ...],
    today: date,
    today_cents: Decimal,
    period_start: date,
    period_end: date,
) -> Forecast:
    past = [
        (period_start + timedelta(days=i), Decimal(daily_cents.get(period_start + timedelta(i), 0)))
        for i in range(max(0, (min(today, period_end) - period_start).days))
    ]
    spent = sum((v for _, v in past), Decimal(0))
    if today >= period_end:  # a past period: all actual
        return Forecast(
            period_start, period_end, today, spent, spent, spent, spent, "actual", tuple(past)
        )
    actual = spent + today_cents
    horizon = (period_end - today).days  # today and the days after it
    future = [today + timedelta(days=i) for i in range(horizon)]
    if not history:
        days = (*past, (today, today_cents), *((d, Decimal(0)) for d in future[1:]))
        return Forecast(
            period_start, period_end, today, actual, actual, actual, actual, "actual_only", days
        )
    paths: tuple[list[float], float, float] | None = None
    method = "run_rate"
    if len(history) >= ETS_MIN_DAYS:
        paths = _ets(history, horizon, float(today_cents))
        if paths is not None:
            method = "ets"
    if paths is None:
        paths = _run_rate(history, horizon, float(today_cents))
    means, low, high = paths
    means[0] = max(means[0], float(today_cents))
    expected_future = sum(means)
    expected = spent + _cents(expected_future)
    low_cents = min(spent + _cents(low), expected)
    high_cents = max(spent + _cents(high), expected)
    days = (*past, *zip(future, (_cents(m) for m in means), strict=True))
    return Forecast(
        period_start,
        period_end,
        today,
        actual,
        max(expected, actual),
        max(low_cents, actual),
        max(high_cents, actual),
        method,
        days,
    )


def _cents(value: float) -> Decimal:
    return Decimal(round(value, 6)).quantize(Decimal("0.000001")) if value > 0 else Decimal(0)


def _run_rate(
    history: tuple[Decimal, ...], horizon: int, today_cents: float
) -> tuple[list[float], float, float]:
    """Each day left at the average of the last complete days; the interval of their sum from
    the days' spread (independent days: the spread of a sum grows with its square root)."""
    recent = [float(v) for v in history[-RUN_RATE_DAYS:]]
    mean = sum(recent) / len(recent)
    spread = (
        math.sqrt(sum((v - mean) ** 2 for v in recent) / (len(recent) - 1))
        if len(recent) > 1
        else 0.0
    )
    means = [mean] * horizon
    first = max(mean, today_cents)
    total = first + mean * (horizon - 1)
    half = _Z * spread * math.sqrt(horizon)
    return means, max(0.0, total - half), total + half


def _ets(
    history: tuple[Decimal, ...], horizon: int, today_cents: float
) -> tuple[list[float], float, float] | None:
    """The ETS forecast of the days left, and the 10th and 90th percentiles of their sum over
    simulated paths (each day at least zero; today at least what it has spent). None when the
    model cannot be fitted (then the caller uses the run rate)."""
    import numpy as np
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    # In dollars: the optimiser is better behaved on values near one than on millions of cents.
    y = np.array([float(v) / 100 for v in history], dtype=float)
    if not np.any(y) or float(np.std(y)) == 0.0:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = ETSModel(
                y,
                error="add",
                trend="add",
                damped_trend=True,
                seasonal="add",
                seasonal_periods=7,
                # Initial states from the first weeks (needs 10 + 2 x 3 days) rather than
                # fitted with the rest: a third of the time, the same forecast.
                initialization_method="heuristic" if len(y) >= 16 else "estimated",
            )
            fitted = model.fit(disp=False, maxiter=MAX_ITERATIONS)
            mean = np.asarray(fitted.forecast(horizon), dtype=float)
            rng = np.random.default_rng(7)
            sims = np.asarray(
                fitted.simulate(horizon, repetitions=SIMULATIONS, anchor="end", rng=rng),
                dtype=float,
            ).reshape(horizon, -1)
    except Exception as exc:
        log.info("The ETS fit failed (%s); the run rate is used", type(exc).__name__)
        return None
    if not np.all(np.isfinite(mean)) or not np.all(np.isfinite(sims)):
        return None
    mean = np.clip(mean, 0, None) * 100
    sims = np.clip(sims, 0, None) * 100
    sims[0, :] = np.maximum(sims[0, :], today_cents)
    totals = sims.sum(axis=0)
    totals = totals.mean() + (totals - totals.mean()) * INTERVAL_SCALE
    tail = (1 - INTERVAL) / 2
    low, high = np.quantile(totals, [tail, 1 - tail])
    return [float(v) for v in mean], float(low), float(high)


def clear_cache() -> None:
    _cache.clear()
