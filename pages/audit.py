"""Audit log (admins only): connections, key replacements (and failed ones), manual syncs,
deletions, users, passwords, roles and failed sign-ins; filtered by action, person and days."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.clock import today
from app.services.audit import audit_choices, events_csv, recent_events
from app.ui import auth, state
from app.ui.format import plain
from app.ui.tables import table

LIMIT = 1000
EVERYONE = "Everyone"

me = auth.require_admin_page()
st.title("Audit log")
engine = state.engine()
choices = audit_choices(engine, actor=me)
if not choices.actions:
    st.info("Nothing has been recorded yet.")
    st.stop()


def action_label(action: str) -> str:
    return action.replace("_", " ")


# In the URL (bind), so a filtered log can be shared or bookmarked like the dashboards.
what, who, when = st.columns([2, 2, 2])
actions = what.multiselect(
    "Action",
    choices.actions,
    key="action",
    format_func=action_label,
    placeholder="Every action",
    bind="query-params",
)
person = who.selectbox(
    "Who", [EVERYONE, *choices.people], key="who", format_func=plain, bind="query-params"
)
days = when.date_input(
    "Days (UTC)",
    value=[],
    min_value=choices.first_day,
    max_value=today(),
    key="days",
    bind="query-params",
)
start, end = (list(days) + [None, None])[:2] if isinstance(days, tuple) else (None, None)
if start is not None and end is not None and end < start:
    st.error("The last day is before the first; pick the range again.")
    st.stop()
events = recent_events(
    engine,
    actor=me,
    limit=LIMIT,
    actions=actions,
    person=None if person in (None, EVERYONE) else person,
    start=start,
    end=end + timedelta(days=1) if end is not None else None,  # the last day included
)
if not events:
    st.info("No event matches these filters.")
    st.stop()
# Who, target and detail can hold anything someone typed (a sign-in attempt records the email
# as given), and organization names come from the API: the table shows them inert, and the CSV
# writer neutralises them in the download.
table(
    [
        {
            "When (UTC)": e.at,
            "Who": e.actor,
            "Action": action_label(e.action),
            "Organization / user": e.subject,
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
filtered = bool(actions) or person not in (None, EVERYONE) or start is not None
latest = f"The latest {len(events)} events" + (" that match" if filtered else "")
st.caption(f"{latest}. Keys and passwords are never recorded.")
