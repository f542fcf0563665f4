"""Aggregations behind the dashboards: summed in SQL by day and group, never row by row.

Pages and exports share these functions, so a chart and its CSV always hold the same numbers.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, String, cast, func, literal, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.db import read_session
from app.models import (
    ApiKey,
    CostDaily,
    CostLine,
    DimensionValue,
    KeyTokensToDate,
    Organization,
    Provider,
    UsageBucket,
    UsageDaily,
    Workspace,
)
from app.reports.filters import values_in
from app.reports.labels import (
    CONSOLE_KEY,
    DEFAULT_WORKSPACE,
    NO_WORKSPACES,
    NONE_LABEL,
    NONE_LABELS,
    SPEND_GROUPS,
    TOKEN_TYPES,
    USAGE_GROUPS,
)

# A stacked chart reads well up to about a dozen series: the rest are summed as one.
TOP_GROUPS = 12
# Groups that can have thousands of values (500 API keys x dozens of organizations): their
# largest ones are found first, so only those are added up day by day.
MANY_VALUED = frozenset({"workspace", "api_key", "description"})


@dataclass(frozen=True)
class Filters:
    """What the person chose; empty tuples mean "all". ``end`` is exclusive."""

    start: date
    end: date
    organizations: tuple[str, ...] = ()
    workspaces: tuple[str, ...] = ()  # "" stands for the default (null) workspace
    models: tuple[str, ...] = ()
    service_tiers: tuple[str, ...] = ()
    cost_types: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # stored ids: Provider.CONSOLE, Provider.ENTERPRISE


def _where(model: Any, f: Filters, *, cost: bool) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool] | None] = [model.date >= f.start, model.date < f.end]
    clauses.append(values_in(col(Organization.organization_id), f.organizations))
    clauses.append(values_in(col(Organization.provider), f.providers))
    clauses.append(values_in(model.workspace_id, f.workspaces))
    clauses.append(values_in(model.model, f.models))
    clauses.append(values_in(model.service_tier, f.service_tiers))
    if cost:
        clauses.append(values_in(model.cost_type, f.cost_types))
    return [c for c in clauses if c is not None]


def uses_rollups(f: Filters) -> bool:
    """The daily rollups hold one dimension at a time: they answer every view that filters by
    nothing but dates, organizations and providers (the usual one); others read the detail."""
    return not (f.workspaces or f.models or f.service_tiers or f.cost_types)


def spend_by_day(
    engine: Engine, f: Filters, group: str, top: int | None = None
) -> list[tuple[date, str, Decimal]]:
    """(day, group label, cents) for every day and group with cost in the filters.

    With ``top``, only the ``top`` largest groups over the whole range keep their own rows;
    the others are summed day by day into one "Other (N …)" group, so totals stay exact."""
    if uses_rollups(f):
        # Organization and provider are the organization's own: any one dimension sums to them.
        dim, column = _rollup_dim(group, CostDaily, "cost_type")
        source = _Source(
            CostDaily,
            column,
            [col(CostDaily.dim) == dim, *_where_rollup(CostDaily, f)],
            [col(CostDaily.dim) == "cost_type", *_where_rollup(CostDaily, f)],
            by_organization=bool(_where_organizations(f)),
        )
    else:
        where = _where(CostLine, f, cost=True)
        source = _Source(CostLine, _spend_column(group), where, where)
    sums = _sum_by_day(engine, source, ["amount_cents"], group, top, rank=lambda v: v[0])
    return [(d, g, Decimal(v[0] or 0)) for (d, g), v in sorted(sums.items())]


@dataclass(frozen=True)
class _Source:
    """Where a chart's sums come from: a table, the grouped column (None: no grouping), the
    conditions, and the conditions of the same rows summed over every group (for "Other").
    ``key_totals``: the filters, when the API keys' running totals can rank the groups."""

    table: Any
    column: Any
    where: list[ColumnElement[bool]]
    whole: list[ColumnElement[bool]]
    key_totals: Filters | None = None
    by_organization: bool = True  # whether the conditions name the organization's columns

    @property
    def rollup(self) -> bool:
        return self.table in (CostDaily, UsageDaily)


