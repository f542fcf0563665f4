"""Delivering events to channels: signed webhooks (Standard Webhooks), Slack, email.

Every delivery is a row first (``channel_delivery``), then attempted: a few tries with a short
backoff on a 5xx, a 429, a timeout or a connection error, under the same ``webhook-id``; none
after another 4xx. What is still pending or failed is tried again by the next evaluation
(``retry_pending``), up to ``MAX_TOTAL_ATTEMPTS``. Nothing here raises into a sync: errors are
recorded on the delivery and logged (without URLs or secrets).

The webhook body is ``{"type", "timestamp", "data"}`` (PRODUCT.md), signed with the
``standardwebhooks`` library, the spec's own implementation, rather than hand-written HMAC.
"""

from __future__ import annotations

import json
import logging
import smtplib
import ssl
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from typing import Any

import httpx
from sqlalchemy import Engine, or_, select, update
from sqlmodel import Session, col

from app import clock
from app.db import affected_rows, read_session, write_session
from app.finops.budget_tables import Channel, Delivery
from app.settings import Settings

log = logging.getLogger(__name__)

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
TEST_EVENT = "channel.test"
# Tries in one go, and the pauses between them (seconds). Tests make the pauses zero.
ATTEMPTS = 4
BACKOFF_SECONDS: tuple[float, ...] = (0.5, 1.0, 2.0)
# A delivery that keeps failing is given up after this many tries over later evaluations.
MAX_TOTAL_ATTEMPTS = 12
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
CLAIM_SECONDS = 120
sleep: Callable[[float], None] = time.sleep
# Tests may point deliveries at an in-process transport; None is the network.
transport: httpx.BaseTransport | None = None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None
    retryable: bool


def notify(
    engine: Engine,
    settings: Settings,
    event_type: str,
    data: dict[str, Any],
    *,
    channel_names: list[str] | None = None,
    impact_usd: Decimal | None = None,
    alert_id: int | None = None,
) -> list[int]:
    """Deliver ``event_type`` with ``data`` to every channel subscribed to it (only those in
    ``channel_names`` when given; only those whose ``min_impact_usd`` is at most
    ``impact_usd`` when both are set). Returns the ids of the deliveries made (attempted
    before returning). Never raises: a failure is on the delivery and in the log."""
    try:
        ids = _enqueue(engine, event_type, data, channel_names, impact_usd, alert_id)
    except Exception:
        log.exception("Could not record the deliveries of a %s event", event_type)
        return []
    for delivery_id in ids:
        attempt(engine, settings, delivery_id)
    return ids


def _enqueue(
    engine: Engine,
    event_type: str,
    data: dict[str, Any],
    channel_names: list[str] | None,
    impact_usd: Decimal | None,
    alert_id: int | None,
    *,
    only_channel: str | None = None,
) -> list[int]:
    with write_session(engine) as session:
        return enqueue(
            session,
            event_type,
            data,
            channel_names=channel_names,
            impact_usd=impact_usd,
            alert_id=alert_id,
            only_channel=only_channel,
        )


def enqueue(
    session: Session,
    event_type: str,
    data: dict[str, Any],
    *,
    channel_names: list[str] | None = None,
    impact_usd: Decimal | None = None,
    alert_id: int | None = None,
    only_channel: str | None = None,
) -> list[int]:
    """Record the deliveries of one event in the caller's transaction (so an event and its
    deliveries commit together: a crash in between loses neither); ``attempt`` them after
    the commit. The same channel choice as ``notify``."""
    now = clock.utcnow()
    event_id = f"msg_{uuid.uuid4().hex}"
    body = json.dumps(
        {"type": event_type, "timestamp": clock.rfc3339(now), "data": data}, default=_json
    )
    channels = session.execute(select(Channel).order_by(col(Channel.name))).scalars().all()
    chosen = []
    for channel in channels:
        if only_channel is not None:
            if channel.name == only_channel:
                chosen.append(channel)
            continue
        if event_type not in channel.events.split(","):
            continue
        if channel_names is not None and channel.name not in channel_names:
            continue
        if (
            impact_usd is not None
            and channel.min_impact_cents is not None
            and Decimal(impact_usd) * 100 < channel.min_impact_cents
        ):
            continue
        chosen.append(channel)
    rows = [
        Delivery(
            channel_name=channel.name,
            event_id=event_id,
            event_type=event_type,
            body=body,
            alert_id=alert_id,
            created_at=now,
        )
        for channel in chosen
    ]
    session.add_all(rows)
    session.flush()
    return [int(r.id) for r in rows if r.id is not None]


