"""Spend filtered by an allocation's values ("Team: Search"), as a FinOps lead uses it: a
filter in the bar and in the URL, a chip that removes it, every figure the chosen team's, and
the groupings the allocated spend cannot answer refused with the reason."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.finops.allocation import import_allocation
from app.reports.filters import Filters
from app.reports.labels import allocation_group
from app.reports.spend import total_cents
from app.ui.format import md, money
from tests.test_allocation_store import DAYS, EXAMPLE, START, seed_orgs
from tests.ui.apptest import csv_rows, texts

SPEND = "../pages/spend.py"
TODAY = date(2026, 10, 6)  # the seeded days run Sep 25 - Oct 6
END = START + timedelta(days=DAYS)
TEAM = allocation_group("Team")  # the widget key's tail and the URL param
VIEW = {"range": "custom", "from": START.isoformat(), "to": TODAY.isoformat()}


@pytest.fixture(autouse=True)
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("app.clock.today", lambda: TODAY)
    monkeypatch.setattr(
        "app.finops.allocation.utcnow", lambda: datetime(2026, 10, 6, 12, tzinfo=UTC)
    )


@pytest.fixture
def teams(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    import_allocation(engine, "allocation: Cost centre\ndefault: CC-0\nrules: []\n", actor="t")


def chips(at: AppTest) -> list[str]:
    return [b.label for b in at.button if b.key and "_chip_" in b.key]


def team_usd(engine: Engine, *values: str) -> Decimal:
    cents = total_cents(engine, Filters(START, END, allocation="Team", allocation_values=values))
    return cents.scaleb(-2)


def test_a_shared_link_filtered_to_a_team_shows_that_teams_spend(
    app: AppTest, engine: Engine, teams: None, downloads: dict[str, bytes]
) -> None:
    app.query_params.update({**VIEW, "group": "model", TEAM: "Search"})
    app.switch_page(SPEND).run()
    assert not app.exception
    search = team_usd(engine, "Search")
    whole = total_cents(engine, Filters(START, END)).scaleb(-2)
    assert 0 < search < whole
    assert app.metric[0].value == money(search)
    assert chips(app) == [md("Team: Search")]
    # The chart's CSV adds up to the team's spend, by model.
    [totals] = [data for key, data in downloads.items() if key.endswith("totals")]
    rows = csv_rows(totals)
    assert sum(Decimal(r["amount_usd"]) for r in rows) == search
    # Tokens are not allocated: unit economics say so instead of showing every team's.
    assert "Unit economics are not filtered by Team" in texts(app)
    assert app.query_params[TEAM] == "Search"


def test_choosing_a_team_filters_and_its_chip_clears_it(
    app: AppTest, engine: Engine, teams: None
) -> None:
    app.query_params.update({**VIEW, "group": TEAM})
    app.switch_page(SPEND).run()
    whole = app.metric[0].value
    app.multiselect(key="spend_" + TEAM).select("Support").select("Unallocated").run()
    assert not app.exception
    assert app.metric[0].value == money(team_usd(engine, "Support", "Unallocated"))
    assert app.query_params[TEAM] == ["Support", "Unallocated"], app.query_params
    # One allocation at a time: the Cost centre filter waits until Team is cleared.
    assert app.multiselect(key="spend_" + allocation_group("Cost centre")).disabled
    app.button(
        key=next(b.key for b in app.button if b.key and b.key.endswith("chip_clear"))
    ).click().run()
    assert not app.exception
    assert chips(app) == [] and TEAM not in app.query_params
    assert app.metric[0].value == whole
    assert not app.multiselect(key="spend_" + allocation_group("Cost centre")).disabled


def test_a_grouping_the_allocated_spend_has_not_is_refused_with_the_reason(
    app: AppTest, teams: None
) -> None:
    app.query_params.update({**VIEW, "group": "description", TEAM: "Search"})
    app.switch_page(SPEND).run()
    assert not app.exception
    shown = texts(app)
    assert "cannot be grouped by" in shown and "clear the Team filter" in shown
    assert not app.get("plotly_chart")
