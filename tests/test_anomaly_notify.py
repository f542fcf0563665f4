"""``anomaly.detected`` through the real delivery path (issue 19): a signed webhook to a real
receiver on loopback, once per episode, also when two workers scan at once; only to channels
subscribed to the event whose minimum impact the anomaly reaches."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.finops import anomalies, delivery
from app.finops.channels import add_channel, generate_secret
from app.runtime import keystore
from app.services.access import OPERATOR
from app.settings import Settings
from tests.test_anomaly_detect import START, listed, pin, seed
from tests.test_channels_delivery import Receiver

SPIKE_DAYS = [START + timedelta(days=n) for n in (110, 111)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver(generate_secret())
    yield r
    r.close()


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)


def hook(
    engine: Engine,
    settings: Settings,
    r: Receiver,
    name: str,
    events: tuple[str, ...] = ("anomaly.detected",),
    min_impact_usd: Decimal | None = None,
) -> None:
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name=name,
        type="webhook",
        url=r.url,
        secret=r.secret,
        events=events,
        min_impact_usd=min_impact_usd,
    )


def test_an_episode_reaches_a_subscribed_webhook_once_with_the_anomaly_as_listed(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, spikes={d: {"wrkspc_batch": 6.0} for d in SPIKE_DAYS})
    other = Receiver(generate_secret())
    try:
        hook(engine, settings, receiver, "anomalies")
        hook(engine, settings, other, "budgets-only", events=("budget.threshold_crossed",))
        hook(engine, settings, other, "huge-only", min_impact_usd=Decimal(1_000_000))
        pin(monkeypatch, SPIKE_DAYS[-1] + timedelta(days=1))
        # Two workers finishing a sync at the same moment both run the scan.
        workers = [
            threading.Thread(target=anomalies.detect, args=(engine, settings)) for _ in range(2)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        anomalies.detect(engine, settings)  # and the next sync's
        assert other.requests == []
    finally:
        other.close()
    bodies = [json.loads(r["body"]) for r in receiver.requests]
    assert all(r["verified"] for r in receiver.requests)
    batch = [b for b in bodies if b["data"]["value"]["id"] == "wrkspc_batch"]
    assert len(batch) == 1, batch  # two anomalous days, one episode, one event
    assert batch[0]["type"] == "anomaly.detected"
    data = batch[0]["data"]
    assert data["date"] == SPIKE_DAYS[0].isoformat()
    stored = {a["id"]: a for a in listed(engine)}
    assert data | {"notified_at": None} == stored[data["id"]] | {"notified_at": None}
    # Each day of the batch episode stored once, though two scans ran together.
    batch_days = [a["date"] for a in stored.values() if a["value"]["id"] == "wrkspc_batch"]
    assert sorted(batch_days) == [d.isoformat() for d in SPIKE_DAYS]
    # Every episode that went out went out once.
    episodes = [(b["data"]["dimension"], b["data"]["value"]["id"]) for b in bodies]
    assert len(episodes) == len(set(episodes))
