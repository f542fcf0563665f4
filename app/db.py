"""Engine factory, sessions and schema migrations shared by the app, the worker and the CLI."""

from __future__ import annotations

import errno
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from sqlalchemy import (
    Connection,
    CursorResult,
    Engine,
    Index,
    Result,
    create_engine,
    event,
    inspect,
    text,
)
from sqlalchemy.engine import make_url
from sqlmodel import Session, SQLModel

# Importing app.datasets (and so app.models) also registers every table on SQLModel.metadata.
from app.datasets import data_tables, encode_value
from app.finops import load_tables
from app.private_files import ensure_private_file, ensure_private_folder, tighten_file
from app.running_totals import refresh_key_totals

log = logging.getLogger(__name__)

# What step 7 built its rollups from, frozen as they were then (a migration never reads the
# dataset registry: a later change to it must not change what an old step does).
_V7_COST_DIMS = {
    "model": "model",
    "workspace": "workspace_id",
    "service_tier": "service_tier",
    "token_type": "token_type",
    "cost_type": "cost_type",
    "product": "product",
    "description": "description",
}
_V7_USAGE_DIMS = {
    "model": "model",
    "workspace": "workspace_id",
    "api_key": "api_key_id",
    "service_tier": "service_tier",
    "product": "product",
}
_V7_MEASURES = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)

# What step 12 built its compound rollup dimension from (unit economics), frozen likewise:
# (rollup table, detail table, dim, the detail columns its value encodes, measures).
_V12_COMPOUND = (
    (
        "cost_daily",
        "cost_line",
        "economics",
        ("cost_type", "model", "service_tier"),
        ("amount_cents",),
    ),
    (
        "usage_daily",
        "usage_bucket",
        "economics",
        ("model", "service_tier", "context_window", "inference_geo"),
        _V7_MEASURES,
    ),
)

Step = Callable[[Connection], None]


def _add_column(table: str, column: str, *, default: str | None = None) -> Step:
    """A step adding ``column`` to ``table`` with the type app/models.py declares, as this
    dialect spells it (what ``create_all`` gives a fresh database: on SQLite an amount is a
    BIGINT of micro-cents and a timestamp a DATETIME). ``default`` fills the rows already there
    of a NOT NULL column (SQLite adds one no other way). Skipped where the column exists."""

    def step(conn: Connection) -> None:
        # A table that an earlier step created from today's models has the column already.
        if column in {c["name"] for c in inspect(conn).get_columns(table)}:
            return
        declared = SQLModel.metadata.tables[table].c[column]
        ddl = f"ALTER TABLE {table} ADD COLUMN {column} {declared.type.compile(conn.dialect)}"
        if not declared.nullable:
            if default is None:
                raise ValueError(f"{table}.{column} is NOT NULL: give the existing rows a default")
            ddl += f" NOT NULL DEFAULT {default}"
        conn.execute(text(ddl))

    return step


def _create_indexes(table: str, *names: str) -> Step:
    """A step creating the named indexes of ``table`` as app/models.py declares them (unless
    they exist): an index is declared once, so a fresh and an upgraded database agree on it."""

    def step(conn: Connection) -> None:
        declared: dict[str | None, Index] = {
            index.name: index for index in SQLModel.metadata.tables[table].indexes
        }
        for name in names:
            declared[name].create(conn, checkfirst=True)

    return step


def _create_table(name: str) -> Step:
    """A step creating a table (and its indexes) as app/models.py declares it, if missing."""
    return lambda conn: SQLModel.metadata.tables[name].create(conn, checkfirst=True)