def _sum_by_day(
    engine: Engine,
    source: _Source,
    measures: list[str],
    group: str,
    top: int | None,
    rank: Any,
) -> dict[tuple[date, str], list[Any]]:
    """Sums of ``measures`` by (day, group label). With ``top``, groups beyond the largest
    ``top`` (by ``rank`` of their sums) are folded into one "Other" group per day. For the
    groups with thousands of values the largest are found first and only those are read day
    by day; "Other" is then the day's total minus theirs."""
    table, column = source.table, source.column
    sums = [func.sum(getattr(table, m)) for m in measures]
    merged: dict[tuple[date, str], list[Any]] = {}
    with read_session(engine) as session:
        labels = _labeler(session, group)
        keep: set[tuple[int, Any]] | None = None
        folded = 0
        # Over the rollups (every organization's every value, day by day) the largest groups
        # are found first; a detail view is filtered down already and is folded in one pass.
        if top is not None and column is not None and group in MANY_VALUED and source.rollup:
            scores = _scores(session, source)
            labeled = {pair: labels(*pair) for pair in scores}
            by_label: dict[str, Any] = {}
            for pair, score in scores.items():
                by_label[labeled[pair]] = by_label.get(labeled[pair], 0) + score
            if len(by_label) > top:
                kept = set(heapq.nsmallest(top, by_label, key=lambda g: (-by_label[g], g)))
                folded = len(by_label) - top
                keep = {pair for pair, label in labeled.items() if label in kept}
        group_cols = [table.date, col(Organization.id)] + ([column] if column is not None else [])
        base = (
            select(*group_cols, *sums)
            .join(Organization, col(Organization.id) == table.organization_pk)
            .group_by(*group_cols)
        )
        if keep is None:
            queries = [base.where(*source.where)]
        else:
            # Named values and null apart: each then reads its days through the value index.
            named = sorted({v for _, v in keep if v is not None})
            queries = [base.where(*source.where, column.in_(named))] if named else []
            if any(v is None for _, v in keep):
                queries.append(base.where(*source.where, column.is_(None)))
        width = len(group_cols)
        for query in queries:
            for row in session.execute(query):
                day, org_pk = row[0], row[1]
                if column is None:
                    label = "All"
                elif keep is not None and (org_pk, row[2]) not in keep:
                    continue
                else:
                    label = labels(org_pk, row[2])
                _add(merged.setdefault((day, label), [0] * len(measures)), row[width:])
        if keep is not None:
            _add_other(session, source, sums, merged, other_label(folded, group))
    if top is not None and keep is None:
        merged = _fold_smallest(merged, top, group, rank)
    return merged


def _scores(session: Any, source: _Source) -> dict[tuple[int, Any], Any]:
    """(organization pk, value) -> what ranks it over the range (cents, or tokens of every
    type), for every value with rows in it."""
    f = source.key_totals
    # Postgres adds up the rollup rows in a hash table faster than it runs two lookups per
    # key; SQLite sorts them, so there the running totals are several times faster.
    if f is None or session.get_bind().dialect.name != "sqlite":
        # One sum of what ranks them, not every measure: a narrower row lets Postgres hash
        # the groups in memory instead of sorting them on disk.
        table = source.table
        ranked = (
            table.amount_cents
            if hasattr(table, "amount_cents")
            else sum((getattr(table, t) for t in TOKEN_TYPES), start=literal(0))
        )
        query = select(table.organization_pk, source.column, func.sum(ranked))
        if source.by_organization:
            query = query.join(Organization, col(Organization.id) == table.organization_pk)
        rows = session.execute(
            query.where(*source.where).group_by(table.organization_pk, source.column)
        )
        return {(pk, value): total or 0 for pk, value, total in rows}
    # API keys: the running total at the end minus the one before the start, per key.
    k = KeyTokensToDate

    def latest(column: Any, before: date) -> Any:
        return (
            select(column)
            .where(
                col(k.organization_pk) == col(DimensionValue.organization_pk),
                col(k.api_key) == col(DimensionValue.value),
                col(k.date) < before,
            )
            .order_by(col(k.date).desc())
            .limit(1)
            .scalar_subquery()
        )

    # The last row before the end gives its day and total in one lookup ("YYYY-MM-DD|tokens").
    day_and_total = cast(col(k.date), String) + "|" + cast(col(k.tokens), String)
    rows = (
        session.connection()
        .execute(
            select(
                col(DimensionValue.organization_pk),
                col(DimensionValue.value),
                latest(day_and_total, f.end),
                latest(col(k.tokens), f.start),
            )
            .join(Organization, col(Organization.id) == col(DimensionValue.organization_pk))
            .where(col(DimensionValue.kind) == "api_key", *_where_organizations(f))
        )
        .all()
    )
    start = f.start.isoformat()
    scores: dict[tuple[int, Any], Any] = {}
    for pk, value, at_end, before in rows:
        if at_end is None:
            continue
        last_day, total = at_end.split("|")
        if last_day >= start:  # else the key has no row in the range
            scores[(pk, value or None)] = int(total) - (before or 0)
    return scores


