"""CSV export of stored rows at the finest grain, in the column order of the product contract.

Rows hold typed values: text from the API as ``str`` (neutralised by the CSV writer), amounts as
``Decimal`` dollars and counts as ``int`` (written exactly, never neutralised).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import Engine, Select, and_, select
from sqlmodel import col

from app.csv_writer import plain_decimal, write_csv
from app.db import read_session
from app.models import (
    ApiKey,
    ClaudeCodeDay,
    CostLine,
    EngagementDay,
    Organization,
    Provider,
    UsageBucket,
    UserCost,
    UserUsage,
    Workspace,
)
from app.reports.labels import CONSOLE_KEY, DEFAULT_WORKSPACE

COST_COLUMNS = [
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
    # Beyond the contract's columns: the connection type and Claude Enterprise's own fields.
    "provider",
    "product",
    "list_amount_usd",
]
USAGE_COLUMNS = [
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
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "provider",
    "product",
    "inference_geo",
]
# The other datasets: (CSV column, table column); money columns end in _usd.
_ORG_COLUMNS = ["date", "organization_id", "organization_name", "provider"]
OTHER_DATASETS: dict[str, tuple[Any, list[tuple[str, str]]]] = {
    "claude_code": (
        ClaudeCodeDay,
        [
            ("actor_type", "actor_type"),
            ("actor", "actor"),
            ("customer_type", "customer_type"),
            ("subscription_type", "subscription_type"),
            ("terminal_type", "terminal_type"),
            ("is_remote", "is_remote"),
            ("sessions", "sessions"),
            ("lines_added", "lines_added"),
            ("lines_removed", "lines_removed"),
            ("commits", "commits"),
            ("pull_requests", "pull_requests"),
            ("tool_accepted", "tool_accepted"),
            ("tool_rejected", "tool_rejected"),
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("cache_read_tokens", "cache_read_tokens"),
            ("cache_creation_tokens", "cache_creation_tokens"),
            ("estimated_cost_usd", "estimated_cost_cents"),
            ("tool_actions", "tool_actions"),
            ("models", "models"),
        ],
    ),
    "user_cost": (
        UserCost,
        [
            ("user_id", "user_id"),
            ("user_name", "user_name"),
            ("user_email", "user_email"),
            ("deleted", "deleted"),
            ("amount_usd", "amount_cents"),
            ("list_amount_usd", "list_amount_cents"),
            ("currency", "currency"),
        ],
    ),
    "user_usage": (
        UserUsage,
        [
            ("user_id", "user_id"),
            ("user_name", "user_name"),
            ("user_email", "user_email"),
            ("deleted", "deleted"),
            ("uncached_input_tokens", "uncached_input_tokens"),
            ("cache_creation_5m_input_tokens", "cache_creation_5m_input_tokens"),
            ("cache_creation_1h_input_tokens", "cache_creation_1h_input_tokens"),
            ("cache_read_input_tokens", "cache_read_input_tokens"),
            ("output_tokens", "output_tokens"),
            ("web_search_requests", "web_search_requests"),
            ("total_tokens", "total_tokens"),
            ("requests", "requests"),
        ],
    ),
    "engagement": (
        EngagementDay,
        [
            ("daily_active_users", "daily_active_users"),
            ("weekly_active_users", "weekly_active_users"),
            ("monthly_active_users", "monthly_active_users"),
            ("daily_adoption_rate", "daily_adoption_rate"),
            ("weekly_adoption_rate", "weekly_adoption_rate"),
            ("monthly_adoption_rate", "monthly_adoption_rate"),
            ("assigned_seats", "assigned_seats"),
            ("pending_invites", "pending_invites"),
            ("cowork_daily_active_users", "cowork_daily_active_users"),
            ("cowork_weekly_active_users", "cowork_weekly_active_users"),
            ("cowork_monthly_active_users", "cowork_monthly_active_users"),
        ],
    ),
}
DATASETS = ("cost", "usage", *OTHER_DATASETS)


def cents_to_usd(cents: Decimal) -> str:
    """Exact dollars from cents, as plain decimal text (no exponent, no float)."""
    return plain_decimal(cents.scaleb(-2))


def _usd(cents: Decimal | None) -> Decimal | None:
    """Exact dollars, as a number for the CSV writer (a credit stays negative)."""
    return None if cents is None else cents.scaleb(-2)


def export_csv(
    *,
    engine: Engine,
    dataset: str,
    out: TextIO,
    organization_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> int:
    """Write the CSV to ``out``; ``end`` is exclusive. Returns the number of data rows."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}")
    rows: Iterator[list[Any]]
    if dataset in OTHER_DATASETS:
        model, columns = OTHER_DATASETS[dataset]
        header = _ORG_COLUMNS + [name for name, _ in columns]
        rows = _other_rows(engine, model, columns, organization_id, start, end)
    else:
        header = COST_COLUMNS if dataset == "cost" else USAGE_COLUMNS
        rows = (_cost_rows if dataset == "cost" else _usage_rows)(
            engine, organization_id, start, end
        )
    return write_csv(out, header, rows)


