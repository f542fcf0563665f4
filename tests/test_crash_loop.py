"""The worker and `finops sync` killed with SIGKILL at random points, over and over, while the
API misbehaves (429 with retry-after, 5xx, truncated bodies, dropped and hung connections).

After every kill, whatever lies before a dataset's sync position is exactly the API's data for
those days (the position is never ahead of the data), and the daily rollups, the API keys'
running totals and the filter values agree with the detail rows (they are written in the same
transaction). At the end, the detail and the dashboard's totals equal the ground truth to the
cent and the token, with no duplicate rows.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, update

from app.clock import today
from app.datasets import Dataset, spec_of
from app.db import read_session, write_session
from app.models import (
    USAGE_MEASURES,
    CostDaily,
    CostLine,
    DimensionValue,
    KeyTokensToDate,
    Organization,
    SyncState,
    UsageBucket,
    UsageDaily,
)
from app.reports.filters import Filters
from app.reports.spend import total_cents
from app.settings import Settings
from app.simulator import Simulator
from app.simulator import faults as sim_faults
from app.store import FILTER_DIMENSIONS
from tests.test_rollups import both_ways
from tests.utils.factories import (
    connect_org,
    org_pk,
    stored_cost,
    stored_usage,
    sync_engine,
    truth_cost,
    truth_usage,
)
from tests.utils.processes import FINOPS, start_worker, wait_for
from tests.utils.rollups import assert_economics_equals_the_detail

pytestmark = pytest.mark.slow
KILLS = 6
# A hung answer is abandoned after a second; a request may meet several faults in a row (each
# new process meets the faults the killed one left armed) and still succeed.
CHILD_ENV = {"FINOPS_HTTP_TIMEOUT_SECONDS": "1", "FINOPS_MAX_RETRIES": "8"}
# One fault armed before each killed process starts (the rest before the last one), for the
# next request to its route (kind, retry-after, route): mostly the report pages, inside a window.
FAULTS: list[tuple[str, float | None, str]] = [
    ("429", 1, "usage_report"),
    ("500", None, "cost_report"),
    ("truncated", None, "usage_report"),
    ("hang", None, "cost_report"),
    ("503", None, "*"),
    ("reset", None, "usage_report"),
    ("529", None, "cost_report"),
    ("504", None, "cost_report"),
]


@pytest.fixture(autouse=True)
def fast_dispatch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FINOPS_DISPATCH_SECONDS", "0.2")
    monkeypatch.setattr(sim_faults, "HANG_SECONDS", 2.5)  # > the children's 1 s timeout


def start_sync(log_path: Path) -> subprocess.Popen[bytes]:
    """`finops sync` as an operator runs it, every organization in turn."""
    handle = log_path.open("ab")
    return subprocess.Popen(
        [FINOPS, "sync"], stdout=handle, stderr=subprocess.STDOUT, env=child_env()
    )


def child_env() -> dict[str, str]:
    return {**os.environ, **CHILD_ENV}


def kill(process: subprocess.Popen[bytes]) -> bool:
    """SIGKILL; whether it was still running (a `finops sync` may have finished already)."""
    process.send_signal(signal.SIGKILL)
    return process.wait(timeout=10) == -signal.SIGKILL


def status(engine: Engine, pk: int) -> str:
    with read_session(engine) as session:
        return str(
            session.execute(select(Organization.status).where(Organization.id == pk)).scalar_one()
        )


def assert_position_not_ahead(engine: Engine, sim: Simulator, organization_id: str) -> int:
    """Every day before the cost and usage positions is stored exactly as the API has it.
    Returns how many open windows with stored days there were to check."""
    pk = org_pk(engine, organization_id)
    with read_session(engine) as session:
        states = list(
            session.execute(select(SyncState).where(SyncState.organization_pk == pk)).scalars()
        )
    checked = 0
    for state in states:
        if state.window_start is None or state.position is None:
            continue
        if state.position <= state.window_start:
            continue  # nothing stored in this window yet: nothing to compare
        start, position = state.window_start, state.position
        if state.dataset == "cost":
            checked += 1
            truth_c: dict[date, Decimal] = defaultdict(Decimal)
            for row in sim.truth_cost(organization_id, start, position):
                truth_c[row.date] += row.amount_cents
            assert cost_by_day(engine, pk, start, position) == {
                d: v for d, v in truth_c.items() if v
            }
        elif state.dataset == "usage":
            checked += 1
            stored_u = {
                k: v
                for k, v in stored_usage(engine, organization_id).items()
                if start <= k[0] < position and any(v)
            }
            assert stored_u == truth_usage(sim, organization_id, start, position)
    return checked


def cost_by_day(engine: Engine, pk: int, start: date, end: date) -> dict[date, Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(CostLine.date, func.sum(CostLine.amount_cents))
            .where(CostLine.organization_pk == pk, CostLine.date >= start, CostLine.date < end)
            .group_by(CostLine.date)
        )
        return {d: Decimal(v) for d, v in rows if Decimal(v)}


def rollup_dims(dataset: Dataset) -> Mapping[str, str]:
    """The registry's rollup dimensions of ``dataset`` and the detail column of each."""
    rollup = spec_of(dataset).rollup
    assert rollup is not None
    return rollup.dims


