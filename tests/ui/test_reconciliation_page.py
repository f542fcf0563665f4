"""The Reconciliation page: the difference between per-key cost and the bill, with its cause."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.settings import Settings
from app.simulator import Simulator
from tests.test_key_cost_sync import _synced


def test_the_page_shows_the_difference(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    sim.key_cost.discount = Decimal("0.10")
    _synced(sim, engine, settings)
    at = app.switch_page("../pages/reconciliation.py").run()
    assert not at.exception
    assert [m.label for m in at.metric] == [
        "Billed (cost report)",
        "Per-key cost",
        "Difference (per-key − billed)",
    ]
    assert at.metric[2].value.startswith("$-")
    assert "differ by a cent or more" in at.warning[0].value
    assert "discount in per-key cost" in " ".join(map(str, at.dataframe[0].value["Cause"]))
