"""The audit log: append-only events an admin can read and export."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlmodel import Session

from app.clock import utcnow
from app.db import read_session
from app.models import AuditEvent
from app.redact import redact
from app.services.export import safe_text


def record(session: Session, *, actor: str, action: str, target: str | None = None,
           detail: str | None = None) -> None:  # fmt: skip
    """Add an event in the caller's transaction (it commits with the change it describes)."""
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target,
            detail=redact(detail) if detail else None,
        )  # fmt: skip
    )


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None


def recent_events(engine: Engine, limit: int = 1000) -> list[AuditRow]:
    with read_session(engine) as session:
        rows = session.execute(
            select(AuditEvent).order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)  # type: ignore[union-attr]
        ).scalars()
        return [AuditRow(e.at, e.actor, e.action, e.target, e.detail) for e in rows]


def events_csv(events: list[AuditRow]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["at", "actor", "action", "target", "detail"])
    for e in events:
        writer.writerow([e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), safe_text(e.actor), e.action,
                         safe_text(e.target), safe_text(e.detail)])  # fmt: skip
    return out.getvalue().encode()
