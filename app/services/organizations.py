"""Connected organizations: their sync status for tables and `finops orgs`, and deletion."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Engine, Table, delete, func, select
from sqlmodel import Session, SQLModel, col

from app.clock import utcnow
from app.datasets import Dataset
from app.db import read_session, write_session
from app.models import Organization, SyncOutcome, SyncRun, SyncState
from app.reports.labels import provider_label
from app.services.access import Actor, require_admin
from app.services.audit import record


@dataclass
class OrgSummary:
    """What a person needs to know about one connection; never any key material but the hint."""

    organization_id: str
    name: str
    label: str | None
    provider: str
    key_hint: str
    status: str
    status_message: str | None
    backfill_progress: float
    last_synced_at: datetime | None
    next_run_at: datetime | None
    backfill_completed_at: datetime | None
    data_start: date | None
    data_end: date | None
    cost_rows: int
    usage_rows: int
    is_demo: bool
    # When the run a worker is doing now started (None: no sync is running).
    sync_started_at: datetime | None = None
    # Why a secondary dataset is not synced, per dataset (per-key cost refused to this key or
    # not offered to the organization): the rest is healthy, so the status does not say it.
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def sync_running(self) -> bool:
        return self.sync_started_at is not None

    @property
    def provider_label(self) -> str:
        return provider_label(self.provider)

    def as_json(self) -> dict[str, Any]:
        """What `finops orgs --json` prints. ``provider`` is the value people see ("Anthropic"
        or "Anthropic (Analytics API)"); ``provider_id`` is the stored one."""
        data = asdict(self)
        data["provider_id"] = self.provider
        data["provider"] = self.provider_label
        for name in ("last_synced_at", "next_run_at", "backfill_completed_at", "sync_started_at"):
            value = data[name]
            data[name] = value.strftime("%Y-%m-%dT%H:%M:%SZ") if value else None
        for name in ("data_start", "data_end"):
            data[name] = data[name].isoformat() if data[name] else None
        data["provider_label"] = self.provider_label
        return data


def list_organizations(engine: Engine) -> list[OrgSummary]:
    """Every connected organization with its status, data range and row counts."""
    with read_session(engine) as session:
        orgs = session.execute(
            select(Organization).order_by(col(Organization.created_at))
        ).scalars()
        stored = _stored(session)
        running = _running_since(session)
        cost = {pk: v[:3] for (pk, dataset), v in stored.items() if dataset == Dataset.COST}
        usage = {pk: v[:3] for (pk, dataset), v in stored.items() if dataset == Dataset.USAGE}
        unavailable: dict[int, dict[str, str]] = {}
        for (pk, dataset), (*_, reason) in stored.items():
            if reason:
                unavailable.setdefault(pk, {})[dataset] = reason
        summaries = []
        for org in orgs:
            c = cost.get(org.id, (None, None, 0))
            u = usage.get(org.id, (None, None, 0))
            starts = [d for d in (c[0], u[0]) if d is not None]
            ends = [d for d in (c[1], u[1]) if d is not None]
            summaries.append(
                OrgSummary(
                    organization_id=org.organization_id,
                    name=org.display_name,
                    label=org.label,
                    provider=org.provider,
                    key_hint=org.key_hint,
                    status=org.status,
                    status_message=org.status_message,
                    backfill_progress=round(org.backfill_progress, 4),
                    last_synced_at=org.last_synced_at,
                    next_run_at=org.next_run_at,
                    backfill_completed_at=org.backfill_completed_at,
                    data_start=min(starts) if starts else None,
                    data_end=max(ends) if ends else None,
                    cost_rows=int(c[2]),
                    usage_rows=int(u[2]),
                    is_demo=org.is_demo,
                    sync_started_at=running.get(org.id) if org.id is not None else None,
                    unavailable=unavailable.get(org.id, {}) if org.id is not None else {},
                )
            )
        return summaries


def _running_since(session: Session) -> dict[int, datetime]:
    """Per organization, the start of the run a worker is doing now: a run still "running"
    while a worker holds the organization's lease (one whose worker died is not running)."""
    query = (
        select(col(SyncRun.organization_pk), func.max(col(SyncRun.started_at)))
        .join(Organization, col(Organization.id) == col(SyncRun.organization_pk))
        .where(
            col(SyncRun.outcome) == SyncOutcome.RUNNING,
            col(Organization.lease_owner).is_not(None),
            col(Organization.lease_expires_at) > utcnow(),
        )
        .group_by(col(SyncRun.organization_pk))
    )
    return dict(session.execute(query).all())


def _stored(
    session: Session,
) -> dict[tuple[int, str], tuple[date | None, date | None, int, str | None]]:
    """First day, last day, row count and why it is unavailable (if it is) per organization
    and dataset, as the sync keeps them (no scan of the data tables: this runs on every page
    load)."""
    query = select(
        col(SyncState.organization_pk),
        col(SyncState.dataset),
        col(SyncState.first_day),
        col(SyncState.last_day),
        col(SyncState.row_count),
        col(SyncState.unavailable_reason),
    )
    return {(pk, ds): (lo, hi, n, why) for pk, ds, lo, hi, n, why in session.execute(query)}


def find_organization(engine: Engine, organization_id: str) -> Organization | None:
    with read_session(engine) as session:
        return session.execute(
            select(Organization).where(col(Organization.organization_id) == organization_id)
        ).scalar_one_or_none()


def organization_tables() -> list[Table]:
    """Every table holding rows of an organization (a foreign key to it), children first:
    derived from the schema, so a table added later is deleted with its organization too
    (tests/test_delete.py holds app.datasets' registry to the same set of tables)."""
    org = SQLModel.metadata.tables["organization"]
    owned = [
        table
        for table in SQLModel.metadata.sorted_tables
        if any(fk.column.table is org for fk in table.foreign_keys)
    ]
    return owned[::-1]


def delete_organization(*, engine: Engine, organization_id: str, actor: Actor) -> bool:
    """Remove the stored key, the sync state (so its jobs stop) and every row of its data.
    Returns False when nothing was connected under that id (a second Delete is harmless)."""
    require_admin(actor, "delete organizations")
    with write_session(engine) as session:
        found = session.execute(
            select(col(Organization.id), col(Organization.label), col(Organization.name)).where(
                col(Organization.organization_id) == organization_id
            )
        ).one_or_none()
        if found is None:
            return False
        pk, label, name = found
        # Children first and explicitly: big tables go in one statement each, and the result
        # does not depend on the database honouring ON DELETE CASCADE.
        for table in organization_tables():
            session.execute(delete(table).where(table.c.organization_pk == pk))
        session.execute(delete(Organization).where(col(Organization.id) == pk))
        # Named explicitly: the row is gone now, and an organization without earlier audit
        # events would otherwise be unnamed in the log.
        record(
            session,
            actor=actor.email,
            action="organization_deleted",
            target=organization_id,
            organization_name=label or name,
        )
        return True


def remove_demo_organizations(*, engine: Engine, actor: Actor) -> list[str]:
    """Delete every demo organization and its data ("Remove demo data"), each through
    ``delete_organization`` (so each is audited as a delete). Returns the names removed."""
    require_admin(actor, "remove demo data")
    with read_session(engine) as session:
        demo = session.execute(
            select(Organization)
            .where(col(Organization.is_demo))
            .order_by(col(Organization.created_at))
        ).scalars()
        found = [(org.organization_id, org.display_name) for org in demo]
    return [
        name
        for organization_id, name in found
        if delete_organization(engine=engine, organization_id=organization_id, actor=actor)
    ]
