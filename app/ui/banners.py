"""Status banners shared by the pages: rejected keys, failing syncs, backfills, data ready."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.clock import utcnow
from app.models import OrgStatus
from app.services.organizations import OrgSummary
from app.ui import state
from app.ui.format import md


def problem_banners(orgs: list[OrgSummary]) -> None:
    """A visible banner for every organization whose key was rejected or whose sync fails."""
    for org in orgs:
        if org.status == OrgStatus.KEY_REJECTED:
            st.error(
                f"**{md(org.name)}** is not being updated: {md(org.status_message)} "
                "Replace its key on the Organizations page (⋮ → Replace key).",
                icon=":material/key_off:",
            )
        elif org.status == OrgStatus.FAILING:
            st.warning(
                f"**{md(org.name)}**: the last sync failed. {md(org.status_message)}",
                icon=":material/sync_problem:",
            )


def ready_notices(orgs: list[OrgSummary]) -> None:
    """The in-app "data is ready" notice, for a day after a backfill completes."""
    for org in orgs:
        done = org.backfill_completed_at
        if done and utcnow() - done < timedelta(days=1):
            st.success(
                f"**{md(org.name)}** is ready: {md(str(org.data_start))} to "
                f"{md(str(org.data_end))} of usage and cost have been imported.",
                icon=":material/task_alt:",
            )


def require_organizations(what: str) -> list[OrgSummary]:
    """The connected organizations, or an empty state pointing at the wizard (and stop)."""
    orgs = state.organizations()
    if not orgs:
        st.info(f"Connect an organization first: its {what} appears here.")
        st.page_link(
            "../pages/connect.py", label="Connect an organization", icon=":material/add_link:"
        )
        st.stop()
    problem_banners(orgs)
    return orgs
