"""Sign-in, first-run setup and the role gate of the pages.

First-run setup creates the first admin. Unless the dashboard is bound to localhost and the
visitor reaches it directly (no reverse proxy), setup also asks for the one-time token the
Streamlit process prints on its console (see ``app.services.users.issue_setup_token``).

A sign-in opens a session whose random token lives in a ``finops_session`` cookie (HttpOnly,
SameSite Strict: see ``app.ui.session_cookie``) and, hashed, in the database; a reload or a
bookmarked link stays signed in until the session expires or the person signs out. The account
and its role are re-read on every run, so removing a user or changing a role takes effect at once.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Mapping

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.passwords import MIN_LENGTH, WeakPassword
from app.services.access import Actor
from app.services.users import (
    Account,
    SetupDone,
    SignInError,
    account_for_sso,
    account_for_token,
    close_session,
    create_first_admin,
    issue_setup_token,
    open_session,
    retire_setup_tokens,
    setup_token_matches,
    sign_in,
)
from app.ui import session_cookie, state

COOKIE = session_cookie.COOKIE
TOKEN = "auth_token"
PageFunction = Callable[[], None]


def _start_session(account: Account) -> None:
    hours = state.settings().session_hours
    token = open_session(state.engine(), account, hours)
    st.session_state[TOKEN] = token
    # Written by the browser on the next run (a rerun would cut a script off mid-render).
    st.session_state["auth_cookie"] = (token, int(hours * 3600))


def write_cookie() -> None:
    """Set or clear the session cookie in the browser, once, after sign-in or sign-out.

    Served by ``streamlit run app/main.py``, the page asks the server for it, and the answer
    sets it HttpOnly (``app.ui.session_cookie``); elsewhere a script in the page writes it.
    ``st.html`` runs the script in the page itself (``components.v1.html`` was an iframe and is
    deprecated); its container is hidden, so it takes no room.
    """
    pending = st.session_state.pop("auth_cookie", None)
    if pending is None:
        return
    token, max_age = pending
    if session_cookie.served():
        script = session_cookie.script(token, max_age)
    else:
        value = f"{COOKIE}={token}; path=/; max-age={max_age}; SameSite=Strict"
        if (st.context.url or "").startswith("https:"):
            value += "; Secure"
        script = f"document.cookie = {json.dumps(value)};"
    with st.container(key="finops_session_cookie"):
        st.html(
            "<style>.st-key-finops_session_cookie{display:none}</style>"
            f"<script>{script}</script>",
            unsafe_allow_javascript=True,
        )


def _cookie() -> str | None:
    value = st.context.cookies.get(COOKIE)
    return value if isinstance(value, str) and value else None  # (AppTest has no real cookies)


def sso_configured() -> bool:
    """True when ``[auth]`` is set in secrets.toml, so ``st.login`` can be offered."""
    try:
        return "auth" in st.secrets
    except (FileNotFoundError, KeyError, ValueError):
        return False


def current() -> Account | None:
    """The signed-in account, or None (not signed in, expired, signed out, or removed)."""
    if sso_configured() and st.user.is_logged_in and st.user.get("email"):
        return account_for_sso(
            state.engine(), str(st.user.email), state.settings().sso_admin_emails
        )
    token = st.session_state.get(TOKEN) or _cookie()
    if not token:
        return None
    account = account_for_token(state.engine(), token)
    if account is None:
        if st.session_state.pop(TOKEN, None):
            st.session_state["auth_notice"] = "Your session ended; please sign in again."
        st.session_state["auth_cookie"] = ("", 0)
        return None
    st.session_state[TOKEN] = token
    return account


def actor() -> Actor:
    """Who is acting on this page; pages call services with it."""
    account = current()
    if account is None:
        st.stop()
    return account.actor


ASK_AN_ADMIN = (
    "Ask one of this dashboard's administrators (whoever added your account) to do it for you, "
    "or to make you an administrator."
)


def require_admin_page() -> Actor:
    """Stop an admin page for anyone else (the navigation hides it too)."""
    who = actor()
    if not who.is_admin:
        st.info(f"Only administrators can use this page. {ASK_AN_ADMIN}", icon=":material/lock:")
        st.stop()
    return who


def admin_only_page(title: str, what: str) -> PageFunction:
    """What a viewer sees at an admin page's address (a shared link, a bookmark)."""

    def refusal() -> None:
        st.title(title)
        st.info(f"Only administrators can {what}. {ASK_AN_ADMIN}", icon=":material/lock:")

    return refusal


