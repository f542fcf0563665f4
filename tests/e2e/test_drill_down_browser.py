"""Drill-down in headless Chromium: clicking a bar of the Spend charts filters to its group,
shown as a chip and in the URL; clicking the chip removes the filter again. (AppTest cannot
click a Plotly chart: the selection comes from the browser.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import Engine

from app.services.users import create_first_admin
from app.settings import Settings
from app.simulator import Simulator
from tests.e2e.test_pages_browser import ADMIN, ARGS, CHROMIUM, PASSWORD, ROOT, SHOTS, _sign_in
from tests.utils.factories import connect_org, org_pk, sync_engine
from tests.utils.processes import free_port, streamlit_ready

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it): browser test not run",
    ),
]
# A chip's accessible name: the filter ("Model:" and a word joiner, as md() keeps a colon from
# starting an icon or a link), then the model's name.
MODEL_CHIP = re.compile(r"^Model:\W*\w")


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@pytest.fixture
def served(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[str]:
    """Two Console organizations with 40 days of history, synced before Streamlit starts."""
    sim = Simulator(history_days=40)
    syncer = sync_engine(sim, engine, settings)
    for org in (sim.add_org(name="Acme Corp", seed=11), sim.add_org(name="Globex", seed=22)):
        connect_org(sim, org, engine=engine, settings=settings)
        assert syncer.run(org_pk(engine, org.id)).outcome == "ok"
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    port = free_port()
    log = (tmp_path / "streamlit.log").open("wb")
    command = [
        str(Path(sys.executable).with_name("streamlit")),
        "run",
        str(ROOT / "app" / "main.py"),
        "--server.headless=true",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
    ]
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ}, stdout=log, stderr=log)
    base = f"http://localhost:{port}"
    try:
        assert streamlit_ready(base, timeout=60), (tmp_path / "streamlit.log").read_text()
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


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
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1440, "height": 1000}).new_page()
            page.goto(served)
            _sign_in(page)
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
            page.screenshot(path=SHOTS / "spend-drilled-to-a-model-1440.png", full_page=True)

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
        finally:
            browser.close()
