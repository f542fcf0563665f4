"""Usage: tokens by type and web search requests by day and group, and the chart-ready tables
of the Usage page by day, week or month.

A chart and its CSV download are built from the same table, so they always agree.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.columnar import detail_engine
from app.datasets import REGISTRY, Dataset
from app.db import read_session
from app.models import KeyUsage, Organization, UsageBucket, UsageDaily
from app.reports.filters import (
    Filters,
    one_rollup_filter,
    uses_rollups,
    where_detail,
    where_organizations,
    where_rollup,
)
from app.reports.frames import Grouped
from app.reports.labels import MODEL_IDS, TOKEN_TYPES, USAGE_COLUMNS, group_noun
from app.reports.periods import period_of
from app.reports.top import Source, rollup_dim, sum_by_day


def usage_by_day(
    engine: Engine, f: Filters, group: str, top: int | None = None
) -> list[tuple[date, str, dict[str, int]]]:
    """(day, group label, token sums by type incl. web search) for the usage charts; ``top``
    as in ``spend_by_day`` (groups ranked by all their tokens)."""
    return _usage_by_day(engine, f, group, top)[0]


def _usage_by_day(
    engine: Engine, f: Filters, group: str, top: int | None
) -> tuple[list[tuple[date, str, dict[str, int]]], str | None]:
    """``usage_by_day``'s rows, and the label of its "Other" group (None: nothing folded)."""
    names = [*TOKEN_TYPES, "web_search_requests"]
    one = _one_filter(f)
    if group == "actor" or f.actors:
        # The usage report has no actor: per-actor usage is the Usage and Cost Analytics API's
        # (``key_usage_line``), of the Console organizations that have it; an actor named as
        # the API names it (a person, a service account, a key), else by its id.
        where = where_detail(KeyUsage, f, cost=False)
        source = Source(KeyUsage, _actor_column(group), where, where)
    elif one is not None and (
        group == "token_type" or rollup_dim(group, UsageDaily, one[0])[0] == one[0]
    ):
        # Grouped by the filtered dimension itself, or by what every dimension sums to (the
        # organization, provider, token type): its rows with the chosen values.
        dim, where = one
        column = None if group == "token_type" else rollup_dim(group, UsageDaily, dim)[1]
        source = Source(
            UsageDaily, column, where, where, by_organization=bool(where_organizations(f))
        )
    elif uses_rollups(f) and not (group == "api_key" and _keys_from_the_copy(engine, f)):
        dim, column = rollup_dim(group, UsageDaily, "model")
        if group == "token_type":
            dim, column = "model", None  # every dimension sums to the whole
        source = Source(
            UsageDaily,
            column,
            [col(UsageDaily.dim) == dim, *where_rollup(UsageDaily, f)],
            [col(UsageDaily.dim) == "model", *where_rollup(UsageDaily, f)],
            key_totals=f if group == "api_key" else None,
            by_organization=bool(where_organizations(f)),
        )
    else:
        column = {
            "model": col(UsageBucket.model),
            MODEL_IDS: col(UsageBucket.model),
            "workspace": col(UsageBucket.workspace_id),
            "api_key": col(UsageBucket.api_key_id),
            "service_tier": col(UsageBucket.service_tier),
            "organization": col(Organization.organization_id),
            "provider": col(Organization.provider),
            "product": col(UsageBucket.product),
            "token_type": None,
        }[group]
        where = where_detail(UsageBucket, f, cost=False)
        source = Source(UsageBucket, column, where, where)
    tokens = len(TOKEN_TYPES)
    folded = sum_by_day(engine, source, names, group, top, rank=lambda v: sum(v[:tokens]))
    rows = [
        (d, g, {n: int(v) for n, v in zip(names, values, strict=True)})
        for (d, g), values in sorted(folded.sums.items())
    ]
    return rows, folded.other


