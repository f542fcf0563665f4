"""Storage: schema upgrades keep data, money stays exact, bad databases are explained."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, func, insert, inspect, select, text

from app.clock import utcnow
from app.db import SCHEMA_VERSION, DatabaseError, make_engine, migrate, read_session, write_session
from app.models import CostLine, Organization, SyncState
from tests.utils.sqlite_lock import write_lock_held_by_another_process


def add_org(engine: Engine) -> int:
    with write_session(engine) as session:
        org = Organization(
            organization_id="org-1", name="Acme", key_ciphertext="x", key_hint="sk-ant-admin01-…AbCd",
            backfill_start=date(2026, 1, 1), created_at=utcnow(),
        )  # fmt: skip
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


def test_upgrade_from_version_1_keeps_every_row(engine: Engine) -> None:
    pk = add_org(engine)
    with write_session(engine) as session:
        session.execute(insert(CostLine), [
            {"organization_pk": pk, "date": date(2026, 3, d), "amount_cents": Decimal("1.5"),
             "dims_key": f"k{d}"} for d in range(1, 11)
        ])  # fmt: skip
    with write_session(engine) as session:
        session.add(SyncState(organization_pk=pk, dataset="cost", backfill_done=True))
    # Turn the database back into what version 1 created.
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE organization DROP COLUMN backfill_completed_at"))
        for table in ("auth_session", "audit_event", "app_user"):
            conn.execute(text(f"DROP TABLE {table}"))
        for column in ("row_count", "first_day", "last_day"):
            conn.execute(text(f"ALTER TABLE sync_state DROP COLUMN {column}"))
        for table in ("claude_code_day", "user_cost", "user_usage", "engagement_day"):
            conn.execute(text(f"DROP TABLE {table}"))
        for table, column in (
            ("cost_line", "product"),
            ("cost_line", "list_amount_cents"),
            ("usage_bucket", "product"),
        ):
            conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))
        conn.execute(text("UPDATE schema_version SET version = 1"))
    assert "backfill_completed_at" not in {
        c["name"] for c in inspect(engine).get_columns("organization")
    }
    assert migrate(engine) == SCHEMA_VERSION
    assert "backfill_completed_at" in {
        c["name"] for c in inspect(engine).get_columns("organization")
    }
    assert {"product", "list_amount_cents"} <= {
        c["name"] for c in inspect(engine).get_columns("cost_line")
    }
    assert "claude_code_day" in inspect(engine).get_table_names()
    with read_session(engine) as session:
        assert session.execute(select(Organization.name)).scalar_one() == "Acme"
        assert session.execute(select(func.sum(CostLine.amount_cents))).scalar_one() == Decimal(
            "15"
        )


def test_newer_schema_is_refused_with_a_clear_message(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(text("UPDATE schema_version SET version = 999"))
    with pytest.raises(DatabaseError, match="newer than this program"):
        migrate(engine)


def test_amounts_are_exact_cents_and_sum_exactly(engine: Engine) -> None:
    pk = add_org(engine)
    amounts = [Decimal("123.456789"), Decimal("0.000001"), Decimal("99999999.999999"),
               Decimal("-5.25"), Decimal("0.1"), Decimal("0.2")]  # fmt: skip
    with write_session(engine) as session:
        session.execute(insert(CostLine), [
            {"organization_pk": pk, "date": date(2026, 3, 1), "amount_cents": a, "dims_key": str(i)}
            for i, a in enumerate(amounts)
        ])  # fmt: skip
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
