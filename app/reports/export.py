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
from app.datasets import EXPORT_DATASETS, REGISTRY, Dataset
from app.db import read_session
from app.models import (
    USAGE_MEASURES,
    ApiKey,
    CostLine,
    KeyCost,
    KeyCostEstimate,
    Organization,
    Provider,
    UsageBucket,
    Workspace,
)
from app.reports.labels import CONSOLE_KEY, DEFAULT_WORKSPACE, provider_label

# Each dataset by its `finops export --dataset` name; its CSV header and columns are in
# app.datasets' registry.
_BY_EXPORT_NAME = {spec.export.name: spec for spec in REGISTRY.values()}


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
    spec = _BY_EXPORT_NAME.get(dataset)
    if spec is None:
        raise ValueError(f"dataset must be one of {', '.join(EXPORT_DATASETS)}")
    rows: Iterator[list[Any]]
    if spec.name == Dataset.COST:
        rows = _cost_rows(engine, organization_id, start, end)
    elif spec.name == Dataset.USAGE:
        rows = _usage_rows(engine, organization_id, start, end)
    elif spec.name == Dataset.KEY_COST:
        rows = _key_cost_rows(engine, organization_id, start, end)
    else:
        rows = _other_rows(engine, spec.table, spec.export.copied, organization_id, start, end)
    return write_csv(out, list(spec.export.header), rows)


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
                provider_label(provider),
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
                *(int(getattr(bucket, m)) for m in USAGE_MEASURES),
                provider_label(provider),
                bucket.product,
                bucket.inference_geo,
            ]


def _key_cost_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[Any]]:
    """Per-key cost with workspace and key names. A row without a key is Console / Workbench
    usage or code execution (empty ``api_key_id``); a key without a principal is its own
    actor (``actor_type`` api_key, ``actor_id`` its id), also when the API sent no actor."""
    query = _named_rows(KeyCost, organization_id, start, end).add_columns(col(ApiKey.name))
    query = query.outerjoin(
        ApiKey,
        and_(
            col(ApiKey.organization_pk) == col(KeyCost.organization_pk),
            col(ApiKey.api_key_id) == col(KeyCost.api_key_id),
        ),
    )
    with read_session(engine) as session:
        for line, org_id, org_name, label, ws_name, provider, key_name in session.execute(query):
            actor_type, actor_id = line.actor_type, line.actor_id
            if actor_id is None and line.api_key_id:
                actor_type, actor_id = actor_type or "api_key", line.api_key_id
            yield [
                line.date,
                org_id,
                label or org_name,
                line.workspace_id,
                _workspace_name(line.workspace_id, ws_name, provider),
                line.api_key_id,
                (key_name or line.api_key_id) if line.api_key_id else CONSOLE_KEY,
                actor_type,
                actor_id,
                line.model,
                _usd(line.amount_cents),
                _usd(line.list_amount_cents),
                line.actor_name,
                line.service_tier,
                line.cost_type,
                line.token_type,
                line.requests,
                line.currency,
            ]


def key_cost_estimate_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[Any]]:
    """Estimated per-key cost (``app.store.key_estimate``) with workspace and key names, in
    the key_cost export's columns and then the tier and cost type; a key is its own actor."""
    e = KeyCostEstimate
    query = _named_rows(e, organization_id, start, end).add_columns(col(ApiKey.name))
    query = query.outerjoin(
        ApiKey,
        and_(
            col(ApiKey.organization_pk) == col(e.organization_pk),
            col(ApiKey.api_key_id) == col(e.api_key_id),
        ),
    )
    with read_session(engine) as session:
        for line, org_id, org_name, label, ws_name, provider, key_name in session.execute(query):
            keyed = line.api_key_id is not None
            yield [
                line.date,
                org_id,
                label or org_name,
                line.workspace_id,
                _workspace_name(line.workspace_id, ws_name, provider),
                line.api_key_id,
                (key_name or line.api_key_id) if keyed else CONSOLE_KEY,
                "api_key" if keyed else None,
                line.api_key_id,
                line.model,
                _usd(line.amount_cents),
                _usd(line.list_amount_cents),
                line.service_tier,
                line.cost_type,
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
    columns: tuple[tuple[str, str], ...],
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
                provider_label(provider),
                *(_cell(getattr(row, attr), attr) for _, attr in columns),
            ]
