"""Connecting an organization: check the key's type, test it, store it encrypted, schedule it."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select
from sqlmodel import Session

from app.anthropic.keys import check_admin_key
from app.anthropic.schemas import OrganizationInfo
from app.clock import months_back, utcnow
from app.db import write_session
from app.keystore import KeyStore, key_hint
from app.models import Organization, OrgStatus, SyncState
from app.runtime import new_client
from app.services.access import Actor, require_admin
from app.services.audit import record
from app.settings import Settings


@dataclass(frozen=True)
class Connection:
    """The outcome of saving a key: which organization, and whether it already existed."""

    organization_id: str
    name: str
    key_hint: str
    status: str
    replaced: bool


def test_admin_key(
    raw_key: str,
    *,
    settings: Settings,
    demo: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> OrganizationInfo:
    """Which organization the key opens. Raises ``KeyFormatError`` before any call for a key of
    the wrong kind, and ``AnthropicError`` subclasses for what the API said."""
    key = check_admin_key(raw_key)
    # One quick retry at most: the person is waiting for the answer.
    quick = settings.model_copy(update={"max_retries": 1, "http_timeout_seconds": 10.0})
    with new_client(quick, key, demo=demo, transport=transport) as client:
        return client.get_organization()


def save_connection(
    *,
    engine: Engine,
    settings: Settings,
    keystore: KeyStore,
    raw_key: str,
    info: OrganizationInfo,
    actor: Actor,
    label: str | None = None,
    demo: bool = False,
) -> Connection:
    """Store the key encrypted and schedule the backfill at once. Connecting an organization
    that is already connected replaces its key (never a duplicate). Admins only."""
    require_admin(actor, "connect organizations or replace keys")
    key = check_admin_key(raw_key)
    now = utcnow()
    ciphertext = keystore.encrypt(key)
    hint = key_hint(key)
    label = (label or "").strip() or None
    with write_session(engine) as session:
        org = session.execute(
            select(Organization).where(Organization.organization_id == info.id)
        ).scalar_one_or_none()
        replaced = org is not None
        if org is None:
            org = Organization(
                organization_id=info.id,
                name=info.name,
                label=label,
                is_demo=demo,
                key_ciphertext=ciphertext,
                key_hint=hint,
                status=OrgStatus.BACKFILLING,
                backfill_start=months_back(now.date(), settings.backfill_months),
                created_at=now,
                next_run_at=now,
            )
        else:
            org.name = info.name
            org.label = label or org.label
            org.key_ciphertext = ciphertext
            org.key_hint = hint
            backfilled = _backfill_done(session, org)
            org.status = OrgStatus.HEALTHY if backfilled else OrgStatus.BACKFILLING
            org.status_message = None
            org.consecutive_failures = 0
            org.next_run_at = now
        session.add(org)
        session.flush()
        record(session, actor=actor.email,
               action="key_replaced" if replaced else "organization_connected",
               target=info.id, detail=f"{org.display_name}, key {hint}")  # fmt: skip
        return Connection(info.id, org.display_name, hint, org.status, replaced)


def _backfill_done(session: Session, org: Organization) -> bool:
    states = (
        session.execute(select(SyncState).where(SyncState.organization_pk == org.id))
        .scalars()
        .all()
    )
    return len(states) == 2 and all(s.backfill_done for s in states)


def connect(
    raw_key: str,
    *,
    engine: Engine,
    settings: Settings,
    keystore: KeyStore,
    actor: Actor,
    label: str | None = None,
    demo: bool = False,
    transport: httpx.BaseTransport | None = None,
) -> Connection:
    """Test the key, then save it: what the wizard's Save and `finops connect` do."""
    require_admin(actor, "connect organizations")
    info = test_admin_key(raw_key, settings=settings, demo=demo, transport=transport)
    return save_connection(
        engine=engine,
        settings=settings,
        keystore=keystore,
        raw_key=raw_key,
        info=info,
        actor=actor,
        label=label,
        demo=demo,
    )


def connect_demo(
    *, engine: Engine, settings: Settings, keystore: KeyStore, actor: Actor
) -> Connection:
    """Explore with demo data: a simulated organization served in-process, no network."""
    from app.simulator import DEMO_ADMIN_KEY

    return connect(
        DEMO_ADMIN_KEY, engine=engine, settings=settings, keystore=keystore, actor=actor, demo=True
    )