def sign_out() -> None:
    if sso_configured() and st.user.is_logged_in:
        st.logout()
        return
    token = st.session_state.pop(TOKEN, None) or _cookie()
    if token:
        close_session(state.engine(), token)
    st.session_state["auth_cookie"] = ("", 0)
    st.session_state["auth_notice"] = "You are signed out."


def _centered() -> DeltaGenerator:
    return st.columns([1, 2, 1])[1]


def sign_in_page() -> None:
    with _centered():
        _sign_in_form()


def setup_page() -> None:
    with _centered():
        _setup_form()


def _sign_in_form() -> None:
    st.title("Sign in to Anthropic FinOps")
    notice = st.session_state.pop("auth_notice", None)
    if notice:
        st.info(notice)
    if sso_configured():
        st.button(
            "Sign in with single sign-on", type="primary", on_click=st.login, icon=":material/key:"
        )
        st.caption("Or with a local account:")
    with st.form("sign_in", border=True):
        email = st.text_input("Email", autocomplete="username")
        password = st.text_input("Password", type="password", autocomplete="current-password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        try:
            account = sign_in(state.engine(), email=email, password=password)
        except SignInError as exc:
            st.error(str(exc))
            return
        _start_session(account)
        st.rerun()


# A visitor is on this machine only when the dashboard listens on loopback and no reverse proxy
# stands in between (a proxy on the same host makes every visitor look local to the socket).
# Any of these means a proxy relayed the request (nginx adds none by default but may add Via).
_PROXY_HEADERS = ("forwarded", "x-forwarded-for", "x-forwarded-host", "x-real-ip", "via")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False  # unset: Streamlit listens on every interface
    host = host.strip().strip("[]").lower().rstrip(".")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_of(header: str) -> str:
    """``example.com:8501`` -> ``example.com``; ``[::1]:8501`` -> ``::1``."""
    if header.startswith("["):
        return header[1:].split("]", 1)[0]
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def setup_token_required(address: str | None, headers: Mapping[str, str]) -> bool:
    """True unless the dashboard is bound to localhost and this request came straight from
    this machine: anyone else reaching the setup page must prove access to the console."""
    if not _is_loopback(address):
        return True
    lowered = {name.lower(): value for name, value in headers.items()}
    if any(lowered.get(name) for name in _PROXY_HEADERS):
        return True
    host = lowered.get("host")
    if not host:
        return False
    return not _is_loopback(_host_of(host))


def _needs_setup_token() -> bool:
    return setup_token_required(st.get_option("server.address"), dict(st.context.headers))


def _setup_form() -> None:
    st.title("Welcome to Anthropic FinOps")
    st.markdown(
        "No account exists yet. Create the first **administrator**: admins connect "
        "organizations, replace keys, delete data and manage users; viewers see dashboards "
        "and export CSVs."
    )
    data_dir = state.settings().data_dir
    needs_token = _needs_setup_token()
    if needs_token:
        issue_setup_token(data_dir)
        st.info(
            "This dashboard can be reached from other machines, so creating the first "
            "administrator needs the one-time **setup token** printed in the console where the "
            "dashboard was started (its log). Or set `FINOPS_BOOTSTRAP_ADMIN_EMAIL` and "
            "`FINOPS_BOOTSTRAP_ADMIN_PASSWORD` and restart it.",
            icon=":material/key:",
        )
    with st.form("setup", border=True):
        token = (
            st.text_input("Setup token (printed in the server's console)", type="password")
            if needs_token
            else ""
        )
        email = st.text_input("Email", autocomplete="username")
        name = st.text_input("Name (optional)")
        password = st.text_input(
            f"Password (at least {MIN_LENGTH} characters)",
            type="password",
            autocomplete="new-password",
        )
        again = st.text_input("Password again", type="password", autocomplete="new-password")
        submitted = st.form_submit_button("Create administrator", type="primary")
    if submitted:
        if needs_token and not setup_token_matches(data_dir, token):
            st.error(
                "That is not the setup token. Copy the one printed in the console where the "
                "dashboard was started (a restart prints a new one; earlier ones keep working "
                "until the first administrator exists)."
            )
            return
        if password != again:
            st.error("The two passwords differ.")
            return
        try:
            account = create_first_admin(state.engine(), email=email, password=password, name=name)
        except (WeakPassword, ValueError, SetupDone) as exc:
            st.error(str(exc))
            return
        retire_setup_tokens(data_dir)
        _start_session(account)
        st.rerun()
