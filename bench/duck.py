"""DuckDB over the same rows, for `make bench`: hand-written equivalents of the dashboard queries.

The benchmark database's cost_line, usage_bucket, organization, workspace and api_key rows are
copied into an in-memory DuckDB (in chunks through SQLAlchemy and pandas: no DuckDB extension,
nothing fetched). Each equivalent returns what the product's function returns, labels included,
so the two results can be compared to the cent as well as timed. The product never imports this
module (its own DuckDB copy, ``app.columnar``, runs the reports' queries, not these).

DuckDB sums; the product's own labeller names the sums. A group is an (organization, stored
value) pair, as in the product (``app.reports.names``): DuckDB sums by it, and ``Namer`` names
every pair ("Production · Bench 0", "Claude Sonnet 4.5", "Claude Enterprise (not by token
type)"), so labels are never spelled twice and same-named workspaces of two organizations are
never added together. Pairs that read the same (a model's alias and its dated id) are then one
group, as on the pages. The labelling is inside DuckDB's timed calls, as it is inside the
product's: both timings include it.

The work is divided as the product divides it (``app.reports.top.sum_by_day``): the groups with
thousands of values (workspaces, API keys, descriptions) are ranked first (one sum per pair),
named, and only the largest summed day by day, with "Other" summed in the same DuckDB query; the
few-valued groups are summed day by day whole and folded here.
"""

from __future__ import annotations

import heapq
import time
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import duckdb
import pandas as pd
from sqlalchemy import Engine, text

from app.models import Provider
from app.reports.demo import DemoMix, demo_name
from app.reports.filters import Filters, uses_rollups
from app.reports.labels import (
    ALL,
    BY_COST_TYPE,
    MODEL_IDS,
    TOKEN_TYPES,
    cost_type_label,
    provider_label,
    service_tier_label,
)
from app.reports.model_names import model_key, model_name
from app.reports.names import IDENTIFIED, Key, Namer
from app.reports.options import key_options, workspace_options
from app.reports.periods import month_start, next_month
from app.reports.top import MANY_VALUED, other_label

CHUNK = 100_000
COUNTS = (*TOKEN_TYPES, "web_search_requests")

