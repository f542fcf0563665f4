"""Sign-in, first-run setup and roles as a person meets them in the app."""

from __future__ import annotations

import asyncio
import re
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import streamlit as st
from sqlalchemy import Engine, update
from streamlit import config
from streamlit.testing.v1 import AppTest

from app.clock import utcnow
from app.db import write_session
from app.models import AuthSession
from app.services.access import OPERATOR
from app.services.audit import recent_events
from app.services.users import (
    account_for_token,
    add_user,
    create_first_admin,
    list_users,
    open_session,
)
from app.settings import Settings
from app.simulator import Simulator
from app.ui import auth, session_cookie
from tests.utils.factories import connect_org

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
PASSWORD = "correct horse battery"


@pytest.fixture
def fresh(settings: Settings, engine: Engine) -> AppTest:
    st.cache_data.clear()
    return AppTest.from_file(MAIN, default_timeout=60)


def test_first_run_asks_for_an_administrator_and_cannot_be_replayed(
    fresh: AppTest, engine: Engine
) -> None:
    fresh.run()
    assert [t.value for t in fresh.title] == ["Welcome to Anthropic FinOps"]
    assert not any("token" in t.label.lower() for t in fresh.text_input)  # on localhost
    fresh.text_input[0].input("Owner@Example.com")
    fresh.text_input[2].input(PASSWORD)
    fresh.text_input[3].input(PASSWORD)
    fresh.button[0].click().run()
    assert not fresh.exception
    assert [a.email for a in list_users(engine, actor=OPERATOR)] == ["owner@example.com"]
    assert [t.value for t in fresh.title] == ["Anthropic FinOps"]  # signed in, empty state
    # A second visitor gets the sign-in page, never the setup page again.
    other = AppTest.from_file(MAIN, default_timeout=60).run()
    assert [t.value for t in other.title] == ["Sign in to Anthropic FinOps"]


def test_weak_or_mismatched_setup_passwords_are_explained(fresh: AppTest, engine: Engine) -> None:
    fresh.run()
    fresh.text_input[0].input("a@example.com")
    fresh.text_input[2].input("short")
    fresh.text_input[3].input("short")
    fresh.button[0].click().run()
    assert any("at least 12 characters" in e.value for e in fresh.error)
    fresh.text_input[2].input(PASSWORD)
    fresh.text_input[3].input(PASSWORD + "x")
    fresh.button[0].click().run()
    assert any("differ" in e.value for e in fresh.error)
    assert list_users(engine, actor=OPERATOR) == []


def test_common_setup_passwords_are_refused_with_the_reason(fresh: AppTest, engine: Engine) -> None:
    fresh.run()
    fresh.text_input[0].input("owner@example.com")
    for weak, reason in (
        ("password1234", "most common"),
        ("123456789012", "sequence"),
        ("owner@example.com", "email address"),
    ):
        fresh.text_input[2].input(weak)
        fresh.text_input[3].input(weak)
        fresh.button[0].click().run()
        assert any(reason in e.value for e in fresh.error), weak
    assert list_users(engine, actor=OPERATOR) == []


@pytest.fixture
def public_bind() -> Iterator[None]:
    """The dashboard bound to every interface (``streamlit run … --server.address 0.0.0.0``)."""
    before = config.get_option("server.address")
    config.set_option("server.address", "0.0.0.0")
    yield
    config.set_option("server.address", before)


def _field(at: AppTest, label: str):  # type: ignore[no-untyped-def]
    return next(t for t in at.text_input if t.label.startswith(label))


