"""How fast the simulator generates an organization: 200 days of usage and cost, from cold.

Every test and the demo build organizations this way, so this figure bounds their setup time.
It was a `< 1 s` assertion in the tests, which a busy shared machine made flaky: here it is a
figure, the median of several runs (each on a fresh simulator, so nothing comes from its cache).

    .venv/bin/python bench/simulator_speed.py [--runs 7] [--days 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

TODAY = date(2026, 11, 26)  # a fixed day: the same data, so runs compare across commits
HISTORY_DAYS = 200
RUNS = 7


def generate_once(days: int = HISTORY_DAYS) -> float:
    """Seconds to generate every usage and cost row of a fresh ``days``-day organization."""
    from app.simulator import Simulator

    sim = Simulator(today=TODAY, history_days=days)
    org = sim.add_org(seed=99)
    window = (TODAY - timedelta(days=days), TODAY + timedelta(days=1))
    started = time.perf_counter()
    sim.truth_usage(org.id, *window)
    sim.truth_cost(org.id, *window)
    return time.perf_counter() - started


def median_seconds(runs: int = RUNS, days: int = HISTORY_DAYS) -> float:
    """The median of ``runs`` generations of a fresh ``days``-day organization, in seconds."""
    return statistics.median(generate_once(days) for _ in range(max(runs, 1)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="generations to take the median of")
    parser.add_argument("--days", type=int, default=HISTORY_DAYS, help="days of history")
    args = parser.parse_args(argv)
    runs = max(args.runs, 1)
    seconds = median_seconds(runs, args.days)
    print(
        f"simulator: a {args.days}-day organization generated in {seconds * 1000:,.0f} ms "
        f"(median of {runs} run{'' if runs == 1 else 's'})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
