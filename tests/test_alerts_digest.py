"""The weekly digest: from Monday 08:00 UTC, once per week and channel (across evaluations),
with last week's spend, its change, the top movers and the budgets."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from app.finops import delivery
from app.finops.alerts import evaluate
from app.finops.allocation import import_allocation
from app.finops.budgets import import_budgets, usd_number
from app.finops.channels import add_channel, generate_secret
from app.finops.digest import digest_data
from app.finops.forecast import clear_cache
from app.runtime import keystore
from app.services.access import OPERATOR
from app.settings import Settings
from app.simulator import Simulator
from tests.test_budget_alerts import cents, seed
from tests.test_channels_delivery import Receiver


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    monkeypatch.setattr(delivery, "sleep", lambda _s: None)
    r = Receiver(generate_secret())
    yield r
    r.close()


def at(monkeypatch: pytest.MonkeyPatch, moment: datetime) -> None:
    monkeypatch.setattr("app.clock.utcnow", lambda: moment)
    clear_cache()


def week_usd(start: date) -> Decimal:
    """Both organizations (the second spends a tenth of the first) over seven days."""
    days = [start + timedelta(days=i) for i in range(7)]
    return sum((cents(d) + cents(d) / 10 for d in days), Decimal(0)) / 100


def test_the_digest_goes_once_a_week_from_monday_eight(
    engine: Engine, settings: Settings, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, date(2026, 12, 29))
    add_channel(
        engine,
        keystore(settings),
        actor=OPERATOR,
        name="weekly",
        type="webhook",
        url=receiver.url,
        secret=receiver.secret,
        events=("digest.weekly",),
    )
    import_budgets(engine, "budgets:\n  - {name: All, amount_usd: 100000}\n", actor=OPERATOR)
    at(monkeypatch, datetime(2026, 12, 21, 7, 59, tzinfo=UTC))  # a Monday, before eight
    evaluate(engine, settings)
    assert receiver.requests == []
    at(monkeypatch, datetime(2026, 12, 21, 8, 15, tzinfo=UTC))
    evaluate(engine, settings)
    evaluate(engine, settings)
    at(monkeypatch, datetime(2026, 12, 27, 23, 0, tzinfo=UTC))  # Sunday: still that week
    evaluate(engine, settings)
    [request] = receiver.requests
    assert request["verified"]
    body = json.loads(request["body"])
    assert body["type"] == "digest.weekly"
    data = body["data"]
    assert data["week_start"] == "2026-12-14"
    assert abs(Decimal(str(data["spend_usd"])) - week_usd(date(2026, 12, 14))) < Decimal("0.05")
    assert abs(Decimal(str(data["previous_usd"])) - week_usd(date(2026, 12, 7))) < Decimal("0.05")
    # By name as the dashboard shows it (the second organization's workspace has no name).
    movers = [m["name"] for m in data["movers"]["workspace"]]
    assert movers[0] == "Production"
    assert set(movers) == {"Production", "Default workspace", "wrk_prod"}
    assert [b["name"] for b in data["budgets"]] == ["All"]
    assert "Week of 2026-12-14" in data["text"]
    at(monkeypatch, datetime(2026, 12, 28, 8, 0, tzinfo=UTC))  # the next Monday
    evaluate(engine, settings)
    assert len(receiver.requests) == 2
    assert json.loads(receiver.requests[1]["body"])["data"]["week_start"] == "2026-12-21"


def test_the_digest_names_the_movers_of_each_allocation(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Team "Search" is Production, the rest Unallocated: their week's spend equals the
    workspaces' in the same digest (allocated lines against the cost rollup), and the text names
    the team movers."""
    seed(engine, date(2026, 12, 29))
    at(monkeypatch, datetime(2026, 12, 21, 9, 0, tzinfo=UTC))
    team = (
        "allocation: Team\ndefault: Unallocated\nrules:\n"
        "  - value: Search\n    match: {workspace: [Production]}\n"
    )
    import_allocation(engine, team, actor="test")
    data = digest_data(engine, date(2026, 12, 21), [])
    teams = {m["name"]: m for m in data["movers_by_allocation"]["Team"]}
    workspaces = {m["name"]: m for m in data["movers"]["workspace"]}
    assert set(teams) == {"Search", "Unallocated"}
    assert teams["Search"]["spend_usd"] == workspaces["Production"]["spend_usd"]
    rest = workspaces["Default workspace"]["spend_usd"] + workspaces["wrk_prod"]["spend_usd"]
    assert abs(teams["Unallocated"]["spend_usd"] - rest) < 0.01
    assert abs(sum(m["spend_usd"] for m in teams.values()) - data["spend_usd"]) < 0.01
    assert "Top movers by Team: " in data["text"]


def test_the_digest_names_key_movers_and_the_weeks_open_anomalies(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """Movers by API key are per-key billed cost by the dashboard's key names; the week's open
    anomalies are listed (an acknowledged one is not), largest impact first."""
    from sqlmodel import col

    from app.db import read_session, write_session
    from app.finops.anomaly_tables import Anomaly
    from app.models import ApiKey, KeyCost
    from tests.test_key_cost_sync import _synced

    _, pk = _synced(sim, engine, settings)
    monday = sim.today - timedelta(days=sim.today.weekday())
    week = monday - timedelta(days=7)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with write_session(engine) as session:
        for n, (status, cents) in enumerate((("open", 500), ("acknowledged", 900), ("open", 700))):
            session.add(
                Anomaly(
                    organization_pk=pk,
                    date=week + timedelta(days=n),
                    dimension="model",
                    value_key=f"m{n}",
                    value_id=f"m{n}",
                    value_name=f"Model {n}",
                    actual_cents=Decimal(cents * 2),
                    expected_cents=Decimal(cents),
                    low_cents=Decimal(0),
                    high_cents=Decimal(cents),
                    impact_cents=Decimal(cents),
                    status=status,
                    episode_start=week + timedelta(days=n),
                    first_found_at=now,
                    updated_at=now,
                )
            )
    data = digest_data(engine, monday, [])
    top = data["movers"]["api_key"][0]
    with read_session(engine) as session:
        key_id = session.execute(
            select(ApiKey.api_key_id).where(
                ApiKey.name == top["name"], ApiKey.organization_pk == pk
            )
        ).scalar_one()
        spent = session.execute(
            select(func.sum(KeyCost.amount_cents)).where(
                col(KeyCost.api_key_id) == key_id,
                col(KeyCost.date) >= week,
                col(KeyCost.date) < monday,
            )
        ).scalar_one()
    assert top["spend_usd"] == usd_number(Decimal(spent))  # to the cent, as the digest rounds
    assert "Top movers by API key: " in data["text"]
    assert [a["value"]["name"] for a in data["open_anomalies"]] == ["Model 2", "Model 0"]
    assert "Open anomaly" in data["text"]
