"""DuckDB over the same rows, for `make bench`: hand-written equivalents of the dashboard queries.

The benchmark database's cost_line, usage_bucket, organization, workspace and api_key rows are
copied into an in-memory DuckDB (in chunks through SQLAlchemy and pandas: no DuckDB extension,
nothing fetched). Each equivalent returns what the product's function returns, labels included,
so the two results can be compared as well as timed. DuckDB is a development-only dependency
(the ``bench`` extra); the product never imports this module.
"""

from __future__ import annotations

import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Engine, text

from app.models import Provider
from app.reports.filters import Filters, uses_rollups
from app.reports.labels import (
    CONSOLE_KEY,
    DEFAULT_WORKSPACE,
    NO_WORKSPACES,
    NONE_LABEL,
    NONE_LABELS,
    PROVIDER_LABELS,
    TOKEN_TYPES,
    provider_label,
)
from app.reports.periods import month_start, next_month
from app.reports.top import other_label

CHUNK = 100_000
COUNTS = (*TOKEN_TYPES, "web_search_requests")

# name -> (DuckDB columns, SELECT list on SQLite, SELECT list on Postgres)
_DATES = ("CAST(date AS TEXT)", "date")
TABLES: dict[str, tuple[str, str, str]] = {
    "organization": (
        "id INTEGER, organization_id VARCHAR, name VARCHAR, label VARCHAR, provider VARCHAR",
        "id, organization_id, name, label, provider",
        "id, organization_id, name, label, provider",
    ),
    "workspace": (
        "organization_pk INTEGER, workspace_id VARCHAR, name VARCHAR",
        "organization_pk, workspace_id, name",
        "organization_pk, workspace_id, name",
    ),
    "api_key": (
        "organization_pk INTEGER, api_key_id VARCHAR, name VARCHAR",
        "organization_pk, api_key_id, name",
        "organization_pk, api_key_id, name",
    ),
    "cost_line": (
        "organization_pk INTEGER, date DATE, workspace_id VARCHAR, description VARCHAR, "
        "cost_type VARCHAR, model VARCHAR, token_type VARCHAR, service_tier VARCHAR, "
        "product VARCHAR, amount_micro BIGINT",
        # SQLite keeps cents as an integer count of micro-cents; Postgres as NUMERIC.
        "organization_pk, date, workspace_id, description, cost_type, model, token_type, "
        "service_tier, product, amount_cents",
        "organization_pk, CAST(date AS TEXT), workspace_id, description, cost_type, model, "
        "token_type, service_tier, product, CAST(amount_cents * 1000000 AS BIGINT)",
    ),
    "usage_bucket": (
        "organization_pk INTEGER, date DATE, api_key_id VARCHAR, workspace_id VARCHAR, "
        "model VARCHAR, service_tier VARCHAR, product VARCHAR, "
        + ", ".join(f"{c} BIGINT" for c in COUNTS),
        "organization_pk, date, api_key_id, workspace_id, model, service_tier, product, "
        + ", ".join(COUNTS),
        "organization_pk, CAST(date AS TEXT), api_key_id, workspace_id, model, service_tier, "
        "product, " + ", ".join(COUNTS),
    ),
    # The product's daily rollups (one dimension at a time), copied as they are.
    "cost_daily": (
        "organization_pk INTEGER, date DATE, dim VARCHAR, value VARCHAR, amount_micro BIGINT",
        "organization_pk, date, dim, value, amount_cents",
        "organization_pk, CAST(date AS TEXT), dim, value, CAST(amount_cents * 1000000 AS BIGINT)",
    ),
    "usage_daily": (
        "organization_pk INTEGER, date DATE, dim VARCHAR, value VARCHAR, "
        + ", ".join(f"{c} BIGINT" for c in COUNTS),
        "organization_pk, date, dim, value, " + ", ".join(COUNTS),
        "organization_pk, CAST(date AS TEXT), dim, value, " + ", ".join(COUNTS),
    ),
}
# The rollup dimension that sums to the whole, for the groups that are the organization's own
# (as app.reports' spend_by_day and usage_by_day choose it).
WHOLE = {"cost": "cost_type", "usage": "model"}
DETAIL_COLUMN = {"workspace": "workspace_id", "api_key": "api_key_id"}


