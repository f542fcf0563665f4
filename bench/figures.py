"""What one `make bench` run collects and prints: its figures (a row of the table each), their
targets, the timing of a query, and the run's shared state (storage, scale, the figures and the
results written to bench/results/latest.json)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

QUERY_TARGET_MS = 250.0  # p95 of every dashboard query
DUCKDB_TARGET = 3.0  # x the same query in DuckDB (p50)
WORKER_TARGET_BYTES = 300 * 10**6
BACKFILL_TARGET = 1.3  # x the floor requests x latency
INGEST_TARGET = 0.5  # x a plain bulk insert


def timed(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """(p50, p95) in milliseconds of ``repeat`` runs after one untimed run (which reads the
    pages from disk into the OS cache, as a dashboard in use has them)."""
    fn()
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95


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
