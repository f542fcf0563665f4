"""Storage: schema upgrades keep data, money stays exact, bad databases are explained."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, insert, inspect, select, text

from app.clock import utcnow
from app.db import SCHEMA_VERSION, DatabaseError, make_engine, migrate, read_session, write_session
from app.models import CostLine, Organization
from tests.utils.schemas import COST_ROWS, fresh_schema, insert_v1_rows, load_schema_v1, schema_of
from tests.utils.sqlite_lock import write_lock_held_by_another_process


def add_org(engine: Engine) -> int:
    with write_session(engine) as session:
        org = Organization(
            organization_id="org-1",
            name="Acme",
            key_ciphertext="x",
            key_hint="sk-ant-admin01-…AbCd",
            backfill_start=date(2026, 1, 1),
            created_at=utcnow(),
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        return org.id


def test_fresh_database_is_at_the_latest_version(engine: Engine) -> None:
    with engine.connect() as conn:
        assert (
            conn.execute(text("SELECT version FROM schema_version")).scalar_one() == SCHEMA_VERSION
        )
    assert migrate(engine) == SCHEMA_VERSION  # running it again changes nothing


def test_tables_without_a_schema_version_are_upgraded_from_version_1(
    database_url: str, tmp_path: Path
) -> None:
    """Version-1 tables with no schema_version table (from before versioning) are read as
    version 1 and upgraded, rows kept: the real version-1 schema, not one made by dropping
    columns from today's. tests/test_migrations.py checks every row and column of an upgrade
    from a recorded version 1."""
    engine = make_engine(database_url)
    try:
        load_schema_v1(engine)
        insert_v1_rows(engine)
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE schema_version"))
        assert "backfill_completed_at" not in {
            c["name"] for c in inspect(engine).get_columns("organization")
        }
        assert migrate(engine) == SCHEMA_VERSION
        with read_session(engine) as session:
            assert session.execute(select(func.count()).select_from(Organization)).scalar_one() == 2
            assert session.execute(select(func.sum(CostLine.amount_cents))).scalar_one() == sum(
                (row["amount_cents"] for row in COST_ROWS), Decimal(0)
            )
        upgraded = schema_of(engine)
    finally:
        engine.dispose()
    fresh = fresh_schema(database_url, tmp_path)
    assert set(upgraded) == set(fresh)
    assert upgraded["organization"]["columns"] == fresh["organization"]["columns"]
    assert upgraded["cost_line"]["indexes"] == fresh["cost_line"]["indexes"]


def test_newer_schema_is_refused_with_a_clear_message(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 999"))
    with pytest.raises(DatabaseError, match="newer than this program"):
        migrate(engine)


def test_amounts_are_exact_cents_and_sum_exactly(engine: Engine) -> None:
    pk = add_org(engine)
    amounts = [
        Decimal("123.456789"),
        Decimal("0.000001"),
        Decimal("99999999.999999"),
        Decimal("-5.25"),
        Decimal("0.1"),
        Decimal("0.2"),
    ]
    with write_session(engine) as session:
        session.execute(
            insert(CostLine),
            [
                {
                    "organization_pk": pk,
                    "date": date(2026, 3, 1),
                    "amount_cents": a,
                    "dims_key": str(i),
                }
                for i, a in enumerate(amounts)
            ],
        )
    with read_session(engine) as session:
        stored = (
            session.execute(select(CostLine.amount_cents).order_by(CostLine.id)).scalars().all()
        )
        total = session.execute(select(func.sum(CostLine.amount_cents))).scalar_one()
    assert stored == amounts  # not 0.30000000000000004-style floats
    assert total == sum(amounts, Decimal(0))
    assert isinstance(total, Decimal)


def test_unreachable_database_is_explained() -> None:
    engine = make_engine("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    with pytest.raises(DatabaseError, match="Cannot open the database") as caught:
        migrate(engine)
    assert "FINOPS_DATABASE_URL" in str(caught.value)


def test_creating_the_schema_while_another_process_holds_the_lock_says_so(tmp_path: Path) -> None:
    database = tmp_path / "finops.db"
    database.touch()  # a first start, while a tool already has the (empty) file open for writing
    engine = make_engine(f"sqlite:///{database}", busy_timeout_seconds=0.2)
    try:
        with write_lock_held_by_another_process(database), pytest.raises(DatabaseError) as caught:
            migrate(engine)
        message = str(caught.value)
        assert "locked by another process" in message
        assert "Wait for the running sync" in message
        assert "FINOPS_DATABASE_URL" not in message
        assert migrate(engine) == SCHEMA_VERSION  # released: the next start creates it
    finally:
        engine.dispose()


def test_a_database_at_the_current_version_is_only_read_at_start(engine: Engine) -> None:
    """Every process start runs migrate: at the current version it must not write (and so not
    wait for the write lock a running sync holds, on SQLite)."""
    statements: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.append(statement.strip().split()[0].upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert migrate(engine) == SCHEMA_VERSION
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert statements and set(statements) <= {"SELECT", "PRAGMA", "BEGIN"}, statements