def load(engine: Engine) -> tuple[duckdb.DuckDBPyConnection, int, float]:
    """(connection, rows copied, seconds) for a new in-memory DuckDB holding the same rows."""
    con = duckdb.connect(":memory:")
    postgres = engine.dialect.name == "postgresql"
    rows = 0
    t0 = time.perf_counter()
    with engine.connect() as conn:
        for table, (columns, sqlite_select, pg_select) in TABLES.items():
            con.execute(f"CREATE TABLE {table} ({columns})")
            names = [c.strip().split()[0] for c in columns.split(",")]
            select = pg_select if postgres else sqlite_select
            result = conn.execution_options(stream_results=True).execute(
                text(f"SELECT {select} FROM {table}")
            )
            for part in result.partitions(CHUNK):
                chunk = pd.DataFrame.from_records([tuple(r) for r in part], columns=names)
                con.register("chunk", chunk)
                casts = ", ".join(
                    f"CAST({n} AS {c.strip().split()[1]})"
                    for n, c in zip(names, columns.split(","), strict=True)
                )
                con.execute(f"INSERT INTO {table} SELECT {casts} FROM chunk")
                con.unregister("chunk")
                rows += len(chunk)
    # The product's label lookups are dicts (one name per id): keep one row per id here too.
    for table, id_column in (("workspace", "workspace_id"), ("api_key", "api_key_id")):
        con.execute(
            f"CREATE OR REPLACE TABLE {table} AS SELECT organization_pk, {id_column}, "
            f"any_value(name) AS name FROM {table} GROUP BY ALL"
        )
    return con, rows, time.perf_counter() - t0


