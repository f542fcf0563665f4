"""Spend by API key and by actor over per-key cost at the bench's scale (issue 16, "Speed"):
500 keys x every day of the bench data, for two organizations: one with billed per-key cost
(``key_cost_line``), one whose key may not read it and has the estimate in its place
(``key_cost_estimate``: Spend then reads the union of both, the slow path).

Timed as the Spend page asks (``spend_by_day``, top 12 and "Other"), over 30 days and six
months, p50 / p95 of warm calls (target 250 ms), against DuckDB over a copy of the same rows
summed the same way (target 3 x at p50), the answers compared to the micro-cent.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from bench.bench_rows import API_KEYS, MODELS, WORKSPACE_NAMES
from bench.figures import DUCKDB_TARGET, QUERY_TARGET_MS, BenchRun, Figure, ms, timed

# Per key and day: a few models and token types (a key's day in the Analytics API).
ROWS_PER_KEY_DAY = 3
_TOKEN_TYPES = ("uncached_input_tokens", "output_tokens", "cache_read_input_tokens")
_ACTORS = 120  # people and service accounts behind the 500 keys


def key_cost_figures(run: BenchRun, repeat: int) -> None:
    """Write the per-key rows (once per database, kept with --reuse), then time Spend by key
    and by actor, and the same in DuckDB (unless ``--skip duckdb``)."""
    from app.reports.filters import Filters
    from app.reports.spend import spend_by_day
    from app.reports.top import TOP_GROUPS

    engine, today = run.engine, run.today
    t0 = time.perf_counter()
    rows = _write_rows(run)
    written = time.perf_counter() - t0
    run.results["key_cost_rows"] = rows
    caught_up = _wait_for_copy(run)
    con: Any = None
    if "duckdb" not in run.skip:
        import duckdb

        con = duckdb.connect(":memory:")
        copied = _duck_copy(engine, con)
    for label, f in (
        ("30d", Filters(today - timedelta(days=29), today + timedelta(days=1))),
        ("6m", Filters(run.first, today + timedelta(days=1))),
    ):
        for group in ("api_key", "actor"):
            ours = timed(lambda f=f, g=group: spend_by_day(engine, f, g, TOP_GROUPS), repeat)
            run.figures.append(
                Figure(
                    f"spend {label} by {group.replace('_', ' ')} (500 keys, billed + estimate)",
                    f"{ms(ours.p50)} / {ms(ours.p95)}",
                    "ms",
                    f"p50 / p95 of {ours.samples}; cold {ms(ours.cold)}; {rows:,} rows"
                    + (f" written in {written:,.1f} s" if written > 1 else "")
                    + (
                        "; read from the database (--skip copy)"
                        if caught_up is None
                        else f"; the app's columnar copy caught up in {caught_up:,.1f} s"
                    ),
                    target=f"p95 <= {QUERY_TARGET_MS:.0f} ms",
                    met=ours.p95 <= QUERY_TARGET_MS,
                )
            )
            run.results[f"key_spend_{label}_{group}_ms"] = {"p50": ours.p50, "p95": ours.p95}
            if con is None:
                continue
            theirs = timed(lambda f=f, g=group: _duck_spend(con, f, g), repeat)
            ratio = ours.p50 / theirs.p50 if theirs.p50 else None
            run.figures.append(
                Figure(
                    f"  duckdb: the same rows, top {TOP_GROUPS} and the rest by day",
                    f"{ms(theirs.p50)} / {ms(theirs.p95)}",
                    "ms",
                    f"copied in {copied:,.1f} s",
                    ratio,
                    f"<= {DUCKDB_TARGET:.0f} x",
                    ratio is not None and ratio <= DUCKDB_TARGET,
                )
            )
            ours_total = _by_day(spend_by_day(engine, f, group, TOP_GROUPS))
            theirs_total = _by_day(_duck_spend(con, f, group))
            if ours_total != theirs_total:
                run.differences.append(
                    f"spend {label} by {group}: daily totals differ from DuckDB's "
                    f"({len(ours_total)} days vs {len(theirs_total)})"
                )


def _wait_for_copy(run: BenchRun) -> float | None:
    """Wait until the app's columnar copy (attached by ``copy_figures``) holds the rows just
    written, as a page's read would find it; seconds (None: no copy, the database answers)."""
    from app import columnar

    copy = columnar._COPIES.get(run.engine)
    if copy is None:
        return None
    t0 = time.perf_counter()
    while copy.current() is None:
        if copy.error is not None:
            raise RuntimeError(f"the columnar copy failed to catch up: {copy.error}")
        time.sleep(0.05)
    return time.perf_counter() - t0


def _by_day(rows: list[tuple[date, str, Decimal]]) -> dict[date, Decimal]:
    out: dict[date, Decimal] = defaultdict(Decimal)
    for day, _, cents in rows:
        out[day] += cents
    return dict(out)


