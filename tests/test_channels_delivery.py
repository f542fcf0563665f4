"""Channels and deliveries: each webhook is signed per Standard Webhooks (checked by the
standardwebhooks library in a real HTTP receiver), a 5xx is retried under the same webhook-id
until it passes, a 4xx is not retried, and no secret shows in a listing or the log."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import Engine
from standardwebhooks import Webhook

from app.cli import main
from app.finops import delivery
from app.finops.channels import add_channel, generate_secret, list_channels
from app.runtime import keystore
from app.services.access import OPERATOR
from app.settings import Settings


class Receiver:
    """A webhook receiver on loopback: answers with ``codes`` in turn (then 200) and verifies
    every request's signature with the standardwebhooks library."""

    def __init__(self, secret: str, codes: list[int] | None = None) -> None:
        self.secret = secret
        self.codes = list(codes or [])
        self.requests: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["content-length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    payload = Webhook(receiver.secret).verify(body, headers)
                    verified = True
                except Exception:
                    payload, verified = None, False
                receiver.requests.append(
                    {"headers": headers, "body": body, "verified": verified, "payload": payload}
                )
                code = receiver.codes.pop(0) if receiver.codes else 200
                self.send_response(code)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(generate_secret())
    yield r
    r.close()


def add_hook(engine: Engine, settings: Settings, r: Receiver, name: str = "ops-hook") -> None:
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name=name,
        type="webhook",
        url=r.url,
        secret=r.secret,
    )


def test_a_webhook_is_signed_and_verified_by_the_receiver(
    engine: Engine, settings: Settings, receiver: Receiver, no_backoff: None
) -> None:
    add_hook(engine, settings, receiver)
    ids = delivery.notify(engine, settings, "anomaly.detected", {"impact_usd": 12.5})
    assert len(ids) == 1
    [request] = receiver.requests
    assert request["verified"]
    body = json.loads(request["body"])
    assert body["type"] == "anomaly.detected"
    assert body["data"] == {"impact_usd": 12.5}
    assert body["timestamp"].endswith("Z")
    assert request["headers"]["webhook-signature"].startswith("v1,")


def test_a_receiver_failing_twice_gets_the_delivery_under_the_same_webhook_id(
    engine: Engine, settings: Settings, no_backoff: None
) -> None:
    r = Receiver(generate_secret(), [500, 503])
    try:
        add_hook(engine, settings, r)
        [delivery_id] = delivery.notify(engine, settings, "anomaly.detected", {"n": 1})
    finally:
        r.close()
    assert len(r.requests) == 3
    assert all(req["verified"] for req in r.requests)
    assert len({req["headers"]["webhook-id"] for req in r.requests}) == 1
    row = delivery.get_delivery(engine, delivery_id)
    assert (row.status, row.attempts, row.last_status_code) == ("delivered", 3, 200)


def test_a_4xx_is_not_retried_and_a_5xx_outage_is_retried_on_the_next_evaluation(
    engine: Engine, settings: Settings, no_backoff: None
) -> None:
    r = Receiver(generate_secret(), [404])
    down = Receiver(generate_secret(), [500] * delivery.ATTEMPTS)
    try:
        add_hook(engine, settings, r, "gone")
        add_hook(engine, settings, down, "down")
        ids = delivery.notify(engine, settings, "anomaly.detected", {"n": 1})
        rows = {
            delivery.get_delivery(engine, i).channel_name: delivery.get_delivery(engine, i)
            for i in ids
        }
        assert (rows["gone"].status, rows["gone"].attempts) == ("failed", 1)
        assert rows["gone"].last_status_code == 404
        assert (rows["down"].status, rows["down"].attempts) == ("failed", delivery.ATTEMPTS)
        # The next evaluation retries the one that may pass, not the refused one.
        assert delivery.retry_pending(engine, settings) == 1
        again = delivery.get_delivery(engine, rows["down"].id or 0)
        assert (again.status, again.attempts) == ("delivered", delivery.ATTEMPTS + 1)
        assert len({q["headers"]["webhook-id"] for q in down.requests}) == 1
    finally:
        r.close()
        down.close()