def _filters(
    model: Any, organization_id: str | None, start: date | None, end: date | None
) -> list[Any]:
    clauses = []
    if organization_id:
        clauses.append(col(Organization.organization_id) == organization_id)
    if start:
        clauses.append(model.date >= start)
    if end:
        clauses.append(model.date < end)
    return clauses


def _named_rows(
    model: Any, organization_id: str | None, start: date | None, end: date | None
) -> Select[Any]:
    """Rows of a data table with their organization's id and names and their workspace's name,
    oldest first, streamed in batches."""
    return (
        select(
            model,
            col(Organization.organization_id),
            col(Organization.name),
            col(Organization.label),
            col(Workspace.name),
            col(Organization.provider),
        )
        .join(Organization, col(Organization.id) == model.organization_pk)
        .outerjoin(
            Workspace,
            and_(
                col(Workspace.organization_pk) == model.organization_pk,
                col(Workspace.workspace_id) == model.workspace_id,
            ),
        )
        .where(*_filters(model, organization_id, start, end))
        .order_by(model.date, col(Organization.organization_id), model.id)
        .execution_options(yield_per=5000)
    )


def _cost_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[Any]]:
    query = _named_rows(CostLine, organization_id, start, end)
    with read_session(engine) as session:
        for line, org_id, org_name, label, ws_name, provider in session.execute(query):
            yield [
                line.date,
                org_id,
                label or org_name,
                line.workspace_id,
                _workspace_name(line.workspace_id, ws_name, provider),
                line.description,
                line.cost_type,
                line.model,
                line.token_type,
                line.service_tier,
                line.context_window,
                line.inference_geo,
                _usd(line.amount_cents),
                line.currency,
                Provider.label(provider),
                line.product,
                _usd(line.list_amount_cents),
            ]


def _usage_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[Any]]:
    query = _named_rows(UsageBucket, organization_id, start, end).add_columns(col(ApiKey.name))
    query = query.outerjoin(
        ApiKey,
        and_(
            col(ApiKey.organization_pk) == col(UsageBucket.organization_pk),
            col(ApiKey.api_key_id) == col(UsageBucket.api_key_id),
        ),
    )
    with read_session(engine) as session:
        for bucket, org_id, org_name, label, ws_name, provider, key_name in session.execute(query):
            enterprise = provider == Provider.ENTERPRISE
            yield [
                bucket.date,
                org_id,
                label or org_name,
                bucket.workspace_id,
                _workspace_name(bucket.workspace_id, ws_name, provider),
                bucket.api_key_id,
                None if enterprise else (key_name if bucket.api_key_id else CONSOLE_KEY),
                bucket.model,
                bucket.service_tier,
                bucket.context_window,
                int(bucket.uncached_input_tokens),
                int(bucket.cache_creation_5m_input_tokens),
                int(bucket.cache_creation_1h_input_tokens),
                int(bucket.cache_read_input_tokens),
                int(bucket.output_tokens),
                int(bucket.web_search_requests),
                Provider.label(provider),
                bucket.product,
                bucket.inference_geo,
            ]


def _workspace_name(workspace_id: str | None, name: str | None, provider: str) -> str | None:
    """The null workspace is the Default workspace of a Console organization; Claude
    Enterprise organizations have no workspaces."""
    if workspace_id:
        return name
    return None if provider == Provider.ENTERPRISE else DEFAULT_WORKSPACE


def _cell(value: Any, column: str) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if column.endswith("_cents"):
        return _usd(value)
    return value


def _other_rows(
    engine: Engine,
    model: Any,
    columns: list[tuple[str, str]],
    organization_id: str | None,
    start: date | None,
    end: date | None,
) -> Iterator[list[Any]]:
    query = (
        select(
            model,
            col(Organization.organization_id),
            col(Organization.name),
            col(Organization.label),
            col(Organization.provider),
        )
        .join(Organization, col(Organization.id) == model.organization_pk)
        .where(*_filters(model, organization_id, start, end))
        .order_by(model.date, col(Organization.organization_id), model.id)
        .execution_options(yield_per=5000)
    )
    with read_session(engine) as session:
        for row, org_id, org_name, label, provider in session.execute(query):
            yield [
                row.date,
                org_id,
                label or org_name,
                Provider.label(provider),
                *(_cell(getattr(row, attr), attr) for _, attr in columns),
            ]
