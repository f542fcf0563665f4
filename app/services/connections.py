"""Connecting an organization: check the key's type, test it, store it encrypted, schedule it."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import httpx
from sqlalchemy import Engine, select
from sqlmodel import Session, col

from app.anthropic.keys import check_admin_key, check_analytics_key
from app.anthropic.schemas import OrganizationInfo
from app.clock import months_back, today, utcnow
from app.db import write_session
from app.keystore import KeyStore, key_hint
from app.models import Organization, OrgStatus, Provider, SyncState
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
    provider: str = "Anthropic"  # as people see it: "Anthropic" or "Anthropic (Analytics API)"


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


ENTERPRISE_DEFAULT_NAME = "Claude Enterprise"


def enterprise_organization_id(key: str) -> str:
    """A stable id for a Claude Enterprise connection. The Analytics API has no "which
    organization is this" endpoint, so the id is a short digest of the key: the same key
    connected twice is one organization, and the digest reveals nothing usable of the key."""
    digest = hashlib.sha256(b"finops-enterprise:" + key.encode()).hexdigest()
    return f"claude-enterprise-{digest[:16]}"


def test_analytics_key(
    raw_key: str,
    *,
    settings: Settings,
    transport: httpx.BaseTransport | None = None,
    label: str | None = None,
    demo: bool = False,
) -> OrganizationInfo:
    """Check a Claude Enterprise Analytics API key's type, then ask for a few days of
    engagement summaries with it (a 404 there means the key lacks read:analytics)."""
    key = check_analytics_key(raw_key)
    quick = settings.model_copy(update={"max_retries": 1, "http_timeout_seconds": 10.0})
    with new_client(quick, key, transport=transport, enterprise=True, demo=demo) as client:
        client.test_analytics(today())
    name = (label or "").strip() or ENTERPRISE_DEFAULT_NAME
    return OrganizationInfo(id=enterprise_organization_id(key), name=name)


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
    provider: str = Provider.CONSOLE,
) -> Connection:
    """Store the key encrypted and schedule the backfill at once. Connecting an organization
    that is already connected replaces its key (never a duplicate). Admins only."""
    require_admin(actor, "connect organizations or replace keys")
    enterprise = provider == Provider.ENTERPRISE
    key = check_analytics_key(raw_key) if enterprise else check_admin_key(raw_key)
    now = utcnow()
    ciphertext = keystore.encrypt(key)
    hint = key_hint(key)
    label = (label or "").strip() or None
    with write_session(engine) as session:
        org = session.execute(
            select(Organization).where(col(Organization.organization_id) == info.id)
        ).scalar_one_or_none()
        replaced = org is not None
        if org is None:
            org = Organization(
                organization_id=info.id,
                name=info.name,
                label=None if enterprise else label,
                provider=provider,
                is_demo=demo,
                key_ciphertext=ciphertext,
                key_hint=hint,
                status=OrgStatus.BACKFILLING,
                backfill_start=months_back(now.date(), settings.backfill_months),
                created_at=now,
                next_run_at=now,
            )
        else:
            if org.provider != provider:
                raise ValueError(
                    f"{org.display_name} is connected as {Provider.label(org.provider)}; "
                    f"a {Provider.label(provider)} key cannot replace its key."
                )
            org.name = org.name if enterprise and not label else info.name
            org.label = None if enterprise else (label or org.label)
            org.key_ciphertext = ciphertext
            org.key_hint = hint
            backfilled = _backfill_done(session, org)
            org.status = OrgStatus.HEALTHY if backfilled else OrgStatus.BACKFILLING
            org.status_message = None
            org.consecutive_failures = 0
            org.next_run_at = now
        session.add(org)
        session.flush()
        record(
            session,
            actor=actor.email,
            action="key_replaced" if replaced else "organization_connected",
            target=info.id,
            detail=f"{org.display_name}, key {hint}",
        )
        return Connection(
            info.id, org.display_name, hint, org.status, replaced, Provider.label(org.provider)
        )


def _backfill_done(session: Session, org: Organization) -> bool:
    """Whether the spend datasets (usage and cost) were backfilled already."""
    done = session.execute(
        select(col(SyncState.dataset)).where(
            col(SyncState.organization_pk) == org.id, col(SyncState.backfill_done).is_(True)
        )
    ).scalars()
    return {"usage", "cost"} <= set(done)


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
    provider: str = Provider.CONSOLE,
) -> Connection:
    """Test the key, then save it: what the wizard's Save and `finops connect` do."""
    require_admin(actor, "connect organizations")
    if provider == Provider.ENTERPRISE:
        info = test_analytics_key(
            raw_key, settings=settings, transport=transport, label=label, demo=demo
        )
    else:
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
        provider=provider,
    )


def connect_demo(
    *,
    engine: Engine,
    settings: Settings,
    keystore: KeyStore,
    actor: Actor,
    provider: str = Provider.CONSOLE,
) -> Connection:
    """Explore with demo data: a simulated organization served in-process, no network (a
    Console one, or with ``provider`` a Claude Enterprise one)."""
    from app.simulator.demo import DEMO_ADMIN_KEY, DEMO_ANALYTICS_KEY, DEMO_ENTERPRISE_NAME

    enterprise = provider == Provider.ENTERPRISE
    return connect(
        DEMO_ANALYTICS_KEY if enterprise else DEMO_ADMIN_KEY,
        engine=engine,
        settings=settings,
        keystore=keystore,
        actor=actor,
        demo=True,
        provider=provider,
        label=DEMO_ENTERPRISE_NAME if enterprise else None,
    )
