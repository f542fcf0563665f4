"""The Overview's projected month end: this month's end in the forecast engine of budgets.

``project_month_end`` is the thin data-layer call the Overview makes; the figure, its 80 %
interval and the method come from ``app.finops.forecast.forecast_period`` (ETS with a weekly
season, the run rate under ``ETS_MIN_DAYS`` complete days), so the Overview and the Budgets page
show the same number for the same scope and month.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.finops.forecast import ETS_MIN_DAYS, HISTORY_DAYS, RUN_RATE_DAYS, forecast_period
from app.reports.periods import month_start, next_month, usd

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Projection:
    """A month-end projection in exact USD (rounded to cents) with its 80 % interval
    ``[low, high]``. ``method`` is the engine's: "ets" or "run_rate". The basis is
    ``[basis_start, basis_end)``, the complete UTC days the engine was given."""

    expected: Decimal
    low: Decimal
    high: Decimal
    method: str
    basis_start: date
    basis_end: date

    @property
    def basis_days(self) -> int:
        return (self.basis_end - self.basis_start).days

    @property
    def run_rate(self) -> bool:
        return self.method != "ets"

    @property
    def note(self) -> str:
        """What the figure is based on, as a person reads it."""
        n = self.basis_days
        days = "day" if n == 1 else "days"
        if not self.run_rate:
            return f"Forecast with a weekly season from the last {n} complete {days}."
        if n < ETS_MIN_DAYS:
            return (
                f"Run rate of the last {n} complete {days}: a forecast with a weekly season "
                f"needs {ETS_MIN_DAYS}."
            )
        # Enough days, but the model could not be fitted (days that never vary, say).
        return f"Run rate of the last {min(n, RUN_RATE_DAYS)} complete days."


def history_window(today: date) -> tuple[date, date]:
    """``[start, end)`` of the complete days ``project_month_end`` may need: the forecast's
    ``HISTORY_DAYS`` (and this month's, always within them); today, partial, is not one."""
    return min(month_start(today), today - timedelta(days=HISTORY_DAYS)), today


def project_month_end(
    today: date,
    daily_cents: Mapping[date, Decimal],
    today_so_far_cents: Decimal = Decimal(0),
) -> Projection | None:
    """This month's spend at its end, by the budgets' forecast engine; None when no complete
    day has any spend yet (today's partial spend alone is not extrapolated).

    ``daily_cents``: spend of each complete day in ``history_window(today)`` (a day missing is
    a day without spend once data has started; days before the first are not zeros).
    ``today_so_far_cents``: today's partial spend, counted as at least its forecast day.

    The same days asked again (a rerun) are answered from the engine's cache, whichever
    database or organizations they came from (the history is the cache key); changed days are
    fitted afresh, so the figure is always the one a fresh forecast of those days gives."""
    first = month_start(today)
    history = {d: v for d, v in daily_cents.items() if d < today}
    f = forecast_period(
        {**history, today: today_so_far_cents},
        today,
        first,
        next_month(first),
        cache_key="overview",
    )
    if f.method not in ("ets", "run_rate"):  # "actual_only": no complete day with spend
        return None
    since = min(d for d, v in history.items() if v)  # the engine starts at the first spend
    return Projection(
        expected=usd(f.expected_cents).quantize(CENT),
        low=usd(f.low_cents).quantize(CENT),
        high=usd(f.high_cents).quantize(CENT),
        method=f.method,
        basis_start=max(since, today - timedelta(days=HISTORY_DAYS)),
        basis_end=today,
    )
