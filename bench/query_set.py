"""The random query set of `make bench`: the views a fixed list of queries would miss.

Drawn with a fixed seed from the filter choices the pages offer (``filter_options``): Spend and
Usage views over 30 days or 6 months, grouped every way their "Group by" offers
(``SPEND_GROUPS``, ``USAGE_GROUPS``, in turn), each filtered by a random combination of service
tiers, workspaces, several models and organizations (none to all four). The pages offer no API
key filter (API keys are a grouping only), so none is drawn. Each view is called once cold and
``warm`` times after; the set's p95 is over every warm call and its worst case over every call,
the cold ones included. Where DuckDB runs (bench/duck.py), each view is also asked of it, on
the raw rows and on the product's own rollups, and the answers compared.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bench.figures import BenchRun, Figure, ms, percentile

SEED = 14
SET_SIZE = 40  # views, half Spend and half Usage
WARM = 3  # warm calls of each view after its first
SET_P95_MS = 250.0
SET_WORST_MS = 1000.0


@dataclass(frozen=True)
class View:
    page: str  # "spend" or "usage"
    group: str
    filters: Any  # app.reports.filters.Filters
    span: str  # "30d" or "6m"

    def describe(self) -> str:
        f = self.filters
        chosen = [
            f"{name}={len(values)}"
            for name, values in (
                ("tier", f.service_tiers),
                ("workspace", f.workspaces),
                ("model", f.models),
                ("org", f.organizations),
            )
            if values
        ]
        return f"{self.page} {self.span} by {self.group}" + (
            f" [{', '.join(chosen)}]" if chosen else ""
        )


def draw_views(options: dict[str, list[tuple[str, str]]], today: date, size: int) -> list[View]:
    """``size`` views drawn from ``options`` with the fixed seed."""
    from app.clock import months_back
    from app.reports.filters import Filters
    from app.reports.labels import SPEND_GROUPS, USAGE_GROUPS

    rng = random.Random(SEED)
    choices = {k: [v for v, _ in options.get(k, [])] for k in options}

    def some(kind: str, low: int, high: int) -> tuple[str, ...]:
        pool = choices.get(kind, [])
        if not pool or rng.random() < 0.5:  # half the views leave each filter at "all"
            return ()
        return tuple(sorted(rng.sample(pool, min(len(pool), rng.randint(low, high)))))

    views = []
    end = today + timedelta(days=1)
    for n in range(size):
        page = "spend" if n % 2 == 0 else "usage"
        groups = list(SPEND_GROUPS if page == "spend" else USAGE_GROUPS)
        group = groups[(n // 2) % len(groups)]
        span = rng.choice(["30d", "6m"])
        start = today - timedelta(days=29) if span == "30d" else months_back(today, 6)
        filters = Filters(
            start,
            end,
            service_tiers=some("service_tiers", 1, 2),
            workspaces=some("workspaces", 1, 3),
            models=some("models", 2, 5),
            organizations=some("organizations", 1, 2),
        )
        views.append(View(page, group, filters, span))
    return views


def _calls(fn: Callable[[], Any], warm: int) -> tuple[float, list[float], Any]:
    """(cold ms, warm ms, the result)."""
    t0 = time.perf_counter()
    result = fn()
    cold = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(warm):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return cold, samples, result


def query_set_figures(
    run: BenchRun, duck_raw: Any | None, duck_rollups: Any | None, size: int = SET_SIZE
) -> None:
    """Time the drawn views through the product (and DuckDB when given), and add the set's
    figures."""
    from app.reports.options import filter_options
    from app.reports.spend import spend_by_day
    from app.reports.top import TOP_GROUPS
    from app.reports.usage import usage_by_day

    engine = run.engine
    views = draw_views(filter_options(engine), run.today, size)
    print(f"\nquery set: {len(views)} random views (seed {SEED}), {WARM} warm calls each...")
    warm_all: list[float] = []
    calls_all: list[tuple[float, str]] = []
    ratios_raw: list[float] = []
    ratios_rollups: list[float] = []
    different: list[str] = []
    entries = []
    for view in views:
        product = spend_by_day if view.page == "spend" else usage_by_day

        def ours(view: View = view, product: Any = product) -> Any:
            return product(engine, view.filters, view.group, TOP_GROUPS)

        cold, warm, result = _calls(ours, WARM)
        warm_all += warm
        calls_all += [(t, view.describe()) for t in (cold, *warm)]
        p50 = statistics.median(warm)
        entry: dict[str, Any] = {
            "view": view.describe(),
            "cold_ms": round(cold, 1),
            "p50_ms": round(p50, 1),
        }
        for name, dq, ratios in (
            ("raw", duck_raw, ratios_raw),
            ("rollups", duck_rollups, ratios_rollups),
        ):
            if dq is None:
                continue
            method = dq.spend_by_day if view.page == "spend" else dq.usage_by_day

            def theirs(view: View = view, method: Any = method) -> Any:
                return method(view.filters, view.group, TOP_GROUPS)

            _, d_warm, d_result = _calls(theirs, WARM)
            d50 = statistics.median(d_warm)
            ratios.append(p50 / d50 if d50 else 0.0)
            entry[f"duckdb_{name}_p50_ms"] = round(d50, 2)
            if d_result != result:
                entry[f"duckdb_{name}_same_result"] = False
                different.append(f"{view.describe()} ({name})")
        entries.append(entry)
    warm_all.sort()
    p95 = percentile(warm_all, 0.95)
    worst, worst_view = max(calls_all)
    cold_p95 = percentile(sorted(e["cold_ms"] for e in entries), 0.95)
    slowest = sorted(entries, key=lambda e: -e["p50_ms"])[:5]
    for e in slowest:
        print(f"  slow: {e['view']:<60} cold {e['cold_ms']:>8.1f} ms, p50 {e['p50_ms']:>8.1f} ms")
    run.results["query_set"] = {
        "seed": SEED,
        "views": entries,
        "p95_ms": round(p95, 1),
        "worst_ms": round(worst, 1),
        "worst_view": worst_view,
        "cold_p95_ms": round(cold_p95, 1),
        "different_results": different,
    }
    run.figures += [
        Figure(
            f"query set: {len(views)} random views, p95",
            ms(p95),
            "ms",
            f"seed {SEED}, {len(warm_all)} warm calls; cold p95 {ms(cold_p95)} ms",
            None,
            f"p95 <= {SET_P95_MS:.0f} ms",
            p95 <= SET_P95_MS,
        ),
        Figure(
            f"query set: {len(views)} random views, worst",
            ms(worst),
            "ms",
            f"{worst_view} (cold calls included)",
            None,
            f"<= {SET_WORST_MS:,.0f} ms",
            worst <= SET_WORST_MS,
        ),
    ]
    for name, ratios in (("raw rows", ratios_raw), ("same rollups", ratios_rollups)):
        if not ratios:
            continue
        # The target is the "<= 3 x DuckDB on the same rows"; on the rollups (the
        # product's own pre-aggregates, where it reads them) the ratio is for reference.
        raw = name == "raw rows"
        median, top = statistics.median(ratios), max(ratios)
        run.results["query_set"][f"ratio_duckdb_{name.replace(' ', '_')}"] = {
            "median": round(median, 2),
            "max": round(top, 2),
        }
        run.figures.append(
            Figure(
                f"query set vs DuckDB, {name}",
                f"{median:,.2f}",
                "x p50",
                f"median of {len(ratios)} views, worst {top:,.1f} x"
                + (f"; {len(different)} DIFFERENT RESULTS" if different else "; same results"),
                median,
                "<= 3 x" if raw else "",
                (median <= 3 and not different) if raw else (False if different else None),
            )
        )
    if different:
        print("  results differ from DuckDB: " + "; ".join(different[:5]))
