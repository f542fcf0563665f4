"""Spend: billed cost over time and in total, grouped and filtered; CSV per chart."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.reports.labels import SPEND_GROUPS, SPEND_USD
from app.reports.spend import spend_table, spend_totals, total_usd
from app.ui import state
from app.ui.banners import require_organizations
from app.ui.charts import chart_with_csv, other_caption, stacked_bars, totals_bars
from app.ui.filters import filter_bar
from app.ui.format import in_sentence, money
from app.ui.tables import table

st.title("Spend")
require_organizations("cost")

view = filter_bar(page="spend", groups=SPEND_GROUPS, cost_types=True)
f = view.filters
label = SPEND_GROUPS[view.group]
over_time = state.spend_over_time(state.database_key(), f, view.report_group, view.grain)
totals = spend_totals(over_time)
total = total_usd(totals)

last_day = f.end - timedelta(days=1)
st.metric(f"Total, {f.start:%b %d, %Y} – {last_day:%b %d, %Y}", money(total))
if over_time.empty:
    st.info("No spend matches these filters. Widen the date range or clear a filter.")
    st.stop()

stem = f"spend-by-{view.group}-{f.start}-to-{f.end}"
chart_with_csv(
    stacked_bars(
        over_time.frame,
        value="amount_usd",
        group=label,
        money=True,
        title=f"Spend by {in_sentence(label)} per {view.grain}",
        other=over_time.other,
    ),
    over_time.frame,
    file_name=f"{stem}-per-{view.grain}.csv",
    key="over_time",
)
chart_with_csv(
    totals_bars(
        totals.frame,
        value="amount_usd",
        group=label,
        money=True,
        title=f"Total spend by {in_sentence(label)}",
    ),
    totals.frame,
    file_name=f"{stem}-totals.csv",
    key="totals",
)

st.subheader("Table")
table(
    spend_table(totals),
    column_config={
        "amount_usd": st.column_config.NumberColumn(SPEND_USD, format="$%.2f"),
        "share": st.column_config.ProgressColumn(
            "Share", min_value=0, max_value=1, format="percent"
        ),
    },
)
if totals.shown_other is not None:
    st.caption(other_caption(totals.shown_other))
st.caption(
    "Billed cost from Anthropic's cost report. Priority Tier is billed by contract and is not "
    "in it; the null workspace is shown as “Default workspace”."
)