# Add a step to MIGRATIONS with every schema change (the highest is the schema's version; the
# FinOps layer's tables are in app/finops/*_tables.py): a fresh database is created
# at the latest version, an existing one is upgraded step by step and never dropped. Types,
# tables and indexes come from app/models.py, so tests/test_migrations.py can prove that a
# database upgraded from version 1 is exactly a fresh one. (Steps 2 and 5 wrote SQL types by
# hand until issue 13: SQLite databases upgraded then declare TIMESTAMP WITH TIME ZONE and
# NUMERIC(24, 6) where a fresh one has DATETIME and BIGINT; SQLite stores and returns the same
# values under either, so those are left as they are.)
MIGRATIONS: dict[int, list[str | Step]] = {
    # 2: when the first backfill completed (the "data is ready" notice and email).
    2: [_add_column("organization", "backfill_completed_at")],
    # 3: local accounts, their sign-in sessions and the audit log (new tables).
    3: [_create_table("app_user"), _create_table("audit_event"), _create_table("auth_session")],
    # 4: per-dataset stored row counts and day range, filled in from the data already there.
    4: [
        _add_column("sync_state", "row_count", default="0"),
        _add_column("sync_state", "first_day"),
        _add_column("sync_state", "last_day"),
        *(
            f"UPDATE sync_state SET row_count = (SELECT count(*) FROM {table} t "
            f"WHERE t.organization_pk = sync_state.organization_pk), "
            f"first_day = (SELECT min(date) FROM {table} t "
            f"WHERE t.organization_pk = sync_state.organization_pk), "
            f"last_day = (SELECT max(date) FROM {table} t "
            f"WHERE t.organization_pk = sync_state.organization_pk) "
            f"WHERE dataset = '{dataset}'"
            for table, dataset in (("cost_line", "cost"), ("usage_bucket", "usage"))
        ),
    ],
    # 5: Claude Enterprise (product, list amount, per-user and engagement tables) and the
    # Claude Code report of Console organizations.
    5: [
        _add_column("cost_line", "product"),
        _add_column("cost_line", "list_amount_cents"),
        _add_column("usage_bucket", "product"),
        *map(_create_table, ("claude_code_day", "user_cost", "user_usage", "engagement_day")),
    ],
    # 6: the values each filter can offer, filled in from the data already there.
    6: [
        _create_table("dimension_value"),
        *(
            # The first 400 characters, as the sync keeps them (Postgres refuses longer ones).
            f"INSERT INTO dimension_value (organization_pk, kind, value) "
            f"SELECT DISTINCT organization_pk, '{kind}', SUBSTR(COALESCE({column}, ''), 1, 400) "
            f"FROM {table} "
            # WHERE true: SQLite would read ON CONFLICT as a join's ON without it.
            f"WHERE true ON CONFLICT DO NOTHING"
            for table, kinds in (
                ("cost_line", ("workspace_id", "model", "service_tier", "cost_type", "product")),
                ("usage_bucket", ("workspace_id", "model", "service_tier", "product")),
            )
            for kind, column in ((k.removesuffix("_id"), k) for k in kinds)
        ),
    ],
    # 7: daily rollups by one dimension at a time, built from the detail rows already there.
    7: [
        _create_table("cost_daily"),
        _create_table("usage_daily"),
        # Built whole from the detail rows, whatever was there (a re-run must not add twice).
        "DELETE FROM cost_daily",
        "DELETE FROM usage_daily",
        *(
            f"INSERT INTO cost_daily (organization_pk, date, dim, value, amount_cents) "
            f"SELECT organization_pk, date, '{dim}', {column}, SUM(amount_cents) FROM cost_line "
            f"GROUP BY organization_pk, date, {column}"
            for dim, column in _V7_COST_DIMS.items()
        ),
        *(
            f"INSERT INTO usage_daily (organization_pk, date, dim, value, "
            f"{', '.join(_V7_MEASURES)}) "
            f"SELECT organization_pk, date, '{dim}', {column}, "
            f"{', '.join(f'SUM({m})' for m in _V7_MEASURES)} FROM usage_bucket "
            f"GROUP BY organization_pk, date, {column}"
            for dim, column in _V7_USAGE_DIMS.items()
        ),
    ],
    # 8: views filtered to a model read that model's rows through an index; the largest few
    # groups of a chart read their days through one; running totals of tokens per API key.
    8: [
        _create_indexes("cost_line", "ix_cost_line_org_model_date"),
        _create_indexes("usage_bucket", "ix_usage_bucket_org_model_date"),
        # Already there when step 7 created the table from today's model; else created here.
        _create_indexes("cost_daily", "ix_cost_daily_dim_value_date"),
        _create_indexes("usage_daily", "ix_usage_daily_dim_value_date"),
        _create_table("key_tokens_to_date"),
        lambda conn: refresh_key_totals(conn, None, None),
    ],
    # 9: failed sign-ins counted per email address (known or not) in a sliding window.
    9: [_create_table("sign_in_throttle")],
    # 10: the latest failed sign-in of an address: the throttle's window slides from it.
    10: [_add_column("sign_in_throttle", "last_failure_at")],
    # 11: the audit log keeps each event's organization name, so a deleted organization stays
    # named; earlier events get it from their organization, or, once deleted, from the name
    # its connection event recorded.
    11: [_add_column("audit_event", "organization_name"), lambda conn: _name_audit_events(conn)],
    # 12: unit economics reads the rollups: a dimension crossing model, tier and the rest
    # (``app.datasets.ECONOMICS``), built from the detail rows already there.
    12: [lambda conn: _build_compound_rollups(conn)],
    # 13: each organization's dataset versioned, and the days each version replaced: what the
    # app's columnar copy reads to stay current (``app.columnar``). Rows already there are
    # version 0: a copy loads them whole.
    13: [_create_table("data_version"), _create_table("data_change")],
    # 14: allocations, their rules and imported versions, the allocated lines and each
    # allocation's mark of the cost rows it followed (issue 17).
    14: [
        *map(
            _create_table,
            (
                "allocation",
                "allocation_rule",
                "allocation_version",
                "allocation_line",
                "allocation_mark",
            ),
        )
    ],
    # 15: budgets, their alerts and state, notification channels and deliveries (issue 18).
    15: [
        *map(
            _create_table,
            ("notification_channel", "budget", "budget_alert", "budget_state", "channel_delivery"),
        )
    ],
    # 16: spend anomalies found after each sync, their episodes and triage (issue 19).
    16: [_create_table("anomaly")],
    # 17: per-key cost (Usage and Cost Analytics API), why a dataset is unavailable, and the
    # Enterprise per-user rows' request count and "data as of" (issue 16).
    17: [
        _create_table("key_cost_line"),
        _add_column("sync_state", "unavailable_reason"),
        _add_column("user_cost", "requests"),
        _add_column("user_cost", "data_refreshed_at"),
        _add_column("user_usage", "data_refreshed_at"),
    ],
    # 18: closed monthly chargeback statements and their locked lines (issue 17 point 6).
    18: [_create_table("statement"), _create_table("statement_line")],
    # 19: what each organization's last anomaly scan saw, so a scan skips the unchanged ones.
    19: [_create_table("anomaly_scan")],
    # 20: allocation rules on API keys and actors divide a cost row by per-key billed cost: the
    # line keeps its key, the mark follows the per-key cost (issue 17 point 1).
    20: [
        _add_column("allocation_line", "api_key_id"),
        _add_column("allocation_mark", "key_cost_version", default="0"),
    ],
    # 21: the allocated lines summed per organization, day and value (Spend by an allocation
    # at scale reads these; issue 17).
    21: [_create_table("allocation_daily"), lambda conn: _sum_allocation_lines(conn)],
    # 22: the days a later sync changed the stored amount of (the data-quality view, issue 16).
    22: [_create_table("restatement")],
    # 23: per-key cost estimated where an organization's key may not read it (issue 16).
    23: [_create_table("key_cost_estimate"), _create_table("key_estimate_mark")],
    # 24: per-key and per-actor usage (the Analytics API's /analytics/usage; issue 16).
    24: [_create_table("key_usage_line")],
    # 25: the actor filter's values, filled in from the per-key rows already there.
    25: [
        f"INSERT INTO dimension_value (organization_pk, kind, value) "
        f"SELECT DISTINCT organization_pk, 'actor', "
        f"SUBSTR(COALESCE(actor_name, actor_id, ''), 1, 400) FROM {table} "
        f"WHERE true ON CONFLICT DO NOTHING"
        for table in ("key_cost_line", "key_usage_line")
    ],
    # 26: an estimated key's name kept on its rows (the columnar copy holds no directory).
    26: [
        _add_column("key_cost_estimate", "actor_name"),
        "UPDATE key_cost_estimate SET actor_name = (SELECT api_key.name FROM api_key "
        "WHERE api_key.organization_pk = key_cost_estimate.organization_pk "
        "AND api_key.api_key_id = key_cost_estimate.api_key_id)",
    ],
}
SCHEMA_VERSION = max(MIGRATIONS)


