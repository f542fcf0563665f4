"""The sync engine: backfill and incremental runs of one organization, resumable page by page.

Each dataset is fetched as a window ``[window_start, window_end)`` of whole UTC days. Every
chunk (a page of buckets, or one day of records) replaces the stored rows of the days it covers
and advances the stored position in one transaction, so a killed worker resumes where it
stopped with no duplicates and no gaps, and rows that disappeared upstream disappear here too.

Console organizations have usage, cost and the Claude Code report; Claude Enterprise
organizations have usage, cost, per-user cost and usage, and engagement summaries, fetched
within the Analytics API's rules (nothing before 2026-01-01, 31-day queries, a 30-day
revision window, no request for today).
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session

from app import store
from app.anthropic.client import ANALYTICS_MAX_DAYS, ANALYTICS_TOP_GROUPS, AdminClient
from app.anthropic.errors import AnthropicError, InvalidRequest, KeyRejected, ResponseTooLarge
from app.anthropic.records import (
    Record,
    parse_claude_code_record,
    parse_summary,
    parse_user_cost,
    parse_user_usage,
)
from app.anthropic.schemas import (
    CostRow,
    ReportPage,
    UsageRow,
    parse_cost_result,
    parse_usage_result,
)
from app.clock import midnight, utcnow
from app.db import describe_database_error as describe_db_error
from app.db import read_session, refresh_statistics, write_session
from app.keystore import KeyDecryptError, KeyStore
from app.models import (
    Organization,
    OrgStatus,
    Provider,
    SyncRun,
    SyncState,
)
from app.redact import redact
from app.runtime import ClientFactory
from app.settings import Settings
from ingest.notify import send_ready_email

log = logging.getLogger(__name__)

# The datasets that make the spend dashboards: backfill progress and "data is ready" count them.
CORE_DATASETS = ("usage", "cost")
CONSOLE_DATASETS = (*CORE_DATASETS, "claude_code")
ENTERPRISE_DATASETS = (*CORE_DATASETS, "user_cost", "user_usage", "engagement")
# The Analytics API has no data before this day.
ANALYTICS_FIRST_DAY = date(2026, 1, 1)
# Engagement summaries lag: the latest day available is at least two days old.
ENGAGEMENT_LAG_DAYS = 2
ENGAGEMENT_LOOKBACK_DAYS = 3

Row = CostRow | UsageRow | Record


def datasets_of(provider: str) -> tuple[str, ...]:
    return ENTERPRISE_DATASETS if provider == Provider.ENTERPRISE else CONSOLE_DATASETS


@dataclass
class Chunk:
    """Rows that make the stored days ``[position, covered)`` complete."""

    covered: date
    rows: list[Any] = field(default_factory=list)


# Days of the Claude Code report fetched at once (each day is its own request series); kept
# small so a backfill never floods the API. A module constant, not a setting.
CLAUDE_CODE_FETCHERS = 6

# Longer than a page can take with all its retries (the client's max_total_wait of 300 s,
# plus one last request's deadline of 120 s), so a live worker never loses its lease.
LEASE_SECONDS = 480
# The outcome given to a run that never recorded its end (its process was killed).
INTERRUPTED = "interrupted"
INTERRUPTED_NOTE = (
    "This run ended without recording its end (its process was stopped or killed, or lost "
    "the database); the next run resumed where it stopped."
)


class LeaseLost(RuntimeError):
    """Another worker took this organization over (our lease had expired): stop writing."""


@dataclass
class SyncResult:
    """How one run of one organization ended."""

    organization_id: str
    name: str
    outcome: str  # ok | failed | key_rejected | skipped | stopped
    message: str | None = None
    pages: int = 0
    rows: int = 0
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)


def new_lease_owner() -> str:
    """Host, pid and a random part: a lease of a dead process on this host can be taken over."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class SyncEngine:
    """Runs organizations' syncs against the database; shared by the worker and `finops sync`."""

    def __init__(
        self,
        *,
        engine: Engine,
        settings: Settings,
        keystore: KeyStore,
        client_factory: ClientFactory,
        owner: str | None = None,
        should_stop: Callable[[], bool] = lambda: False,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.keystore = keystore
        self.client_factory = client_factory
        self.owner = owner or new_lease_owner()
        self.should_stop = should_stop
        self.clock = clock

    # --- what is due ---------------------------------------------------------------------

    def due_organizations(self) -> list[int]:
        """Organizations whose next run time has come and whose key works. Leases are checked
        when a run starts, so an organization held by a dead worker is still offered."""
        now = self.clock()
        with read_session(self.engine) as session:
            rows = session.execute(
                select(Organization.id)
                .where(
                    Organization.status != OrgStatus.KEY_REJECTED,
                    or_(Organization.next_run_at.is_(None), Organization.next_run_at <= now),
                )
                .order_by(Organization.next_run_at)
            ).scalars()
            return [int(pk) for pk in rows]

    # --- leases --------------------------------------------------------------------------

    def _acquire(self, org_pk: int) -> bool:
        now = self.clock()
        until = now + timedelta(seconds=LEASE_SECONDS)
        with write_session(self.engine) as session:
            claimed = session.execute(
                update(Organization)
                .where(
                    Organization.id == org_pk,
                    or_(
                        Organization.lease_owner.is_(None),
                        Organization.lease_expires_at < now,
                        Organization.lease_owner == self.owner,
                    ),
                )
                .values(lease_owner=self.owner, lease_expires_at=until)
            ).rowcount
            if claimed == 1:
                return True
            holder = session.execute(
                select(Organization.lease_owner).where(Organization.id == org_pk)
            ).scalar_one_or_none()
            if holder and _is_dead_local_process(holder):
                log.info("Taking over the lease of a worker that is no longer running")
                return bool(
                    session.execute(
                        update(Organization)
                        .where(Organization.id == org_pk, Organization.lease_owner == holder)
                        .values(lease_owner=self.owner, lease_expires_at=until)
                    ).rowcount
                )
            return False

    def _renew(self, session: Session, org_pk: int) -> None:
        """Extend the lease inside the caller's write transaction. This is the fence: if another
        worker holds the organization now, the whole transaction (its rows and position) rolls
        back instead of interleaving with the other worker's writes."""
        renewed = session.execute(
            update(Organization)
            .where(Organization.id == org_pk, Organization.lease_owner == self.owner)
            .values(lease_expires_at=self.clock() + timedelta(seconds=LEASE_SECONDS))
        ).rowcount
        if renewed != 1:
            raise LeaseLost("Another worker took over this organization; this run stopped.")

    def _release_quietly(self, org_pk: int) -> None:
        try:
            self._release(org_pk)
        except DBAPIError as exc:  # still locked or down: the lease expires on its own
            log.warning("Could not release the lease: %s", exc)

    def _release(self, org_pk: int) -> None:
        with write_session(self.engine) as session:
            session.execute(
                update(Organization)
                .where(Organization.id == org_pk, Organization.lease_owner == self.owner)
                .values(lease_owner=None, lease_expires_at=None)
            )

    # --- one organization ----------------------------------------------------------------

    def run(self, org_pk: int) -> SyncResult:
        """Sync one organization now (backfill or incremental); never raises for API errors."""
        with read_session(self.engine) as session:
            org = session.get(Organization, org_pk)
            if org is None:
                return SyncResult("", "", "skipped", "The organization no longer exists.")
        result = SyncResult(org.organization_id, org.display_name, "ok")
        if org.status == OrgStatus.KEY_REJECTED:
            result.outcome = "key_rejected"
            result.message = org.status_message or "The key was rejected; replace it."
            return result
        acquired = False
        try:
            acquired = self._acquire(org_pk)
            if not acquired:
                result.outcome = "skipped"
                result.message = "Another worker is syncing it right now."
                return result
            result.run_id = self._start_run(org_pk)
        except DBAPIError as exc:
            # Not even the lease or the run could be written (a locked or unreachable
            # database): say why; writing a status would wait on the same lock again.
            log.warning("Database error before syncing %s: %s", org.organization_id, exc)
            result.outcome, result.message = "failed", describe_database_error(exc)
            if acquired:
                self._release_quietly(org_pk)
            return result
        try:
            key = self.keystore.decrypt(org.key_ciphertext)
            enterprise = org.provider == Provider.ENTERPRISE
            with self.client_factory(org, key) as client:
                del key
                if not enterprise:
                    self._refresh_directory(client, org_pk)
                spend_marked = False
                for dataset in self._datasets(org.provider):
                    if dataset not in CORE_DATASETS and not spend_marked:
                        # Spend is in: say so now, while the secondary reports follow.
                        self._mark_healthy(org_pk)
                        spend_marked = True
                    try:
                        done = self._sync_dataset(client, org, dataset, result)
                    except AnthropicError as exc:
                        if dataset in CORE_DATASETS:
                            raise
                        # A secondary report that fails must not hide the spend, which just
                        # synced with the same key: note it; the next run resumes where it was.
                        log.warning("The %s report of %s failed: %s", dataset, org.name, exc)
                        result.notes.append(f"The {dataset.replace('_', ' ')} report: {exc}")
                        continue
                    if not done:
                        result.outcome = "stopped"
                        break
            if result.outcome == "ok":
                self._mark_healthy(org_pk, note=" ".join(result.notes) or None)
        except LeaseLost as exc:
            result.outcome, result.message = "skipped", str(exc)
        except (KeyRejected, KeyDecryptError) as exc:
            result.outcome, result.message = "key_rejected", str(exc)
            self._mark_key_rejected(org_pk, str(exc))
        except AnthropicError as exc:
            result.outcome = "failed"
            result.message = self._mark_failing(org_pk, str(exc))
        except DBAPIError as exc:
            # The database went away or refused the write (dropped connection, disk full,
            # locked): nothing of the failed page was committed; the next run resumes.
            log.warning("Database error while syncing %s: %s", org.organization_id, exc)
            result.outcome = "failed"
            message = describe_database_error(exc)
            try:
                result.message = self._mark_failing(org_pk, message)
            except DBAPIError:
                result.message = message
        except Exception as exc:  # a bug: keep the worker alive, say what
            log.exception("Sync of organization %s failed unexpectedly", org.organization_id)
            result.outcome = "failed"
            result.message = self._mark_failing(
                org_pk, f"Unexpected error: {exc.__class__.__name__}: {exc}"
            )
        finally:
            try:
                self._finish_run(result)
                self._release(org_pk)
            except DBAPIError as exc:  # still down: the lease expires on its own
                log.warning("Could not record the end of the run: %s", exc)
        return result

    # --- datasets ------------------------------------------------------------------------

    def _datasets(self, provider: str) -> tuple[str, ...]:
        datasets = datasets_of(provider)
        if not self.settings.claude_code:
            datasets = tuple(d for d in datasets if d != "claude_code")
        return datasets

    def _state(self, session: Session, org_pk: int, dataset: str) -> SyncState:
        state = session.execute(
            select(SyncState).where(
                SyncState.organization_pk == org_pk, SyncState.dataset == dataset
            )
        ).scalar_one_or_none()
        if state is None:
            state = SyncState(organization_pk=org_pk, dataset=dataset)
            session.add(state)
            session.flush()
        return state

    def _bounds(self, org: Organization, dataset: str) -> tuple[date, date, int]:
        """First day, end (exclusive) and trailing re-read days of a dataset's windows."""
        today = self.clock().date()
        if org.provider != Provider.ENTERPRISE:
            # Today's partial day included; the trailing window catches its late rows.
            return org.backfill_start, today + timedelta(days=1), self.settings.lookback_days
        first = max(org.backfill_start, ANALYTICS_FIRST_DAY, today - timedelta(days=364))
        if dataset == "engagement":
            end = today - timedelta(days=ENGAGEMENT_LAG_DAYS)
            return first, max(first, end), ENGAGEMENT_LOOKBACK_DAYS
        # The Analytics API refuses today; its values are revised for 30 days.
        return first, max(first, today), self.settings.enterprise_lookback_days

    def _open_window(self, org: Organization, dataset: str) -> SyncState:
        """The window in progress, or a new one: the backfill, or the trailing lookback."""
        assert org.id is not None
        first, end, lookback = self._bounds(org, dataset)
        with write_session(self.engine) as session:
            state = self._state(session, org.id, dataset)
            if state.window_start is None or state.position is None or state.window_end is None:
                if not state.backfill_done:
                    start = first
                else:
                    # After downtime, start where the data last ended (minus the lookback) so
                    # no day is left as a gap.
                    through = min(state.synced_through or end, end)
                    start = max(first, through - timedelta(days=lookback))
                state.window_start = start
                state.window_end = max(start, end)
                state.position = start
            session.add(state)
            return state

    def _sync_dataset(
        self, client: AdminClient, org: Organization, dataset: str, result: SyncResult
    ) -> bool:
        """Fetch the open window to its end; False if asked to stop in between."""
        assert org.id is not None
        org_pk = org.id
        state = self._open_window(org, dataset)
        assert state.position is not None and state.window_end is not None
        clipped = 0
        while True:
            try:
                # Closed on every way out, so a stop or an error cancels fetches ahead of it.
                with closing(self._chunks(client, org, dataset, state)) as chunks:
                    for chunk in chunks:
                        self._store_chunk(org_pk, dataset, state, chunk, result)
                        if self.should_stop() and state.position < state.window_end:
                            return False
                break
            except ResponseTooLarge as exc:
                # A page of 31 days too large to read (a very large organization): the same
                # window from the stored position, fewer days per page (7, then 1).
                if dataset not in CORE_DATASETS or not client.fewer_buckets_per_page():
                    raise
                log.warning("%s Asking for fewer days per page.", exc)
            except InvalidRequest:
                # Some API versions refuse a range that ends in the future (today's partial
                # day), and the engagement summaries lag by a day more or less than documented:
                # shorten the window a little rather than fail the whole sync.
                today = self.clock().date()
                if dataset == "engagement" or org.provider == Provider.ENTERPRISE:
                    # The Analytics API's "latest available day" is documented loosely.
                    if clipped >= 3 or state.window_end <= state.position:
                        raise
                    new_end = state.window_end - timedelta(days=1)
                elif clipped or state.window_end <= today or state.position >= today:
                    raise
                else:
                    new_end = today
                clipped += 1
                with write_session(self.engine) as session:
                    stored = self._state(session, org_pk, dataset)
                    stored.window_end = new_end
                    state.window_end = new_end
        with write_session(self.engine) as session:
            stored = self._state(session, org_pk, dataset)
            stored.synced_through = stored.window_end
            stored.window_start = stored.window_end = stored.position = None
            stored.backfill_done = True
            self._renew(session, org_pk)
        return True

    def _chunks(
        self, client: AdminClient, org: Organization, dataset: str, state: SyncState
    ) -> Iterator[Chunk]:
        """The window from the stored position on, as chunks to store one by one. Lazy: each
        chunk is built after the previous one was stored, from the position then."""
        assert state.position is not None and state.window_end is not None
        end = state.window_end
        if state.position >= end:
            return
        if dataset == "claude_code":
            yield from self._claude_code_chunks(client, state.position, end)
            return
        if org.provider != Provider.ENTERPRISE:
            fetch = client.iter_usage_pages if dataset == "usage" else client.iter_cost_pages
            for page in fetch(midnight(state.position), midnight(end)):
                yield self._page_chunk(dataset, state, page, end)
            return
        # Claude Enterprise: one query spans at most 31 days.
        while state.position < end:
            chunk_end = min(end, state.position + timedelta(days=ANALYTICS_MAX_DAYS))
            if dataset in ("usage", "cost"):
                fetch = (
                    client.iter_analytics_usage_pages
                    if dataset == "usage"
                    else client.iter_analytics_cost_pages
                )
                for page in fetch(midnight(state.position), midnight(chunk_end)):
                    capped = any(len(b.results) >= ANALYTICS_TOP_GROUPS for b in page.buckets)
                    chunk = self._page_chunk(dataset, state, page, chunk_end)
                    if capped:
                        chunk.rows += self._beyond_top_groups(
                            client, dataset, state.position, chunk.covered, chunk.rows
                        )
                    yield chunk
            elif dataset == "engagement":
                rows = [
                    parse_summary(raw) for raw in client.get_summaries(state.position, chunk_end)
                ]
                start = state.position
                yield Chunk(chunk_end, [r for r in rows if start <= r.day < chunk_end])
            else:
                parse = parse_user_cost if dataset == "user_cost" else parse_user_usage
                for day, raws in client.iter_user_report(
                    f"{dataset}_report", state.position, chunk_end
                ):
                    yield Chunk(day + timedelta(days=1), [parse(day, raw) for raw in raws])
            if state.position < chunk_end:  # an empty answer still covers its range
                yield Chunk(chunk_end, [])

    def _claude_code_chunks(self, client: AdminClient, start: date, end: date) -> Iterator[Chunk]:
        """One chunk per day of ``[start, end)``, in day order. The report is a request series
        per day, so up to ``CLAUDE_CODE_FETCHERS`` days are fetched at once; they are handed
        out strictly in order, so a failure on a day (raised as the API's own error when its
        turn comes) leaves the days before it stored and nothing after. Closing the generator
        (a stop, an error) cancels the days not yet started and does not wait for those in
        flight: their answers are dropped."""

        def fetch(day: date) -> list[Record]:
            records = [
                parse_claude_code_record(raw)
                for page in client.iter_claude_code(day)
                for raw in page
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

    def _beyond_top_groups(
        self, client: AdminClient, dataset: str, start: date, end: date, rows: list[Any]
    ) -> list[Any]:
        """Rows for what the API's top-100-groups cap left out: each day's ungrouped total
        minus its grouped rows, kept as one row without product or model so totals stay exact."""
        if start >= end:
            return []
        fetch = (
            client.iter_analytics_usage_pages
            if dataset == "usage"
            else client.iter_analytics_cost_pages
        )
        parse = parse_usage_result if dataset == "usage" else parse_cost_result
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

    def _page_chunk(self, dataset: str, state: SyncState, page: ReportPage, end: date) -> Chunk:
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

    def _store_chunk(
        self, org_pk: int, dataset: str, state: SyncState, chunk: Chunk, result: SyncResult
    ) -> None:
        """Replace the chunk's days and advance the position, in one transaction."""
        assert state.position is not None
        start, covered = state.position, max(chunk.covered, state.position)
        rows = [r for r in chunk.rows if start <= r.day < covered]
        written_days = {r.day for r in rows}
        with write_session(self.engine) as session:
            stored_rows, deleted = store.replace_days_counted(
                session, org_pk, dataset, start, covered, rows
            )
            stored = self._state(session, org_pk, dataset)
            store.advance_stored_range(
                session, org_pk, stored, start, covered, written_days, stored_rows, deleted
            )
            stored.position = covered
            org = session.get(Organization, org_pk)
            if org is not None and not stored.backfill_done and dataset in CORE_DATASETS:
                org.backfill_progress = self._progress(session, org_pk)
            self._renew(session, org_pk)
            session.execute(
                update(SyncRun)
                .where(SyncRun.id == result.run_id)  # type: ignore[arg-type]
                .values(pages=result.pages + 1, rows=result.rows + stored_rows)
            )
        state.position = covered
        result.pages += 1
        result.rows += stored_rows

    def _progress(self, session: Session, org_pk: int) -> float:
        """Share of the backfill's days stored, over both core datasets (usage, then cost)."""
        org = session.get(Organization, org_pk)
        if org is None:
            return 0.0
        first, end, _ = self._bounds(org, "usage")
        span = max(1, (end - first).days)
        states = {
            s.dataset: s
            for s in session.execute(
                select(SyncState).where(SyncState.organization_pk == org_pk)
            ).scalars()
        }
        done = 0
        for dataset in CORE_DATASETS:
            state = states.get(dataset)
            if state is None:
                continue
            if state.backfill_done:
                done += span
            elif state.position is not None and state.window_start is not None:
                done += min(span, max(0, (state.position - state.window_start).days))
        return round(done / (span * len(CORE_DATASETS)), 4)

    # --- directory ------------------------------------------------------------------------

    def _refresh_directory(self, client: AdminClient, org_pk: int) -> None:
        """Workspace and API key names, refreshed every run (renames show up)."""
        workspaces = list(client.iter_workspaces())
        api_keys = list(client.iter_api_keys())
        with write_session(self.engine) as session:
            store.store_directory(session, org_pk, workspaces, api_keys)

    # --- run records and status -----------------------------------------------------------

    def _start_run(self, org_pk: int) -> int:
        now = self.clock()
        with write_session(self.engine) as session:
            states = (
                session.execute(select(SyncState).where(SyncState.organization_pk == org_pk))
                .scalars()
                .all()
            )
            done = {s.dataset for s in states if s.backfill_done}
            backfilled = set(CORE_DATASETS) <= done
            # This run holds the lease: any run of the organization still "running" lost its
            # process (killed, or unable to record its end) and will never finish.
            session.execute(
                update(SyncRun)
                .where(SyncRun.organization_pk == org_pk, SyncRun.outcome == "running")
                .values(outcome=INTERRUPTED, finished_at=now, error=INTERRUPTED_NOTE)
            )
            run = SyncRun(
                organization_pk=org_pk,
                kind="incremental" if backfilled else "backfill",
                started_at=now,
            )
            session.add(run)
            org = session.get(Organization, org_pk)
            if org is not None:
                org.last_attempt_at = now
            session.flush()
            assert run.id is not None
            return run.id

    def close_interrupted_runs(self) -> int:
        """Close as interrupted the runs left "running" by a process that is gone: their
        organization's lease is free, expired, or held by a dead process of this host. Runs
        of organizations a live worker holds are left alone. Returns how many were closed."""
        now = self.clock()
        with write_session(self.engine) as session:
            rows = session.execute(
                select(SyncRun.id, Organization.lease_owner, Organization.lease_expires_at)
                .join(Organization, Organization.id == SyncRun.organization_pk)
                .where(SyncRun.outcome == "running")
            ).all()
            gone = [
                run_id
                for run_id, owner, expires in rows
                if owner is None
                or expires is None
                or expires < now
                or _is_dead_local_process(owner)
            ]
            if gone:
                session.execute(
                    update(SyncRun)
                    .where(SyncRun.id.in_(gone))  # type: ignore[union-attr]
                    .values(outcome=INTERRUPTED, finished_at=now, error=INTERRUPTED_NOTE)
                )
            return len(gone)

    def _finish_run(self, result: SyncResult) -> None:
        with write_session(self.engine) as session:
            run = session.get(SyncRun, result.run_id)
            if run is not None:
                run.finished_at = self.clock()
                run.pages, run.rows = result.pages, result.rows
                run.outcome = result.outcome
                run.error = redact(result.message) if result.message else None

    def _mark_healthy(self, org_pk: int, note: str | None = None) -> None:
        now = self.clock()
        first_completion = False
        with write_session(self.engine) as session:
            org = session.get(Organization, org_pk)
            if org is None:
                return
            if org.backfill_completed_at is None:
                org.backfill_completed_at = now
                first_completion = True
            name, organization_id = org.display_name, org.organization_id
            org.status = OrgStatus.HEALTHY
            org.status_message = redact(note) if note else None
            org.backfill_progress = 1.0
            org.last_synced_at = now
            org.consecutive_failures = 0
            org.next_run_at = now + timedelta(minutes=self.settings.sync_interval_minutes)
        if first_completion:
            # Months of rows just arrived: the planner's statistics must know them.
            refresh_statistics(self.engine)
            send_ready_email(self.settings, name, organization_id)

    def _mark_key_rejected(self, org_pk: int, message: str) -> None:
        with write_session(self.engine) as session:
            org = session.get(Organization, org_pk)
            if org is None:
                return
            org.status = OrgStatus.KEY_REJECTED
            org.status_message = redact(message)
            org.next_run_at = None

    def _mark_failing(self, org_pk: int, message: str) -> str:
        now = self.clock()
        with write_session(self.engine) as session:
            org = session.get(Organization, org_pk)
            if org is None:
                return message
            org.consecutive_failures += 1
            # 1, 2, 4, ... minutes, never longer than the normal interval.
            delay = min(
                self.settings.sync_interval_minutes, 2 ** min(org.consecutive_failures - 1, 10)
            )
            org.next_run_at = now + timedelta(minutes=delay)
            text = f"{redact(message)} Next retry at {org.next_run_at:%Y-%m-%d %H:%M} UTC."
            org.status = OrgStatus.FAILING
            org.status_message = text
            return text


def describe_database_error(exc: DBAPIError) -> str:
    """What a user reads when the database refused a sync's write. A lock held past the busy
    timeout is named as such, with what to do (``app.db``'s wording), not as a configuration
    problem; anything else gives the driver's first line."""
    described = describe_db_error(exc)
    if described.startswith("The database is locked"):
        return (
            f"The sync stopped: t{described[1:]} Nothing partial was kept; the next run "
            "resumes where this one stopped."
        )
    reason = str(exc.orig or exc).strip().splitlines()[0][:300] if str(exc.orig or exc) else ""
    return f"The database failed during the sync ({reason}); nothing partial was kept."


def _is_dead_local_process(owner: str) -> bool:
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
