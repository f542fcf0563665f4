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

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.finops import after_sync
from app.finops.allocation import import_allocation
from app.finops.budgets import import_budgets
from app.services.access import OPERATOR
from app.settings import Settings
from tests.e2e.browser import (
    MAIN,
    PAGE_SHOTS,
    chromium,
    drawn,
    needs_chromium,
    sign_in_to_overview,
    streamlit_run,
    sync_orgs,
)

# (URL path, the heading the page shows, the screenshot's name)
PAGES = [
    ("", "Overview", "overview"),
    ("spend?group=workspace", "Spend", "spend-by-workspace"),
    ("usage", "Usage", "usage"),
    ("usage?group=api_key", "Usage", "usage-by-api-key"),
    ("claude_code", "Claude Code", "claude-code"),
    ("enterprise", "Claude Enterprise", "enterprise"),
    ("spend?group=allocation%3ATeam", "Spend", "spend-by-team"),
    ("spend?group=api_key", "Spend", "spend-by-api-key"),
    ("allocations", "Allocations", "allocations"),
    ("spend?group=model&allocation%3ATeam=Search", "Spend", "spend-of-team-search"),
    ("statements", "Statements", "statements"),
    ("budgets", "Budgets", "budgets"),
    ("anomalies", "Anomalies", "anomalies"),
    ("reconciliation", "Reconciliation", "reconciliation"),
    ("data_quality", "Data quality", "data-quality"),
    ("focus", "FOCUS export", "focus"),
    ("organizations", "Organizations", "organizations"),
    ("connect", "Connect an organization", "connect"),
    ("users", "Users", "users"),
    ("audit", "Audit log", "audit"),
    ("account", "Account", "account"),
]

# What some pages show last (``drawn`` waits for the charts and skeletons already there).
LAST_SECTION = {
    "spend-by-workspace": "Unit economics",
    "spend-by-team": "Unit economics",
    "budgets": "Alerts fired",
    "allocations": "History",
    "spend-of-team-search": "Unit economics are not filtered",
    "statements": "Download PDF",
    "spend-by-api-key": "By API key: per-key billed cost",
    "reconciliation": "Download CSV",
    "data-quality": "As of",
    "usage-by-api-key": "Cost by API key",
}
# Sections below the first screen (their headings), saved again scrolled to
# (``<name>-<width>-<section>.png``).
LOWER_SECTIONS = {
    "usage-by-api-key": ("Cost by API key", "cost"),
    "reconciliation": ("Tokens at list price against the bill", "list-price"),
}

# The downloads made on the click (``data`` a callable): button label, what the file starts with.
DOWNLOADS = {
    "statements": ("Download PDF", b"%PDF"),
    "reconciliation": ("Download CSV (every day", b"date,organization_id"),
}

pytestmark = needs_chromium

TEAM = """\
allocation: Team
default: Unallocated
rules:
  - value: Search
    match: {workspace: [Production]}
  - split: {method: fixed, weights: {Search: 60, Support: 40}}
    match: {workspace: [Default workspace]}
"""
BUDGETS = """\
budgets:
  - name: Everything monthly
    scope: {}
    period: monthly
    amount_usd: 5000
    thresholds:
      - {percent: 80, on: actual}
      - {percent: 100, on: forecast}
"""


@dataclass(frozen=True)
class Served:
    base: str
    console: list[str]  # the Console organizations' names
    enterprise: str


