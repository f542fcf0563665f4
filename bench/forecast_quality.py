"""Forecast quality and speed (issue 18): a rolling-origin backtest of the month-end forecast that
budgets, the Overview and `finops forecast` share (``app.finops.forecast.forecast_period``).

Series: the demo organization and ``--orgs`` simulated Console organizations (400 days each),
every organization's daily billed cost and that of its largest workspace. For every calendar
month with at least 13 weeks of history before it, the month's end is forecast on its day 7, 14
and 21 (that many complete days in, nothing of the day itself yet) and compared with the month's
true total: MAPE, the median and worst error, and how often the truth falls inside the 80 %
interval. Targets: MAPE <= 10 % from day 7, coverage 70-90 %.

Speed: every forecast above is timed fresh (no cache), and 200 scopes are forecast one after the
other as a budget evaluation does (the engine's part: reading the scopes' spend is a query of its
own, timed by bench/bench.py's views).

The organizations' seeds (default 40000 on): not those the interval's width was chosen on
(1000-1011) or checked on (7000-7011, see app/finops/forecast.py INTERVAL_SCALE).

    python -m bench.forecast_quality [--orgs 12] [--seed 40000]
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from app.finops import forecast
from app.finops.forecast import HISTORY_DAYS, forecast_period
from app.simulator import Simulator
from app.simulator.demo import DEMO_ORG_NAME, DEMO_ORG_SEED

TODAY = date(2026, 12, 1)  # fixed: the same months and series on every run
HISTORY = 400
ORIGINS = (7, 14, 21)
MAPE_TARGET = 0.10
COVERAGE = (0.70, 0.90)
BUDGETS = 200


@dataclass
class Trial:
    origin: int
    error: float  # |forecast - truth| / truth
    inside: bool
    method: str
    seconds: float
    baseline_error: float  # the same forecast by the run rate of the last 28 complete days
    baseline_inside: bool


def series(orgs: int, seed: int = 1000) -> dict[str, dict[date, Decimal]]:
    """Daily billed cents per scope: each organization (seeds ``seed``, ``seed + 1``…, and
    the demo one), and its largest workspace."""
    sim = Simulator(today=TODAY, history_days=HISTORY, seed=2026)
    sim.add_org(name=DEMO_ORG_NAME, seed=DEMO_ORG_SEED)
    for n in range(orgs):
        sim.add_org(name=f"Org {n}", seed=seed + n)
    out: dict[str, dict[date, Decimal]] = {}
    first = TODAY - timedelta(days=HISTORY)
    for org in sim.orgs.values():
        total: dict[date, Decimal] = defaultdict(Decimal)
        by_workspace: dict[str | None, dict[date, Decimal]] = defaultdict(
            lambda: defaultdict(Decimal)
        )
        for row in sim.truth_cost(org.id, first, TODAY):
            total[row.date] += row.amount_cents
            by_workspace[row.workspace_id][row.date] += row.amount_cents
        out[org.name] = dict(total)
        largest = max(by_workspace, key=lambda w: sum(by_workspace[w].values()))
        out[f"{org.name} / largest workspace"] = dict(by_workspace[largest])
    return out


def months(first: date, last: date) -> list[tuple[date, date]]:
    """Calendar months ``[start, end)`` wholly inside ``[first, last)``."""
    out = []
    start = date(first.year, first.month, 1)
    while True:
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        if start >= first and end <= last:
            out.append((start, end))
        if end >= last:
            return out
        start = end


def backtest(scopes: dict[str, dict[date, Decimal]]) -> list[Trial]:
    first = TODAY - timedelta(days=HISTORY) + timedelta(days=HISTORY_DAYS)
    trials = []
    for daily in scopes.values():
        for start, end in months(first, TODAY):
            truth = sum((v for d, v in daily.items() if start <= d < end), Decimal(0))
            if truth <= 0:
                continue
            for origin in ORIGINS:
                today = start + timedelta(days=origin)
                known = {d: v for d, v in daily.items() if d < today}
                forecast.clear_cache()
                t0 = time.perf_counter()
                f = forecast_period(known, today, start, end)
                seconds = time.perf_counter() - t0
                error = abs(float(f.expected_cents - truth)) / float(truth)
                inside = f.low_cents <= truth <= f.high_cents
                base, low, high = _baseline(known, today, start, end)
                trials.append(
                    Trial(
                        origin,
                        error,
                        inside,
                        f.method,
                        seconds,
                        abs(base - float(truth)) / float(truth),
                        low <= float(truth) <= high,
                    )
                )
    return trials


def _baseline(
    known: dict[date, Decimal], today: date, start: date, end: date
) -> tuple[float, float, float]:
    """The month's spend so far plus the engine's own run rate (the mean of the last 28
    complete days, its interval from their spread) for the days left: what a forecast must
    beat to be worth its model."""
    first = min(d for d, v in known.items() if v)
    since = max(first, today - timedelta(days=HISTORY_DAYS))
    history = tuple(
        known.get(since + timedelta(days=i), Decimal(0)) for i in range((today - since).days)
    )
    spent = float(sum((v for d, v in known.items() if start <= d < today), Decimal(0)))
    means, low, high = forecast._run_rate(history, (end - today).days, 0.0)
    return spent + sum(means), spent + low, spent + high


def budget_evaluation(scopes: dict[str, dict[date, Decimal]]) -> float:
    """Seconds to forecast ``BUDGETS`` distinct scopes fresh, one after the other (the series
    reused with a scale each, so no two histories are the same)."""
    names = list(scopes)
    histories = [
        {d: v * (1 + Decimal(i) / 1000) for d, v in scopes[names[i % len(names)]].items()}
        for i in range(BUDGETS)
    ]
    start = date(TODAY.year, TODAY.month, 1) - timedelta(days=1)
    month_start, month_end = date(start.year, start.month, 1), date(TODAY.year, TODAY.month, 1)
    today = month_start + timedelta(days=14)
    known = [{d: v for d, v in h.items() if d < today} for h in histories]
    forecast.clear_cache()
    t0 = time.perf_counter()
    for i, history in enumerate(known):
        forecast_period(history, today, month_start, month_end, cache_key=("bench", i))
    return time.perf_counter() - t0


def report(trials: list[Trial], evaluation: float) -> list[str]:
    lines = []
    for origin in ORIGINS:
        mine = [t for t in trials if t.origin == origin]
        errors = sorted(t.error for t in mine)
        mape = statistics.fmean(errors)
        coverage = sum(t.inside for t in mine) / len(mine)
        methods = ", ".join(
            f"{m} {sum(t.method == m for t in mine)}" for m in sorted({t.method for t in mine})
        )
        base_mape = statistics.fmean(t.baseline_error for t in mine)
        base_coverage = sum(t.baseline_inside for t in mine) / len(mine)
        mape_mark = "yes" if mape <= MAPE_TARGET else "NO"
        cover_mark = "yes" if COVERAGE[0] <= coverage <= COVERAGE[1] else "NO"
        lines.append(
            f"  day {origin:>2}: {len(mine)} forecasts ({methods}); MAPE {mape:.1%} "
            f"(target <= {MAPE_TARGET:.0%}: {mape_mark}); median {statistics.median(errors):.1%}, "
            f"worst {errors[-1]:.1%}; truth inside the 80 % interval {coverage:.0%} "
            f"(target {COVERAGE[0]:.0%}-{COVERAGE[1]:.0%}: {cover_mark}); the 28-day run rate "
            f"alone: MAPE {base_mape:.1%}, inside {base_coverage:.0%}; ETS / run rate "
            f"{mape / base_mape:.2f} x"
        )
    seconds = sorted(t.seconds for t in trials)
    p95 = seconds[min(len(seconds) - 1, round(0.95 * (len(seconds) - 1)))]
    lines.append(
        f"  one scope's forecast, fresh: p50 {statistics.median(seconds) * 1000:.1f} ms, p95 "
        f"{p95 * 1000:.1f} ms, worst {seconds[-1] * 1000:.1f} ms (target <= 100 ms: "
        f"{'yes' if p95 <= 0.1 else 'NO'})"
    )
    lines.append(
        f"  {BUDGETS} budgets' forecasts, fresh, one after the other: {evaluation:.2f} s "
        f"(the engine's part of an evaluation; target for all of it <= 1 s: "
        f"{'yes' if evaluation <= 1 else 'NO'})"
    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orgs", type=int, default=12, help="simulated organizations")
    parser.add_argument("--seed", type=int, default=40000, help="the first organization's seed")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    scopes = series(args.orgs, args.seed)
    importlib.import_module(forecast._ETS_MODULE)  # its import is not a forecast's time
    trials = backtest(scopes)
    evaluation = budget_evaluation(scopes)
    print(
        f"forecast backtest: {len(scopes)} series ({args.orgs} simulated organizations of seeds "
        f"{args.seed}+ and the demo one, each whole and its largest workspace), up to {TODAY}, "
        "rolling origin"
    )
    for line in report(trials, evaluation):
        print(line)
    print(f"  bench time: {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
