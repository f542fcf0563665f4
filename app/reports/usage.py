"""Usage: tokens by type and web search requests by day and group, and the chart-ready tables
of the Usage page by day, week or month.

A chart and its CSV download are built from the same table, so they always agree.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import pandas as pd
from sqlalchemy import Engine
from sqlmodel import col

from app.models import Organization, UsageBucket, UsageDaily
from app.reports.filters import (
    Filters,
    uses_rollups,
    where_detail,
    where_organizations,
    where_rollup,
)
from app.reports.labels import TOKEN_TYPES, USAGE_GROUPS
from app.reports.periods import period_of
from app.reports.top import Source, rollup_dim, sum_by_day


def usage_by_day(
    engine: Engine, f: Filters, group: str, top: int | None = None
) -> list[tuple[date, str, dict[str, int]]]:
    """(day, group label, token sums by type incl. web search) for the usage charts; ``top``
    as in ``spend_by_day`` (groups ranked by all their tokens)."""
    names = [*TOKEN_TYPES, "web_search_requests"]
    if uses_rollups(f):
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
    sums = sum_by_day(engine, source, names, group, top, rank=lambda v: sum(v[:tokens]))
    return [
        (d, g, {n: int(v) for n, v in zip(names, values, strict=True)})
        for (d, g), values in sorted(sums.items())
    ]


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
