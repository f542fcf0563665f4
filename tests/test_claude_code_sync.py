"""The Claude Code report of Console organizations: per actor and day equal to the API's,
idempotent re-sync, and never mixed into billed spend."""

from __future__ import annotations

import csv
import io
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from app.anthropic.admin import AdminClient
from app.anthropic.errors import RateLimited
from app.clock import today
from app.db import read_session, write_session
from app.models import ClaudeCodeDay, CostLine
from app.reports.export import export_csv
from app.settings import Settings
from app.simulator import Simulator
from ingest.sources.console import CLAUDE_CODE_FETCHERS
from tests.utils.factories import connect_org, org_pk, sync_engine


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """These tests are about the Claude Code report: switch it on (conftest turns it off)."""
    monkeypatch.setenv("FINOPS_CLAUDE_CODE", "true")
    return settings.model_copy(update={"claude_code": True})


def truth_by_actor_day(sim: Simulator, org_id: str, start: date, end: date) -> dict[Any, tuple]:
    totals: dict[tuple[date, str], list[Any]] = defaultdict(lambda: [0, 0, 0, 0, 0, Decimal(0)])
    day = start
    while day < end:
        for record in sim.truth_claude_code(org_id, day):
            actor = record["actor"]
            name = actor.get("email_address") or actor.get("api_key_name")
            core = record["core_metrics"]
            acc = totals[(day, name)]
            acc[0] += core["num_sessions"]
            acc[1] += core["lines_of_code"]["added"]
            acc[2] += core["lines_of_code"]["removed"]
            acc[3] += core["commits_by_claude_code"]
            acc[4] += core["pull_requests_by_claude_code"]
            acc[5] += sum(Decimal(m["estimated_cost"]["amount"]) for m in record["model_breakdown"])
        day += timedelta(days=1)
    return {k: tuple(v) for k, v in totals.items()}


def stored_by_actor_day(engine: Engine, pk: int) -> dict[Any, tuple]:
    with read_session(engine) as session:
        rows = session.execute(
            select(
                ClaudeCodeDay.date,
                ClaudeCodeDay.actor,
                func.sum(ClaudeCodeDay.sessions),
                func.sum(ClaudeCodeDay.lines_added),
                func.sum(ClaudeCodeDay.lines_removed),
                func.sum(ClaudeCodeDay.commits),
                func.sum(ClaudeCodeDay.pull_requests),
                func.sum(ClaudeCodeDay.estimated_cost_cents),
            )
            .where(ClaudeCodeDay.organization_pk == pk)
            .group_by(ClaudeCodeDay.date, ClaudeCodeDay.actor)
        )
        return {
            (r[0], r[1]): (int(r[2]), int(r[3]), int(r[4]), int(r[5]), int(r[6]), Decimal(r[7]))
            for r in rows
        }


