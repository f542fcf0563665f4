"""Where an organization's key may not read per-key cost, the Usage page's cost per key and
Spend by API key show the estimate, and say it is one (issue 16 point 1)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.reports.labels import ESTIMATE_SUFFIX
from app.settings import Settings
from app.simulator import Simulator
from app.store.key_estimate import estimate
from tests.test_key_cost_sync import _synced
from tests.ui.apptest import csv_rows, texts


def chips(at: AppTest) -> list[str]:
    """The buttons' labels as read (Markdown escapes and word joiners left out)."""
    return [b.label.replace("\\", "").replace("\u2060", "") for b in at.button]


def _refused_and_estimated(sim: Simulator, engine: Engine, settings: Settings) -> None:
    sim.key_cost.refuse = 403
    _synced(sim, engine, settings)
    estimate(engine)


def test_usage_by_api_key_lists_each_keys_estimated_cost(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    app: AppTest,
    downloads: dict[str, bytes],
) -> None:
    _refused_and_estimated(sim, engine, settings)
    app.query_params["group"] = "api_key"
    at = app.switch_page("../pages/usage.py").run()
    assert not at.exception
    shown = texts(at)
    assert "Cost by API key" in shown
    assert "divided among its API keys by their tokens at list price" in shown
    frame: Any = at.dataframe[-1].value
    assert set(frame["cost_source"]) == {"Estimate"}
    assert (frame["cost_usd"] > 0).any()
    rows = csv_rows(downloads["key_costs_csv"])
    assert {r["cost_source"] for r in rows} == {"Estimate"}
    assert len(rows) == len(frame)


def test_spend_by_api_key_labels_the_estimate(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    _refused_and_estimated(sim, engine, settings)
    app.query_params["group"] = "api_key"
    at = app.switch_page("../pages/spend.py").run()
    assert not at.exception
    shown = texts(at)
    assert "Estimated per" in shown and "Acme Corp" in shown
    assert "divided among its API keys by their tokens at list price" in shown
    labels = set(at.dataframe[0].value.iloc[:, 0])
    assert labels and all(
        label.endswith(ESTIMATE_SUFFIX) or label.startswith("Other") for label in labels
    )


def test_a_link_filtered_by_an_api_key_shows_that_keys_cost_and_tokens(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    from datetime import timedelta

    from sqlalchemy import func, select

    from app.db import read_session
    from app.models import ApiKey, KeyCost
    from app.reports.periods import usd
    from app.ui.format import money

    _synced(sim, engine, settings)
    first = sim.today - timedelta(days=29)  # "Last 30 days", today included
    with read_session(engine) as session:
        key, cents = session.execute(
            select(KeyCost.api_key_id, func.sum(KeyCost.amount_cents))
            .where(KeyCost.api_key_id.is_not(None), KeyCost.date >= first)
            .group_by(KeyCost.api_key_id)
            .order_by(func.sum(KeyCost.amount_cents).desc())
        ).first()
        name = session.execute(select(ApiKey.name).where(ApiKey.api_key_id == key)).scalar_one()
    app.query_params["api_keys"] = key
    at = app.switch_page("../pages/spend.py").run()
    assert not at.exception
    assert f"API key: {name}" in chips(at)
    assert at.metric[0].value == money(usd(cents))
    assert "Filtered by API key" in texts(at)
    at = app.switch_page("../pages/usage.py").run()
    assert not at.exception
    assert f"API key: {name}" in chips(at)


def test_usage_grouped_by_actor(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    _synced(sim, engine, settings)
    app.query_params["group"] = "actor"
    at = app.switch_page("../pages/usage.py").run()
    assert not at.exception
    assert at.selectbox[1].value == "actor"
    assert "By actor: tokens from Anthropic" in texts(at)


def test_a_link_filtered_by_an_actor(
    sim: Simulator, engine: Engine, settings: Settings, app: AppTest
) -> None:
    from sqlalchemy import func, select

    from app.db import read_session
    from app.models import KeyCost

    _synced(sim, engine, settings)
    with read_session(engine) as session:
        name = session.execute(
            select(KeyCost.actor_name).where(KeyCost.actor_type == "user").limit(1)
        ).scalar_one()
        assert session.execute(select(func.count()).select_from(KeyCost)).scalar_one()
    app.query_params["actors"] = name
    app.query_params["group"] = "api_key"
    at = app.switch_page("../pages/spend.py").run()
    assert not at.exception
    assert f"Actor: {name}" in chips(at)
    assert "Filtered by API key or actor" in texts(at)
    at = app.switch_page("../pages/usage.py").run()
    assert not at.exception
    assert f"Actor: {name}" in chips(at)
