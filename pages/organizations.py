"""Managed organizations: status, data range, and per-row actions (sync, replace key, delete)."""

from __future__ import annotations

from typing import Literal

import streamlit as st

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import KeyFormatError
from app.models import OrgStatus, Provider
from app.reports.demo import DemoMix, demo_name
from app.services.actions import request_sync
from app.services.connections import KeyOfAnotherOrganization, replace_key
from app.services.organizations import (
    OrgSummary,
    delete_organization,
    remove_demo_organizations,
)
from app.ui import auth, connections, state
from app.ui.format import ago, md, plain, status_label

ACTIONS = ["Sync now", "Replace key", "Delete organization"]
# The badge colours Streamlit accepts that these statuses use.
BadgeColor = Literal["green", "blue", "orange", "red", "gray"]
STATUS_BADGES: dict[str, tuple[BadgeColor, str]] = {
    OrgStatus.HEALTHY: ("green", ":material/check_circle:"),
    OrgStatus.BACKFILLING: ("blue", ":material/downloading:"),
    OrgStatus.FAILING: ("orange", ":material/sync_problem:"),
    OrgStatus.KEY_REJECTED: ("red", ":material/key_off:"),
}


def _delete(organization_id: str, name: str) -> None:
    deleted = delete_organization(
        engine=state.engine(), organization_id=organization_id, actor=auth.actor()
    )
    state.clear_caches()
    st.session_state["orgs_notice"] = (
        f"Deleted {name}: its key, sync jobs and data were removed."
        if deleted
        else f"{name} was already deleted."
    )


@st.dialog("Delete organization")
def confirm_delete(org: OrgSummary) -> None:
    st.markdown(
        f"Delete **{md(org.name)}** (organization id {md(org.organization_id)})?\n\n"
        f"This removes its stored Admin key, stops its sync jobs, and deletes its "
        f"{org.cost_rows:,} cost rows and {org.usage_rows:,} usage rows from this dashboard. "
        "Nothing changes in Anthropic's Console. You can connect it again later."
    )
    cancel, delete, _ = st.columns([1, 1, 2])
    if cancel.button("Cancel", key="delete_cancel"):
        st.rerun()
    if delete.button(
        "Delete",
        type="primary",
        key="delete_confirm",
        on_click=_delete,
        args=(org.organization_id, org.name),
    ):
        st.rerun()


def _remove_demo() -> None:
    removed = remove_demo_organizations(engine=state.engine(), actor=auth.actor())
    state.clear_caches()
    st.session_state["orgs_notice"] = (
        f"Removed the demo data: {', '.join(removed)} and all of its data."
        if removed
        else "The demo data was already removed."
    )


@st.dialog("Remove demo data")
def confirm_remove_demo(demo: list[OrgSummary]) -> None:
    rows = sum(o.cost_rows + o.usage_rows for o in demo)
    names = ", ".join(f"**{md(o.name)}**" for o in demo)
    st.markdown(
        f"Remove the demo data? This deletes {names} and their {rows:,} rows of simulated "
        "data from this dashboard. Your real organizations are not touched."
    )
    cancel, remove, _ = st.columns([1, 1, 2])
    if cancel.button("Cancel", key="remove_demo_cancel"):
        st.rerun()
    if remove.button("Remove", type="primary", key="remove_demo_confirm", on_click=_remove_demo):
        st.rerun()


@st.dialog("Replace key")
def replace_key_dialog(org: OrgSummary) -> None:
    enterprise = org.provider == Provider.ENTERPRISE
    kind = "Analytics API key" if enterprise else "Admin API key"
    st.markdown(f"Paste a new {kind} for **{md(org.name)}**.")
    prefix = "sk-ant-api01-…" if enterprise else "sk-ant-admin01-…"
    key = st.text_input(f"New {kind}", type="password", key="replace_key_value", placeholder=prefix)
    if st.button("Test and replace", type="primary"):
        try:
            replace_key(
                key,
                organization_id=org.organization_id,
                name=org.name,
                provider=org.provider,
                probe=connections.key_probe(),
                engine=state.engine(),
                settings=state.settings(),
                keystore=connections.keystore(),
                actor=auth.actor(),
            )
        except (KeyFormatError, AnthropicError) as exc:
            st.error(md(str(exc)))
            return
        except KeyOfAnotherOrganization as exc:
            st.error(
                f"This key belongs to {md(exc.opened.name)} ({md(exc.opened.id)}), not to "
                f"{md(org.name)}. Use “Connect new organization” to add it."
            )
            return
        st.session_state.pop("replace_key_value", None)
        state.clear_caches()
        st.session_state["orgs_notice"] = f"Replaced the key of {org.name}; it syncs again now."
        st.rerun()


auth.require_admin_page()
title, button = st.columns([3, 1.3], vertical_alignment="bottom")
title.title("Organizations")
if button.button("Connect new organization", type="primary", icon=":material/add:"):
    st.switch_page("../pages/connect.py")

notice = st.session_state.pop("orgs_notice", None)
if notice:
    st.success(md(notice))

orgs = state.organizations()
if not orgs:
    st.info("No organization is connected. Use “Connect new organization” to add one.")
    st.stop()

mix = DemoMix(demo=sum(o.is_demo for o in orgs), real=sum(not o.is_demo for o in orgs))
if mix.mixed:
    demo_orgs = [o for o in orgs if o.is_demo]
    note, action = st.columns([3, 1.3], vertical_alignment="center")
    note.caption(
        "Demo organizations are simulated data, left out of the totals while a real "
        "organization is connected."
    )
    if action.button("Remove demo data", icon=":material/delete_sweep:", key="remove_demo"):
        confirm_remove_demo(demo_orgs)

widths = [2.0, 2.6, 1.3, 1.9, 1.6, 1.2, 1.9, 1.1, 0.9]
header = st.columns(widths)
for column, text in zip(
    header,
    ["Name", "Organization id", "Provider", "Key", "Status", "Last sync", "Data range", "Rows", ""],
    strict=True,
):
    if text:
        column.markdown(f"**{text}**")
for org in orgs:
    row = st.columns(widths, vertical_alignment="center")
    row[0].text(plain(demo_name(org.name, org.is_demo, mix)))
    row[1].text(plain(org.organization_id))
    row[2].text(org.provider_label)
    row[3].text(org.key_hint)
    color, icon = STATUS_BADGES.get(org.status, ("gray", ":material/help:"))
    row[4].badge(status_label(org.status, org.backfill_progress), color=color, icon=icon)
    row[5].text(ago(org.last_synced_at))
    row[6].text(f"{org.data_start} → {org.data_end}" if org.data_start else "—")
    row[7].text(f"{org.cost_rows + org.usage_rows:,}")
    # The row's ⋮ menu (icon only, as in the Console): sync now, replace key, delete.
    choice = row[8].menu_button(
        "",
        ACTIONS,
        key=f"actions_{org.organization_id}",
        icon=":material/more_vert:",
        type="tertiary",
        help="Sync now, replace key or delete",
    )
    if choice == "Sync now":
        if request_sync(
            engine=state.engine(), organization_id=org.organization_id, actor=auth.actor()
        ):
            st.toast(f"Sync of {md(org.name)} requested; the worker starts it within seconds.")
        else:
            st.toast(f"{md(org.name)} needs a new key before it can sync.")
    elif choice == "Replace key":
        replace_key_dialog(org)
    elif choice == "Delete organization":
        confirm_delete(org)
    if org.status_message and org.status in (OrgStatus.KEY_REJECTED, OrgStatus.FAILING):
        st.caption(md(f"{org.name}: {org.status_message}"))
