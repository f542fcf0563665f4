"""The six-month backfill of `make bench`, run by a real `finops worker` child process.

The simulated organization is widened to the bench's largest organization (as many usage rows a
day as each bench organization has), the simulator answers over HTTP on loopback after a fixed
latency, and the worker is a separate process started with the same settings. Its wall time is
the sync run's own (started_at to finished_at in ``sync_run``: no process start-up or dispatch
delay), its request count is what the simulator received, and its peak memory is the kernel's
(VmHWM of that process from /proc, read after its run ended and before it is stopped; ``wait4``'s
``ru_maxrss`` where /proc is missing).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select

from app.db import read_session
from app.models import SyncRun
from app.simulator import RecordedRequest, Simulator
from app.simulator.world import LONG_CONTEXT_MODEL, MODELS, TIERS, UsageTruth

SYNTHETIC_KEYS = 500
CONCURRENT_ROUTE = "claude_code"  # the one report whose days the worker fetches at once


@dataclass
class Floor:
    """The critical path of a backfill: every route's requests in series (the sync fetches one
    dataset after another, each a cursor series) except the Claude Code days, ``concurrency``
    at a time (each day its own request series). A request on it costs the latency plus the
    simulator's own time answering it (``RecordedRequest.seconds``: building and encoding a
    page of a large organization's week takes the simulator up to 0.6 s, which no client
    could save)."""

    per_route: dict[str, int]  # requests received per route, in first-arrival order
    days: int  # Claude Code days (request series)
    concurrency: int  # ingest.sources.console.CLAUDE_CODE_FETCHERS
    concurrent_path: int  # Claude Code's share of the critical path, in requests
    path: int  # the whole critical path, in requests
    answer_seconds: float  # the simulator's own time on the critical path

    def seconds(self, latency: float) -> float:
        return self.path * latency + self.answer_seconds

    def derivation(self, latency: float) -> str:
        routes = self.per_route.items()
        serial = [f"{route} {n}" for route, n in routes if route != CONCURRENT_ROUTE]
        parts = " + ".join(serial) + " in series" if serial else ""
        code = self.per_route.get(CONCURRENT_ROUTE, 0)
        if code:
            parts += (
                f"{', ' if parts else ''}{CONCURRENT_ROUTE} {code} over {self.days} days, "
                f"{self.concurrency} at a time = {self.concurrent_path}"
            )
        return (
            f"{parts} -> {self.path} requests x {latency:g} s = {self.path * latency:.1f} s "
            f"+ the simulator's answering on that path {self.answer_seconds:.1f} s "
            f"= {self.seconds(latency):.1f} s"
        )


def critical_path(recorded: list[RecordedRequest], concurrency: int, latency: float) -> Floor:
    """The floor of a backfill from what the simulator received: the Claude Code day series
    scheduled on ``concurrency`` fetchers in day order (each takes the next day as it frees,
    the most any scheduler of that concurrency could overlap), everything else in series;
    each request costs ``latency`` plus the simulator's time answering it."""
    per_route: dict[str, int] = {}
    series: dict[str, list[RecordedRequest]] = {}  # Claude Code requests per day (starting_at)
    serial_answer = 0.0
    for r in recorded:
        per_route[r.route] = per_route.get(r.route, 0) + 1
        if r.route == CONCURRENT_ROUTE:
            series.setdefault(dict(r.params).get("starting_at", ""), []).append(r)
        else:
            serial_answer += r.seconds
    # When each fetcher is next free: (seconds, requests, the simulator's seconds in them).
    free = [(0.0, 0, 0.0)] * max(1, concurrency)
    for day in sorted(series):
        n = free.index(min(free))
        took, count, answer = free[n]
        day_answer = sum(r.seconds for r in series[day])
        free[n] = (
            took + len(series[day]) * latency + day_answer,
            count + len(series[day]),
            answer + day_answer,
        )
    _, concurrent_path, concurrent_answer = max(free) if series else (0.0, 0, 0.0)
    serial = sum(n for route, n in per_route.items() if route != CONCURRENT_ROUTE)
    return Floor(
        per_route,
        len(series),
        concurrency,
        concurrent_path,
        serial + concurrent_path,
        serial_answer + concurrent_answer,
    )


