"""A database at the oldest supported schema (version 1), with representative rows, and a
description of any database's schema to compare an upgraded one with a fresh one."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, inspect, text

from app.db import SCHEMA_VERSION, make_engine, migrate
from app.models import USAGE_MEASURES, Cents

FIXTURES = Path(__file__).parent.parent / "fixtures"
# A model name longer than dimension_value.value holds (400): the sync keeps its first 400
# characters as the filter value; the upgrade must do the same, not fail on Postgres.
LONG_MODEL = "claude-" + "x" * 450
DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 4)]

# cost_line rows of version 1 (organization 1 or 2): amounts with six decimals, nulls.
_COST = ("org", "date", "workspace_id", "model", "service_tier", "cost_type", "token_type")
_COST_DATA = [
    (1, DAYS[0], "ws-1", "claude-a", "standard", "tokens", "input", "123.456789"),
    (1, DAYS[0], None, None, None, "web_search", None, "0.000001"),
    (1, DAYS[1], "ws-1", "claude-a", "batch", "tokens", "output", "-5.25"),
    (1, DAYS[2], "ws-2", LONG_MODEL, "standard", "tokens", "output", "99999999.999999"),
    (2, DAYS[1], "ws-9", "claude-b", "standard", "tokens", "input", "0.1"),
]
COST_ROWS: list[dict[str, Any]] = [
    dict(zip(_COST, dims, strict=True))
    | {"description": f"line {n}", "dims_key": f"c{n}", "amount_cents": Decimal(amount)}
    for n, (*dims, amount) in enumerate(_COST_DATA)
]

# usage_bucket rows of version 1: three API keys (one null) over three days, two organizations;
# ``tokens`` are the USAGE_MEASURES in order.
_USAGE = ("org", "date", "api_key_id", "workspace_id", "model", "service_tier", "tokens")
_USAGE_DATA = [
    (1, DAYS[0], "key-a", "ws-1", "claude-a", "standard", (100, 10, 1, 1000, 50, 2)),
    (1, DAYS[0], "key-b", "ws-1", "claude-a", "batch", (7, 0, 0, 0, 3, 0)),
    (1, DAYS[1], "key-a", "ws-1", "claude-a", "standard", (200, 0, 5, 0, 60, 0)),
    (1, DAYS[1], None, None, None, None, (1, 2, 3, 4, 5, 6)),
    (1, DAYS[2], "key-a", "ws-2", "claude-a", "standard", (9_000_000_000, 0, 0, 0, 1, 0)),
    (2, DAYS[2], "key-a", "ws-9", "claude-b", "standard", (5, 5, 5, 5, 5, 5)),
]
USAGE_ROWS: list[dict[str, Any]] = [
    dict(zip(_USAGE, row, strict=True)) | {"dims_key": f"u{n}"} for n, row in enumerate(_USAGE_DATA)
]

# sync_state of version 1: organization 2 has cost rows and a usage state but no usage rows.
SYNC_STATES = [(1, "cost", True), (1, "usage", True), (2, "cost", False), (2, "usage", False)]


def load_schema_v1(engine: Engine) -> None:
    """Create the version-1 schema from its frozen DDL (the fixture of this dialect)."""
    name = "postgres" if engine.dialect.name == "postgresql" else "sqlite"
    ddl = (FIXTURES / f"schema_v1_{name}.sql").read_text()
    lines = [line for line in ddl.splitlines() if not line.lstrip().startswith("--")]
    with engine.begin() as conn:
        for statement in "\n".join(lines).split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)


def _without(row: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k not in keys}


def insert_v1_rows(engine: Engine) -> None:
    """Two organizations, their sync states, cost lines and usage buckets, written through the
    version-1 tables themselves (reflected, so a column v1 did not have cannot slip in)."""
    created = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
    if engine.dialect.name == "sqlite":
        created = created.replace(tzinfo=None)  # version 1 stored naive UTC there (UTCDateTime)
    with engine.begin() as conn:
        tables = MetaData()
        tables.reflect(conn, only=["organization", "sync_state", "cost_line", "usage_bucket"])
        conn.execute(
            tables.tables["organization"].insert(),
            [
                {
                    "id": pk,
                    "organization_id": f"org-{pk}",
                    "name": name,
                    "provider": "anthropic",
                    "is_demo": False,
                    "key_ciphertext": "ciphertext",
                    "key_hint": "sk-…AbCd",
                    "status": "healthy",
                    "backfill_start": date(2025, 9, 1),
                    "backfill_progress": 1.0,
                    "created_at": created,
                    "consecutive_failures": 0,
                }
                for pk, name in ((1, "Acme"), (2, "Globex"))
            ],
        )
        conn.execute(
            tables.tables["sync_state"].insert(),
            [
                {"organization_pk": org, "dataset": dataset, "backfill_done": done}
                for org, dataset, done in SYNC_STATES
            ],
        )
        cents = Cents().bind_processor(conn.dialect) or (lambda value: value)
        conn.execute(
            tables.tables["cost_line"].insert(),
            [
                {**_without(row, "org"), "organization_pk": row["org"], "currency": "USD"}
                | {"amount_cents": cents(row["amount_cents"])}
                for row in COST_ROWS
            ],
        )
        conn.execute(
            tables.tables["usage_bucket"].insert(),
            [
                {**_without(row, "org", "tokens"), "organization_pk": row["org"]}
                | dict(zip(USAGE_MEASURES, row["tokens"], strict=True))
                for row in USAGE_ROWS
            ],
        )


def schema_of(engine: Engine) -> dict[str, dict[str, Any]]:
    """What a database's schema is made of, table by table, as ``sqlalchemy.inspect`` reads it:
    every column's type (as this dialect spells it), nullability and server default, the
    primary key, foreign keys, indexes (name, columns, uniqueness) and unique constraints."""
    found = inspect(engine)
    dialect = engine.dialect
    schema: dict[str, dict[str, Any]] = {}
    for table in sorted(found.get_table_names()):
        schema[table] = {
            "columns": {
                c["name"]: (c["type"].compile(dialect=dialect), c["nullable"], c.get("default"))
                for c in found.get_columns(table)
            },
            "primary key": tuple(found.get_pk_constraint(table)["constrained_columns"]),
            "foreign keys": sorted(
                (
                    tuple(fk["constrained_columns"]),
                    fk["referred_table"],
                    tuple(fk["referred_columns"]),
                    (fk.get("options") or {}).get("ondelete"),
                )
                for fk in found.get_foreign_keys(table)
            ),
            "indexes": {
                ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in found.get_indexes(table)
            },
            "unique constraints": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in found.get_unique_constraints(table)
            ),
        }
    return schema


def differences(upgraded: dict[str, Any], fresh: dict[str, Any]) -> list[str]:
    """Each way the upgraded schema differs from the fresh one, in words."""
    out = [
        f"table {t}: only in the {'upgraded' if t in upgraded else 'fresh'} database"
        for t in sorted(set(upgraded) ^ set(fresh))
    ]
    for table in sorted(set(upgraded) & set(fresh)):
        for part, mine in upgraded[table].items():
            theirs = fresh[table][part]
            if isinstance(mine, dict):
                for key in sorted(set(mine) | set(theirs)):
                    if mine.get(key) != theirs.get(key):
                        out.append(
                            f"{table} {part} {key}: upgraded {mine.get(key)} != "
                            f"fresh {theirs.get(key)}"
                        )
            elif mine != theirs:
                out.append(f"{table} {part}: upgraded {mine} != fresh {theirs}")
    return out


def fresh_schema(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The schema of a database created from nothing: a second SQLite file, or the Postgres
    test database's public schema emptied and created again."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path / 'fresh' / 'finops.db'}"
    else:
        url = database_url
        wipe = create_engine(url)
        with wipe.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
        wipe.dispose()
    engine = make_engine(url)
    try:
        assert migrate(engine) == SCHEMA_VERSION
        return schema_of(engine)
    finally:
        engine.dispose()
