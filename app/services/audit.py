"""The audit log: append-only events an admin can read, filter and export."""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from app.clock import midnight, utcnow
from app.csv_writer import csv_bytes
from app.db import read_session, write_session
from app.models import AuditEvent, Organization
from app.redact import redact
from app.services.access import Actor, require_admin

log = logging.getLogger(__name__)
DETAIL_LIMIT = 500  # characters of an error message kept in a failure's detail


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    organization_name: str | None = None,
) -> None:
    """Add an event in the caller's transaction (it commits with the change it describes).

    An event about an organization (``target`` is its id) keeps the organization's name as it
    is now, so the log still names it after it is deleted. Without ``organization_name`` the
    name is looked up: the organization's row, or, when it was deleted in this same
    transaction, the name an earlier event of it recorded."""
    if organization_name is None and target is not None and "@" not in target:
        organization_name = _organization_name(session, target)
    session.add(
        AuditEvent(
            at=utcnow(),
            actor=actor,
            action=action,
            target=target,
            detail=redact(detail) if detail else None,
            organization_name=organization_name,
        )
    )


def _organization_name(session: Session, organization_id: str) -> str | None:
    org: Organization | None = session.execute(
        select(Organization).where(col(Organization.organization_id) == organization_id)
    ).scalar_one_or_none()
    if org is not None:
        return org.display_name
    earlier: str | None = session.execute(
        select(col(AuditEvent.organization_name))
        .where(
            col(AuditEvent.target) == organization_id,
            col(AuditEvent.organization_name).is_not(None),
        )
        .order_by(col(AuditEvent.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    return earlier


def record_event(
    engine: Engine,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    detail: str | None = None,
    organization_name: str | None = None,
) -> None:
    """Add an event in a transaction of its own: for what failed, where nothing else commits."""
    with write_session(engine) as session:
        record(
            session,
            actor=actor,
            action=action,
            target=target,
            detail=detail,
            organization_name=organization_name,
        )


@contextmanager
def audited_failure(
    engine: Engine,
    *,
    actor: str,
    action: str,
    target: str | None = None,
    organization_name: str | None = None,
) -> Iterator[None]:
    """Record ``action`` (e.g. ``key_replacement_failed``) with the error's message when the
    block raises, then let the error go on. The message is the one shown to the person (never
    key material: ``record`` masks anything shaped like a key)."""
    try:
        yield
    except Exception as exc:
        message = str(exc).strip() or type(exc).__name__
        if len(message) > DETAIL_LIMIT:
            message = message[: DETAIL_LIMIT - 1] + "…"
        try:
            record_event(
                engine,
                actor=actor,
                action=action,
                target=target,
                detail=message,
                organization_name=organization_name,
            )
        except Exception:
            # (The database itself failing, say.) The person needs the first error, not this.
            log.warning("Could not record %s in the audit log", action, exc_info=True)
        raise


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    actor: str
    action: str
    target: str | None
    detail: str | None
    organization_name: str | None = None

    @property
    def subject(self) -> str:
        """What the event was about, as a person reads it: "Acme Corp (org-…)" for an
        organization (its name as it was then), the email for a user."""
        if self.organization_name and self.target:
            return f"{self.organization_name} ({self.target})"
        return self.organization_name or self.target or ""


def recent_events(
    engine: Engine,
    *,
    actor: Actor,
    limit: int = 1000,
    actions: Collection[str] = (),
    person: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[AuditRow]:
    """The latest events, newest first; for admins only (checked here, not only by the page).

    Filters: ``actions`` (any of them; empty means all), ``person`` (who acted, exactly as
    recorded), and days ``start`` to ``end`` (UTC, ``end`` exclusive)."""
    require_admin(actor, "read the audit log")
    query = select(AuditEvent)
    if actions:
        query = query.where(col(AuditEvent.action).in_(list(actions)))
    if person is not None:
        query = query.where(col(AuditEvent.actor) == person)
    if start is not None:
        query = query.where(col(AuditEvent.at) >= midnight(start))
    if end is not None:
        query = query.where(col(AuditEvent.at) < midnight(end))
    query = query.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(limit)
    with read_session(engine) as session:
        return [
            AuditRow(e.at, e.actor, e.action, e.target, e.detail, e.organization_name)
            for e in session.execute(query).scalars()
        ]


@dataclass(frozen=True)
class AuditChoices:
    """What the audit log's filters can offer: the actions and people recorded so far."""

    actions: list[str]
    people: list[str]
    first_day: date | None


def audit_choices(engine: Engine, *, actor: Actor) -> AuditChoices:
    """The recorded actions and people, sorted, and the first recorded day; admins only."""
    require_admin(actor, "read the audit log")
    with read_session(engine) as session:
        actions = session.execute(select(col(AuditEvent.action)).distinct()).scalars()
        people = session.execute(select(col(AuditEvent.actor)).distinct()).scalars()
        first = session.execute(
            select(col(AuditEvent.at)).order_by(col(AuditEvent.at)).limit(1)
        ).scalar_one_or_none()
        return AuditChoices(sorted(actions), sorted(people), first.date() if first else None)


def events_csv(events: list[AuditRow]) -> bytes:
    """The audit log as CSV. Actor, target and detail can hold anything someone typed (a
    sign-in attempt records the email as given): the CSV writer neutralises them."""
    return csv_bytes(
        ["at", "actor", "action", "target", "detail", "organization_name"],
        (
            [
                e.at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                e.actor,
                e.action,
                e.target,
                e.detail,
                e.organization_name,
            ]
            for e in events
        ),
    )