def send_test(engine: Engine, settings: Settings, channel_name: str) -> Delivery | None:
    """Send a test event to one channel now; the delivery as it ended (None: no channel)."""
    data = {"message": f"A test from Anthropic FinOps to the channel {channel_name}."}
    ids = _enqueue(engine, TEST_EVENT, data, None, None, None, only_channel=channel_name)
    if not ids:
        return None
    attempt(engine, settings, ids[0])
    with read_session(engine) as session:
        return session.get(Delivery, ids[0])


def retry_pending(engine: Engine, settings: Settings) -> int:
    """Attempt again every delivery still pending or failed for a reason that may pass (a
    5xx, a timeout), unclaimed, under its try limit; returns how many were attempted."""
    now = clock.utcnow()
    with read_session(engine) as session:
        ids = (
            session.execute(
                select(col(Delivery.id))
                .where(
                    col(Delivery.status).in_((PENDING, FAILED)),
                    col(Delivery.retryable).is_(True),
                    col(Delivery.attempts) < MAX_TOTAL_ATTEMPTS,
                    or_(col(Delivery.claimed_until).is_(None), col(Delivery.claimed_until) < now),
                )
                .order_by(col(Delivery.id))
            )
            .scalars()
            .all()
        )
    for delivery_id in ids:
        attempt(engine, settings, int(delivery_id))
    return len(ids)


def attempt(engine: Engine, settings: Settings, delivery_id: int) -> None:
    """Try one delivery (a few times, with backoff) unless another process holds it."""
    try:
        _attempt(engine, settings, delivery_id)
    except Exception:
        log.exception("Delivery %s failed unexpectedly; it is tried again later", delivery_id)


