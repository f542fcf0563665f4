"""The syncer: backfill and incremental runs of one organization, resumable page by page.

Each dataset is fetched as a window ``[window_start, window_end)`` of whole UTC days. Every
chunk (a page of buckets, or one day of records) replaces the stored rows of the days it covers
and advances the stored position in one transaction, so a killed worker resumes where it
stopped with no duplicates and no gaps, and rows that disappeared upstream disappear here too.

Console organizations have usage, cost, the Claude Code report and per-key cost (the Usage
and Cost Analytics API, beta: a key that may not read it leaves the rest synced and the
dataset's ``sync_state.unavailable_reason`` saying why); Claude Enterprise
organizations have usage, cost, per-user cost and usage, and engagement summaries, fetched
within the Analytics API's rules (nothing before 2026-01-01, 31-day queries, a 30-day
revision window, no request for today).

This module is the orchestration; the parts live next to it: ``leases`` (one worker per
organization), ``status`` (run records, the organization's status), ``windows`` (each
dataset's window and the backfill's progress), ``directory``, ``sources.console`` and
``sources.enterprise`` (the fetching), and ``app.store`` (the write path).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from contextlib import closing
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app import store
from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.errors import (
    AnthropicError,
    InvalidRequest,
    KeyRejected,
    PageOverBudget,
    ResponseTooLarge,
)
from app.clock import utcnow
from app.datasets import CORE_DATASETS, Dataset, datasets_of
from app.db import read_session, write_session
from app.keystore import KeyDecryptError, KeyStore
from app.models import Organization, OrgStatus, Provider, SyncOutcome, SyncRun, SyncState
from app.runtime import Client, ClientFactory
from app.settings import Settings
from ingest import leases, status, windows
from ingest.chunks import Chunk
from ingest.directory import refresh_directory
from ingest.leases import LeaseLost, new_lease_owner
from ingest.pages import PageSize
from ingest.sources import console, enterprise
from ingest.status import SyncResult, describe_database_error

log = logging.getLogger(__name__)

_Api = TypeVar("_Api", AdminClient, AnalyticsClient)


def _speaking(client: Client, api: type[_Api]) -> _Api:
    """The client as the API the organization's dataset needs (the factory gives an
    ``AnalyticsClient`` to Claude Enterprise organizations, an ``AdminClient`` to the others)."""
    if not isinstance(client, api):
        raise TypeError(
            f"{api.__name__} needed here, the client factory gave a {type(client).__name__}"
        )
    return client


class Syncer:
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

    def due_organizations(self) -> list[int]:
        """Organizations whose next run time has come and whose key works. Leases are checked
        when a run starts, so an organization held by a dead worker is still offered."""
        now = self.clock()
        with read_session(self.engine) as session:
            rows = session.execute(
                select(col(Organization.id))
                .where(
                    col(Organization.status) != OrgStatus.KEY_REJECTED,
                    or_(
                        col(Organization.next_run_at).is_(None),
                        col(Organization.next_run_at) <= now,
                    ),
                )
                .order_by(col(Organization.next_run_at))
            ).scalars()
            return [int(pk) for pk in rows]

    def close_interrupted_runs(self) -> int:
        """Close the runs a stopped or killed process left "running" (see ``status``)."""
        return status.close_interrupted_runs(self.engine, self.clock())

    # --- one organization ----------------------------------------------------------------

    def run(self, org_pk: int) -> SyncResult:
        """Sync one organization now (backfill or incremental); never raises for API errors."""
        with read_session(self.engine) as session:
            org = session.get(Organization, org_pk)
            if org is None:
                return SyncResult("", "", SyncOutcome.SKIPPED, "The organization no longer exists.")
        result = SyncResult(org.organization_id, org.display_name, SyncOutcome.OK)
        if org.status == OrgStatus.KEY_REJECTED:
            result.outcome = SyncOutcome.KEY_REJECTED
            result.message = org.status_message or "The key was rejected; replace it."
            return result
        acquired = False
        try:
            acquired = leases.acquire(self.engine, org_pk, self.owner, self.clock())
            if not acquired:
                result.outcome = SyncOutcome.SKIPPED
                result.message = "Another worker is syncing it right now."
                return result
            result.run_id = status.start_run(self.engine, org_pk, self.clock())
        except DBAPIError as exc:
            # Not even the lease or the run could be written (a locked or unreachable
            # database): say why; writing a status would wait on the same lock again.
            log.warning("Database error before syncing %s: %s", org.organization_id, exc)
            result.outcome, result.message = SyncOutcome.FAILED, describe_database_error(exc)
            if acquired:
                leases.release_quietly(self.engine, org_pk, self.owner)
            return result
        try:
            key = self.keystore.decrypt(org.key_ciphertext)
            enterprise_org = org.provider == Provider.ENTERPRISE
            with self.client_factory(org, key) as client:
                del key
                if not enterprise_org:
                    refresh_directory(self.engine, _speaking(client, AdminClient), org_pk)
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
                        status.mark_unavailable(self.engine, org_pk, dataset, str(exc))
                        continue
                    if not done:
                        result.outcome = SyncOutcome.STOPPED
                        break
            if result.outcome == SyncOutcome.OK:
                self._mark_healthy(org_pk, note=" ".join(result.notes) or None)
        except LeaseLost as exc:
            result.outcome, result.message = SyncOutcome.SKIPPED, str(exc)
        except (KeyRejected, KeyDecryptError) as exc:
            result.outcome, result.message = SyncOutcome.KEY_REJECTED, str(exc)
            status.mark_key_rejected(self.engine, org_pk, str(exc))
        except AnthropicError as exc:
            result.outcome = SyncOutcome.FAILED
            result.message = self._mark_failing(org_pk, str(exc))
        except DBAPIError as exc:
            # The database went away or refused the write (dropped connection, disk full,
            # locked): nothing of the failed page was committed; the next run resumes.
            log.warning("Database error while syncing %s: %s", org.organization_id, exc)
            result.outcome = SyncOutcome.FAILED
            message = describe_database_error(exc)
            try:
                result.message = self._mark_failing(org_pk, message)
            except DBAPIError:
                result.message = message
        except Exception as exc:  # a bug: keep the worker alive, say what
            log.exception("Sync of organization %s failed unexpectedly", org.organization_id)
            result.outcome = SyncOutcome.FAILED
            result.message = self._mark_failing(
                org_pk, f"Unexpected error: {exc.__class__.__name__}: {exc}"
            )
        finally:
            try:
                status.finish_run(self.engine, result, self.clock())
                leases.release(self.engine, org_pk, self.owner)
            except DBAPIError as exc:  # still down: the lease expires on its own
                log.warning("Could not record the end of the run: %s", exc)
        return result

    def _mark_healthy(self, org_pk: int, note: str | None = None) -> None:
        status.mark_healthy(self.engine, self.settings, org_pk, self.clock(), note)

    def _mark_failing(self, org_pk: int, message: str) -> str:
        return status.mark_failing(self.engine, self.settings, org_pk, message, self.clock())

    # --- datasets ------------------------------------------------------------------------

    def _datasets(self, provider: str) -> tuple[Dataset, ...]:
        datasets = datasets_of(provider)
        if not self.settings.claude_code:
            datasets = tuple(d for d in datasets if d != Dataset.CLAUDE_CODE)
        return datasets

    def _sync_dataset(
        self, client: Client, org: Organization, dataset: str, result: SyncResult
    ) -> bool:
        """Fetch the open window to its end; False if asked to stop in between."""
        assert org.id is not None
        org_pk = org.id
        state = windows.open_window(self.engine, org, dataset, self.settings, self.clock().date())
        assert state.position is not None and state.window_end is not None
        clipped = 0
        # Days per report page, from the rows per day stored (then measured page by page).
        size = PageSize.for_window(state)
        while True:
            try:
                # Closed on every way out, so a stop or an error cancels fetches ahead of it.
                with closing(self._chunks(client, org, dataset, state, size)) as chunks:
                    for chunk in chunks:
                        self._store_chunk(org_pk, dataset, state, chunk, result)
                        # Stored: its rows are not held while the next page is fetched.
                        chunk.rows.clear()
                        del chunk
                        if self.should_stop() and state.position < state.window_end:
                            return False
                break
            except PageOverBudget as exc:
                # A page of several days beyond the page budget, refused unread (the first
                # page of a large organization): as many days as fit, from the stored position.
                console_report = dataset in CORE_DATASETS and org.provider != Provider.ENTERPRISE
                if not console_report or not size.over_budget(exc):
                    raise
                log.info("%s %s days per page.", exc, size.days)
            except ResponseTooLarge as exc:
                # A page too large to read (a very large organization): the same window from
                # the stored position, fewer days per page (a quarter: 31, 7, then 1).
                if dataset not in CORE_DATASETS:
                    raise
                fewer = (
                    client.fewer_buckets_per_page()
                    if org.provider == Provider.ENTERPRISE
                    else size.fewer()
                )
                if not fewer:
                    raise
                log.warning("%s Asking for fewer days per page.", exc)
            except InvalidRequest as exc:
                # Some API versions refuse a range that ends in the future (today's partial
                # day), and the engagement summaries lag by a day more or less than documented:
                # shorten the window a little rather than fail the whole sync. Only a 400 is
                # about the range (a 403 or 404 of a secondary dataset is not).
                if exc.status not in (None, 400):
                    raise
                today = self.clock().date()
                if dataset == Dataset.ENGAGEMENT or org.provider == Provider.ENTERPRISE:
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
                    stored = windows.dataset_state(session, org_pk, dataset)
                    stored.window_end = new_end
                    state.window_end = new_end
        with write_session(self.engine) as session:
            stored = windows.dataset_state(session, org_pk, dataset)
            stored.synced_through = stored.window_end
            stored.window_start = stored.window_end = stored.position = None
            stored.backfill_done = True
            stored.unavailable_reason = None
            leases.renew(session, org_pk, self.owner, self.clock())
        return True

    def _chunks(
        self, client: Client, org: Organization, dataset: str, state: SyncState, size: PageSize
    ) -> Generator[Chunk, None, None]:
        """The window from the stored position on, as chunks to store one by one. Lazy: each
        chunk is built after the previous one was stored, from the position then."""
        assert state.position is not None and state.window_end is not None
        end = state.window_end
        if state.position >= end:
            return
        if dataset == Dataset.CLAUDE_CODE:
            yield from console.claude_code_chunks(
                _speaking(client, AdminClient), state.position, end
            )
        elif dataset == Dataset.KEY_COST:
            yield from console.key_cost_chunks(_speaking(client, AdminClient), state, end)
        elif dataset == Dataset.KEY_USAGE:
            yield from console.key_usage_chunks(_speaking(client, AdminClient), state, end)
        elif org.provider != Provider.ENTERPRISE:
            admin = _speaking(client, AdminClient)
            yield from console.report_chunks(admin, dataset, state, end, size)
        else:
            api = _speaking(client, AnalyticsClient)
            yield from enterprise.analytics_chunks(api, dataset, state, end)

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
            stored = windows.dataset_state(session, org_pk, dataset)
            store.advance_stored_range(
                session, org_pk, stored, start, covered, written_days, stored_rows, deleted
            )
            stored.position = covered
            org = session.get(Organization, org_pk)
            if org is not None and not stored.backfill_done and dataset in CORE_DATASETS:
                org.backfill_progress = windows.backfill_progress(
                    session, org_pk, self.settings, self.clock().date()
                )
            leases.renew(session, org_pk, self.owner, self.clock())
            session.execute(
                update(SyncRun)
                .where(col(SyncRun.id) == result.run_id)
                .values(pages=result.pages + 1, rows=result.rows + stored_rows)
            )
        state.position = covered
        result.pages += 1
        result.rows += stored_rows
