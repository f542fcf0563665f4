"""Notification channels: add, list (hints only), remove. Every change is audited.

A webhook's signing secret and a Slack incoming-webhook URL (which is a secret: whoever has it
can post) are stored encrypted with the keystore and shown only as hints.
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Engine, delete, select
from sqlmodel import col

from app.clock import utcnow
from app.db import affected_rows, read_session, write_session
from app.finops.budget_tables import Channel
from app.keystore import KeyStore
from app.services.access import Actor, require_admin
from app.services.audit import record

CHANNEL_TYPES = ("webhook", "slack", "email")
EVENT_TYPES = ("budget.threshold_crossed", "anomaly.detected", "digest.weekly")
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")


class ChannelError(ValueError):
    """A channel that cannot be added or found; the message says why (never a secret)."""


@dataclass(frozen=True)
class ChannelView:
    """A channel as it may be shown: hints, never secrets."""

    name: str
    type: str
    target: str  # the webhook URL, the Slack URL's hint, or the addresses
    secret_hint: str | None
    events: tuple[str, ...]
    min_impact_usd: Decimal | None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "target": self.target,
            "secret_hint": self.secret_hint,
            "events": list(self.events),
            "min_impact_usd": None if self.min_impact_usd is None else float(self.min_impact_usd),
        }


def generate_secret() -> str:
    """A Standard Webhooks signing secret: ``whsec_`` and base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode("ascii")


def secret_hint(secret: str) -> str:
    """What is shown of a signing secret: its prefix and last four characters."""
    secret = secret.strip()
    prefix = "whsec_" if secret.startswith("whsec_") else ""
    return f"{prefix}…{secret[-4:]}"


def url_hint(url: str) -> str:
    """What is shown of a secret URL (Slack): its host and the last four characters."""
    host = urlsplit(url).hostname or "?"
    return f"https://{host}/…{url.strip()[-4:]}"


def check_secret(secret: str) -> str:
    """A usable Standard Webhooks secret (``whsec_`` + base64), or ChannelError."""
    secret = secret.strip()
    body = secret.removeprefix("whsec_")
    try:
        raw = base64.b64decode(body, validate=True)
    except ValueError:
        raw = b""
    if not body or len(raw) < 16:
        raise ChannelError(
            "The signing secret must be whsec_ followed by base64 of at least 16 random bytes "
            "(as the Standard Webhooks spec defines); leave it out to have one generated."
        )
    return secret


def parse_events(text: str | None) -> tuple[str, ...]:
    """Comma- or space-separated event types; None: every event."""
    if text is None:
        return EVENT_TYPES
    events = tuple(dict.fromkeys(e for e in re.split(r"[,\s]+", text) if e))
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ChannelError(
            f"Unknown event {', '.join(unknown) or '(none)'}: the events are "
            + ", ".join(EVENT_TYPES)
        )
    return events


def parse_usd(text: str | None) -> Decimal | None:
    if text is None:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ChannelError(f"--min-impact-usd: {text!r} is not an amount") from None
    if not value.is_finite() or value < 0:
        raise ChannelError("--min-impact-usd must be zero or more")
    return value


def add_channel(
    engine: Engine,
    keystore: KeyStore,
    *,
    actor: Actor,
    name: str,
    type: str,
    url: str | None = None,
    addresses: str | None = None,
    secret: str | None = None,
    events: tuple[str, ...] = EVENT_TYPES,
    min_impact_usd: Decimal | None = None,
) -> ChannelView:
    """Store a channel (its secret encrypted). ``secret``: a webhook's signing secret, already
    checked. Raises ChannelError on bad input; nothing is stored then."""
    require_admin(actor, "add notification channels")
    name = name.strip()
    if not name:
        raise ChannelError("A channel needs a name.")
    if type not in CHANNEL_TYPES:
        raise ChannelError(f"Unknown channel type {type!r}: {', '.join(CHANNEL_TYPES)}")
    row = Channel(
        name=name,
        type=type,
        events=",".join(events),
        min_impact_cents=None if min_impact_usd is None else min_impact_usd * 100,
        created_at=utcnow(),
    )
    if type in ("webhook", "slack"):
        if not url or urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise ChannelError(f"A {type} channel needs --url with an http(s) URL.")
        if addresses:
            raise ChannelError(f"A {type} channel takes --url, not --to.")
    if type == "webhook":
        assert url is not None
        if secret is None:
            raise ChannelError("A webhook channel needs a signing secret.")
        row.url = url
        row.secret_ciphertext = keystore.encrypt(secret)
        row.secret_hint = secret_hint(secret)
    elif type == "slack":
        assert url is not None
        row.secret_ciphertext = keystore.encrypt(url)
        row.secret_hint = url_hint(url)
    else:
        if url:
            raise ChannelError("An email channel takes --to ADDRESSES, not --url.")
        listed = [a.strip() for a in (addresses or "").split(",") if a.strip()]
        if not listed or not all(_EMAIL.match(a) for a in listed):
            raise ChannelError("An email channel needs --to with comma-separated addresses.")
        row.addresses = ",".join(listed)
    with write_session(engine) as session:
        taken = session.execute(
            select(col(Channel.id)).where(col(Channel.name) == name)
        ).scalar_one_or_none()
        if taken is not None:
            raise ChannelError(f"A channel named {name!r} exists; remove it first.")
        session.add(row)
        session.flush()
        record(
            session,
            actor=actor.email,
            action="channel_added",
            target=f"channel:{name}",
            detail=f"{type} channel {name}, {row.secret_hint or row.url or row.addresses}, "
            f"events {row.events}",
        )
    return view(row)


def view(row: Channel) -> ChannelView:
    if row.type == "webhook":
        target = row.url or ""
    elif row.type == "slack":
        target = row.secret_hint or ""
    else:
        target = row.addresses or ""
    return ChannelView(
        name=row.name,
        type=row.type,
        target=target,
        secret_hint=row.secret_hint if row.type == "webhook" else None,
        events=tuple(e for e in row.events.split(",") if e),
        min_impact_usd=None if row.min_impact_cents is None else row.min_impact_cents / 100,
    )


def list_channels(engine: Engine) -> list[ChannelView]:
    with read_session(engine) as session:
        rows = session.execute(select(Channel).order_by(col(Channel.name))).scalars().all()
    return [view(r) for r in rows]


def get_channel(engine: Engine, name: str) -> Channel | None:
    with read_session(engine) as session:
        return session.execute(
            select(Channel).where(col(Channel.name) == name)
        ).scalar_one_or_none()


def remove_channel(engine: Engine, *, actor: Actor, name: str) -> bool:
    """Remove a channel; False when there is none of that name. Its past deliveries stay."""
    require_admin(actor, "remove notification channels")
    with write_session(engine) as session:
        gone = affected_rows(session.execute(delete(Channel).where(col(Channel.name) == name)))
        if gone:
            record(
                session,
                actor=actor.email,
                action="channel_removed",
                target=f"channel:{name}",
                detail=f"channel {name}",
            )
        return bool(gone)
