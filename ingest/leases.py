"""Organization leases: one worker at a time syncs an organization, fenced in every write.

A lease is a row lock that outlives transactions: ``lease_owner`` (host, pid and a random part)
and ``lease_expires_at`` on the organization. A worker takes a free, expired or dead local
process's lease, renews it inside each page's transaction, and releases it when the run ends.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, update
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col

from app.db import affected_rows, write_session
from app.models import Organization

# The sync's logger: its lines keep the name they have always had.
log = logging.getLogger("ingest.sync")

# Longer than a page can take with all its retries (the client's max_total_wait of 300 s,
# plus one last request's deadline of 120 s), so a live worker never loses its lease.
LEASE_SECONDS = 480


class LeaseLost(RuntimeError):
    """Another worker took this organization over (our lease had expired): stop writing."""


def new_lease_owner() -> str:
    """Host, pid and a random part: a lease of a dead process on this host can be taken over."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def acquire(engine: Engine, org_pk: int, owner: str, now: datetime) -> bool:
    """Take the organization's lease if it is free, expired, ours, or held by a dead process
    of this host; False if a live worker holds it."""
    until = now + timedelta(seconds=LEASE_SECONDS)
    with write_session(engine) as session:
        claimed = affected_rows(
            session.execute(
                update(Organization)
                .where(
                    col(Organization.id) == org_pk,
                    or_(
                        col(Organization.lease_owner).is_(None),
                        col(Organization.lease_expires_at) < now,
                        col(Organization.lease_owner) == owner,
                    ),
                )
                .values(lease_owner=owner, lease_expires_at=until)
            )
        )
        if claimed == 1:
            return True
        holder = session.execute(
            select(col(Organization.lease_owner)).where(col(Organization.id) == org_pk)
        ).scalar_one_or_none()
        if holder and is_dead_local_process(holder):
            log.info("Taking over the lease of a worker that is no longer running")
            return bool(
                affected_rows(
                    session.execute(
                        update(Organization)
                        .where(
                            col(Organization.id) == org_pk, col(Organization.lease_owner) == holder
                        )
                        .values(lease_owner=owner, lease_expires_at=until)
                    )
                )
            )
        return False


def renew(session: Session, org_pk: int, owner: str, now: datetime) -> None:
    """Extend the lease inside the caller's write transaction. This is the fence: if another
    worker holds the organization now, the whole transaction (its rows and position) rolls
    back instead of interleaving with the other worker's writes."""
    renewed = affected_rows(
        session.execute(
            update(Organization)
            .where(col(Organization.id) == org_pk, col(Organization.lease_owner) == owner)
            .values(lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
        )
    )
    if renewed != 1:
        raise LeaseLost("Another worker took over this organization; this run stopped.")


def release_quietly(engine: Engine, org_pk: int, owner: str) -> None:
    try:
        release(engine, org_pk, owner)
    except DBAPIError as exc:  # still locked or down: the lease expires on its own
        log.warning("Could not release the lease: %s", exc)


def release(engine: Engine, org_pk: int, owner: str) -> None:
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(col(Organization.id) == org_pk, col(Organization.lease_owner) == owner)
            .values(lease_owner=None, lease_expires_at=None)
        )


def is_dead_local_process(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that is no longer running."""
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
