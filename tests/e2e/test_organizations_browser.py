"""The Organizations page in headless Chromium on a phone (390 px) and a desktop (1440 px).

Two Console organizations and a Claude Enterprise one are synced from the simulator before
Streamlit starts (no worker: the data is already there), as in tests/e2e/test_pages_browser.py.
What a person would notice: the page is a table (each organization one row, its name, status
and ⋮ menu side by side, not stacked), nothing is wider than the screen, a key hint such as
``sk-ant-admin01-…AbCd`` is never broken over two lines, and every row's actions open from
its ⋮ menu. Screenshots go to test-artifacts/screenshots/pages/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update

from app.clock import utcnow
from app.db import write_session
from app.models import Organization, OrgStatus, SyncOutcome, SyncRun
from app.services.organizations import list_organizations
from app.services.users import create_first_admin
from app.settings import Settings
from tests.e2e.browser import (
    ADMIN,
    MAIN,
    PAGE_SHOTS,
    PASSWORD,
    ROOT,
    chromium,
    needs_chromium,
    sign_in_to_overview,
    streamlit_run,
    sync_orgs,
)

pytestmark = needs_chromium


@dataclass(frozen=True)
class Row:
    organization_id: str
    name: str
    key_hint: str


@dataclass(frozen=True)
class Served:
    base: str
    rows: list[Row]


@pytest.fixture
def served(settings: Settings, engine: Engine, tmp_path: Path) -> Iterator[Served]:
    sync_orgs(settings, engine, history_days=40, enterprise=True)
    rows = [Row(o.organization_id, o.name, o.key_hint) for o in list_organizations(engine)]
    with streamlit_run(MAIN, log_path=tmp_path / "streamlit.log") as base:
        yield Served(base, rows)


# Per text node equal to `hint`: how many line boxes it takes (1 = not wrapped).
LINES_OF_TEXT = """hint => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const lines = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.textContent.replaceAll("\u2060", "").trim() !== hint) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
    lines.push(tops.size);
  }
  return lines;
}"""

# The box of the first element whose own text is exactly `text`.
BOX_OF_TEXT = """text => {
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.textContent.replaceAll("\u2060", "").trim() !== text) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    const r = range.getBoundingClientRect();
    if (r.width === 0) continue;
    return {top: r.top, bottom: r.bottom, left: r.left, right: r.right};
  }
  return null;
}"""


def _check(browser: object, served: Served, width: int, height: int) -> None:
    from playwright.sync_api import Browser, expect

    assert isinstance(browser, Browser)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(served.base)
        sign_in_to_overview(page)
        page.goto(f"{served.base}/organizations")
        try:
            expect(page.get_by_role("heading", name="Organizations")).to_be_visible()
        except AssertionError:
            page.screenshot(path=PAGE_SHOTS / f"organizations-failed-{width}.png")
            raise
        for row in served.rows:
            expect(page.get_by_text(row.organization_id, exact=True)).to_be_visible()
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(1_000)
        page.screenshot(path=PAGE_SHOTS / f"organizations-table-{width}.png", full_page=True)

        # Nothing wider than the screen: the page does not scroll sideways.
        scroll, client = page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert scroll <= client, f"the page is {scroll} px wide on a {client} px screen"

        for row in served.rows:
            # The key hint is on one line, whole.
            lines = page.evaluate(LINES_OF_TEXT, row.key_hint)
            assert lines and all(n == 1 for n in lines), (row.key_hint, lines)
            # One table row: the name, the status and the ⋮ menu side by side, not stacked.
            name = page.evaluate(BOX_OF_TEXT, row.name)
            menu = page.locator(f".st-key-actions_{row.organization_id} button:visible").first
            expect(menu).to_be_visible()
            button = menu.bounding_box()
            assert name is not None and button is not None
            assert button["x"] > name["right"], (row.name, name, button)
            assert button["y"] < name["bottom"] + 40, (row.name, name, button)
            assert button["x"] + button["width"] <= width, (row.name, button)

        # Each row's actions open from its own ⋮ menu.
        for row in served.rows:
            page.locator(f".st-key-actions_{row.organization_id} button:visible").first.click()
            for action in ("Sync now", "Replace key", "Delete organization"):
                expect(page.get_by_text(action, exact=True).last).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.get_by_text("Replace key", exact=True)).to_have_count(0)
    finally:
        context.close()


def test_organizations_table_on_a_phone_and_a_desktop(served: Served) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=30_000)
    PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
    with chromium() as browser:
        _check(browser, served, 390, 844)
        _check(browser, served, 1440, 900)


FRESHNESS_SCRIPT = """
import sys

