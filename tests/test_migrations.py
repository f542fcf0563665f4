"""Schema upgrades from the oldest supported schema: a real version-1 database (the frozen DDL in
tests/fixtures/schema_v1_*.sql), with rows in it, upgraded by ``migrate``, must keep its rows,
derive what later versions derive from them, and end up exactly like a freshly created database
(tables, columns, types, nullability, keys, indexes, unique constraints), on SQLite and Postgres."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, inspect, select, text
from sqlmodel import SQLModel

from app.datasets import Dataset, encode_value, spec_of
from app.db import MIGRATIONS, SCHEMA_VERSION, make_engine, migrate
from app.models import (
    USAGE_MEASURES,
    CostDaily,
    CostLine,
    DimensionValue,
    KeyTokensToDate,
    Organization,
    SyncState,
    UsageBucket,
    UsageDaily,
)
from tests.utils.schemas import (
    COST_ROWS,
    DAYS,
    SYNC_STATES,
    USAGE_ROWS,
    differences,
    fresh_schema,
    insert_v1_rows,
    load_schema_v1,
    schema_of,
)

# The filter kinds the sync records per dataset (and the detail column each comes from).
FILTER_KINDS = {
    "cost": {
        "workspace": "workspace_id",
        "model": "model",
        "service_tier": "service_tier",
        "cost_type": "cost_type",
        "product": "product",
    },
    "usage": {
        "workspace": "workspace_id",
        "model": "model",
        "service_tier": "service_tier",
        "product": "product",
    },
}


@pytest.fixture
def upgraded(database_url: str) -> Iterator[Engine]:
    """A version-1 database with rows, upgraded by ``migrate`` to the current version."""
    engine = make_engine(database_url)
    try:
        load_schema_v1(engine)
        insert_v1_rows(engine)
        assert migrate(engine) == SCHEMA_VERSION
        yield engine
    finally:
        engine.dispose()


# --- the rows ---------------------------------------------------------------------------------


def test_upgrade_keeps_every_row_and_its_values(upgraded: Engine) -> None:
    with upgraded.connect() as conn:
        orgs = conn.execute(
            select(Organization.id, Organization.name, Organization.backfill_completed_at)
        ).all()
        assert sorted(orgs) == [(1, "Acme", None), (2, "Globex", None)]
        lines = conn.execute(
            select(
                CostLine.dims_key,
                CostLine.amount_cents,
                CostLine.model,
                CostLine.product,
                CostLine.list_amount_cents,
            )
        ).all()
        assert sorted(lines) == sorted(
            (r["dims_key"], r["amount_cents"], r["model"], None, None) for r in COST_ROWS
        )
        buckets = conn.execute(
            select(UsageBucket.dims_key, *(UsageBucket.__table__.c[m] for m in USAGE_MEASURES))
        ).all()
        assert sorted(buckets) == sorted((r["dims_key"], *r["tokens"]) for r in USAGE_ROWS)
        # The tables of later versions are there, and usable.
        for table in ("app_user", "claude_code_day", "user_cost", "sign_in_throttle"):
            assert conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one() == 0


def test_upgrade_counts_the_stored_rows_and_days_of_each_sync_state(upgraded: Engine) -> None:
    expected = {}
    for org, dataset, _done in SYNC_STATES:
        rows = [r for r in (COST_ROWS if dataset == "cost" else USAGE_ROWS) if r["org"] == org]
        days = [r["date"] for r in rows]
        expected[(org, dataset)] = (len(rows), min(days, default=None), max(days, default=None))
    with upgraded.connect() as conn:
        stored = conn.execute(
            select(
                SyncState.organization_pk,
                SyncState.dataset,
                SyncState.row_count,
                SyncState.first_day,
                SyncState.last_day,
            )
        ).all()
    assert {(o, d): (n, f, la) for o, d, n, f, la in stored} == expected


def test_upgrade_lists_every_filter_value_as_the_sync_does(upgraded: Engine) -> None:
    expected: set[tuple[int, str, str]] = set()
    for dataset, rows in (("cost", COST_ROWS), ("usage", USAGE_ROWS)):
        for row in rows:
            for kind, column in FILTER_KINDS[dataset].items():
                expected.add((row["org"], kind, (row.get(column) or "")[:400]))
    expected |= {(r["org"], "api_key", r["api_key_id"] or "") for r in USAGE_ROWS}
    with upgraded.connect() as conn:
        stored = conn.execute(
            select(DimensionValue.organization_pk, DimensionValue.kind, DimensionValue.value)
        ).all()
    assert sorted(stored) == sorted(expected)


def test_upgrade_builds_the_daily_rollups_from_the_rows(upgraded: Engine) -> None:
    cost: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
    cost_rollup, usage_rollup = spec_of(Dataset.COST).rollup, spec_of(Dataset.USAGE).rollup
    assert cost_rollup is not None and usage_rollup is not None
    # Each dimension's value: its column's, or a compound dimension's columns' encoded.
    cost_dims = {**cost_rollup.dims, **cost_rollup.compound}
    usage_dims = {**usage_rollup.dims, **usage_rollup.compound}
    assert set(cost_rollup.compound) == set(usage_rollup.compound) == {"economics"}
    for row in COST_ROWS:
        for dim, column in cost_dims.items():
            cost[(row["org"], row["date"], dim, value_of(row, column))] += row["amount_cents"]
    usage: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * len(USAGE_MEASURES))
    for row in USAGE_ROWS:
        for dim, column in usage_dims.items():
            sums = usage[(row["org"], row["date"], dim, value_of(row, column))]
            for n, amount in enumerate(row["tokens"]):
                sums[n] += amount
    with upgraded.connect() as conn:
        cost_rows = conn.execute(
            select(
                CostDaily.organization_pk,
                CostDaily.date,
                CostDaily.dim,
                CostDaily.value,
                CostDaily.amount_cents,
            )
        ).all()
        usage_rows = conn.execute(
            select(
                UsageDaily.organization_pk,
                UsageDaily.date,
                UsageDaily.dim,
                UsageDaily.value,
                *(UsageDaily.__table__.c[m] for m in USAGE_MEASURES),
            )
        ).all()
    assert {tuple(r[:4]): r[4] for r in cost_rows} == dict(cost)
    assert len(cost_rows) == len(cost)  # one row per group, none twice
    assert {tuple(r[:4]): list(r[4:]) for r in usage_rows} == dict(usage)
    assert len(usage_rows) == len(usage)


def value_of(row: dict[str, Any], column: str | tuple[str, ...]) -> str | None:
    if isinstance(column, str):
        return row.get(column)
    return encode_value(tuple(row.get(c) for c in column))


def test_upgrade_builds_unit_economics_by_model_and_tier(upgraded: Engine) -> None:
    """Step 12's compound rows, read back by hand: cost by (cost type, model, tier), usage by
    (model, tier, context window, geography), nulls kept apart from any text."""
    with upgraded.connect() as conn:
        cost = conn.execute(
            select(CostDaily.organization_pk, CostDaily.value, CostDaily.amount_cents).where(
                CostDaily.dim == "economics"
            )
        ).all()
        usage = conn.execute(
            select(UsageDaily.organization_pk, UsageDaily.value, UsageDaily.output_tokens).where(
                UsageDaily.dim == "economics"
            )
        ).all()
    by_value: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for pk, value, cents in cost:
        by_value[(pk, value)] += cents
    expected: dict[tuple[int, str], Decimal] = defaultdict(Decimal)
    for row in COST_ROWS:
        key = [row.get("cost_type"), row.get("model"), row.get("service_tier")]
        expected[(row["org"], json.dumps(key, separators=(",", ":")))] += row["amount_cents"]
    assert dict(by_value) == dict(expected)
    assert any("null" in value for _, value in by_value)
    outputs: dict[tuple[int, str], int] = defaultdict(int)
    for pk, value, tokens in usage:
        outputs[(pk, value)] += tokens
    expected_out: dict[tuple[int, str], int] = defaultdict(int)
    out = USAGE_MEASURES.index("output_tokens")
    for row in USAGE_ROWS:
        key = [row.get(c) for c in ("model", "service_tier", "context_window", "inference_geo")]
        expected_out[(row["org"], json.dumps(key, separators=(",", ":")))] += row["tokens"][out]
    assert dict(outputs) == dict(expected_out)


def test_the_unit_economics_step_run_again_adds_nothing(upgraded: Engine) -> None:
    def stored() -> list[Any]:
        with upgraded.connect() as conn:
            return sorted(
                conn.execute(
                    text(
                        "SELECT 'cost', organization_pk, date, value, amount_cents FROM cost_daily "
                        "WHERE dim = 'economics' UNION ALL SELECT 'usage', organization_pk, date, "
                        "value, output_tokens FROM usage_daily WHERE dim = 'economics'"
                    )
                ).all()
            )

    before = stored()
    assert before
    with upgraded.begin() as conn:
        for step in MIGRATIONS[12]:
            assert callable(step)
            step(conn)
    assert stored() == before


def test_upgrade_builds_the_running_totals_of_every_api_key(upgraded: Engine) -> None:
    token_measures = [n for n, m in enumerate(USAGE_MEASURES) if m.endswith("_tokens")]
    per_day: dict[tuple[int, str], dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for row in USAGE_ROWS:
        tokens = sum(row["tokens"][n] for n in token_measures)
        per_day[(row["org"], row["api_key_id"] or "")][row["date"]] += tokens
    expected = set()
    for (org, key), days in per_day.items():
        total = 0
        for day in sorted(days):
            total += days[day]
            expected.add((org, key, day, total))
    with upgraded.connect() as conn:
        stored = conn.execute(
            select(
                KeyTokensToDate.organization_pk,
                KeyTokensToDate.api_key,
                KeyTokensToDate.date,
                KeyTokensToDate.tokens,
            )
        ).all()
    assert sorted(stored) == sorted(expected)
    assert (1, "key-a", DAYS[2], 9_000_001_427) in set(stored)


# --- the schema -------------------------------------------------------------------------------


def test_an_upgraded_database_is_exactly_a_fresh_one(
    upgraded: Engine, database_url: str, tmp_path: Path
) -> None:
    mine = schema_of(upgraded)
    upgraded.dispose()
    fresh = fresh_schema(database_url, tmp_path)
    # The one known difference: SQLite adds a NOT NULL column only with a default, so step 4
    # gave row_count a DEFAULT 0 a fresh table does not have (the program always writes it).
    row_count = mine["sync_state"]["columns"]["row_count"]
    assert row_count[2] is not None and row_count[2].strip("'()") == "0", row_count
    mine["sync_state"]["columns"]["row_count"] = (*row_count[:2], None)
    assert "cost_line" in fresh and "ix_cost_line_org_model_date" in fresh["cost_line"]["indexes"]
    found = differences(mine, fresh)
    assert not found, "\n".join(found)


def test_a_fresh_database_has_every_index_the_models_declare(database_url: str) -> None:
    """The models are where indexes are declared: a fresh database has them all, by name."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        found = inspect(engine)
        for name, table in SQLModel.metadata.tables.items():
            declared = {
                ix.name: (tuple(c.name for c in ix.columns), bool(ix.unique))
                for ix in table.indexes
            }
            there = {
                ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]))
                for ix in found.get_indexes(name)
            }
            assert {k: there.get(k) for k in declared} == declared, name
    finally:
        engine.dispose()


def test_migrations_declare_no_index_of_their_own() -> None:
    """An index is declared once, in app/models.py; a migration creates it from there (by
    name), so a fresh and an upgraded database cannot disagree on its columns."""
    raw = [
        step
        for steps in MIGRATIONS.values()
        for step in steps
        if isinstance(step, str) and "INDEX" in step.upper()
    ]
    assert raw == []
