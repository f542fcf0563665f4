"""The previous period a view is compared with, and how its change reads (issue 15,
comparison): equal length before the view; whole months against as many months before; a
month to date against the same days of last month; no data is said, never "+inf %"."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from app.reports.comparison import NO_DATA, change, period_label, previous_range
from app.reports.filters import Filters, uses_rollups


@pytest.mark.parametrize(
    ("start", "end", "before"),
    [
        # The last 30 days (Dec 1 today): the 30 days before them.
        (date(2026, 11, 2), date(2026, 12, 2), (date(2026, 10, 3), date(2026, 11, 2))),
        # Month to date, day 1 and day 15: the same days of November.
        (date(2026, 12, 1), date(2026, 12, 2), (date(2026, 11, 1), date(2026, 11, 2))),
        (date(2026, 12, 1), date(2026, 12, 16), (date(2026, 11, 1), date(2026, 11, 16))),
        # March 1-31 to date: all of February, no further.
        (date(2027, 3, 1), date(2027, 4, 1), (date(2027, 2, 1), date(2027, 3, 1))),
        (date(2027, 3, 1), date(2027, 3, 31), (date(2027, 2, 1), date(2027, 3, 1))),
        # Last month (November): October, whole, though it has a day more.
        (date(2026, 11, 1), date(2026, 12, 1), (date(2026, 10, 1), date(2026, 11, 1))),
        # Two whole months: the two before, across a year.
        (date(2027, 1, 1), date(2027, 3, 1), (date(2026, 11, 1), date(2027, 1, 1))),
        # A custom range across a month boundary: the same length before.
        (date(2026, 11, 20), date(2026, 12, 5), (date(2026, 11, 5), date(2026, 11, 20))),
    ],
)
def test_previous_range(start: date, end: date, before: tuple[date, date]) -> None:
    assert previous_range(start, end) == before


def test_previous_period_keeps_the_filters_and_so_the_rollups() -> None:
    from app.reports.comparison import previous_period

    f = Filters(date(2026, 11, 2), date(2026, 12, 2), organizations=("org-1",))
    before = previous_period(f)
    assert before.organizations == ("org-1",) and uses_rollups(before)
    assert (before.start, before.end) == (date(2026, 10, 3), date(2026, 11, 2))


def test_period_labels() -> None:
    assert period_label(date(2026, 11, 2), date(2026, 12, 2)) == "Nov 2 – Dec 1"
    assert period_label(date(2026, 11, 30), date(2026, 12, 1)) == "Nov 30"
    assert period_label(date(2026, 10, 1), date(2026, 11, 1)) == "October 2026"
    assert period_label(date(2025, 12, 20), date(2026, 1, 5)) == "Dec 20, 2025 – Jan 4, 2026"


def test_changes_read_as_people_expect() -> None:
    period = (date(2026, 11, 2), date(2026, 12, 2))
    assert change(Decimal("112.30"), Decimal(100), period).delta == "+12.3 %"
    assert change(Decimal("95.96"), Decimal(100), period).delta == "-4.0 %"
    # Exact: a third more is 33.3 %, not a float's 33.29999.
    assert change(Decimal(4), Decimal(3), period).delta == "+33.3 %"
    assert change(Decimal(5), None, period).delta == NO_DATA
    assert change(Decimal(5), Decimal(0), period).delta == "new"  # no ratio to $0
    assert change(0.5, 0.25, period, points=True).delta == "+25.0 pp"
    assert change(7, 7, period).unchanged
