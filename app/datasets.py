"""The datasets the sync keeps: one registry of what each is made of.

Per dataset: its name (``Dataset``, the value ``sync_state.dataset`` stores), the providers
that have it, its detail table, its daily rollup (table, dimensions, measures) if any, the
values its filters offer, whether backfill progress counts it ("core"), and how
`finops export` writes it. The write path, the sync, deletion, the planner's statistics and the
export read it from here; a new dataset is one entry. Schema migrations never read it: a
migration step keeps the literal names of its time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache
from typing import Any

from sqlalchemy import Table

from app.finops.allocation_tables import AllocationDaily, AllocationLine, AllocationMark
from app.finops.anomaly_tables import Anomaly
from app.models import (
    USAGE_MEASURES,
    ApiKey,
    ClaudeCodeDay,
    CostDaily,
    CostLine,
    DataChange,
    DataVersion,
    DimensionValue,
    EngagementDay,
    KeyCost,
    KeyCostEstimate,
    KeyEstimateMark,
    KeyTokensToDate,
    KeyUsage,
    Provider,
    Restatement,
    SyncRun,
    SyncState,
    UsageBucket,
    UsageDaily,
    UserCost,
    UserUsage,
    Workspace,
)


class Dataset(StrEnum):
    """The datasets, in the order a sync fetches them (the core ones first)."""

    USAGE = "usage"
    COST = "cost"
    CLAUDE_CODE = "claude_code"
    KEY_COST = "key_cost"
    KEY_USAGE = "key_usage"
    USER_COST = "user_cost"
    USER_USAGE = "user_usage"
    ENGAGEMENT = "engagement"


@dataclass(frozen=True)
class Rollup:
    """A daily rollup by one dimension at a time, kept with the detail rows it sums."""

    table: Any  # a SQLModel table class (its columns are read as attributes)
    # Each rollup dimension (``dim``) and the detail column its ``value`` comes from.
    dims: Mapping[str, str]
    measures: tuple[str, ...]
    # Compound dimensions: each ``dim`` and the detail columns its ``value`` encodes together
    # (``encode_value``), for a read that needs them crossed (unit economics: model x tier).
    # Apart from ``dims``, so what sums one column at a time never meets them.
    compound: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


# The compound dimension behind unit economics (``app.reports.economics``), in both rollups.
ECONOMICS = "economics"
ECONOMICS_COST_COLUMNS = ("cost_type", "model", "service_tier")
ECONOMICS_USAGE_COLUMNS = ("model", "service_tier", "context_window", "inference_geo")


_COMPACT = json.JSONEncoder(separators=(",", ":"))


@lru_cache(maxsize=4096)  # the same few tuples recur on every page and day
def encode_value(values: tuple[str | None, ...]) -> str:
    """A compound dimension's ``value``: its columns' values as a compact JSON array (null as
    null, any text escaped), so no two tuples share a value. The one encoding: the write path,
    the schema upgrade and the reports all use this and ``decode_value``."""
    return _COMPACT.encode(values)


def decode_value(value: str) -> tuple[str | None, ...]:
    """The column values ``encode_value`` encoded."""
    return tuple(json.loads(value))


# The columns every export of the per-actor and per-day datasets starts with.
EXPORT_ORG_COLUMNS = ("date", "organization_id", "organization_name", "provider")
# An actor as the filters and charts know it: its name as the API sends it, else its id.
ACTOR_COLUMN = "actor_name|actor_id"


@dataclass(frozen=True)
class Export:
    """How `finops export --dataset NAME` writes a dataset: its CSV header, in the contract's
    order. ``copied`` is (CSV column, table column) of the datasets written column by column
    after ``EXPORT_ORG_COLUMNS`` (money columns end in _cents there, _usd in the CSV); cost and
    usage have writers of their own (names of workspaces and keys, labels) and none."""

    name: str  # the `--dataset` name (so far every dataset's own)
    header: tuple[str, ...]
    copied: tuple[tuple[str, str], ...] = ()


def _copied(name: str, *pairs: tuple[str, str]) -> Export:
    return Export(name, (*EXPORT_ORG_COLUMNS, *(csv for csv, _ in pairs)), pairs)


def _same(*columns: str) -> tuple[tuple[str, str], ...]:
    """(CSV column, table column) pairs of columns exported under their own name."""
    return tuple((c, c) for c in columns)


@dataclass(frozen=True)
class DatasetSpec:
    """One dataset, as the registry knows it."""

    name: Dataset
    providers: frozenset[Provider]
    table: Any  # the SQLModel table class of the detail rows
    export: Export
    # Backfill progress and "data is ready" count the core datasets (the spend dashboards);
    # a failing secondary report leaves the spend shown and the organization healthy.
    core: bool = False
    rollup: Rollup | None = None
    # The values each dashboard filter offers (``dimension_value``): kind -> detail column.
    filters: Mapping[str, str] = field(default_factory=dict)

    @property
    def detail_table(self) -> Table:
        table: Table = self.table.__table__
        return table


_EVERY_PROVIDER = frozenset(Provider)
_CONSOLE = frozenset({Provider.CONSOLE})
_ENTERPRISE = frozenset({Provider.ENTERPRISE})

REGISTRY: dict[Dataset, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            Dataset.USAGE,
            _EVERY_PROVIDER,
            UsageBucket,
            Export(
                Dataset.USAGE,
                (
                    "date",
                    "organization_id",
                    "organization_name",
                    "workspace_id",
                    "workspace_name",
                    "api_key_id",
                    "api_key_name",
                    "model",
                    "service_tier",
                    "context_window",
                    *USAGE_MEASURES,
                    "provider",
                    "product",
                    "inference_geo",
                ),
            ),
            core=True,
            rollup=Rollup(
                UsageDaily,
                {
                    "model": "model",
                    "workspace": "workspace_id",
                    "api_key": "api_key_id",
                    "service_tier": "service_tier",
                    "product": "product",
                },
                USAGE_MEASURES,
                compound={ECONOMICS: ECONOMICS_USAGE_COLUMNS},
            ),
            filters={
                "workspace": "workspace_id",
                "model": "model",
                "service_tier": "service_tier",
                "product": "product",
            },
        ),
        DatasetSpec(
            Dataset.COST,
            _EVERY_PROVIDER,
            CostLine,
            Export(
                Dataset.COST,
                (
                    "date",
                    "organization_id",
                    "organization_name",
                    "workspace_id",
                    "workspace_name",
                    "description",
                    "cost_type",
                    "model",
                    "token_type",
                    "service_tier",
                    "context_window",
                    "inference_geo",
                    "amount_usd",
                    "currency",
                    # Beyond the contract's columns: the connection type and Claude
                    # Enterprise's own fields.
                    "provider",
                    "product",
                    "list_amount_usd",
                ),
            ),
            core=True,
            rollup=Rollup(
                CostDaily,
                {
                    "model": "model",
                    "workspace": "workspace_id",
                    "service_tier": "service_tier",
                    "token_type": "token_type",
                    "cost_type": "cost_type",
                    "product": "product",
                    "description": "description",
                },
                ("amount_cents",),
                compound={ECONOMICS: ECONOMICS_COST_COLUMNS},
            ),
            filters={
                "workspace": "workspace_id",
                "model": "model",
                "service_tier": "service_tier",
                "cost_type": "cost_type",
                "product": "product",
            },
        ),
        DatasetSpec(
            Dataset.CLAUDE_CODE,
            _CONSOLE,
            ClaudeCodeDay,
            _copied(
                Dataset.CLAUDE_CODE,
                *_same(
                    "actor_type",
                    "actor",
                    "customer_type",
                    "subscription_type",
                    "terminal_type",
                    "is_remote",
                    "sessions",
                    "lines_added",
                    "lines_removed",
                    "commits",
                    "pull_requests",
                    "tool_accepted",
                    "tool_rejected",
                    "input_tokens",
                    "output_tokens",
                    "cache_read_tokens",
                    "cache_creation_tokens",
                ),
                ("estimated_cost_usd", "estimated_cost_cents"),
                *_same("tool_actions", "models"),
            ),
        ),
        # Per-key and per-actor billed cost (Usage and Cost Analytics API, beta): its own writer
        # in app.reports.export (workspace and key names, the actor of a key without one).
        DatasetSpec(
            Dataset.KEY_COST,
            _CONSOLE,
            KeyCost,
            Export(
                Dataset.KEY_COST,
                (
                    "date",
                    "organization_id",
                    "organization_name",
                    "workspace_id",
                    "workspace_name",
                    "api_key_id",
                    "api_key_name",
                    "actor_type",
                    "actor_id",
                    "model",
                    "amount_usd",
                    "list_amount_usd",
                    # Beyond the contract's columns.
                    "actor_name",
                    "service_tier",
                    "cost_type",
                    "token_type",
                    "requests",
                    "currency",
                ),
            ),
            # The actor filter: by the name the charts show (else the id).
            filters={"actor": ACTOR_COLUMN},
        ),
        # Per-key and per-actor usage (the same API's /analytics/usage): tokens and requests
        # by key and by the person or service account behind them.
        DatasetSpec(
            Dataset.KEY_USAGE,
            _CONSOLE,
            KeyUsage,
            _copied(
                Dataset.KEY_USAGE,
                *_same(
                    "workspace_id",
                    "api_key_id",
                    "actor_type",
                    "actor_id",
                    "actor_name",
                    "model",
                    "service_tier",
                    "context_window",
                    "inference_geo",
                    *USAGE_MEASURES,
                    "requests",
                ),
            ),
            filters={"actor": ACTOR_COLUMN},
        ),
        DatasetSpec(
            Dataset.USER_COST,
            _ENTERPRISE,
            UserCost,
            _copied(
                Dataset.USER_COST,
                *_same("user_id", "user_name", "user_email", "deleted"),
                ("amount_usd", "amount_cents"),
                ("list_amount_usd", "list_amount_cents"),
                ("currency", "currency"),
            ),
        ),
        DatasetSpec(
            Dataset.USER_USAGE,
            _ENTERPRISE,
            UserUsage,
            _copied(
                Dataset.USER_USAGE,
                *_same(
                    "user_id",
                    "user_name",
                    "user_email",
                    "deleted",
                    *USAGE_MEASURES,
                    "total_tokens",
                    "requests",
                ),
            ),
        ),
        DatasetSpec(
            Dataset.ENGAGEMENT,
            _ENTERPRISE,
            EngagementDay,
            _copied(
                Dataset.ENGAGEMENT,
                *_same(
                    "daily_active_users",
                    "weekly_active_users",
                    "monthly_active_users",
                    "daily_adoption_rate",
                    "weekly_adoption_rate",
                    "monthly_adoption_rate",
                    "assigned_seats",
                    "pending_invites",
                    "cowork_daily_active_users",
                    "cowork_weekly_active_users",
                    "cowork_monthly_active_users",
                ),
            ),
        ),
    )
}
assert tuple(REGISTRY) == tuple(Dataset), "one registry entry per dataset, in Dataset's order"

# The datasets backfill progress and "data is ready" count: usage, then cost.
CORE_DATASETS: tuple[Dataset, ...] = tuple(d for d, spec in REGISTRY.items() if spec.core)
# `finops export --dataset` names, cost and usage (the contract's two) first.
EXPORT_DATASETS: tuple[str, ...] = tuple(
    REGISTRY[d].export.name for d in (Dataset.COST, Dataset.USAGE)
) + tuple(spec.export.name for spec in REGISTRY.values() if not spec.core)
# Tables kept from the daily rollups, with an organization's rows but no dataset of their own:
# the running totals per API key (from ``usage_daily``) and the filter values.
DERIVED_TABLES: tuple[Any, ...] = (KeyTokensToDate, DimensionValue)
# An organization's other rows, not synced data: its directory (workspace and API key names),
# its sync's own records and the versions of its data (``app.store.changes``). With the data
# tables, every table that has an organization's rows (a test holds this to the schema's
# foreign keys, so none is forgotten).
BOOKKEEPING_TABLES: tuple[Any, ...] = (
    Workspace,
    ApiKey,
    SyncState,
    SyncRun,
    DataVersion,
    DataChange,
    Restatement,
    # Allocation (app/finops/allocation_tables.py): an organization's allocated lines and how
    # far each allocation has followed its cost rows.
    AllocationLine,
    AllocationDaily,
    AllocationMark,
    # Anomalies (app/finops/anomaly_tables.py): those found in an organization's spend.
    Anomaly,
    # Per-key cost estimated where the key may not read it (app.store.key_estimate), and
    # the versions of the cost and usage rows it followed.
    KeyCostEstimate,
    KeyEstimateMark,
)


def spec_of(dataset: str) -> DatasetSpec:
    """The registry entry of a dataset name (``ValueError`` for an unknown one)."""
    return REGISTRY[Dataset(dataset)]


def datasets_of(provider: str) -> tuple[Dataset, ...]:
    """The datasets an organization of ``provider`` has, in the order a sync fetches them; an
    unknown provider is treated as a Console organization (as the sync always did)."""
    known = provider if provider in _EVERY_PROVIDER else Provider.CONSOLE
    return tuple(d for d, spec in REGISTRY.items() if known in spec.providers)


def data_tables(*, core_only: bool = False) -> tuple[Table, ...]:
    """Every table holding an organization's synced data: each dataset's detail table and
    rollup (of the core datasets only, if asked), then the derived tables (running totals,
    filter values)."""
    tables: list[Table] = []
    for spec in REGISTRY.values():
        if core_only and not spec.core:
            continue
        tables.append(spec.detail_table)
        if spec.rollup is not None:
            tables.append(spec.rollup.table.__table__)
    tables += [model.__table__ for model in DERIVED_TABLES]
    return tuple(tables)


def registry_tables() -> tuple[Table, ...]:
    """Every table the registry knows to hold rows of an organization: its data and its
    bookkeeping (deletion itself derives its tables from the schema's foreign keys:
    ``app.services.organizations.organization_tables``; a test holds the two together)."""
    return (*data_tables(), *(model.__table__ for model in BOOKKEEPING_TABLES))