def _sum_allocation_lines(conn: Connection) -> None:
    """Migration 21: the daily sums of the lines already allocated."""
    conn.execute(
        text(
            "INSERT INTO allocation_daily (allocation_pk, organization_pk, date, value, "
            "amount_cents) SELECT allocation_pk, organization_pk, date, value, "
            "SUM(amount_cents) FROM allocation_line "
            "GROUP BY allocation_pk, organization_pk, date, value"
        )
    )


# The FinOps layer's tables (app/finops/*_tables.py) belong to the schema as well.
load_tables()


def _build_compound_rollups(conn: Connection) -> None:
    """Step 12: each compound dimension of ``_V12_COMPOUND`` summed from its detail rows, one
    organization at a time, its value encoded by the write path's own ``encode_value``. Its
    rows are deleted first, so a re-run does not add twice. Values pass through as the database
    returns them (micro-cents on SQLite, NUMERIC on Postgres), so nothing is rounded."""
    for rollup, detail, dim, columns, measures in _V12_COMPOUND:
        conn.execute(text(f"DELETE FROM {rollup} WHERE dim = :dim"), {"dim": dim})
        names = ", ".join(columns)
        insert = text(
            f"INSERT INTO {rollup} (organization_pk, date, dim, value, {', '.join(measures)}) "
            f"VALUES (:pk, :day, :dim, :value, {', '.join(f':m{n}' for n in range(len(measures)))})"
        )
        orgs = conn.execute(text(f"SELECT DISTINCT organization_pk FROM {detail}")).scalars()
        for pk in list(orgs):
            groups = conn.execute(
                text(
                    f"SELECT date, {names}, {', '.join(f'SUM({m})' for m in measures)} "
                    f"FROM {detail} WHERE organization_pk = :pk GROUP BY date, {names}"
                ),
                {"pk": pk},
            ).all()
            width = len(columns) + 1
            params = [
                {
                    "pk": pk,
                    "day": row[0],
                    "dim": dim,
                    "value": encode_value(tuple(row[1:width])),
                    **{f"m{n}": v for n, v in enumerate(row[width:])},
                }
                for row in groups
            ]
            for first in range(0, len(params), 5000):
                conn.execute(insert, params[first : first + 5000])