def _add_other(
    session: Any,
    source: _Source,
    sums: list[Any],
    merged: dict[tuple[date, str], list[Any]],
    other: str,
) -> None:
    """Add each day's "Other": the day's total over every group minus the groups shown."""
    table = source.table
    shown: dict[date, list[Any]] = {}
    for (day, _), values in merged.items():
        _add(shown.setdefault(day, [0] * len(sums)), values)
    day_totals = session.execute(
        select(table.date, *sums)
        .join(Organization, col(Organization.id) == table.organization_pk)
        .where(*source.whole)
        .group_by(table.date)
    )
    for day, *values in day_totals:
        kept = shown.get(day, [0] * len(sums))
        rest = [(v or 0) - s for v, s in zip(values, kept, strict=True)]
        if any(rest):
            merged[(day, other)] = rest


def _add(acc: list[Any], values: Any) -> None:
    for i, value in enumerate(values):
        acc[i] += value or 0


def _fold_smallest(
    merged: dict[tuple[date, str], list[Any]], top: int, group: str, rank: Any
) -> dict[tuple[date, str], list[Any]]:
    """Fold every group beyond the ``top`` largest into "Other", day by day."""
    by_label: dict[str, list[Any]] = {}
    for (_, label), values in merged.items():
        _add(by_label.setdefault(label, [0] * len(values)), values)
    if len(by_label) <= top:
        return merged
    kept = set(sorted(by_label, key=lambda g: (-rank(by_label[g]), g))[:top])
    other = other_label(len(by_label) - top, group)
    folded: dict[tuple[date, str], list[Any]] = {}
    for (day, label), values in merged.items():
        key = (day, label if label in kept else other)
        _add(folded.setdefault(key, [0] * len(values)), values)
    # As when "Other" is a day total minus the largest groups: no row where it adds nothing.
    return {k: v for k, v in folded.items() if k[1] != other or any(v)}


def other_label(count: int, group: str) -> str:
    noun = (SPEND_GROUPS | USAGE_GROUPS)[group]
    noun = noun if noun.startswith("API") else noun.lower()
    return f"Other ({count:,} {noun}{'' if count == 1 else 's'})"


def is_other(label: str) -> bool:
    """Whether a chart label is the "Other (N …)" group that ``top`` folds the rest into."""
    return label.startswith("Other (") and label.endswith(")")


def _rollup_dim(group: str, table: Any, whole: str) -> tuple[str, Any]:
    if group == "organization":
        return whole, col(Organization.organization_id)
    if group == "provider":
        return whole, col(Organization.provider)
    return group, table.value


def _where_rollup(table: Any, f: Filters) -> list[ColumnElement[bool]]:
    return [table.date >= f.start, table.date < f.end, *_where_organizations(f)]


def _where_organizations(f: Filters) -> list[ColumnElement[bool]]:
    clauses = [
        values_in(col(Organization.organization_id), f.organizations),
        values_in(col(Organization.provider), f.providers),
    ]
    return [c for c in clauses if c is not None]


def _spend_column(group: str) -> Any:
    return {
        "model": col(CostLine.model),
        "workspace": col(CostLine.workspace_id),
        "service_tier": col(CostLine.service_tier),
        "token_type": col(CostLine.token_type),
        "cost_type": col(CostLine.cost_type),
        "organization": col(Organization.organization_id),
        "provider": col(Organization.provider),
        "product": col(CostLine.product),
        "description": col(CostLine.description),
    }[group]