def _attempt(engine: Engine, settings: Settings, delivery_id: int) -> None:
    now = clock.utcnow()
    with write_session(engine) as session:
        claimed = affected_rows(
            session.execute(
                update(Delivery)
                .where(
                    col(Delivery.id) == delivery_id,
                    col(Delivery.status) != DELIVERED,
                    or_(col(Delivery.claimed_until).is_(None), col(Delivery.claimed_until) < now),
                )
                .values(claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
            )
        )
    if not claimed:
        return
    try:
        with read_session(engine) as session:
            delivery = session.get(Delivery, delivery_id)
            assert delivery is not None
            channel = session.execute(
                select(Channel).where(col(Channel.name) == delivery.channel_name)
            ).scalar_one_or_none()
        for n in range(ATTEMPTS):
            if channel is None:
                outcome = Outcome(False, None, "the channel was removed", False)
            else:
                outcome = _send(settings, channel, delivery)
            last = outcome.ok or not outcome.retryable or n == ATTEMPTS - 1
            _record(engine, delivery, outcome, final=last)
            if last:
                break
            sleep(BACKOFF_SECONDS[min(n, len(BACKOFF_SECONDS) - 1)])
    finally:
        with write_session(engine) as session:
            session.execute(
                update(Delivery).where(col(Delivery.id) == delivery_id).values(claimed_until=None)
            )


def _record(engine: Engine, delivery: Delivery, outcome: Outcome, *, final: bool) -> None:
    if outcome.ok:
        status = DELIVERED
    elif final:
        status = FAILED
    else:
        status = PENDING
    delivery.attempts += 1
    delivery.status = status
    delivery.retryable = outcome.retryable
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.last_attempt_at = clock.utcnow()
    with write_session(engine) as session:
        session.execute(
            update(Delivery)
            .where(col(Delivery.id) == delivery.id)
            .values(
                attempts=col(Delivery.attempts) + 1,
                status=status,
                retryable=outcome.retryable,
                last_status_code=outcome.status_code,
                last_error=outcome.error,
                last_attempt_at=delivery.last_attempt_at,
            )
        )
    log.log(
        logging.INFO if outcome.ok else logging.WARNING,
        "Delivery %s (%s, event %s) to channel %s: attempt %d %s%s",
        delivery.id,
        delivery.event_type,
        delivery.event_id,
        delivery.channel_name,
        delivery.attempts,
        status,
        f" ({outcome.error})" if outcome.error else "",
    )


def _send(settings: Settings, channel: Channel, delivery: Delivery) -> Outcome:
    if channel.type == "email":
        return _send_email(settings, channel, delivery)
    from app.runtime import keystore

    try:
        secret = keystore(settings).decrypt(channel.secret_ciphertext or "")
    except Exception:
        return Outcome(False, None, "the channel's secret could not be decrypted", False)
    if channel.type == "slack":
        body = json.loads(delivery.body)
        text = describe(body["type"], body["data"], settings)[1]
        return _post(secret, json.dumps({"text": text}), {})
    from standardwebhooks import Webhook

    # The wall clock, not the app's (tests pin that): a receiver refuses a timestamp more
    # than five minutes from its own time.
    moment = datetime.now(UTC)
    signature = Webhook(secret).sign(delivery.event_id, moment, delivery.body)
    headers = {
        "webhook-id": delivery.event_id,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    return _post(channel.url or "", delivery.body, headers)


def _post(url: str, body: str, headers: dict[str, str]) -> Outcome:
    try:
        with httpx.Client(timeout=TIMEOUT, transport=transport) as client:
            response = client.post(
                url, content=body.encode(), headers={"content-type": "application/json", **headers}
            )
    except httpx.TimeoutException:
        return Outcome(False, None, "timed out", True)
    except httpx.HTTPError as exc:
        # The exception's text may hold the URL (a Slack URL is a secret): its kind only.
        return Outcome(False, None, type(exc).__name__, True)
    code = response.status_code
    if 200 <= code < 300:
        return Outcome(True, code, None, False)
    return Outcome(False, code, f"HTTP {code}", code >= 500 or code in (408, 429))


def _send_email(settings: Settings, channel: Channel, delivery: Delivery) -> Outcome:
    if not settings.smtp_host:
        return Outcome(False, None, "SMTP is not configured (FINOPS_SMTP_HOST)", False)
    body = json.loads(delivery.body)
    subject, text = describe(body["type"], body["data"], settings)
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = settings.smtp_from
    message["To"] = channel.addresses or ""
    message["Message-ID"] = f"<{delivery.event_id}@anthropic-finops>"
    message.set_content(text + "\n")
    try:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=15) as smtp:
            if settings.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.smtp_username and settings.smtp_password:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except smtplib.SMTPRecipientsRefused:
        return Outcome(False, None, "the SMTP server refused the recipients", False)
    except (OSError, smtplib.SMTPException) as exc:
        return Outcome(False, None, f"SMTP: {type(exc).__name__}", True)
    return Outcome(True, None, None, False)


def _money(value: Any) -> str:
    return "-" if value is None else f"${Decimal(str(value)):,.2f}"


def describe(event_type: str, data: dict[str, Any], settings: Settings) -> tuple[str, str]:
    """A subject and a readable text with the numbers (Slack, email) for an event."""
    link = f"http://localhost:{settings.streamlit_port}"
    if event_type == "budget.threshold_crossed":
        subject = (
            f"Budget {data.get('budget')}: {data.get('threshold_percent')}% "
            f"({data.get('on')}) crossed"
        )
        text = (
            f"Budget {data.get('budget')} crossed {data.get('threshold_percent')}% of "
            f"{_money(data.get('amount_usd'))} on {data.get('on')} spend for the period "
            f"starting {data.get('period_start')}: actual {_money(data.get('actual_usd'))}, "
            f"forecast {_money(data.get('forecast_usd'))}."
        )
        if data.get("restatement"):
            text += " It was crossed by restated spend of days already counted."
        return subject, f"{text}\n{link}/budgets"
    if event_type == "anomaly.detected":
        value = data.get("value") or {}
        name = value.get("name") if isinstance(value, dict) else value
        subject = f"Spend anomaly: {name} on {data.get('date')}"
        text = (
            f"Spend anomaly on {data.get('date')}: {data.get('dimension')} {name} of "
            f"organization {data.get('organization_id')} spent {_money(data.get('actual_usd'))}"
            f", expected {_money(data.get('expected_usd'))} "
            f"(impact {_money(data.get('impact_usd'))})."
        )
        return subject, f"{text}\n{link}"
    if event_type == "digest.weekly":
        return "Anthropic FinOps weekly digest", str(data.get("text") or json.dumps(data))
    return "Anthropic FinOps test", str(data.get("message") or json.dumps(data))


def _json(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return clock.rfc3339(value)
    return str(value)


def get_delivery(engine: Engine, delivery_id: int) -> Delivery:
    """One delivery as it is now (KeyError when there is none)."""
    with read_session(engine) as session:
        row = session.get(Delivery, delivery_id)
    if row is None:
        raise KeyError(delivery_id)
    return row