def _name_audit_events(conn: Connection) -> None:
    """Step 11's fill-in of ``audit_event.organization_name`` for the events already there."""
    conn.execute(
        text(
            "UPDATE audit_event SET organization_name = (SELECT COALESCE(o.label, o.name) "
            "FROM organization o WHERE o.organization_id = audit_event.target) "
            "WHERE organization_name IS NULL AND target IS NOT NULL"
        )
    )
    # A deleted organization: the name its latest connection or key replacement recorded
    # (their detail was "<name>, key <hint>"; a hint never holds ", key ").
    named: dict[str, str] = {}
    for target, detail in conn.execute(
        text(
            "SELECT target, detail FROM audit_event WHERE target IS NOT NULL "
            "AND detail IS NOT NULL AND action IN ('organization_connected', 'key_replaced') "
            "ORDER BY id"
        )
    ):
        if ", key " in detail:
            named[target] = detail.rsplit(", key ", 1)[0]
    for target, name in named.items():
        conn.execute(
            text(
                "UPDATE audit_event SET organization_name = :name "
                "WHERE target = :target AND organization_name IS NULL"
            ),
            {"name": name, "target": target},
        )


class DatabaseError(RuntimeError):
    """The database cannot be used; the message says why and what to do."""


def make_engine(url: str, *, busy_timeout_seconds: float = 30.0) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout (how long a write waits for the
    lock another process holds) and enforced foreign keys. A SQLite file and its folder are
    made private first (0600 / 0700): they hold password hashes, cost data and the audit log."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:" and not parsed.query.get("uri"):
            _prepare_sqlite_file(Path(parsed.database))
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_seconds}
        )
        _configure_sqlite(engine, busy_timeout_ms=max(1, round(busy_timeout_seconds * 1000)))
        return engine
    return create_engine(url, pool_pre_ping=True)


