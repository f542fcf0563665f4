"""What a sync says about itself: the run records (``sync_run``) and the organization's status.

A run is recorded when it starts and closed when it ends; a run whose process died is closed
as interrupted. The organization's status (healthy, failing with a retry time, key rejected)
is what the Organizations page shows.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import col

from app.datasets import CORE_DATASETS
from app.db import describe_database_error as describe_db_error
from app.db import refresh_statistics, write_session
from app.models import Organization, OrgStatus, SyncOutcome, SyncRun, SyncState
from app.redact import redact
from app.settings import Settings
from ingest.leases import is_dead_local_process
from ingest.notify import send_ready_email

log = logging.getLogger(__name__)

# The outcome given to a run that never recorded its end (its process was killed).
INTERRUPTED = SyncOutcome.INTERRUPTED
INTERRUPTED_NOTE = (
    "This run ended without recording its end (its process was stopped or killed, or lost "
    "the database); the next run resumed where it stopped."
)


@dataclass
class SyncResult:
    """How one run of one organization ended."""

    organization_id: str
    name: str
    outcome: SyncOutcome  # never RUNNING nor INTERRUPTED: only a stored run has those
    message: str | None = None
    pages: int = 0
    rows: int = 0
    run_id: int | None = None
    notes: list[str] = field(default_factory=list)


# --- run records ---------------------------------------------------------------------------


def start_run(engine: Engine, org_pk: int, now: datetime) -> int:
    """Record a run starting now (a backfill until both core datasets are done); the caller
    holds the lease, so any run of the organization still "running" is closed as interrupted."""
    with write_session(engine) as session:
        states = (
            session.execute(select(SyncState).where(col(SyncState.organization_pk) == org_pk))
            .scalars()
            .all()
        )
        done = {s.dataset for s in states if s.backfill_done}
        backfilled = set(CORE_DATASETS) <= done
        # This run holds the lease: any run of the organization still "running" lost its
        # process (killed, or unable to record its end) and will never finish.
        session.execute(
            update(SyncRun)
            .where(
                col(SyncRun.organization_pk) == org_pk, col(SyncRun.outcome) == SyncOutcome.RUNNING
            )
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


def close_interrupted_runs(engine: Engine, now: datetime) -> int:
    """Close as interrupted the runs left "running" by a process that is gone: their
    organization's lease is free, expired, or held by a dead process of this host. Runs
    of organizations a live worker holds are left alone. Returns how many were closed."""
    with write_session(engine) as session:
        rows = session.execute(
            select(
                col(SyncRun.id), col(Organization.lease_owner), col(Organization.lease_expires_at)
            )
            .join(Organization, col(Organization.id) == col(SyncRun.organization_pk))
            .where(col(SyncRun.outcome) == SyncOutcome.RUNNING)
        ).all()
        gone = [
            run_id
            for run_id, owner, expires in rows
            if owner is None or expires is None or expires < now or is_dead_local_process(owner)
        ]
        if gone:
            session.execute(
                update(SyncRun)
                .where(col(SyncRun.id).in_(gone))
                .values(outcome=INTERRUPTED, finished_at=now, error=INTERRUPTED_NOTE)
            )
        return len(gone)


def finish_run(engine: Engine, result: SyncResult, now: datetime) -> None:
    with write_session(engine) as session:
        run = session.get(SyncRun, result.run_id)
        if run is not None:
            run.finished_at = now
            run.pages, run.rows = result.pages, result.rows
            run.outcome = result.outcome
            run.error = redact(result.message) if result.message else None


# --- the organization's status -------------------------------------------------------------


def mark_healthy(
    engine: Engine, settings: Settings, org_pk: int, now: datetime, note: str | None = None
) -> None:
    first_completion = False
    with write_session(engine) as session:
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
        org.next_run_at = now + timedelta(minutes=settings.sync_interval_minutes)
    if first_completion:
        # Months of rows just arrived: the planner's statistics must know them.
        refresh_statistics(engine)
        send_ready_email(settings, name, organization_id)


def mark_key_rejected(engine: Engine, org_pk: int, message: str) -> None:
    with write_session(engine) as session:
        org = session.get(Organization, org_pk)
        if org is None:
            return
        org.status = OrgStatus.KEY_REJECTED
        org.status_message = redact(message)
        org.next_run_at = None


def mark_failing(
    engine: Engine, settings: Settings, org_pk: int, message: str, now: datetime
) -> str:
    with write_session(engine) as session:
        org = session.get(Organization, org_pk)
        if org is None:
            return message
        org.consecutive_failures += 1
        # 1, 2, 4, ... minutes, never longer than the normal interval.
        delay = min(settings.sync_interval_minutes, 2 ** min(org.consecutive_failures - 1, 10))
        org.next_run_at = now + timedelta(minutes=delay)
        text = f"{redact(message)} Next retry at {org.next_run_at:%Y-%m-%d %H:%M} UTC."
        org.status = OrgStatus.FAILING
        org.status_message = text
        return text


def describe_database_error(exc: DBAPIError) -> str:
    """What a user reads when the database refused a sync's write: ``app.db``'s wording (a
    lock held by another process, a full disk, else the driver's first line), and that the
    failed page left nothing behind."""
    return (
        f"The sync stopped. {describe_db_error(exc)} Nothing partial was kept; the next run "
        "resumes where this one stopped."
    )


def mark_unavailable(engine: Engine, org_pk: int, dataset: str, reason: str) -> None:
    """Record why a secondary dataset could not be fetched (``sync_state.unavailable_reason``;
    cleared when it next syncs). The organization's own status is not touched: its spend
    synced. A database error here is logged, never raised over the sync's own outcome."""
    try:
        with write_session(engine) as session:
            state = session.execute(
                select(SyncState).where(
                    col(SyncState.organization_pk) == org_pk, col(SyncState.dataset) == dataset
                )
            ).scalar_one_or_none()
            if state is None:
                state = SyncState(organization_pk=org_pk, dataset=dataset)
            state.unavailable_reason = redact(reason)
            session.add(state)
    except DBAPIError as exc:
        log.warning("Could not record why %s is unavailable: %s", dataset, exc)
