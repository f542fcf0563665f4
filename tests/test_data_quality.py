"""The data-quality view (issue 16 point 4): a re-sync after Anthropic revised days logs each
changed day with its total before and after (and only those), the provisional days follow the
trailing window, and the completeness figures are the stored rows'. SQLite and Postgres (the
page: tests/ui/test_data_quality_page.py)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db import read_session
from app.models import Restatement
from app.reports.data_quality import data_quality
from app.settings import Settings
from app.simulator import Simulator
from tests.test_allocation_keys import _billed
from tests.utils.factories import connect_org, org_pk, sync_engine


def test_a_revision_is_logged_day_by_day_with_before_and_after(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    sync = sync_engine(sim, engine, settings)
    assert sync.run(pk).outcome == "ok"
    assert sync.run(pk).outcome == "ok"  # the trailing window read again, nothing revised
    with read_session(engine) as session:
        assert session.execute(select(func.count()).select_from(Restatement)).scalar_one() == 0
    before = _billed(engine, pk)
    sim.revise(org.id, days=2)
    assert sync.run(pk).outcome == "ok"
    after = _billed(engine, pk)
    changed = {d for d in before if after.get(d, Decimal(0)) != before[d]}
    assert changed  # the simulator's revision moved the cost of some of those days
    with read_session(engine) as session:
        logged = list(
            session.execute(select(Restatement).where(col(Restatement.dataset) == "cost")).scalars()
        )
    by_day: dict[date, list[Restatement]] = defaultdict(list)
    for r in logged:
        by_day[r.day].append(r)
    assert set(by_day) == changed
    for day, (r,) in by_day.items():
        assert (r.before_cents, r.after_cents) == (before[day], after.get(day, Decimal(0)))

    q = data_quality(engine, settings, org.id, sim.today)
    assert q.provisional_from == sim.today - timedelta(days=settings.lookback_days - 1)
    assert {r.day for r in q.restatements if r.dataset == "cost"} == changed
    # The revised days (today and yesterday) were inside the re-read window when found: none
    # was a settled figure; a day before the window would have been.
    assert not any(q.settled_when_found(r) for r in q.restatements)
    first = q.restatements[0]
    old = Restatement(
        organization_pk=first.organization_pk,
        dataset="cost",
        day=first.found_at.date() - timedelta(days=settings.lookback_days),
        before_cents=Decimal(1),
        after_cents=Decimal(2),
        found_at=first.found_at,
    )
    assert q.settled_when_found(old)
    cost = next(d for d in q.datasets if d.dataset == "cost")
    # Today's partial day is read: no lag.
    assert cost.last_synced_day == sim.today and cost.lag_days == 0 and cost.rows > 0
    recent = [c for d, c in after.items() if d >= sim.today - timedelta(days=29)]
    assert q.spend_cents == sum(recent, Decimal(0))
    assert 0 <= q.default_workspace_cents < q.spend_cents
