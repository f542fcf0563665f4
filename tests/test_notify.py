"""The data-ready email, sent once when the first backfill completes, to a local SMTP server."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine

from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))  # type: ignore[attr-defined]
        return "250 OK"


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    handler = Inbox()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


def test_ready_email_is_sent_once_after_the_backfill(
    sim: Simulator, engine: Engine, settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    handler, port = inbox
    mail = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "smtp_starttls": False,
            "notify_email": "finops@example.com, lead@example.com",
        }
    )
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=mail)
    sync = sync_engine(sim, engine, mail)
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    [message] = handler.messages
    assert message["Subject"] == f"Anthropic FinOps: data for {org.name} is ready"
    assert message["To"] == "finops@example.com, lead@example.com"
    assert org.id in message.get_payload()
    assert org.admin_key[15:] not in message.as_string()
    # Later incremental runs do not send it again.
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    assert len(handler.messages) == 1


def test_no_email_without_smtp_settings(sim: Simulator, engine: Engine, settings: Settings) -> None:
    from ingest.notify import ready_message

    assert ready_message(settings, "Acme", "org-1") is None
