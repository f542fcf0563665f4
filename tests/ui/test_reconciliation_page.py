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
        "Billed tokens (cost report)",
        "Tokens at list price",
        "Difference (billed − list)",
    ]
    assert at.metric[2].value.startswith("$-")
    assert "differ by a cent or more" in at.warning[0].value
    assert "discount in per-key cost" in " ".join(map(str, at.dataframe[0].value["Cause"]))


def test_the_list_price_check_shows_without_per_key_cost(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest, downloads: dict[str, bytes]
) -> None:
    """An organization whose key may not read per-key cost: the per-key section says so, and
    the tokens at list price are still set against the bill, with the causes and a CSV."""
    sim.key_cost.refuse = 403
    _synced(sim, engine, settings)
    at = app.switch_page("../pages/reconciliation.py").run()
    assert not at.exception
    assert "Nothing to reconcile in these days" in " ".join(i.value for i in at.info)
    assert [m.label for m in at.metric] == [
        "Billed tokens (cost report)",
        "Tokens at list price",
        "Difference (billed − list)",
    ]
    assert "US data residency" in " ".join(c.value for c in at.caption)
    assert downloads["price_check_csv"].startswith(b"date,organization_id")
