"""Each dataset's stored row count and day range (``sync_state``), kept page by page."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlmodel import Session

from app.datasets import spec_of
from app.models import SyncState


def advance_stored_range(
    session: Session,
    org_pk: int,
    state: SyncState,
    start: date,
    end: date,
    written_days: set[date],
    inserted: int,
    deleted: int,
) -> None:
    """Row count and day range of one dataset after its days ``[start, end)`` were replaced
    (``deleted`` rows out, ``inserted`` in), without counting the organization's rows again:
    that count grew with every page of a large backfill. The values are the ones
    ``refresh_stored_range`` would find; rows outside ``[start, end)`` were untouched, so a
    stored bound outside it still holds, and one inside it is replaced by the days written."""
    count = state.row_count + inserted - deleted
    if count < 0 or (count > 0 and state.first_day is None and not written_days):
        refresh_stored_range(session, org_pk, state)  # not consistent: count once, exactly
        return
    if count == 0:
        state.row_count, state.first_day, state.last_day = 0, None, None
        return
    model = spec_of(state.dataset).table
    bounds: list[date | None] = []
    for old, pick, later in (
        (state.first_day, min, model.date >= end),
        (state.last_day, max, model.date < start),
    ):
        candidates = set(written_days)
        if old is not None and not start <= old < end:
            candidates.add(old)
        if candidates:
            bounds.append(pick(candidates))
        else:
            # The boundary day was emptied by a revision and nothing was written: the new
            # bound lies beyond the replaced days; one index lookup finds it.
            bound = session.execute(
                select(func.min(model.date) if pick is min else func.max(model.date)).where(
                    model.organization_pk == org_pk, later
                )
            ).scalar_one()
            bounds.append(bound)
    state.row_count, state.first_day, state.last_day = count, bounds[0], bounds[1]


def refresh_stored_range(session: Session, org_pk: int, state: SyncState) -> None:
    """Row count and day range of one dataset, counted in full (``advance_stored_range``
    keeps them page by page; this is its fallback)."""
    model = spec_of(state.dataset).table
    count, first, last = session.execute(
        select(func.count(), func.min(model.date), func.max(model.date)).where(
            model.organization_pk == org_pk
        )
    ).one()
    state.row_count, state.first_day, state.last_day = int(count), first, last
