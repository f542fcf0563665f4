"""Connecting an organization: check the key's type, test it, store it encrypted, schedule it.

One path for both connection types (a Claude Console organization with an Admin key, a Claude
Enterprise one with an Analytics API key): ``test_key``, ``save_connection`` and ``replace_key``
take the provider, so the Connect wizard, the Organizations page and `finops connect` hold no
provider branch of their own. This module never builds an API client: its caller passes a
``KeyProbe`` (``app.runtime.key_probe`` in the product), and ruff bans the client and the process
wiring here (app/services/ruff.toml).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import Engine, select
from sqlmodel import Session, col

from app.anthropic.keys import check_admin_key, check_analytics_key, describe_key_kind
from app.anthropic.schemas import OrganizationInfo
from app.clock import months_back, utcnow
from app.datasets import Dataset
from app.db import write_session
from app.keystore import KeyStore, key_hint
from app.models import Organization, OrgStatus, Provider, SyncState
from app.reports.labels import provider_label
from app.services.access import Actor, require_admin
from app.services.audit import audited_failure, record
from app.settings import Settings


class KeyProbe(Protocol):
    """Tests a key against the API of ``provider``: which organization it opens, or ``None``
    when that API cannot say (the Claude Enterprise Analytics API). Raises ``AnthropicError``
    subclasses for what the API said. ``key`` was already checked to be of the provider's kind;
    ``demo`` means the in-process demo simulator instead of the network."""

    def __call__(self, provider: str, key: str, *, demo: bool) -> OrganizationInfo | None: ...


@dataclass(frozen=True)
class Connection:
    """The outcome of saving a key: which organization, and whether it already existed."""

    organization_id: str
    name: str
    key_hint: str
    status: str
    replaced: bool
    # As people see it: "Anthropic" or "Anthropic (Analytics API)".
    provider: str = provider_label(Provider.CONSOLE)
    # What the key seems to be when it is not an Admin key (``describe_key_kind``: its kind's
    # prefix, never its secret); None for an Admin or Analytics key.
    key_note: str | None = None


class KeyOfAnotherOrganization(ValueError):
    """The new key opens another organization than the one whose key is being replaced."""

    def __init__(self, opened: OrganizationInfo, name: str) -> None:
        super().__init__(
            f"This key belongs to {opened.name} ({opened.id}), not to {name}. "
            "Connect it as a new organization instead."
        )
        self.opened = opened


ENTERPRISE_DEFAULT_NAME = "Claude Enterprise"


def enterprise_organization_id(key: str) -> str:
    """A stable id for a Claude Enterprise connection. The Analytics API has no "which
    organization is this" endpoint, so the id is a short digest of the key: the same key
    connected twice is one organization, and the digest reveals nothing usable of the key."""
    digest = hashlib.sha256(b"finops-enterprise:" + key.encode()).hexdigest()
    return f"claude-enterprise-{digest[:16]}"


def check_key(provider: str, raw_key: str) -> str:
    """The trimmed key if it is of the kind ``provider`` needs (an Admin key for Claude Console,
    an Analytics API key for Claude Enterprise); else ``KeyFormatError`` saying what it is."""
    if provider == Provider.ENTERPRISE:
        return check_analytics_key(raw_key)
    return check_admin_key(raw_key)


def test_key(
    provider: str,
    raw_key: str,
    *,
    probe: KeyProbe,
    label: str | None = None,
    demo: bool = False,
) -> OrganizationInfo:
    """Which organization the key opens, as the Connect wizard shows it. Raises
    ``KeyFormatError`` before any call for a key of the wrong kind, and ``AnthropicError``
    subclasses for what the API said (for an Analytics API key, a 404 means it lacks
    read:analytics). A Claude Enterprise organization, whose API cannot name it, gets an id
    derived from the key and ``label`` (or a default) as its name."""
    key = check_key(provider, raw_key)
    opened = probe(provider, key, demo=demo)
    if opened is not None:
        return opened
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
    provider: str,
    label: str | None = None,
    demo: bool = False,
) -> Connection:
    """Store the key (of the kind ``provider`` needs) encrypted and schedule the backfill at
    once. Connecting an organization that is already connected replaces its key (never a
    duplicate). A Claude Enterprise organization is named by ``label`` when one is given (its
    API cannot name it); a Console one keeps its own name and shows the label instead. Admins
    only."""
    require_admin(actor, "connect organizations or replace keys")
    enterprise = provider == Provider.ENTERPRISE
    key = check_key(provider, raw_key)
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
                name=(label or info.name) if enterprise else info.name,
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
                    f"{org.display_name} is connected as {provider_label(org.provider)}; "
                    f"a {provider_label(provider)} key cannot replace its key."
                )
            org.name = (label or org.name) if enterprise else info.name
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
            info.id,
            org.display_name,
            hint,
            org.status,
            replaced,
            provider_label(org.provider),
            None if enterprise else describe_key_kind(key),
        )


def _backfill_done(session: Session, org: Organization) -> bool:
    """Whether the spend datasets (usage and cost) were backfilled already."""
    done = session.execute(
        select(col(SyncState.dataset)).where(
            col(SyncState.organization_pk) == org.id, col(SyncState.backfill_done).is_(True)
        )
    ).scalars()
    return {Dataset.USAGE, Dataset.COST} <= set(done)


def replace_key(
    raw_key: str,
    *,
    organization_id: str,
    name: str,
    provider: str,
    probe: KeyProbe,
    engine: Engine,
    settings: Settings,
    keystore: KeyStore,
    actor: Actor,
) -> Connection:
    """Test a new key for a connected organization, then store it in place of the old one: the
    Organizations page's "Replace key". Raises what ``test_key`` raises, and
    ``KeyOfAnotherOrganization`` for a Console key that opens another organization. The
    Analytics API cannot say which organization a key opens: for Claude Enterprise the admin is
    trusted. Admins only."""
    require_admin(actor, "connect organizations or replace keys")
    # A refused key is in the audit log too (with the message the admin saw, keys masked).
    with audited_failure(
        engine,
        actor=actor.email,
        action="key_replacement_failed",
        target=organization_id,
        organization_name=name,
    ):
        opened = test_key(provider, raw_key, probe=probe)
        if provider == Provider.ENTERPRISE:
            opened = OrganizationInfo(organization_id, name)
        if opened.id != organization_id:
            raise KeyOfAnotherOrganization(opened, name)
        return save_connection(
            engine=engine,
            settings=settings,
            keystore=keystore,
            raw_key=raw_key,
            info=opened,
            actor=actor,
            provider=provider,
        )


def connect(
    raw_key: str,
    *,
    probe: KeyProbe,
    engine: Engine,
    settings: Settings,
    keystore: KeyStore,
    actor: Actor,
    label: str | None = None,
    demo: bool = False,
    provider: str = Provider.CONSOLE,
) -> Connection:
    """Test the key, then save it: what `finops connect` does (the wizard tests and saves in
    two steps)."""
    require_admin(actor, "connect organizations")
    info = test_key(provider, raw_key, probe=probe, label=label, demo=demo)
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
    probe: KeyProbe,
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
        probe=probe,
        engine=engine,
        settings=settings,
        keystore=keystore,
        actor=actor,
        demo=True,
        provider=provider,
        label=DEMO_ENTERPRISE_NAME if enterprise else None,
    )
