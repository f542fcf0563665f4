"""The datasets each provider has, and the chunk: rows that make a run of stored days complete."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from app.anthropic.records import Record
from app.anthropic.schemas import (
    CostRow,
    ReportPage,
    UsageRow,
    parse_cost_result,
    parse_usage_result,
)
from app.models import Provider, SyncState

# The datasets that make the spend dashboards: backfill progress and "data is ready" count them.
CORE_DATASETS = ("usage", "cost")
CONSOLE_DATASETS = (*CORE_DATASETS, "claude_code")
ENTERPRISE_DATASETS = (*CORE_DATASETS, "user_cost", "user_usage", "engagement")

Row = CostRow | UsageRow | Record


def datasets_of(provider: str) -> tuple[str, ...]:
    return ENTERPRISE_DATASETS if provider == Provider.ENTERPRISE else CONSOLE_DATASETS


@dataclass
class Chunk:
    """Rows that make the stored days ``[position, covered)`` complete."""

    covered: date
    rows: list[Any] = field(default_factory=list)


def page_chunk(dataset: str, state: SyncState, page: ReportPage, end: date) -> Chunk:
    """A page of daily buckets of a query ending at ``end``: complete through the last
    bucket it holds, or through ``end`` when it is the last page. Consumes the page: each
    bucket's raw results are dropped as soon as they are parsed, since the raw JSON of a
    page (tens of thousands of results) is the largest thing a worker holds."""
    assert state.position is not None
    start = state.position
    buckets = [b for b in page.buckets if start <= b.day < end]
    covered = (
        end
        if not page.has_more
        else max([min(b.ending_at.date(), end) for b in buckets] or [start])
    )
    covered = max(covered, start)
    parse = parse_usage_result if dataset == "usage" else parse_cost_result
    rows: list[Any] = []
    for bucket in buckets:
        raws, bucket.results = bucket.results, []
        if bucket.day < covered:
            rows += [parse(bucket.day, raw) for raw in raws]
        del raws
    return Chunk(covered, rows)
