"""What one `make bench` run collects and prints: its figures (a row of the table each), their
targets, the timing of a query, and the run's shared state (storage, scale, the figures and the
results written to bench/results/latest.json)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

QUERY_TARGET_MS = 250.0  # p95 of every dashboard query
DUCKDB_TARGET = 3.0  # x the same query in DuckDB (p50)
WORKER_TARGET_BYTES = 300 * 10**6
BACKFILL_TARGET = 1.3  # x the floor: critical-path requests x (latency + the simulator's answer)
INGEST_TARGET = 0.5  # x the fastest plain bulk load of the database
SAMPLES = 30  # timed runs of each query figure, after its first (cold) call

# The bench's "today": the last day of the bench data and the day month to date ends, fixed so
# no figure depends on the day the bench runs (month to date is 17 days on every run). The
# pages are rendered with the product's clock pinned to it (``pinned_today``).
BENCH_TODAY = date(2026, 6, 17)


@contextmanager
def pinned_today(day: date) -> Iterator[None]:
    """The product's ``app.clock.today`` answers ``day`` inside the block, for the pages
    rendered in this process (pages import it at each run; the filter bar reads it at the
    call)."""
    import app.clock

    saved = app.clock.today
    app.clock.today = lambda: day
    try:
        yield
    finally:
        app.clock.today = saved


def load_average() -> str:
    """The machine's 1, 5 and 15 minute load averages, and its cores."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


@dataclass
class Timing:
    """One query figure's times in milliseconds: its first call in this process (cold) and
    the median and 95th percentile of the ``samples`` warm calls after it."""

    cold: float
    p50: float
    p95: float
    samples: int


def timed(fn: Callable[[], Any], repeat: int) -> Timing:
    """The first call of ``fn`` (cold: nothing of it prepared or cached yet in this process)
    and ``repeat`` warm calls after it."""
    t0 = time.perf_counter()
    fn()
    cold = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return Timing(cold, statistics.median(samples), percentile(samples, 0.95), len(samples))


def percentile(ordered: list[float], q: float) -> float:
    """The nearest-rank ``q`` quantile of sorted values."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Figure:
    """One row of the table: what was measured, against what, and whether the target is met."""

    name: str
    value: str
    unit: str = ""
    comparison: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None

    def cells(self) -> list[str]:
        ratio = "" if self.ratio is None else f"{self.ratio:,.2f} x"
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return [self.name, self.value, self.unit, self.comparison, ratio, self.target, met]


def print_table(figures: list[Figure]) -> None:
    header = ["figure", "value", "unit", "comparison", "ratio", "target", "met?"]
    rows = [header] + [f.cells() for f in figures]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    right = {1, 4}  # numbers line up on the right
    for n, row in enumerate(rows):
        cells = [
            c.rjust(w) if i in right else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if n == 0:
            print("  ".join("-" * w for w in widths))


def ms(value: float) -> str:
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


@dataclass
class BenchRun:
    """What every part of the bench works on (the storage, the scale, the bench data's days) and
    what it adds to: the table's figures and the results written to latest.json."""

    engine: Any
    settings: Any
    scale: str
    orgs: int
    days: int
    per_day: int
    today: date
    first: date
    work: Path  # logs of the worker and the web server
    skip: set[str]  # parts left out (--skip)
    results: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    # The queries whose DuckDB answer differed from the product's (the bench then fails).
    differences: list[str] = field(default_factory=list)