def assert_rollups_match_detail(engine: Engine, pk: int) -> None:
    """``cost_daily`` and ``usage_daily`` are the detail rows summed by each dimension (the
    compound one of unit economics too), with one row per day and value; ``key_tokens_to_date`` is each API key's running total of tokens on
    every day it has usage; ``dimension_value`` lists every value the detail rows hold."""
    org = [CostLine.organization_pk == pk]
    with read_session(engine) as session:
        for dim, column in rollup_dims(Dataset.COST).items():
            by = getattr(CostLine, column)
            detail = {
                (d, v): Decimal(a)
                for d, v, a in session.execute(
                    select(CostLine.date, by, func.sum(CostLine.amount_cents))
                    .where(*org)
                    .group_by(CostLine.date, by)
                )
            }
            rolled = [
                ((d, v), Decimal(a))
                for d, v, a in session.execute(
                    select(CostDaily.date, CostDaily.value, CostDaily.amount_cents).where(
                        CostDaily.organization_pk == pk, CostDaily.dim == dim
                    )
                )
            ]
            assert len(rolled) == len(dict(rolled)), ("cost_daily has a doubled row", dim)
            assert dict(rolled) == detail, ("cost_daily", dim)
        sums = [func.sum(getattr(UsageBucket, m)) for m in USAGE_MEASURES]
        for dim, column in rollup_dims(Dataset.USAGE).items():
            by = getattr(UsageBucket, column)
            detail_u = {
                (r[0], r[1]): tuple(int(x) for x in r[2:])
                for r in session.execute(
                    select(UsageBucket.date, by, *sums)
                    .where(UsageBucket.organization_pk == pk)
                    .group_by(UsageBucket.date, by)
                )
            }
            rolled_u = [
                ((r[0], r[1]), tuple(int(x) for x in r[2:]))
                for r in session.execute(
                    select(
                        UsageDaily.date,
                        UsageDaily.value,
                        *(getattr(UsageDaily, m) for m in USAGE_MEASURES),
                    ).where(UsageDaily.organization_pk == pk, UsageDaily.dim == dim)
                )
            ]
            assert len(rolled_u) == len(dict(rolled_u)), ("usage_daily has a doubled row", dim)
            assert dict(rolled_u) == detail_u, ("usage_daily", dim)
        # The compound dimension behind unit economics (of every organization: others are
        # left as they were).
        assert_economics_equals_the_detail(engine)

        tokens = [m for m in USAGE_MEASURES if m.endswith("_tokens")]
        per_key: dict[str, list[tuple[date, int]]] = defaultdict(list)
        for key, day, *values in session.execute(
            select(
                UsageBucket.api_key_id,
                UsageBucket.date,
                *(func.sum(getattr(UsageBucket, m)) for m in tokens),
            )
            .where(UsageBucket.organization_pk == pk)
            .group_by(UsageBucket.api_key_id, UsageBucket.date)
        ):
            per_key[key or ""].append((day, sum(int(v) for v in values)))
        expected: dict[tuple[str, date], int] = {}
        for key, days in per_key.items():
            running = 0
            for day, used in sorted(days):
                running += used
                expected[(key, day)] = running
        totals = {
            (k, d): int(t)
            for k, d, t in session.execute(
                select(KeyTokensToDate.api_key, KeyTokensToDate.date, KeyTokensToDate.tokens).where(
                    KeyTokensToDate.organization_pk == pk
                )
            )
        }
        assert totals == expected, "key_tokens_to_date is not the running total of the detail"

        listed = set(
            session.execute(
                select(DimensionValue.kind, DimensionValue.value).where(
                    DimensionValue.organization_pk == pk
                )
            ).all()
        )
        needed = {("api_key", key) for key in per_key}
        for dataset, model in (("cost", CostLine), ("usage", UsageBucket)):
            for kind, column in FILTER_DIMENSIONS[dataset].items():
                values = session.execute(
                    select(getattr(model, column))
                    .where(model.organization_pk == pk)  # type: ignore[attr-defined]
                    .distinct()
                ).scalars()
                needed |= {(kind, (v or "")[:400]) for v in values}
        assert needed <= listed, ("filter values missing", sorted(needed - listed)[:5])