@pytest.fixture
def served(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    console, ent = sync_orgs(settings, engine, history_days=200, enterprise=True)
    assert ent is not None
    # The FinOps layer's pages with something on them: a Team allocation, a budget, the
    # anomalies of the synced history (what the worker does after a sync).
    import_allocation(engine, TEAM, actor=OPERATOR.email)
    import_budgets(engine, BUDGETS, actor=OPERATOR)
    after_sync(engine, settings)
    with streamlit_run(MAIN, log_path=tmp_path / "streamlit.log") as base:
        yield Served(base, [o.name for o in console], ent.name)


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
            sign_in_to_overview(page)
        except Exception:
            page.screenshot(path=PAGE_SHOTS / f"sign-in-failed-{width}.png", full_page=True)
            raise
        for path, heading, name in PAGES:
            page.goto(f"{served.base}/{path}")
            try:
                expect(page.get_by_role("heading", name=heading, exact=True).first).to_be_visible()
            except AssertionError:
                page.screenshot(path=PAGE_SHOTS / f"{name}-{width}-failed.png", full_page=True)
                raise
            # Charts draw after the page's text (not "networkidle": a page with a live fragment
            # is never idle).
            # A page's last section first (the script has sent every chart by then), then
            # every chart drawn.
            if name in LAST_SECTION:
                expect(page.get_by_text(LAST_SECTION[name]).first).to_be_visible()
            drawn(page)
            page.screenshot(path=PAGE_SHOTS / f"{name}-{width}.png", full_page=True)
            if name in LOWER_SECTIONS:
                text, suffix = LOWER_SECTIONS[name]
                section = page.get_by_role("heading", name=text, exact=True).first
                section.scroll_into_view_if_needed()
                page.screenshot(path=PAGE_SHOTS / f"{name}-{width}-{suffix}.png")
            assert page.get_by_test_id("stException").count() == 0, name
            seen[name] = page.inner_text("body")
            assert "Page not found" not in seen[name], name
            if width > 1000 and name in DOWNLOADS:
                # Made on the click (a callable): the server answers it with the file.
                label, starts = DOWNLOADS[name]
                with page.expect_download() as download:
                    page.get_by_role("button", name=label).first.click()
                assert Path(download.value.path()).read_bytes().startswith(starts), name
    finally:
        context.close()
    return seen


def test_every_page_at_desktop_and_phone_width(served: Served) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        desktop = _tour(browser, served, 1440, 900)
        _tour(browser, served, 390, 844)

    # Both organizations' "Production" workspaces are in view, each under its organization.
    spend = desktop["spend-by-workspace"]
    for name in served.console:
        assert re.search(rf"Production\W+{re.escape(name)}", spend), spend[:2000]
    assert served.enterprise in spend  # its spend is in view too, under its own name
    # Spend by the Team allocation: its values, and the Default workspace's split among them.
    team = desktop["spend-by-team"]
    assert all(value in team for value in ("Search", "Support", "Unallocated")), team[:2000]
    # By API key: per-key billed cost, beside the bill it is compared with.
    assert (
        "per-key billed cost from Anthropic's Usage and Cost Analytics API"
        in (desktop["spend-by-api-key"])
    )
    assert "Everything monthly" in desktop["budgets"]
    # An admin's Allocations page: the rules editor's preview, with each value's spend.
    assert "Preview, last 30 days" in desktop["allocations"]
    assert re.search(r"Per value: .*Unallocated \$[\d,.]+", desktop["allocations"])
    assert "Search" in desktop["spend-of-team-search"]
    assert "Unit economics are not filtered by Team" in desktop["spend-of-team-search"]
    assert "Download PDF" in desktop["statements"]
    # Per-key cost against the bill: the simulator makes them agree to the cent.
    assert "matches the bill to the cent" in desktop["reconciliation"]
    assert "Provisional and settled days" in desktop["data-quality"]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_theme_follows_the_viewers_preference(served: Served, scheme: str) -> None:
    with chromium() as browser:
        context = browser.new_context(color_scheme=scheme)  # type: ignore[arg-type]
        page = context.new_page()
        page.goto(served.base)
        page.get_by_role("button", name="Sign in").wait_for(timeout=30_000)
        background = page.evaluate(
            "getComputedStyle(document.querySelector('.stApp')).backgroundColor"
        )
        page.screenshot(path=PAGE_SHOTS / f"sign-in-{scheme}.png")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    luminance = (0.2126 * red + 0.7152 * green + 0.0722 * blue) / 255
    assert (luminance < 0.5) == (scheme == "dark"), background
