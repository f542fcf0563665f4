"""The filter bar as a FinOps lead sees it (AppTest): at the top of Spend, Usage and Claude Code,
the active filters as chips that remove themselves, dates that start where the data does and
refuse a reversed range, partial periods marked, and numbers formatted alike in tables, axes
and hovers. (A click on a chart is in tests/e2e/test_drill_down_browser.py.)"""

from __future__ import annotations

import ast
import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import compact, md, money
from tests.ui.apptest import MAIN, array_values, synced, texts
from tests.ui.records import CC_PAGE, ENT_PAGE, FORMULA

SPEND, USAGE = "../pages/spend.py", "../pages/usage.py"


@pytest.fixture
def sim() -> Simulator:
    """Two organizations whose data starts 40 days ago: later than six months back."""
    simulator = Simulator(history_days=40)
    simulator.add_org(name="Acme Corp", seed=11)
    simulator.add_org(name="Globex", seed=22)
    return simulator


def specs(at: AppTest) -> list[dict[str, Any]]:
    """Each chart's figure as sent to the browser."""
    return [json.loads(e.proto.spec) for e in at.get("plotly_chart")]


def sidebar_keys(at: AppTest) -> set[str]:
    """The keys of the widgets in the sidebar."""
    side = at.sidebar
    widgets = [*side.selectbox, *side.multiselect, *side.toggle, *side.checkbox]
    widgets += [*side.segmented_control, *side.date_input]
    return {str(w.key) for w in widgets}


def chips(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.key and "_chip_" in b.key]


@pytest.mark.parametrize(("page", "key"), [(SPEND, "spend_preset"), (USAGE, "usage_preset")])
def test_the_filters_are_at_the_top_of_the_page_not_in_the_sidebar(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings, page: str, key: str
) -> None:
    synced(sim, engine, settings)
    app.switch_page(page).run()
    assert not app.exception
    prefix = key.removesuffix("preset")
    in_sidebar = sidebar_keys(app)
    for name in ("preset", "group", "grain", "models", "workspaces", "model_ids"):
        assert prefix + name not in in_sidebar
    assert app.main.selectbox(key=prefix + "preset").value == "30d"
    assert app.main.selectbox(key=prefix + "group").value == "model"
    assert app.main.multiselect(key=prefix + "models").value == []


