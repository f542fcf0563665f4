"""Small admin actions the Organizations page offers besides connect and delete."""

from __future__ import annotations

from sqlalchemy import Engine, update
from sqlmodel import col

from app.clock import utcnow
from app.db import affected_rows, write_session
from app.models import Organization, OrgStatus
from app.services.access import Actor, require_admin
from app.services.audit import record


def request_sync(*, engine: Engine, organization_id: str, actor: Actor) -> bool:
    """Make the organization due now; the worker starts it within seconds. False if unknown
    or if its key was rejected (a new key is needed first). A requested sync is audited (who
    pressed "Sync now", for which organization), in the same transaction."""
    require_admin(actor, "start a sync")
    with write_session(engine) as session:
        changed = affected_rows(
            session.execute(
                update(Organization)
                .where(
                    col(Organization.organization_id) == organization_id,
                    col(Organization.status) != OrgStatus.KEY_REJECTED,
                )
                .values(next_run_at=utcnow())
            )
        )
        if changed:
            record(session, actor=actor.email, action="sync_requested", target=organization_id)
    return bool(changed)
