"""Usage: tokens by type over time, by model, workspace, API key and tier; cache-read share."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from app.reports.labels import TOKEN_TYPES, USAGE_GROUPS
from app.reports.top import is_other
from app.reports.usage import tokens_by_type
from app.ui import state
from app.ui.banners import require_organizations
from app.ui.charts import chart_with_csv, other_caption, stacked_bars, totals_bars
from app.ui.filters import filter_bar
from app.ui.format import compact, in_sentence
from app.ui.tables import table

st.title("Usage")
require_organizations("token usage")

view = filter_bar(page="usage", groups=USAGE_GROUPS, cost_types=False)
f = view.filters
label = USAGE_GROUPS[view.group]
over_time = state.usage_over_time(state.database_key(), f, view.group, view.grain)
if over_time.empty:
    st.info("No usage matches these filters. Widen the date range or clear a filter.")
    st.stop()

token_columns = list(TOKEN_TYPES)
input_side = over_time[[c for c in token_columns if c != "output_tokens"]].to_numpy().sum()
cache_reads = int(over_time["cache_read_input_tokens"].sum())
cols = st.columns(4)
all_tokens = int(over_time[token_columns].to_numpy().sum())
output_tokens = int(over_time["output_tokens"].sum())
cols[0].metric("Tokens", compact(all_tokens), help=f"{all_tokens:,} tokens of every type")
cols[1].metric("Output tokens", compact(output_tokens), help=f"{output_tokens:,} output tokens")
cols[2].metric(
    "Cache-read share of input",
    f"{(cache_reads / input_side if input_side else 0):.1%}",
    help="Cache reads as a share of all input tokens (uncached, cache writes, reads).",
)
cols[3].metric("Web search requests", f"{int(over_time['web_search_requests'].sum()):,}")

stem = f"usage-{f.start}-to-{f.end}"
by_type = tokens_by_type(over_time)
chart_with_csv(
    stacked_bars(
        by_type,
        value="tokens",
        group="token_type",
        money=False,
        title=f"Tokens by type per {view.grain}",
    ),
    by_type,
    file_name=f"{stem}-tokens-by-type-per-{view.grain}.csv",
    key="by_type",
)

per_group = over_time.assign(tokens=over_time[token_columns].sum(axis=1))[
    ["period", label, "tokens"]
]
chart_with_csv(
    stacked_bars(
        per_group,
        value="tokens",
        group=label,
        money=False,
        title=f"Tokens by {in_sentence(label)} per {view.grain}",
    ),
    per_group,
    file_name=f"{stem}-tokens-by-{view.group}-per-{view.grain}.csv",
    key="by_group",
)

totals = (
    over_time.groupby(label, as_index=False)[[*token_columns, "web_search_requests"]]
    .sum()
    .assign(tokens=lambda d: d[token_columns].sum(axis=1))
    .sort_values("tokens", ascending=False)
    .sort_values(label, key=lambda names: names.map(is_other), kind="stable")  # Other last
)
totals["cache_read_share"] = [
    (r["cache_read_input_tokens"] / (r["tokens"] - r["output_tokens"]))
    if r["tokens"] - r["output_tokens"]
    else 0.0
    for _, r in totals.iterrows()
]
chart_with_csv(
    totals_bars(
        totals[[label, "tokens"]],
        value="tokens",
        group=label,
        money=False,
        title=f"Total tokens by {in_sentence(label)}",
    ),
    totals[[label, "tokens"]],
    file_name=f"{stem}-total-tokens-by-{view.group}.csv",
    key="totals",
)

searches = over_time.groupby("period", as_index=False)["web_search_requests"].sum()
if int(searches["web_search_requests"].sum()):
    searches[label] = "All"
    chart_with_csv(
        stacked_bars(
            searches[["period", label, "web_search_requests"]],
            value="web_search_requests",
            group=label,
            money=False,
            unit="requests",
            title=f"Web search requests per {view.grain}",
        ),
        searches[["period", "web_search_requests"]],
        file_name=f"{stem}-web-search-per-{view.grain}.csv",
        key="searches",
    )

st.subheader("Table")
table(
    pd.DataFrame(totals).rename(
        columns={**TOKEN_TYPES, "web_search_requests": "Web searches", "tokens": "All tokens"}
    ),
    column_config={
        "cache_read_share": st.column_config.ProgressColumn(
            "Cache-read share", min_value=0, max_value=1, format="percent"
        )
    },
)
other = [g for g in totals[label] if is_other(g)]
if other:
    st.caption(other_caption(other[0]))
st.caption(
    "The null API key is Console / Workbench usage; the null workspace is the Default workspace."
)
