"""A columnar copy of the detail rows for the filtered views: DuckDB, kept by the app process.

A view filtered on two dimensions at once (a tier and a model, a workspace and a cost type) is
not answered by the one-dimension rollups, and a row store adds up its detail rows one by one:
seconds at ten million rows. DuckDB runs the same SQL (the reports' own queries, through the
``duckdb_engine`` dialect) 5-15 times faster here (bench, issue 14), so every filtered view reads
from a copy of ``cost_line`` and ``usage_bucket`` in DuckDB. Spend by API key or actor
reads per-key cost (``key_cost_line``, and ``key_cost_estimate`` where a key may not read it)
from the copy too: hundreds of keys a day add up to millions of rows.

The copy belongs to one app process: a private temporary file, loaded in the background from the
database and kept current from its change log (``app.store.changes``, written by ``replace_days``
in the same transaction as the rows). A view reads the copy only while the copy holds every
committed change; otherwise the database answers and the copy catches up in the background, so
a view is never older than the database. Names (workspaces, keys, organizations) are always read
from the database (``app.reports.top.sum_by_day``): the copy holds rows, not the directory (an
actor's name is a row's, as the API sent it or as the estimate kept it).
"""

from __future__ import annotations

import atexit
import logging
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    MetaData,
    Table,
    and_,
    cast,
    create_engine,
    inspect,
    select,
    type_coerce,
)
from sqlalchemy.pool import NullPool
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.util import find_tables
from sqlmodel import SQLModel, col

from app.datasets import REGISTRY, Dataset
from app.models import CENTS_SCALE, Cents, KeyCostEstimate, Organization
from app.store.changes import changes_after, versions
from app.store.key_estimate import ESTIMATE_DATASET

if TYPE_CHECKING:  # imported where rows are copied: the CLI never loads Arrow (~0.3 s)
    import pyarrow as pa

log = logging.getLogger(__name__)

# The detail tables copied, by the name their versions are kept under (``app.store.changes``):
# the ones the Spend and Usage filters read, and per-key cost, billed and estimated (Spend by
# API key or actor reads their union: 500 keys over six months summed row by row in SQLite
# took ~0.3-0.6 s, bench/key_cost_figures.py).
COPIED: dict[str, Any] = {
    **{str(d): REGISTRY[d].table for d in (Dataset.COST, Dataset.USAGE, Dataset.KEY_COST)},
    ESTIMATE_DATASET: KeyCostEstimate,
}
# The organization's columns the reports' conditions and joins use; never its key.
ORG_COLUMNS = ("id", "organization_id", "provider", "is_demo")
# Detail columns no report reads: the row id, what the API sent beyond the known fields, and
# the natural key's digest (the longest strings of a row).
LEFT_OUT = frozenset({"id", "extra", "dims_key"})
# Rows read from the database at a time while copying: bounds the memory of a load (915k rows
# at 20,000 a chunk: RSS +140 MiB, at 100,000: +205 MiB; as fast).
CHUNK_ROWS = 20_000
# DuckDB's own memory: the copy is a file; this bounds its cache (and a load's work).
MEMORY_LIMIT = "512MB"
RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class Marks:
    """What the database held when read: each organization's identity (its Anthropic id and
    when it was connected: a deleted organization's pk may come back for another) and the
    versions of its copied datasets."""

    organizations: dict[int, tuple[str, datetime]]
    versions: dict[tuple[int, str], int]