def test_an_active_filter_is_a_chip_that_removes_it(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page(SPEND).run()
    [total] = app.metric
    models = app.multiselect(key="spend_models")
    model = models.options[0]
    models.select(model).run()
    assert not app.exception
    assert chips(app) == [md(f"Model: {model}")]
    assert app.query_params["models"] in app.session_state["spend_models"]
    assert app.metric[0].value != total.value
    chip = next(b for b in app.button if b.key and "_chip_" in b.key)
    chip.click().run()
    assert not app.exception
    assert chips(app) == [] and app.multiselect(key="spend_models").value == []
    assert "models" not in app.query_params
    assert app.metric[0].value == total.value


def test_last_six_months_starts_on_the_first_imported_day(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    first = min(o.data_start for o in list_organizations(engine) if o.data_start)
    assert first > today() - timedelta(days=182)  # the data starts later than six months back
    app.switch_page(SPEND).run()
    app.selectbox(key="spend_preset").select("6m").run()
    assert not app.exception
    [metric] = app.metric
    assert metric.label.startswith(f"Total, {first:%b %d, %Y} – ")
    cents = sum(
        (r.amount_cents for i in ids for r in sim.truth_cost(i, first, today() + timedelta(1))),
        Decimal(0),
    )
    assert metric.value == money(cents.scaleb(-2))
    assert f"Data starts on {first:%b %d, %Y}" in texts(app)


def test_a_reversed_custom_range_from_the_url_is_refused_with_a_message(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    later, earlier = today() - timedelta(days=3), today() - timedelta(days=10)
    app.query_params.update(
        {"range": "custom", "from": later.isoformat(), "to": earlier.isoformat()}
    )
    app.switch_page(SPEND).run()
    assert not app.exception
    assert any("ends" in e.value and "before it starts" in e.value for e in app.error)
    assert not app.metric and not app.get("plotly_chart")  # no figures of a range that is not
    # Put right, the page shows the range.
    app.date_input(key="spend_dates").set_value((earlier, later)).run()
    assert not app.exception and not app.error
    assert app.metric[0].label == f"Total, {earlier:%b %d, %Y} – {later:%b %d, %Y}"
    assert (app.query_params["from"], app.query_params["to"]) == (
        earlier.isoformat(),
        later.isoformat(),
    )


def test_month_grain_marks_the_partial_months(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page(SPEND).run()
    app.segmented_control(key="spend_grain").set_value("month").run()
    assert not app.exception
    # This month is not over: partial, on the chart's ticks and in the caption.
    this_month = f"{today():%b %Y}"
    assert f"{this_month} (partial)" in json.dumps(specs(app)[0]["layout"]["xaxis"]["ticktext"])
    assert any("partial" in c.value and this_month in c.value for c in app.caption)


def test_money_axes_have_no_cents_and_token_hovers_give_the_days_total(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page(SPEND).run()
    over_time, totals = specs(app)[:2]
    assert over_time["layout"]["yaxis"]["tickformat"] == ",~f"  # "$1,200", not "$1,200.00"
    assert totals["layout"]["xaxis"]["tickformat"] == ",~f"
    app.switch_page(USAGE).run()
    assert not app.exception
    [by_group] = [s for s in specs(app) if "by model per day" in json.dumps(s["layout"]["title"])]
    day_totals: dict[str, float] = defaultdict(float)
    for trace in by_group["data"]:
        for x, y in zip(array_values(trace["x"]), array_values(trace["y"]), strict=True):
            day_totals[x] += y
    trace = by_group["data"][0]
    assert "Total: %{customdata[1]}" in trace["hovertemplate"]
    rows = zip(array_values(trace["x"]), array_values(trace["y"]), trace["customdata"], strict=True)
    for x, y, (amount, total, _) in rows:
        assert amount == compact(round(y))  # "1.2M", not 1234567
        assert total == compact(round(day_totals[x]))


def test_tables_separate_thousands(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page(SPEND).run()
    columns = json.loads(app.dataframe[0].proto.columns)
    assert columns["amount_usd"]["type_config"]["format"] == "dollar"  # "$1,234.56"
    app.switch_page(USAGE).run()
    columns = json.loads(app.dataframe[0].proto.columns)
    assert columns["All tokens"]["type_config"]["format"] == "localized"  # "1,234,567"


def test_claude_code_filters_at_the_top_and_its_view_in_the_url(
    app: AppTest, code_rows: dict[str, Any]
) -> None:
    app.switch_page(CC_PAGE).run()
    assert not app.exception
    assert not {"cc_preset", "cc_actors", "cc_orgs", "cc_grain"} & sidebar_keys(app)
    app.multiselect(key="cc_orgs").select("org-globex").run()
    app.multiselect(key="cc_actors").select(FORMULA).run()
    app.segmented_control(key="cc_grain").set_value("month").run()
    app.selectbox(key="cc_preset").select("7d").run()
    assert not app.exception
    assert app.query_params["organizations"] == "org-globex"
    assert app.query_params["actors"] == FORMULA
    assert (app.query_params["grain"], app.query_params["range"]) == ("month", "7d")
    assert md(f"Actor: {FORMULA}") in chips(app)
    sessions = {m.label: m.value for m in app.metric}["Sessions"]

    # The same link opened in a new session shows the same view.
    fresh = AppTest.from_file(MAIN, default_timeout=60)
    fresh.session_state["auth_token"] = app.session_state["auth_token"]
    fresh.query_params.update(
        {"organizations": "org-globex", "actors": FORMULA, "grain": "month", "range": "7d"}
    )
    fresh.switch_page(CC_PAGE).run()
    assert not fresh.exception
    assert fresh.multiselect(key="cc_actors").value == [FORMULA]
    assert fresh.segmented_control(key="cc_grain").value == "month"
    assert {m.label: m.value for m in fresh.metric}["Sessions"] == sessions


def test_a_click_on_other_or_on_an_empty_value_filters_nothing_and_says_why() -> None:
    """What a click on a bar sets (the click itself is the browser test's): a workspace by its
    ids, "Other (N …)" and a label of null nothing, with a note for the filter bar."""

    def clicks() -> None:
        import streamlit as st

        from app.ui.charts import Drill, _drilled

        drill = Drill(
            "Workspace",
            "spend_workspaces",
            (
                ("ws_a", "Production · Acme Corp"),
                ("ws_g", "Production · Globex"),
                ("", "Default workspace (every organization)"),
            ),
            "spend_drill_note",
            organizations=(("ws_a", "org_acme"), ("ws_g", "org_globex")),
            in_view=("org_acme",),
        )
        # One organization in view: its workspaces are named without it.
        names = ["Production", "Other (3 workspaces)", "Claude Enterprise (no workspaces)"]
        for bar in range(3):
            st.session_state.pop("spend_workspaces", None)
            st.session_state["chart"] = {"selection": {"points": [{"curve_number": bar}]}}
            _drilled("chart", drill, {}, names, frozenset({"Other (3 workspaces)"}))
            st.text(
                repr(
                    (
                        st.session_state.get("spend_workspaces"),
                        st.session_state.pop("spend_drill_note", None),
                    )
                )
            )

    at = AppTest.from_function(clicks).run()
    assert not at.exception
    production, other, empty = (ast.literal_eval(t.value) for t in at.text)
    assert production == (["ws_a"], None)  # the organization in view's own, not Globex's
    assert other[0] is None and "adds up the smaller groups" in other[1]
    assert empty[0] is None and "not a value to filter by" in empty[1]


def test_enterprise_filters_at_the_top_and_its_view_in_the_url(
    app: AppTest, enterprise_rows: dict[str, Any]
) -> None:
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    assert not {"ent_preset", "ent_grain", "ent_model_ids", "ent_orgs"} & sidebar_keys(app)
    app.segmented_control(key="ent_grain").set_value("month").run()
    app.selectbox(key="ent_preset").select("7d").run()
    app.toggle(key="ent_model_ids").set_value(True).run()
    assert not app.exception
    assert (app.query_params["grain"], app.query_params["range"]) == ("month", "7d")
    assert app.query_params["ids"] == "1"
    assert "Model ids shown" in chips(app)
    spend = {m.label: m.value for m in app.metric}["Spend"]

    # The same link opened in a new session shows the same view.
    fresh = AppTest.from_file(MAIN, default_timeout=60)
    fresh.session_state["auth_token"] = app.session_state["auth_token"]
    fresh.query_params.update({"grain": "month", "range": "7d", "ids": "1"})
    fresh.switch_page(ENT_PAGE).run()
    assert not fresh.exception
    assert fresh.selectbox(key="ent_preset").value == "7d"
    assert fresh.segmented_control(key="ent_grain").value == "month"
    assert fresh.toggle(key="ent_model_ids").value is True
    assert {m.label: m.value for m in fresh.metric}["Spend"] == spend

    # The chip takes the ids away again.
    fresh.button(key=next(b.key for b in fresh.button if b.label == "Model ids shown")).click()
    fresh.run()
    assert fresh.toggle(key="ent_model_ids").value is False
    assert "ids" not in fresh.query_params


def test_a_group_chosen_under_the_chart_filters_to_it_as_a_legend_click_would(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    """Streamlit sends no event for a click on a Plotly legend entry: the chart's groups are
    offered under it, and choosing one sets its filter (a chip, the URL, the totals)."""
    synced(sim, engine, settings)
    app.query_params["group"] = "model"
    app.switch_page(SPEND).run()
    assert not app.exception
    legends = [w for w in app.selectbox if str(w.key).endswith("_legend")]
    assert legends  # under each chart grouped by model
    legend = legends[0]
    choices = list(legend.options)
    assert len(choices) >= 2 and not any(c.startswith("Other") for c in choices)
    total = app.metric[0].value
    legend.set_value(choices[0]).run()
    assert not app.exception
    assert app.multiselect(key="spend_models").value  # the group became the filter
    assert app.metric[0].value != total  # the totals follow it
