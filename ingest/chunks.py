"""The chunk: rows that make a run of stored days complete (which datasets each provider has
is ``app.datasets``' registry)."""

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
from app.datasets import Dataset
from app.models import SyncState

Row = CostRow | UsageRow | Record


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
    parse = parse_usage_result if dataset == Dataset.USAGE else parse_cost_result
    rows: list[Any] = []
    for bucket in buckets:
        raws, bucket.results = bucket.results, []
        if bucket.day < covered:
            rows += [parse(bucket.day, raw) for raw in raws]
        del raws
    return Chunk(covered, rows)
