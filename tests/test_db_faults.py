"""Database faults during a sync: the run fails or recovers cleanly and nothing is lost."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from app.clock import months_back, today
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, stored_cost, sync_engine, truth_cost


def test_dropped_postgres_connections_mid_run_lose_nothing(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("drops server connections: Postgres only (SQLite has none to drop)")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    killer = create_engine(os.environ["FINOPS_TEST_POSTGRES_URL"], isolation_level="AUTOCOMMIT")
    pages = {"n": 0}
    sync = sync_engine(sim, engine, settings)

    def drop_connections_every_other_page() -> bool:
        pages["n"] += 1
        if pages["n"] % 2:
            with killer.connect() as conn:
                dropped = conn.execute(text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ), {"db": engine.url.database}).scalar_one()  # fmt: skip
            assert dropped >= 1
        return False

    sync.should_stop = drop_connections_every_other_page
    result = sync.run(org_pk(engine, org.id))
    killer.dispose()
    if result.outcome != "ok":  # a write that met a dead connection: the next run recovers
        assert "database failed" in (result.message or "")
        sync.should_stop = lambda: False
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    assert pages["n"] >= 6
    [summary] = list_organizations(engine)
    assert summary.status == "healthy"
    start = months_back(today(), settings.backfill_months)
    assert stored_cost(engine, org.id) == truth_cost(
        sim, org.id, start, today() + timedelta(days=1)
    )
