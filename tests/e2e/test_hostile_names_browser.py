"""In headless Chromium: hostile organization names in the real banners, a toast and a table
render as text. Streamlit's Markdown autolinks bare URLs, "www." names and e-mail addresses even
when every character is backslash-escaped, which only a browser shows.

The page is a small script that calls the product's own banner, toast text and table helpers
(no database, no worker), so the test takes a few seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.browser import ROOT, chromium, needs_chromium, streamlit_run

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

pytestmark = needs_chromium

SCRIPT = """
import sys
from datetime import date

sys.path.insert(0, {root!r})
import streamlit as st

from app.clock import utcnow
from app.services.organizations import OrgSummary
from app.ui.banners import problem_banners, ready_notices
from app.ui.format import md
from app.ui.tables import table

NAMES = ["[click](http://evil.example)", "http://evil.example\\u202egnp.exe", "www.evil.example",
         "ops@evil.example", "<https://evil.example>", ":material/warning: x"]


def org(i, name, status, message=None, done=None):
    return OrgSummary(organization_id=f"org-{{i}}", name=name, label=None, provider="console",
                      key_hint="sk-ant-admin01-…AbCd", status=status, status_message=message,
                      backfill_progress=1.0, last_synced_at=None, next_run_at=None,
                      backfill_completed_at=done, data_start=date(2026, 1, 1),
                      data_end=date(2026, 2, 1), cost_rows=1, usage_rows=1, is_demo=False)


orgs = [org(i, n, "failing", "see " + n) for i, n in enumerate(NAMES)]
problem_banners(orgs + [org(9, NAMES[1], "key_rejected", "rejected")])
ready_notices([org(10, NAMES[2], "healthy", done=utcnow())])
table([{{"Name": n}} for n in NAMES])
if st.button("Sync now"):
    st.toast(f"Sync of {{md(NAMES[0])}} and {{md(NAMES[2])}} requested.")
st.markdown("END")
"""


@pytest.fixture
def page_url(tmp_path: Path) -> Iterator[str]:
    script = tmp_path / "hostile.py"
    script.write_text(SCRIPT.format(root=str(ROOT)))
    env = {"FINOPS_DATA_DIR": str(tmp_path / "data")}
    with streamlit_run(script, log_path=tmp_path / "streamlit.log", env=env) as base:
        yield base


def test_hostile_names_render_as_text_in_chromium(page_url: str) -> None:
    with chromium() as browser:
        page = browser.new_page()
        page.goto(page_url)
        page.get_by_text("END").wait_for(timeout=30_000)
        page.get_by_role("button", name="Sync now").click()
        page.get_by_text("requested.").wait_for(timeout=10_000)
        hrefs = page.eval_on_selector_all(
            "a[href]", "links => links.map(a => a.getAttribute('href'))"
        )
        text = page.inner_text("body")
        icons = page.locator('[data-testid="stMarkdownContainer"] span[role="img"]').count()
    # Only Streamlit's own skip link: no name became a link (nor a mailto: or an icon).
    assert [h for h in hrefs if not h.startswith("#")] == []
    assert icons == 0
    readable = text.replace("\u2060", "")
    for name in ("[click](http://evil.example)", "http://evil.examplegnp.exe", "ops@evil.example"):
        assert name in readable
    assert not set(text) & set(BIDI)
