"""What a person chose on a page, and the SQL conditions it becomes; shared by every report."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import and_, exists, func, or_, select, true
from sqlalchemy.orm import aliased
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.models import Organization


@dataclass(frozen=True)
class Filters:
    """The Spend, Usage and Overview choices; empty tuples mean "all". ``end`` is exclusive."""

    start: date
    end: date
    organizations: tuple[str, ...] = ()
    workspaces: tuple[str, ...] = ()  # "" stands for the default (null) workspace
    # Organization ids whose own default (null) workspace is chosen, not every organization's
    # as "" in ``workspaces``: "Default workspace · Acme Corp".
    default_workspaces: tuple[str, ...] = ()
    models: tuple[str, ...] = ()
    service_tiers: tuple[str, ...] = ()
    cost_types: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()  # stored ids: Provider.CONSOLE, Provider.ENTERPRISE
    # Demo organizations count only while no real one is connected, unless asked for (or
    # chosen by name in ``organizations``): see ``demo_left_out``.
    include_demo: bool = False
    # Spend allocated to these values of one allocation ("Team": Search, Support); empty
    # ``allocation_values``: every value. Only spend is allocated: the Spend page's filter.
    allocation: str | None = None
    allocation_values: tuple[str, ...] = ()
    # API key ids ("" stands for keyless Console / Workbench use). The cost report has no key:
    # spend of chosen keys is per-key cost (billed, or its estimate: ``app.store.key_estimate``).
    api_keys: tuple[str, ...] = ()
    # Actors by the name the charts show (else their id; "" stands for no actor): spend and
    # usage of chosen actors are per-key cost and per-key usage, as of keys.
    actors: tuple[str, ...] = ()

    @property
    def allocated(self) -> bool:
        """Whether the view is of spend allocated to chosen values of an allocation."""
        return self.allocation is not None and bool(self.allocation_values)

    @property
    def keyed(self) -> bool:
        """Whether the view is of chosen API keys or actors (spend: their per-key cost)."""
        return bool(self.api_keys or self.actors)


@dataclass(frozen=True)
class CodeFilters:
    """The Claude Code page's choices; empty tuples mean "all". ``end`` is exclusive."""

    start: date
    end: date
    organizations: tuple[str, ...] = ()  # Anthropic's organization ids
    actors: tuple[str, ...] = ()  # e-mail addresses or API key names; "" = no actor


@dataclass(frozen=True)
class EnterpriseFilters:
    """The Claude Enterprise page's choices; an empty tuple means every Enterprise
    organization. ``end`` is exclusive."""

    start: date
    end: date
    organizations: tuple[str, ...] = ()


def values_in(column: Any, values: Sequence[str]) -> ColumnElement[bool] | None:
    """``column`` is one of ``values``; "" stands for null (the default workspace, the
    Console's key). None when nothing is chosen: every value passes."""
    if not values:
        return None
    named = [v for v in values if v != ""]
    clauses = [column.in_(named)] if named else []
    if len(named) != len(values):
        clauses.append(column.is_(None))
    return or_(*clauses)


def where_provider(
    table: Any, start: date, end: date, provider: str, organizations: Sequence[str]
) -> list[ColumnElement[bool]]:
    """The rows of a page about one provider's organizations (Claude Code: the Console's;
    Claude Enterprise): ``[start, end)``, that provider, and the chosen organizations."""
    clauses: list[ColumnElement[bool] | None] = [
        table.date >= start,
        table.date < end,
        # The data exists only for that provider's organizations; say so in the query too.
        col(Organization.provider) == provider,
        values_in(col(Organization.organization_id), organizations),
    ]
    return [c for c in clauses if c is not None]


# The demo organizations' pks while a real one is connected; built once (a new pair of aliases
# per call cost ~1.3 ms of statement building and caching, 2-3 calls a view: bench, issue 15).
_DEMO, _REAL = aliased(Organization), aliased(Organization)
_DEMO_PKS = select(col(_DEMO.id)).where(
    col(_DEMO.is_demo) == true(),
    exists().where(col(_REAL.is_demo) != true()),
)


def demo_left_out(f: Filters, organization_pk: Any) -> ColumnElement[bool] | None:
    """``organization_pk`` is not a demo organization's, once a real (non-demo) one is
    connected: demo data stays out of real totals. None (every organization passes) when
    ``f.include_demo`` or when organizations are chosen by name (a chosen demo organization
    is shown). Decided in the query, so every report and its rollups agree; the
    organization table has a handful of rows, so the subquery costs nothing."""
    if f.include_demo or f.organizations:
        return None
    left_out: ColumnElement[bool] = organization_pk.not_in(_DEMO_PKS)
    return left_out


