"""Read-only commands (`finops orgs`, `finops export`) never wait for SQLite's write lock: a
sync holding it for minutes must not block or fail them (issue 12, point 10)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from app.cli import main
from app.db import SCHEMA_VERSION
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org
from tests.utils.sqlite_lock import write_lock_held_by_another_process


@pytest.fixture
def sqlite_file(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Path:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite's single-writer lock")
    # Short, so that a command that waits for the lock fails within a second, not 30.
    monkeypatch.setenv("FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS", "1")
    return Path(str(make_url(settings.resolved_database_url).database))


def test_orgs_and_export_run_while_another_process_holds_the_write_lock(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    sqlite_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    engine.dispose()
    capsys.readouterr()

    # Held for the whole block, so longer than the busy timeout: a command that waited for it
    # would fail with "locked" after a second.
    with write_lock_held_by_another_process(sqlite_file):
        assert main(["orgs", "--json"]) == 0
        listed = json.loads(capsys.readouterr().out)
        assert [o["organization_id"] for o in listed] == [org.id]
        assert main(["export", "--dataset", "cost"]) == 0
        out, err = capsys.readouterr()
        assert out.startswith("date,") and err == ""


def test_an_upgrade_blocked_by_the_lock_says_so_and_runs_once_it_is_released(
    engine: Engine, sqlite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with engine.begin() as conn:  # a database of the previous version: this start upgrades it
        conn.execute(text("UPDATE schema_version SET version = :v"), {"v": SCHEMA_VERSION - 1})
    engine.dispose()

    with write_lock_held_by_another_process(sqlite_file):
        assert main(["orgs"]) == 1
    err = capsys.readouterr().err
    assert "locked by another process" in err
    assert "wait for the running sync" in err.lower()
    assert "FINOPS_DATABASE_URL" not in err  # the URL is right; pointing there misleads

    assert main(["orgs"]) == 0
    assert "No organizations connected" in capsys.readouterr().out
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version FROM schema_version")).scalar_one() == SCHEMA_VERSION
        )


def test_a_write_command_blocked_past_the_busy_timeout_says_the_database_is_locked(
    engine: Engine, sqlite_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine.dispose()
    with write_lock_held_by_another_process(sqlite_file):
        assert main(["connect", "--demo"]) == 1
        err = capsys.readouterr().err
    assert err.startswith("error: The database is locked by another process")
    for leak in ("Traceback", "[SQL:", "FINOPS_DATABASE_URL"):
        assert leak not in err
    # Nothing was kept half-done: once the lock is gone the same command works.
    assert main(["connect", "--demo"]) == 0