@dataclass
class ColumnarCopy:
    """The DuckDB copy of one database's detail rows, for this process."""

    primary: Engine
    engine: Engine = field(init=False)
    directory: Path = field(init=False)
    # What the copy holds (None until its first load is complete).
    applied: Marks | None = field(default=None, init=False)
    error: str | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _wake: threading.Event = field(default_factory=threading.Event, init=False)
    _stopped: threading.Event = field(default_factory=threading.Event, init=False)
    _closed: bool = field(default=False, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # mkdtemp: a directory only this user can read; the rows are billing data.
        self.directory = Path(tempfile.mkdtemp(prefix="finops-columnar-"))
        try:
            self._open(self.directory / "copy.duckdb")
        except BaseException:
            shutil.rmtree(self.directory, ignore_errors=True)
            raise

    def _open(self, path: Path) -> None:
        # NullPool: DuckDB shares one database between the connections of a process, so a
        # connection per checkout is cheap, and no connection outlives the copy's file.
        self.engine = create_engine(
            f"duckdb:///{path}",
            poolclass=NullPool,
            connect_args={"config": {"memory_limit": MEMORY_LIMIT}},
        )
        # Held open for the copy's life: the database stays open between queries (a
        # connection per query is then cheap), and the refresh writes through it.
        self._anchor: Any = self.engine.raw_connection()
        for table in _copy_tables():
            columns = ", ".join(
                f'"{c.name}" {c.type.compile(self.engine.dialect)}' for c in table.c
            )
            self._anchor.cursor().execute(f'CREATE TABLE "{table.name}" ({columns})')

    def start(self) -> None:
        """Load and keep current in a background thread (the app's pages never wait)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="finops-columnar-copy", daemon=True
            )
            self._thread.start()

    def current(self) -> Engine | None:
        """The copy's engine when it holds everything the database has committed; else None
        (the caller reads the database) and the copy is asked to catch up."""
        if self.applied is None or self._closed:
            self._wake.set()
            return None
        try:
            now = read_marks(self.primary)
        except Exception:  # the database's own error reaches the caller on its own query
            return None
        if now == self.applied:
            return self.engine
        self._wake.set()
        return None

    def refresh(self) -> None:
        """Bring the copy up to what the database holds now: everything on the first call,
        then only the days changed since (an organization whole when the change log no
        longer reaches back to the copy's version, or when it was deleted or replaced)."""
        with self._lock, self.primary.connect() as source:
            now = read_marks(source)
            copy = self._anchor.driver_connection
            if self.applied is None:
                # Nothing reads the copy before its first load is complete, so each chunk
                # commits on its own: DuckDB then compresses it into the file instead of
                # holding every row of a transaction in memory (915k rows: the process's RSS
                # grew by 470 MiB in one transaction, by 140 MiB this way).
                _load_all(source, copy)
                _replace_organizations(source, copy)
            else:
                # DuckDB commits each statement unless asked for a transaction: one, so a
                # view never reads a day deleted and not yet copied again.
                copy.execute("BEGIN TRANSACTION")
                try:
                    _apply_changes(source, copy, self.applied, now)
                    _replace_organizations(source, copy)
                except BaseException:
                    copy.execute("ROLLBACK")
                    raise
                copy.execute("COMMIT")
            self.applied = now
            self.error = None

    def close(self) -> None:
        self._closed = True
        self._stopped.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        # A first load of millions of rows may still hold the lock: the process is going, the
        # file goes with the directory below, so shutting down does not wait for it.
        if self._lock.acquire(timeout=5):
            try:
                self._anchor.close()
            finally:
                self._lock.release()
        self.engine.dispose()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self) -> None:
        while not self._closed:
            self._wake.clear()  # before the refresh: a change during it wakes the next one
            try:
                self.refresh()
            except Exception as exc:  # the database answers meanwhile; try again later
                # Only the kind of error: no row, name or URL reaches the log.
                self.error = type(exc).__name__
                log.warning(
                    "columnar copy: refresh failed (%s); retrying in %.0f s",
                    self.error,
                    RETRY_SECONDS,
                )
                # Not woken by the pages' reads: a lasting error (a full disk) is retried
                # every RETRY_SECONDS, not on every view.
                self._stopped.wait(RETRY_SECONDS)
                continue
            self._wake.wait()


_COPIES: dict[Engine, ColumnarCopy] = {}
_UNAVAILABLE: set[Engine] = set()  # databases whose copy could not be made in this process
_REGISTRY_LOCK = threading.Lock()


def attach(primary: Engine) -> ColumnarCopy | None:
    """The copy of ``primary``'s detail rows for this process, started on the first call; None
    when it cannot be made (no room for its file, say): the database then answers every view,
    as it would with the copy switched off, and the pages work as before."""
    with _REGISTRY_LOCK:
        copy = _COPIES.get(primary)
        if copy is None and primary not in _UNAVAILABLE:
            try:
                copy = ColumnarCopy(primary)
            except Exception as exc:
                _UNAVAILABLE.add(primary)
                log.warning(
                    "columnar copy unavailable (%s: %s); filtered views read the database",
                    type(exc).__name__,
                    getattr(exc, "strerror", None) or "see the exception type",
                )
                return None
            _COPIES[primary] = copy
            copy.start()
        return copy


def detach(primary: Engine) -> None:
    with _REGISTRY_LOCK:
        copy = _COPIES.pop(primary, None)
    if copy is not None:
        copy.close()


@atexit.register
def _close_all() -> None:
    for primary in list(_COPIES):
        detach(primary)


def detail_engine(engine: Engine) -> Engine:
    """Where a query over the detail rows runs: the process's copy when it is current, else
    ``engine`` itself (the worker, the CLI and a copy still loading read the database)."""
    copy = _COPIES.get(engine)
    current = copy.current() if copy is not None else None
    return current or engine


def copied(table: Any) -> bool:
    """Whether the copy holds what ``table`` reads: a detail table, or a selection of detail
    tables only (per-key cost with its estimates). A rollup or the FinOps layer's own tables
    are read from the database."""
    read = {t.name for t in find_tables(inspect(table).selectable)}
    return bool(read) and read <= _COPIED_NAMES


def read_marks(source: Any) -> Marks:
    """The organizations and versions the database holds now (two small reads)."""
    if isinstance(source, Engine):
        with source.connect() as conn:
            return read_marks(conn)
    orgs = source.execute(
        select(
            col(Organization.id), col(Organization.organization_id), col(Organization.created_at)
        )
    )
    return Marks(
        {pk: (organization_id, created) for pk, organization_id, created in orgs},
        versions(source, tuple(COPIED)),
    )


# The copy's own tables: the database's, with only the columns the reports read.
_METADATA = MetaData()
_TABLES: dict[str, tuple[Table, Table]] = {}  # name -> (copy's table, database's table)


def _copy_table(origin: Table, keep: Any) -> Table:
    table = Table(
        origin.name, _METADATA, *(Column(c.name, c.type) for c in origin.c if keep(c.name))
    )
    _TABLES[origin.name] = (table, origin)
    return table


_ORGANIZATION = _copy_table(SQLModel.metadata.tables["organization"], ORG_COLUMNS.__contains__)
_DETAIL = {
    name: _copy_table(table.__table__, lambda column: column not in LEFT_OUT)
    for name, table in COPIED.items()
}
_COPIED_NAMES = frozenset(table.name for table in _DETAIL.values())


def _copy_tables() -> list[Table]:
    return [_ORGANIZATION, *_DETAIL.values()]


def _detail_tables() -> list[Table]:
    return list(_DETAIL.values())


def _load_all(source: Any, copy: Any) -> None:
    for table in _detail_tables():
        copy.execute(f'DELETE FROM "{table.name}"')
        _copy_rows(source, copy, table, None)


def _apply_changes(source: Any, copy: Any, before: Marks, now: Marks) -> None:
    """Bring the copy from ``before`` to ``now``: drop organizations that are gone (or whose pk
    now names another), then read again the days each changed dataset replaced."""
    replaced = {
        pk for pk, identity in before.organizations.items() if now.organizations.get(pk) != identity
    }
    for pk in replaced:
        for table in _detail_tables():
            copy.execute(f'DELETE FROM "{table.name}" WHERE organization_pk = ?', (pk,))
    for pk in now.organizations:
        new = pk not in before.organizations or pk in replaced
        for dataset, table in _DETAIL.items():
            if new:
                # Its rows whole. Deleted first: the first load copies every row there was,
                # an organization connected while it ran included, before its marks say so.
                copy.execute(f'DELETE FROM "{table.name}" WHERE organization_pk = ?', (pk,))
                _copy_rows(source, copy, table, (pk, None, None))
                continue
            seen = before.versions.get((pk, dataset), 0)
            version = now.versions.get((pk, dataset), 0)
            if version == seen:
                continue
            # A version below the copy's: the database is not the one copied (a backup put
            # back); the organization whole, as when the log no longer reaches back.
            changes = changes_after(source, pk, dataset, seen, version) if version > seen else None
            if changes is None:
                copy.execute(f'DELETE FROM "{table.name}" WHERE organization_pk = ?', (pk,))
                _copy_rows(source, copy, table, (pk, None, None))
                continue
            for first, last in _merged_ranges(changes):
                copy.execute(
                    f'DELETE FROM "{table.name}" WHERE organization_pk = ? '
                    "AND date >= ? AND date < ?",
                    (pk, first, last),
                )
                _copy_rows(source, copy, table, (pk, first, last))


def _merged_ranges(changes: Any) -> list[tuple[date, date]]:
    """The changes' day ranges, overlapping and touching ones merged (a sync rewrites its
    last few days on every run)."""
    ranges: list[tuple[date, date]] = []
    for first, last in sorted((c.first_day, c.last_day) for c in changes):
        if ranges and first <= ranges[-1][1]:
            ranges[-1] = (ranges[-1][0], max(last, ranges[-1][1]))
        else:
            ranges.append((first, last))
    return ranges


def _replace_organizations(source: Any, copy: Any) -> None:
    """The organization table is a handful of rows: copied whole on every refresh."""
    copy.execute('DELETE FROM "organization"')
    _copy_rows(source, copy, _ORGANIZATION, None)


def _copy_rows(
    source: Any, copy: Any, table: Table, where: tuple[int, date | None, date | None] | None
) -> None:
    """Insert the database's rows of the copy's ``table`` (``where``: one organization, and
    its days ``[first, last)`` when given) into the copy, in chunks, as Arrow columns typed
    like the copy's (exact integers with nulls: no float on the way)."""
    origin = _TABLES[table.name][1]
    columns = [_as_stored(origin.c[c.name], source.dialect.name) for c in table.c]
    query = select(*columns)
    if where is not None:
        pk, first, last = where
        conditions: list[ColumnElement[bool]] = [origin.c.organization_pk == pk]
        if first is not None and last is not None:
            conditions += [origin.c.date >= first, origin.c.date < last]
        query = query.where(and_(*conditions))
    import pyarrow as pa

    types = [_arrow_type(c) for c in table.c]
    names = [c.name for c in table.c]
    result = source.execution_options(stream_results=True).execute(query)
    for rows in _chunks(result):
        values = list(zip(*rows, strict=True))
        chunk = pa.table(
            [pa.array(v, type=t) for v, t in zip(values, types, strict=True)], names=names
        )
        copy.register("finops_chunk", chunk)
        try:
            copy.execute(f'INSERT INTO "{table.name}" SELECT * FROM finops_chunk')
        finally:
            copy.unregister("finops_chunk")


def _chunks(result: Any) -> Iterator[list[Any]]:
    while rows := result.fetchmany(CHUNK_ROWS):
        yield rows


def _arrow_type(column: Column[Any]) -> pa.DataType:
    import pyarrow as pa

    if isinstance(column.type, Cents):
        return pa.int64()
    python = column.type.python_type
    if python is bool:
        return pa.bool_()
    if python is int:
        return pa.int64()
    if python is date:
        return pa.date32()
    return pa.string()


def _as_stored(column: Any, dialect: str) -> Any:
    """A column as the copy keeps it: amounts as integer micro-cents (SQLite already stores
    them so; Postgres's NUMERIC scaled exactly), every other column as it is."""
    if not isinstance(column.type, Cents):
        return column
    if dialect == "sqlite":
        return type_coerce(column, BigInteger).label(column.name)
    return cast(column * 10**CENTS_SCALE, BigInteger).label(column.name)
