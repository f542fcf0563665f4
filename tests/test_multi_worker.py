"""Several workers on one database share the organizations: every organization is synced by one
worker at a time, workers killed at random are taken over, and the totals come out exact."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from app.clock import months_back, today
from app.db import read_session
from app.models import Organization, SyncRun
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, stored_cost, stored_usage, truth_cost, truth_usage
from tests.utils.processes import start_worker, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fast_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_DISPATCH_SECONDS", "0.2")


def test_three_workers_share_four_organizations_exactly_once(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    for name, seed in (("Initech", 33), ("Umbrella", 44)):
        http_sim.add_org(name=name, seed=seed)
    orgs = list(http_sim.orgs.values())
    for org in orgs:
        connect_org(http_sim, org, engine=engine, settings=settings)
    http_sim.latency = 0.05
    rng = random.Random(7)
    workers: list[subprocess.Popen[bytes]] = [
        start_worker(tmp_path / f"w{i}.log") for i in range(3)
    ]

    def all_healthy() -> bool:
        with read_session(engine) as session:
            statuses = session.execute(select(Organization.status)).scalars().all()
        return all(s == "healthy" for s in statuses)

    try:
        # Kill a random worker twice while they work, and start a replacement each time.
        for i in range(2):
            time.sleep(rng.uniform(1.5, 3.0))
            victim = workers.pop(rng.randrange(len(workers)))
            victim.send_signal(signal.SIGKILL)
            victim.wait(timeout=10)
            workers.append(start_worker(tmp_path / f"replacement{i}.log"))
        assert wait_for(all_healthy, timeout=120), "\n".join(
            p.read_text()[-1500:] for p in tmp_path.glob("*.log")
        )
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            worker.wait(timeout=30)

    start, end = months_back(today(), settings.backfill_months), today() + timedelta(days=1)
    for org in orgs:
        assert stored_cost(engine, org.id) == truth_cost(http_sim, org.id, start, end)
        assert stored_usage(engine, org.id) == truth_usage(http_sim, org.id, start, end)
    # One worker at a time per organization: finished runs of an organization never overlap.
    with read_session(engine) as session:
        runs = session.execute(
            select(SyncRun.organization_pk, SyncRun.started_at, SyncRun.finished_at)
            .where(SyncRun.finished_at.is_not(None))
            .order_by(SyncRun.organization_pk, SyncRun.started_at)
        ).all()
    for (pk_a, _, end_a), (pk_b, start_b, _) in zip(runs, runs[1:], strict=False):
        if pk_a == pk_b:
            assert start_b >= end_a, "two workers synced one organization at the same time"