# Unfiltered usage by API key over at most this many days reads the columnar copy's detail
# rows on SQLite (longer ranges: its running totals rank the keys faster).
KEYS_FROM_THE_COPY_DAYS = 62


def _actor_column(group: str) -> Any:
    """Per-key usage's column of ``group`` (None: token type, which every row sums to)."""
    if group == "product":
        raise ValueError(
            "Usage filtered by actor cannot be grouped by Product: per-actor usage is of "
            "Console organizations, which have no product. Group by something else, or clear "
            "the actor filter."
        )
    columns: dict[str, Any] = {
        "actor": func.coalesce(col(KeyUsage.actor_name), col(KeyUsage.actor_id)),
        "model": col(KeyUsage.model),
        MODEL_IDS: col(KeyUsage.model),
        "workspace": col(KeyUsage.workspace_id),
        "api_key": col(KeyUsage.api_key_id),
        "service_tier": col(KeyUsage.service_tier),
        "organization": col(Organization.organization_id),
        "provider": col(Organization.provider),
        "token_type": None,
    }
    return columns[group]


def has_key_usage(engine: Engine) -> bool:
    """Whether any organization has per-actor usage (Usage can then be grouped by actor)."""
    with read_session(engine) as session:
        return session.execute(select(col(KeyUsage.id)).limit(1)).first() is not None


def _keys_from_the_copy(engine: Engine, f: Filters) -> bool:
    """Whether unfiltered usage by API key sums the app's columnar copy (when current) rather
    than ranking thousands of keys' rollup rows. Large scale (10M rows), p50, rollup vs copy:
    Postgres 30 days 401 vs 158 ms, 6 months 1,027 vs 440 ms; SQLite 182 vs 120 ms and 258 vs
    323 ms."""
    if detail_engine(engine) is engine:
        return False
    short = (f.end - f.start).days <= KEYS_FROM_THE_COPY_DAYS
    return short or engine.dialect.name != "sqlite"


def _one_filter(f: Filters) -> tuple[str, list[Any]] | None:
    """The usage rollup's dimension and conditions of a view filtered by one dimension's
    values (``one_rollup_filter``)."""
    rollup = REGISTRY[Dataset.USAGE].rollup
    assert rollup is not None  # the usage dataset is rolled up daily
    return one_rollup_filter(UsageDaily, f, rollup.dims)


def usage_over_time(
    engine: Engine, f: Filters, group: str, grain: str, top: int | None = None
) -> Grouped:
    """Columns: period, <group label>, one column per token type, web_search_requests;
    ``top`` as in ``spend_over_time``."""
    label = "Group" if group == "token_type" else group_noun(group)
    names = [*TOKEN_TYPES, "web_search_requests"]
    by_day, other = _usage_by_day(engine, f, group, top)
    sums: dict[tuple[date, str], dict[str, int]] = {}
    for day, name, counts in by_day:
        acc = sums.setdefault((period_of(day, grain), name), dict.fromkeys(names, 0))
        for key in names:
            acc[key] += counts[key]
    rows = [{"period": p, label: g, **v} for (p, g), v in sorted(sums.items())]
    return Grouped(pd.DataFrame(rows, columns=["period", label, *names]), label, other)


def tokens_by_type(over_time: Grouped) -> pd.DataFrame:
    """Long form: period, token_type (readable), tokens; for the stacked token chart."""
    totals: dict[tuple[date, str], int] = defaultdict(int)
    for _, row in over_time.frame.iterrows():
        for key, readable in TOKEN_TYPES.items():
            totals[(row["period"], readable)] += int(row[key])
    rows = [{"period": p, "token_type": t, "tokens": n} for (p, t), n in sorted(totals.items())]
    return pd.DataFrame(rows, columns=["period", "token_type", "tokens"])


@dataclass(frozen=True)
class UsageSummary:
    """The Usage page's headline numbers for the filters."""

    tokens: int  # every token type
    output_tokens: int
    cache_read_share: float  # cache reads over every input token (0 when there are none)
    web_search_requests: int


