"""The Data quality page: the provisional days, a found restatement, each report's lag."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org, org_pk, sync_engine


def test_the_page_lists_a_revision_and_each_report(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    sync = sync_engine(sim, engine, settings)
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    sim.revise(org.id, days=2)
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    at = app.switch_page("../pages/data_quality.py").run()
    assert not at.exception
    assert [h.value for h in at.subheader][:3] == [
        "Provisional and settled days",
        "Restatements",
        "Each report",
    ]
    assert "are **provisional**" in at.markdown[0].value
    restated, reports = at.dataframe[0].value, at.dataframe[1].value
    assert "Cost report" in set(restated["Report"])
    assert (restated["After (USD)"] != restated["Before (USD)"]).all()
    assert {"Cost report", "Usage report"} <= set(reports["Report"])
