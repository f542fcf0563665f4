"""Console organizations (Admin API): the usage and cost reports, the Claude Code report, and
per-key cost (the Usage and Cost Analytics API, beta)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from datetime import date, timedelta
from itertools import islice

from app.anthropic.admin import AdminClient
from app.anthropic.records import Record, parse_claude_code_record, parse_key_cost
from app.clock import midnight
from app.datasets import Dataset
from app.models import SyncState
from ingest.chunks import Chunk, page_chunk
from ingest.pages import PageSize

# Days of the Claude Code report fetched at once (each day is its own request series); kept
# small so a backfill never floods the API. A module constant, not a setting.
CLAUDE_CODE_FETCHERS = 6
# Days of per-key cost per query: its rows are ranked, not in day order, so a query is stored
# once whole; a week bounds what is held (500 keys x models x tiers x token types a day) and
# stays within the API's 31-day span (UNCONFIRMED).
KEY_COST_DAYS = 7


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
    per day, so up to ``CLAUDE_CODE_FETCHERS`` days are fetched at once; they are handed
    out strictly in order, so a failure on a day (raised as the API's own error when its
    turn comes) leaves the days before it stored and nothing after. Closing the generator
    (a stop, an error) cancels the days not yet started and does not wait for those in
    flight: their answers are dropped."""

    def fetch(day: date) -> list[Record]:
        records = [
            parse_claude_code_record(raw) for page in client.iter_claude_code(day) for raw in page
        ]
        return [r for r in records if r.day == day]

    days = iter([start + timedelta(days=n) for n in range((end - start).days)])
    pool = ThreadPoolExecutor(CLAUDE_CODE_FETCHERS, thread_name_prefix="claude-code")
    pending: deque[tuple[date, Future[list[Record]]]] = deque()

    def refill() -> None:
        for day in islice(days, CLAUDE_CODE_FETCHERS - len(pending)):
            pending.append((day, pool.submit(fetch, day)))

    try:
        refill()
        while pending:
            day, future = pending.popleft()
            records = future.result()  # this day's error, raised in day order
            refill()  # keep the next days in flight while this one is stored
            yield Chunk(day + timedelta(days=1), records)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def key_cost_chunks(client: AdminClient, state: SyncState, end: date) -> Iterator[Chunk]:
    """Per-key cost from the stored position to ``end``, a chunk per query of at most
    ``KEY_COST_DAYS`` days (every page of it): complete through its end, even when the API
    answers with nothing for those days."""
    assert state.position is not None
    while state.position < end:
        start = state.position
        chunk_end = min(end, start + timedelta(days=KEY_COST_DAYS))
        rows = [parse_key_cost(raw) for raw in client.iter_key_cost(start, chunk_end)]
        yield Chunk(chunk_end, [r for r in rows if start <= r.day < chunk_end])
