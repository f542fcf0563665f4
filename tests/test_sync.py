"""Backfill and incremental sync against the simulator, on SQLite and on Postgres."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, func, select, text, update

from app.clock import today, utcnow
from app.datasets import data_tables
from app.db import read_session, write_session
from app.models import (
    CostLine,
    Organization,
    OrgStatus,
    SyncRun,
    UsageBucket,
    UsageDaily,
    Workspace,
)
from app.services.access import OPERATOR
from app.services.organizations import delete_organization, list_organizations
from app.settings import Settings
from app.simulator import SimOrg, Simulator
from ingest import leases
from tests.utils.factories import (
    connect_org,
    org_pk,
    row_counts,
    rows_of_organization,
    stored_cost,
    stored_usage,
    sync_engine,
    truth_cost,
    truth_usage,
)


def backfilled(sim: Simulator, engine: Engine, settings: Settings) -> list[str]:
    ids = []
    for org in sim_orgs(sim):
        connect_org(sim, org, engine=engine, settings=settings)
        result = sync_engine(sim, engine, settings).run(org_pk(engine, org.id))
        assert result.outcome == "ok", result.message
        ids.append(org.id)
    return ids


def sim_orgs(sim: Simulator) -> list[SimOrg]:
    return list(sim.orgs.values())


def backfill_range(engine: Engine, organization_id: str) -> tuple:
    with read_session(engine) as session:
        org = session.execute(
            select(Organization).where(Organization.organization_id == organization_id)
        ).scalar_one()
        return org.backfill_start, today() + timedelta(days=1)


@pytest.mark.default_backfill
def test_backfill_equals_ground_truth_for_two_organizations(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = backfilled(sim, engine, settings)
    assert len(ids) == 2
    for organization_id in ids:
        start, end = backfill_range(engine, organization_id)
        assert (end - start).days >= 180  # six months by default
        # To the cent, per day, workspace and model (exactly, in fact: cents with decimals).
        assert stored_cost(engine, organization_id) == truth_cost(sim, organization_id, start, end)
        assert stored_usage(engine, organization_id) == truth_usage(
            sim, organization_id, start, end
        )
    summaries = {s.organization_id: s for s in list_organizations(engine)}
    for organization_id in ids:
        assert summaries[organization_id].status == OrgStatus.HEALTHY
        assert summaries[organization_id].backfill_progress == 1.0
        assert summaries[organization_id].last_synced_at is not None


def test_a_first_backfill_leaves_the_planner_statistics_current(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("Postgres only: SQLite plans these queries well without statistics")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    assert analyzed_rows(engine, "usage_daily") is None
    assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    stored = analyzed_rows(engine, "usage_daily")
    with read_session(engine) as session:
        rows = session.execute(select(func.count()).select_from(UsageDaily)).scalar_one()
    # The planner knows the table holds the backfill's rows, not the empty table it was.
    assert stored is not None and rows > 1000 and abs(stored - rows) <= rows * 0.1


def analyzed_rows(engine: Engine, table: str) -> int | None:
    """Postgres's estimate of ``table``'s rows (None: never analyzed)."""
    with engine.connect() as conn:
        return conn.execute(
            text(
                "SELECT CASE WHEN last_analyze IS NULL AND last_autoanalyze IS NULL "
                "THEN NULL ELSE (SELECT reltuples::bigint FROM pg_class WHERE relname = "
                ":t) END FROM pg_stat_user_tables WHERE relname = :t"
            ),
            {"t": table},
        ).scalar()


def test_second_sync_changes_nothing(sim: Simulator, engine: Engine, settings: Settings) -> None:
    ids = backfilled(sim, engine, settings)
    before_counts = row_counts(engine)
    before = {i: (stored_cost(engine, i), stored_usage(engine, i)) for i in ids}
    for organization_id in ids:
        result = sync_engine(sim, engine, settings).run(org_pk(engine, organization_id))
        assert result.outcome == "ok"
    assert row_counts(engine) == before_counts
    assert {i: (stored_cost(engine, i), stored_usage(engine, i)) for i in ids} == before
    with read_session(engine) as session:
        kinds = session.execute(select(SyncRun.kind).order_by(SyncRun.id)).scalars().all()
    assert kinds == ["backfill", "backfill", "incremental", "incremental"]


def test_upstream_revision_of_last_two_days_is_picked_up(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = backfilled(sim, engine, settings)
    target = ids[0]
    start, end = backfill_range(engine, target)
    old = stored_cost(engine, target)
    sim.revise(target, days=2)
    assert truth_cost(sim, target, start, end) != old  # the revision really changed something
    result = sync_engine(sim, engine, settings).run(org_pk(engine, target))
    assert result.outcome == "ok"
    assert stored_cost(engine, target) == truth_cost(sim, target, start, end)
    assert stored_usage(engine, target) == truth_usage(sim, target, start, end)
    # Rows that vanished upstream vanished here: no stale (day, workspace, model) keys remain.
    assert set(stored_cost(engine, target)) == set(truth_cost(sim, target, start, end))


def test_401_marks_key_rejected_after_one_request_and_stops_jobs(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    sim.reject_key(org.id)
    sim.reset_requests()
    sync = sync_engine(sim, engine, settings)
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "key_rejected"
    assert len(sim.requests) == 1
    [summary] = list_organizations(engine)
    assert summary.status == OrgStatus.KEY_REJECTED
    assert "rejected the key" in (summary.status_message or "")
    assert org_pk(engine, org.id) not in sync.due_organizations()
    # Its jobs stay stopped: another run makes no request at all until the key is replaced.
    sim.reset_requests()
    assert sync.run(org_pk(engine, org.id)).outcome == "key_rejected"
    assert sim.requests == []


def test_failing_sync_says_why_and_when_it_retries(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    sim.inject("500", route="cost_report", count=100)
    result = sync_engine(sim, engine, settings).run(org_pk(engine, org.id))
    assert result.outcome == "failed"
    [summary] = list_organizations(engine)
    assert summary.status == OrgStatus.FAILING
    assert "HTTP 500" in (summary.status_message or "")
    assert "Next retry at" in (summary.status_message or "")
    assert summary.next_run_at is not None
    # Once the API recovers, the next run completes everything.
    sim.clear_faults()
    result = sync_engine(sim, engine, settings).run(org_pk(engine, org.id))
    assert result.outcome == "ok"
    start, end = backfill_range(engine, org.id)
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)


def test_resume_after_interruption_has_no_gaps_or_duplicates(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    # Stop after two pages, as a SIGTERM between pages would.
    sync = sync_engine(sim, engine, settings)
    pages = {"n": 0}

    def stop_after_two() -> bool:
        pages["n"] += 1
        return pages["n"] >= 2

    sync.should_stop = stop_after_two
    assert sync.run(pk).outcome == "stopped"
    [summary] = list_organizations(engine)
    assert summary.status == OrgStatus.BACKFILLING
    assert 0 < summary.backfill_progress < 1
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    start, end = backfill_range(engine, org.id)
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)
    assert stored_usage(engine, org.id) == truth_usage(sim, org.id, start, end)


def test_directory_names_include_archived_workspaces(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    backfilled(sim, engine, settings)
    with read_session(engine) as session:
        stored = set(
            session.execute(
                select(Workspace.workspace_id, Workspace.name).where(
                    Workspace.archived_at.is_not(None)
                )
            ).all()
        )
    # Exactly the archived workspaces of the API, each under its own name (its older spend
    # must still be shown by that name, not as an id).
    expected = {
        (w.id, w.name) for org in sim_orgs(sim) for w in org.workspaces if w.archived_at is not None
    }
    assert expected and stored == expected


def test_delete_removes_key_jobs_and_data(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = backfilled(sim, engine, settings)
    deleted_pk, kept_pk = org_pk(engine, ids[0]), org_pk(engine, ids[1])
    kept_before = rows_of_organization(engine, kept_pk)
    assert delete_organization(engine=engine, organization_id=ids[0], actor=OPERATOR) is True
    assert (
        delete_organization(engine=engine, organization_id=ids[0], actor=OPERATOR) is False
    )  # second click
    with read_session(engine) as session:
        remaining = session.execute(select(Organization.organization_id)).scalars().all()
        cost_orgs = session.execute(select(CostLine.organization_pk).distinct()).scalars().all()
        usage_orgs = session.execute(select(UsageBucket.organization_pk).distinct()).scalars().all()
    assert remaining == [ids[1]]
    assert cost_orgs == usage_orgs == [org_pk(engine, ids[1])]
    # Every table that holds an organization's rows, read from the schema: none of the
    # deleted one's are left, and the other organization's are untouched.
    assert set(rows_of_organization(engine, deleted_pk).values()) == {0}
    assert rows_of_organization(engine, kept_pk) == kept_before
    # And every table of the dataset registry (detail rows, rollups, running totals, filter
    # values), which tests/test_contracts.py holds to those same tables: the kept
    # organization's core datasets have rows, the deleted one's nothing.
    deleted_rows, kept_rows = registry_rows(engine, deleted_pk), registry_rows(engine, kept_pk)
    assert set(deleted_rows) == {t.name for t in data_tables()}
    assert deleted_rows == dict.fromkeys(deleted_rows, 0)
    assert all(kept_rows[t.name] for t in data_tables(core_only=True)), kept_rows


def registry_rows(engine: Engine, pk: int) -> dict[str, int]:
    """Rows of organization ``pk`` in each data table of the dataset registry."""
    with engine.connect() as conn:
        return {
            table.name: conn.execute(
                select(func.count()).select_from(table).where(table.c.organization_pk == pk)
            ).scalar_one()
            for table in data_tables()
        }


def test_incremental_after_downtime_fills_the_gap(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """A worker that was down for ten days re-reads from where its data ended, not just 3 days."""
    from app.db import write_session
    from app.models import SyncState

    ids = backfilled(sim, engine, settings)
    target = ids[0]
    pk = org_pk(engine, target)
    with write_session(engine) as session:
        for state in session.execute(
            select(SyncState).where(SyncState.organization_pk == pk)
        ).scalars():
            state.synced_through = today() - timedelta(days=10)
        session.execute(
            CostLine.__table__.delete().where(CostLine.date >= today() - timedelta(days=12))
        )
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    start, end = backfill_range(engine, target)
    assert stored_cost(engine, target) == truth_cost(sim, target, start, end)


@pytest.mark.parametrize("months", [1])
def test_backfill_months_setting_is_honoured(
    sim: Simulator, engine: Engine, settings: Settings, months: int
) -> None:
    short = settings.model_copy(update={"backfill_months": months})
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=short)
    assert sync_engine(sim, engine, short).run(org_pk(engine, org.id)).outcome == "ok"
    [summary] = list_organizations(engine)
    assert summary.data_start is not None
    assert (today() - summary.data_start).days <= 31


def test_a_second_worker_does_not_run_an_organization_that_is_held(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    first, second = sync_engine(sim, engine, settings), sync_engine(sim, engine, settings)
    # The first worker is mid-run (it holds the lease).
    assert leases.acquire(engine, pk, first.owner, first.clock())
    sim.reset_requests()
    result = second.run(pk)
    assert result.outcome == "skipped" and "Another worker" in (result.message or "")
    assert sim.requests == []  # it did not touch the API either
    leases.release(engine, pk, first.owner)
    assert second.run(pk).outcome == "ok"


@pytest.mark.default_backfill  # six months: enough pages to see it grow
def test_backfill_progress_only_grows(sim: Simulator, engine: Engine, settings: Settings) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    settings = settings.model_copy(update={"claude_code": True})  # the whole run, as shipped
    sync = sync_engine(sim, engine, settings)
    seen: list[float] = []

    def record_progress() -> bool:
        seen.append(list_organizations(engine)[0].backfill_progress)
        return False

    sync.should_stop = record_progress
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    # One reading per page, usage then cost; then the Claude Code days, with the spend in (1.0).
    assert seen == sorted(seen)
    spend = [p for p in seen if p < 1.0]
    assert len(spend) >= 10
    assert 0 < spend[0] < 0.2 and 0.4 < spend[len(spend) // 2] < 0.7
    assert len(seen) - len(spend) >= 150  # a request series per day of Claude Code


def test_reconnecting_replaces_the_key_without_a_duplicate(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    first = connect_org(sim, org, engine=engine, settings=settings)
    assert first.replaced is False
    pk = org_pk(engine, org.id)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    with write_session(engine) as session:
        stored = session.get(Organization, pk)
        assert stored is not None
        stored.status, stored.status_message = OrgStatus.KEY_REJECTED, "rejected"
        stored.next_run_at = None
    again = connect_org(sim, org, engine=engine, settings=settings, label="Prod")
    assert again.replaced is True
    [summary] = list_organizations(engine)
    assert summary.name == "Prod" and summary.status == OrgStatus.HEALTHY
    assert summary.status_message is None
    assert pk in sync_engine(sim, engine, settings).due_organizations()  # syncs again at once


def test_a_worker_whose_lease_was_taken_writes_nothing_more(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """The fence: after another worker takes the organization over, the first one's next page
    rolls back rather than interleaving writes."""
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    slow = sync_engine(sim, engine, settings)
    pages = {"n": 0}

    def taken_over_after_one_page() -> bool:
        pages["n"] += 1
        if pages["n"] == 1:
            with write_session(engine) as session:
                session.execute(
                    Organization.__table__.update()
                    .where(Organization.id == pk)
                    .values(lease_owner="other-host:1:abcd")
                )
        return False

    slow.should_stop = taken_over_after_one_page
    result = slow.run(pk)
    assert result.outcome == "skipped" and "took over" in (result.message or "")
    assert result.pages == 1  # the second page was fenced off
    with read_session(engine) as session:
        owner = session.execute(
            select(Organization.lease_owner).where(Organization.id == pk)
        ).scalar_one()
    assert owner == "other-host:1:abcd"  # and its lease was not released by the loser


def test_tampered_stored_key_fails_closed_without_calling_anthropic(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    with write_session(engine) as session:
        stored = session.get(Organization, pk)
        assert stored is not None
        stored.key_ciphertext = stored.key_ciphertext[:-8] + "AAAAAAA="
    sim.reset_requests()
    result = sync_engine(sim, engine, settings).run(pk)
    assert result.outcome == "key_rejected"
    assert sim.requests == []  # nothing was sent with a garbage key
    [summary] = list_organizations(engine)
    assert summary.status == OrgStatus.KEY_REJECTED
    assert "could not be decrypted" in (summary.status_message or "")


def test_a_long_stretch_of_empty_pages_before_the_first_usage(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """Twelve months back but only ~200 days of history: the first pages are all empty days."""
    long = settings.model_copy(update={"backfill_months": 12})
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=long)
    result = sync_engine(sim, engine, long).run(org_pk(engine, org.id))
    assert result.outcome == "ok" and result.pages >= 24  # 366 days, 31 a page, two datasets
    start, end = backfill_range(engine, org.id)
    assert (end - start).days > 360
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)
    [summary] = list_organizations(engine)
    assert summary.data_start is not None and summary.data_start > start + timedelta(days=100)


@pytest.mark.parametrize("kind", ["cursor_cycle", "repeat_cursor", "missing_cursor"])
def test_broken_paging_fails_the_run_clearly_and_loses_nothing(
    sim: Simulator, engine: Engine, settings: Settings, kind: str
) -> None:
    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    sim.inject(kind, route="cost_report", count=2)
    sync = sync_engine(sim, engine, settings)
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "failed" and "cursor" in (result.message or "")
    [summary] = list_organizations(engine)
    assert summary.status == OrgStatus.FAILING
    sim.clear_faults()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    start, end = backfill_range(engine, org.id)
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)
    assert row_counts(engine)[0] == len(sim.truth_cost(org.id, start, end))


def test_a_lease_held_on_another_host_is_taken_over_only_after_it_expires(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """A worker on another host that died mid-run: its lease (no pid to check here) blocks the
    organization until it expires, then the next worker takes it over and syncs it."""
    from ingest.leases import LEASE_SECONDS

    org = sim_orgs(sim)[0]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    now = utcnow()
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(Organization.id == pk)
            .values(
                lease_owner="host-that-died:4242:abcd",
                lease_expires_at=now + timedelta(seconds=LEASE_SECONDS),
            )
        )
    sync = sync_engine(sim, engine, settings)
    sync.clock = lambda: now + timedelta(seconds=LEASE_SECONDS - 5)
    assert sync.run(pk).outcome == "skipped"  # still within the dead worker's lease
    sync.clock = lambda: now + timedelta(seconds=LEASE_SECONDS + 5)
    result = sync.run(pk)
    assert result.outcome == "ok", result.message
    with read_session(engine) as session:
        stored = session.get(Organization, pk)
        assert stored is not None and stored.lease_owner is None
        assert stored.status == OrgStatus.HEALTHY