def usage_by_day(
    engine: Engine, f: Filters, group: str, top: int | None = None
) -> list[tuple[date, str, dict[str, int]]]:
    """(day, group label, token sums by type incl. web search) for the usage charts; ``top``
    as in ``spend_by_day`` (groups ranked by all their tokens)."""
    names = [*TOKEN_TYPES, "web_search_requests"]
    if uses_rollups(f):
        dim, column = _rollup_dim(group, UsageDaily, "model")
        if group == "token_type":
            dim, column = "model", None  # every dimension sums to the whole
        source = _Source(
            UsageDaily,
            column,
            [col(UsageDaily.dim) == dim, *_where_rollup(UsageDaily, f)],
            [col(UsageDaily.dim) == "model", *_where_rollup(UsageDaily, f)],
            key_totals=f if group == "api_key" else None,
            by_organization=bool(_where_organizations(f)),
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
        where = _where(UsageBucket, f, cost=False)
        source = _Source(UsageBucket, column, where, where)
    tokens = len(TOKEN_TYPES)
    sums = _sum_by_day(engine, source, names, group, top, rank=lambda v: sum(v[:tokens]))
    return [
        (d, g, {n: int(v) for n, v in zip(names, values, strict=True)})
        for (d, g), values in sorted(sums.items())
    ]


def _labeler(session: Any, group: str) -> Any:
    """A function (org_pk, raw value) -> what a person reads for that group."""
    if group in ("workspace", "api_key"):
        table: Any = Workspace if group == "workspace" else ApiKey
        id_column = table.workspace_id if group == "workspace" else table.api_key_id
        null_name = DEFAULT_WORKSPACE if group == "workspace" else CONSOLE_KEY
        names: dict[tuple[int, str], str] = {
            (pk, item): name
            for pk, item, name in session.execute(
                select(table.organization_pk, id_column, table.name)
            )
        }
        enterprise = set(
            session.execute(
                select(col(Organization.id)).where(
                    col(Organization.provider) == Provider.ENTERPRISE
                )
            ).scalars()
        )

        # Unknown ids (not in the directory) show as themselves rather than vanish.
        def label(org_pk: int, value: str | None) -> str:
            if value is None:
                return NO_WORKSPACES if org_pk in enterprise else null_name
            return names.get((org_pk, value), value)

        return label
    if group == "provider":
        return lambda _pk, value: Provider.label(value)
    if group == "organization":
        by_id = {
            org_id: label or name
            for org_id, label, name in session.execute(
                select(
                    col(Organization.organization_id),
                    col(Organization.label),
                    col(Organization.name),
                )
            )
        }
        return lambda _pk, value: by_id.get(value, value)
    none = NONE_LABELS.get(group, NONE_LABEL)
    return lambda _pk, value: none if value is None else str(value)


def filter_options(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """(value, label) choices for the filter widgets, from the values the sync recorded
    (``dimension_value``: a few hundred rows, not a scan of the data tables)."""
    with read_session(engine) as session:
        orgs = [
            (org_id, label or name)
            for org_id, label, name in session.execute(
                select(
                    col(Organization.organization_id),
                    col(Organization.label),
                    col(Organization.name),
                ).order_by(col(Organization.name))
            )
        ]
        providers = sorted(
            (p, Provider.label(p))
            for p in session.execute(select(col(Organization.provider)).distinct()).scalars()
        )
        values: dict[str, set[tuple[int, str]]] = {}
        for pk, kind, value in session.execute(
            select(
                col(DimensionValue.organization_pk),
                col(DimensionValue.kind),
                col(DimensionValue.value),
            ).where(
                col(DimensionValue.kind) != "api_key"
            )  # keys are listed for ranking, not filters
        ):
            values.setdefault(kind, set()).add((pk, value))
        ws_names: dict[tuple[int, str], str] = {
            (pk, ws): name
            for pk, ws, name in session.execute(
                select(
                    col(Workspace.organization_pk), col(Workspace.workspace_id), col(Workspace.name)
                )
            )
        }
        enterprise = set(
            session.execute(
                select(col(Organization.id)).where(
                    col(Organization.provider) == Provider.ENTERPRISE
                )
            ).scalars()
        )

    def workspace_label(pk: int, ws: str) -> str:
        if ws:
            return ws_names.get((pk, ws), ws)
        return NO_WORKSPACES if pk in enterprise else DEFAULT_WORKSPACE

    workspaces = sorted(
        {(ws, workspace_label(pk, ws)) for pk, ws in values.get("workspace", ())},
        key=lambda t: t[1].lower(),
    )

    def named(kind: str) -> list[tuple[str, str]]:
        return sorted({(v, v) for _, v in values.get(kind, ()) if v})

    return {
        "providers": providers,
        "organizations": orgs,
        "workspaces": workspaces,
        "models": named("model"),
        "service_tiers": named("service_tier"),
        "cost_types": named("cost_type"),
    }


def total_cents(engine: Engine, f: Filters) -> Decimal:
    if uses_rollups(f):
        query = (
            select(func.sum(col(CostDaily.amount_cents)))
            .join(Organization, col(Organization.id) == col(CostDaily.organization_pk))
            .where(col(CostDaily.dim) == "cost_type", *_where_rollup(CostDaily, f))
        )
    else:
        query = (
            select(func.sum(col(CostLine.amount_cents)))
            .join(Organization, col(Organization.id) == col(CostLine.organization_pk))
            .where(*_where(CostLine, f, cost=True))
        )
    with read_session(engine) as session:
        value = session.execute(query).scalar_one()
    return Decimal(value or 0)
