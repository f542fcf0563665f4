"""The filter bar's choices come from a small table the sync keeps, and equal what is stored."""

from __future__ import annotations

from sqlalchemy import Engine, select, text, union

from app.db import SCHEMA_VERSION, migrate, read_session
from app.models import CostLine, UsageBucket
from app.reports.options import filter_options, model_ids_of
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine


def distinct_in_data(engine: Engine, column: str) -> set[str]:
    query = union(
        select(getattr(CostLine, column)).distinct(),
        select(getattr(UsageBucket, column)).distinct(),
    )
    with read_session(engine) as session:
        return {v for v in session.execute(query).scalars() if v is not None}


def test_options_equal_the_stored_values_and_survive_an_upgrade(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    options = filter_options(engine)
    models = {v for v, _ in options["models"]}
    assert models == distinct_in_data(engine, "model") and len(models) >= 5
    # By name, one choice per model, which stands for every stored id of it.
    by_name = dict(options["model_names"])
    assert len(set(by_name.values())) == len(by_name)
    assert set(model_ids_of(options, list(by_name))) == models
    assert {v for v, _ in options["service_tiers"]} == distinct_in_data(engine, "service_tier")
    workspaces = dict(options["workspaces"])
    # The null workspace, by its name: one choice for both organizations' default workspace.
    assert workspaces[""] == "Default workspace (every organization)"
    assert set(workspaces) - {""} == distinct_in_data(engine, "workspace_id")
    # Names, not ids, where the directory knows them.
    assert any(label != value for value, label in options["workspaces"] if value)

    # A database from before the table existed gets it filled in from its data.
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE dimension_value"))
        conn.execute(text("UPDATE schema_version SET version = 5"))
    assert migrate(engine) == SCHEMA_VERSION
    assert filter_options(engine) == options
