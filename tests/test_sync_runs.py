"""A sync on a database another process holds locked says so (issue 12, point 10), and
``sync_run`` rows of runs that were killed are closed as interrupted instead of "running"
forever."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import Engine, event, select, update

from app import cli
from app.clock import utcnow
from app.db import make_engine, read_session, write_session
from app.keystore import KeyStore
from app.models import Organization, OrgStatus, SyncRun
from app.runtime import Client
from app.settings import Settings
from app.simulator import Simulator
from ingest.sync import Syncer
from ingest.worker import Worker
from tests.utils.factories import connect_org, org_pk, sim_factory, sync_engine

LOCKED = "database is locked by another process"


@pytest.fixture
def quick_engine(engine: Engine, settings: Settings) -> Iterator[Engine]:
    """The same SQLite database, giving up on a held lock after 0.2 s instead of 30."""
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    quick = make_engine(settings.resolved_database_url)

    @event.listens_for(quick, "connect")
    def _short_busy_timeout(dbapi_connection: sqlite3.Connection, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=200")

    yield quick
    quick.dispose()


def hold_write_lock(engine: Engine) -> sqlite3.Connection:
    """Another process's write transaction on the file (a second tool, a backup)."""
    assert engine.url.database
    holder = sqlite3.connect(engine.url.database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_a_sync_on_a_locked_database_says_it_is_locked(
    sim: Simulator, engine: Engine, quick_engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    sync = Syncer(
        engine=quick_engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=sim_factory(sim, settings),
    )
    holder = hold_write_lock(engine)
    try:
        result = sync.run(org_pk(engine, org.id))
    finally:
        holder.rollback()
        holder.close()
    assert result.outcome == "failed"
    assert LOCKED in (result.message or "")
    assert "FINOPS_DATABASE_URL" not in (result.message or "")
    # Once the lock is gone, the same engine syncs.
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"


def test_a_lock_taken_during_the_sync_is_named_and_the_run_closed_later(
    sim: Simulator, engine: Engine, quick_engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    holders: list[sqlite3.Connection] = []
    plain = sim_factory(sim, settings)

    def lock_then_connect(org_row: Organization, key: str) -> Client:
        holders.append(hold_write_lock(engine))  # locked after the run started
        return plain(org_row, key)

    locking = Syncer(
        engine=quick_engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=lock_then_connect,
    )
    result = locking.run(pk)
    for holder in holders:
        holder.rollback()
        holder.close()
    assert result.outcome == "failed"
    assert LOCKED in (result.message or "") and "Wait" in (result.message or "")
    # The end of that run could not be written either: it is still "running" ...
    with read_session(engine) as session:
        [stuck] = session.execute(select(SyncRun)).scalars().all()
    assert stuck.outcome == "running"
    # ... until the next run of the organization (the same worker's: it still holds the
    # lease it could not release) closes it.
    locking.client_factory = plain
    assert locking.run(pk).outcome == "ok"
    with read_session(engine) as session:
        runs = session.execute(select(SyncRun).order_by(SyncRun.id)).scalars().all()
    assert [r.outcome for r in runs] == ["interrupted", "ok"]
    assert runs[0].finished_at is not None


def killed_run(engine: Engine, pk: int, lease_owner: str | None) -> int:
    """What a SIGKILLed worker leaves: a run "running" forever, maybe its lease too."""
    with write_session(engine) as session:
        run = SyncRun(
            organization_pk=pk, kind="backfill", started_at=utcnow() - timedelta(minutes=5)
        )
        session.add(run)
        session.execute(
            update(Organization)
            .where(Organization.id == pk)
            .values(
                lease_owner=lease_owner,
                lease_expires_at=utcnow() + timedelta(minutes=5) if lease_owner else None,
            )
        )
        session.flush()
        assert run.id is not None
        return run.id


def run_outcome(engine: Engine, run_id: int) -> tuple[str, object]:
    with read_session(engine) as session:
        run = session.get(SyncRun, run_id)
        assert run is not None
        return run.outcome, run.finished_at


def test_a_run_after_a_killed_worker_closes_its_run_as_interrupted(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    # A dead process of this host held the lease: taken over at once.
    dead = killed_run(engine, pk, lease_owner=f"{socket.gethostname()}:999999999:deadbeef")
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    outcome, finished = run_outcome(engine, dead)
    assert outcome == "interrupted" and finished is not None


def test_worker_start_closes_runs_whose_lease_owner_is_gone(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    first, second = sim.orgs.values()
    connect_org(sim, first, engine=engine, settings=settings)
    connect_org(sim, second, engine=engine, settings=settings)
    gone = killed_run(engine, org_pk(engine, first.id), lease_owner=None)
    # A live worker elsewhere holds the other organization: its run is really running.
    live = killed_run(engine, org_pk(engine, second.id), lease_owner="other-host:1:cafe")
    Worker(settings).recover()
    assert run_outcome(engine, gone)[0] == "interrupted"
    assert run_outcome(engine, live) == ("running", None)
    with read_session(engine) as session:
        statuses = {o.status for o in session.execute(select(Organization)).scalars()}
    assert OrgStatus.FAILING not in statuses  # closing old runs changes no organization


def test_finops_sync_on_a_locked_database_exits_non_zero_saying_so(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    monkeypatch.setenv("FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS", "0.2")
    holder = hold_write_lock(engine)
    try:
        assert cli.main(["sync", "--org", org.id]) == 1
    finally:
        holder.rollback()
        holder.close()
    err = capsys.readouterr().err
    assert LOCKED in err and "Traceback" not in err and "FINOPS_DATABASE_URL" not in err
