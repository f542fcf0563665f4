"""Shared fixtures: a migrated database (SQLite, and Postgres when configured), settings, and the
simulator of the Admin API."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from app.db import make_engine, migrate
from app.settings import Settings
from app.simulator import Simulator, serve_http

POSTGRES_URL = os.environ.get("FINOPS_TEST_POSTGRES_URL")
POSTGRES_REASON = (
    "FINOPS_TEST_POSTGRES_URL is not set: the Postgres leg did not run "
    "(.ci/run sets it to the local server)"
)


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A throwaway database on the configured server, dropped at the end of the session."""
    if not POSTGRES_URL:
        pytest.skip(POSTGRES_REASON)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"finops_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# Each test using ``database_url`` runs twice: on a SQLite file and on a real Postgres server.
DATABASES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each test using this runs twice: on a SQLite file and on a real Postgres server."""
    yield from database_url_of(request, tmp_path)


def database_url_of(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The database of ``request.param`` (one of DATABASES): a fresh SQLite file, or the
    session's Postgres database emptied."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'data' / 'finops.db'}"
        return
    url = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield url


@pytest.fixture
def settings(
    request: pytest.FixtureRequest,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Settings]:
    """Settings for this test, also exported to the environment for code that reads it."""
    data_dir = tmp_path / "data"
    master = Fernet.generate_key().decode()
    env = {
        "FINOPS_DATA_DIR": str(data_dir),
        "FINOPS_DATABASE_URL": database_url,
        "FINOPS_MASTER_KEY": master,
        "FINOPS_ANTHROPIC_BASE_URL": "http://simulator.invalid",
        "FINOPS_MAX_RETRIES": "3",
        # The Claude Code report is a request series per day: six months of it in every
        # backfill would double the suite's time. Its own tests switch it on.
        "FINOPS_CLAUDE_CODE": "false",
        # Two months of backfill, not six: every page, month boundary and window of the sync
        # is still crossed, in a third of the time. Tests marked default_backfill (the
        # backfill's ground truth, the CLI's contract) sync the product's default.
        "FINOPS_BACKFILL_MONTHS": "2",
    }
    if request.node.get_closest_marker("default_backfill"):
        del env["FINOPS_BACKFILL_MONTHS"]
        monkeypatch.delenv("FINOPS_BACKFILL_MONTHS", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("FINOPS_ADMIN_KEY", raising=False)
    yield Settings()
    from app.runtime import dispose_engines

    dispose_engines()


@pytest.fixture
def engine(settings: Settings) -> Iterator[Engine]:
    engine = make_engine(settings.resolved_database_url)
    migrate(engine)
    yield engine
    engine.dispose()


@pytest.fixture
def sim() -> Simulator:
    """A simulator with two organizations of different shapes."""
    simulator = Simulator(history_days=200)
    simulator.add_org(name="Acme Corp", seed=11)
    simulator.add_org(name="Globex", seed=22)
    return simulator


@pytest.fixture
def http_sim(
    sim: Simulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Simulator]:
    """The simulator over real HTTP on loopback, and the product pointed at it."""
    with serve_http(sim) as server:
        monkeypatch.setenv("FINOPS_ANTHROPIC_BASE_URL", server.base_url)
        yield sim
