"""Managed organizations: status, data range, and per-row actions (sync, replace key, delete)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

import streamlit as st

from app.anthropic.errors import AnthropicError
from app.anthropic.keys import KeyFormatError
from app.clock import utcnow
from app.models import OrgStatus, Provider
from app.reports.demo import DemoMix, demo_name
from app.reports.labels import KEY_ESTIMATE_NOTE
from app.services.actions import request_sync
from app.services.connections import KeyOfAnotherOrganization, replace_key
from app.services.organizations import (
    OrgSummary,
    delete_organization,
    list_organizations,
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
# While a sync runs (or was just asked for), the row's status reads itself again this often.
LIVE_SECONDS = 2
# How long a requested sync that no worker has started is followed live (then it just says so).
FOLLOW_REQUEST = timedelta(minutes=2)
# The word joiner: no line break on either side of it (a key hint is one unbroken string).
WORD_JOINER = "\u2060"
# The dialog open on the page: (dialog, organization id). A whole-page rerun (the live status
# seeing a sync end) would otherwise close it, a pasted key with it: the page opens it again
# until it is closed (Cancel, done, or dismissed).
OPEN_DIALOG = "orgs_open_dialog"
# A widget of each dialog: gone from the session once a run of any page went without the
# dialog (the person left the page), so a dialog left open elsewhere never reopens by itself.
DIALOG_WIDGETS = {
    "replace_key": "replace_key_cancel",
    "delete": "delete_cancel",
    "remove_demo": "remove_demo_cancel",
}


def unbroken(text: str) -> str:
    """Text that a browser never breaks over two lines (after its hyphens or around "…")."""
    return WORD_JOINER.join(text)


def _sync_due(org: OrgSummary) -> bool:
    """A sync was asked for (or is due) and no worker has started it yet."""
    due = org.next_run_at
    return (
        not org.sync_running
        and org.status != OrgStatus.KEY_REJECTED
        and due is not None
        and due <= utcnow()
    )


def _moving(org: OrgSummary) -> bool:
    """Whether the row's status changes by itself soon: a sync runs, a backfill goes on, or a
    sync was just requested."""
    if org.sync_running or org.status == OrgStatus.BACKFILLING:
        return True
    due = org.next_run_at
    return _sync_due(org) and due is not None and utcnow() - due < FOLLOW_REQUEST


def _moment(at: datetime) -> str:
    """A time of day, with its date when it is not today (UTC)."""
    return f"{at:%H:%M} UTC" if at.date() == utcnow().date() else f"{at:%Y-%m-%d %H:%M} UTC"


def _status_lines(org: OrgSummary) -> None:
    # One block without gaps, also when a fragment draws it (a fragment spaces its elements).
    with st.container(gap=None):
        color, icon = STATUS_BADGES.get(org.status, ("gray", ":material/help:"))
        st.badge(status_label(org.status, org.backfill_progress), color=color, icon=icon)
        if org.sync_started_at is not None:
            st.caption(f":material/sync: Sync running, started {ago(org.sync_started_at)}")
        elif _sync_due(org) and org.next_run_at is not None:
            waiting = utcnow() - org.next_run_at
            st.caption(
                ":material/schedule: Sync requested; the worker starts it within seconds"
                if waiting < FOLLOW_REQUEST
                else f":material/schedule: Sync due since {_moment(org.next_run_at)}, waiting "
                "for the worker"
            )
        synced = org.last_synced_at
        st.caption(f"Last sync {ago(synced)} ({_moment(synced)})" if synced else "Never synced")
        st.caption(
            # Dates kept whole: "2026-10-23 →" over "2026-12-01", never "2026-" over "12-01".
            f"{unbroken(str(org.data_start))} → {unbroken(str(org.data_end))} · "
            f"{org.cost_rows + org.usage_rows:,} rows"
            if org.data_start
            else "No data yet"
        )


def _current(organization_id: str) -> OrgSummary | None:
    return next(
        (o for o in list_organizations(state.engine()) if o.organization_id == organization_id),
        None,
    )


@st.fragment(run_every=LIVE_SECONDS)
def _live_status(organization_id: str) -> None:
    org = _current(organization_id)
    if org is None:  # deleted elsewhere
        st.rerun()
        return
    _status_lines(org)
    if not _moving(org):
        state.clear_caches()
        st.rerun()  # the sync ended: the whole page (and its figures) as they are now


def live_status(org: OrgSummary) -> None:
    """The row's status, sync and data range; read again every few seconds while it moves."""
    if _moving(org):
        _live_status(org.organization_id)
    else:
        _status_lines(org)


