"""Aggregations behind the dashboards: summed in SQL by day and group, never row by row.

Pages and exports share these functions, so a chart and its CSV always hold the same numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.db import read_session
from app.models import (
    ApiKey,
    CostDaily,
    CostLine,
    DimensionValue,
    Organization,
    Provider,
    UsageBucket,
    UsageDaily,
    Workspace,
)
from app.services.export import CONSOLE_KEY, DEFAULT_WORKSPACE

NONE_LABEL = "(none)"
# Web search and code execution costs have no model, token type or tier: say so.
NON_TOKEN = "Web search & code execution"
# Console organizations report no product: their spend is the Claude API itself.
CONSOLE_PRODUCT = "Claude API (Console)"
NONE_LABELS = {
    "model": NON_TOKEN,
    "token_type": NON_TOKEN,
    "service_tier": NON_TOKEN,
    "product": CONSOLE_PRODUCT,
}
NO_WORKSPACES = "Claude Enterprise (no workspaces)"

SPEND_GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "service_tier": "Service tier",
    "token_type": "Token type",
    "cost_type": "Cost type",
    "organization": "Organization",
    "provider": "Provider",
    "product": "Product",
    "description": "Description",
}
USAGE_GROUPS = {
    "model": "Model",
    "workspace": "Workspace",
    "api_key": "API key",
    "service_tier": "Service tier",
    "organization": "Organization",
    "provider": "Provider",
    "product": "Product",
}
TOKEN_TYPES = {
    "uncached_input_tokens": "Uncached input",
    "cache_creation_5m_input_tokens": "Cache write (5m)",
    "cache_creation_1h_input_tokens": "Cache write (1h)",
    "cache_read_input_tokens": "Cache read",
    "output_tokens": "Output",
}


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


def _in(column: Any, values: Sequence[str]) -> ColumnElement[bool] | None:
    if not values:
        return None
    named = [v for v in values if v != ""]
    clauses = []
    if named:
        clauses.append(column.in_(named))
    if len(named) != len(values):
        clauses.append(column.is_(None))
    return or_(*clauses)


def _where(model: Any, f: Filters, *, cost: bool) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool] | None] = [model.date >= f.start, model.date < f.end]
    clauses.append(_in(Organization.organization_id, f.organizations))
    clauses.append(_in(Organization.provider, f.providers))
    clauses.append(_in(model.workspace_id, f.workspaces))
    clauses.append(_in(model.model, f.models))
    clauses.append(_in(model.service_tier, f.service_tiers))
    if cost:
        clauses.append(_in(model.cost_type, f.cost_types))
    return [c for c in clauses if c is not None]


def uses_rollups(f: Filters) -> bool:
    """The daily rollups hold one dimension at a time: they answer every view that filters by
    nothing but dates, organizations and providers (the usual one); others read the detail."""
    return not (f.workspaces or f.models or f.service_tiers or f.cost_types)


def spend_by_day(engine: Engine, f: Filters, group: str) -> list[tuple[date, str, Decimal]]:
    """(day, group label, cents) for every day and group with cost in the filters."""
    if uses_rollups(f):
        return _spend_rollup(engine, f, group)
    return _spend_detail(engine, f, group)


def _spend_detail(engine: Engine, f: Filters, group: str) -> list[tuple[date, str, Decimal]]:
    column = _spend_column(group)
    query = (
        select(CostLine.date, column, Organization.id, func.sum(CostLine.amount_cents))
        .join(Organization, Organization.id == CostLine.organization_pk)
        .where(*_where(CostLine, f, cost=True))
        .group_by(CostLine.date, column, Organization.id)
    )
    return _merge_spend(engine, query, group)


def _spend_rollup(engine: Engine, f: Filters, group: str) -> list[tuple[date, str, Decimal]]:
    # Organization and provider are the organization's own: any one dimension sums to them.
    dim, column = _rollup_dim(group, CostDaily, "cost_type")
    query = (
        select(CostDaily.date, column, Organization.id, func.sum(CostDaily.amount_cents))
        .join(Organization, Organization.id == CostDaily.organization_pk)
        .where(CostDaily.dim == dim, *_where_rollup(CostDaily, f))
        .group_by(CostDaily.date, column, Organization.id)
    )
    return _merge_spend(engine, query, group)


def _rollup_dim(group: str, table: Any, whole: str) -> tuple[str, Any]:
    if group == "organization":
        return whole, Organization.organization_id
    if group == "provider":
        return whole, Organization.provider
    return group, table.value


def _where_rollup(table: Any, f: Filters) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool] | None] = [table.date >= f.start, table.date < f.end]
    clauses.append(_in(Organization.organization_id, f.organizations))
    clauses.append(_in(Organization.provider, f.providers))
    return [c for c in clauses if c is not None]


def _merge_spend(engine: Engine, query: Any, group: str) -> list[tuple[date, str, Decimal]]:
    with read_session(engine) as session:
        rows = session.execute(query).all()
        labels = _labeler(session, group)
    merged: dict[tuple[date, str], Decimal] = {}
    for day, value, org_pk, cents in rows:
        key = (day, labels(org_pk, value))
        merged[key] = merged.get(key, Decimal(0)) + Decimal(cents or 0)
    return [(d, g, c) for (d, g), c in sorted(merged.items())]


def _spend_column(group: str) -> Any:
    return {
        "model": CostLine.model,
        "workspace": CostLine.workspace_id,
        "service_tier": CostLine.service_tier,
        "token_type": CostLine.token_type,
        "cost_type": CostLine.cost_type,
        "organization": Organization.organization_id,
        "provider": Organization.provider,
        "product": CostLine.product,
        "description": CostLine.description,
    }[group]


def usage_by_day(engine: Engine, f: Filters, group: str) -> list[tuple[date, str, dict[str, int]]]:
    """(day, group label, token sums by type incl. web search) for the usage charts."""
    names = [*TOKEN_TYPES, "web_search_requests"]
    if uses_rollups(f):
        table: Any = UsageDaily
        dim, column = _rollup_dim(group, UsageDaily, "model")
        if group == "token_type":
            dim, column = "model", None  # every dimension sums to the whole
        where = [UsageDaily.dim == dim, *_where_rollup(UsageDaily, f)]
    else:
        table = UsageBucket
        column = {
            "model": UsageBucket.model,
            "workspace": UsageBucket.workspace_id,
            "api_key": UsageBucket.api_key_id,
            "service_tier": UsageBucket.service_tier,
            "organization": Organization.organization_id,
            "provider": Organization.provider,
            "product": UsageBucket.product,
            "token_type": None,
        }[group]
        where = _where(UsageBucket, f, cost=False)
    sums = [func.sum(getattr(table, n)) for n in names]
    group_cols = [table.date, Organization.id] + ([column] if column is not None else [])
    query = (
        select(*group_cols, *sums)
        .join(Organization, Organization.id == table.organization_pk)
        .where(*where)
        .group_by(*group_cols)
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
        labels = _labeler(session, group)
    merged: dict[tuple[date, str], dict[str, int]] = {}
    width = len(group_cols)
    for row in rows:
        day, org_pk = row[0], row[1]
        label = labels(org_pk, row[2]) if column is not None else "All"
        acc = merged.setdefault((day, label), dict.fromkeys(names, 0))
        for name, value in zip(names, row[width:], strict=True):
            acc[name] += int(value or 0)
    return [(d, g, v) for (d, g), v in sorted(merged.items())]


def _labeler(session: Any, group: str) -> Any:
    """A function (org_pk, raw value) -> what a person reads for that group."""
    if group in ("workspace", "api_key"):
        table: Any = Workspace if group == "workspace" else ApiKey
        id_column = table.workspace_id if group == "workspace" else table.api_key_id
        null_name = DEFAULT_WORKSPACE if group == "workspace" else CONSOLE_KEY
        names = {
            (pk, item): name
            for pk, item, name in session.execute(
                select(table.organization_pk, id_column, table.name)
            )
        }
        enterprise = set(
            session.execute(
                select(Organization.id).where(Organization.provider == Provider.ENTERPRISE)
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
                select(Organization.organization_id, Organization.label, Organization.name)
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
                    Organization.organization_id, Organization.label, Organization.name
                ).order_by(Organization.name)
            )
        ]
        providers = sorted(
            (p, Provider.label(p))
            for p in session.execute(select(Organization.provider).distinct()).scalars()
        )
        values: dict[str, set[tuple[int, str]]] = {}
        for pk, kind, value in session.execute(
            select(DimensionValue.organization_pk, DimensionValue.kind, DimensionValue.value)
        ):
            values.setdefault(kind, set()).add((pk, value))
        ws_names = {
            (pk, ws): name
            for pk, ws, name in session.execute(
                select(Workspace.organization_pk, Workspace.workspace_id, Workspace.name)
            )
        }
        enterprise = set(
            session.execute(
                select(Organization.id).where(Organization.provider == Provider.ENTERPRISE)
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


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def total_cents(engine: Engine, f: Filters) -> Decimal:
    if uses_rollups(f):
        query = (
            select(func.sum(CostDaily.amount_cents))
            .join(Organization, Organization.id == CostDaily.organization_pk)
            .where(CostDaily.dim == "cost_type", *_where_rollup(CostDaily, f))
        )
    else:
        query = (
            select(func.sum(CostLine.amount_cents))
            .join(Organization, Organization.id == CostLine.organization_pk)
            .where(*_where(CostLine, f, cost=True))
        )
    with read_session(engine) as session:
        value = session.execute(query).scalar_one()
    return Decimal(value or 0)
