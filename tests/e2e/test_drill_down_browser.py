"""Drill-down in headless Chromium: clicking a bar of the Spend charts filters to its group,
shown as a chip and in the URL; clicking the chip removes the filter again. (AppTest cannot
click a Plotly chart: the selection comes from the browser.)"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine

from app.settings import Settings
from tests.e2e.browser import (
    MAIN,
    PAGE_SHOTS,
    chromium,
    needs_chromium,
    sign_in_to_overview,
    streamlit_run,
    sync_orgs,
)

pytestmark = needs_chromium
# A chip's accessible name: the filter ("Model:" and a word joiner, as md() keeps a colon from
# starting an icon or a link), then the model's name.
MODEL_CHIP = re.compile(r"^Model:\W*\w")


@pytest.fixture
def served(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """Two Console organizations with 40 days of history, synced before Streamlit starts."""
    sync_orgs(settings, engine, history_days=40, enterprise=False)
    with streamlit_run(MAIN, log_path=tmp_path / "streamlit.log") as base:
        yield base


def _click_largest_bar(page: object, chart: int) -> None:
    """A real mouse click on the middle of the largest bar of the ``chart``-th chart."""
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    plot = page.locator(".js-plotly-plot").nth(chart)
    plot.scroll_into_view_if_needed()
    boxes = [b for b in (p.bounding_box() for p in plot.locator("g.point path").all()) if b]
    box = max(boxes, key=lambda b: b["width"] * b["height"])
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)  # Plotly clicks what the pointer hovers
    page.wait_for_timeout(300)
    page.mouse.click(x, y)


def _params(page: object) -> dict[str, list[str]]:
    from playwright.sync_api import Page

    assert isinstance(page, Page)
    return parse_qs(urlparse(page.url).query)


def test_clicking_a_bar_filters_to_its_group_and_the_chip_removes_it(served: str) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
        page.goto(served)
        sign_in_to_overview(page)
        page.goto(f"{served}/spend?group=model")
        expect(page.get_by_role("heading", name="Spend", exact=True)).to_be_visible()
        expect(page.locator(".js-plotly-plot").nth(1)).to_be_visible()
        page.wait_for_timeout(1_000)
        assert "models" not in _params(page)

        # The totals chart: its largest bar is the first model of the table.
        _click_largest_bar(page, 1)
        chip = page.get_by_role("button", name=MODEL_CHIP)
        expect(chip).to_be_visible()
        page.wait_for_timeout(500)
        [model] = _params(page)["models"]
        page.screenshot(path=PAGE_SHOTS / "spend-drilled-to-a-model-1440.png", full_page=True)

        # The chip removes the filter again.
        chip.click()
        expect(chip).to_have_count(0)
        page.wait_for_timeout(500)
        assert "models" not in _params(page)

        # The over-time chart: a click on one segment of a stacked bar is that group.
        page.wait_for_timeout(1_000)
        _click_largest_bar(page, 0)
        expect(page.get_by_role("button", name=MODEL_CHIP)).to_be_visible()
        page.wait_for_timeout(500)
        assert len(_params(page)["models"]) == 1, model
