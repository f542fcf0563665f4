"""Console organizations (Admin API): the usage and cost reports, the Claude Code report, and
per-key cost (the Usage and Cost Analytics API, beta)."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from datetime import date, timedelta
from itertools import islice
from typing import Any, TypeVar

from app.anthropic.admin import AdminClient
from app.anthropic.records import (
    Record,
    parse_claude_code_record,
    parse_key_cost,
    parse_key_usage,
)
from app.clock import midnight
from app.datasets import Dataset
from app.models import SyncState
from ingest.chunks import Chunk, page_chunk
from ingest.pages import PageSize

_T = TypeVar("_T")

# Days of the Claude Code report fetched at once (each day is its own request series); kept
# small so a backfill never floods the API. A module constant, not a setting.
CLAUDE_CODE_FETCHERS = 6
# Days of per-key cost per query: its rows are ranked, not in day order, so a query is stored
# once whole; a week bounds what is held (500 keys x models x tiers x token types a day) and
# stays within the API's 31-day span (UNCONFIRMED).
KEY_COST_DAYS = 7
# Per-key cost queries in flight: one, fetched while the one before it is stored (two would
# hold a third week of rows and go past the worker's memory target).
KEY_COST_AHEAD = 1


def report_chunks(
    client: AdminClient, dataset: str, state: SyncState, end: date, size: PageSize
) -> Iterator[Chunk]:
    """The usage or cost report from the stored position to ``end``, a chunk per page, each
    page asking for ``size.days`` days. When a page changes that size (the rows per day it
    measured), the query stops after it and a new one starts from the stored position: the
    pages not yet asked for are asked with the new size, none twice."""
    assert state.position is not None
    fetch = client.iter_usage_pages if dataset == Dataset.USAGE else client.iter_cost_pages
    while state.position < end:
        asked = size.asked = client.days_per_page(size.days)
        with closing(fetch(midnight(state.position), midnight(end), asked)) as pages:
            for page in pages:
                start = state.position
                chunk = page_chunk(dataset, state, page, end)
                more = page.has_more
                del page
                size.measured(len(chunk.rows), (chunk.covered - start).days)
                yield chunk
                # Stored by now: not held while the next page is fetched.
                del chunk
                if more and client.days_per_page(size.days) != asked and state.position > start:
                    break
            else:
                return


def claude_code_chunks(client: AdminClient, start: date, end: date) -> Iterator[Chunk]:
    """One chunk per day of ``[start, end)``, in day order. The report is a request series
    per day, so up to ``CLAUDE_CODE_FETCHERS`` days are fetched at once (see ``_in_order``)."""

    def fetch(day: date) -> list[Record]:
        records = [
            parse_claude_code_record(raw) for page in client.iter_claude_code(day) for raw in page
        ]
        return [r for r in records if r.day == day]

    days = [start + timedelta(days=n) for n in range((end - start).days)]
    for day, records in _in_order(days, fetch, CLAUDE_CODE_FETCHERS, "claude-code"):
        yield Chunk(day + timedelta(days=1), records)


def key_cost_chunks(client: AdminClient, state: SyncState, end: date) -> Iterator[Chunk]:
    """Per-key cost from the stored position to ``end``, a chunk per query of at most
    ``KEY_COST_DAYS`` days (every page of it): complete through its end, even when the API
    answers with nothing for those days. The next query is fetched (and parsed) while this
    one is stored: its 20-odd pages of latency are the backfill's critical path, and storing
    a week of 500 keys takes about a second of this process's time."""
    return _analytics_chunks(client.iter_key_cost, parse_key_cost, state, end, "key-cost")


def key_usage_chunks(client: AdminClient, state: SyncState, end: date) -> Iterator[Chunk]:
    """Per-key and per-actor usage (``/analytics/usage``), as ``key_cost_chunks``."""
    return _analytics_chunks(client.iter_key_usage, parse_key_usage, state, end, "key-usage")


def _analytics_chunks(
    rows_of: Callable[[date, date], list[dict[str, Any]]],
    parse: Callable[[dict[str, Any]], Record],
    state: SyncState,
    end: date,
    name: str,
) -> Iterator[Chunk]:
    assert state.position is not None
    weeks: list[tuple[date, date]] = []
    start = state.position
    while start < end:
        weeks.append((start, min(end, start + timedelta(days=KEY_COST_DAYS))))
        start = weeks[-1][1]

    def fetch(week: tuple[date, date]) -> list[Record]:
        first, last = week
        rows = (parse(raw) for raw in rows_of(first, last))
        return [r for r in rows if first <= r.day < last]

    for (_, last), records in _in_order(weeks, fetch, KEY_COST_AHEAD, name):
        yield Chunk(last, records)


def _in_order(
    items: list[_T], fetch: Callable[[_T], list[Record]], at_once: int, name: str
) -> Iterator[tuple[_T, list[Record]]]:
    """``(item, fetch(item))`` in the order of ``items``, fetched ``at_once`` at a time in
    threads, so the next ones are in flight while the caller stores this one. A failure on an
    item is raised (as the API's own error) when its turn comes, so the items before it are
    stored and nothing after. Closing the generator (a stop, an error) cancels the items not
    yet started and does not wait for those in flight: their answers are dropped."""
    queue = iter(items)
    pool = ThreadPoolExecutor(at_once, thread_name_prefix=name)
    pending: deque[tuple[_T, Future[list[Record]]]] = deque()

    def refill() -> None:
        for item in islice(queue, at_once - len(pending)):
            pending.append((item, pool.submit(fetch, item)))

    try:
        refill()
        while pending:
            item, future = pending.popleft()
            records = future.result()  # this item's error, raised in order
            refill()  # keep the next ones in flight while this one is stored
            yield item, records
            del records  # stored by now: not held while the next one is awaited
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
