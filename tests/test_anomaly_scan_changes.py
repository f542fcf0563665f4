"""The scan after each sync reads only the organizations whose data changed (issue 19, the
worker's hot path), on SQLite and Postgres: an unchanged organization's series are not read
again, one whose cost was restated is, and a new complete day has every organization checked."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from app.anthropic.schemas import CostRow
from app.db import write_session
from app.finops import anomalies
from app.store import replace_days
from tests.utils.factories import add_console_orgs

START = date(2026, 5, 4)  # a Monday
DAYS = 120
TODAY = START + timedelta(days=DAYS)
SPIKE = START + timedelta(days=80)  # every organization's first spike
RESTATED = START + timedelta(days=100)  # the day one organization's cost is restated
ORGS = 3


def pin(monkeypatch: pytest.MonkeyPatch, day: date) -> None:
    moment = datetime.combine(day, time(6, 0), tzinfo=UTC)
    monkeypatch.setattr("app.clock.utcnow", lambda: moment)


def day_rows(day: date, rng: random.Random, factor: float = 1.0) -> list[CostRow]:
    """One day's cost rows of one organization: a workspace's output tokens and web search."""
    usd = (300.0 if day.weekday() < 5 else 100.0) * factor * rng.uniform(0.93, 1.07)
    rows = []
    for model, token_type, share in (
        ("claude-sonnet-4-5", "output_tokens", 0.9),
        (None, None, 0.1),
    ):
        dims: dict[str, str | None] = {
            "workspace_id": "wrkspc_prod",
            "description": "Sonnet output" if model else "Web search",
            "cost_type": "tokens" if model else "web_search",
            "model": model,
            "token_type": token_type,
            "service_tier": "standard" if model else None,
            "context_window": "0-200k" if model else None,
            "inference_geo": None,
        }
        rows.append(CostRow(day, dims, Decimal(str(round(usd * share * 100, 6))), "USD"))
    return rows


def write(engine: Engine, pk: int, start: date, end: date, spikes: dict[date, float]) -> None:
    """The sync's write path: the days ``[start, end)`` of one organization replaced."""
    rng = random.Random(pk * 1000 + start.toordinal())
    rows = [
        r
        for n in range((end - start).days)
        for r in day_rows(start + timedelta(days=n), rng, spikes.get(start + timedelta(days=n), 1))
    ]
    with write_session(engine) as session:
        replace_days(session, pk, "cost", start, end, rows)


def seed(engine: Engine) -> list[int]:
    with write_session(engine) as session:
        pks = add_console_orgs(session, "org-scan", ORGS, START)
    for pk in pks:
        write(engine, pk, START, TODAY, {SPIKE: 4.0})
    return pks


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[set[int]]:
    """The organizations each scan read the series of (one entry per ``read_series`` call)."""
    out: list[set[int]] = []
    real = anomalies.read_series

    def counted(session: Any, start: date, end: date, *args: Any, **kwargs: Any) -> Any:
        series = real(session, start, end, *args, **kwargs)
        out.append({key.organization_pk for key in series.days})
        return series

    monkeypatch.setattr(anomalies, "read_series", counted)
    monkeypatch.setattr(anomalies, "notify_channels", lambda *a, **k: [1])
    return out


def found(engine: Engine) -> set[tuple[int | None, str, str, str]]:
    """(anomaly id, organization, day, dimension) of every stored anomaly."""
    return {
        (a["id"], a["organization_id"], a["date"], a["dimension"])
        for a in anomalies.list_anomalies(engine, start=START, end=TODAY + timedelta(days=2))
    }


def spike_orgs(engine: Engine, day: date) -> set[str]:
    return {org for _id, org, d, dim in found(engine) if d == day.isoformat()}


def test_a_second_scan_without_new_data_reads_no_series_and_keeps_the_anomalies(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, reads: list[set[int]]
) -> None:
    pks = seed(engine)
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    assert reads == [set(pks)]
    first = found(engine)
    assert spike_orgs(engine, SPIKE) == {f"org-scan-{i}" for i in range(ORGS)}
    pin(monkeypatch, TODAY)  # later the same day: another organization's sync
    anomalies.detect(engine, None)
    assert reads == [set(pks)]  # nothing read again
    assert found(engine) == first  # the same anomalies, same ids
    # An explicit full scan still reads everything, and finds the same.
    anomalies.detect_anomalies(engine, None, full=True)
    assert reads[-1] == set(pks)
    assert found(engine) == first


def test_a_restated_day_rescans_only_its_organization_and_finds_its_spike(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, reads: list[set[int]]
) -> None:
    pks = seed(engine)
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    assert spike_orgs(engine, RESTATED) == set()
    before = found(engine)
    # The next sync of the second organization restates a day far above its range.
    write(engine, pks[1], RESTATED, RESTATED + timedelta(days=1), {RESTATED: 5.0})
    anomalies.detect(engine, None)
    assert reads[-1] == {pks[1]}
    assert spike_orgs(engine, RESTATED) == {"org-scan-1"}
    # The other organizations' anomalies are left as they were (not removed as "not found").
    assert before <= found(engine)


def test_a_new_complete_day_rescans_every_organization(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, reads: list[set[int]]
) -> None:
    """Today's spend (stored by the sync, not yet checked: the day is not complete) is far
    above range on the first organization; nothing is written after midnight, yet the day
    is checked then, with every organization's."""
    pks = seed(engine)
    write(engine, pks[0], TODAY, TODAY + timedelta(days=1), {TODAY: 5.0})
    pin(monkeypatch, TODAY)
    anomalies.detect(engine, None)
    anomalies.detect(engine, None)
    assert len(reads) == 1
    assert spike_orgs(engine, TODAY) == set()
    pin(monkeypatch, TODAY + timedelta(days=1))
    anomalies.detect(engine, None)
    assert len(reads) == 2
    assert reads[-1] == set(pks)
    assert spike_orgs(engine, TODAY) == {"org-scan-0"}