sys.path.insert(0, {root!r})
from app.ui import state
from app.ui.onboarding import data_freshness

data_freshness(state.organizations())
"""


def _add_org(engine: Engine, org_id: str, name: str, **values: object) -> int:
    """A connected organization as the worker leaves it mid-way (no data rows needed)."""
    with write_session(engine) as session:
        org = Organization(
            organization_id=org_id,
            name=name,
            key_ciphertext="not-a-key",
            key_hint="sk-ant-admin01-…AbCd",
            backfill_start=date(2026, 1, 1),
            created_at=utcnow(),
            **values,  # type: ignore[arg-type]
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        return org.id


def test_sync_and_backfill_progress_update_on_the_page_by_themselves(
    settings: Settings, engine: Engine, tmp_path: Path
) -> None:
    """A sync runs while the Organizations page is open: the row says so, then, with no
    reload, when it ended; a backfill's percentage moves on that page and in the Overview's
    "Data freshness" lines (app.ui.onboarding.data_freshness)."""
    from playwright.sync_api import expect

    now = utcnow()
    acme = _add_org(
        engine,
        "org-acme",
        "Acme Corp",
        status=OrgStatus.HEALTHY,
        backfill_progress=1.0,
        last_synced_at=now - timedelta(hours=3),
        next_run_at=now - timedelta(seconds=5),
        lease_owner="worker-1",
        lease_expires_at=now + timedelta(minutes=8),
    )
    globex = _add_org(
        engine, "org-globex", "Globex", status=OrgStatus.BACKFILLING, backfill_progress=0.4
    )
    with write_session(engine) as session:
        session.add(SyncRun(organization_pk=acme, kind="incremental", started_at=now))
    create_first_admin(engine, email=ADMIN, password=PASSWORD)
    script = tmp_path / "freshness.py"
    script.write_text(FRESHNESS_SCRIPT.format(root=str(ROOT)))

    expect.set_options(timeout=30_000)
    with (
        streamlit_run(MAIN, log_path=tmp_path / "app.log") as app_base,
        streamlit_run(script, log_path=tmp_path / "freshness.log") as lines_base,
        chromium() as browser,
    ):
        page = browser.new_page(viewport={"width": 390, "height": 844})
        page.goto(app_base)
        sign_in_to_overview(page)
        page.goto(f"{app_base}/organizations")
        expect(page.get_by_text("Sync running, started")).to_be_visible()
        expect(page.get_by_text("Backfilling 40%")).to_be_visible()
        page.screenshot(path=PAGE_SHOTS / "organizations-sync-running-390.png")

        freshness = browser.new_page()
        freshness.goto(lines_base)
        expect(freshness.get_by_text("Backfilling 40%")).to_be_visible()

        # The worker ends the run and moves the backfill on; nobody reloads.
        ended = utcnow()
        with write_session(engine) as session:
            session.execute(
                update(SyncRun)
                .where(SyncRun.organization_pk == acme)
                .values(outcome=SyncOutcome.OK, finished_at=ended)
            )
            session.execute(
                update(Organization)
                .where(Organization.id == acme)
                .values(
                    lease_owner=None,
                    lease_expires_at=None,
                    last_synced_at=ended,
                    next_run_at=ended + timedelta(minutes=15),
                )
            )
            session.execute(
                update(Organization).where(Organization.id == globex).values(backfill_progress=0.7)
            )
        expect(page.get_by_text("Sync running, started")).to_have_count(0)
        expect(page.get_by_text(f"Last sync just now ({ended:%H:%M} UTC)")).to_be_visible()
        expect(page.get_by_text("Backfilling 70%")).to_be_visible()
        expect(freshness.get_by_text("Backfilling 70%")).to_be_visible()
        page.screenshot(path=PAGE_SHOTS / "organizations-sync-ended-390.png")
