"""Each dataset's fetch window (``sync_state``): where it starts and ends, and how far the
backfill has come. A window is ``[window_start, window_end)`` of whole UTC days, fetched from
its stored ``position`` on; the backfill first, then the trailing lookback of each run."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from app.datasets import CORE_DATASETS, Dataset
from app.db import write_session
from app.models import Organization, Provider, SyncState
from app.settings import Settings

# The Analytics API has no data before this day.
ANALYTICS_FIRST_DAY = date(2026, 1, 1)
# Engagement summaries lag: the latest day available is at least two days old.
ENGAGEMENT_LAG_DAYS = 2
ENGAGEMENT_LOOKBACK_DAYS = 3


def dataset_state(session: Session, org_pk: int, dataset: str) -> SyncState:
    """The dataset's stored state, created (empty) the first time."""
    state = session.execute(
        select(SyncState).where(
            col(SyncState.organization_pk) == org_pk, col(SyncState.dataset) == dataset
        )
    ).scalar_one_or_none()
    if state is None:
        state = SyncState(organization_pk=org_pk, dataset=dataset)
        session.add(state)
        session.flush()
    return state


def bounds(
    org: Organization, dataset: str, settings: Settings, today: date
) -> tuple[date, date, int]:
    """First day, end (exclusive) and trailing re-read days of a dataset's windows."""
    if dataset in (Dataset.KEY_COST, Dataset.KEY_USAGE):
        # The Usage and Cost Analytics API: nothing before 2026-01-01, a start within the last
        # 365 days (a day to spare); today's partial day as the Console reports.
        first = max(org.backfill_start, ANALYTICS_FIRST_DAY, today - timedelta(days=364))
        end = today + timedelta(days=1)
        return first, max(first, end), settings.lookback_days
    if org.provider != Provider.ENTERPRISE:
        # Today's partial day included; the trailing window catches its late rows.
        return org.backfill_start, today + timedelta(days=1), settings.lookback_days
    first = max(org.backfill_start, ANALYTICS_FIRST_DAY, today - timedelta(days=364))
    if dataset == Dataset.ENGAGEMENT:
        end = today - timedelta(days=ENGAGEMENT_LAG_DAYS)
        return first, max(first, end), ENGAGEMENT_LOOKBACK_DAYS
    # The Analytics API refuses today; its values are revised for 30 days.
    return first, max(first, today), settings.enterprise_lookback_days


def open_window(
    engine: Engine, org: Organization, dataset: str, settings: Settings, today: date
) -> SyncState:
    """The window in progress, or a new one: the backfill, or the trailing lookback."""
    assert org.id is not None
    first, end, lookback = bounds(org, dataset, settings, today)
    with write_session(engine) as session:
        state = dataset_state(session, org.id, dataset)
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


def backfill_progress(session: Session, org_pk: int, settings: Settings, today: date) -> float:
    """Share of the backfill's days stored, over both core datasets (usage, then cost)."""
    org = session.get(Organization, org_pk)
    if org is None:
        return 0.0
    first, end, _ = bounds(org, Dataset.USAGE, settings, today)
    span = max(1, (end - first).days)
    states = {
        s.dataset: s
        for s in session.execute(
            select(SyncState).where(col(SyncState.organization_pk) == org_pk)
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