class DuckQueries:
    """Equivalents of spend_by_day, usage_by_day, total_cents/spend_summary,
    list_organizations and filter_options over the DuckDB copy.

    With ``rollups``, spend_by_day and usage_by_day read the copied daily rollups (cost_daily,
    usage_daily) wherever the product reads them (``uses_rollups``): the same pre-aggregates,
    so the ratio compares the engines on the same work; otherwise the raw rows."""

    def __init__(self, con: duckdb.DuckDBPyConnection, *, rollups: bool = False) -> None:
        self.con = con
        self.rollups = rollups

    def _source(self, f: Filters, group: str, *, cost: bool) -> str:
        """The table the query reads: the detail rows, or the rollup's rows of one dimension
        shaped like them (its ``value`` under the detail column's name)."""
        if not (self.rollups and uses_rollups(f)):
            return "cost_line" if cost else "usage_bucket"
        dataset = "cost" if cost else "usage"
        dim = WHOLE[dataset] if group in ("organization", "provider", "token_type") else group
        column = DETAIL_COLUMN.get(dim, dim)
        measures = "amount_micro" if cost else ", ".join(COUNTS)
        return (
            f"(SELECT organization_pk, date, value AS {column}, {measures} "
            f"FROM {dataset}_daily WHERE dim = '{dim}')"
        )

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    # --- labels, as app.reports shows them ------------------------------------------

    @staticmethod
    def _null_or_named(column: str, names: str, null_name: str) -> str:
        return (
            f"CASE WHEN {column} IS NULL THEN CASE WHEN o.provider = $enterprise "
            f"THEN $no_workspaces ELSE {null_name} END "
            f"ELSE COALESCE({names}.name, {column}) END"
        )

    def _label(self, alias: str, group: str) -> tuple[str, str]:
        """(label expression, extra join) for a group of the spend or usage charts."""
        if group == "workspace":
            join = (
                f"LEFT JOIN workspace w ON w.organization_pk = {alias}.organization_pk "
                f"AND w.workspace_id = {alias}.workspace_id"
            )
            return self._null_or_named(f"{alias}.workspace_id", "w", "$default_ws"), join
        if group == "api_key":
            join = (
                f"LEFT JOIN api_key k ON k.organization_pk = {alias}.organization_pk "
                f"AND k.api_key_id = {alias}.api_key_id"
            )
            return self._null_or_named(f"{alias}.api_key_id", "k", "$console_key"), join
        if group == "organization":
            return "COALESCE(NULLIF(o.label, ''), o.name)", ""
        if group == "provider":
            quoted = {p: label.replace("'", "''") for p, label in PROVIDER_LABELS.items()}
            cases = " ".join(f"WHEN '{p}' THEN '{label}'" for p, label in quoted.items())
            return f"CASE o.provider {cases} ELSE o.provider END", ""
        none = NONE_LABELS.get(group, NONE_LABEL).replace("'", "''")
        return f"COALESCE({alias}.{group}, '{none}')", ""

    @staticmethod
    def _label_params() -> dict[str, Any]:
        return {
            "enterprise": Provider.ENTERPRISE,
            "no_workspaces": NO_WORKSPACES,
            "default_ws": DEFAULT_WORKSPACE,
            "console_key": CONSOLE_KEY,
        }

    @staticmethod
    def _where(alias: str, f: Filters, *, cost: bool) -> tuple[str, dict[str, Any]]:
        clauses = [f"{alias}.date >= $start", f"{alias}.date < $end"]
        params: dict[str, Any] = {"start": f.start, "end": f.end}
        columns = [
            ("o.organization_id", f.organizations),
            ("o.provider", f.providers),
            (f"{alias}.workspace_id", f.workspaces),
            (f"{alias}.model", f.models),
            (f"{alias}.service_tier", f.service_tiers),
        ]
        if cost:
            columns.append((f"{alias}.cost_type", f.cost_types))
        for column, values in columns:
            if not values:
                continue
            parts = []
            named = [v for v in values if v != ""]
            if named:
                names = []
                for v in named:
                    names.append(f"$p{len(params)}")
                    params[f"p{len(params)}"] = v
                parts.append(f"{column} IN ({', '.join(names)})")
            if len(named) != len(values):
                parts.append(f"{column} IS NULL")
            clauses.append("(" + " OR ".join(parts) + ")")
        return " AND ".join(clauses), params

    # --- the queries ---------------------------------------------------------------------------

    def spend_by_day(
        self, f: Filters, group: str, top: int | None = None
    ) -> list[tuple[date, str, Decimal]]:
        label, join = self._label("c", group)
        where, params = self._where("c", f, cost=True)
        params |= {k: v for k, v in self._label_params().items() if f"${k}" in label}
        grouped = (
            f"SELECT c.date, {label} AS label, SUM(c.amount_micro) AS m "
            f"FROM {self._source(f, group, cost=True)} c "
            f"JOIN organization o ON o.id = c.organization_pk {join} "
            f"WHERE {where} GROUP BY ALL"
        )
        rows = self._top(grouped, ["m"], "m", top, group, params)
        return [(d, g, Decimal(int(m or 0)).scaleb(-6)) for d, g, m in rows]

    def usage_by_day(
        self, f: Filters, group: str, top: int | None = None
    ) -> list[tuple[date, str, dict[str, int]]]:
        label, join = self._label("u", group)
        where, params = self._where("u", f, cost=False)
        params |= {k: v for k, v in self._label_params().items() if f"${k}" in label}
        sums = ", ".join(f"SUM(u.{c}) AS {c}" for c in COUNTS)
        grouped = (
            f"SELECT u.date, {label} AS label, {sums} "
            f"FROM {self._source(f, group, cost=False)} u "
            f"JOIN organization o ON o.id = u.organization_pk {join} "
            f"WHERE {where} GROUP BY ALL"
        )
        rank = " + ".join(TOKEN_TYPES)
        rows = self._top(grouped, list(COUNTS), rank, top, group, params)
        return [
            (r[0], r[1], {c: int(v or 0) for c, v in zip(COUNTS, r[2:], strict=True)}) for r in rows
        ]

    def _top(
        self,
        grouped: str,
        measures: list[str],
        rank: str,
        top: int | None,
        group: str,
        params: dict[str, Any],
    ) -> list[tuple[Any, ...]]:
        """The grouped rows, sorted; with ``top``, the groups beyond the largest ``top`` (ties
        by label) summed per day as one "Other (N …)" row, folded in the same DuckDB query."""
        if top is None:
            return sorted(self._rows(grouped, params), key=lambda r: (r[0], r[1]))
        sums = ", ".join(f"SUM({m})" for m in measures)
        rows = self._rows(
            f"WITH g AS ({grouped}), "
            f"t AS (SELECT label, SUM({rank}) AS total FROM g GROUP BY label), "
            "r AS (SELECT label, row_number() OVER (ORDER BY total DESC, label) AS n, "
            "count(*) OVER () AS groups FROM t) "
            "SELECT date, CASE WHEN n <= $top THEN label END AS kept, groups, "
            f"{sums} FROM g JOIN r USING (label) GROUP BY date, kept, groups",
            params | {"top": top},
        )
        out = []
        for day, kept, groups, *values in rows:
            if kept is not None:
                out.append((day, kept, *values))
            elif any(values):  # as the product: no "Other" row on a day it adds nothing to
                out.append((day, other_label(groups - top, group), *values))
        return sorted(out, key=lambda r: (r[0], r[1]))

    def spend_summary(self, today: date) -> tuple[Decimal, Decimal, Decimal]:
        """Month to date, last month and today, in USD (reports.spend_summary's inputs)."""
        first = month_start(today)
        previous = month_start(first - timedelta(days=1))
        assert next_month(previous) == first
        tomorrow = today + timedelta(days=1)
        [row] = self._rows(
            "SELECT SUM(amount_micro) FILTER (WHERE c.date >= $first), "
            "SUM(amount_micro) FILTER (WHERE c.date < $first), "
            "SUM(amount_micro) FILTER (WHERE c.date >= $today) "
            "FROM cost_line c JOIN organization o ON o.id = c.organization_pk "
            "WHERE c.date >= $previous AND c.date < $tomorrow",
            {"first": first, "previous": previous, "today": today, "tomorrow": tomorrow},
        )
        mtd, last, so_far = (Decimal(int(v or 0)).scaleb(-8) for v in row)
        return mtd, last, so_far

    def organizations(self) -> list[tuple[Any, ...]]:
        """Every organization with first day, last day and row count of each dataset."""
        return self._rows(
            "WITH c AS (SELECT organization_pk, min(date) AS a, max(date) AS b, count(*) AS n "
            "FROM cost_line GROUP BY 1), "
            "u AS (SELECT organization_pk, min(date) AS a, max(date) AS b, count(*) AS n "
            "FROM usage_bucket GROUP BY 1) "
            "SELECT o.organization_id, COALESCE(NULLIF(o.label, ''), o.name), o.provider, "
            "c.a, c.b, COALESCE(c.n, 0), u.a, u.b, COALESCE(u.n, 0) "
            "FROM organization o LEFT JOIN c ON c.organization_pk = o.id "
            "LEFT JOIN u ON u.organization_pk = o.id ORDER BY o.id",
            {},
        )

    def filter_options(self) -> dict[str, list[tuple[str, str]]]:
        """The filter choices from the data tables themselves (DuckDB has no dimension_value
        side table: a DISTINCT over the same rows is the equivalent)."""
        orgs = [
            (org_id, label)
            for org_id, label in self._rows(
                "SELECT organization_id, COALESCE(NULLIF(label, ''), name) FROM organization "
                "ORDER BY name",
                {},
            )
        ]
        providers = sorted(
            (p, provider_label(p))
            for (p,) in self._rows("SELECT DISTINCT provider FROM organization", {})
        )
        label = self._null_or_named("d.workspace_id", "w", "$default_ws")
        workspaces = sorted(
            self._rows(
                "WITH d AS (SELECT DISTINCT organization_pk, workspace_id FROM cost_line "
                "UNION SELECT DISTINCT organization_pk, workspace_id FROM usage_bucket) "
                f"SELECT DISTINCT COALESCE(d.workspace_id, ''), {label} FROM d "
                "JOIN organization o ON o.id = d.organization_pk "
                "LEFT JOIN workspace w ON w.organization_pk = d.organization_pk "
                "AND w.workspace_id = d.workspace_id",
                {
                    "enterprise": Provider.ENTERPRISE,
                    "no_workspaces": NO_WORKSPACES,
                    "default_ws": DEFAULT_WORKSPACE,
                },
            ),
            key=lambda t: t[1].lower(),
        )

        def named(column: str, *, usage: bool = True) -> list[tuple[str, str]]:
            union = f" UNION SELECT DISTINCT {column} FROM usage_bucket" if usage else ""
            rows = self._rows(
                f"SELECT v FROM (SELECT DISTINCT {column} AS v FROM cost_line{union}) "
                "WHERE v IS NOT NULL AND v <> ''",
                {},
            )
            return sorted((v, v) for (v,) in rows)

        return {
            "providers": providers,
            "organizations": orgs,
            "workspaces": [(v, g) for v, g in workspaces],
            "models": named("model"),
            "service_tiers": named("service_tier"),
            "cost_types": named("cost_type", usage=False),
        }