def test_setup_on_a_public_address_needs_the_token_printed_on_the_console(
    fresh: AppTest,
    engine: Engine,
    settings: Settings,
    public_bind: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    fresh.run()
    console = capsys.readouterr().err
    found = re.search(r"setup token.*?\n\s+([0-9a-f]{32})\s*\n", console, re.S | re.I)
    assert found, console
    token = found.group(1)
    assert token not in str(fresh.main) and token not in str(fresh.session_state)
    stored = settings.data_dir / "setup-token"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600 and token not in stored.read_text()
    assert any("setup token" in i.value for i in fresh.info)

    _field(fresh, "Email").input("owner@example.com")
    _field(fresh, "Password (").input(PASSWORD)
    _field(fresh, "Password again").input(PASSWORD)
    fresh.button[0].click().run()  # no token: refused
    assert any("setup token" in e.value for e in fresh.error)
    _field(fresh, "Setup token").input("0" * 32)
    fresh.button[0].click().run()  # a wrong one: refused
    assert any("setup token" in e.value for e in fresh.error)
    assert list_users(engine, actor=OPERATOR) == []
    # Another visit (or a rerun) prints no second token: this process issued its one.
    AppTest.from_file(MAIN, default_timeout=60).run()
    assert token not in capsys.readouterr().err

    _field(fresh, "Setup token").input(f"  {token} ")  # pasted with spaces
    _field(fresh, "Password (").input(PASSWORD)
    _field(fresh, "Password again").input(PASSWORD)
    fresh.button[0].click().run()
    assert not fresh.exception
    assert [a.email for a in list_users(engine, actor=OPERATOR)] == ["owner@example.com"]
    assert not stored.exists()  # used up


@pytest.mark.parametrize(
    ("address", "headers", "needed"),
    [
        ("localhost", {}, False),
        ("127.0.0.1", {"Host": "127.0.0.1:8501"}, False),
        ("::1", {"Host": "[::1]:8501"}, False),
        ("localhost", {"Host": "localhost:8501"}, False),
        ("0.0.0.0", {}, True),
        ("", {}, True),  # unset: Streamlit listens on every interface
        (None, {}, True),
        ("10.0.0.5", {}, True),
        # Bound to localhost behind a reverse proxy: the visitor is not local.
        ("localhost", {"X-Forwarded-For": "203.0.113.9"}, True),
        ("localhost", {"forwarded": "for=203.0.113.9"}, True),
        ("localhost", {"Host": "finops.example.com"}, True),
    ],
)
def test_setup_token_is_needed_unless_the_visitor_is_on_this_machine(
    address: str | None, headers: dict[str, str], needed: bool
) -> None:
    assert auth.setup_token_required(address, headers) is needed


def test_sign_in_wrong_then_right_and_failure_is_audited(fresh: AppTest, engine: Engine) -> None:
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    fresh.run()
    fresh.text_input[0].input("admin@example.com")
    fresh.text_input[1].input("not the password")
    fresh.button[0].click().run()
    assert any("Wrong email or password" in e.value for e in fresh.error)
    assert any(e.action == "sign_in_failed" for e in recent_events(engine, actor=OPERATOR))
    assert all(
        "not the password" not in (e.detail or "") for e in recent_events(engine, actor=OPERATOR)
    )
    fresh.text_input[1].input(PASSWORD)
    fresh.button[0].click().run()
    assert not fresh.exception
    # (The caption escapes Markdown and keeps the address from becoming a link.)
    caption = fresh.caption[0].value.replace("\\", "").replace("\u2060", "")
    assert "Signed in as admin@example.com (admin)" in caption


def test_bootstrap_variables_create_the_first_admin(
    fresh: AppTest, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_PASSWORD", PASSWORD)
    fresh.run()
    assert [t.value for t in fresh.title] == ["Sign in to Anthropic FinOps"]
    assert [(a.email, a.role) for a in list_users(engine, actor=OPERATOR)] == [
        ("ops@example.com", "admin")
    ]


def test_viewer_sees_dashboards_but_no_admin_actions(fresh: AppTest, engine: Engine) -> None:
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    viewer = add_user(
        engine, actor=OPERATOR, email="viewer@example.com", password=PASSWORD, role="viewer"
    )
    fresh.session_state["auth_token"] = open_session(engine, viewer, hours=1)
    fresh.run()
    assert not fresh.exception
    # Empty state without the connect buttons.
    assert "Connect +" not in [b.label for b in fresh.button]
    assert any("Ask an admin" in i.value for i in fresh.info)


def test_expired_session_asks_to_sign_in_again(fresh: AppTest, engine: Engine) -> None:
    admin = create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    token = open_session(engine, admin, hours=1)
    with write_session(engine) as session:
        session.execute(update(AuthSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    fresh.session_state["auth_token"] = token
    fresh.run()
    assert [t.value for t in fresh.title] == ["Sign in to Anthropic FinOps"]
    assert any("session ended" in i.value for i in fresh.info)


def test_sign_out_ends_the_session_everywhere(fresh: AppTest, engine: Engine) -> None:
    admin = create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    token = open_session(engine, admin, hours=1)
    fresh.session_state["auth_token"] = token
    fresh.run()
    next(b for b in fresh.button if b.label == "Sign out").click().run()
    assert [t.value for t in fresh.title] == ["Sign in to Anthropic FinOps"]
    assert account_for_token(engine, token) is None  # a copied cookie no longer works


SSO_SECRETS = {
    "redirect_uri": "http://localhost:8501/oauth2callback",
    "cookie_secret": "test-cookie-secret-0123456789",
    "client_id": "finops",
    "client_secret": "not-a-real-secret",
    "server_metadata_url": "https://idp.example.com/.well-known/openid-configuration",
}


def test_single_sign_on_maps_emails_to_roles(
    fresh: AppTest, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_SSO_ADMIN_EMAILS", "Boss@Example.com")
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    fresh.secrets["auth"] = SSO_SECRETS
    fresh.user = {"is_logged_in": False}
    fresh.run()
    assert "Sign in with single sign-on" in [b.label for b in fresh.button]

    boss = AppTest.from_file(MAIN, default_timeout=60)
    boss.secrets["auth"] = SSO_SECRETS
    boss.user = {"is_logged_in": True, "email": "boss@example.com", "name": "Boss"}
    boss.run()
    assert not boss.exception
    assert "(admin)" in boss.caption[0].value
    staff = AppTest.from_file(MAIN, default_timeout=60)
    staff.secrets["auth"] = SSO_SECRETS
    staff.user = {"is_logged_in": True, "email": "staff@example.com"}
    staff.run()
    assert "(viewer)" in staff.caption[0].value
    roles = {a.email: a.role for a in list_users(engine, actor=OPERATOR)}
    assert roles["boss@example.com"] == "admin" and roles["staff@example.com"] == "viewer"


def test_an_unusable_bootstrap_password_is_explained_on_the_page(
    fresh: AppTest, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_EMAIL", "ops@example.com")
    monkeypatch.setenv("FINOPS_BOOTSTRAP_ADMIN_PASSWORD", "short")
    fresh.run()
    assert not fresh.exception
    assert any(
        "FINOPS_BOOTSTRAP_ADMIN_PASSWORD" in e.value and "12 characters" in e.value
        for e in fresh.error
    )
    assert list_users(engine, actor=OPERATOR) == []


def _sign_in(at: AppTest, email: str) -> None:
    _field(at, "Email").input(email)
    _field(at, "Password").input(PASSWORD)
    at.button[0].click().run()
    assert not at.exception


def test_a_shared_link_opens_its_page_with_its_filters_after_sign_in(
    fresh: AppTest, engine: Engine, settings: Settings, sim: Simulator
) -> None:
    """A colleague's /spend?range=6m&group=workspace link, opened signed out."""
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    connect_org(sim, next(iter(sim.orgs.values())), engine=engine, settings=settings)
    fresh.switch_page("../pages/spend.py")  # (before the first run: the address /spend)
    fresh.query_params["range"] = "6m"
    fresh.query_params["group"] = "workspace"
    fresh.run()
    assert [t.value for t in fresh.title] == ["Sign in to Anthropic FinOps"]
    assert not fresh.sidebar.button  # no menu of pages before signing in
    _sign_in(fresh, "admin@example.com")
    assert [t.value for t in fresh.title] == ["Spend"]  # was Overview
    assert fresh.selectbox(key="spend_preset").value == "6m"
    assert fresh.selectbox(key="spend_group").value == "workspace"
    assert fresh.query_params["range"] == "6m" and fresh.query_params["group"] == "workspace"


@pytest.mark.parametrize(
    ("page", "title", "what"),
    [
        ("organizations", "Organizations", "manage the connected organizations"),
        ("connect", "Connect", "connect an organization"),
        ("users", "Users", "add users"),
        ("audit", "Audit log", "read the audit log"),
    ],
)
def test_a_viewer_at_an_admin_page_is_told_it_is_for_administrators(
    fresh: AppTest, engine: Engine, page: str, title: str, what: str
) -> None:
    create_first_admin(engine, email="admin@example.com", password=PASSWORD)
    add_user(engine, actor=OPERATOR, email="viewer@example.com", password=PASSWORD, role="viewer")
    fresh.switch_page(f"../pages/{page}.py").run()  # a link to the admin page, signed out
    _sign_in(fresh, "viewer@example.com")
    assert [t.value for t in fresh.title] == [title]
    [notice] = fresh.info
    assert notice.value.startswith(f"Only administrators can {what}")
    assert "Ask one of this dashboard's administrators" in notice.value
    # The page itself never ran: no admin control, no organization, no user list.
    assert not fresh.main.button and not fresh.dataframe and not fresh.text_input


def test_the_session_cookie_is_set_httponly_once_and_only_at_the_pages_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The route the page posts its one-time code to (``streamlit run app/main.py`` serves it):
    another site can neither plant its own session in a browser nor replay a code."""
    from starlette.applications import Starlette

    monkeypatch.setattr(session_cookie, "_served", False)  # (restored after the test)
    app = Starlette(routes=[session_cookie.route()])
    url, page = "/_finops/session", {"X-Finops-Session": "1"}
    found = re.search(r'"code": "([^"]+)"', session_cookie.script("the-token", 3600))
    assert found
    body = {"code": found.group(1), "secure": False}

    async def exchange() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            # A cross-site form (no header) or a cross-site fetch is refused, and sets nothing.
            assert (await client.post(url, json=body)).status_code == 403
            cross = {**page, "Sec-Fetch-Site": "cross-site"}
            refused = await client.post(url, json=body, headers=cross)
            assert refused.status_code == 403 and "set-cookie" not in refused.headers
            same = {**page, "Sec-Fetch-Site": "same-origin"}
            answer = await client.post(url, json=body, headers=same)
            assert answer.status_code == 204
            cookie = answer.headers["set-cookie"]
            assert cookie.startswith("finops_session=the-token;")
            for part in ("HttpOnly", "SameSite=strict", "Max-Age=3600", "Path=/"):
                assert part in cookie
            assert (await client.post(url, json=body, headers=page)).status_code == 403  # once
            cleared = await client.post(url, json={"clear": True}, headers=page)
            assert cleared.status_code == 204
            assert 'finops_session="";' in cleared.headers["set-cookie"]
            assert "Max-Age=0" in cleared.headers["set-cookie"]

    asyncio.run(exchange())
