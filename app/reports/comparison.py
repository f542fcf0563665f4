"""Each headline figure against the previous period: which period that is, and the change.

The previous period has the same length and ends where the view starts. Calendar views
compare with the calendar: whole months with as many whole months before them, and a month
to date with the same days of the month before (December 1-15 with November 1-15, clipped to
that month's end). Changes are exact (``Decimal``); a previous period without a single stored
row is "no data", not a division by zero.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from app.reports.filters import Filters
from app.reports.periods import month_start, next_month

NO_DATA = "no data for the previous period"
TENTH = Decimal("0.1")


def _months_back(day: date, months: int) -> date:
    """The first of the month ``months`` before ``day``'s month."""
    first = month_start(day)
    for _ in range(months):
        first = month_start(first - timedelta(days=1))
    return first


def _whole_months(start: date, end: date) -> int:
    """How many calendar months ``[start, end)`` is exactly; 0 when it is not whole months."""
    if start.day != 1 or end.day != 1 or end <= start:
        return 0
    n, first = 0, start
    while first < end:
        first, n = next_month(first), n + 1
    return n if first == end else 0


def previous_range(start: date, end: date) -> tuple[date, date]:
    """``[start, end)`` of the period a view ``[start, end)`` is compared with."""
    months = _whole_months(start, end)
    if months:
        return _months_back(start, months), start
    if start.day == 1 and end <= next_month(start):
        # A month to date: the same days of the month before, at most all of it.
        before = _months_back(start, 1)
        return before, min(before + (end - start), start)
    return start - (end - start), start


def previous_period(f: Filters) -> Filters:
    """The same filters over the previous period (``previous_range``)."""
    start, end = previous_range(f.start, f.end)
    return replace(f, start=start, end=end)


def period_label(start: date, end: date) -> str:
    """``[start, end)`` as a person reads it: "Nov 2 – Dec 1", "Nov 30", "October 2026"."""
    last = end - timedelta(days=1)
    if _whole_months(start, end) == 1:
        return f"{start:%B %Y}"

    def day(d: date, year: bool) -> str:
        return f"{d:%b} {d.day}" + (f", {d.year}" if year else "")

    year = start.year != last.year
    if last <= start:
        return day(start, False)
    return f"{day(start, year)} – {day(last, year)}"


@dataclass(frozen=True)
class Change:
    """A figure now and in the previous period ``[start, end)``; ``previous`` None when that
    period has no data at all. ``points``: a share, whose change is in percentage points."""

    current: Decimal
    previous: Decimal | None
    start: date
    end: date
    points: bool = False

    @property
    def period(self) -> str:
        return period_label(self.start, self.end)

    @property
    def difference(self) -> Decimal | None:
        return None if self.previous is None else self.current - self.previous

    @property
    def percent(self) -> Decimal | None:
        """The relative change in percent, to a tenth; None without a previous figure (or
        one of zero, which has no ratio)."""
        if self.previous is None or self.previous == 0:
            return None
        ratio = (self.current - self.previous) / self.previous * 100
        return ratio.quantize(TENTH, rounding=ROUND_HALF_UP)

    @property
    def delta(self) -> str:
        """The change as the metric shows it: "+12.3 %", "-4.0 %", "+1.2 pp", or why none."""
        if self.previous is None:
            return NO_DATA
        if self.points:
            pp = ((self.current - self.previous) * 100).quantize(TENTH, rounding=ROUND_HALF_UP)
            return f"{pp:+.1f} pp"
        percent = self.percent
        if percent is None:  # nothing before, something now: no ratio to tell
            return "0.0 %" if self.current == 0 else "new"
        return f"{percent:+.1f} %"

    @property
    def unchanged(self) -> bool:
        return self.previous is not None and self.current == self.previous


def change(
    current: Decimal | int | float,
    previous: Decimal | int | float | None,
    period: tuple[date, date],
    *,
    points: bool = False,
) -> Change:
    """A ``Change`` of exact numbers (a float share becomes its exact decimal)."""

    def exact(value: Decimal | int | float) -> Decimal:
        return value if isinstance(value, Decimal) else Decimal(value)

    return Change(
        exact(current),
        None if previous is None else exact(previous),
        period[0],
        period[1],
        points=points,
    )