def test_a_channel_with_min_impact_gets_only_anomalies_that_large(
    engine: Engine, settings: Settings, receiver: Receiver, no_backoff: None
) -> None:
    from decimal import Decimal

    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="big",
        type="webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=("anomaly.detected",),
        min_impact_usd=Decimal(100),
    )
    assert delivery.notify(engine, settings, "anomaly.detected", {}, impact_usd=Decimal(50)) == []
    assert delivery.notify(engine, settings, "budget.threshold_crossed", {}) == []
    assert (
        len(delivery.notify(engine, settings, "anomaly.detected", {}, impact_usd=Decimal(150))) == 1
    )


def test_secrets_are_never_listed_nor_logged(
    engine: Engine,
    settings: Settings,
    receiver: Receiver,
    no_backoff: None,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("FINOPS_CHANNEL_SECRET", receiver.secret)
    assert (
        main(["channels", "add", "--name", "ops-hook", "--type", "webhook", "--url", receiver.url])
        == 0
    )
    # A Slack URL is a secret too (here on the local receiver, so its test is really sent).
    slack_url = receiver.url + "/services/T000/B000/abcdefSECRETxyz1"
    monkeypatch.delenv("FINOPS_CHANNEL_SECRET")
    assert main(["channels", "add", "--name", "slack", "--type", "slack", "--url", slack_url]) == 0
    assert main(["channels", "list", "--json"]) == 0
    assert main(["channels", "list"]) == 0
    assert main(["channels", "test", "ops-hook"]) == 0
    assert main(["channels", "test", "slack"]) == 0
    out = capsys.readouterr()
    listed = json.loads(out.out[out.out.index("[") : out.out.index("]\n") + 1])
    assert {c["name"] for c in listed} == {"ops-hook", "slack"}
    hook = next(c for c in listed if c["name"] == "ops-hook")
    assert hook["secret_hint"] == "whsec_…" + receiver.secret[-4:]
    everything = out.out + out.err + caplog.text
    assert receiver.secret not in everything
    assert receiver.secret.removeprefix("whsec_") not in everything
    assert slack_url not in everything and "SECRETxyz" not in everything
    assert receiver.requests[0]["verified"]
    assert "A test" in json.loads(receiver.requests[1]["body"])["text"]
    assert [v.name for v in list_channels(engine)] == ["ops-hook", "slack"]


def test_a_generated_secret_is_printed_once_and_signs_the_test(
    engine: Engine,
    settings: Settings,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FINOPS_CHANNEL_SECRET", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    assert (
        main(["channels", "add", "--name", "gen", "--type", "webhook", "--url", receiver.url]) == 0
    )
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("whsec_")]
    assert len(printed) == 1
    receiver.secret = printed[0]
    assert main(["channels", "test", "gen"]) == 0
    assert receiver.requests[-1]["verified"]
    assert main(["channels", "list"]) == 0
    assert printed[0] not in capsys.readouterr().out
    assert main(["channels", "remove", "gen"]) == 0
    assert main(["channels", "test", "gen"]) == 1


def test_events_and_min_impact_from_the_command_line(
    engine: Engine,
    settings: Settings,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINOPS_CHANNEL_SECRET", receiver.secret)
    add = ["channels", "add", "--type", "webhook", "--url", receiver.url]
    assert main([*add, "--name", "a", "--events", "anomaly.detected", "digest.weekly"]) == 0
    assert (
        main([*add, "--name", "b", "--events", "anomaly.detected", "--min-impact-usd", "25"]) == 0
    )
    assert main([*add, "--name", "c", "--events", "budget.nope"]) == 1
    assert main([*add, "--name", "a"]) == 1  # the name is taken
    assert (
        main(["channels", "add", "--name", "m", "--type", "email", "--to", "not-an-address"]) == 1
    )
    monkeypatch.setenv("FINOPS_CHANNEL_SECRET", "not-a-secret")
    assert main([*add, "--name", "d"]) == 1
    capsys.readouterr()
    assert main(["channels", "list", "--json"]) == 0
    listed = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert set(listed) == {"a", "b"}
    assert listed["a"]["events"] == ["anomaly.detected", "digest.weekly"]
    assert (listed["b"]["events"], listed["b"]["min_impact_usd"]) == (["anomaly.detected"], 25.0)
