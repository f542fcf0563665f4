"""Streamlit entrypoint: page config, a start-up check and navigation (no scheduler ever here)."""

from __future__ import annotations

import streamlit as st

from app.db import DatabaseError
from app.keystore import KeyStore, MasterKeyError
from app.ui import state

st.set_page_config(page_title="Anthropic FinOps", page_icon=":material/savings:", layout="wide")

try:
    state.engine()
    KeyStore.from_settings(state.settings())
except (DatabaseError, MasterKeyError) as exc:
    st.error(f"Anthropic FinOps cannot start: {exc}", icon=":material/error:")
    st.stop()

pages = {
    "Dashboards": [
        st.Page(
            "../pages/overview.py", title="Overview", icon=":material/dashboard:", default=True
        ),
        st.Page("../pages/spend.py", title="Spend", icon=":material/payments:"),
        st.Page("../pages/usage.py", title="Usage", icon=":material/data_usage:"),
    ],
    "Manage": [
        st.Page("../pages/organizations.py", title="Organizations", icon=":material/domain:"),
        st.Page("../pages/connect.py", title="Connect", icon=":material/add_link:"),
    ],
}
st.navigation(pages).run()
