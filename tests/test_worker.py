"""The worker process: picks up a new organization within seconds, survives SIGKILL mid-backfill
with the same totals and no duplicate rows, and stops cleanly on SIGTERM."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.clock import today
from app.db import read_session
from app.models import CostLine, Organization, UsageBucket
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import (
    connect_org,
    org_pk,
    stored_cost,
    stored_usage,
    truth_cost,
    truth_usage,
)
from tests.utils.processes import start_worker, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def fast_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_DISPATCH_SECONDS", "0.3")


def progress(engine: Engine, organization_id: str) -> tuple[str, float]:
    with read_session(engine) as session:
        org = session.execute(
            select(Organization).where(Organization.organization_id == organization_id)
        ).scalar_one()
        return org.status, org.backfill_progress


def test_killed_worker_resumes_with_same_totals_and_no_duplicates(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    org = (
        next(iter(http_sim.orgs.values())) if isinstance(http_sim.orgs, dict) else http_sim.orgs[0]
    )
    connect_org(http_sim, org, engine=engine, settings=settings)
    http_sim.latency = 0.25  # about 15 requests: a few seconds of backfill to interrupt
    log = tmp_path / "worker.log"

    worker = start_worker(log)
    try:
        assert wait_for(lambda: 0 < progress(engine, org.id)[1] < 0.7, timeout=60), log.read_text()
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    status, fraction = progress(engine, org.id)
    assert status == "backfilling" and 0 < fraction < 1

    http_sim.latency = 0.0
    worker = start_worker(log)
    try:
        assert wait_for(lambda: progress(engine, org.id)[0] == "healthy", timeout=60), (
            log.read_text()
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0  # a clean stop on SIGTERM

    start = progress_start(engine, org.id)
    end = today() + timedelta(days=1)
    assert stored_cost(engine, org.id) == truth_cost(http_sim, org.id, start, end)
    assert stored_usage(engine, org.id) == truth_usage(http_sim, org.id, start, end)
    # No duplicates: exactly as many stored rows as the API returns rows.
    pk = org_pk(engine, org.id)
    with read_session(engine) as session:
        cost_rows = session.execute(
            select(func.count()).select_from(CostLine).where(CostLine.organization_pk == pk)
        ).scalar_one()
        usage_rows = session.execute(
            select(func.count()).select_from(UsageBucket).where(UsageBucket.organization_pk == pk)
        ).scalar_one()
    assert cost_rows == len(http_sim.truth_cost(org.id, start, end))
    grouped = {
        (r.date, r.api_key_id, r.workspace_id, r.model, r.service_tier, r.context_window)
        for r in http_sim.truth_usage(org.id, start, end)
    }
    assert usage_rows == len(grouped)
    text = log.read_text()
    assert "Taking over the lease" in text
    assert org.admin_key[15:] not in text and org.admin_key[-30:-4] not in text


def progress_start(engine: Engine, organization_id: str):  # type: ignore[no-untyped-def]
    with read_session(engine) as session:
        return session.execute(
            select(Organization.backfill_start).where(
                Organization.organization_id == organization_id
            )
        ).scalar_one()


def test_new_organization_starts_within_seconds(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        # The worker is already idle when the key is saved, as after `finops serve`.
        assert wait_for(lambda: "Worker started" in log.read_text(), timeout=30)
        org = (
            list(http_sim.orgs.values())[1] if isinstance(http_sim.orgs, dict) else http_sim.orgs[1]
        )
        connect_org(http_sim, org, engine=engine, settings=settings)
        assert wait_for(lambda: progress(engine, org.id)[0] == "healthy", timeout=30), (
            log.read_text()
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
    assert "Worker stopped" in log.read_text()


def test_worker_waits_for_a_database_that_is_not_there_yet(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-yet"
    blocker.write_text("a file where the database directory should be")
    monkeypatch.setenv("FINOPS_DATABASE_URL", f"sqlite:///{blocker / 'finops.db'}")
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        assert wait_for(lambda: "Retrying in" in log.read_text(), timeout=30)
        assert "Cannot open the database" in log.read_text()
        blocker.unlink()  # the database becomes available
        assert wait_for(lambda: "Worker started" in log.read_text(), timeout=60), log.read_text()
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0


def test_on_sqlite_a_second_worker_waits_and_says_why(
    settings: Settings, tmp_path: Path, engine: Engine
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("Postgres runs several workers side by side (tests/test_multi_worker.py)")
    first = start_worker(tmp_path / "first.log")
    # The second starts only once the first holds the lock; started together, either could win.
    assert wait_for(lambda: "Worker started" in (tmp_path / "first.log").read_text(), timeout=30)
    second = start_worker(tmp_path / "second.log")
    try:
        second_log = tmp_path / "second.log"
        assert wait_for(
            lambda: "Another worker is already running" in second_log.read_text(), timeout=30
        )
        assert "Worker started" not in second_log.read_text()
        first.send_signal(signal.SIGKILL)  # the running one dies: the waiting one takes over
        first.wait(timeout=10)
        assert wait_for(lambda: "Worker started" in second_log.read_text(), timeout=30)
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(timeout=30)
