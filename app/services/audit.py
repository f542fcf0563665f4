"""The audit log: append-only events an admin can read and export."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from app.clock import utcnow
from app.csv_writer import csv_bytes
from app.db import read_session
from app.models import AuditEvent
from app.redact import redact
from app.services.access import Actor, require_admin


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Add an event in the caller's transaction (it commits with the change it describes)."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target,
            detail=redact(detail) if detail else None,
        )
    )


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None


def recent_events(engine: Engine, *, actor: Actor, limit: int = 1000) -> list[AuditRow]:
    """The latest events, newest first; for admins only (checked here, not only by the page)."""
    require_admin(actor, "read the audit log")
    with read_session(engine) as session:
        rows = session.execute(
            select(AuditEvent)
            .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
            .limit(limit)
        ).scalars()
        return [AuditRow(e.at, e.actor, e.action, e.target, e.detail) for e in rows]


def events_csv(events: list[AuditRow]) -> bytes:
    """The audit log as CSV. Actor, target and detail can hold anything someone typed (a
    sign-in attempt records the email as given): the CSV writer neutralises them."""
    return csv_bytes(
        ["at", "actor", "action", "target", "detail"],
        (
            [e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), e.actor, e.action, e.target, e.detail]
            for e in events
        ),
    )
