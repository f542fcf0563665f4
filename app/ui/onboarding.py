"""The empty state ("Connect +" / "Explore with demo data") and live backfill progress."""

from __future__ import annotations

import streamlit as st

from app.models import OrgStatus, Provider
from app.reports.demo import DemoMix, demo_name
from app.reports.labels import KEY_ESTIMATE_NOTE
from app.services.connections import connect_demo
from app.services.organizations import OrgSummary
from app.ui import auth, connections, state
from app.ui.format import ago, md, status_label

LIVE_SECONDS = 2  # how often live progress reads the database again


def _start_demo() -> None:
    # A Console organization and a Claude Enterprise one, so every page has something to show.
    for provider in (Provider.CONSOLE, Provider.ENTERPRISE):
        connect_demo(
            probe=connections.key_probe(),
            engine=state.engine(),
            settings=state.settings(),
            keystore=connections.keystore(),
            actor=auth.actor(),
            provider=provider,
        )
    state.clear_caches()


def empty_state() -> None:
    st.title("Anthropic FinOps")
    st.markdown(
        "See where your Claude API money goes — by model, workspace, service tier, API key and "
        "day — with totals that match Anthropic's bill to the cent."
    )
    with st.container(border=True):
        st.subheader("No organization connected yet")
        st.markdown(
            "Connect a Claude Console organization with an **Admin API key**. Six months of "
            "usage and cost history arrive in about a minute."
        )
        if not auth.actor().is_admin:
            st.info("Ask an admin of this dashboard to connect an organization.")
            return
        left, right, _ = st.columns([1, 1, 3])
        if left.button("Connect +", type="primary", icon=":material/add_link:"):
            st.switch_page("../pages/connect.py")
        right.button(
            "Explore with demo data",
            on_click=_start_demo,
            help="Connects a simulated Console organization and a simulated Claude Enterprise "
            "organization; no key or network needed.",
        )


def backfill_progress(backfilling: list[OrgSummary]) -> None:
    """Live progress of running backfills (refreshes itself every two seconds)."""
    if not backfilling:
        return

    @st.fragment(run_every=LIVE_SECONDS)
    def _live() -> None:
        current = {o.organization_id: o for o in state.organizations()}
        running = False
        for org in backfilling:
            now = current.get(org.organization_id)
            if now is None:
                continue
            if now.status == OrgStatus.BACKFILLING:
                running = True
                st.progress(
                    now.backfill_progress,
                    text=f"Importing six months of {md(now.name)}: {now.backfill_progress:.0%}",
                )
        if not running:
            state.clear_caches()
            st.rerun()  # the backfill finished: show the dashboards with full data

    _live()


def _freshness_lines(orgs: list[OrgSummary]) -> None:
    mix = DemoMix(demo=sum(o.is_demo for o in orgs), real=sum(not o.is_demo for o in orgs))
    for org in orgs:
        name = demo_name(org.name, org.is_demo, mix)
        st.markdown(
            f"**{md(name)}** · {status_label(org.status, org.backfill_progress)} · "
            f"updated {ago(org.last_synced_at)} · data {md(str(org.data_start or '—'))} to "
            f"{md(str(org.data_end or '—'))}"
        )
        for dataset, reason in org.unavailable.items():
            note = f" {KEY_ESTIMATE_NOTE}" if dataset == "key_cost" else ""
            st.caption(md(f"{reason}{note}"))


@st.fragment(run_every=LIVE_SECONDS)
def _live_freshness() -> None:
    orgs = state.organizations()
    _freshness_lines(orgs)
    if not any(o.status == OrgStatus.BACKFILLING for o in orgs):
        state.clear_caches()
        st.rerun()  # the backfills ended: the whole page with its full figures


def data_freshness(orgs: list[OrgSummary]) -> None:
    """One line per organization: status (a backfill's percentage), last sync and data range;
    read again every two seconds while any organization backfills, so the percentage moves."""
    if any(o.status == OrgStatus.BACKFILLING for o in orgs):
        _live_freshness()
    else:
        _freshness_lines(orgs)
