"""Names from the API are shown as text everywhere: banners, toasts, table cells, filters.

Streamlit's Markdown turns bare URLs, "www." names and e-mail addresses into links even when
each character is escaped (GFM autolinking runs on the parsed text; checked in Chromium, see
tests/e2e/test_hostile_names_browser.py), so these tests read each Markdown body the way its
renderer does: escapes resolved, then the autolink patterns applied.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pandas as pd
import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today, utcnow
from app.db import write_session
from app.models import Organization, OrgStatus
from app.services import users
from app.services.access import OPERATOR
from app.services.users import add_user
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import md
from tests.utils.factories import connect_org, org_pk, sync_engine

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
LINK_NAME = "[click](http://evil.example)"
URL_NAME = "http://evil.example\u202egnp.exe"  # reads as "http://evil.exampleexe.png"
WWW_NAME = "www.evil.example"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def add_org(engine: Engine, org_id: str, name: str, **values: object) -> None:
    with write_session(engine) as session:
        session.add(
            Organization(
                organization_id=org_id,
                name=name,
                key_ciphertext="not-a-key",
                key_hint="sk-ant-…test",
                backfill_start=today() - timedelta(days=30),
                created_at=utcnow(),
                last_synced_at=utcnow(),
                **values,
            )
        )


def visible(body: str) -> str:
    """What a Markdown body reads as: backslash escapes resolved, word joiners invisible."""
    return re.sub(r"\\(.)", r"\1", body).replace("\u2060", "")


def links(body: str) -> list[str]:
    """What in a Markdown body would render as a link: link syntax, or GFM autolink literals
    (matched on the parsed text, escapes resolved, as Streamlit's renderer does)."""
    unescaped_syntax = re.sub(r"\\.", "", body)  # escaped characters are text
    found = re.findall(r"\]\(|<[a-z]+:", unescaped_syntax)
    text = re.sub(r"\\(.)", r"\1", body)  # escapes resolved; a word joiner stays a character
    found += re.findall(r"(?i)https?://|www(?=\.)", text)
    found += re.findall(r"[-.\w+]+@[-\w]+(?:\.[-\w]+)+", text, flags=re.ASCII)
    return found


def bodies(at: AppTest) -> list[str]:
    """Every Markdown body on the page: banners, notices, captions, text, toasts."""
    parts = [e.value for e in at.error] + [w.value for w in at.warning]
    parts += [s.value for s in at.success] + [i.value for i in at.info]
    parts += [m.value for m in at.markdown] + [c.value for c in at.caption]
    parts += [t.value for t in at.toast]
    return [str(p) for p in parts]


def test_banners_show_hostile_organization_names_as_text(app: AppTest, engine: Engine) -> None:
    add_org(
        engine,
        "org-link",
        LINK_NAME,
        status=OrgStatus.FAILING,
        status_message="Upstream says: see www.evil.example or ops@evil.example",
    )
    add_org(
        engine,
        "org-url",
        URL_NAME,
        status=OrgStatus.KEY_REJECTED,
        status_message="Anthropic rejected the key.",
    )
    add_org(engine, "org-www", WWW_NAME, status=OrgStatus.HEALTHY, backfill_completed_at=utcnow())
    app.run()
    assert not app.exception
    [warning] = [w.value for w in app.warning if "last sync failed" in w.value]
    [error] = [e.value for e in app.error if "is not being updated" in e.value]
    [ready] = [s.value for s in app.success if "is ready" in s.value]
    # The names read exactly as they are (bidi controls removed), and nothing is a link.
    assert LINK_NAME in visible(warning) and "ops@evil.example" in visible(warning)
    assert "http://evil.examplegnp.exe" in visible(error)
    assert WWW_NAME in visible(ready)
    for body in bodies(app):
        assert links(body) == [], body
        assert not set(body) & set(BIDI), body


def test_toasts_and_rows_of_the_organizations_page_are_text(app: AppTest, engine: Engine) -> None:
    add_org(
        engine,
        "org-link",
        LINK_NAME,
        status=OrgStatus.FAILING,
        status_message="failed: http://evil.example",
    )
    add_org(engine, "org-url", URL_NAME, status=OrgStatus.HEALTHY)
    app.switch_page("../pages/organizations.py").run()
    assert not app.exception
    shown = [t.value for t in app.text]
    assert "http://evil.examplegnp.exe" in shown  # st.text: plain, without the override
    assert not any(set(v) & set(BIDI) for v in shown)
    for org_id in ("org-link", "org-url"):
        app.menu_button(key=f"actions_{org_id}").click("Sync now").run()
        assert not app.exception
        [toast] = [t.value for t in app.toast]
        assert "requested" in toast or "needs a new key" in toast
        assert links(toast) == [], toast
        assert not set(toast) & set(BIDI)
    for body in bodies(app):
        assert links(body) == [], body


@pytest.fixture
def hostile_data(engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """An organization whose workspaces and API keys have hostile names, synced; a user with
    a hostile name; a failed sign-in with a formula as its email."""
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    monkeypatch.setattr(users, "FAILURE_DELAY_SECONDS", 0, raising=False)
    sim = Simulator(history_days=40)
    org = sim.add_org(name="Acme\u202e Corp", seed=11)
    hostile = ["\r=1+1", 'ok\n=HYPERLINK("http://evil.example")', "@SUM(A1)", "\t=cmd", "-2"]
    for i, ws in enumerate(org.workspaces):
        ws.name = hostile[i % len(hostile)]
    for i, key in enumerate(org.api_keys):
        key.name = hostile[(i + 2) % len(hostile)] + "\u2066"
    current = Settings()
    connect_org(sim, org, engine=engine, settings=current)
    assert sync_engine(sim, engine, current).run(org_pk(engine, org.id)).outcome == "ok"
    add_user(
        engine,
        actor=OPERATOR,
        email="eve@example.com",
        password="a long random passphrase",
        role="viewer",
        name='+1 =HYPERLINK("http://evil.example")',
    )
    with pytest.raises(users.SignInError):
        users.sign_in(engine, email="=1+1@x.com", password="wrong password")


def assert_inert(frame: pd.DataFrame) -> None:
    """What the table shows, and its toolbar's "Download as CSV" exports, cannot run."""
    for column in frame.columns:
        for cell in frame[column]:
            if not isinstance(cell, str):
                continue
            assert not cell.lstrip(" ").startswith(FORMULA_STARTS), (column, cell)
            assert not re.search(r"[\r\n\t]", cell), (column, cell)
            assert not set(cell) & set(BIDI), (column, cell)


def test_tables_show_hostile_names_inert(app: AppTest, hostile_data: None) -> None:
    views = [
        ("../pages/spend.py", "spend_group", "workspace"),
        ("../pages/usage.py", "usage_group", "api_key"),
        ("../pages/usage.py", "usage_group", "workspace"),
    ]
    seen: list[str] = []
    for page, key, group in views:
        app.switch_page(page).run()
        app.selectbox(key=key).select(group).run()
        assert not app.exception
        for table in app.dataframe:
            assert_inert(table.value)
            seen += [str(v) for v in table.value.iloc[:, 0]]
    # The names are there, readable: the formula start neutralised, the rest as it was.
    assert "'@SUM(A1)" in seen and "' =1+1" in seen
    # Two keys of that name in one organization: two groups, told apart by their ids' ends.
    assert len([s for s in seen if s.startswith("'-2 (…")]) >= 2
    assert 'ok =HYPERLINK("http://evil.example")' in seen
    for page in ("../pages/audit.py", "../pages/users.py"):
        app.switch_page(page).run()
        assert not app.exception
        [table] = app.dataframe
        assert_inert(table.value)
        seen += [str(v) for row in table.value.itertuples() for v in row]
    assert "'=1+1@x.com" in seen  # the failed sign-in, in the audit log
    assert '\'+1 =HYPERLINK("http://evil.example")' in seen  # the user's name


def test_md_leaves_ordinary_text_readable() -> None:
    assert md("Acme Corp") == "Acme Corp"
    assert visible(md("Acme (prod) v1.2 — 50% of #ops")) == "Acme (prod) v1.2 — 50% of #ops"
    assert visible(md("a\nb\r\nc")) == "a b c"  # a name is one line
    assert md(None) == ""
