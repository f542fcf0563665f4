"""Streamlit entrypoint: page config and navigation only (no scheduler ever runs here)."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Anthropic FinOps", page_icon=":material/savings:", layout="wide")

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
