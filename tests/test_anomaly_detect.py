"""Spend anomalies end to end (issue 19), on SQLite and Postgres: cost rows written through the
sync's write path (``replace_days``, which keeps the rollups the scan reads), the scan after a
sync, the stored anomalies and their episodes, ``finops anomalies`` and its triage, and the
``anomaly.detected`` notification (one per episode)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, select

from app.anthropic.schemas import CostRow
from app.cli import main
from app.db import write_session
from app.finops import anomalies
from app.finops.anomaly_detector import LEARNING_DAYS
from app.finops.anomaly_tables import Anomaly
from app.models import AuditEvent, Workspace
from app.store import replace_days
from tests.utils.factories import add_console_orgs

START = date(2026, 5, 4)  # a Monday
DAYS = 120
TODAY = START + timedelta(days=DAYS)
SPIKE_PROD = START + timedelta(days=75)  # a Tuesday
SPIKE_DEFAULT = START + timedelta(days=96)  # a Sunday
WORKSPACES = {"wrkspc_prod": "Production", None: "Default workspace", "wrkspc_batch": "Batch"}
# Weekday and weekend dollars of each workspace.
LEVELS = {"wrkspc_prod": (400.0, 120.0), None: (90.0, 60.0), "wrkspc_batch": (150.0, 150.0)}


@dataclass
class World:
    """What the test wrote: the organization, its rows by day, and the pinned clock."""

    pk: int
    organization_id: str
    rows: dict[date, list[CostRow]] = field(default_factory=dict)

    def workspace_usd(self, day: date, workspace: str | None) -> Decimal:
        cents = sum(
            (r.amount_cents for r in self.rows[day] if r.dims["workspace_id"] == workspace),
            Decimal(0),
        )
        return cents.scaleb(-2)


def pin(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    moment = datetime.combine(day, time(6, 0), tzinfo=UTC)
    monkeypatch.setattr("app.clock.utcnow", lambda: moment)


def day_rows(day: date, rng: random.Random, factor: dict[str | None, float]) -> list[CostRow]:
    """One day's cost rows: per workspace, two models' input and output, and web search."""
    rows = []
    weekend = day.weekday() >= 5
    for workspace, (weekday_usd, weekend_usd) in LEVELS.items():
        usd = (weekend_usd if weekend else weekday_usd) * factor.get(workspace, 1.0)
        usd *= rng.uniform(0.93, 1.07)
        parts = [
            ("claude-sonnet-4-5", "output_tokens", 0.5),
            ("claude-sonnet-4-5", "uncached_input_tokens", 0.3),
            ("claude-haiku-4-5", "output_tokens", 0.15),
            (None, None, 0.05),
        ]
        for model, token_type, share in parts:
            cents = Decimal(str(round(usd * share * 100, 6)))
            dims: dict[str, str | None] = {
                "workspace_id": workspace,
                "description": f"{model} {token_type}" if model else "Web search",
                "cost_type": "tokens" if model else "web_search",
                "model": model,
                "token_type": token_type,
                "service_tier": "standard" if model else None,
                "context_window": "0-200k" if model else None,
                "inference_geo": None,
            }
            rows.append(CostRow(day, dims, cents, "USD"))
    return rows


def seed(engine: Engine, *, spikes: dict[date, dict[str | None, float]], seed_: int = 5) -> World:
    with write_session(engine) as session:
        (pk,) = add_console_orgs(session, "org-anom", 1, START)
        for ws, name in WORKSPACES.items():
            if ws is not None:
                session.add(Workspace(organization_pk=pk, workspace_id=ws, name=name))
    world = World(pk=pk, organization_id="org-anom-0")
    rng = random.Random(seed_)
    for n in range(DAYS):
        day = START + timedelta(days=n)
        world.rows[day] = day_rows(day, rng, spikes.get(day, {}))
    write(engine, world, START, TODAY)
    return world


def write(engine: Engine, world: World, start: date, end: date) -> None:
    with write_session(engine) as session:
        rows = [r for d, rs in world.rows.items() if start <= d < end for r in rs]
        replace_days(session, world.pk, "cost", start, end, rows)


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    """What ``anomaly.detected`` carried (the delivery path stands in at its one call site)."""
    out: list[dict[str, Any]] = []

    def fake(engine: Engine, settings: Any, data: dict[str, Any], impact_usd: Decimal) -> list[int]:
        out.append(data)
        return [1]

    monkeypatch.setattr(anomalies, "notify_channels", fake)
    yield out


def listed(engine: Engine, **kwargs: Any) -> list[dict[str, Any]]:
    return anomalies.list_anomalies(engine, start=START, end=TODAY, **kwargs)


def test_two_spikes_are_found_on_their_day_at_their_workspace_with_the_actual_amount(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    world = seed(engine, spikes={SPIKE_PROD: {"wrkspc_prod": 3.0}, SPIKE_DEFAULT: {None: 4.0}})
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    found = listed(engine)
    by_workspace = {
        (a["date"], a["value"]["id"]): a for a in found if a["dimension"] == "workspace"
    }
    assert set(by_workspace) == {
        (SPIKE_PROD.isoformat(), "wrkspc_prod"),
        (SPIKE_DEFAULT.isoformat(), None),
    }
    prod = by_workspace[(SPIKE_PROD.isoformat(), "wrkspc_prod")]
    default = by_workspace[(SPIKE_DEFAULT.isoformat(), None)]
    assert prod["value"]["name"] == "Production"
    assert default["value"]["name"] == "Default workspace"
    assert Decimal(str(prod["actual_usd"])) == world.workspace_usd(SPIKE_PROD, "wrkspc_prod")
    assert Decimal(str(default["actual_usd"])) == world.workspace_usd(SPIKE_DEFAULT, None)
    for a in (prod, default):
        assert a["status"] == "open"
        assert a["actual_usd"] > a["high_usd"] > a["expected_usd"] > a["low_usd"] >= 0
        assert Decimal(str(a["impact_usd"])) == (
            Decimal(str(a["actual_usd"])) - Decimal(str(a["expected_usd"]))
        )
    # Explained: in Production the largest increase that day was Sonnet's output.
    assert prod["drivers"][0]["dimension"] in ("model", "token_type")
    assert {d["name"] for d in prod["drivers"]} >= {"Claude Sonnet 4.5", "Output"}
    # Nothing else in these clean series but what the spikes also raised their organization
    # and models by; no day of another workspace.
    others = [
        a for a in found if a["date"] not in (SPIKE_PROD.isoformat(), SPIKE_DEFAULT.isoformat())
    ]
    assert len(others) <= 2, others
    # Recent days (within a week of today) were notified, once per episode.
    assert sorted(s["id"] for s in sent) == sorted(
        a["id"] for a in found if a["date"] >= (TODAY - timedelta(days=7)).isoformat()
    )


def test_a_spike_in_a_series_first_14_days_is_not_an_anomaly(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spikes on the organization's second and tenth day: none found (learning period); the
    same size on day 40 is."""
    world = seed(
        engine,
        spikes={
            START + timedelta(days=2): {"wrkspc_prod": 5.0},
            START + timedelta(days=10): {"wrkspc_batch": 5.0},
            START + timedelta(days=40): {"wrkspc_batch": 5.0},
        },
    )
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    found = listed(engine)
    assert all(
        date.fromisoformat(a["date"]) >= START + timedelta(days=LEARNING_DAYS) for a in found
    )
    assert (START + timedelta(days=40)).isoformat() in {
        a["date"] for a in found if a["value"]["id"] == "wrkspc_batch"
    }
    assert world.pk