def _write_rows(run: BenchRun) -> int:
    """Per-key rows of the first two bench organizations (billed, estimated), written once;
    the number of rows."""
    from sqlalchemy import delete, func, insert, select

    from app.db import read_session, write_session
    from app.models import KeyCost, KeyCostEstimate, KeyEstimateMark, Organization
    from app.store.changes import record_change
    from app.store.key_estimate import ESTIMATE_DATASET, KEY_COST_DATASET

    with read_session(run.engine) as session:
        pks = list(
            session.execute(select(Organization.id).order_by(Organization.id).limit(2)).scalars()
        )
        stored = session.execute(select(func.count()).select_from(KeyCost)).scalar_one()
        stored += session.execute(select(func.count()).select_from(KeyCostEstimate)).scalar_one()
    expected = len(pks) * run.days * API_KEYS * ROWS_PER_KEY_DAY
    if stored == expected:
        return stored  # --reuse: written by an earlier run
    with write_session(run.engine) as session:
        session.execute(delete(KeyCost))
        session.execute(delete(KeyCostEstimate))
        session.execute(delete(KeyEstimateMark))
    for n, pk in enumerate(pks):
        estimated = n == 1
        table: Any = KeyCostEstimate if estimated else KeyCost
        dataset = ESTIMATE_DATASET if estimated else KEY_COST_DATASET
        for offset in range(run.days):
            day = run.first + timedelta(days=offset)
            batch = list(_day_rows(pk, n, day, estimated))
            with write_session(run.engine) as session:
                session.execute(insert(table), batch)
                # As the sync and the estimate log what they write: the app's copy follows.
                record_change(session, pk, dataset, day, day + timedelta(days=1))
        if estimated:
            with write_session(run.engine) as session:
                session.add(KeyEstimateMark(organization_pk=pk))
    return expected


def _day_rows(pk: int, org_index: int, day: date, estimated: bool) -> Any:
    rng = random.Random(f"key-cost:{org_index}:{day}")
    for key in range(API_KEYS):
        # A long tail: a few keys hold most of the spend, as in a real organization.
        scale = 10_000 / (1 + key) ** 1.1
        for r in range(ROWS_PER_KEY_DAY):
            model = MODELS[(key + r) % len(MODELS)]
            cents = Decimal(int(scale * rng.uniform(0.5, 1.5) * 1_000_000)).scaleb(-6)
            row: dict[str, Any] = {
                "organization_pk": pk,
                "date": day,
                "workspace_id": f"wrkspc_{org_index}_{key % len(WORKSPACE_NAMES)}",
                "api_key_id": f"apikey_{org_index}_{key}",
                "model": model,
                "service_tier": "standard",
                "cost_type": "tokens",
                "amount_cents": cents,
                "list_amount_cents": cents,
            }
            if estimated:  # its own actor, named as the key
                row["actor_name"] = f"key {org_index}-{key}"
            else:
                actor = key % _ACTORS
                row |= {
                    "token_type": _TOKEN_TYPES[r],
                    "actor_type": "user",
                    "actor_id": f"user_{org_index}_{actor}",
                    "actor_name": f"person{actor}@example.com",
                    "currency": "USD",
                    "dims_key": f"{key}:{r}",
                }
            yield row


def _duck_copy(engine: Any, con: Any) -> float:
    """Copy both tables' rows (date, organization, key, actor as Spend names it, micro-cents)
    into DuckDB's ``key_spend``; seconds."""
    import pandas as pd
    from sqlalchemy import text

    postgres = engine.dialect.name == "postgresql"
    amount = "CAST(amount_cents * 1000000 AS BIGINT)" if postgres else "amount_cents"
    day = "CAST(date AS TEXT)" if postgres else "date"
    t0 = time.perf_counter()
    con.execute(
        "CREATE OR REPLACE TABLE key_spend (date DATE, org BIGINT, api_key VARCHAR, "
        "actor VARCHAR, amount_micro BIGINT)"
    )
    for sql in (
        f"SELECT {day}, organization_pk, api_key_id, COALESCE(actor_name, actor_id), {amount} "
        "FROM key_cost_line",
        f"SELECT {day}, organization_pk, api_key_id, COALESCE(actor_name, api_key_id), "
        f"{amount} FROM key_cost_estimate",
    ):
        with engine.connect() as conn:
            result = conn.execution_options(stream_results=True).execute(text(sql))
            for part in result.partitions(200_000):
                chunk = pd.DataFrame.from_records(
                    [tuple(r) for r in part], columns=["date", "org", "api_key", "actor", "micro"]
                )
                con.register("chunk", chunk)
                con.execute(
                    "INSERT INTO key_spend SELECT CAST(date AS DATE), org, api_key, actor, "
                    "CAST(micro AS BIGINT) FROM chunk"
                )
                con.unregister("chunk")
    return time.perf_counter() - t0


def _duck_spend(con: Any, f: Any, group: str) -> list[tuple[date, str, Decimal]]:
    """The largest 12 groups day by day and the rest as one, in SQL (window over the ranks)."""
    from app.reports.top import TOP_GROUPS

    by = "org, api_key" if group == "api_key" else "actor"
    rows = con.execute(
        f"WITH ranked AS (SELECT {by}, SUM(amount_micro) AS total FROM key_spend "
        f"WHERE date >= ? AND date < ? GROUP BY {by}), "
        f"kept AS (SELECT {by} FROM ranked ORDER BY total DESC LIMIT {TOP_GROUPS}) "
        f"SELECT s.date, CASE WHEN k.{by.split(',')[-1].strip()} IS NULL THEN 'Other' "
        f"ELSE CAST(s.{by.split(',')[-1].strip()} AS VARCHAR) END AS g, SUM(s.amount_micro) "
        f"FROM key_spend s LEFT JOIN kept k USING ({by}) "
        "WHERE s.date >= ? AND s.date < ? GROUP BY s.date, g",
        [f.start, f.end, f.start, f.end],
    ).fetchall()
    return [(d, g, Decimal(int(m)).scaleb(-6)) for d, g, m in rows]
