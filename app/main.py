"""Streamlit entrypoint: page config and navigation only."""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Anthropic FinOps", page_icon="💸", layout="wide")

navigation = st.navigation([st.Page("../pages/overview.py", title="Overview", default=True)])
navigation.run()
