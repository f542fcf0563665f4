"""Database faults during a sync: the run fails or recovers cleanly and nothing is lost."""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, event, text

from app.clock import months_back, today
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, stored_cost, sync_engine, truth_cost


def test_dropped_postgres_connections_mid_run_lose_nothing(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("drops server connections: Postgres only (SQLite has none to drop)")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    killer = create_engine(os.environ["FINOPS_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    pages = {"n": 0}
    sync = sync_engine(sim, engine, settings)

    def drop_connections_every_other_page() -> bool:
        pages["n"] += 1
        if pages["n"] % 2:
            with killer.connect() as conn:
                dropped = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ), {"db": engine.url.database}).scalar_one()  # fmt: skip
            assert dropped >= 1
        return False

    sync.should_stop = drop_connections_every_other_page
    result = sync.run(org_pk(engine, org.id))
    killer.dispose()
    if result.outcome != "ok":  # a write that met a dead connection: the next run recovers
        assert "database failed" in (result.message or "")
        sync.should_stop = lambda: False
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    assert pages["n"] >= 6
    [summary] = list_organizations(engine)
    assert summary.status == "healthy"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        sim, org.id, start, today() + timedelta(days=1)
    )


def test_a_locked_sqlite_database_makes_the_sync_wait_not_fail(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    holder = engine.raw_connection()
    released = threading.Event()
    pages = {"n": 0}

    def lock_for_two_seconds() -> None:
        cursor = holder.cursor()
        cursor.execute("BEGIN IMMEDIATE")  # another writer (a backup, a second tool) holds it
        time.sleep(2)
        holder.rollback()
        released.set()

    def lock_after_first_page() -> bool:
        pages["n"] += 1
        if pages["n"] == 1:
            threading.Thread(target=lock_for_two_seconds).start()
            time.sleep(0.2)
        return False

    sync = sync_engine(sim, engine, settings)
    sync.should_stop = lock_after_first_page
    started = time.monotonic()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    assert released.is_set() and time.monotonic() - started >= 1.5  # it waited for the lock
    holder.close()
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        sim, org.id, start, today() + timedelta(days=1)
    )


def test_a_full_sqlite_database_fails_cleanly_and_the_next_run_recovers(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("fills the SQLite file up to a page limit")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    limit = {"pages": None}

    @event.listens_for(engine, "connect")
    def _cap(dbapi_connection: object, _record: object) -> None:
        if limit["pages"]:
            dbapi_connection.execute(f"PRAGMA max_page_count = {limit['pages']}")  # type: ignore[attr-defined]

    with engine.connect() as conn:
        used = conn.exec_driver_sql("PRAGMA page_count").scalar_one()
    limit["pages"] = used + 8  # room for a page or two of rows, then "disk full"
    engine.dispose()
    sync = sync_engine(sim, engine, settings)
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "failed"
    assert "database or disk is full" in (result.message or "")
    limit["pages"] = None  # space freed
    engine.dispose()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        sim, org.id, start, today() + timedelta(days=1)
    )
