"""Synced databases kept per test process, so tests that only *read* synced data do not each
sync six months of three organizations again (it cost 10-20 s per test, twice: SQLite and
Postgres).

``synced_copy`` is ``synced_orgs`` with a memory: the first call for a simulator of a given
shape (today, history, organizations and their seeds), settings and database syncs for real
and keeps a copy of the database; the next calls copy it into their own fresh database and
re-encrypt the stored keys under their own master key. A simulator that was changed (faults,
revisions, rejected keys, per-key cost knobs) is refused: its data would not be the copy's.
Tests of the sync itself keep calling ``synced_orgs``.
"""

from __future__ import annotations

import atexit
import io
import shutil
import sqlite3
import tempfile
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

from app.db import read_session, write_session
from app.keystore import KeyStore
from app.models import Organization
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import INITECH, EnterpriseSpec, synced_orgs

# Settings that only say where things are: they differ per test and do not change the data.
_PLACES = {
    "data_dir",
    "database_url",
    "master_key",
    "master_key_file",
    "anthropic_base_url",
    "streamlit_port",
    "metrics_port",
}


@dataclass
class _Snapshot:
    ids: list[str]
    master_key: str  # the keys in the copy are encrypted under this one
    sqlite_file: Path | None = None
    postgres_tables: dict[str, bytes] | None = None  # table -> COPY ... (FORMAT binary)


_SNAPSHOTS: dict[tuple[Any, ...], _Snapshot] = {}
_FOLDER: Path | None = None


def synced_copy(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    *,
    enterprise: EnterpriseSpec = INITECH,
) -> list[str]:
    """What ``synced_orgs`` does (adds an Enterprise organization to ``sim``, connects and
    syncs everything into ``engine``'s empty database), from this process's copy when there is
    one."""
    _assert_empty(engine)  # the copy replaces the whole database: nothing may be lost
    key = (_shape(sim), enterprise, _data_settings(settings), _where(engine))
    snapshot = _SNAPSHOTS.get(key)
    if snapshot is None:
        ids = synced_orgs(sim, engine, settings, enterprise=enterprise)
        _SNAPSHOTS[key] = _save(engine, ids, settings)
        return ids
    sim.add_enterprise_org(name=enterprise.name, seed=enterprise.seed)
    sim.analytics_rpm = None
    _restore(snapshot, engine)
    _reencrypt(engine, KeyStore([snapshot.master_key.encode()]), KeyStore.from_settings(settings))
    return list(snapshot.ids)


def _shape(sim: Simulator) -> tuple[Any, ...]:
    """What makes the simulator's data what it is; AssertionError if it was changed."""
    world, api = sim.world, sim.api
    changed = [
        name
        for name, yes in (
            ("faults", bool(api.faults)),
            ("latency", api.latency != 0),
            ("regular key status", api.regular_key_status != 401),
            ("revisions", any(world._revisions.values())),
            ("enterprise organizations", bool(world.enterprise.orgs)),
            ("rejected keys", any(o.rejected for o in world.orgs.values())),
        )
        if yes
    ]
    assert not changed, f"synced_copy needs an untouched simulator; changed: {changed}"
    orgs = tuple((o.name, o.seed, o.admin_key) for o in world.orgs.values())
    options = astuple(world.key_cost.options)  # type: ignore[call-overload]
    return (world.today, world.history_days, world.legacy_fields, orgs, options)


def _assert_empty(engine: Engine) -> None:
    """AssertionError naming the tables that hold rows (a user or a session the test made
    before asking for the synced data would be lost under the copy)."""
    with read_session(engine) as session:
        filled = [
            table.name
            for table in SQLModel.metadata.sorted_tables
            if table.name != "schema_version"
            and session.execute(select(func.count()).select_from(table)).scalar_one()
        ]
    assert not filled, f"synced_copy needs an empty database; rows in {filled}"


def _data_settings(settings: Settings) -> tuple[tuple[str, str], ...]:
    dumped = settings.model_dump()
    return tuple(sorted((k, repr(v)) for k, v in dumped.items() if k not in _PLACES))


