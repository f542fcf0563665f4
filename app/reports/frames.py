"""A chart's table: its groups, which of them is "Other", and its CSV download."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

import pandas as pd

from app.csv_writer import csv_bytes
from app.reports.periods import period_of, usd


def to_csv(frame: pd.DataFrame) -> bytes:
    """The exact numbers of a chart as CSV: Decimal amounts as plain decimals, dates as ISO
    dates, and names from the API neutralised against spreadsheet formulas (by the one CSV
    writer, which quotes per RFC 4180)."""
    rows = frame.itertuples(index=False, name=None)
    return csv_bytes([str(c) for c in frame.columns], rows)


@dataclass(frozen=True)
class Grouped:
    """A chart's table by group: ``frame`` (what the chart and its CSV hold), ``group`` (its
    column of group labels) and ``other``, the label of the group the smaller ones were added
    up into (None when none was). ``other`` comes from the fold that made the table, never from
    a label's text, so a workspace named "Other (3 workspaces)" is an ordinary group."""

    frame: pd.DataFrame
    group: str
    other: str | None = None

    @property
    def empty(self) -> bool:
        return bool(self.frame.empty)  # pandas is untyped here: its attributes are Any

    @property
    def shown_other(self) -> str | None:
        """``other`` when the table has a row of it."""
        return self.other if any(self.is_other(g) for g in self.frame[self.group]) else None

    def is_other(self, label: object) -> bool:
        return self.other is not None and label == self.other

    def named(self) -> pd.DataFrame:
        """The rows of the groups shown by name (without "Other")."""
        return self.frame[[not self.is_other(g) for g in self.frame[self.group]]]

    def other_last(self, frame: pd.DataFrame) -> pd.DataFrame:
        """``frame``'s rows in their order, the "Other" group's moved last."""
        order = sorted(range(len(frame)), key=lambda i: self.is_other(frame[self.group].iat[i]))
        return frame.iloc[order].reset_index(drop=True)

    def replace(self, frame: pd.DataFrame) -> Grouped:
        """The same groups (and "Other") in another table."""
        return Grouped(frame, self.group, self.other)


def long_form(
    frame: pd.DataFrame, labels: dict[str, str], *, by: str, name: str, value: str
) -> pd.DataFrame:
    """``by`` × one row per measure of ``labels`` (named by its label), for a chart of several
    measures side by side; the wide ``frame`` is what its CSV holds."""
    melted = frame.melt(id_vars=by, value_vars=list(labels), var_name=name, value_name=value)
    melted[name] = melted[name].map(labels)
    return melted


def spend_per_period(
    by_day: Iterable[tuple[date, str, Decimal]], label: str, grain: str, other: str | None = None
) -> Grouped:
    """(day, group, cents) rows as the table of a spend chart: period, ``label`` (the group
    column), amount_usd (exact Decimal), sorted by period and group."""
    sums: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for day, name, cents in by_day:
        sums[(period_of(day, grain), name)] += cents
    rows = [(p, g, usd(c)) for (p, g), c in sorted(sums.items())]
    return Grouped(pd.DataFrame(rows, columns=["period", label, "amount_usd"]), label, other)


def with_previous(
    frame: pd.DataFrame, previous: pd.DataFrame, group: str, value: str, name: str
) -> pd.DataFrame:
    """A chart's table with the previous period's totals per period (at their own dates) as
    rows of the group ``name``: the CSV of a chart that overlays the previous period."""
    if previous.empty:
        return frame
    totals = previous.groupby("period", as_index=False)[value].sum()
    totals[group] = name
    return pd.concat([frame, totals[list(frame.columns)]], ignore_index=True)
