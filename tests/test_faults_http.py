"""The sync over real HTTP on loopback while the API misbehaves: every fault ends with totals
equal to the ground truth and a truthful status."""

from __future__ import annotations

from datetime import timedelta
from email.utils import format_datetime

import pytest
from sqlalchemy import Engine

from app.anthropic.admin import AdminClient
from app.clock import months_back, today, utcnow
from app.keystore import KeyStore
from app.models import Organization
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from app.simulator import faults as sim_faults
from ingest.sync import Syncer
from tests.utils.factories import connect_org, org_pk, stored_cost, truth_cost

pytestmark = pytest.mark.slow


@pytest.fixture
def base_url(http_sim: Simulator, settings: Settings) -> str:
    return Settings().anthropic_base_url  # http_sim pointed the environment at the server


def http_engine(engine: Engine, settings: Settings, base_url: str, waits: list[float]) -> Syncer:
    def make(org: Organization, key: str) -> AdminClient:
        # A two-second timeout abandons a hung response quickly (it hangs for 4 s) yet leaves a
        # loaded machine room for a slow answer, which would cost a retry too many; sleeps are
        # recorded.
        return AdminClient(key, base_url=base_url, timeout=2.0, max_retries=4, sleep=waits.append)

    return Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=make,
    )


@pytest.mark.parametrize(
    ("kind", "count", "retry_after"),
    [
        ("429", 3, 2),
        ("429", 2, "http-date"),
        ("500", 2, None),
        ("502", 2, None),
        ("503", 2, None),
        ("504", 2, None),
        ("529", 3, None),
        ("reset", 2, None),
        ("hang", 1, None),
        ("truncated", 2, None),
    ],
)
def test_sync_survives_the_fault(
    http_sim: Simulator,
    engine: Engine,
    settings: Settings,
    base_url: str,
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    count: int,
    retry_after: object,
) -> None:
    monkeypatch.setattr(sim_faults, "HANG_SECONDS", 4.0)  # > the 2 s client timeout
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    sent = utcnow()
    if retry_after == "http-date":
        retry_after = format_datetime(sent + timedelta(seconds=30), usegmt=True)
    http_sim.inject(kind, route="cost_report", count=count, retry_after=retry_after)  # type: ignore[arg-type]
    waits: list[float] = []
    result = http_engine(engine, settings, base_url, waits).run(org_pk(engine, org.id))
    assert result.outcome == "ok", result.message
    assert len(waits) == count  # each fault cost exactly one retry, no more
    if kind == "429" and retry_after == 2:
        assert waits == [2.0] * count
    if kind == "429" and isinstance(retry_after, str):
        # The HTTP date, honoured: each wait lasts until then (the date has whole seconds, and
        # a loaded machine may take a while between the two faults; sleeps are not real here).
        elapsed = (utcnow() - sent).total_seconds()
        assert all(29 - elapsed <= w <= 31 for w in waits), (waits, elapsed)
    [summary] = list_organizations(engine)
    assert summary.status == "healthy"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        http_sim, org.id, start, today() + timedelta(days=1)
    )


def test_a_storm_longer_than_the_retries_fails_cleanly_then_recovers(
    http_sim: Simulator, engine: Engine, settings: Settings, base_url: str
) -> None:
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    http_sim.inject("529", route="cost_report", count=50)
    waits: list[float] = []
    sync = http_engine(engine, settings, base_url, waits)
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "failed" and len(waits) == 4  # bounded
    [summary] = list_organizations(engine)
    assert summary.status == "failing" and "529" in (summary.status_message or "")
    http_sim.clear_faults()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    [summary] = list_organizations(engine)
    assert summary.status == "healthy"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        http_sim, org.id, start, today() + timedelta(days=1)
    )