def _open(dialog: str, organization_id: str = "") -> None:
    st.session_state[OPEN_DIALOG] = (dialog, organization_id)


def _closed() -> None:
    """The dialog was closed (Cancel, done, or dismissed): the page no longer reopens it, and a
    key pasted into Replace key and never saved leaves the session with it."""
    st.session_state.pop(OPEN_DIALOG, None)
    st.session_state.pop("replace_key_value", None)


def _forget_a_dialog_left_open() -> None:
    """A dialog was open when the person left the page (a run of another page went without
    its widgets): coming back opens none by itself."""
    opened = st.session_state.get(OPEN_DIALOG)
    if not isinstance(opened, tuple) or DIALOG_WIDGETS.get(opened[0]) not in st.session_state:
        _closed()


def _delete(organization_id: str, name: str) -> None:
    _closed()
    deleted = delete_organization(
        engine=state.engine(), organization_id=organization_id, actor=auth.actor()
    )
    state.clear_caches()
    st.session_state["orgs_notice"] = (
        f"Deleted {name}: its key, sync jobs and data were removed."
        if deleted
        else f"{name} was already deleted."
    )


def _delete_wording(org: OrgSummary) -> str:
    """What Delete removes, in the words of the organization's product and key."""
    rows = f"{org.cost_rows:,} cost rows and {org.usage_rows:,} usage rows"
    if org.provider == Provider.ENTERPRISE:
        return (
            "This removes its stored Analytics API key, stops its sync jobs, and deletes its "
            f"Claude Enterprise data from this dashboard: {rows} of spend and usage by product "
            "and model, with its per-user and engagement data. Nothing changes in Claude "
            "Enterprise (claude.ai). You can connect it again later with an Analytics API key."
        )
    return (
        "This removes its stored Admin API key, stops its sync jobs, and deletes its "
        f"{rows} of usage and cost (and its Claude Code report) from this dashboard. Nothing "
        "changes in Anthropic's Console. You can connect it again later with an Admin API key."
    )


@st.dialog("Delete organization", on_dismiss=_closed)
def confirm_delete(org: OrgSummary) -> None:
    st.markdown(
        f"Delete **{md(org.name)}** (organization id {md(org.organization_id)})?\n\n"
        + _delete_wording(org)
    )
    cancel, delete, _ = st.columns([1, 1, 2])
    if cancel.button("Cancel", key="delete_cancel", on_click=_closed):
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
    _closed()
    removed = remove_demo_organizations(engine=state.engine(), actor=auth.actor())
    state.clear_caches()
    st.session_state["orgs_notice"] = (
        f"Removed the demo data: {', '.join(removed)} and all of its data."
        if removed
        else "The demo data was already removed."
    )


@st.dialog("Remove demo data", on_dismiss=_closed)
def confirm_remove_demo(demo: list[OrgSummary]) -> None:
    rows = sum(o.cost_rows + o.usage_rows for o in demo)
    names = ", ".join(f"**{md(o.name)}**" for o in demo)
    st.markdown(
        f"Remove the demo data? This deletes {names} and their {rows:,} rows of simulated "
        "data from this dashboard. Your real organizations are not touched."
    )
    cancel, remove, _ = st.columns([1, 1, 2])
    if cancel.button("Cancel", key="remove_demo_cancel", on_click=_closed):
        st.rerun()
    if remove.button("Remove", type="primary", key="remove_demo_confirm", on_click=_remove_demo):
        st.rerun()


