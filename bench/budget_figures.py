"""Budgets at the bench's scale (issue 18, "Speed"): 200 budgets over the bench organizations'
scopes (the whole bill, each organization, workspaces, models, tiers, an allocation's values),
evaluated as the worker does after a sync (``finops alerts evaluate``): every budget's actual and
forecast. The target is 1 s; the first evaluation of a day fits every scope's forecast, the next
ones reuse the fits (the forecast engine caches them per day).
"""

from __future__ import annotations

import copy
import statistics
import time
from typing import Any

import yaml

from bench.bench_rows import MODELS, TIERS, WORKSPACE_NAMES
from bench.figures import BenchRun, Figure, pinned_today

BUDGETS = 200
EVALUATE_TARGET_S = 1.0
WARM = 3


def budget_file(orgs: int) -> str:
    """200 budgets: monthly, quarterly and yearly, on the match keys and on Team's values."""
    scopes: list[dict[str, Any]] = [{}]
    scopes += [{"organization": [f"bench-org-{i}"]} for i in range(orgs)]
    scopes += [{"workspace": [w]} for w in WORKSPACE_NAMES]
    scopes += [{"model": [m]} for m in MODELS]
    scopes += [{"service_tier": [t]} for t in TIERS]
    scopes += [{"Team": [f"Team {i}"]} for i in range(10)]
    scopes += [{"workspace": [w], "model": ["claude-sonnet-*"]} for w in WORKSPACE_NAMES[:20]]
    budgets = []
    for n in range(BUDGETS):
        budgets.append(
            {
                "name": f"Budget {n:03d}",
                # A copy each: a shared object would be written as a YAML alias (refused).
                "scope": copy.deepcopy(scopes[n % len(scopes)]),
                "period": ("monthly", "quarterly", "yearly")[n % 3],
                "amount_usd": 1000 + 37 * n,
                "thresholds": [{"percent": 80, "on": "actual"}, {"percent": 100, "on": "forecast"}],
            }
        )
    return yaml.safe_dump({"budgets": budgets}, sort_keys=False)


def budget_figures(run: BenchRun) -> None:
    """Import the 200 budgets (the allocations of bench/allocation_figures.py must exist:
    ten scopes are on Team) and time their evaluation, cold and warm."""
    from app.finops.alerts import evaluate
    from app.finops.budgets import import_budgets
    from app.finops.forecast import clear_cache
    from app.services.access import OPERATOR

    engine, settings = run.engine, run.settings
    import_budgets(engine, budget_file(run.orgs), actor=OPERATOR)
    with pinned_today(run.today):
        clear_cache()
        t0 = time.perf_counter()
        evaluate(engine, settings, today=run.today)
        cold = time.perf_counter() - t0
        warm = []
        for _ in range(WARM):
            t0 = time.perf_counter()
            evaluate(engine, settings, today=run.today)
            warm.append(time.perf_counter() - t0)
    median = statistics.median(warm)
    run.figures.append(
        Figure(
            f"budgets: {BUDGETS} evaluated after a sync, first of the day",
            f"{cold:,.2f}",
            "s",
            "every scope's spend and a fitted forecast",
            target=f"<= {EVALUATE_TARGET_S:.0f} s",
            met=cold <= EVALUATE_TARGET_S,
        )
    )
    run.figures.append(
        Figure(
            f"budgets: {BUDGETS} evaluated again, median of {WARM}",
            f"{median:,.2f}",
            "s",
            "the day's fits reused",
            target=f"<= {EVALUATE_TARGET_S:.0f} s",
            met=median <= EVALUATE_TARGET_S,
        )
    )
    run.results["budgets"] = {"cold_seconds": round(cold, 2), "warm_seconds": round(median, 2)}