def widen(sim: Simulator, org_id: str, rows_per_day: int) -> None:
    """Make ``org_id`` report ``rows_per_day`` distinct usage rows every day (its cost report
    follows from them, as the simulator prices usage); other organizations are unchanged.

    Every day is generated here, before any timing: the simulator answers in the bench's own
    process on the same cores, and generating a wide day takes about 11 ms, twice a day (usage
    and cost), which would otherwise sit inside each timed request on top of its latency
    while the floor counts the latency only."""
    world = sim.world
    original = world.usage
    org = world.orgs[org_id]
    keys = [f"apikey_01Bench{i:09d}" for i in range(SYNTHETIC_KEYS)]
    model_weights = [m.weight for m in MODELS]
    tiers, tier_weights = [t for t, _ in TIERS], [w for _, w in TIERS]

    made: dict[date, list[UsageTruth]] = {}

    def usage(oid: str, day: date) -> list[UsageTruth]:
        if oid != org_id:
            return original(oid, day)
        if day not in made:
            made[day] = generate(day)
        return list(made[day])

    def generate(day: date) -> list[UsageTruth]:
        if day < world.first_day or day > world.today:
            return []
        rng = random.Random(f"bench-wide:{org.seed}:{day.isoformat()}")
        live = [w.id for w in org.workspaces if w.live_on(day)] or [None]
        rows: dict[tuple[Any, ...], UsageTruth] = {}
        attempts = 0
        while len(rows) < rows_per_day and attempts < rows_per_day * 20:
            attempts += 1
            n = rng.randrange(SYNTHETIC_KEYS + 20)
            key = keys[n] if n < SYNTHETIC_KEYS else None  # some Console (no key) usage
            workspace = live[n % len(live)] if key else rng.choice([None, *live])
            model = rng.choices(MODELS, weights=model_weights)[0]
            tier = rng.choices(tiers, weights=tier_weights)[0]
            long = model.id == LONG_CONTEXT_MODEL and rng.random() < 0.3
            # Distinct in the five dimensions the sync groups by (geo follows the model).
            dims = (key, workspace, model.id, tier, "200k-1M" if long else "0-200k")
            if dims in rows:
                continue
            requests = max(1, rng.randint(5, 400) // (10 if long else 1))
            prompt = rng.randint(220_000, 600_000) if long else rng.randint(300, 6_000)
            rows[dims] = UsageTruth(
                day,
                *dims,
                "global" if model.geo else "not_available",
                requests * prompt,
                requests * rng.randint(0, 3_000) if rng.random() < 0.5 else 0,
                requests * rng.randint(0, 2_000) if rng.random() < 0.25 else 0,
                requests * rng.randint(0, 30_000) if rng.random() < 0.6 else 0,
                requests * rng.randint(80, 1_500),
                rng.randint(1, requests // 4 + 1) if rng.random() < 0.12 else 0,
            )
        return list(rows.values())

    world.usage = usage  # type: ignore[method-assign]
    day = world.first_day
    while day <= world.today:
        world.cost(org_id, day)  # generates (and keeps) the day's usage, and prices it
        day += timedelta(days=1)


@dataclass
class WorkerBackfill:
    seconds: float  # the sync run's own wall time
    requests: int
    recorded: list[RecordedRequest]  # what the simulator received, in arrival order
    outcome: str
    pages: int
    rows: int
    peak_rss_bytes: int
    peak_rss_source: str
    # wait4's ru_maxrss counts the pages the child shared with this (large) bench process
    # between fork and exec, so it overstates the worker: kept for reference only.
    ru_maxrss_bytes: int
    process_seconds: float  # from spawn to the end of the run, start-up included
    log_tail: str


def finops_command() -> list[str]:
    script = Path(sys.executable).with_name("finops")
    return [str(script)] if script.exists() else [sys.executable, "-c", _CLI]


_CLI = "import sys; from app.cli import main; sys.exit(main(sys.argv[1:]))"


def _vm_hwm(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_worker_backfill(
    engine: Engine,
    org_pk: int,
    sim: Simulator,
    base_url: str,
    log_path: Path,
    timeout: float,
) -> WorkerBackfill:
    """Start `finops worker`, wait for its backfill run of ``org_pk`` to finish, stop it with
    SIGTERM and read its peak RSS. Raises RuntimeError if it dies or times out."""
    env = {
        **os.environ,
        "FINOPS_ANTHROPIC_BASE_URL": base_url,
        "FINOPS_DISPATCH_SECONDS": "0.5",
        "PYTHONUNBUFFERED": "1",
    }
    sim.reset_requests()
    log = log_path.open("wb")
    spawned = time.perf_counter()
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(
        [*finops_command(), "worker"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root
    )
    hwm = 0
    usage: Any = None
    run: Any = None
    recorded: list[RecordedRequest] = []
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                raise RuntimeError(f"the worker exited early with code {proc.returncode}")
            hwm = max(hwm, _vm_hwm(proc.pid))
            with read_session(engine) as session:
                run = session.execute(
                    select(
                        SyncRun.started_at,
                        SyncRun.finished_at,
                        SyncRun.outcome,
                        SyncRun.pages,
                        SyncRun.rows,
                    )
                    .where(SyncRun.organization_pk == org_pk, SyncRun.finished_at.is_not(None))
                    .order_by(SyncRun.id)
                    .limit(1)
                ).one_or_none()
            if run is not None:
                break
            time.sleep(0.2)
        else:
            raise RuntimeError(f"no finished backfill run after {timeout:.0f} s")
        process_seconds = time.perf_counter() - spawned
        recorded = list(sim.requests)
        requests = len(recorded)
        hwm = max(hwm, _vm_hwm(proc.pid))
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            stop_by = time.monotonic() + 60
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                if time.monotonic() > stop_by:
                    proc.kill()
                    _, status, usage = os.wait4(proc.pid, 0)
                    proc.returncode = os.waitstatus_to_exitcode(status)
                    break
                time.sleep(0.1)
        log.close()
    assert run is not None and run.finished_at is not None and usage is not None
    tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-5:])
    return WorkerBackfill(
        seconds=(run.finished_at - run.started_at).total_seconds(),
        requests=requests,
        recorded=recorded,
        outcome=run.outcome,
        pages=run.pages,
        rows=run.rows,
        peak_rss_bytes=hwm or usage.ru_maxrss * 1024,  # Linux reports KiB
        peak_rss_source="VmHWM (/proc)" if hwm else "wait4 ru_maxrss",
        ru_maxrss_bytes=usage.ru_maxrss * 1024,
        process_seconds=process_seconds,
        log_tail=tail,
    )
