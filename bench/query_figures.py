"""The dashboard query figures of `make bench`: every query the Overview, Spend and Usage pages
run (its first call, and p50 and p95 of the warm calls after it), and the same query written by
hand for DuckDB (bench/duck.py) over a copy of the same rows, with the ratio and whether both
gave the same result, and the same on a copy of the product's rollups; then the random query
set (bench/query_set.py)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from bench.bench_rows import MODELS
from bench.figures import DUCKDB_TARGET, QUERY_TARGET_MS, BenchRun, Figure, ms, timed
from bench.query_set import first_difference, query_set_figures


def copy_figures(run: BenchRun) -> None:
    """Attach the app's columnar copy (``app.columnar``) as the pages do and wait for its first
    load, so the product's query figures below are the app's; its load time, rows, file size and
    the process's memory growth are figures. ``--skip copy`` measures the database alone."""
    from sqlalchemy import text

    from app import columnar

    if "copy" in run.skip:
        print("skipped: the columnar copy (--skip copy): filtered views read the database")
        return
    before = _rss_mib()
    started = time.perf_counter()
    copy = columnar.attach(run.engine)
    if copy is None:
        raise RuntimeError("the columnar copy could not be made (see the log)")
    while copy.current() is None:
        if copy.error is not None:
            raise RuntimeError(f"the columnar copy failed to load: {copy.error}")
        time.sleep(0.05)
    took = time.perf_counter() - started
    with copy.engine.connect() as conn:
        rows = sum(
            int(conn.execute(text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in ("cost_line", "usage_bucket")
        )
    size = sum(p.stat().st_size for p in copy.directory.iterdir()) / 2**20
    grew = _rss_mib() - before
    run.results["columnar_copy"] = {
        "load_seconds": round(took, 2),
        "rows": rows,
        "file_mib": round(size, 1),
        "rss_growth_mib": round(grew),
    }
    run.figures.append(
        Figure(
            "columnar copy: first load in the app process",
            f"{took:,.1f}",
            "s",
            f"{rows:,} rows ({rows / took:,.0f} rows/s); file {size:,.0f} MiB; "
            f"RSS +{grew:,.0f} MiB",
        )
    )


def _rss_mib() -> float:
    """This process's resident memory now (not its peak)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def query_figures(run: BenchRun, repeat: int, views: int) -> None:
    """Time each dashboard query ``repeat`` times (through the app's columnar copy unless
    ``--skip copy``), and its DuckDB equivalent unless DuckDB is skipped."""
    from app.reports.filters import Filters
    from app.reports.options import filter_options
    from app.reports.spend import spend_by_day, spend_summary
    from app.reports.top import TOP_GROUPS
    from app.reports.usage import usage_by_day
    from app.services.organizations import list_organizations

    engine, today, first, skip = run.engine, run.today, run.first, run.skip
    results, figures = run.results, run.figures
    copy_figures(run)

    top = TOP_GROUPS  # as the pages ask: the largest groups, the rest as "Other"

    last30 = Filters(today - timedelta(days=29), today + timedelta(days=1))
    mtd = Filters(today.replace(day=1), today + timedelta(days=1))
    one_org = Filters(
        today - timedelta(days=29),
        today + timedelta(days=1),
        organizations=("bench-org-1",),
        models=(MODELS[3],),
    )
    six_months = Filters(first, today + timedelta(days=1))
    # name -> (the product's query, its result in the shape the DuckDB equivalent returns)
    same: Callable[[Any], Any] = lambda r: r  # noqa: E731
    queries: dict[str, tuple[Callable[[], Any], Callable[[Any], Any]]] = {
        "overview: summary": (
            lambda: spend_summary(engine, today),
            lambda s: (s.month_to_date, s.last_month, s.today),
        ),
        "overview: organizations": (
            lambda: list_organizations(engine),
            lambda orgs: sorted(o.organization_id for o in orgs),
        ),
        "overview: spend 30d by model": (lambda: spend_by_day(engine, last30, "model", top), same),
        "overview: spend mtd by model": (lambda: spend_by_day(engine, mtd, "model", top), same),
        "overview: spend mtd by workspace": (
            lambda: spend_by_day(engine, mtd, "workspace", top),
            same,
        ),
        "filters: options": (
            lambda: filter_options(engine),
            # Actors come from the per-key tables, which the DuckDB copy does not hold.
            lambda o: {k: sorted(v) for k, v in o.items() if k != "actors"},
        ),
        "spend 30d by workspace": (lambda: spend_by_day(engine, last30, "workspace", top), same),
        "spend 30d by tier": (lambda: spend_by_day(engine, last30, "service_tier", top), same),
        "spend 30d one org+model": (
            lambda: spend_by_day(engine, one_org, "description", top),
            same,
        ),
        "spend 6m by organization": (
            lambda: spend_by_day(engine, six_months, "organization", top),
            same,
        ),
        "usage 30d by model": (lambda: usage_by_day(engine, last30, "model", top), same),
        "usage 30d by api key": (lambda: usage_by_day(engine, last30, "api_key", top), same),
    }
    duck: dict[str, Callable[[], Any]] = {}
    duck_rollups: dict[str, Callable[[], Any]] = {}
    dq = dr = None
    duck_skipped = ""
    if "duckdb" in skip:
        duck_skipped = "--skip duckdb"
    else:
        from bench.duck import DuckQueries, load

    if not duck_skipped:
        con, duck_rows, duck_s = load(engine)
        figures.append(
            Figure(
                "duckdb: copy of the same rows", f"{duck_s:,.1f}", "s", f"{duck_rows:,} rows loaded"
            )
        )
        results["duckdb_load"] = {"rows": duck_rows, "seconds": round(duck_s, 2)}
        dq = DuckQueries(con)
        dr = DuckQueries(con, rollups=True)  # the product's own rollups, where it reads them

        def duck_of(d: Any) -> dict[str, Callable[[], Any]]:
            return {
                "overview: summary": lambda: dq.spend_summary(today),
                "overview: organizations": lambda: sorted(r[0] for r in dq.organizations()),
                "overview: spend 30d by model": lambda: d.spend_by_day(last30, "model", top),
                "overview: spend mtd by model": lambda: d.spend_by_day(mtd, "model", top),
                "overview: spend mtd by workspace": lambda: d.spend_by_day(mtd, "workspace", top),
                "filters: options": lambda: {k: sorted(v) for k, v in dq.filter_options().items()},
                "spend 30d by workspace": lambda: d.spend_by_day(last30, "workspace", top),
                "spend 30d by tier": lambda: d.spend_by_day(last30, "service_tier", top),
                "spend 30d one org+model": lambda: d.spend_by_day(one_org, "description", top),
                "spend 6m by organization": lambda: d.spend_by_day(six_months, "organization", top),
                "usage 30d by model": lambda: d.usage_by_day(last30, "model", top),
                "usage 30d by api key": lambda: d.usage_by_day(last30, "api_key", top),
            }

        duck, duck_rollups = duck_of(dq), duck_of(dr)
        # Only where the product reads a rollup does DuckDB have one to read.
        for name in ("overview: summary", "overview: organizations", "filters: options"):
            del duck_rollups[name]
    print(
        f"\n{'query':<34} {'cold ms':>9} {'p50 ms':>9} {'p95 ms':>9} {'duckdb cold':>11} "
        f"{'p50':>9} {'p95':>9}"
    )
    results["queries"] = {}
    raw_ratios: list[float] = []
    rollup_ratios: list[float] = []
    for name, (ours, norm) in queries.items():
        t = timed(ours, repeat)
        entry: dict[str, Any] = {
            "cold_ms": round(t.cold, 1),
            "p50_ms": round(t.p50, 1),
            "p95_ms": round(t.p95, 1),
            "samples": t.samples,
        }
        comparison, ratio = f"cold {ms(t.cold)} ms; duckdb skipped", None
        theirs = duck.get(name)
        if theirs is not None:
            d = timed(theirs, repeat)
            agree = norm(ours()) == theirs()
            if not agree:
                run.differences.append(f"{name} (raw): {_difference(norm(ours()), theirs())}")
            ratio = t.p50 / d.p50 if d.p50 else None
            if ratio:
                raw_ratios.append(ratio)
            entry |= {
                "duckdb_cold_ms": round(d.cold, 2),
                "duckdb_p50_ms": round(d.p50, 2),
                "duckdb_p95_ms": round(d.p95, 2),
                "ratio_p50": round(ratio, 2) if ratio else None,
                "same_result": agree,
            }
            comparison = f"cold {ms(t.cold)} ms; duckdb {ms(d.p50)} / {ms(d.p95)}" + (
                "" if agree else " DIFFERENT RESULT"
            )
            on_rollups = duck_rollups.get(name)
            if on_rollups is not None:
                r = timed(on_rollups, repeat)
                r_agree = norm(ours()) == on_rollups()
                if not r_agree:
                    run.differences.append(
                        f"{name} (rollups): {_difference(norm(ours()), on_rollups())}"
                    )
                entry |= {
                    "duckdb_rollups_p50_ms": round(r.p50, 2),
                    "ratio_rollups_p50": round(t.p50 / r.p50, 2) if r.p50 else None,
                    "same_result_rollups": r_agree,
                }
                if r.p50:
                    rollup_ratios.append(t.p50 / r.p50)
                comparison += f"; on rollups {ms(r.p50)} ({t.p50 / r.p50:,.1f} x)" + (
                    "" if r_agree else " DIFFERENT RESULT"
                )
            print(
                f"{name:<34} {t.cold:>9.1f} {t.p50:>9.1f} {t.p95:>9.1f} {d.cold:>11.2f} "
                f"{d.p50:>9.2f} {d.p95:>9.2f}" + ("" if agree else "  (results differ)")
            )
        else:
            print(f"{name:<34} {t.cold:>9.1f} {t.p50:>9.1f} {t.p95:>9.1f}")
        results["queries"][name] = entry
        figures.append(
            Figure(
                f"query: {name}",
                f"{ms(t.p50)} / {ms(t.p95)}",
                "ms p50/p95",
                comparison,
                ratio,
                f"p95 <= {QUERY_TARGET_MS:.0f} ms, <= {DUCKDB_TARGET:.0f} x",
                t.p95 <= QUERY_TARGET_MS and (ratio is None or ratio <= DUCKDB_TARGET),
            )
        )
    for label, ratios in (("raw rows", raw_ratios), ("the same rollups", rollup_ratios)):
        if ratios:
            results[f"queries_ratio_duckdb_{label.split()[-2]}_{label.split()[-1]}"] = round(
                statistics.median(ratios), 2
            )
            figures.append(
                Figure(
                    f"queries vs DuckDB on {label}",
                    f"{statistics.median(ratios):,.2f}",
                    "x p50",
                    f"median of {len(ratios)} queries, worst {max(ratios):,.1f} x",
                    statistics.median(ratios),
                )
            )
    query_set_figures(run, dq, dr, views)
    if duck:
        con.close()


def _difference(ours: Any, theirs: Any) -> str:
    """Where the product's and DuckDB's answers part (rows of day, label, figures), or both."""
    if (
        isinstance(ours, list)
        and isinstance(theirs, list)
        and all(isinstance(r, tuple) and len(r) == 3 for r in ours + theirs)
    ):
        return first_difference(ours, theirs)
    return f"ours {ours!r:.300}, DuckDB's {theirs!r:.300}"