# name -> (DuckDB columns, SELECT list on SQLite, SELECT list on Postgres)
TABLES: dict[str, tuple[str, str, str]] = {
    "organization": (
        "id INTEGER, organization_id VARCHAR, name VARCHAR, label VARCHAR, provider VARCHAR, "
        "is_demo BOOLEAN",
        "id, organization_id, name, label, provider, is_demo",
        "id, organization_id, name, label, provider, is_demo",
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
# The detail column of each group (None: usage by token type, one series over every group).
COST_COLUMNS = {
    "model": "c.model",
    MODEL_IDS: "c.model",
    "workspace": "c.workspace_id",
    "service_tier": "c.service_tier",
    "token_type": "c.token_type",
    "cost_type": "c.cost_type",
    "organization": "o.organization_id",
    "provider": "o.provider",
    "product": "c.product",
    "description": "c.description",
}
USAGE_COLUMNS: dict[str, str | None] = {
    "model": "c.model",
    MODEL_IDS: "c.model",
    "workspace": "c.workspace_id",
    "api_key": "c.api_key_id",
    "service_tier": "c.service_tier",
    "organization": "o.organization_id",
    "provider": "o.provider",
    "product": "c.product",
    "token_type": None,
}


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

    def _rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self.con.execute(sql, params).fetchall()

    # --- naming: the product's labeller, fed from the DuckDB copy -------------------------

    def _namer(self, group: str) -> Namer:
        """The product's ``Namer`` for ``group``, built from the copied organizations and
        directory (as ``names.namer`` builds it from the database, on every read)."""
        orgs = self._rows("SELECT id, organization_id, label, name, provider FROM organization", {})
        built = Namer(
            group=group,
            enterprise=frozenset(pk for pk, *_, p in orgs if p == Provider.ENTERPRISE),
            organization_ids={pk: oid for pk, oid, *_ in orgs},
            organization_names={pk: label or name for pk, _, label, name, _ in orgs},
        )
        if group in IDENTIFIED:
            table, id_column = ("workspace", "workspace_id")
            if group == "api_key":
                table, id_column = ("api_key", "api_key_id")
            built.directory = {
                (pk, item): name
                for pk, item, name in self._rows(
                    f"SELECT organization_pk, {id_column}, name FROM {table}", {}
                )
            }
        return built

    # --- the rows a view reads ---------------------------------------------------------

    def _source(self, f: Filters, group: str, *, cost: bool) -> tuple[str, str | None, bool]:
        """(FROM clause aliased ``c`` and joined to its organization ``o``, the group's value
        expression or None, whether it reads a rollup). The rollup's rows are those of the
        one dimension the product reads for ``group`` (``top.rollup_dim``)."""
        dataset = "cost" if cost else "usage"
        column = (COST_COLUMNS if cost else USAGE_COLUMNS)[group]
        if not (self.rollups and uses_rollups(f)):
            table = "cost_line" if cost else "usage_bucket"
            return f"{table} c JOIN organization o ON o.id = c.organization_pk", column, False
        if group in ("organization", "provider") or column is None:
            dim = WHOLE[dataset]
        else:
            dim = "model" if group == MODEL_IDS else group
            column = "c.value"
        return (
            f"{dataset}_daily c JOIN organization o ON o.id = c.organization_pk "
            f"AND c.dim = '{dim}'",
            column,
            True,
        )

    @staticmethod
    def _demo_left_out(f: Filters) -> str | None:
        """As ``filters.demo_left_out``: demo organizations out once a real one is connected,
        unless asked for or chosen by name."""
        if f.include_demo or f.organizations:
            return None
        return "NOT (o.is_demo AND EXISTS (SELECT 1 FROM organization r WHERE NOT r.is_demo))"

    def _where(self, f: Filters, *, cost: bool, rollup: bool) -> tuple[str, dict[str, Any]]:
        clauses = ["c.date >= $start", "c.date < $end"]
        params: dict[str, Any] = {"start": f.start, "end": f.end}
        demo = self._demo_left_out(f)
        if demo is not None:
            clauses.append(demo)
        columns = [("o.organization_id", f.organizations), ("o.provider", f.providers)]
        if not rollup:
            columns += [
                ("c.workspace_id", f.workspaces),
                ("c.model", f.models),
                ("c.service_tier", f.service_tiers),
            ]
            if cost:
                columns.append(("c.cost_type", f.cost_types))
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
        rows = self._by_day(f, group, top, cost=True)
        return [(d, g, Decimal(int(v[0] or 0)).scaleb(-6)) for d, g, v in rows]

    def usage_by_day(
        self, f: Filters, group: str, top: int | None = None
    ) -> list[tuple[date, str, dict[str, int]]]:
        rows = self._by_day(f, group, top, cost=False)
        return [
            (d, g, {c: int(x or 0) for c, x in zip(COUNTS, v, strict=True)}) for d, g, v in rows
        ]

    def _by_day(
        self, f: Filters, group: str, top: int | None, *, cost: bool
    ) -> list[tuple[date, str, list[Any]]]:
        """(day, label, sums) sorted by day and label: DuckDB sums by (day, organization,
        value), the product's ``Namer`` names each pair, pairs of one label are one group."""
        source, column, rollup = self._source(f, group, cost=cost)
        where, params = self._where(f, cost=cost, rollup=rollup)
        measures = ["amount_micro"] if cost else list(COUNTS)
        sums = ", ".join(f"SUM(c.{m})" for m in measures)
        rank = "c.amount_micro" if cost else " + ".join(f"c.{t}" for t in TOKEN_TYPES)
        names = self._namer(group)
        if column is None:  # usage by token type: one series over every group
            rows = self._rows(
                f"SELECT c.date, {sums} FROM {source} WHERE {where} GROUP BY c.date", params
            )
            return sorted((day, ALL, list(values)) for day, *values in rows)
        # A Console organization's cost without a model, token type or tier (web search) is
        # named by its cost type: the null's cost type is part of its key.
        split = cost and (group in BY_COST_TYPE or group == MODEL_IDS)
        if top is not None and group in MANY_VALUED:
            return self._ranked_first(source, column, where, params, sums, rank, names, group, top)
        null_cost_type = f"CASE WHEN {column} IS NULL THEN c.cost_type END" if split else "NULL"
        if split and rollup:
            null_cost_type = "NULL"  # the rollup has no cost type: split below, as the product
        raw: dict[tuple[date, Key], list[Any]] = {}
        for day, pk, value, cost_type, *values in self._rows(
            f"SELECT c.date, c.organization_pk, {column}, {null_cost_type}, {sums} "
            f"FROM {source} WHERE {where} GROUP BY ALL",
            params,
        ):
            raw[(day, (pk, value, cost_type))] = [v or 0 for v in values]
        if split and rollup:
            self._split_by_cost_type(f, names, raw)
        labels = names.labels({k for _, k in raw})
        merged: dict[tuple[date, str], list[Any]] = {}
        for (day, key), values in raw.items():
            acc = merged.setdefault((day, labels[key]), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
        if top is not None:
            merged = self._fold(merged, top, group, cost)
        return [(d, g, v) for (d, g), v in sorted(merged.items())]

    def _split_by_cost_type(
        self, f: Filters, names: Namer, raw: dict[tuple[date, Key], list[Any]]
    ) -> None:
        """A Console organization's null model, token type or tier in the rollup (one sum a
        day) as its costs that are not tokens, by cost type (the cost type rollup's rows of
        that day); the rest stays null, and goes when it is nothing."""
        nulls = {
            (day, key[0]): key
            for day, key in raw
            if key[1] is None and key[2] is None and key[0] not in names.enterprise
        }
        if not nulls:
            return
        where, params = self._where(f, cost=True, rollup=True)
        for day, pk, cost_type, micro in self._rows(
            "SELECT c.date, c.organization_pk, c.value, SUM(c.amount_micro) FROM cost_daily c "
            "JOIN organization o ON o.id = c.organization_pk AND c.dim = 'cost_type' "
            f"WHERE {where} AND c.value <> 'tokens' GROUP BY ALL",
            params,
        ):
            null_key = nulls.get((day, pk))
            if null_key is None or not micro:
                continue
            raw[(day, (pk, None, cost_type))] = [micro]
            raw[(day, null_key)][0] -= micro
        for (day, _), key in nulls.items():
            if not raw[(day, key)][0]:
                del raw[(day, key)]

    def _ranked_first(
        self,
        source: str,
        column: str,
        where: str,
        params: dict[str, Any],
        sums: str,
        rank: str,
        names: Namer,
        group: str,
        top: int,
    ) -> list[tuple[date, str, list[Any]]]:
        """The many-valued groups: one total per (organization, value) pair, every pair
        named, the largest ``top`` labels kept; then the kept pairs summed day by day under
        their labels and every other pair as one "Other" a day, in one DuckDB query."""
        scores = {
            (pk, value): score or 0
            for pk, value, score in self._rows(
                f"SELECT c.organization_pk, {column}, SUM({rank}) FROM {source} "
                f"WHERE {where} GROUP BY ALL",
                params,
            )
        }
        labeled = names.labels([(pk, value, None) for pk, value in scores])
        by_label: dict[str, Any] = {}
        for (pk, value), score in scores.items():
            label = labeled[(pk, value, None)]
            by_label[label] = by_label.get(label, 0) + score
        kept = set(heapq.nsmallest(top, by_label, key=lambda g: (-by_label[g], g)))
        folded = len(by_label) > top
        other = other_label(len(by_label) - top, group, taken=kept) if folded else ""
        pairs = [(pk, v, labeled[(pk, v, None)]) for pk, v in scores]
        pairs = [p for p in pairs if p[2] in kept]
        if not pairs:
            return []
        values = []
        for i, (pk, value, label) in enumerate(pairs):
            values.append(f"($k{i}, $v{i}, $l{i})")
            params = params | {f"k{i}": pk, f"v{i}": value, f"l{i}": label}
        rows = self._rows(
            f"WITH kept(pk, v, label) AS (VALUES {', '.join(values)}) "
            f"SELECT c.date, COALESCE(kept.label, $other) AS label, {sums} FROM {source} "
            f"LEFT JOIN kept ON kept.pk = c.organization_pk "
            f"AND kept.v IS NOT DISTINCT FROM {column} "
            f"WHERE {where} GROUP BY ALL",
            params | {"other": other},
        )
        out = []
        for day, label, *measures in rows:
            # As the product: no "Other" row on a day it adds nothing to.
            if folded and label == other and not any(measures):
                continue
            out.append((day, label, [m or 0 for m in measures]))
        return sorted(out, key=lambda r: (r[0], r[1]))

    @staticmethod
    def _fold(
        merged: dict[tuple[date, str], list[Any]], top: int, group: str, cost: bool
    ) -> dict[tuple[date, str], list[Any]]:
        """The groups beyond the ``top`` largest (spend, or tokens of every type) summed day
        by day as one "Other (N …)" group."""
        totals: dict[str, Any] = {}
        tokens = len(TOKEN_TYPES)
        for (_, label), values in merged.items():
            score = values[0] if cost else sum(values[:tokens])
            totals[label] = totals.get(label, 0) + score
        if len(totals) <= top:
            return merged
        kept = set(sorted(totals, key=lambda g: (-totals[g], g))[:top])
        other = other_label(len(totals) - top, group, taken=kept)
        out: dict[tuple[date, str], list[Any]] = {}
        for (day, label), values in merged.items():
            acc = out.setdefault((day, label if label in kept else other), [0] * len(values))
            for i, v in enumerate(values):
                acc[i] += v
        return {k: v for k, v in out.items() if k[1] != other or any(v)}

    def spend_summary(self, today: date) -> tuple[Decimal, Decimal, Decimal]:
        """Month to date, last month and today, in USD (reports.spend_summary's inputs)."""
        first = month_start(today)
        previous = month_start(first - timedelta(days=1))
        assert next_month(previous) == first
        tomorrow = today + timedelta(days=1)
        demo = self._demo_left_out(Filters(previous, tomorrow))
        [row] = self._rows(
            "SELECT SUM(amount_micro) FILTER (WHERE c.date >= $first), "
            "SUM(amount_micro) FILTER (WHERE c.date < $first), "
            "SUM(amount_micro) FILTER (WHERE c.date >= $today) "
            "FROM cost_line c JOIN organization o ON o.id = c.organization_pk "
            "WHERE c.date >= $previous AND c.date < $tomorrow" + (f" AND {demo}" if demo else ""),
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
        side table: a DISTINCT over the same rows is the equivalent), named by the product's
        labeller as ``options.filter_options`` names them."""
        orgs = self._rows(
            "SELECT organization_id, label, name, is_demo FROM organization ORDER BY name", {}
        )
        mix = DemoMix(demo=sum(1 for *_, d in orgs if d), real=sum(1 for *_, d in orgs if not d))
        providers = sorted(
            (p, provider_label(p))
            for (p,) in self._rows("SELECT DISTINCT provider FROM organization", {})
        )
        workspace_names = self._namer("workspace")
        found = self._rows(
            "SELECT DISTINCT organization_pk, workspace_id FROM cost_line "
            "UNION SELECT DISTINCT organization_pk, workspace_id FROM usage_bucket",
            {},
        )
        # "" for the null workspace, as dimension_value keeps it.
        workspaces = workspace_options(workspace_names, {(pk, ws or "") for pk, ws in found})

        def distinct(column: str, *, usage: bool = True) -> list[str]:
            union = f" UNION SELECT DISTINCT {column} FROM usage_bucket" if usage else ""
            rows = self._rows(
                f"SELECT v FROM (SELECT DISTINCT {column} AS v FROM cost_line{union}) "
                "WHERE v IS NOT NULL AND v <> ''",
                {},
            )
            return sorted(v for (v,) in rows)

        model_ids = distinct("model")
        return {
            "providers": providers,
            "organizations": [
                (org_id, demo_name(label or name, bool(is_demo), mix))
                for org_id, label, name, is_demo in orgs
            ],
            **workspaces,
            "models": [(m, m) for m in model_ids],
            "model_names": sorted(
                {(model_key(m), model_name(m)) for m in model_ids}, key=lambda t: t[1].lower()
            ),
            "model_families": [(m, model_key(m)) for m in model_ids],
            "service_tiers": sorted(
                ((v, service_tier_label(v)) for v in distinct("service_tier")),
                key=lambda t: t[1].lower(),
            ),
            "cost_types": sorted(
                ((v, cost_type_label(v)) for v in distinct("cost_type", usage=False)),
                key=lambda t: t[1].lower(),
            ),
            # The keys that have usage ("" keyless). Actors are not offered: the per-key
            # tables they come from are not in this copy.
            "api_keys": key_options(
                self._namer("api_key"),
                {
                    (pk, key or "")
                    for pk, key in self._rows(
                        "SELECT DISTINCT organization_pk, api_key_id FROM usage_bucket", {}
                    )
                },
            ),
        }