def assert_exact(engine: Engine, sim: Simulator, organization_id: str) -> None:
    """Detail, rollups and the dashboard's numbers equal Anthropic's, with no doubled row."""
    pk = org_pk(engine, organization_id)
    with read_session(engine) as session:
        start = session.execute(
            select(Organization.backfill_start).where(Organization.id == pk)
        ).scalar_one()
        cost_rows = session.execute(
            select(func.count()).select_from(CostLine).where(CostLine.organization_pk == pk)
        ).scalar_one()
        usage_rows = session.execute(
            select(func.count()).select_from(UsageBucket).where(UsageBucket.organization_pk == pk)
        ).scalar_one()
    end = today() + timedelta(days=1)
    truth_c = truth_cost(sim, organization_id, start, end)
    assert stored_cost(engine, organization_id) == truth_c
    stored_u = {k: v for k, v in stored_usage(engine, organization_id).items() if any(v)}
    assert stored_u == truth_usage(sim, organization_id, start, end)
    assert cost_rows == len(sim.truth_cost(organization_id, start, end))  # no duplicates
    # Usage rows are stored merged by the dimensions asked for, fewer than the simulator's
    # finest rows: no two may share their dimensions.
    assert usage_rows and not doubled_usage_rows(engine, pk)
    assert_rollups_match_detail(engine, pk)
    # What a person reads: the dashboard's total (from the rollups) and every grouping of it.
    everything = Filters(start, end, (organization_id,))
    assert total_cents(engine, everything) == sum(truth_c.values())
    both_ways(engine, everything)


def doubled_usage_rows(engine: Engine, pk: int) -> list[Any]:
    dims = [
        UsageBucket.date,
        UsageBucket.api_key_id,
        UsageBucket.workspace_id,
        UsageBucket.model,
        UsageBucket.service_tier,
        UsageBucket.context_window,
        UsageBucket.inference_geo,
        UsageBucket.product,
        UsageBucket.extra,
    ]
    with read_session(engine) as session:
        return list(
            session.execute(
                select(*dims, func.count())
                .where(UsageBucket.organization_pk == pk)
                .group_by(*dims)
                .having(func.count() > 1)
            )
        )


