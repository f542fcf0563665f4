"""Usage: tokens by type over time, by model, workspace, API key and tier; cache-read share."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from app.reports.comparison import Change, change, period_label, previous_period
from app.reports.frames import to_csv, with_previous
from app.reports.key_costs import NO_COST
from app.reports.labels import KEY_ESTIMATE_CAPTION, SPEND_USD
from app.reports.periods import periods_in
from app.reports.usage import (
    summary_of,
    tokens_by_group,
    tokens_by_type,
    total_tokens,
    usage_summary,
    usage_table,
    usage_totals,
    web_searches,
)
from app.ui import state
from app.ui.banners import require_organizations
from app.ui.charts import (
    chart_with_csv,
    one_series_bars,
    other_caption,
    overlay_previous,
    stacked_bars,
    totals_bars,
)
from app.ui.compare import comparison_args, overlay_choice, seed_overlay
from app.ui.filters import filter_bar
from app.ui.format import compact, in_sentence, md
from app.ui.tables import table

st.title("Usage")
require_organizations("token usage")

seed_overlay("usage_")  # a shared link's prev=1, before the filter bar rewrites the URL
groups = state.usage_groups()
view = filter_bar(page="usage", groups=groups, cost_types=False)
f = view.filters
label = groups[view.group]
db = state.database_key()
over_time = state.usage_over_time(db, f, view.report_group, view.grain)
if over_time.empty:
    st.info("No usage matches these filters. Widen the date range or clear a filter.")
    st.stop()

summary = usage_summary(over_time)
# Each figure against the period of the same length before (one query of the rollups).
before = previous_period(f)
counts = state.usage_counts(db, before)
previous = summary_of(counts) if counts is not None else None
period = (before.start, before.end)


def against(figure: str, *, points: bool = False) -> Change:
    """``summary``'s ``figure`` against the previous period's."""
    then = None if previous is None else getattr(previous, figure)
    return change(getattr(summary, figure), then, period, points=points)


def tokens_shown(value: Decimal) -> str:
    return compact(int(value))


cols = st.columns(4)
cols[0].metric(
    "Tokens",
    compact(summary.tokens),
    help=f"{summary.tokens:,} tokens of every type",
    **comparison_args(against("tokens"), tokens_shown),
)
cols[1].metric(
    "Output tokens",
    compact(summary.output_tokens),
    help=f"{summary.output_tokens:,} output tokens",
    **comparison_args(against("output_tokens"), tokens_shown),
)
cols[2].metric(
    "Cache-read share of input",
    f"{summary.cache_read_share:.1%}",
    help="Cache reads as a share of all input tokens (uncached, cache writes, reads); its "
    "change in percentage points.",
    **comparison_args(
        against("cache_read_share", points=True),
        lambda share: f"{share:.1%}",
        good="up",
    ),
)
cols[3].metric(
    "Web search requests",
    f"{summary.web_search_requests:,}",
    **comparison_args(against("web_search_requests"), lambda n: f"{int(n):,}"),
)

stem = f"usage-{f.start}-to-{f.end}"
by_type = tokens_by_type(over_time)
by_type_chart = stacked_bars(
    by_type,
    value="tokens",
    group="token_type",
    money=False,
    title=f"Tokens by type per {view.grain}",
)
by_type_csv = by_type
if overlay_choice("usage_"):
    earlier = tokens_by_type(state.usage_over_time(db, before, view.report_group, view.grain))
    name = f"Previous period ({period_label(before.start, before.end)})"
    overlay_previous(
        by_type_chart,
        earlier,
        value="tokens",
        shown=periods_in(f.start, f.end, view.grain),
        before=periods_in(before.start, before.end, view.grain),
        name=name,
        money=False,
        grain=view.grain,
    )
    # The CSV holds what the chart shows: the previous period's totals at their own dates.
    by_type_csv = with_previous(by_type, earlier, "token_type", "tokens", name)
chart_with_csv(
    by_type_chart,
    by_type_csv,
    file_name=f"{stem}-tokens-by-type-per-{view.grain}.csv",
    key="by_type",
)

per_group = tokens_by_group(over_time)
chart_with_csv(
    stacked_bars(
        per_group.frame,
        value="tokens",
        group=label,
        money=False,
        title=f"Tokens by {in_sentence(label)} per {view.grain}",
        other=per_group.other,
    ),
    per_group.frame,
    file_name=f"{stem}-tokens-by-{view.group}-per-{view.grain}.csv",
    key="by_group",
)

totals = usage_totals(over_time)
by_total = total_tokens(totals)
chart_with_csv(
    totals_bars(
        by_total.frame,
        value="tokens",
        group=label,
        money=False,
        title=f"Total tokens by {in_sentence(label)}",
    ),
    by_total.frame,
    file_name=f"{stem}-total-tokens-by-{view.group}.csv",
    key="totals",
)

searches = web_searches(over_time)
if summary.web_search_requests:
    chart_with_csv(
        one_series_bars(
            searches,
            value="web_search_requests",
            group=label,
            title=f"Web search requests per {view.grain}",
            unit="requests",
        ),
        searches,
        file_name=f"{stem}-web-search-per-{view.grain}.csv",
        key="searches",
    )

st.subheader("Table")
table(
    usage_table(totals),
    column_config={
        "cache_read_share": st.column_config.ProgressColumn(
            "Cache-read share", min_value=0, max_value=1, format="percent"
        )
    },
)
if totals.shown_other is not None:
    st.caption(other_caption(totals.shown_other))
st.caption(
    "The null API key is Console / Workbench usage; the null workspace is the Default workspace."
)
if view.group == "actor":
    st.caption(
        "By actor: tokens from Anthropic's Usage and Cost Analytics API (the person, service "
        "account or key behind each request), of the Console organizations whose key may read "
        "it; the figures above add up those organizations only."
    )

if view.group == "api_key":
    st.subheader("Cost by API key")
    costs = state.key_costs(db, f)
    if costs["cost_source"].eq(NO_COST).all():
        st.info(
            "No per-key cost for these keys yet: it comes from Anthropic's Usage and Cost "
            "Analytics API (or, where the key may not read it, an estimate made after the next "
            "sync). See Organizations."
        )
    else:
        table(
            costs,
            column_config={
                "tokens": st.column_config.NumberColumn("Tokens", format="localized"),
                "cost_usd": st.column_config.NumberColumn(SPEND_USD, format="$%.2f"),
                "usd_per_million_tokens": st.column_config.NumberColumn(
                    "USD per million tokens", format="$%.2f"
                ),
                "cost_source": st.column_config.TextColumn("Cost"),
            },
        )
        st.download_button(
            "Download CSV",
            data=lambda: to_csv(costs),
            file_name=f"{stem}-cost-by-api-key.csv",
            mime="text/csv",
            key="key_costs_csv",
        )
        st.caption(
            "Billed (per key): Anthropic's per-key billed cost (Usage and Cost Analytics API). "
            + md(KEY_ESTIMATE_CAPTION.replace("“(estimate)”", "Estimate"))
        )
