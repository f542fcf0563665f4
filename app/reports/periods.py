"""Periods and money units every report shares: days, weeks and months; cents and dollars."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

GRAINS = {"day": "Day", "week": "Week", "month": "Month"}


def period_of(day: date, grain: str) -> date:
    """The first day of the period holding ``day`` (weeks start on Monday)."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def periods_in(start: date, end: date, grain: str) -> list[date]:
    """The first days of the periods ``[start, end)`` touches, in order."""
    days = (start + timedelta(days=i) for i in range((end - start).days))
    return sorted({period_of(day, grain) for day in days})


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def usd(cents: Decimal) -> Decimal:
    return cents.scaleb(-2)
