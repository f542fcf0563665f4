"""The "Include demo data" choice: offered only while demo and real organizations are both
connected (otherwise there is nothing to choose), and mirrored in the URL as ``demo=1``."""

from __future__ import annotations

import streamlit as st

from app.ui import state

PARAM = "demo"
LABEL = "Include demo data"


def include_demo_choice(prefix: str) -> bool:
    """Render the checkbox where the caller is (a filter bar, the Overview) and return whether
    demo organizations count in the totals. False, and nothing rendered, unless both kinds are
    connected: with only demo organizations they are counted anyway (``Filters.include_demo``
    leaves them out only beside a real one). The URL's ``demo=1`` seeds it once per session;
    a filter bar that rewrites the query string must keep ``demo=1`` while this is True."""
    if not state.demo_mix().mixed:
        return False
    key = f"{prefix}include_demo"
    if key not in st.session_state:
        st.session_state[key] = st.query_params.get(PARAM) == "1"
    chosen = st.checkbox(
        LABEL,
        key=key,
        help="Demo organizations are simulated data: left out of the totals while a real "
        "organization is connected. Remove them on the Organizations page.",
    )
    if chosen:
        st.query_params[PARAM] = "1"
    elif PARAM in st.query_params:
        del st.query_params[PARAM]
    return bool(chosen)
