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


READY_FOR = timedelta(days=1)  # how long the "data is ready" notice is offered
DISMISSED = "ready_notices_dismissed"  # session state: the completed backfills dismissed


def _ready_key(org: OrgSummary) -> str:
    # A later backfill of the same organization (a new key) is news again.
    done = org.backfill_completed_at
    return f"{org.organization_id}@{done.isoformat() if done else ''}"


def _dismiss(keys: list[str]) -> None:
    dismissed = set(st.session_state.get(DISMISSED, ()))
    st.session_state[DISMISSED] = dismissed | set(keys)


def _ready_text(ready: list[OrgSummary]) -> str:
    def span(org: OrgSummary) -> str:
        return f"{md(str(org.data_start))} to {md(str(org.data_end))}"

    if len(ready) == 1:
        [org] = ready
        return f"**{md(org.name)}** is ready: {span(org)} of usage and cost have been imported."
    listed = "; ".join(f"**{md(org.name)}** ({span(org)})" for org in ready)
    return f"{len(ready)} organizations are ready, their usage and cost imported: {listed}."


def ready_notices(orgs: list[OrgSummary]) -> None:
    """One in-app "data is ready" notice for the backfills completed in the last day, however
    many there are; dismissed, it stays away for the session (until another one completes)."""
    now = utcnow()
    dismissed = st.session_state.get(DISMISSED, set())
    ready = [
        org
        for org in orgs
        if org.backfill_completed_at is not None
        and now - org.backfill_completed_at < READY_FOR
        and _ready_key(org) not in dismissed
    ]
    if not ready:
        return
    notice = st.container(horizontal=True, wrap=False, vertical_alignment="center", gap="xsmall")
    notice.success(_ready_text(ready), icon=":material/task_alt:")
    notice.button(
        "",
        key="ready_notice_dismiss",
        icon=":material/close:",
        type="tertiary",
        help="Dismiss",
        on_click=_dismiss,
        args=([_ready_key(org) for org in ready],),
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
