"""Streamlit entrypoint: start-up check, sign-in gate and navigation by role.

Every page's address is registered on every run, signed in or not, so a shared link
(``/spend?range=6m&group=workspace``) opens the sign-in form in place and, once signed in, the
page it names with its filters; a viewer who follows a link to an admin page is told what the
page is for and whom to ask. No scheduler ever runs here; the worker is a separate process.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from app.ui import session_cookie

# A local file: a ":material/…:" page icon makes the browser fetch the icon from a font CDN on
# every page load, and a self-hosted dashboard requests nothing outside its own host.
ICON = Path(__file__).resolve().parent / "ui" / "assets" / "icon.svg"


@dataclass(frozen=True)
class View:
    """One page of the app, at one address whoever asks for it."""

    script: str
    title: str
    icon: str
    url_path: str
    # For admin pages: what the page does, finishing "Only administrators can …".
    admin_only: str | None = None


DASHBOARDS = (
    View("../pages/overview.py", "Overview", ":material/dashboard:", "overview"),
    View("../pages/spend.py", "Spend", ":material/payments:", "spend"),
    View("../pages/usage.py", "Usage", ":material/data_usage:", "usage"),
    View("../pages/claude_code.py", "Claude Code", ":material/terminal:", "claude_code"),
    View("../pages/enterprise.py", "Claude Enterprise", ":material/apartment:", "enterprise"),
    View("../pages/allocations.py", "Allocations", ":material/account_tree:", "allocations"),
    View("../pages/statements.py", "Statements", ":material/receipt_long:", "statements"),
    View("../pages/budgets.py", "Budgets", ":material/savings:", "budgets"),
    View("../pages/anomalies.py", "Anomalies", ":material/troubleshoot:", "anomalies"),
    View("../pages/reconciliation.py", "Reconciliation", ":material/balance:", "reconciliation"),
    View("../pages/data_quality.py", "Data quality", ":material/fact_check:", "data_quality"),
    View("../pages/focus.py", "FOCUS export", ":material/ios_share:", "focus"),
)
MANAGE = (
    View(
        "../pages/organizations.py",
        "Organizations",
        ":material/domain:",
        "organizations",
        "manage the connected organizations (sync now, replace a key, delete)",
    ),
    View(
        "../pages/connect.py",
        "Connect",
        ":material/add_link:",
        "connect",
        "connect an organization (its Admin or Analytics API key is pasted here)",
    ),
    View(
        "../pages/users.py",
        "Users",
        ":material/group:",
        "users",
        "add users, change their roles and remove them",
    ),
    View(
        "../pages/audit.py",
        "Audit log",
        ":material/history:",
        "audit",
        "read the audit log (connections, key changes, deletions, sign-ins)",
    ),
)
# Every role's own: changing one's password.
ACCOUNT = View("../pages/account.py", "Account", ":material/account_circle:", "account")
HOME = DASHBOARDS[0]


def gate(form: Callable[[], None], title: str, icon: str) -> list[st.Page]:
    """One form at every page's address: the link stays in the address bar, and the rerun
    after signing in opens the page it names (pages are told apart by their ``url_path``)."""
    return [
        st.Page(form, title=title, icon=icon, url_path=view.url_path, default=view is HOME)
        for view in (*DASHBOARDS, *MANAGE, ACCOUNT)
    ]


def page(view: View) -> st.Page:
    return st.Page(
        view.script, title=view.title, icon=view.icon, url_path=view.url_path, default=view is HOME
    )


def run() -> None:
    """One run of the script: a session's page, signed in or not."""
    # Imported here, not at the top: `streamlit run` first imports this file to find the st.App
    # below, before Streamlit's runtime exists, and these modules declare st.cache_data
    # functions (each would log "No runtime found" at every start).
    from app.db import DatabaseError
    from app.keystore import KeyStore, MasterKeyError
    from app.redact import install_redaction
    from app.services.users import bootstrap_admin, user_count
    from app.settings import SettingsError
    from app.ui import auth, state
    from app.ui.format import md

    # Before anything logs: Streamlit's own handlers, and the root logger it leaves alone, carry
    # no filter of ours; this masks keys in every record the process makes.
    install_redaction()
    st.set_page_config(page_title="Anthropic FinOps", page_icon=ICON, layout="wide")

    try:
        engine = state.engine()
        settings = state.settings()
        KeyStore.from_settings(settings)
    except (DatabaseError, MasterKeyError, SettingsError) as exc:
        st.error(f"Anthropic FinOps cannot start: {exc}", icon=":material/error:")
        st.stop()

    # One count per rerun; the bootstrap variables only matter while no account exists.
    try:
        no_accounts = user_count(engine) == 0 and not bootstrap_admin(
            engine, settings.bootstrap_admin_email, settings.bootstrap_admin_password
        )
    except ValueError as exc:  # a weak bootstrap password: say why (never what it is)
        st.error(f"Anthropic FinOps cannot start: {exc}", icon=":material/error:")
        st.stop()
    if no_accounts:
        st.navigation(
            gate(auth.setup_page, "Set up", ":material/person_add:"), position="hidden"
        ).run()
        st.stop()
    account = auth.current()
    auth.write_cookie()
    if account is None:
        st.navigation(
            gate(auth.sign_in_page, "Sign in", ":material/login:"), position="hidden"
        ).run()
        st.stop()

    pages: dict[str, list[st.Page]] = {"Dashboards": [page(view) for view in DASHBOARDS]}
    if account.actor.is_admin:
        pages["Manage"] = [page(view) for view in MANAGE]
    else:
        # Out of a viewer's menu, but a link to one says what it is for, not "Page not found".
        pages["Dashboards"] += [
            st.Page(
                auth.admin_only_page(view.title, view.admin_only or "use this page"),
                title=view.title,
                icon=view.icon,
                url_path=view.url_path,
                visibility="hidden",
            )
            for view in MANAGE
        ]
    pages["Account"] = [page(ACCOUNT)]
    with st.sidebar:
        st.caption(f"Signed in as {md(account.email)} ({account.role})")
        st.button("Sign out", on_click=auth.sign_out, icon=":material/logout:")
    st.navigation(pages).run()


if __name__ == "__main__":  # every run of the script in a session (and in AppTest)
    run()
else:
    # Imported by `streamlit run app/main.py`, which finds this st.App and serves the app
    # through it: Streamlit's own server, plus the one route that sets the session cookie
    # HttpOnly (app/ui/session_cookie.py). Scripts still run this file as __main__.
    streamlit_app = st.App(__file__, routes=[session_cookie.route()])
