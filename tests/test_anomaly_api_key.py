"""Anomalies per API key (issue 19), where per-key billed cost exists (``key_cost_line``): a
key's spike is found on its day under the ``api_key`` dimension, named as the dashboards name
it; the null key is "Console / Workbench". Also the plain-text listing of ``finops anomalies``."""

from __future__ import annotations

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.cli import main
from app.db import write_session
from app.finops import anomalies
from app.models import ApiKey, KeyCost
from tests.test_anomaly_detect import START, TODAY, listed, pin, seed

SPIKE = START + timedelta(days=90)


def add_key_cost(engine: Engine, pk: int) -> None:
    rng = random.Random(4)
    with write_session(engine) as session:
        session.add(ApiKey(organization_pk=pk, api_key_id="apikey_01", name="search-backend"))
        for n in range((TODAY - START).days):
            day = START + timedelta(days=n)
            for key, usd in (("apikey_01", 300.0), (None, 40.0)):
                usd *= (0.4 if day.weekday() >= 5 else 1.0) * rng.uniform(0.94, 1.06)
                if day == SPIKE and key == "apikey_01":
                    usd *= 4
                session.add(
                    KeyCost(
                        organization_pk=pk,
                        date=day,
                        workspace_id="wrkspc_prod",
                        api_key_id=key,
                        model="claude-sonnet-4-5",
                        cost_type="tokens",
                        token_type="output_tokens",
                        amount_cents=Decimal(str(round(usd * 100, 6))),
                        dims_key=f"{key}",
                    )
                )


def test_a_key_spike_is_found_under_the_api_key_dimension(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    world = seed(engine, spikes={})
    add_key_cost(engine, world.pk)
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    keys = [a for a in listed(engine) if a["dimension"] == "api_key"]
    assert [(a["date"], a["value"]) for a in keys] == [
        (SPIKE.isoformat(), {"id": "apikey_01", "name": "search-backend"})
    ]
    assert keys[0]["drivers"][0]["name"] in ("Production", "Claude Sonnet 4.5", "Output")
    capsys.readouterr()
    assert main(["anomalies", "--start", START.isoformat(), "--end", TODAY.isoformat()]) == 0
    out = capsys.readouterr().out
    assert "search-backend" in out and "api_key" in out and SPIKE.isoformat() in out
