"""End to end in headless Chromium, from a fresh database, as a new user would.

`finops serve` runs the worker and Streamlit against the simulator over HTTP on loopback. The
test connects through the wizard, waits for the backfill, checks the Spend total against the
simulator's ground truth, downloads a chart's CSV, and deletes the organization through the ⋮
menu. It saves a screenshot of each page under test-artifacts/screenshots.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.clock import today
from app.services.access import OPERATOR
from app.services.users import add_user
from app.settings import Settings
from app.simulator import Simulator, serve_http
from app.ui.format import money
from tests.e2e.browser import (
    ADMIN,
    PASSWORD,
    SHOTS,
    VIEWER,
    chromium,
    finops_serve,
    needs_chromium,
    sign_in,
)
from tests.utils.factories import connect_org

# md() puts a word joiner before "@" so an email never becomes a mailto: link.
SIGNED_IN_AS_VIEWER = re.compile(r"Signed in as viewer\u2060?@example\.com \(viewer\)")

pytestmark = needs_chromium


@pytest.fixture
def served(sim: Simulator, settings: Settings, tmp_path: Path) -> Iterator[tuple[str, Simulator]]:
    with serve_http(sim) as server:
        env = {
            "FINOPS_ANTHROPIC_BASE_URL": server.base_url,
            "FINOPS_DISPATCH_SECONDS": "0.5",
            "FINOPS_BOOTSTRAP_ADMIN_EMAIL": ADMIN,
            "FINOPS_BOOTSTRAP_ADMIN_PASSWORD": PASSWORD,
            "FINOPS_ENTERPRISE_REQUESTS_PER_MINUTE": "100000",
            "FINOPS_CLAUDE_CODE": "true",  # the product as shipped
        }
        with finops_serve(
            log_path=tmp_path / "serve.log", keep_log_as="serve.log", env=env
        ) as base:
            yield base, sim


@pytest.fixture
def page() -> Iterator[object]:
    SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        context = browser.new_context(
            viewport={"width": 1400, "height": 1000}, accept_downloads=True
        )
        yield context.new_page()


def test_connect_explore_export_and_delete_in_a_browser(
    served: tuple[str, Simulator], page: object, tmp_path: Path
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base, sim = served
    org = next(iter(sim.orgs.values()))
    expect.set_options(timeout=30_000)

    # Sign in (the first admin came from FINOPS_BOOTSTRAP_ADMIN_*), then the empty state.
    page.goto(base)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.screenshot(path=SHOTS / "00-sign-in.png", full_page=True)
    sign_in(page, ADMIN)
    expect(page.get_by_text("No organization connected yet")).to_be_visible()
    page.screenshot(path=SHOTS / "01-empty-state.png", full_page=True)

    # The wizard: a wrong key first, then the right one.
    page.get_by_role("button", name="Connect +").click()
    expect(page.get_by_text("Where do I get an Admin API key?")).to_be_visible()
    key_field = page.get_by_role("textbox", name="Admin API key")
    key_field.fill("sk-ant-api03-" + "x" * 95)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("This is a regular Claude API key")).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_be_disabled()
    page.screenshot(path=SHOTS / "02-wizard-wrong-key.png", full_page=True)

    key_field.fill(org.admin_key)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text(f"Connected to {org.name}")).to_be_visible()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"{org.name} is connected")).to_be_visible()
    expect(page.get_by_text("Six months of usage and cost are ready.")).to_be_visible(
        timeout=90_000
    )
    page.screenshot(path=SHOTS / "03-wizard-done.png", full_page=True)
    assert org.admin_key not in page.content()
    # Nothing on disk holds the key: the database, its WAL, the server's log.
    searched = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"finops.db-wal", "serve.log"} <= {p.name for p in searched}
    for path in searched:
        blob = path.read_bytes()
        for fragment in (org.admin_key, org.admin_key[15:], org.admin_key[30:60]):
            assert fragment.encode() not in blob, f"key material in {path.name}"

    # Spend, last 30 days (the default), equals the simulator's ground truth.
    page.get_by_role("link", name="Explore spend").click()
    expect(page.get_by_role("heading", name="Spend")).to_be_visible()
    start, end = today() - timedelta(days=29), today() + timedelta(days=1)
    truth = sum((r.amount_cents for r in sim.truth_cost(org.id, start, end)), Decimal(0))
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(money(truth.scaleb(-2)))
    page.screenshot(path=SHOTS / "04-spend.png", full_page=True)

    # The first chart's CSV holds exactly the chart's numbers: they add up to the total.
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").first.click()
    path = tmp_path / "chart.csv"
    download_info.value.save_as(path)
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    assert rows and set(rows[0]) == {"period", "Model", "amount_usd"}
    assert sum((Decimal(r["amount_usd"]) for r in rows), Decimal(0)) == truth.scaleb(-2)

    page.goto(base + "/usage")
    expect(page.get_by_role("heading", name="Usage")).to_be_visible()
    expect(page.get_by_text("Tokens by type per day")).to_be_visible()
    page.screenshot(path=SHOTS / "05-usage.png", full_page=True)

    page.goto(base)
    expect(page.get_by_text("Month to date", exact=True)).to_be_visible()
    page.screenshot(path=SHOTS / "06-overview.png", full_page=True)

    # Delete through the row's ⋮ menu: Cancel changes nothing, Delete removes it.
    page.goto(base + "/organizations")
    expect(page.get_by_text(org.id, exact=True)).to_be_visible()
    page.screenshot(path=SHOTS / "07-organizations.png", full_page=True)
    page.locator(f".st-key-actions_{org.id} button").first.click()
    page.get_by_text("Delete organization").last.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_text(org.name)).to_be_visible()
    page.screenshot(path=SHOTS / "08-delete-dialog.png", full_page=True)
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.get_by_text(org.id, exact=True)).to_be_visible()
    page.locator(f".st-key-actions_{org.id} button").first.click()
    page.get_by_text("Delete organization").last.click()
    page.get_by_role("dialog").get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text(f"Deleted {org.name}")).to_be_visible()
    expect(page.get_by_text(org.id, exact=True)).to_have_count(0)
    page.screenshot(path=SHOTS / "09-deleted.png", full_page=True)
    page.goto(base)
    expect(page.get_by_text("No organization connected yet")).to_be_visible()


def test_viewer_sees_dashboards_but_cannot_manage(
    served: tuple[str, Simulator], page: object, engine: Engine
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base, sim = served
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=Settings())
    add_user(engine, actor=OPERATOR, email=VIEWER, password=PASSWORD, role="viewer")
    expect.set_options(timeout=30_000)
    page.goto(base)
    sign_in(page, VIEWER)
    expect(page.get_by_text(SIGNED_IN_AS_VIEWER)).to_be_visible()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=90_000)
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Spend")).to_be_visible()
    expect(nav.get_by_text("Organizations")).to_have_count(0)
    expect(nav.get_by_text("Connect")).to_have_count(0)
    page.goto(base + "/organizations")  # not a page for viewers: it says so
    expect(page.get_by_text(SIGNED_IN_AS_VIEWER)).to_be_visible()  # still signed in
    expect(
        page.get_by_text("Only administrators can manage the connected organizations")
    ).to_be_visible()
    expect(page.get_by_text(org.id, exact=True)).to_have_count(0)
    page.screenshot(path=SHOTS / "10-viewer.png", full_page=True)
    assert org.admin_key not in page.content()


def test_enterprise_beside_console_in_a_browser(
    served: tuple[str, Simulator], page: object, engine: Engine
) -> None:
    """The wizard's Claude Enterprise path (a wrong key first), then the Claude Enterprise and
    Claude Code pages: spend equal to the Analytics API's, each organization under its own
    provider."""
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    base, sim = served
    sim.analytics_rpm = None
    ent = sim.add_enterprise_org(name="Initech Enterprise", seed=73)
    console = next(iter(sim.orgs.values()))
    connect_org(sim, console, engine=engine, settings=Settings())
    expect.set_options(timeout=30_000)
    page.goto(base)
    sign_in(page, ADMIN)
    expect(page.get_by_role("heading", name="Overview")).to_be_visible(timeout=90_000)

    page.goto(base + "/connect")
    page.get_by_text("Claude Enterprise (Analytics API)", exact=True).click()
    expect(page.get_by_text("Where do I get an Analytics API key?")).to_be_visible()
    key_field = page.get_by_role("textbox", name="Analytics API key")
    key_field.fill(console.admin_key)
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("This is a Claude Console Admin key")).to_be_visible()
    key_field.fill(ent.key)
    page.get_by_role("textbox", name="Organization name").fill("Initech")
    page.get_by_role("button", name="Test connection").click()
    expect(page.get_by_text("The Analytics API accepted this key")).to_be_visible()
    page.screenshot(path=SHOTS / "11-enterprise-wizard.png", full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Initech is connected")).to_be_visible()
    expect(page.get_by_text("Usage and cost history are ready.")).to_be_visible(timeout=90_000)
    assert ent.key not in page.content()

    page.goto(base + "/enterprise")
    expect(page.get_by_role("heading", name="Claude Enterprise")).to_be_visible()
    start = today() - timedelta(days=29)
    truth = sum(
        (r.amount_cents for r in sim.truth_enterprise_cost(ent.id, start, today())), Decimal(0)
    )
    expect(page.get_by_test_id("stMetricValue").first).to_have_text(money(truth.scaleb(-2)))
    expect(page.locator(".js-plotly-plot").first).to_be_visible()
    page.screenshot(path=SHOTS / "12-enterprise.png", full_page=True)

    page.goto(base + "/claude_code")
    expect(page.get_by_role("heading", name="Claude Code")).to_be_visible()
    expect(page.get_by_text("Estimated cost (not billed)").first).to_be_visible(timeout=90_000)
    page.screenshot(path=SHOTS / "13-claude-code.png", full_page=True)

    page.goto(base + "/organizations")
    expect(page.get_by_text("Anthropic (Analytics API)", exact=True)).to_be_visible()
    expect(page.get_by_text("Anthropic", exact=True)).to_be_visible()