@pytest.mark.default_backfill  # six months: long enough for every kill to land mid-backfill
def test_kills_of_the_worker_and_finops_sync_through_faults_lose_nothing(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    http_sim.reset_requests()
    # Two lists, then six usage and five cost pages: the worker is killed after storing two
    # pages, `finops sync` after its first page was answered (never two: the delay before the
    # kill is shorter than a request), so the kills reach into the cost pages, yet never
    # let the backfill finish.
    http_sim.latency = 0.35
    rng = random.Random(20261126)
    log = tmp_path / "children.log"

    kills = syncs_killed_running = windows_checked = 0
    while kills < KILLS and status(engine, pk) != "healthy":
        kind, retry_after, route = FAULTS[kills]
        http_sim.inject(kind, route=route, count=1, retry_after=retry_after)
        # The worker is killed in a request, `finops sync` while it reads or stores a page.
        if kills % 2:
            ready = page_answered(http_sim)
            syncs_killed_running += kill_mid_run(start_sync(log), ready, rng)
        else:
            ready = page_stored(engine, pk)
            kill_mid_run(start_worker(log, env=CHILD_ENV), ready, rng)
        kills += 1
        windows_checked += assert_position_not_ahead(engine, http_sim, org.id)
        assert_rollups_match_detail(engine, pk)
    assert kills == KILLS, f"the backfill finished after {kills} kills; make it slower"
    assert windows_checked >= KILLS // 2, "few kills landed inside a sync window with data"
    assert syncs_killed_running >= KILLS // 4, "`finops sync` mostly finished before its kill"

    http_sim.latency = 0.0
    for kind, retry_after, route in FAULTS[KILLS:]:  # the last process meets the others
        http_sim.inject(kind, route=route, count=1, retry_after=retry_after)
    worker = start_worker(log, env=CHILD_ENV)
    try:
        healthy = wait_for(lambda: status(engine, pk) == "healthy", timeout=90)
        assert healthy, log.read_text()[-3000:]
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    # The faults really happened: every one was served (to a killed process or a later one).
    assert all(f.remaining == 0 for f in http_sim.api.faults)
    assert {f.kind for f in http_sim.api.faults} == {kind for kind, _, _ in FAULTS}
    statuses = Counter(r.status for r in http_sim.requests)
    assert statuses[429] and statuses[500] and statuses[529], statuses
    assert_exact(engine, http_sim, org.id)


def kill_mid_run(
    process: subprocess.Popen[bytes], ready: Callable[[], bool], rng: random.Random
) -> bool:
    """SIGKILL the process a moment after ``ready`` (or its exit); whether it was still
    running."""
    wait_for(lambda: ready() or process.poll() is not None, timeout=15)
    time.sleep(rng.uniform(0.0, 0.3))
    return kill(process)


def page_answered(sim: Simulator) -> Callable[[], bool]:
    """Ready once the API answered the new process's first report page: the kill lands while
    it reads or stores that page."""
    seen = len(sim.requests)

    def ready() -> bool:
        # From this process's first request on (every run starts with the workspace list): a
        # request of the killed process may still be answered after its death.
        mine = sim.requests[seen:]
        first = next((i for i, r in enumerate(mine) if r.route == "workspaces"), len(mine))
        return any(
            r.route in ("usage_report", "cost_report") and r.status == 200 for r in mine[first:]
        )

    return ready


def page_stored(engine: Engine, pk: int, pages: int = 2) -> Callable[[], bool]:
    """Ready once the new process stored ``pages`` pages of the backfill: the kill lands in
    the next request, with stored days before the position to check."""
    seen = [backfill_progress(engine, pk)]

    def ready() -> bool:
        now = backfill_progress(engine, pk)
        if now > seen[-1]:  # pages are a request (0.35 s) apart: polling sees each one
            seen.append(now)
        return len(seen) > pages

    return ready


def backfill_progress(engine: Engine, pk: int) -> float:
    with read_session(engine) as session:
        return float(
            session.execute(
                select(Organization.backfill_progress).where(Organization.id == pk)
            ).scalar_one()
        )


def test_kills_during_the_trailing_window_replacement(
    http_sim: Simulator, engine: Engine, settings: Settings, tmp_path: Path
) -> None:
    """Upstream revised the last days; the worker and `finops sync` re-reading them are killed
    again and again: the replaced days' rollups and running totals follow the detail."""
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    assert sync_engine(http_sim, engine, settings).run(pk).outcome == "ok"  # the backfill
    http_sim.revise(org.id, days=2)

    def make_due() -> None:
        with write_session(engine) as session:
            session.execute(
                update(Organization).where(Organization.id == pk).values(next_run_at=None)
            )

    http_sim.latency = 0.3  # a few requests per run: the kills land inside the replacement
    rng = random.Random(3)
    log = tmp_path / "children.log"
    for i in range(3):
        kind, retry_after, route = FAULTS[i * 2]
        http_sim.inject(kind, route=route, count=1, retry_after=retry_after)
        make_due()  # a worker runs it now (`finops sync` always does)
        ready = page_answered(http_sim)
        process = start_sync(log) if i % 2 else start_worker(log, env=CHILD_ENV)
        assert kill_mid_run(process, ready, rng), "the run ended before its kill"
        assert_rollups_match_detail(engine, pk)
    http_sim.latency = 0.0
    http_sim.clear_faults()  # the first test covers the faults' retries; this one, the kills
    make_due()
    worker = start_worker(log, env=CHILD_ENV)
    try:

        def replaced() -> bool:
            start = months_back_of(engine, pk)
            return stored_cost(engine, org.id) == truth_cost(
                http_sim, org.id, start, today() + timedelta(days=1)
            )

        assert wait_for(replaced, timeout=60, interval=0.5), log.read_text()[-2000:]
        assert wait_for(lambda: status(engine, pk) == "healthy", timeout=30)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)
    assert_exact(engine, http_sim, org.id)


def months_back_of(engine: Engine, pk: int) -> date:
    with read_session(engine) as session:
        return session.execute(
            select(Organization.backfill_start).where(Organization.id == pk)
        ).scalar_one()
