"""`make bench`: ingestion, dashboard queries, backfill, worker memory and page renders, measured
side by side in one run.

Prints one table (a row per figure: value, what it is compared with, the ratio, the target) and
writes bench/results/latest.json. Scales (organizations x days x rows/day):
small 2x60x200, medium 5x183x500, large 20x183x1366 (~5M cost and ~5M usage rows).

- ingestion: rows/s through the product's write path (``replace_days``) vs the fastest plain
  bulk load of the database (raw DB-API executemany on SQLite, COPY on Postgres);
- every query the Overview, Spend and Usage pages run (first call, and p50 and p95 of the warm
  calls), and the same query written by hand for DuckDB over a copy of the same rows and over a
  copy of the product's own rollups (a development-only dependency: the ``bench`` extra), with
  both ratios and whether the results agree;
- three allocations of 50 rules imported over every organization's days, a rule change that
  allocates every day again, and Spend grouped by an allocation vs DuckDB over the same lines
  (bench/allocation_figures.py); 200 budgets evaluated as after a sync, cold and warm
  (bench/budget_figures.py); Spend by API key and by actor over 500 keys' per-key cost, billed
  and estimated (bench/key_cost_figures.py);
- a query set drawn with a fixed seed (bench/query_set.py): Spend and Usage views over 30 days
  and 6 months, grouped every way the pages offer, under random filter combinations; its p95
  and worst case, and the same views in DuckDB;
- a six-month backfill of an organization as large as the largest bench one, by a real
  `finops worker` process against the simulator with a fixed per-request latency, vs the floor:
  the critical path of the requests it made (Claude Code days as many at a time as the worker
  fetches them, the rest in series), each request costing the latency plus the simulator's own
  time answering it, and that worker's peak RSS;
- each dashboard page's render time through AppTest, and the Spend page in headless Chromium until
  its first chart is visible (skipped, saying why, when /usr/bin/chromium is missing).

Storage is FINOPS_DATABASE_URL (a temporary SQLite file by default). Figures are medians and 95th
percentiles of repeated runs on this machine; compare ratios measured in the same run, not
absolute times across machines.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

# The parts of the bench, each in a module named for what it measures. This script's folder is
# on sys.path too when it runs: no module in bench/ may be named as a package of the product's
# (ingest, app, pages) or of what it imports.
from bench.allocation_figures import allocation_figures  # noqa: E402
from bench.backfill_figures import backfill_figures  # noqa: E402
from bench.bench_rows import SCALES, rows_of  # noqa: E402
from bench.budget_figures import budget_figures  # noqa: E402
from bench.figures import (  # noqa: E402
    BENCH_TODAY,
    SAMPLES,
    BenchRun,
    Figure,
    load_average,
    ms,
    print_table,
)
from bench.ingestion import ingestion_figures  # noqa: E402
from bench.key_cost_figures import key_cost_figures  # noqa: E402
from bench.page_figures import page_figures  # noqa: E402
from bench.query_figures import query_figures  # noqa: E402
from bench.query_set import SET_SIZE  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scale", choices=list(SCALES), default="large")
    parser.add_argument(
        "--repeat", type=int, default=SAMPLES, help="warm samples of each query figure"
    )
    parser.add_argument("--views", type=int, default=SET_SIZE, help="random views in the query set")
    parser.add_argument(
        "--page-repeat",
        type=int,
        default=3,
        help="cold and warm renders of each page, and browser visits",
    )
    parser.add_argument("--latency", type=float, default=0.2, help="simulated API latency (s)")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the bench organizations already in the database (from an "
        "earlier run with the same FINOPS_DATA_DIR / FINOPS_DATABASE_URL "
        "and scale) instead of generating them; no ingestion figure",
    )
    parser.add_argument(
        "--skip",
        default="",
        help="comma-separated parts to leave out: duckdb, allocation, budgets, backfill, pages, "
        "browser, copy (the app's columnar copy: filtered views then read the database)",
    )
    parser.add_argument(
        "--only",
        choices=["backfill"],
        help="measure this part alone (the backfill: a worker process against the simulator, "
        "an organization as wide as the scale's; no bench data is generated)",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    load_at_start = load_average()
    os.environ.setdefault("FINOPS_DATA_DIR", tempfile.mkdtemp(prefix="finops-bench-"))
    os.environ["FINOPS_MASTER_KEY"] = Fernet.generate_key().decode()
    work = Path(tempfile.mkdtemp(prefix="finops-bench-logs-"))

    from app.db import DatabaseError
    from app.runtime import get_engine
    from app.settings import Settings

    settings = Settings()
    postgres = settings.resolved_database_url.startswith("postgresql")
    try:
        engine = get_engine(settings)
    except DatabaseError as exc:
        if not postgres:
            raise
        print(
            f"skipped: the Postgres database in FINOPS_DATABASE_URL is not reachable ({exc}); "
            "nothing was measured"
        )
        return 0
    if not postgres:
        print(
            "note: storage is SQLite; set FINOPS_DATABASE_URL=postgresql+psycopg://... "
            "to measure Postgres (skipped here)"
        )
    orgs, days, per_day = SCALES[args.scale]
    today = BENCH_TODAY  # fixed: no figure depends on the day the bench runs
    first = today - timedelta(days=days - 1)
    print(
        f"scale {args.scale}: {orgs} orgs x {days} days x {per_day} rows/day per dataset "
        f"on {engine.dialect.name}, up to {today} (fixed); load {load_at_start}"
    )
    skip = {part.strip() for part in args.skip.split(",") if part.strip()}
    run = BenchRun(engine, settings, args.scale, orgs, days, per_day, today, first, work, skip)
    run.results |= {"scale": args.scale, "backend": engine.dialect.name}
    results, figures = run.results, run.figures

    if args.only is None:
        # --- ingestion through the product's write path -----------------------------------
        status = ingestion_figures(run, rows_of(per_day), args.reuse)
        if status is not None:
            return status

        # --- dashboard queries, and the same in DuckDB ---------------------------------------
        query_figures(run, args.repeat, args.views)

        # --- allocations: import, a rule change, Spend grouped by one ---------------------------
        if "allocation" not in skip:
            allocation_figures(run, args.repeat)

        # --- budgets: 200 evaluated as after a sync ---------------------------------------------
        if "allocation" not in skip and "budgets" not in skip:
            budget_figures(run)

        # --- per-key cost: Spend by API key and by actor over 500 keys, billed and estimated --
        if "key_cost" not in skip:
            key_cost_figures(run, args.repeat)

    # --- six-month backfill by a `finops worker` process, against the simulator ----------------
    from app.keystore import KeyStore

    store = KeyStore.from_settings(settings)
    backfill_figures(run, store, args.latency)

    if args.only is not None:
        print_table(figures)
        return 0

    # --- page renders: AppTest for every dashboard page, Chromium for Spend ----------------------
    page_figures(run, store, args.page_repeat)

    # The simulator builds every test's and the demo's organizations: its speed bounds their
    # setup (it was a flaky "< 1 s" test; here it is a figure).
    from bench.simulator_speed import RUNS, median_seconds

    simulator_ms = median_seconds() * 1000
    results["simulator_200_day_ms"] = round(simulator_ms, 1)
    figures.append(
        Figure(
            "simulator: a 200-day organization generated",
            ms(simulator_ms),
            "ms",
            f"median of {RUNS} fresh runs",
        )
    )

    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    results["peak_rss_mib_whole_bench"] = round(peak_mib)
    figures.append(
        Figure(
            "bench process peak RSS",
            f"{peak_mib:,.0f}",
            "MiB",
            "generation, DuckDB copy and AppTest included",
        )
    )
    took = time.perf_counter() - started
    load_at_end = load_average()
    results["seconds"] = round(took)
    results["today"] = today.isoformat()
    results["load_average"] = {"start": load_at_start, "end": load_at_end}
    results["different_results"] = run.differences
    results["table"] = [
        dict(
            zip(
                ("figure", "value", "unit", "comparison", "ratio", "target", "met"),
                f.cells(),
                strict=True,
            )
        )
        for f in figures
    ]

    print(
        f"\nscale {args.scale} on {engine.dialect.name}, today = {today} (fixed); query ratio = "
        f"ours / DuckDB at p50; value of a query = p50 / p95 of {args.repeat} warm calls, its "
        f"first call is 'cold'\nmachine load (1 / 5 / 15 min): {load_at_start} at start, "
        f"{load_at_end} at end\n"
    )
    print_table(figures)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "latest.json").write_text(json.dumps(results, indent=2))
    print(f"\nwrote {out / 'latest.json'} (logs in {work}); the bench took {took:.0f} s")
    if run.differences:
        # Every figure of a DuckDB equivalent must equal the product's, to the cent: a
        # difference is a wrong number on a page (or a wrong equivalent), never noise.
        print(
            f"\nFAILED: {len(run.differences)} DuckDB answers differ from the product's:",
            file=sys.stderr,
        )
        for difference in run.differences:
            print(f"  {difference}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
