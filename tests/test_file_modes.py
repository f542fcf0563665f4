"""Local exposure: the data folder, the SQLite database (with its WAL and shared-memory files)
and the master key file are private to the user running the app (issue 12, point 5)."""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from app.db import make_engine, migrate, write_session
from app.keystore import KeyStore
from app.runtime import dispose_engines, get_engine
from app.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The common default (022), under which files are created world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_a_new_sqlite_database_its_folder_and_its_wal_files_are_private(tmp_path: Path) -> None:
    db = tmp_path / "new" / "data" / "finops.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        migrate(engine)
        with write_session(engine) as session:
            session.execute(text("CREATE TABLE scratch (x INTEGER)"))
            session.execute(text("INSERT INTO scratch VALUES (1)"))
        with engine.connect():  # an open connection keeps the -wal and -shm files
            names = {p.name: mode(p) for p in db.parent.iterdir()}
    finally:
        engine.dispose()
    assert mode(db.parent) == 0o700
    assert names == {"finops.db": 0o600, "finops.db-wal": 0o600, "finops.db-shm": 0o600}


def test_the_data_dir_and_the_key_file_folder_are_created_private(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FINOPS_MASTER_KEY", raising=False)
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=None,
        master_key=None,
        master_key_file=tmp_path / "keys" / "master.key",
    )
    try:
        get_engine(settings)
        KeyStore.from_settings(settings)
    finally:
        dispose_engines()
    assert mode(tmp_path / "data") == 0o700
    assert mode(tmp_path / "data" / "finops.db") == 0o600
    assert mode(tmp_path / "keys") == 0o700
    assert mode(tmp_path / "keys" / "master.key") == 0o600


def test_an_existing_world_readable_database_is_made_private(tmp_path: Path) -> None:
    """A database created by an earlier version (0644), with WAL files left by a crash."""
    db = tmp_path / "finops.db"
    old = sqlite3.connect(db)
    old.execute("PRAGMA journal_mode=WAL")
    old.execute("CREATE TABLE scratch (x INTEGER)")
    old.commit()
    for path in tmp_path.iterdir():
        path.chmod(0o644)
    assert mode(db) == 0o644 and (tmp_path / "finops.db-wal").exists()
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SELECT count(*) FROM scratch")).scalar_one() == 0
    finally:
        engine.dispose()
        old.close()
    assert mode(db) == 0o600
    assert all(mode(p) == 0o600 for p in tmp_path.iterdir() if p.name.startswith("finops.db"))


def test_an_existing_folder_is_left_as_it_is_and_an_open_one_is_warned_about(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Folders the operator made are theirs (it may be a home directory); one that others can
    write to is named, since they could replace or remove the database there."""
    shared, usual = tmp_path / "shared", tmp_path / "usual"
    shared.mkdir()
    usual.mkdir()
    shared.chmod(0o777)
    usual.chmod(0o755)
    with caplog.at_level(logging.WARNING):
        for folder in (shared, usual):
            engine = make_engine(f"sqlite:///{folder / 'finops.db'}")
            migrate(engine)
            engine.dispose()
    assert (mode(shared), mode(usual)) == (0o777, 0o755)
    assert mode(shared / "finops.db") == mode(usual / "finops.db") == 0o600
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert str(shared) in warnings[0] and "other users" in warnings[0]
    assert f"chmod 700 {shared}" in warnings[0]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a file to another user")
def test_a_database_owned_by_another_user_is_not_changed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "finops.db"
    sqlite3.connect(db).close()
    db.chmod(0o644)
    os.chown(db, 65534, 65534)  # nobody
    with caplog.at_level(logging.WARNING):
        engine = make_engine(f"sqlite:///{db}")
        engine.dispose()
    assert mode(db) == 0o644
    assert any(
        str(db) in r.getMessage() and "other users" in r.getMessage() for r in caplog.records
    )