def where_detail(model: Any, f: Filters, *, cost: bool) -> list[ColumnElement[bool]]:
    """The filters over a detail table (``cost_line``, ``usage_bucket``) joined to its
    organization."""
    clauses: list[ColumnElement[bool] | None] = [model.date >= f.start, model.date < f.end]
    clauses.append(demo_left_out(f, model.organization_pk))
    clauses.append(values_in(col(Organization.organization_id), f.organizations))
    clauses.append(values_in(col(Organization.provider), f.providers))
    clauses.append(_chosen_workspaces(model, f))
    clauses.append(values_in(model.model, f.models))
    clauses.append(values_in(model.service_tier, f.service_tiers))
    if cost:
        clauses.append(values_in(model.cost_type, f.cost_types))
    if f.api_keys:
        key = getattr(model, "api_key_id", None)
        if key is None:  # the cost report: spend of chosen keys is per-key cost
            raise ValueError(f"{model} has no API key to filter by")
        clauses.append(values_in(key, f.api_keys))
    if f.actors:
        if not hasattr(model, "actor_name"):  # the usage and cost reports have no actor
            raise ValueError(f"{model} has no actor to filter by")
        clauses.append(values_in(func.coalesce(model.actor_name, model.actor_id), f.actors))
    return [c for c in clauses if c is not None]


def _chosen_workspaces(model: Any, f: Filters) -> ColumnElement[bool] | None:
    """The chosen workspaces: by id, every organization's default (""), and the default
    workspace of each organization in ``f.default_workspaces``. None: every workspace."""
    by_id = values_in(model.workspace_id, f.workspaces)
    if not f.default_workspaces:
        return by_id
    own_default = and_(
        model.workspace_id.is_(None),
        col(Organization.organization_id).in_(f.default_workspaces),
    )
    return own_default if by_id is None else or_(by_id, own_default)


def uses_rollups(f: Filters) -> bool:
    """The daily rollups hold one dimension at a time: they answer every view that filters by
    nothing but dates, organizations and providers (the usual one); others read the detail."""
    chosen = (f.workspaces, f.default_workspaces, f.models, f.service_tiers, f.cost_types)
    return not any(chosen) and not f.keyed


# The filters a rollup dimension can answer alone: Filters attribute -> rollup ``dim``.
ROLLUP_FILTERS = {
    "workspaces": "workspace",
    "models": "model",
    "service_tiers": "service_tier",
    "cost_types": "cost_type",
}


def one_rollup_filter(
    table: Any, f: Filters, dims: Collection[str]
) -> tuple[str, list[ColumnElement[bool]]] | None:
    """The rollup dimension and conditions (``table``: a daily rollup with ``dims``) of a view
    that chooses values of one dimension only: its rows of that dimension with one of the
    chosen values are exactly the detail rows the filters pass, summed by day. None when the
    filters choose none or several, an organization's own default workspace, API keys, or ""
    (null): a Console organization's null model or tier is named by its cost type, which the
    cost type rollup tells only for every row of a day, not for the chosen ones."""
    chosen = [(attr, getattr(f, attr)) for attr in ROLLUP_FILTERS if getattr(f, attr)]
    if len(chosen) != 1 or f.default_workspaces or f.keyed:
        return None
    attr, values = chosen[0]
    dim = ROLLUP_FILTERS[attr]
    if dim not in dims or "" in values:
        return None
    return dim, [table.dim == dim, table.value.in_(values), *where_rollup(table, f)]


def where_rollup(table: Any, f: Filters) -> list[ColumnElement[bool]]:
    """The filters over a daily rollup (``cost_daily``, ``usage_daily``). The demo condition
    is on the rollup's own organization column, so it needs no join to the organization."""
    clauses = [table.date >= f.start, table.date < f.end]
    demo = demo_left_out(f, table.organization_pk)
    if demo is not None:
        clauses.append(demo)
    return clauses + _chosen_organizations(f)


def where_organizations(f: Filters) -> list[ColumnElement[bool]]:
    """The conditions on the organization (joined as ``Organization``): the chosen ones and
    providers, and demo organizations left out (``demo_left_out``)."""
    demo = demo_left_out(f, col(Organization.id))
    return ([demo] if demo is not None else []) + _chosen_organizations(f)


def _chosen_organizations(f: Filters) -> list[ColumnElement[bool]]:
    clauses = [
        values_in(col(Organization.organization_id), f.organizations),
        values_in(col(Organization.provider), f.providers),
    ]
    return [c for c in clauses if c is not None]