def test_clean_series_raise_at_most_a_handful_over_four_months(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    seed(engine, spikes={}, seed_=11)
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    # 3 workspaces + the organization + 3 model series, four months: a handful at most.
    assert len(listed(engine)) <= 3


def test_ack_and_dismiss_from_the_cli_survive_rescans_and_are_audited(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(engine, spikes={SPIKE_PROD: {"wrkspc_prod": 3.0}})
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    capsys.readouterr()
    start, end = START.isoformat(), TODAY.isoformat()
    assert main(["anomalies", "--start", start, "--end", end, "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    prod = next(a for a in rows if a["value"]["id"] == "wrkspc_prod")
    for name in (
        "date",
        "organization_id",
        "dimension",
        "value",
        "actual_usd",
        "expected_usd",
        "low_usd",
        "high_usd",
        "impact_usd",
        "status",
        "id",
        "drivers",
    ):
        assert name in prod
    assert prod["organization_id"] == "org-anom-0"

    assert main(["anomalies", "ack", str(prod["id"]), "--reason", "known batch job"]) == 0
    assert "acknowledged" in capsys.readouterr().out
    anomalies.detect(engine, None)  # a later sync's scan
    assert main(["anomalies", "--start", start, "--end", end, "--json"]) == 0
    again = {a["id"]: a for a in json.loads(capsys.readouterr().out)}
    assert again[prod["id"]]["status"] == "acknowledged"

    # Unknown id, and no reason: refused, nothing changes.
    assert main(["anomalies", "dismiss", "999999", "--reason", "x"]) == 1
    assert "999999" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["anomalies", "dismiss", str(prod["id"])])
    assert refused.value.code == 2
    assert main(["anomalies", "dismiss", str(prod["id"]), "--reason", "  "]) == 1
    capsys.readouterr()
    with write_session(engine) as session:
        events = session.execute(select(AuditEvent.action, AuditEvent.detail)).all()
    assert [a for a, _ in events if a.startswith("anomaly_")] == ["anomaly_acknowledged"]
    assert "known batch job" in next(d for a, d in events if a == "anomaly_acknowledged")


def test_a_dismissal_can_suppress_its_series_for_a_window(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A planned load test: dismissed with --suppress-days 10, its next spike in those days is
    not raised; the one after the window is."""
    first, inside, after = (START + timedelta(days=n) for n in (60, 65, 80))
    world = seed(engine, spikes={first: {"wrkspc_batch": 4.0}})
    pin(monkeypatch, first + timedelta(days=1))
    anomalies.detect(engine, None)
    (batch,) = [a for a in listed(engine) if a["value"]["id"] == "wrkspc_batch"]
    assert (
        main(
            [
                "anomalies",
                "dismiss",
                str(batch["id"]),
                "--reason",
                "load test",
                "--suppress-days",
                "10",
            ]
        )
        == 0
    )
    rng = random.Random(3)
    for day in (inside, after):
        world.rows[day] = day_rows(day, rng, {"wrkspc_batch": 4.0})
    write(engine, world, inside, after + timedelta(days=1))
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    batch_days = {
        a["date"]: a["status"] for a in listed(engine) if a["value"]["id"] == "wrkspc_batch"
    }
    assert batch_days[first.isoformat()] == "dismissed"
    assert inside.isoformat() not in batch_days
    assert after.isoformat() in batch_days


def test_an_episode_is_notified_once_and_a_restated_day_updates_its_anomaly(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    """Three consecutive days far above Batch's range are one episode: one anomaly.detected,
    carrying the anomaly as listed, not again after more scans. A restated day keeps its id
    and status with the new amount; a day restated back to normal spend is no longer listed."""
    days = [START + timedelta(days=n) for n in (100, 101, 102)]
    world = seed(engine, spikes={d: {"wrkspc_batch": 5.0} for d in days})
    pin(monkeypatch, days[-1] + timedelta(days=1))
    anomalies.detect(engine, None)
    batch = [a for a in listed(engine) if a["value"]["id"] == "wrkspc_batch"]
    assert [a["date"] for a in batch] == [d.isoformat() for d in reversed(days)]
    assert len({a["episode_id"] for a in batch}) == 1
    batch_sent = [s for s in sent if s["value"]["id"] == "wrkspc_batch"]
    assert len(batch_sent) == 1
    assert batch_sent[0]["date"] == days[0].isoformat()
    assert batch_sent[0] == next(a for a in listed(engine) if a["id"] == batch_sent[0]["id"]) | {
        "notified_at": batch_sent[0]["notified_at"]
    }
    pin(monkeypatch, days[-1] + timedelta(days=2))
    anomalies.detect(engine, None)
    anomalies.detect(engine, None)
    assert len([s for s in sent if s["value"]["id"] == "wrkspc_batch"]) == 1

    # Day 2 restated higher (still anomalous): same id, new actual, status kept.
    second = next(a for a in batch if a["date"] == days[1].isoformat())
    assert main(["anomalies", "ack", str(second["id"]), "--reason", "seen"]) == 0
    rng = random.Random(9)
    world.rows[days[1]] = day_rows(days[1], rng, {"wrkspc_batch": 7.0})
    world.rows[days[2]] = day_rows(days[2], rng, {})
    write(engine, world, days[1], days[2] + timedelta(days=1))
    anomalies.detect(engine, None)
    after = {a["date"]: a for a in listed(engine) if a["value"]["id"] == "wrkspc_batch"}
    assert after[days[1].isoformat()]["id"] == second["id"]
    assert after[days[1].isoformat()]["status"] == "acknowledged"
    assert Decimal(str(after[days[1].isoformat()]["actual_usd"])) == world.workspace_usd(
        days[1], "wrkspc_batch"
    )
    assert days[2].isoformat() not in after  # restated to normal spend
    with write_session(engine) as session:
        count = len(session.execute(select(Anomaly.id)).all())
    assert count == len(anomalies.list_anomalies(engine, start=START, end=TODAY))
    assert len([s for s in sent if s["value"]["id"] == "wrkspc_batch"]) == 1


def test_a_backfill_lists_old_anomalies_without_notifying_them(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, sent: list[dict[str, Any]]
) -> None:
    seed(engine, spikes={SPIKE_PROD: {"wrkspc_prod": 3.0}})
    pin(monkeypatch, TODAY)  # the spike is 45 days old when first found
    anomalies.detect(engine, None)
    assert any(a["value"]["id"] == "wrkspc_prod" for a in listed(engine))
    assert not [s for s in sent if s["date"] == SPIKE_PROD.isoformat()]
