"""Per-key and per-actor billed cost (the Usage and Cost Analytics API, beta) of Console
organizations (issue 16): it adds up to the cost report per workspace-day, exactly (or less
the simulator's discount, exactly); a key that may not read it leaves the organization healthy
with every other dataset synced; the API's unconfirmed shapes are tolerated. SQLite and
Postgres."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from app.datasets import Dataset
from app.db import read_session
from app.models import CostLine, KeyCost, Organization, OrgStatus, SyncState, UsageBucket
from app.reports.export import export_csv
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine
from tests.utils.processes import finops

Day = tuple[date, str | None]

KEY_COST_COLUMNS = [
    "date",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace_name",
    "api_key_id",
    "api_key_name",
    "actor_type",
    "actor_id",
    "model",
    "amount_usd",
    "list_amount_usd",
]


def _sum_by_workspace_day(engine: Engine, model: type, column: str, pk: int) -> dict[Day, Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(model.date, model.workspace_id, func.sum(getattr(model, column)))
            .where(model.organization_pk == pk)
            .group_by(model.date, model.workspace_id)
        )
        return {(r[0], r[1]): Decimal(r[2]) for r in rows if r[2]}


def _synced(sim: Simulator, engine: Engine, settings: Settings) -> tuple[str, int]:
    org = sim.orgs[next(iter(sim.orgs))]
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    result = sync_engine(sim, engine, settings).run(pk)
    assert result.outcome == "ok", result.message
    return org.id, pk


def test_per_key_cost_adds_up_to_the_cost_report_per_workspace_day(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org_id, pk = _synced(sim, engine, settings)
    per_key = _sum_by_workspace_day(engine, KeyCost, "amount_cents", pk)
    listed = _sum_by_workspace_day(engine, KeyCost, "list_amount_cents", pk)
    billed = _sum_by_workspace_day(engine, CostLine, "amount_cents", pk)
    assert len(billed) > 200  # two months of workspace-days, not an empty report
    assert per_key == billed  # to the micro-cent, every workspace-day
    assert listed == billed
    # Real per-key detail: several keys, all three kinds of actor, the keyless rows.
    with read_session(engine) as session:
        keys = set(session.execute(select(KeyCost.api_key_id).distinct()).scalars())
        actors = set(session.execute(select(KeyCost.actor_type).distinct()).scalars())
        truth = sim.truth_key_cost(org_id, date(2000, 1, 1), sim.today + timedelta(days=1))
        stored = session.execute(
            select(func.sum(KeyCost.amount_cents)).where(KeyCost.organization_pk == pk)
        ).scalar_one()
    assert None in keys and len(keys) > 5
    assert {"user", "service_account", "api_key"} <= actors
    first = min(d for d, _ in billed)
    assert stored == sum((p.amount_cents for p in truth if p.date >= first), Decimal(0))
    # The dataset is synced through today, with nothing marked unavailable.
    with read_session(engine) as session:
        state = session.execute(
            select(SyncState).where(
                SyncState.organization_pk == pk, SyncState.dataset == Dataset.KEY_COST
            )
        ).scalar_one()
    assert state.backfill_done and state.unavailable_reason is None
    assert state.synced_through == sim.today + timedelta(days=1)


def test_a_discount_makes_them_differ_by_exactly_the_discount(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.discount = Decimal("0.15")
    org_id, pk = _synced(sim, engine, settings)
    per_key = _sum_by_workspace_day(engine, KeyCost, "amount_cents", pk)
    listed = _sum_by_workspace_day(engine, KeyCost, "list_amount_cents", pk)
    billed = _sum_by_workspace_day(engine, CostLine, "amount_cents", pk)
    first = min(d for d, _ in billed)
    discount: dict[Day, Decimal] = defaultdict(Decimal)
    for piece in sim.truth_key_cost(org_id, first, sim.today + timedelta(days=1)):
        discount[(piece.date, piece.workspace_id)] += piece.list_amount_cents - piece.amount_cents
    assert listed == billed
    assert set(per_key) == set(billed)
    for day, cents in billed.items():
        assert cents - per_key[day] == discount[day], day
    assert all(v > 0 for v in discount.values())


def test_a_key_refused_by_the_analytics_api_leaves_the_organization_healthy(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.refuse = 403
    org_id, pk = _synced(sim, engine, settings)
    with read_session(engine) as session:
        org = session.get(Organization, pk)
        assert org is not None and org.status == OrgStatus.HEALTHY
        assert org.backfill_progress == 1.0
        assert "Per-key cost is unavailable" in (org.status_message or "")
        assert session.execute(select(func.count()).select_from(KeyCost)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(CostLine)).scalar_one() > 0
        assert session.execute(select(func.count()).select_from(UsageBucket)).scalar_one() > 0
        state = session.execute(
            select(SyncState).where(SyncState.dataset == Dataset.KEY_COST)
        ).scalar_one()
        assert "HTTP 403" in (state.unavailable_reason or "")
    # Once the key may read it, the next run fills it in and clears the reason.
    sim.key_cost.refuse = None
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    assert _sum_by_workspace_day(engine, KeyCost, "amount_cents", pk) == _sum_by_workspace_day(
        engine, CostLine, "amount_cents", pk
    )
    with read_session(engine) as session:
        state = session.execute(
            select(SyncState).where(SyncState.dataset == Dataset.KEY_COST)
        ).scalar_one()
        assert state.unavailable_reason is None
        org = session.get(Organization, pk)
        assert org is not None and not org.status_message


def test_a_404_says_the_endpoint_is_not_offered_not_that_the_key_is_bad(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.refuse = 404
    _org_id, pk = _synced(sim, engine, settings)
    with read_session(engine) as session:
        org = session.get(Organization, pk)
        assert org is not None and org.status == OrgStatus.HEALTHY
        message = org.status_message or ""
    assert "404" in message and "The key was not refused" in message


@pytest.mark.parametrize("as_numbers", [False, True])
def test_amounts_as_numbers_or_strings_and_pages_without_has_more(
    sim: Simulator, engine: Engine, settings: Settings, as_numbers: bool
) -> None:
    sim.key_cost.amounts_as_numbers = as_numbers
    sim.key_cost.omit_has_more = True
    sim.key_cost.default_limit = 50
    sim.key_cost.max_limit = 50  # our limit of 1000 is refused: the API's own page size
    _org_id, pk = _synced(sim, engine, settings)
    per_key = _sum_by_workspace_day(engine, KeyCost, "amount_cents", pk)
    billed = _sum_by_workspace_day(engine, CostLine, "amount_cents", pk)
    if as_numbers:
        # A JSON number is read from its text: exact to the micro-cent but for float digits.
        assert set(per_key) == set(billed)
        assert all(abs(per_key[k] - billed[k]) < Decimal("0.001") for k in billed)
    else:
        assert per_key == billed
    # Many pages per query were followed without has_more.
    pages = [r for r in sim.requests if r.route == "analytics_cost"]
    assert sum(1 for r in pages if any(k == "page" for k, _ in r.params)) > 10


def test_the_trailing_window_replaces_revised_days(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org_id, pk = _synced(sim, engine, settings)
    sim.revise(org_id, days=2)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    assert _sum_by_workspace_day(engine, KeyCost, "amount_cents", pk) == _sum_by_workspace_day(
        engine, CostLine, "amount_cents", pk
    )


def test_the_key_cost_export(sim: Simulator, engine: Engine, settings: Settings) -> None:
    org_id, pk = _synced(sim, engine, settings)
    start = sim.today - timedelta(days=10)
    out = io.StringIO()
    export_csv(
        engine=engine,
        dataset="key_cost",
        out=out,
        organization_id=org_id,
        start=start,
        end=sim.today,
    )
    text = out.getvalue()
    header = text.splitlines()[0].split(",")
    assert header[: len(KEY_COST_COLUMNS)] == KEY_COST_COLUMNS
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["date"] for r in rows} <= {
        (start + timedelta(days=n)).isoformat() for n in range(10)
    }
    assert all(r["organization_id"] == org_id for r in rows)
    total = sum(Decimal(r["amount_usd"]) for r in rows)
    with read_session(engine) as session:
        billed = session.execute(
            select(func.sum(CostLine.amount_cents)).where(
                CostLine.organization_pk == pk, CostLine.date >= start, CostLine.date < sim.today
            )
        ).scalar_one()
    assert total * 100 == billed  # exact dollars, no float on the way
    keyless = [r for r in rows if not r["api_key_id"]]
    assert keyless and all(r["api_key_name"] == "Console / Workbench" for r in keyless)
    named = [r for r in rows if r["api_key_id"]]
    assert all(r["api_key_name"] and r["actor_type"] for r in named)
    own = [r for r in named if r["actor_type"] == "api_key"]
    assert own and all(r["actor_id"] == r["api_key_id"] for r in own)
    assert {r["actor_type"] for r in named} == {"user", "service_account", "api_key"}
    default = [r for r in rows if not r["workspace_id"]]
    assert default and all(r["workspace_name"] == "Default workspace" for r in default)


def test_finops_export_key_cost_over_http(http_sim: Simulator, tmp_path: Path) -> None:
    """`finops connect`, `finops sync`, then `finops export --dataset key_cost --org --start
    --end -o FILE`, against the simulator over real HTTP: the contract's columns in order,
    end exclusive, and the per-key total of a workspace-day equal to the cost export's."""
    org = next(iter(http_sim.orgs.values()))
    assert finops("connect", env={"FINOPS_ADMIN_KEY": org.admin_key}).returncode == 0
    assert finops("sync").returncode == 0
    start, end = http_sim.today - timedelta(days=6), http_sim.today - timedelta(days=2)
    span = ["--org", org.id, "--start", start.isoformat(), "--end", end.isoformat()]
    target = tmp_path / "key_cost.csv"
    assert finops("export", "--dataset", "key_cost", *span, "-o", str(target)).returncode == 0
    text = target.read_text()
    assert text.splitlines()[0].split(",")[: len(KEY_COST_COLUMNS)] == KEY_COST_COLUMNS
    rows = list(csv.DictReader(io.StringIO(text)))
    # Every day of the span that had spend upstream, none outside it (some simulated days
    # have no traffic at all: the expectation is the API's, not every calendar day).
    upstream = {r.date.isoformat() for r in http_sim.truth_key_cost(org.id, start, end)}
    assert len(upstream) >= 2 and {r["date"] for r in rows} == upstream
    cost = list(csv.DictReader(io.StringIO(finops("export", "--dataset", "cost", *span).stdout)))
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[(r["date"], r["workspace_id"])] += Decimal(r["amount_usd"])
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in cost:
        billed[(r["date"], r["workspace_id"])] += Decimal(r["amount_usd"])
    assert totals == billed