def _where(engine: Engine) -> tuple[str, str]:
    url = engine.url
    if url.get_backend_name() == "sqlite":
        return ("sqlite", "")
    return ("postgres", url.render_as_string(hide_password=True))


def _folder() -> Path:
    global _FOLDER
    if _FOLDER is None:
        _FOLDER = Path(tempfile.mkdtemp(prefix="finops-snapshots-"))
        atexit.register(shutil.rmtree, _FOLDER, True)
    return _FOLDER


def _sqlite_path(engine: Engine) -> Path:
    database = make_url(str(engine.url)).database
    assert database, "synced_copy needs a SQLite file, not an in-memory database"
    return Path(database)


def _save(engine: Engine, ids: list[str], settings: Settings) -> _Snapshot:
    assert settings.master_key, "tests set FINOPS_MASTER_KEY (tests/conftest.py)"
    snapshot = _Snapshot(ids=list(ids), master_key=settings.master_key.split(",")[0].strip())
    if engine.url.get_backend_name() == "sqlite":
        target = _folder() / f"{len(_SNAPSHOTS)}.db"
        with sqlite3.connect(_sqlite_path(engine)) as src, sqlite3.connect(target) as dst:
            src.backup(dst)
        src.close()
        dst.close()
        snapshot.sqlite_file = target
        return snapshot
    tables: dict[str, bytes] = {}
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cur:  # type: ignore[union-attr]
            for table in _pg_tables(cur):
                buffer = io.BytesIO()
                with cur.copy(f'COPY public."{table}" TO STDOUT (FORMAT binary)') as copy:
                    for chunk in copy:
                        buffer.write(chunk)
                tables[table] = buffer.getvalue()
        raw.commit()
    finally:
        raw.close()
    snapshot.postgres_tables = tables
    return snapshot


def _pg_tables(cur: Any) -> list[str]:
    cur.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")
    return [row[0] for row in cur.fetchall()]


def _restore(snapshot: _Snapshot, engine: Engine) -> None:
    if snapshot.sqlite_file is not None:
        engine.dispose()  # no pooled connection keeps reading the empty database's pages
        with (
            sqlite3.connect(snapshot.sqlite_file) as src,
            sqlite3.connect(_sqlite_path(engine)) as dst,
        ):
            src.backup(dst)
        src.close()
        dst.close()
        return
    assert snapshot.postgres_tables is not None
    engine.dispose()
    raw = engine.raw_connection()
    try:
        pg = raw.driver_connection
        with pg.cursor() as cur:  # type: ignore[union-attr]
            tables = _pg_tables(cur)
            assert sorted(tables) == sorted(snapshot.postgres_tables), "schema changed"
            # Foreign keys are checked by triggers; the copy is consistent as a whole.
            cur.execute("SET LOCAL session_replication_role = replica")
            quoted = ", ".join(f'public."{t}"' for t in tables)
            cur.execute(f"TRUNCATE {quoted} RESTART IDENTITY")
            for table, data in snapshot.postgres_tables.items():
                with cur.copy(f'COPY public."{table}" FROM STDIN (FORMAT binary)') as copy:
                    copy.write(data)
            cur.execute(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' "
                "AND (column_default LIKE 'nextval%' OR is_identity = 'YES')"
            )
            for table, column in cur.fetchall():
                cur.execute(
                    f"SELECT setval(pg_get_serial_sequence('public.\"{table}\"', '{column}'), "
                    f'COALESCE(MAX("{column}"), 0) + 1, false) FROM public."{table}"'
                )
        raw.commit()
    finally:
        raw.close()


def _reencrypt(engine: Engine, old: KeyStore, new: KeyStore) -> None:
    with write_session(engine) as session:
        rows = session.execute(select(Organization.id, Organization.key_ciphertext)).all()
        for pk, token in rows:
            session.execute(
                update(Organization)
                .where(Organization.id == pk)  # type: ignore[arg-type]
                .values(key_ciphertext=new.encrypt(old.decrypt(token)))
            )
