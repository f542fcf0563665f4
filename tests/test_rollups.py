"""The daily rollups behind the unfiltered dashboards equal the detail rows, to the cent and
the token, for every grouping: after a backfill, after upstream revisions and a re-sync, next
to a Claude Enterprise organization, and when built by the schema upgrade from existing data."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import Engine, func, select, text

from app.clock import today
from app.db import SCHEMA_VERSION, migrate, read_session
from app.models import CostDaily, UsageDaily
from app.services import queries
from app.services.queries import SPEND_GROUPS, USAGE_GROUPS, Filters
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_enterprise, connect_org, org_pk, sync_engine


def both_ways(engine: Engine, f: Filters) -> None:
    """Every spend and usage grouping, read from the rollups and from the detail rows."""
    assert queries.uses_rollups(f)
    for group in SPEND_GROUPS:
        rolled = queries._spend_rollup(engine, f, group)
        assert rolled == queries._spend_detail(engine, f, group), group
        assert rolled, group  # something to compare, not two empty lists
    for group in [*USAGE_GROUPS, "token_type"]:
        via_rollup = queries.usage_by_day(engine, f, group)
        # A filter that matches every row forces the detail path with the same result set.
        all_models = tuple({v for v, _ in queries.filter_options(engine)["models"]} | {""})
        detail = Filters(f.start, f.end, f.organizations, models=all_models)
        assert not queries.uses_rollups(detail)
        assert via_rollup == queries.usage_by_day(engine, detail, group), group
    whole = Filters(f.start, f.end, f.organizations, models=all_models)
    assert queries.total_cents(engine, f) == queries.total_cents(engine, whole)


def test_rollups_equal_the_detail_rows(sim: Simulator, engine: Engine, settings: Settings) -> None:
    sim.analytics_rpm = None
    ent = sim.add_enterprise_org(name="Initech", seed=91)
    ids = []
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        ids.append(org.id)
    fast = settings.model_copy(update={"enterprise_requests_per_minute": 100_000})
    ids.append(connect_enterprise(sim, ent.key, engine=engine, settings=fast).organization_id)
    sync = sync_engine(sim, engine, fast)
    for organization_id in ids:
        assert sync.run(org_pk(engine, organization_id)).outcome == "ok"

    six_months = Filters(today() - timedelta(days=200), today() + timedelta(days=1))
    both_ways(engine, six_months)
    both_ways(engine, Filters(today() - timedelta(days=6), today() + timedelta(days=1), (ids[0],)))

    # Upstream revisions, then a re-sync: the replaced days' rollups follow the detail.
    for org in sim.orgs.values():
        sim.revise(org.id, days=3)
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    both_ways(engine, six_months)

    # A database from before the rollups gets them built from its detail rows.
    before = rollup_sums(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE cost_daily"))
        conn.execute(text("DROP TABLE usage_daily"))
        conn.execute(text("UPDATE schema_version SET version = 6"))
    assert migrate(engine) == SCHEMA_VERSION
    assert rollup_sums(engine) == before
    both_ways(engine, six_months)


def rollup_sums(engine: Engine) -> tuple:
    with read_session(engine) as session:
        cost = session.execute(
            select(CostDaily.dim, func.sum(CostDaily.amount_cents), func.count())
            .group_by(CostDaily.dim)
            .order_by(CostDaily.dim)
        ).all()
        usage = session.execute(
            select(UsageDaily.dim, func.sum(UsageDaily.output_tokens), func.count())
            .group_by(UsageDaily.dim)
            .order_by(UsageDaily.dim)
        ).all()
    return tuple(map(tuple, cost)), tuple(map(tuple, usage))
