"""Reconciliation: per-key billed cost (Usage and Cost Analytics API), and tokens at list price,
against the bill (the cost report) per day and workspace, each difference shown with its likely
cause, and a CSV of each."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from decimal import Decimal

import streamlit as st

from app.clock import today
from app.reports.reconciliation import (
    Reconciliation,
    price_check_csv,
    reconcile,
    reconciliation_csv,
)
from app.ui import state
from app.ui.format import md, money_md, plain
from app.ui.tables import table

engine = state.engine()
st.title("Reconciliation")
st.caption(
    "Per-key billed cost (Anthropic's Usage and Cost Analytics API), and the tokens at list "
    "price, against the bill (the cost report, the billing truth), per day and workspace of "
    "each Console organization. Where they disagree, the difference is shown with its likely "
    "cause rather than hidden."
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


def per_key_section(result: Reconciliation) -> None:
    """Per-key cost against the bill (returns early, so the list-price check still shows)."""
    if result.without_per_key:
        names = ", ".join(md(n) for n in result.without_per_key)
        st.info(
            f"No per-key cost in these days for {names}: their key may not read the Usage and Cost "
            "Analytics API (the Organizations page says why), or they have no spend.",
            icon=":material/key_off:",
        )
    if not result.days:
        st.info("Nothing to reconcile in these days: no organization has per-key cost here.")
        return

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


st.subheader("Per-key cost against the bill")
per_key_section(result)

# --- Tokens at list price against the bill ----------------------------------------------------
st.subheader("Tokens at list price against the bill")
st.caption(
    "The cost report's token cost against the usage report's tokens at Anthropic's public list "
    "price (batch, long context and US residency as priced there), per day and workspace of "
    "every Console organization, with what the list price cannot see and the likely cause of "
    "the rest."
)
priced = state.price_check(state.database_key(), start, end, chosen)
if not priced:
    st.info("No Console organization has token spend in these days.")
    st.stop()
billed_tokens = sum((d.billed_tokens_cents for d in priced), Decimal(0)).scaleb(-2)
listed = sum((d.list_cents for d in priced), Decimal(0)).scaleb(-2)
a, b, c = st.columns(3)
a.metric("Billed tokens (cost report)", f"${billed_tokens:,.2f}")
b.metric("Tokens at list price", f"${listed:,.2f}")
c.metric("Difference (billed − list)", f"${billed_tokens - listed:,.2f}")
causes = Counter(d.cause for d in priced if d.cause and d.cause != "rounding")
if causes:
    st.caption(
        md(
            "Causes: "
            + "; ".join(f"{cause} ({n:,} days and workspaces)" for cause, n in causes.most_common())
            + "."
        )
    )
price_only = st.toggle("Only the days that differ", value=bool(causes), key="recon_price_only")
table(
    [
        {
            "Date": d.date,
            "Organization": d.organization_name,
            "Workspace": d.workspace_name,
            "Billed tokens (USD)": d.billed_tokens_cents.scaleb(-2),
            "List price (USD)": d.list_cents.scaleb(-2),
            "Difference (USD)": d.difference_cents.scaleb(-2),
            "Billed without tokens (USD)": d.billed_other_cents.scaleb(-2),
            "Tokens of unpriced models": d.unpriced_model_tokens,
            "Tokens of unbilled tiers": d.unbilled_tier_tokens,
            "Cause": d.cause,
        }
        for d in reversed(priced)
        if not price_only or (d.cause and d.cause != "rounding")
    ],
    column_config={
        name: st.column_config.NumberColumn(format="$%.2f")
        for name in (
            "Billed tokens (USD)",
            "List price (USD)",
            "Difference (USD)",
            "Billed without tokens (USD)",
        )
    },
)
st.caption(
    "Unbilled tiers: Priority Tier (billed by contract) and other tiers the cost report does "
    "not bill, counted in tokens. Billed without tokens: web search and code execution."
)
st.download_button(
    "Download CSV (tokens at list price, every day and workspace)",
    data=lambda: price_check_csv(priced),
    file_name=f"list-price-check-{start:%Y-%m-%d}-to-{end - timedelta(days=1):%Y-%m-%d}.csv",
    mime="text/csv",
    key="price_check_csv",
    icon=":material/download:",
    on_click="ignore",
)
