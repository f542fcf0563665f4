"""The synced-database copy the read-only tests start from (tests/utils/snapshots.py) holds what
a real sync stores, and its keys still open the organizations under another master key."""

from __future__ import annotations

from datetime import timedelta

from cryptography.fernet import Fernet
from sqlalchemy import Engine, text

from app.clock import months_back, today
from app.db import make_engine, migrate
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import (
    org_pk,
    row_counts,
    stored_cost,
    stored_usage,
    sync_engine,
    truth_cost,
    truth_usage,
)
from tests.utils.snapshots import synced_copy


def fresh_sim() -> Simulator:
    sim = Simulator(history_days=40)
    sim.add_org(name="Acme Corp", seed=11)
    sim.add_org(name="Globex", seed=22)
    return sim


def emptied(engine: Engine, settings: Settings) -> Engine:
    """The test's database again empty and migrated (a new SQLite file, or Postgres' schema)."""
    engine.dispose()
    url = settings.resolved_database_url
    if engine.url.get_backend_name() == "sqlite":
        url = url.replace("finops.db", "second.db")
    else:
        with engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
    second = make_engine(url)
    migrate(second)
    return second


def test_a_copied_database_equals_a_synced_one_and_syncs_on(
    engine: Engine, settings: Settings
) -> None:
    synced_copy(fresh_sim(), engine, settings)  # synced here, or copied from an earlier test
    second = emptied(engine, settings)
    # Another test: another master key; the copy's keys must be re-encrypted under it.
    other = settings.model_copy(update={"master_key": Fernet.generate_key().decode()})
    sim = fresh_sim()
    ids = synced_copy(sim, second, other)
    assert ids[:2] == list(sim.orgs) and len(ids) == 3
    assert [o.name for o in sim.enterprise_orgs.values()] == ["Initech"]  # as synced_orgs
    assert row_counts(second)[0] > 1000
    start, end = months_back(today(), settings.backfill_months), today() + timedelta(days=1)
    for org in sim.orgs.values():
        assert stored_cost(second, org.id) == truth_cost(sim, org.id, start, end)
        assert stored_usage(second, org.id) == truth_usage(sim, org.id, start, end)
    # The stored keys open the organizations: a revision upstream is synced in.
    acme = next(iter(sim.orgs.values()))
    sim.revise(acme.id, days=3)
    assert sync_engine(sim, second, other).run(org_pk(second, acme.id)).outcome == "ok"
    assert stored_cost(second, acme.id) == truth_cost(sim, acme.id, start, end)
    second.dispose()
