"""Streamlit entrypoint: start-up check, sign-in gate and navigation by role.

No scheduler ever runs here; the worker is a separate process.
"""

from __future__ import annotations

import streamlit as st

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
st.set_page_config(page_title="Anthropic FinOps", page_icon=":material/savings:", layout="wide")

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
    st.navigation([st.Page(auth.setup_page, title="Set up", icon=":material/person_add:")]).run()
    st.stop()
account = auth.current()
auth.write_cookie()
if account is None:
    st.navigation([st.Page(auth.sign_in_page, title="Sign in", icon=":material/login:")]).run()
    st.stop()

pages = {
    "Dashboards": [
        st.Page(
            "../pages/overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page("../pages/spend.py", title="Spend", icon=":material/payments:"),
        st.Page("../pages/usage.py", title="Usage", icon=":material/data_usage:"),
        st.Page("../pages/claude_code.py", title="Claude Code", icon=":material/terminal:"),
        st.Page("../pages/enterprise.py", title="Claude Enterprise", icon=":material/apartment:"),
    ],
}
if account.actor.is_admin:
    pages["Manage"] = [
        st.Page("../pages/organizations.py", title="Organizations", icon=":material/domain:"),
        st.Page("../pages/connect.py", title="Connect", icon=":material/add_link:"),
        st.Page("../pages/users.py", title="Users", icon=":material/group:"),
        st.Page("../pages/audit.py", title="Audit log", icon=":material/history:"),
    ]
with st.sidebar:
    st.caption(f"Signed in as {md(account.email)} ({account.role})")
    st.button("Sign out", on_click=auth.sign_out, icon=":material/logout:")
st.navigation(pages).run()
