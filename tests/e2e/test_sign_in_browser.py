"""Signing in from a shared link, the session cookie and the page's requests, in Chromium.

One `finops serve` against the simulator for the whole file (a Console organization connected,
an admin and a viewer), and a fresh browser context per test, so each
test starts signed out with no cookie.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography.fernet import Fernet

from app.db import make_engine, migrate
from app.services.access import OPERATOR
from app.services.users import add_user, create_first_admin
from app.settings import Settings
from app.simulator import Simulator, serve_http
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

# Every page of the app by address, and the heading that shows it was drawn.
PAGES = {
    "": "Overview",
    "spend": "Spend",
    "usage": "Usage",
    "claude_code": "Claude Code",
    "enterprise": "Claude Enterprise",
    "organizations": "Organizations",
    "connect": "Connect an organization",
    "users": "Users",
    "audit": "Audit log",
}
LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1"}

pytestmark = needs_chromium


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """The product as `make run` starts it, with one organization connected and a viewer."""
    tmp = tmp_path_factory.mktemp("sign-in")
    sim = Simulator(history_days=40)
    org = sim.add_org(name="Acme Corp", seed=11)
    with pytest.MonkeyPatch.context() as env, serve_http(sim) as server:
        for name, value in {
            "FINOPS_DATA_DIR": str(tmp / "data"),
            "FINOPS_DATABASE_URL": f"sqlite:///{tmp / 'data' / 'finops.db'}",
            "FINOPS_MASTER_KEY": Fernet.generate_key().decode(),
            "FINOPS_ANTHROPIC_BASE_URL": server.base_url,
            "FINOPS_DISPATCH_SECONDS": "0.5",
            "FINOPS_CLAUDE_CODE": "false",
        }.items():
            env.setenv(name, value)
        settings = Settings()
        engine = make_engine(settings.resolved_database_url)
        migrate(engine)
        create_first_admin(engine, email=ADMIN, password=PASSWORD)
        connect_org(sim, org, engine=engine, settings=settings)
        add_user(engine, actor=OPERATOR, email=VIEWER, password=PASSWORD, role="viewer")
        engine.dispose()
        log = tmp / "serve.log"
        with finops_serve(log_path=log, keep_log_as="serve-sign-in.log") as base:
            yield base, log


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as opened:
        yield opened


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    """A new browser profile (no cookie) that records every request the page makes."""
    from playwright.sync_api import Browser, Request

    assert isinstance(browser, Browser)
    SHOTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    context.on("request", record)
    tab.requested = requested  # type: ignore[attr-defined]
    yield tab
    context.close()


def outside_localhost(urls: list[str]) -> list[str]:
    """Requests to anything but this machine (data: and blob: URLs are not requests out)."""
    return [
        url
        for url in urls
        if urlsplit(url).scheme not in ("data", "blob")
        and urlsplit(url).hostname not in LOCAL_HOSTS
    ]


def test_a_shared_link_survives_sign_in_and_reloads_and_nothing_leaves_localhost(
    served: tuple[str, Path], page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    served_at, log = served
    expect.set_options(timeout=30_000)
    link = served_at + "/spend?range=6m&group=workspace"

    # Signed out, a colleague's link: the sign-in form at that address, no "Page not found".
    page.goto(link)
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.wait_for_timeout(1_000)  # (the dialog came a moment after the form)
    expect(page.get_by_text("Page not found")).to_have_count(0)
    assert page.url == link
    page.screenshot(path=SHOTS / "20-sign-in-from-link.png", full_page=True)

    # Signed in: the linked page, its filters in the address bar and in the controls.
    sign_in(page, ADMIN)
    expect(page.get_by_role("heading", name="Spend")).to_be_visible()
    expect(page.get_by_role("combobox", name="Date range")).to_have_value("Last 6 months")
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    address = urlsplit(page.url)
    assert address.path == "/spend", page.url
    query = parse_qs(address.query)
    assert query["range"] == ["6m"] and query["group"] == ["workspace"], page.url
    expect(page.get_by_text("Page not found")).to_have_count(0)
    page.screenshot(path=SHOTS / "21-spend-after-sign-in.png", full_page=True)

    # The session cookie: HttpOnly (no script in the page can read it), Strict, and a reload
    # stays signed in on the same view.
    [cookie] = [c for c in page.context.cookies() if c["name"] == "finops_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["value"]
    assert "finops_session" not in page.evaluate("document.cookie")
    page.reload()
    expect(page.get_by_role("heading", name="Spend")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    expect(page.get_by_role("button", name="Sign in")).to_have_count(0)

    # Every page, as an admin.
    for path, heading in PAGES.items():
        page.goto(f"{served_at}/{path}")
        expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()
        expect(page.get_by_text("Page not found")).to_have_count(0)
    page.wait_for_load_state("networkidle")

    # Sign out ends it, and a reload does not bring it back.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    page.reload()
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    expect(page.get_by_role("button", name="Sign out")).to_have_count(0)
    assert not [c for c in page.context.cookies() if c["name"] == "finops_session"]

    requested: list[str] = page.requested  # type: ignore[attr-defined]
    assert requested and all(urlsplit(u).hostname == "localhost" for u in requested[:1])
    assert outside_localhost(requested) == []
    # Nothing the dashboard did is deprecated in this Streamlit (components.v1.html was).
    assert "components.v1" not in log.read_text()


def test_a_viewer_following_a_link_to_an_admin_page_is_told_whom_to_ask(
    served: tuple[str, Path], page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    expect.set_options(timeout=30_000)
    page.goto(served[0] + "/organizations")
    expect(page.get_by_role("button", name="Sign in")).to_be_visible()
    sign_in(page, VIEWER)
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
    expect(
        page.get_by_text("Only administrators can manage the connected organizations")
    ).to_be_visible()
    expect(page.get_by_text("Ask one of this dashboard's administrators")).to_be_visible()
    expect(page.get_by_text("Page not found")).to_have_count(0)
    expect(page.get_by_text("Acme Corp")).to_have_count(0)  # the page itself never ran
    nav = page.get_by_test_id("stSidebarNav")
    expect(nav.get_by_text("Spend")).to_be_visible()
    for admin_page in ("Organizations", "Connect", "Users", "Audit log"):
        expect(nav.get_by_text(admin_page)).to_have_count(0)
    page.screenshot(path=SHOTS / "22-viewer-at-admin-link.png", full_page=True)
    assert outside_localhost(page.requested) == []  # type: ignore[attr-defined]
