"""Every page in headless Chromium, as a FinOps lead sees it, at desktop and phone widths.

Two Console organizations whose workspaces share names ("Production" in each) and a Claude
Enterprise organization are synced from the simulator before Streamlit starts (no worker: the
data is already there), so the tour takes well under a minute. Each page is saved as a
screenshot at 1440 px and 390 px under test-artifacts/screenshots/pages/, for a person to look
at; the test checks what a person would notice first: the page rendered without an error, the
organizations' same-named workspaces stay apart, and the theme follows the viewer's light or
dark preference.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.services.users import create_first_admin
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_enterprise, connect_org, org_pk, sync_engine
from tests.utils.processes import free_port, streamlit_ready

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots" / "pages"
ADMIN, PASSWORD = "admin@example.com", "correct horse battery"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# (URL path, the heading the page shows, the screenshot's name)
PAGES = [
    ("", "Overview", "overview"),
    ("spend?group=workspace", "Spend", "spend-by-workspace"),
    ("usage", "Usage", "usage"),
    ("claude_code", "Claude Code", "claude-code"),
    ("enterprise", "Claude Enterprise", "enterprise"),
    ("organizations", "Organizations", "organizations"),
    ("connect", "Connect an organization", "connect"),
    ("users", "Users", "users"),
    ("audit", "Audit log", "audit"),
    ("account", "Account", "account"),
]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason="Debian's chromium is not installed (.ci/run installs it): browser test not run",
    ),
]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The tour runs once, on the default SQLite database."""
    return f"sqlite:///{tmp_path / 'data' / 'finops.db'}"


@dataclass(frozen=True)
class Served:
    base: str
    console: list[str]  # the Console organizations' names
    enterprise: str


@pytest.fixture
def served(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    sim = Simulator(history_days=200)
    console = [sim.add_org(name="Acme Corp", seed=11), sim.add_org(name="Globex", seed=22)]
    ent = sim.add_enterprise_org(name="Initech Enterprise", seed=33)
    syncer = sync_engine(sim, engine, settings)
    for org in console:
        connect_org(sim, org, engine=engine, settings=settings)
        assert syncer.run(org_pk(engine, org.id)).outcome == "ok"
    joined = connect_enterprise(sim, ent.key, engine=engine, settings=settings, name=ent.name)
    assert syncer.run(org_pk(engine, joined.organization_id)).outcome == "ok"
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
    # From the project root, so .streamlit/config.toml (the theme) applies as in `make run`.
    proc = subprocess.Popen(command, cwd=ROOT, env={**os.environ}, stdout=log, stderr=log)
    base = f"http://localhost:{port}"
    try:
        assert streamlit_ready(base, timeout=60), (tmp_path / "streamlit.log").read_text()
        yield Served(base, [o.name for o in console], ent.name)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.close()


def _sign_in(page: object) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    page.get_by_role("textbox", name="Email").fill(ADMIN)
    page.get_by_role("textbox", name="Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()


def _tour(browser: object, served: Served, width: int, height: int) -> dict[str, str]:
    """Visit every page at one width; return each page's visible text by screenshot name."""
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    seen: dict[str, str] = {}
    try:
        page.goto(served.base)
        try:
            _sign_in(page)
        except Exception:
            page.screenshot(path=SHOTS / f"sign-in-failed-{width}.png", full_page=True)
            raise
        for path, heading, name in PAGES:
            page.goto(f"{served.base}/{path}")
            expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
            # Charts draw after the page's text: wait for them before the screenshot.
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(1_500)
            page.screenshot(path=SHOTS / f"{name}-{width}.png", full_page=True)
            assert page.get_by_test_id("stException").count() == 0, name
            seen[name] = page.inner_text("body")
            assert "Page not found" not in seen[name], name
    finally:
        context.close()
    return seen


def test_every_page_at_desktop_and_phone_width(served: Served) -> None:
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=30_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            desktop = _tour(browser, served, 1440, 900)
            _tour(browser, served, 390, 844)
        finally:
            browser.close()

    # Both organizations' "Production" workspaces are in view, each under its organization.
    spend = desktop["spend-by-workspace"]
    for name in served.console:
        assert re.search(rf"Production\W+{re.escape(name)}", spend), spend[:2000]
    assert served.enterprise in spend  # its spend is in view too, under its own name


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_viewers_preference(served: Served, scheme: str) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
            page = context.new_page()
            page.goto(served.base)
            page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
            background = page.evaluate(
                "getComputedStyle(document.querySelector('.stApp')).backgroundColor"
            )
            page.screenshot(path=SHOTS / f"sign-in-{scheme}.png")
        finally:
            browser.close()
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    luminance = (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255
    assert (luminance < 0.5) == (scheme == "dark"), background
