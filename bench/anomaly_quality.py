"""Anomaly detection quality and speed (issue 19): recall of injected spikes by size, false
alarms per 100 series-months, and the time to scan 20 organizations x 183 days x every series.

Simulated series: a weekly pattern (weekends at 20-70 % of weekdays), growth (-1 % to +4 % a
week), lognormal day-to-day noise (8-30 %), levels from $15 to $20,000 a day, over six months.
A third of the series are clean; the others get one spike (x2, x3 or x5, on a day after the
learning period) and some a level shift (x1.6 or x2.5 from a day to the end). A spike is found
when its own day is flagged; a level shift when one of its first three days is. False alarms:
flagged days that are neither a spike's day nor in the 28 days that follow a level shift's start
(where the detector adapts to the new level), per 100 series-months checked.

    python -m bench.anomaly_quality [--series 3000] [--seed 7] [--skip-scan]
"""

from __future__ import annotations

import argparse
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from app.finops.anomaly_detector import LEARNING_DAYS, detect

DAYS = 183
SPIKES = (2.0, 3.0, 5.0)
SHIFTS = (1.6, 2.5)
ADAPTING_DAYS = 28
# Lognormal day-to-day noise (sigma of log spend) of the series, drawn per series.
NOISE = (0.05, 0.25)
# Recall is also reported by noise band: a x3 spike on a series that varies by 25 % a day is
# within its own noise more often than on one that varies by 10 %.
NOISE_BANDS = ((0.05, 0.10), (0.10, 0.15), (0.15, 0.20), (0.20, 0.25))


@dataclass
class Simulated:
    spend: np.ndarray  # (series, days) in dollars
    noise: np.ndarray  # (series,) sigma of log spend
    spikes: list[tuple[int, int, float]]  # (series, day, multiplier)
    shifts: list[tuple[int, int, float]]  # (series, first day, multiplier)


def simulate(series: int, days: int, seed: int) -> Simulated:
    """``series`` daily spend series of ``days`` days, some with injected spikes and shifts."""
    rng = np.random.default_rng(seed)
    t = np.arange(days)
    level = np.exp(rng.uniform(np.log(15), np.log(20_000), series))[:, None]
    weekend = rng.uniform(0.2, 0.7, series)[:, None]
    weekday = np.where((t % 7)[None, :] >= 5, weekend, 1.0)
    growth = (1 + rng.uniform(-0.01, 0.04, series))[:, None] ** (t[None, :] / 7)
    sigma = rng.uniform(NOISE[0], NOISE[1], series)
    spend = level * weekday * growth * np.exp(rng.normal(0, sigma[:, None], (series, days)))
    spikes: list[tuple[int, int, float]] = []
    shifts: list[tuple[int, int, float]] = []
    for i in range(series):
        kind = i % 3
        if kind == 0:
            continue  # clean
        day = int(rng.integers(LEARNING_DAYS + 42, days - 5))
        size = SPIKES[(i // 3) % len(SPIKES)]
        spend[i, day] *= size
        spikes.append((i, day, size))
        if kind == 2:
            start = int(rng.integers(LEARNING_DAYS + 42, days - 10))
            if abs(start - day) > 3:
                shift = SHIFTS[(i // 3) % len(SHIFTS)]
                spend[i, start:] *= shift
                shifts.append((i, start, shift))
    return Simulated(spend, sigma, spikes, shifts)


def measure(sim: Simulated) -> dict[str, float]:
    """Recall per spike size and per shift size, and false alarms per 100 series-months."""
    series, days = sim.spend.shape
    found = detect(sim.spend, np.zeros(series, dtype=np.int64), 0).anomalous
    figures: dict[str, float] = {}
    excused = np.zeros_like(found)
    by_size: dict[float, list[bool]] = defaultdict(list)
    for i, day, size in sim.spikes:
        by_size[size].append(bool(found[i, day]))
        excused[i, day] = True
    for size, hits in sorted(by_size.items()):
        figures[f"recall x{size:g} spike"] = sum(hits) / len(hits)
    for low, high in NOISE_BANDS:
        for size in SPIKES:
            band = [
                bool(found[i, day])
                for i, day, s in sim.spikes
                if s == size and low <= sim.noise[i] < high
            ]
            if band:
                name = f"recall x{size:g} spike, noise {low:.0%}-{high:.0%}"
                figures[name] = sum(band) / len(band)
    by_shift: dict[float, list[bool]] = defaultdict(list)
    for i, start, size in sim.shifts:
        by_shift[size].append(bool(found[i, start : start + 3].any()))
        excused[i, start : start + ADAPTING_DAYS] = True
    for size, hits in sorted(by_shift.items()):
        figures[f"recall x{size:g} level shift (within 3 days)"] = sum(hits) / len(hits)
    checked_months = series * (days - LEARNING_DAYS) / 30.4
    false = int((found & ~excused).sum())
    figures["false alarms"] = false
    figures["false alarms per 100 series-months"] = 100 * false / checked_months
    clean = [i for i in range(series) if i % 3 == 0]
    clean_false = int(found[clean].sum())
    figures["false alarms on clean series per 100 series-months"] = (
        100 * clean_false / (len(clean) * (days - LEARNING_DAYS) / 30.4)
    )
    return figures


def scan_report(orgs: int = 20, days: int = DAYS) -> str:
    """The scan of ``orgs`` organizations' series (the organization, 12 workspaces, 14 models
    each) over ``days`` days through the product's scan (``app.finops.anomalies``) against a
    SQLite database seeded with their rollups: first, unchanged, after one organization's sync."""
    from bench.anomaly_scan import report, timed_scan

    return report(timed_scan(orgs, days), orgs, days)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--skip-scan", action="store_true")
    args = parser.parse_args(argv)
    sim = simulate(args.series, DAYS, args.seed)
    started = time.perf_counter()
    figures = measure(sim)
    elapsed = time.perf_counter() - started
    print(f"{args.series} simulated series x {DAYS} days (seed {args.seed})")
    for name, value in figures.items():
        print(f"  {name}: {value:.3f}" if isinstance(value, float) else f"  {name}: {value}")
    print(f"  detector time: {elapsed:.2f} s")
    if not args.skip_scan:
        print(scan_report())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
