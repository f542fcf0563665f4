"""The worker killed with SIGKILL at random points of a six-month backfill, over and over.

After every kill the stored rows before the sync position must equal the API's for those days
(the position is never ahead of the data); at the end, totals equal the ground truth to the cent
with no duplicate rows.
"""

from __future__ import annotations

import random
import signal
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.clock import today
from app.db import read_session
from app.models import CostLine, Organization, SyncState
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, stored_cost, truth_cost
from tests.utils.processes import start_worker, wait_for

pytestmark = pytest.mark.slow
KILLS = 20


@pytest.fixture(autouse=True)
def fast_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_DISPATCH_SECONDS", "0.2")


def cost_before(engine: Engine, pk: int, day: date) -> dict[date, Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(CostLine.date, func.sum(CostLine.amount_cents))
            .where(CostLine.organization_pk == pk, CostLine.date < day)
            .group_by(CostLine.date)
        )
        return {d: Decimal(v) for d, v in rows}


def test_twenty_kills_lose_nothing_and_duplicate_nothing(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    http_sim.latency = 0.35  # ~16 requests: slow enough that twenty kills land mid-backfill
    rng = random.Random(20261126)
    log = tmp_path / "worker.log"

    def status() -> str:
        with read_session(engine) as session:
            return str(
                session.execute(
                    select(Organization.status).where(Organization.id == pk)
                ).scalar_one()
            )

    kills = 0
    while kills < KILLS and status() != "healthy":
        worker = start_worker(log)
        time.sleep(rng.uniform(0.8, 2.2))  # start-up is ~1 s; then somewhere mid-page
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
        kills += 1
        # Invariant: whatever lies before the cost position is exactly the API's data.
        with read_session(engine) as session:
            state = session.execute(
                select(SyncState).where(
                    SyncState.organization_pk == pk, SyncState.dataset == "cost"
                )
            ).scalar_one_or_none()
        if state is not None and state.position is not None and state.window_start is not None:
            truth: dict[date, Decimal] = defaultdict(Decimal)
            for row in http_sim.truth_cost(org.id, state.window_start, state.position):
                truth[row.date] += row.amount_cents
            stored = cost_before(engine, pk, state.position)
            assert stored == {d: v for d, v in truth.items() if v}
    assert kills == KILLS, f"the backfill finished after {kills} kills; make it slower"

    http_sim.latency = 0.0
    worker = start_worker(log)
    try:
        assert wait_for(lambda: status() == "healthy", timeout=90), log.read_text()[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    with read_session(engine) as session:
        start = session.execute(
            select(Organization.backfill_start).where(Organization.id == pk)
        ).scalar_one()
        count = session.execute(
            select(func.count()).select_from(CostLine).where(CostLine.organization_pk == pk)
        ).scalar_one()
    end = today() + timedelta(days=1)
    assert stored_cost(engine, org.id) == truth_cost(http_sim, org.id, start, end)
    assert count == len(http_sim.truth_cost(org.id, start, end))  # no duplicates


def test_kills_during_the_trailing_window_replacement(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Upstream revised the last days; the worker re-reading them is killed again and again."""
    from sqlalchemy import update

    from app.db import write_session
    from tests.utils.factories import sync_engine

    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    assert sync_engine(http_sim, engine, settings).run(pk).outcome == "ok"  # the backfill
    http_sim.revise(org.id, days=2)
    with write_session(engine) as session:  # make the incremental run due now
        session.execute(update(Organization).where(Organization.id == pk).values(next_run_at=None))
    http_sim.latency = 0.4  # four requests per run: the kills land inside the replacement
    rng = random.Random(3)
    log = tmp_path / "worker.log"
    for _ in range(5):
        worker = start_worker(log)
        time.sleep(rng.uniform(1.0, 2.2))
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    http_sim.latency = 0.0
    with write_session(engine) as session:
        session.execute(update(Organization).where(Organization.id == pk).values(next_run_at=None))
    worker = start_worker(log)
    try:

        def replaced() -> bool:
            start = months_back_of(engine, pk)
            return stored_cost(engine, org.id) == truth_cost(
                http_sim, org.id, start, today() + timedelta(days=1)
            )

        assert wait_for(replaced, timeout=60, interval=0.5), log.read_text()[-2000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    with read_session(engine) as session:
        count = session.execute(
            select(func.count()).select_from(CostLine).where(CostLine.organization_pk == pk)
        ).scalar_one()
    start = months_back_of(engine, pk)
    assert count == len(http_sim.truth_cost(org.id, start, today() + timedelta(days=1)))


def months_back_of(engine: Engine, pk: int) -> date:
    with read_session(engine) as session:
        return session.execute(
            select(Organization.backfill_start).where(Organization.id == pk)
        ).scalar_one()
