"""Database faults during a sync: the run fails or recovers cleanly and nothing is lost."""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.clock import months_back, today
from app.db import describe_database_error, make_engine, migrate, write_session
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, stored_cost, sync_engine, truth_cost
from tests.utils.sqlite_lock import write_lock_held_by_another_process


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
                dropped = conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = :db AND pid <> pg_backend_pid()"
                    ),
                    {"db": engine.url.database},
                ).scalar_one()
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
    assert "The disk holding the database is full" in (result.message or "")  # named, with the fix
    limit["pages"] = None  # space freed
    engine.dispose()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        sim, org.id, start, today() + timedelta(days=1)
    )


def test_a_write_locked_longer_than_the_busy_timeout_says_another_process_holds_it(
    engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    database = Path(str(make_url(settings.resolved_database_url).database))
    short = make_engine(settings.resolved_database_url, busy_timeout_seconds=0.3)
    try:
        with write_lock_held_by_another_process(database):  # held past the 0.3 s timeout
            started = time.monotonic()
            with pytest.raises(OperationalError) as caught, write_session(short) as session:
                session.execute(text("UPDATE organization SET name = name"))
            waited = time.monotonic() - started
    finally:
        short.dispose()
    assert waited >= 0.25  # it waited for the lock (the busy timeout) before giving up
    message = describe_database_error(caught.value)
    assert message.startswith("The database is locked by another process")
    assert "Wait for the running sync" in message and "stuck process" in message
    assert "FINOPS_DATABASE_URL" not in message


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """An 8 MB tmpfs: writes there hit a real ENOSPC. Needs root (or CAP_SYS_ADMIN) on Linux;
    elsewhere the test is skipped, saying so."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    try:
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m,mode=0700", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except OSError as exc:
        pytest.skip(f"no real full disk: cannot run mount ({exc})")
    if mounted.returncode != 0:
        pytest.skip(f"no real full disk: mounting a tmpfs is not allowed here ({mounted.stderr})")
    try:
        yield mount_point
    finally:
        if subprocess.run(["umount", str(mount_point)], timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(mount_point)], timeout=30)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` until ENOSPC, then free ``leave`` bytes."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:  # unbuffered: ENOSPC surfaces here, once
        block = b"\0" * 65536
        try:
            while True:
                handle.write(block)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    os.truncate(filler, max(0, filler.stat().st_size - leave))
    return filler


def test_a_real_full_disk_fails_the_sync_cleanly_and_the_next_run_recovers(
    sim: Simulator, small_disk: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{small_disk / 'data' / 'finops.db'}"
    for name, value in {
        "FINOPS_DATA_DIR": str(tmp_path / "data"),
        "FINOPS_DATABASE_URL": url,
        "FINOPS_MASTER_KEY": Fernet.generate_key().decode(),
        "FINOPS_ANTHROPIC_BASE_URL": "http://simulator.invalid",
        "FINOPS_CLAUDE_CODE": "false",
        "FINOPS_BACKFILL_MONTHS": "2",
    }.items():
        monkeypatch.setenv(name, value)
    settings = Settings()
    engine = make_engine(url)
    try:
        migrate(engine)
        org = next(iter(sim.orgs.values()))
        connect_org(sim, org, engine=engine, settings=settings)
        engine.dispose()
        filler = fill(small_disk, leave=96 * 1024)  # room for a page or two, then ENOSPC
        sync = sync_engine(sim, engine, settings)

        result = sync.run(org_pk(engine, org.id))

        assert result.outcome == "failed"
        assert re.search(r"disk.*full", result.message or "", re.IGNORECASE), result.message
        # Nothing partial: each page's rows, rollups and stored counts went in together or
        # not at all, and the file is intact.
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
            assert (
                conn.execute(
                    text(
                        "SELECT (SELECT COALESCE(SUM(amount_cents), 0) FROM cost_line) = "
                        "(SELECT COALESCE(SUM(amount_cents), 0) FROM cost_daily WHERE dim = 'model')"
                    )
                ).scalar_one()
                == 1
            )
            assert (
                conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM cost_line) = "
                        "(SELECT COALESCE(SUM(row_count), 0) FROM sync_state WHERE dataset = 'cost')"
                    )
                ).scalar_one()
                == 1
            )

        filler.unlink()  # space freed
        engine.dispose()
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
        start = months_back(today(), settings.backfill_months)
        assert stored_cost(engine, org.id) == truth_cost(
            sim, org.id, start, today() + timedelta(days=1)
        )
    finally:
        engine.dispose()


def test_a_write_on_a_full_disk_is_described_as_such(small_disk: Path) -> None:
    engine = make_engine(f"sqlite:///{small_disk / 'finops.db'}")
    try:
        migrate(engine)
        with engine.connect():  # the -wal and -shm files exist before the disk fills
            fill(small_disk, leave=0)
            with pytest.raises(OperationalError) as caught, write_session(engine) as session:
                session.execute(text("CREATE TABLE scratch (x TEXT)"))
                session.execute(text("INSERT INTO scratch VALUES (:x)"), {"x": "x" * 200_000})
    finally:
        engine.dispose()
    message = describe_database_error(caught.value)
    assert message.startswith("The disk holding the database is full")
    assert "free some space" in message.lower()
    assert "FINOPS_DATABASE_URL" not in message