def test_claude_code_per_actor_and_day_equals_the_api(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    with read_session(engine) as session:
        from app.models import Organization

        start = session.get(Organization, pk).backfill_start  # type: ignore[union-attr]
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    stored = stored_by_actor_day(engine, pk)
    truth = truth_by_actor_day(sim, org.id, start, today() + timedelta(days=1))
    assert stored == truth
    assert len(stored) > 100  # a real six months of actors, not an empty report

    # A second sync changes nothing; the estimate never reaches billed spend.
    with read_session(engine) as session:
        spend = session.execute(select(func.sum(CostLine.amount_cents))).scalar_one()
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    assert stored_by_actor_day(engine, pk) == stored
    with read_session(engine) as session:
        assert session.execute(select(func.sum(CostLine.amount_cents))).scalar_one() == spend

    out = io.StringIO()
    export_csv(engine=engine, dataset="claude_code", out=out, organization_id=org.id)
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert sum(int(r["sessions"]) for r in rows) == sum(v[0] for v in truth.values())
    assert sum(Decimal(r["estimated_cost_usd"]) for r in rows) * 100 == sum(
        v[5] for v in truth.values()
    )


def test_a_failing_claude_code_report_never_hides_the_spend(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """The Claude Code report answering 500 for good: spend is still synced and the
    organization healthy with a note; the next run completes the report where it stopped."""
    from app.models import Organization, OrgStatus

    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    sim.inject("500", route="claude_code", count=10_000)
    result = sync_engine(sim, engine, settings).run(pk)
    assert result.outcome == "ok"
    with read_session(engine) as session:
        stored = session.get(Organization, pk)
        assert stored is not None and stored.status == OrgStatus.HEALTHY
        assert "claude code" in (stored.status_message or "").lower()
        assert session.execute(select(func.count()).select_from(CostLine)).scalar_one() > 0
        start = stored.backfill_start
    assert stored_by_actor_day(engine, pk) == {}

    sim.clear_faults()
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    truth = truth_by_actor_day(sim, org.id, start, today() + timedelta(days=1))
    assert stored_by_actor_day(engine, pk) == truth
    with read_session(engine) as session:
        stored = session.get(Organization, pk)
        assert stored is not None and stored.status_message is None


class SlowEvenDaysClient(AdminClient):
    """Answers even days late, so concurrent fetches finish out of order; fails one day."""

    fail_on: date | None = None

    def iter_claude_code(self, day: date) -> Iterator[list[dict[str, Any]]]:
        if day == self.fail_on:
            raise RateLimited("Rate limited on that day.", retry_after=None)
        if day.toordinal() % 2 == 0:
            time.sleep(0.01)
        yield from super().iter_claude_code(day)


def test_claude_code_days_are_stored_in_order_and_a_failed_day_resumes_cleanly(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Days fetched concurrently are stored strictly one after another; a failure on a middle
    day leaves the days before it stored, nothing after, and the position on that day; the
    next run completes the report, equal to the API."""
    import app.store as store
    from app.models import SyncState

    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    stored_starts: list[date] = []
    real_replace = store.replace_days_counted

    def record(session: Any, org_pk: int, dataset: str, start: date, *args: Any) -> Any:
        if dataset == "claude_code":
            stored_starts.append(start)
        return real_replace(session, org_pk, dataset, start, *args)

    monkeypatch.setattr(store, "replace_days_counted", record)
    first = today() - timedelta(days=40)
    SlowEvenDaysClient.fail_on = first + timedelta(days=17)

    def factory(o: Any, key: str) -> AdminClient:
        return SlowEvenDaysClient(
            key,
            base_url=settings.anthropic_base_url,
            transport=sim.transport(),
            sleep=lambda _s: None,
        )

    engine_ = sync_engine(sim, engine, settings)
    engine_.client_factory = factory
    with write_session(engine) as session:
        from app.models import Organization

        row = session.get(Organization, pk)
        assert row is not None
        row.backfill_start = first
    result = engine_.run(pk)
    assert result.outcome == "ok" and any("claude code" in n.lower() for n in result.notes)
    assert stored_starts == [first + timedelta(days=n) for n in range(17)]
    with read_session(engine) as session:
        state = session.execute(
            select(SyncState).where(
                SyncState.organization_pk == pk, SyncState.dataset == "claude_code"
            )
        ).scalar_one()
        assert state.position == SlowEvenDaysClient.fail_on
        last = session.execute(
            select(func.max(ClaudeCodeDay.date)).where(ClaudeCodeDay.organization_pk == pk)
        ).scalar_one()
    assert last is not None and last < SlowEvenDaysClient.fail_on
    fail_on = SlowEvenDaysClient.fail_on
    assert stored_by_actor_day(engine, pk) == truth_by_actor_day(sim, org.id, first, fail_on)

    SlowEvenDaysClient.fail_on = None
    stored_starts.clear()
    assert engine_.run(pk).outcome == "ok"
    assert stored_starts[0] == fail_on
    assert stored_starts == sorted(stored_starts) and len(set(stored_starts)) == len(stored_starts)
    end = today() + timedelta(days=1)
    assert stored_by_actor_day(engine, pk) == truth_by_actor_day(sim, org.id, first, end)


def test_concurrent_claude_code_fetch_stores_what_the_sequential_one_did(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One day in flight or four: the same rows, keys and values."""
    import ingest.sources.console as console

    orgs = list(sim.orgs.values())
    stored = []
    for org, fetchers in zip(orgs, (1, 4), strict=True):
        monkeypatch.setattr(console, "CLAUDE_CODE_FETCHERS", fetchers)
        connect_org(sim, org, engine=engine, settings=settings)
        pk = org_pk(engine, org.id)
        assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
        with read_session(engine) as session:
            rows = session.execute(
                select(ClaudeCodeDay).where(ClaudeCodeDay.organization_pk == pk)
            ).scalars()
            stored.append(
                sorted(
                    (r.date, r.dims_key, r.sessions, r.estimated_cost_cents, r.models) for r in rows
                )
            )
        assert stored[-1] == sorted(stored[-1])
        start = min(r[0] for r in stored[-1])
        truth = truth_by_actor_day(sim, org.id, start, today() + timedelta(days=1))
        assert stored_by_actor_day(engine, pk) == truth


def test_a_stop_during_claude_code_ends_promptly_at_a_clean_position(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """Asked to stop after the first stored day: the run stops there, without fetching the
    rest of the window."""
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    engine_ = sync_engine(sim, engine, settings)
    stored: list[int] = []
    engine_.should_stop = lambda: len(stored) > 0
    real_store = engine_._store_chunk

    def store(org_pk: int, dataset: str, *args: Any) -> None:
        real_store(org_pk, dataset, *args)
        if dataset == "claude_code":
            stored.append(1)

    engine_._store_chunk = store  # type: ignore[method-assign]
    sim.reset_requests()
    assert engine_.run(pk).outcome == "stopped"
    claude_code = [r for r in sim.requests if "claude_code" in r.path]
    # The stored day, and at most the days in flight.
    assert 1 <= len(claude_code) <= 1 + CLAUDE_CODE_FETCHERS
    with read_session(engine) as session:
        days = session.execute(
            select(func.count(func.distinct(ClaudeCodeDay.date))).where(
                ClaudeCodeDay.organization_pk == pk
            )
        ).scalar_one()
    assert days <= 1
