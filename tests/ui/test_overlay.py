"""The previous period overlaid on the Spend and Usage charts (issue 15, "Comparison"), as a
person sees it: a dashed line whose i-th point is the previous period's i-th day, its figures
those of the stored rows, in the chart's CSV too, and the choice kept in the URL."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.reports.comparison import period_label
from app.settings import Settings
from app.simulator import Simulator
from tests.ui.apptest import array_values, csv_rows, synced

START, END = today() - timedelta(days=29), today() + timedelta(days=1)  # the default 30 days
BEFORE = (START - timedelta(days=30), START)
NAME = f"Previous period ({period_label(*BEFORE)})"


def traces(at: AppTest) -> list[dict[str, Any]]:
    """The traces of the page's first chart (the one over time), as sent to the browser."""
    spec = json.loads(at.get("plotly_chart")[0].proto.spec)
    return list(spec["data"])


def numbers(array: Any) -> list[float]:
    """A figure's array of numbers, as floats."""
    return [float(v) for v in array_values(array)]


def test_spend_overlays_the_previous_period_and_its_csv_holds_it(
    app: AppTest,
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    downloads: dict[str, bytes],
) -> None:
    ids = synced(sim, engine, settings)
    by_day: dict[date, Decimal] = defaultdict(Decimal)
    for org_id in ids:
        for row in sim.truth_cost(org_id, *BEFORE):
            by_day[row.date] += row.amount_cents
    app.switch_page("../pages/spend.py").run()
    assert not app.exception
    assert NAME not in [t.get("name") for t in traces(app)]

    app.toggle(key="spend_overlay").set_value(True).run()
    assert not app.exception
    assert app.query_params["prev"] == "1"
    [line] = [t for t in traces(app) if t.get("name") == NAME]
    assert line["line"]["dash"] == "dash"
    # Day i of the previous 30 days drawn over day i of these 30.
    assert [date.fromisoformat(str(x)[:10]) for x in line["x"]] == [
        START + timedelta(days=i) for i in range(30)
    ]
    expected = [float(by_day[BEFORE[0] + timedelta(days=i)].scaleb(-2)) for i in range(30)]
    assert numbers(line["y"]) == expected
    # The CSV holds it at its own dates, exactly.
    rows = [r for r in csv_rows(downloads["csv_over_time"]) if r["Model"] == NAME]
    assert {r["period"] for r in rows} <= {str(d) for d in by_day}
    total = sum(by_day.values(), Decimal(0)).scaleb(-2)
    assert sum((Decimal(r["amount_usd"]) for r in rows), Decimal(0)) == total

    app.toggle(key="spend_overlay").set_value(False).run()
    assert "prev" not in app.query_params
    assert NAME not in [t.get("name") for t in traces(app)]


def test_usage_overlays_the_previous_period_from_a_shared_link(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    by_day: dict[date, int] = defaultdict(int)
    for org_id in ids:
        for row in sim.truth_usage(org_id, *BEFORE):
            by_day[row.date] += (
                row.uncached_input_tokens
                + row.cache_creation_5m_input_tokens
                + row.cache_creation_1h_input_tokens
                + row.cache_read_input_tokens
                + row.output_tokens
            )
    app.query_params["prev"] = "1"
    app.switch_page("../pages/usage.py").run()
    assert not app.exception
    assert app.toggle(key="usage_overlay").value is True
    [line] = [t for t in traces(app) if t.get("name") == NAME]
    assert numbers(line["y"]) == [float(by_day[BEFORE[0] + timedelta(days=i)]) for i in range(30)]


def test_a_click_on_the_previous_period_line_filters_nothing() -> None:
    import pandas as pd

    from app.ui.charts import _clicked_labels, _group_names, overlay_previous, stacked_bars

    day = date(2026, 11, 2)
    frame = pd.DataFrame(
        {"period": [day, day], "Model": ["A", "B"], "amount_usd": [Decimal(1), Decimal(2)]}
    )
    fig = stacked_bars(frame, value="amount_usd", group="Model", money=True, title="t")
    previous = pd.DataFrame({"period": [day - timedelta(days=1)], "amount_usd": [Decimal(3)]})
    overlay_previous(
        fig,
        previous,
        value="amount_usd",
        shown=[day],
        before=[day - timedelta(days=1)],
        name=NAME,
        money=True,
        grain="day",
    )
    names = _group_names(fig)
    meta = dict(fig.layout.meta)
    assert names[-1] == NAME
    clicked = {"selection": {"points": [{"curve_number": len(names) - 1}]}}
    assert _clicked_labels(clicked, meta, names) == []
    clicked = {"selection": {"points": [{"curve_number": 0}]}}
    assert _clicked_labels(clicked, meta, names) == ["A"]
