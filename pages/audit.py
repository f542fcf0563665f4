"""Audit log (admins only): connections, key replacements, deletions, roles, failed sign-ins."""

from __future__ import annotations

import streamlit as st

from app.services.audit import events_csv, recent_events
from app.ui import auth, state
from app.ui.tables import table

me = auth.require_admin_page()
st.title("Audit log")
events = recent_events(state.engine(), actor=me)
if not events:
    st.info("Nothing has been recorded yet.")
    st.stop()
# Who, target and detail can hold anything someone typed (a sign-in attempt records the email
# as given): the table shows them inert, and the CSV writer neutralises them in the download.
table(
    [
        {
            "When (UTC)": e.at,
            "Who": e.actor,
            "Action": e.action.replace("_", " "),
            "Organization / user": e.target or "",
            "Detail": e.detail or "",
        }
        for e in events
    ],
)
st.download_button(
    "Download CSV",
    events_csv(events),
    file_name="audit-log.csv",
    mime="text/csv",
    icon=":material/download:",
    on_click="ignore",
)
st.caption(f"The latest {len(events)} events. Keys and passwords are never recorded.")