@st.dialog("Replace key", on_dismiss=_closed)
def replace_key_dialog(org: OrgSummary) -> None:
    enterprise = org.provider == Provider.ENTERPRISE
    kind = "Analytics API key" if enterprise else "Admin API key"
    st.markdown(f"Paste a new {kind} for **{md(org.name)}**.")
    prefix = "sk-ant-api01-…" if enterprise else "sk-ant-admin01-…"
    key = st.text_input(f"New {kind}", type="password", key="replace_key_value", placeholder=prefix)
    replace, cancel, _ = st.columns([1.6, 1, 1])
    if cancel.button("Cancel", key="replace_key_cancel", on_click=_closed):
        st.rerun()
    if replace.button("Test and replace", type="primary"):
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
        _closed()  # the key leaves the session with the dialog
        state.clear_caches()
        st.session_state["orgs_notice"] = f"Replaced the key of {org.name}; it syncs again now."
        st.rerun()


auth.require_admin_page()
# A dialog open before this run (the live status reran the page) is shown again below.
_forget_a_dialog_left_open()
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
    note, action = st.columns([3, 1.3], vertical_alignment="center")
    note.caption(
        "Demo organizations are simulated data, left out of the totals while a real "
        "organization is connected."
    )
    if action.button("Remove demo data", icon=":material/delete_sweep:", key="remove_demo"):
        _open("remove_demo")

# One table at every width: the organization (name, id, provider, key), then its status, sync
# and data beside the row's ⋮ menu. `wrap=False` keeps each row one row on a phone (columns
# would otherwise stack below 640 px, every value on its own line, away from its heading); two
# columns fit 390 px with room for a whole key hint.
WIDTHS = [1.1, 1.0]
table = st.container(gap=None)
header = table.columns(WIDTHS, wrap=False, gap="xsmall")
header[0].markdown("**Organization**")
header[1].markdown("**Status**")
for org in orgs:
    table.divider()
    row = table.columns(WIDTHS, wrap=False, gap="xsmall", vertical_alignment="top")
    with row[0].container(gap=None):
        st.text(plain(demo_name(org.name, org.is_demo, mix)))
        st.caption(md(org.organization_id))
        st.caption(md(org.provider_label))
        st.caption(md(unbroken(org.key_hint)))
    status_cell = row[1].container(horizontal=True, wrap=False, gap="xsmall")
    status_text = status_cell.container(gap=None)
    # The row's ⋮ menu (icon only, as in the Console): sync now, replace key, delete.
    choice = status_cell.menu_button(
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
            org = _current(org.organization_id) or org  # the row follows the request live
        else:
            st.toast(f"{md(org.name)} needs a new key before it can sync.")
    elif choice == "Replace key":
        _open("replace_key", org.organization_id)
    elif choice == "Delete organization":
        _open("delete", org.organization_id)
    with status_text:
        live_status(org)
    if org.status_message and org.status in (OrgStatus.KEY_REJECTED, OrgStatus.FAILING):
        table.caption(md(f"{org.name}: {org.status_message}"))
    for dataset, reason in org.unavailable.items():  # healthy, but a dataset is not synced
        estimated = f" {KEY_ESTIMATE_NOTE}" if dataset == "key_cost" else ""
        table.caption(md(f"{org.name}: {reason}{estimated}"))

# One dialog a run (Streamlit's rule), opened here whether it was chosen in this run or was
# open before it: a sync ending while it is open reruns the page and leaves it open.
opened = st.session_state.get(OPEN_DIALOG)
if isinstance(opened, tuple):
    dialog, organization_id = opened
    chosen = next((o for o in orgs if o.organization_id == organization_id), None)
    if dialog == "remove_demo" and mix.mixed:
        confirm_remove_demo([o for o in orgs if o.is_demo])
    elif dialog == "replace_key" and chosen is not None:
        replace_key_dialog(chosen)
    elif dialog == "delete" and chosen is not None:
        confirm_delete(chosen)
    else:
        _closed()  # its organization is gone (deleted elsewhere): nothing to show
