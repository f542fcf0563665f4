"""Cost per API key beside its tokens (the Usage page grouped by API key; issue 16 point 2).

A key's cost is its per-key billed cost (the Usage and Cost Analytics API), or, where the
organization's key may not read that, the estimate in its place (``app.store.key_estimate``),
and the table says which. Both are read as one sum per (organization, key) over the range, so
the keys' labels come from one ``Namer`` call and a key's tokens and cost sit on one row.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db import read_session
from app.models import KeyUsage, Organization, UsageBucket, UsageDaily
from app.reports.filters import Filters, uses_rollups, where_detail, where_rollup
from app.reports.labels import TOKEN_TYPES
from app.reports.names import namer
from app.reports.periods import usd
from app.store.key_estimate import estimated_organizations, with_estimates

BILLED = "Billed (per key)"
ESTIMATE = "Estimate"
NO_COST = "No per-key cost"
COLUMNS = ["API key", "tokens", "cost_usd", "usd_per_million_tokens", "cost_source"]


def key_costs(engine: Engine, f: Filters) -> pd.DataFrame:
    """One row per API key with tokens or cost in the filters (keyless Console use is a
    row too), largest cost first: its tokens, its cost in USD (empty where its organization
    has neither per-key cost nor an estimate), USD per million tokens, and the cost's source."""
    with read_session(engine) as session:
        tokens = _tokens(session, f)
        keyed = with_estimates(session)
        estimated = estimated_organizations(session)
        where = where_detail(keyed, f, cost=True)
        costs = {
            (pk, key): Decimal(cents or 0)
            for pk, key, cents in session.execute(
                select(keyed.organization_pk, keyed.api_key_id, func.sum(keyed.amount_cents))
                .join(Organization, col(Organization.id) == keyed.organization_pk)
                .where(*where)
                .group_by(keyed.organization_pk, keyed.api_key_id)
            )
        }
        with_cost = {pk for pk, _ in costs}
        names = namer(session, "api_key")
    keys = set(tokens) | set(costs)
    labels = names.labels([(pk, key, None) for pk, key in keys])
    rows: list[dict[str, Any]] = []
    for pk, key in keys:
        cents = costs.get((pk, key))
        if cents is None and pk in with_cost:
            cents = Decimal(0)  # the organization has per-key cost; none for this key
        count = tokens.get((pk, key), 0)
        source = NO_COST if cents is None else ESTIMATE if pk in estimated else BILLED
        cost = None if cents is None else float(usd(cents))
        rows.append(
            {
                "API key": labels[(pk, key, None)],
                "tokens": count,
                "cost_usd": cost,
                "usd_per_million_tokens": (
                    None if cost is None or not count else cost * 1_000_000 / count
                ),
                "cost_source": source,
            }
        )
    rows.sort(key=lambda r: (-(r["cost_usd"] or 0), -r["tokens"], r["API key"]))
    return pd.DataFrame(rows, columns=COLUMNS)


def _tokens(session: Any, f: Filters) -> dict[tuple[int, str | None], int]:
    """Tokens of every type per (organization, key) in the filters: the API key rollup where
    the filters allow, else the detail rows (of per-key usage, filtered by actor)."""
    if f.actors:  # the usage report has no actor: per-actor usage's rows
        table: Any = KeyUsage
        where = where_detail(KeyUsage, f, cost=False)
        key = col(KeyUsage.api_key_id)
    elif uses_rollups(f):
        table = UsageDaily
        where = [col(UsageDaily.dim) == "api_key", *where_rollup(UsageDaily, f)]
        key = col(UsageDaily.value)
    else:
        table = UsageBucket
        where = where_detail(UsageBucket, f, cost=False)
        key = col(UsageBucket.api_key_id)
    first, *rest = (getattr(table, t) for t in TOKEN_TYPES)
    total = func.sum(sum(rest, start=first))
    query = (
        select(table.organization_pk, key, total)
        .join(Organization, col(Organization.id) == table.organization_pk)
        .where(*where)
        .group_by(table.organization_pk, key)
    )
    return {(pk, k): int(n or 0) for pk, k, n in session.execute(query)}
