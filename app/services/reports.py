"""Chart-ready tables from the aggregations: by day, week or month, with exact USD.

A chart and its CSV download are built from the same table, so they always agree.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

import pandas as pd
from sqlalchemy import Engine

from app.csv_writer import csv_bytes
from app.reports.labels import SPEND_GROUPS, TOKEN_TYPES, USAGE_GROUPS
from app.reports.periods import month_start, next_month, period_of, usd
from app.services.queries import (
    Filters,
    is_other,
    spend_by_day,
    total_cents,
    usage_by_day,
)


def spend_over_time(
    engine: Engine, f: Filters, group: str, grain: str, top: int | None = None
) -> pd.DataFrame:
    """Columns: period, <group label>, amount_usd (exact Decimal), sorted by period; with
    ``top``, groups beyond the largest ``top`` are one "Other (N …)" group."""
    label = SPEND_GROUPS[group]
    sums: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for day, name, cents in spend_by_day(engine, f, group, top):
        sums[(period_of(day, grain), name)] += cents
    rows = [{"period": p, label: g, "amount_usd": usd(c)} for (p, g), c in sorted(sums.items())]
    return pd.DataFrame(rows, columns=["period", label, "amount_usd"])


def spend_totals(over_time: pd.DataFrame) -> pd.DataFrame:
    """Totals per group from the over-time table, largest first (exact Decimal)."""
    label = over_time.columns[1]
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for name, amount in zip(over_time[label], over_time["amount_usd"], strict=True):
        totals[name] += amount
    # Largest first; "Other (N …)", the sum of the smaller ones, last.
    rows = sorted(totals.items(), key=lambda item: (is_other(item[0]), -item[1]))
    return pd.DataFrame(rows, columns=[label, "amount_usd"])


def usage_over_time(
    engine: Engine, f: Filters, group: str, grain: str, top: int | None = None
) -> pd.DataFrame:
    """Columns: period, <group label>, one column per token type, web_search_requests;
    ``top`` as in ``spend_over_time``."""
    label = "Group" if group == "token_type" else USAGE_GROUPS[group]
    names = [*TOKEN_TYPES, "web_search_requests"]
    sums: dict[tuple[date, str], dict[str, int]] = {}
    for day, name, counts in usage_by_day(engine, f, group, top):
        acc = sums.setdefault((period_of(day, grain), name), dict.fromkeys(names, 0))
        for key in names:
            acc[key] += counts[key]
    rows = [{"period": p, label: g, **v} for (p, g), v in sorted(sums.items())]
    return pd.DataFrame(rows, columns=["period", label, *names])


def tokens_by_type(over_time: pd.DataFrame) -> pd.DataFrame:
    """Long form: period, token_type (readable), tokens; for the stacked token chart."""
    totals: dict[tuple[date, str], int] = defaultdict(int)
    for _, row in over_time.iterrows():
        for key, readable in TOKEN_TYPES.items():
            totals[(row["period"], readable)] += int(row[key])
    rows = [{"period": p, "token_type": t, "tokens": n} for (p, t), n in sorted(totals.items())]
    return pd.DataFrame(rows, columns=["period", "token_type", "tokens"])


@dataclass(frozen=True)
class SpendSummary:
    """The Overview's headline numbers, in exact USD."""

    month_to_date: Decimal
    last_month: Decimal
    today: Decimal
    projection: Decimal
    days_elapsed: int
    days_in_month: int


def spend_summary(engine: Engine, today: date, organizations: tuple[str, ...] = ()) -> SpendSummary:
    """Month to date, last month, today so far, and a month-end projection.

    The projection runs the average of this month's complete days over the days left; today
    (partial) counts as at least what it has spent so far.
    """
    first = month_start(today)
    following = next_month(first)
    previous = month_start(first - timedelta(days=1))
    mtd = total_cents(engine, Filters(first, today + timedelta(days=1), organizations))
    last = total_cents(engine, Filters(previous, first, organizations))
    so_far = total_cents(engine, Filters(today, today + timedelta(days=1), organizations))
    complete_days = (today - first).days
    days_in_month = (following - first).days
    if complete_days:
        rate = (mtd - so_far) / complete_days
        projection = (
            mtd + rate * (days_in_month - complete_days - 1) + max(rate - so_far, Decimal(0))
        )
    else:
        projection = so_far * days_in_month
    return SpendSummary(
        month_to_date=usd(mtd),
        last_month=usd(last),
        today=usd(so_far),
        projection=usd(projection).quantize(Decimal("0.01")),
        days_elapsed=complete_days + 1,
        days_in_month=days_in_month,
    )


def to_csv(frame: pd.DataFrame) -> bytes:
    """The exact numbers of a chart as CSV: Decimal amounts as plain decimals, dates as ISO
    dates, and names from the API neutralised against spreadsheet formulas (by the one CSV
    writer, which quotes per RFC 4180)."""
    rows = frame.itertuples(index=False, name=None)
    return csv_bytes([str(c) for c in frame.columns], rows)