def usage_summary(over_time: Grouped) -> UsageSummary:
    """Totals of the over-time table: the same numbers its CSVs hold."""
    frame = over_time.frame
    return summary_of({name: int(frame[name].sum()) for name in COUNTS})


COUNTS = [*TOKEN_TYPES, "web_search_requests"]


def summary_of(counts: Mapping[str, int]) -> UsageSummary:
    """The headline numbers of token counts by type (``COUNTS``)."""
    input_side = sum(counts[c] for c in TOKEN_TYPES if c != "output_tokens")
    return UsageSummary(
        tokens=sum(counts[c] for c in TOKEN_TYPES),
        output_tokens=counts["output_tokens"],
        cache_read_share=counts["cache_read_input_tokens"] / input_side if input_side else 0,
        web_search_requests=counts["web_search_requests"],
    )


def usage_counts(engine: Engine, f: Filters) -> dict[str, int] | None:
    """Every count (``COUNTS``) summed over the filters in one query (the model rollup where
    the filters allow it, the filtered dimension's when filtered by one); None when not one
    row is stored for them."""
    one = _one_filter(f)
    table: Any = UsageDaily if one is not None or uses_rollups(f) else UsageBucket
    if f.actors:
        table = KeyUsage
    sums = [func.sum(getattr(table, name)) for name in COUNTS]
    query = select(func.count(), *sums).join(
        Organization, col(Organization.id) == col(table.organization_pk)
    )
    if one is not None:
        query = query.where(*one[1])
    elif table is UsageDaily:
        query = query.where(col(UsageDaily.dim) == "model", *where_rollup(UsageDaily, f))
    elif table is KeyUsage:
        query = query.where(*where_detail(KeyUsage, f, cost=False))
    else:
        query = query.where(*where_detail(UsageBucket, f, cost=False))
        engine = detail_engine(engine)  # the app's columnar copy, when it is current
    with read_session(engine) as session:
        rows, *values = session.execute(query).one()
    if not rows:
        return None
    return {name: int(v or 0) for name, v in zip(COUNTS, values, strict=True)}


def tokens_by_group(over_time: Grouped) -> Grouped:
    """Columns: period, <group label>, tokens (every type), for the stacked chart by group."""
    frame = over_time.frame
    tokens = frame.assign(tokens=frame[list(TOKEN_TYPES)].sum(axis=1))
    return over_time.replace(tokens[["period", over_time.group, "tokens"]])


def usage_totals(over_time: Grouped) -> Grouped:
    """Per group: every count summed over the periods, tokens (every type) and the share of
    input that was read from the cache; most tokens first, "Other" last."""
    label, token_columns = over_time.group, list(TOKEN_TYPES)
    totals = (
        over_time.frame.groupby(label, as_index=False)[[*token_columns, "web_search_requests"]]
        .sum()
        .assign(tokens=lambda d: d[token_columns].sum(axis=1))
        .sort_values("tokens", ascending=False)
    )
    totals = over_time.other_last(totals)
    totals["cache_read_share"] = [
        (r["cache_read_input_tokens"] / (r["tokens"] - r["output_tokens"]))
        if r["tokens"] - r["output_tokens"]
        else 0.0
        for _, r in totals.iterrows()
    ]
    return over_time.replace(totals)


def total_tokens(totals: Grouped) -> Grouped:
    """Columns: <group label>, tokens; for the chart of totals by group."""
    return totals.replace(totals.frame[[totals.group, "tokens"]])


def usage_table(totals: Grouped) -> pd.DataFrame:
    """The totals by group with the columns named as the page's table shows them."""
    return pd.DataFrame(totals.frame).rename(columns=USAGE_COLUMNS)


def web_searches(over_time: Grouped) -> pd.DataFrame:
    """Columns: period, web_search_requests (over every group)."""
    return over_time.frame.groupby("period", as_index=False)["web_search_requests"].sum()
