"""Reconciliation: per-key billed cost (Usage and Cost Analytics API) against the bill (the cost
report) per day and workspace, the difference shown with its likely cause, and a CSV."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.clock import today
from app.reports.reconciliation import reconcile, reconciliation_csv
from app.ui import state
from app.ui.format import md, money_md, plain
from app.ui.tables import table

engine = state.engine()
st.title("Reconciliation")
st.caption(
    "Per-key billed cost (Anthropic's Usage and Cost Analytics API) against the bill (the cost "
    "report, the billing truth), per day and workspace of each Console organization. Where the "
    "two disagree, the difference is shown with its likely cause rather than hidden."
)

orgs = {o.organization_id: o.label or o.name for o in state.organizations()}
left, right = st.columns([2, 1])
with left:
    chosen = st.selectbox(
        "Organization",
        [None, *orgs],
        format_func=lambda o: "All organizations" if o is None else plain(orgs[o]),
        key="reconciliation_org",
    )
with right:
    days = st.selectbox(
        "Days", [7, 30, 90], index=1, format_func=lambda n: f"Last {n} days", key="recon_days"
    )
end = today() + timedelta(days=1)
start = end - timedelta(days=days)
result = reconcile(engine, start, end, organization_id=chosen)

if result.without_per_key:
    names = ", ".join(md(n) for n in result.without_per_key)
    st.info(
        f"No per-key cost in these days for {names}: their key may not read the Usage and Cost "
        "Analytics API (the Organizations page says why), or they have no spend.",
        icon=":material/key_off:",
    )
if not result.days:
    st.info("Nothing to reconcile in these days: no organization has per-key cost here.")
    st.stop()

billed, per_key = result.billed_cents.scaleb(-2), result.per_key_cents.scaleb(-2)
a, b, c = st.columns(3)
a.metric("Billed (cost report)", f"${billed:,.2f}")
b.metric("Per-key cost", f"${per_key:,.2f}")
c.metric("Difference (per-key − billed)", f"${per_key - billed:,.2f}")
differing = result.differing
if differing:
    st.warning(
        f"{len(differing):,} of {len(result.days):,} days and workspaces differ by a cent or "
        f"more; in all {money_md(per_key - billed)}.",
        icon=":material/difference:",
    )
else:
    st.success(
        f"Per-key cost matches the bill to the cent on all {len(result.days):,} days and "
        "workspaces.",
        icon=":material/check_circle:",
    )
only = st.toggle("Only the days that differ", value=bool(differing), key="recon_only")
shown = differing if only else result.days
table(
    [
        {
            "Date": d.date,
            "Organization": d.organization_name,
            "Workspace": d.workspace_name,
            "Billed (USD)": d.billed_cents.scaleb(-2),
            "Per-key (USD)": d.per_key_cents.scaleb(-2),
            "Per-key list (USD)": None
            if d.per_key_list_cents is None
            else d.per_key_list_cents.scaleb(-2),
            "Difference (USD)": d.difference_cents.scaleb(-2),
            "Cause": d.cause,
        }
        for d in reversed(shown)  # the latest days first
    ],
    column_config={
        name: st.column_config.NumberColumn(format="$%.2f")
        for name in ("Billed (USD)", "Per-key (USD)", "Per-key list (USD)", "Difference (USD)")
    },
)
st.download_button(
    "Download CSV (every day and workspace)",
    data=lambda: reconciliation_csv(result),
    file_name=f"reconciliation-{start:%Y-%m-%d}-to-{end - timedelta(days=1):%Y-%m-%d}.csv",
    mime="text/csv",
    key="reconciliation_csv",
    icon=":material/download:",
    on_click="ignore",
)
