"""Claude Enterprise organizations (Analytics API): usage and cost, per-user cost and usage,
and engagement summaries, fetched within the API's rules (31-day queries; the top 100 groups
of each day, the rest filled in from the day's ungrouped total)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from app.anthropic.analytics import ANALYTICS_MAX_DAYS, ANALYTICS_TOP_GROUPS, AnalyticsClient
from app.anthropic.records import parse_summary, parse_user_cost, parse_user_usage
from app.anthropic.schemas import CostRow, UsageRow, parse_cost_result, parse_usage_result
from app.clock import midnight
from app.datasets import CORE_DATASETS, Dataset
from app.models import SyncState
from ingest.chunks import Chunk, page_chunk


def analytics_chunks(
    client: AnalyticsClient, dataset: str, state: SyncState, end: date
) -> Iterator[Chunk]:
    """The dataset from the stored position to ``end``, one query of at most 31 days at a
    time; each query's range is covered even when the API answers it with nothing."""
    assert state.position is not None
    while state.position < end:
        chunk_end = min(end, state.position + timedelta(days=ANALYTICS_MAX_DAYS))
        if dataset in CORE_DATASETS:
            fetch = (
                client.iter_analytics_usage_pages
                if dataset == Dataset.USAGE
                else client.iter_analytics_cost_pages
            )
            for page in fetch(midnight(state.position), midnight(chunk_end)):
                capped = any(len(b.results) >= ANALYTICS_TOP_GROUPS for b in page.buckets)
                chunk = page_chunk(dataset, state, page, chunk_end)
                if capped:
                    chunk.rows += beyond_top_groups(
                        client, dataset, state.position, chunk.covered, chunk.rows
                    )
                yield chunk
        elif dataset == Dataset.ENGAGEMENT:
            rows = [parse_summary(raw) for raw in client.get_summaries(state.position, chunk_end)]
            start = state.position
            yield Chunk(chunk_end, [r for r in rows if start <= r.day < chunk_end])
        else:
            parse = parse_user_cost if dataset == Dataset.USER_COST else parse_user_usage
            for day, raws in client.iter_user_report(
                f"{dataset}_report", state.position, chunk_end
            ):
                yield Chunk(day + timedelta(days=1), [parse(day, raw) for raw in raws])
        if state.position < chunk_end:  # an empty answer still covers its range
            yield Chunk(chunk_end, [])


def beyond_top_groups(
    client: AnalyticsClient, dataset: str, start: date, end: date, rows: list[Any]
) -> list[Any]:
    """Rows for what the API's top-100-groups cap left out: each day's ungrouped total
    minus its grouped rows, kept as one row without product or model so totals stay exact."""
    if start >= end:
        return []
    fetch = (
        client.iter_analytics_usage_pages
        if dataset == Dataset.USAGE
        else client.iter_analytics_cost_pages
    )
    parse = parse_usage_result if dataset == Dataset.USAGE else parse_cost_result
    totals: dict[date, Any] = {}
    for page in fetch(midnight(start), midnight(end), grouped=False):
        for bucket in page.buckets:
            if start <= bucket.day < end:
                for raw in bucket.results:
                    row = parse(bucket.day, raw)
                    if bucket.day in totals:
                        totals[bucket.day].merge(row)
                    else:
                        totals[bucket.day] = row
    extra = {"grouping": "beyond the top 100 groups"}
    remainders: list[Any] = []
    for day, total in totals.items():
        grouped = [r for r in rows if r.day == day]
        if isinstance(total, CostRow):
            rest = total.amount_cents - sum((r.amount_cents for r in grouped), Decimal(0))
            if rest:
                dims = dict.fromkeys(total.dims)
                remainders.append(CostRow(day, dims, rest, total.currency, dict(extra)))
        else:
            tokens = {
                name: value - sum(r.tokens[name] for r in grouped)
                for name, value in total.tokens.items()
            }
            if any(tokens.values()):
                remainders.append(UsageRow(day, dict.fromkeys(total.dims), tokens, dict(extra)))
    return remainders