def _prepare_sqlite_file(path: Path) -> None:
    """Create the folder (0700) and the file (0600) before SQLite opens it, or tighten an
    existing file (and the -wal / -shm files a crash left): SQLite creates those two with the
    database file's own mode, so a private database keeps them private."""
    try:
        ensure_private_folder(path.parent)
        ensure_private_file(path)
        for suffix in ("-wal", "-shm", "-journal"):
            tighten_file(path.with_name(path.name + suffix))
    except OSError as exc:
        raise DatabaseError(
            f"Cannot open the database at {path}: {exc.strerror} ({exc.filename or path}). "
            "Check FINOPS_DATABASE_URL / FINOPS_DATA_DIR and the folder's permissions."
        ) from None


def _configure_sqlite(engine: Engine, *, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (the pysqlite driver's own handling is unreliable).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers take the lock up front: a deferred transaction that upgrades to a write in WAL
        # mode fails at once with SQLITE_BUSY instead of waiting for the busy timeout.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """A session whose transaction holds the write lock from its start (SQLite) and commits at
    the end of the block, or rolls back on any error."""
    bound = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with Session(bound, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def affected_rows(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE run through ``Session.execute`` matched. Its result is
    a ``CursorResult`` (which has ``rowcount``); the session's signature only says ``Result``."""
    return cast("CursorResult[Any]", result).rowcount


@contextmanager
def read_session(engine: Engine) -> Iterator[Session]:
    with Session(engine, expire_on_commit=False) as session:
        yield session


# The tables a backfill fills by the million (the core datasets' detail rows and rollups, the
# running totals and filter values), whose statistics the query planner relies on.
DATA_TABLES = tuple(table.name for table in data_tables(core_only=True))


def refresh_statistics(engine: Engine) -> None:
    """Update Postgres's planner statistics after a bulk load (a first backfill): it plans from
    them, and its autovacuum may be off or not have caught up (a plan for 35 rows met 300k and
    sorted them on disk). SQLite is left without: its plans here are good without statistics,
    and sampled ones (``analysis_limit``) misled it into scanning every organization's keys.
    Never fails the caller: stale statistics make queries slower, not wrong."""
    if engine.dialect.name != "postgresql":
        return
    try:
        with engine.begin() as conn:
            conn.execute(text(f"ANALYZE {', '.join(DATA_TABLES)}"))
    except Exception as exc:  # logged, not raised: see above
        log.warning("Could not refresh the planner statistics: %s", exc)


_LOCKED = (
    "The database is locked by another process: a sync, the worker or another tool (a backup, "
    "an sqlite3 shell) is writing to it and did not finish within the busy timeout "
    "(FINOPS_DATABASE_BUSY_TIMEOUT_SECONDS). Wait for the running sync to finish and try "
    "again; if it stays locked, look for a stuck process that holds the database file open."
)
_FULL = (
    "The disk holding the database is full (or the database reached its size limit). Free "
    "some space on it, then try again."
)


def describe_database_error(exc: BaseException) -> str:
    """What a database failure means for the operator and what to do, in a sentence or two:
    a lock held by another process, a full disk, or else the driver's own first line. Never
    includes bound parameters (SQLAlchemy's message does: they may be secrets or user data)."""
    kind = _error_kind(exc)
    if kind == "locked":
        return _LOCKED
    if kind == "full":
        return _FULL
    cause = getattr(exc, "orig", None) or exc
    first_line = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{cause.__class__.__name__}: {first_line}".rstrip(": ")


def _error_kind(exc: BaseException) -> str | None:
    """ "locked" or "full" for those two failures, on SQLite or Postgres; otherwise None."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        for candidate in (current, getattr(current, "orig", None)):
            if candidate is None:
                continue
            name = str(getattr(candidate, "sqlite_errorname", ""))
            state = str(getattr(candidate, "sqlstate", "") or "")
            text_ = str(candidate).lower()
            if name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")) or state == "55P03":
                return "locked"
            if "database is locked" in text_ or "database table is locked" in text_:
                return "locked"
            if name.startswith("SQLITE_FULL") or state == "53100":
                return "full"
            if "database or disk is full" in text_:
                return "full"
            if isinstance(candidate, OSError) and candidate.errno == errno.ENOSPC:
                return "full"
        current = current.__cause__ or current.__context__
    return None


def migrate(engine: Engine) -> int:
    """Create or upgrade the schema to ``SCHEMA_VERSION``; returns the version now in place.

    A database already at this version is only read: every process start (read-only commands
    such as ``finops orgs`` too) runs this, and must not wait for the write lock a running
    sync holds. The write lock (SQLite) or advisory lock (Postgres) is taken only to create or
    upgrade, and the version is read again under it."""
    try:
        current = _schema_version(engine)
        if current is not None and current >= SCHEMA_VERSION:
            _refuse_newer(current)
            return current
        return _create_or_upgrade(engine)
    except DatabaseError:
        raise
    except Exception as exc:  # the driver's own message names the cause (path, host, auth)
        where = engine.url.render_as_string(hide_password=True)
        if _error_kind(exc) is not None:
            # The URL is right: pointing at FINOPS_DATABASE_URL would mislead.
            described = describe_database_error(exc)
            raise DatabaseError(
                f"Cannot use the database at {where}: {described[0].lower()}{described[1:]}"
            ) from exc
        raise DatabaseError(
            f"Cannot open the database at {where}: {describe_database_error(exc)}. "
            "Check FINOPS_DATABASE_URL / FINOPS_DATA_DIR and that the database is reachable."
        ) from exc


def _schema_version(engine: Engine) -> int | None:
    """The recorded schema version, read without any write lock; None if there is none yet."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("schema_version"):
            return None
        row = conn.execute(text("SELECT version FROM schema_version")).first()
        return None if row is None else int(row[0])


def _refuse_newer(current: int) -> None:
    if current > SCHEMA_VERSION:
        raise DatabaseError(
            f"The database schema is version {current}, newer than this program "
            f"({SCHEMA_VERSION}). Upgrade Anthropic FinOps before using this database."
        )


def _create_or_upgrade(engine: Engine) -> int:
    bound = engine.execution_options(sqlite_begin="IMMEDIATE") if is_sqlite(engine) else engine
    with bound.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Two processes starting together must not both create the schema.
            conn.execute(text("SELECT pg_advisory_xact_lock(724011)"))
        conn.execute(text("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"))
        row = conn.execute(text("SELECT version FROM schema_version")).first()
        if row is None:
            existing = set(inspect(conn).get_table_names()) - {"schema_version"}
            if existing:
                # Tables from before versioning existed: they are version 1.
                current = 1
            else:
                SQLModel.metadata.create_all(conn)
                current = SCHEMA_VERSION
            conn.execute(text("INSERT INTO schema_version (version) VALUES (:v)"), {"v": current})
        else:
            current = int(row[0])  # another process may have upgraded it meanwhile
        _refuse_newer(current)
        # Versions may be absent (one reserved for work not landed yet): skip them.
        for version in sorted(v for v in MIGRATIONS if v > current):
            log.info("Upgrading database schema to version %s", version)
            for step in MIGRATIONS[version]:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(text(step))
            conn.execute(text("UPDATE schema_version SET version = :v"), {"v": version})
            current = version
        return current
