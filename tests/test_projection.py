"""The month-end projection (issue 15, defect 4): complete days only, a range, an honest note."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

from app.reports.projection import TRAILING_DAYS, history_window, project_month_end

D = Decimal


def days(start: date, values: list[int | str]) -> dict[date, Decimal]:
    """Cents per day from ``start``; None-like gaps are written as "-" (no row that day)."""
    return {start + timedelta(days=i): D(v) for i, v in enumerate(values) if v != "-"}


def test_no_complete_day_with_data_has_no_projection() -> None:
    assert project_month_end(date(2026, 12, 1), {}) is None
    # Today's partial spend alone is not extrapolated into a month.
    assert project_month_end(date(2026, 12, 1), {}, D(5000)) is None


def test_day_one_is_based_on_last_month_not_today_times_the_month() -> None:
    today = date(2026, 12, 1)
    start, end = history_window(today)
    assert (start, end) == (today - timedelta(days=TRAILING_DAYS), today)
    last_weeks = days(start, [1000] * TRAILING_DAYS)  # $10.00 a day
    # Only $0.05 so far today (an organization has not reported yet): not 31 x $0.05.
    p = project_month_end(today, last_weeks, D(5))
    assert p is not None
    assert p.expected == D("310.00")  # today and the 30 days after it at $10
    assert (p.low, p.high) == (D("310.00"), D("310.00"))  # days that never vary: no spread
    assert p.early
    assert p.note == "Early estimate: based on the last 28 days of last month."


def test_today_counts_as_what_it_spent_when_that_is_more_than_an_average_day() -> None:
    today = date(2026, 12, 1)
    p = project_month_end(today, days(today - timedelta(days=28), [1000] * 28), D(4000))
    assert p is not None and p.expected == D("340.00")  # $40 today, then 30 x $10


def test_one_day_of_history_gives_a_figure_but_no_range() -> None:
    today = date(2026, 12, 1)
    p = project_month_end(today, {date(2026, 11, 30): D(1234)})
    assert p is not None
    assert p.expected == D("382.54")  # 31 x $12.34
    assert p.low is None and p.high is None
    assert p.note == "Early estimate: based on the last 1 day of last month."


def test_mid_month_uses_this_months_complete_days_only() -> None:
    today = date(2026, 11, 16)  # 15 complete days; 15 days left, today included
    history = days(date(2026, 10, 1), [100_000] * 31)  # October was much dearer: not used
    history |= days(date(2026, 11, 1), [2000] * 15)
    p = project_month_end(today, history, D(300))
    assert p is not None
    assert p.expected == D("600.00")  # 15 x $20 spent, 15 x $20 to come
    assert not p.early
    assert p.note == "Based on this month's 15 complete days."


def test_a_young_month_spans_the_boundary_and_says_so() -> None:
    today = date(2026, 12, 3)  # two complete days of December
    p = project_month_end(today, days(today - timedelta(days=28), [1000] * 28))
    assert p is not None
    assert p.basis_days == 28 and p.early
    assert p.note == "Early estimate: based on the last 28 complete days, 26 of last month."
    assert p.expected == D("310.00")  # $20 spent + 29 days (today included) x $10


def test_gaps_after_the_first_day_are_days_without_spend() -> None:
    today = date(2026, 11, 11)  # ten complete days
    p = project_month_end(today, days(date(2026, 11, 1), [2000, "-"] * 5))
    assert p is not None
    # $100 spent over ten days, an average of $10: 20 days left (today included).
    assert p.expected == D("300.00")
    assert p.low is not None and p.high is not None
    assert p.low < p.expected < p.high


def test_history_that_starts_late_is_not_averaged_with_zeros() -> None:
    today = date(2026, 12, 2)  # young month; the organization's data begins Nov 29
    p = project_month_end(today, days(date(2026, 11, 29), [1000, 1000, 1000]))
    assert p is not None
    assert p.basis_start == date(2026, 11, 29) and p.basis_days == 3
    assert p.expected == D("310.00")  # $10 spent on Dec 1, then 30 x $10
    assert p.note == "Early estimate: based on the last 3 complete days, 2 of last month."
    assert p.low is None and p.high is None  # less than a week cannot tell the pace's spread


def test_the_range_brackets_the_figure_in_cents_and_never_below_what_is_spent() -> None:
    today = date(2026, 11, 21)
    history = days(date(2026, 11, 1), [500, 9000, 100, 7000, 50] * 4)  # very uneven days
    spent = sum(history.values(), D(0))
    p = project_month_end(today, history, D(10))
    assert p is not None and p.low is not None and p.high is not None
    assert p.low < p.expected < p.high
    assert p.low >= (spent + 10).scaleb(-2)
    for value in (p.expected, p.low, p.high):
        assert value == value.quantize(D("0.01"))
    # A steadier month of the same average has a narrower range.
    steady = days(date(2026, 11, 1), [3330] * 20)
    q = project_month_end(today, steady, D(10))
    assert q is not None and q.low is not None and q.high is not None
    assert q.high - q.low < p.high - p.low


def test_a_steady_weekly_rhythm_has_no_spread_weekends_and_all() -> None:
    today = date(2026, 12, 1)
    start = today - timedelta(days=28)
    week = [1000, 1000, 1000, 1000, 1000, 350, 350]  # quiet weekends, every week alike
    p = project_month_end(today, days(start, week * 4))
    assert p is not None and p.low == p.expected == p.high


def test_the_range_runs_the_quietest_and_busiest_week_over_the_days_left() -> None:
    today = date(2026, 12, 1)  # 31 days left, today included
    history = days(today - timedelta(days=28), [1000] * 14 + [2000] * 14)
    p = project_month_end(today, history)
    assert p is not None
    assert (p.low, p.expected, p.high) == (D("310.00"), D("465.00"), D("620.00"))


def test_the_last_day_of_the_month_adds_only_today() -> None:
    today = date(2026, 11, 30)
    p = project_month_end(today, days(date(2026, 11, 1), [1000] * 29), D(200))
    assert p is not None and p.expected == D("300.00")  # $290 spent, today at $10
