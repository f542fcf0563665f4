"""CSV export of stored rows at the finest grain, in the column order of the product contract."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from typing import Any, TextIO

from sqlalchemy import Engine, Select, and_, select

from app.db import read_session
from app.models import ApiKey, CostLine, Organization, UsageBucket, Workspace

COST_COLUMNS = [
    "date", "organization_id", "organization_name", "workspace_id", "workspace_name",
    "description", "cost_type", "model", "token_type", "service_tier", "context_window",
    "inference_geo", "amount_usd", "currency",
]  # fmt: skip
USAGE_COLUMNS = [
    "date", "organization_id", "organization_name", "workspace_id", "workspace_name",
    "api_key_id", "api_key_name", "model", "service_tier", "context_window",
    "uncached_input_tokens", "cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens",
    "cache_read_input_tokens", "output_tokens", "web_search_requests",
]  # fmt: skip

DEFAULT_WORKSPACE = "Default workspace"
CONSOLE_KEY = "Console / Workbench"
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cents_to_usd(cents: Decimal) -> str:
    """Exact dollars from cents, as plain decimal text (no exponent, no float)."""
    usd = cents.scaleb(-2)
    text = format(usd.normalize(), "f") if usd else "0"
    return text


def safe_text(value: str | None) -> str:
    """Names come from the API: neutralise spreadsheet formulas (CSV injection)."""
    if not value:
        return ""
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


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
    if dataset not in ("cost", "usage"):
        raise ValueError("dataset must be 'cost' or 'usage'")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COST_COLUMNS if dataset == "cost" else USAGE_COLUMNS)
    count = 0
    rows = _cost_rows if dataset == "cost" else _usage_rows
    for row in rows(engine, organization_id, start, end):
        writer.writerow(row)
        count += 1
    return count


def _filters(
    model: Any, organization_id: str | None, start: date | None, end: date | None
) -> list[Any]:
    clauses = []
    if organization_id:
        clauses.append(Organization.organization_id == organization_id)
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
            Organization.organization_id,
            Organization.name,
            Organization.label,
            Workspace.name,
        )  # fmt: skip
        .join(Organization, Organization.id == model.organization_pk)
        .outerjoin(
            Workspace,
            and_(
                Workspace.organization_pk == model.organization_pk,
                Workspace.workspace_id == model.workspace_id,
            ),
        )
        .where(*_filters(model, organization_id, start, end))
        .order_by(model.date, Organization.organization_id, model.id)
        .execution_options(yield_per=5000)
    )


def _cost_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[str]]:
    query = _named_rows(CostLine, organization_id, start, end)
    with read_session(engine) as session:
        for line, org_id, org_name, label, ws_name in session.execute(query):
            yield [
                line.date.isoformat(),
                org_id,
                safe_text(label or org_name),
                line.workspace_id or "",
                safe_text(ws_name if line.workspace_id else DEFAULT_WORKSPACE),
                safe_text(line.description),
                line.cost_type or "",
                line.model or "",
                line.token_type or "",
                line.service_tier or "",
                line.context_window or "",
                line.inference_geo or "",
                cents_to_usd(line.amount_cents),
                line.currency,
            ]


def _usage_rows(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> Iterator[list[str]]:
    query = _named_rows(UsageBucket, organization_id, start, end).add_columns(ApiKey.name)
    query = query.outerjoin(
        ApiKey,
        and_(
            ApiKey.organization_pk == UsageBucket.organization_pk,
            ApiKey.api_key_id == UsageBucket.api_key_id,
        ),
    )
    with read_session(engine) as session:
        for bucket, org_id, org_name, label, ws_name, key_name in session.execute(query):
            yield [
                bucket.date.isoformat(),
                org_id,
                safe_text(label or org_name),
                bucket.workspace_id or "",
                safe_text(ws_name if bucket.workspace_id else DEFAULT_WORKSPACE),
                bucket.api_key_id or "",
                safe_text(key_name if bucket.api_key_id else CONSOLE_KEY),
                bucket.model or "",
                bucket.service_tier or "",
                bucket.context_window or "",
                str(bucket.uncached_input_tokens),
                str(bucket.cache_creation_5m_input_tokens),
                str(bucket.cache_creation_1h_input_tokens),
                str(bucket.cache_read_input_tokens),
                str(bucket.output_tokens),
                str(bucket.web_search_requests),
            ]
