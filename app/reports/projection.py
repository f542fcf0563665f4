"""The Overview's projected month end: complete days only, with a range, and an honest "early".

``project_month_end`` is the one place that turns daily spend into a month-end figure. The
budgets issue brings a statsmodels forecast: it replaces this function (same inputs, the same
``Projection`` out), so the Overview and the budgets always show the same engine's number.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.reports.periods import month_start, next_month, usd

# While this month has fewer complete days than this, its own days say too little (a weekend
# or one busy day would swing the month): the trailing four weeks are the basis instead,
# across the month boundary. Four whole weeks hold every weekday equally often.
YOUNG_MONTH_DAYS = 7
TRAILING_DAYS = 28
# The range runs the days left at the quietest and the busiest pace of this many days in a row.
WEEK = 7
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Projection:
    """A month-end projection in exact USD (rounded to cents). ``low``/``high`` are None
    before a week of data can tell how much the pace varies. The basis is
    ``[basis_start, basis_end)``, complete UTC days only."""

    expected: Decimal
    low: Decimal | None
    high: Decimal | None
    basis_start: date
    basis_end: date
    early: bool

    @property
    def basis_days(self) -> int:
        return (self.basis_end - self.basis_start).days

    @property
    def note(self) -> str:
        """What the figure is based on, as a person reads it."""
        n = self.basis_days
        days = "day" if n == 1 else "days"
        first = month_start(self.basis_end)
        before = max(0, min(n, (first - self.basis_start).days))  # basis days of last month
        if before == n:
            return f"Early estimate: based on the last {n} {days} of last month."
        if before:
            return f"Early estimate: based on the last {n} complete days, {before} of last month."
        if self.early:
            return f"Early estimate: based on {n} complete {days}."
        return f"Based on this month's {n} complete days."


def history_window(today: date) -> tuple[date, date]:
    """``[start, end)`` of the complete days ``project_month_end`` may need: this month's and
    the trailing four weeks (today, partial, is not one of them)."""
    return min(month_start(today), today - timedelta(days=TRAILING_DAYS)), today


def project_month_end(
    today: date, daily_cents: Mapping[date, Decimal], today_so_far_cents: Decimal = Decimal(0)
) -> Projection | None:
    """The month's spend at its end: its complete days, then today and each day left at the
    basis days' average. None when no complete day has any data yet.

    ``daily_cents``: spend of each complete day in ``history_window(today)`` (a day missing is
    a day without spend, once data has started: days before the first one are not counted, so
    an organization connected last week is not averaged with weeks of zeros). Today (UTC) is
    partial and never extrapolated: it counts as the average day, or what it has spent so far
    if that is more. The basis is this month's complete days, or the trailing four weeks while
    the month has fewer than ``YOUNG_MONTH_DAYS`` complete days (an early estimate).

    Range: the days left at the pace of the quietest and of the busiest 7 days in a row of
    the last four weeks (whole weeks, so weekends do not widen it), widened to hold the
    figure; None with fewer than 7 days of data.

    The budgets issue's forecast (statsmodels) replaces this function, same signature."""
    first = month_start(today)
    days_left = (next_month(first) - today).days  # today included
    known = [d for d in daily_cents if d < today]
    if not known:
        return None
    since = min(known)  # data starts there: no zeros before it
    young = (today - first).days < YOUNG_MONTH_DAYS
    start = max(today - timedelta(days=TRAILING_DAYS) if young else first, since)
    spent = sum((v for d, v in daily_cents.items() if first <= d < today), Decimal(0))

    def run(start: date) -> list[Decimal]:
        """Each day's spend from ``start`` to yesterday."""
        n = (today - start).days
        return [daily_cents.get(start + timedelta(days=i), Decimal(0)) for i in range(n)]

    def at_pace(per_day: Decimal) -> Decimal:
        return spent + max(per_day, today_so_far_cents) + per_day * (days_left - 1)

    basis = run(start)
    expected = at_pace(sum(basis, Decimal(0)) / len(basis))
    low = high = None
    recent = run(max(today - timedelta(days=TRAILING_DAYS), since))
    if len(recent) >= WEEK:
        weeks = [recent[i : i + WEEK] for i in range(len(recent) - WEEK + 1)]
        paces = [sum(week, Decimal(0)) / WEEK for week in weeks]
        low = usd(min(at_pace(min(paces)), expected)).quantize(CENT)
        high = usd(max(at_pace(max(paces)), expected)).quantize(CENT)
    return Projection(
        expected=usd(expected).quantize(CENT),
        low=low,
        high=high,
        basis_start=start,
        basis_end=today,
        early=young or len(basis) < YOUNG_MONTH_DAYS,
    )
