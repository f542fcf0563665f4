"""Spend: billed cost over time and in total, grouped and filtered; CSV per chart."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.reports.comparison import change, period_label, previous_period
from app.reports.frames import to_csv, with_previous
from app.reports.labels import (
    ECONOMICS_HEADERS,
    KEY_COST_GROUPS,
    KEY_ESTIMATE_CAPTION,
    SPEND_USD,
    allocation_of,
)
from app.reports.list_prices import SOURCE as LIST_PRICE_SOURCE
from app.reports.periods import periods_in
from app.reports.spend import spend_table, spend_totals, total_usd, view_refusal
from app.ui import state
from app.ui.banners import require_organizations
from app.ui.charts import (
    chart_with_csv,
    other_caption,
    overlay_previous,
    stacked_bars,
    totals_bars,
)
from app.ui.compare import comparison_args, overlay_choice, seed_overlay
from app.ui.filters import filter_bar
from app.ui.format import compact, in_sentence, md, money, money_md
from app.ui.tables import table

st.title("Spend")
require_organizations("cost")

seed_overlay("spend_")  # a shared link's prev=1, before the filter bar rewrites the URL
allocations = state.allocation_values()  # read once: the groups and the filters use them
groups = state.spend_groups(allocations)
view = filter_bar(page="spend", groups=groups, cost_types=True, allocations=allocations)
f = view.filters
label = groups[view.group]
db = state.database_key()
refused = view_refusal(f, view.report_group)
if refused is not None:
    st.info(md(refused), icon=":material/account_tree:")
    st.stop()
over_time = state.spend_over_time(db, f, view.report_group, view.grain)
totals = spend_totals(over_time)
total = total_usd(totals)
keyed = None
if view.group in KEY_COST_GROUPS and not f.keyed:
    # Per-key cost is another report: the headline stays the bill (the cost report's total).
    keyed, total = total, state.spend_total(db, f) or total

last_day = f.end - timedelta(days=1)
before = previous_period(f)
st.metric(
    f"Total, {f.start:%b %d, %Y} – {last_day:%b %d, %Y}",
    money(total),
    help="Compared with the period of the same length before it (a month to date with "
    "the same days of last month).",
    **comparison_args(
        change(total, state.spend_total(db, before), (before.start, before.end)),
        money,
        wide=True,
    ),
)
if over_time.empty and keyed is not None:
    st.info(
        "No per-key billed cost matches these filters: it comes from the Usage and Cost "
        "Analytics API, which only some Console organizations' keys may read (see Organizations)."
    )
    st.stop()
if over_time.empty:
    st.info("No spend matches these filters. Widen the date range or clear a filter.")
    st.stop()

stem = f"spend-by-{view.group}-{f.start}-to-{f.end}"
over_time_chart = stacked_bars(
    over_time.frame,
    value="amount_usd",
    group=label,
    money=True,
    title=f"Spend by {in_sentence(label)} per {view.grain}",
    other=over_time.other,
)
over_time_csv = over_time.frame
if overlay_choice("spend_"):
    earlier = state.spend_over_time(db, before, view.report_group, view.grain).frame
    name = f"Previous period ({period_label(before.start, before.end)})"
    overlay_previous(
        over_time_chart,
        earlier,
        value="amount_usd",
        shown=periods_in(f.start, f.end, view.grain),
        before=periods_in(before.start, before.end, view.grain),
        name=name,
        money=True,
        grain=view.grain,
    )
    # The CSV holds what the chart shows: the previous period's totals at their own dates.
    over_time_csv = with_previous(over_time.frame, earlier, label, "amount_usd", name)
chart_with_csv(
    over_time_chart,
    over_time_csv,
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
if keyed is not None:
    st.caption(
        f"By {in_sentence(label)}: per-key billed cost from Anthropic's Usage and Cost "
        f"Analytics API ({money_md(keyed)}), of the Console organizations that have it. The "
        f"cost report is the bill ({money_md(total)} for these filters); the difference is "
        "spend of "
        "organizations without per-key cost, and any discount the two reports apply differently."
    )
    estimated = state.estimated_names()
    if estimated:
        st.caption(
            md(f"Estimated per-key cost: {', '.join(estimated)}. ") + md(KEY_ESTIMATE_CAPTION)
        )
if f.keyed:
    st.caption(
        "Filtered by API key or actor: their per-key cost (Anthropic's Usage and Cost "
        "Analytics API, or its estimate where the key may not read it), not the cost report, "
        "which has no key."
    )
if allocation_of(view.group) is not None:
    st.caption(
        f"Spend by {md(in_sentence(label))}: the billed cost allocated by its rules (Allocations "
        "page); each day adds up to the day's billed cost exactly."
    )
st.caption(
    "Billed cost from Anthropic's cost report. Priority Tier is billed by contract and is not "
    "in it; the null workspace is shown as “Default workspace”."
)

if f.allocated:
    st.caption(
        f"Filtered by {md(f.allocation or '')}: the spend its rules allocate to the chosen "
        "values, a split's share of a row included."
    )

# --- Unit economics: $ per million tokens, cache and batch savings, by model ---------------------
st.subheader("Unit economics")
if f.keyed:
    st.caption(
        "Unit economics are not filtered by API key or actor: they set the cost report against the "
        "usage report by model. The Usage page, grouped by API key, gives each key's USD per "
        "million tokens."
    )
    st.stop()
if f.allocated:
    # Tokens come from the usage report, which no allocation divides (splits are of cost).
    st.caption(
        f"Unit economics are not filtered by {md(f.allocation or '')}: tokens are not "
        "allocated, only billed cost is. Clear that filter to see them."
    )
    st.stop()
economy = state.unit_economics(db, f, view.show_ids)
if economy.empty:
    st.caption("No token spend by model matches these filters.")
    st.stop()
rate = economy.usd_per_million_tokens
st.markdown(
    f"**{money_md(rate) if rate is not None else '–'}** per million tokens over every model · "
    f"cache reads saved **{money_md(economy.cache_savings_usd)}** at list price · "
    f"batch saved **{money_md(economy.batch_savings_usd)}**"
)
counts = ("tokens", "cache_read_tokens")
columns = {
    name: st.column_config.NumberColumn(header, format="localized" if name in counts else "$%.2f")
    for name, header in ECONOMICS_HEADERS.items()
}
table(economy.frame, column_config={**columns, "Model": st.column_config.TextColumn("Model")})
st.download_button(
    "Download CSV (unit economics)",
    data=to_csv(economy.frame),
    file_name=f"{stem}-unit-economics.csv",
    mime="text/csv",
    key="csv_unit_economics",
    icon=":material/download:",
    on_click="ignore",
)
st.caption(
    "USD per million tokens: each model's billed token spend over its tokens of every type "
    "(usage report), in the tiers the cost report bills."
)
for tier, n in economy.unbilled_tokens.items():
    st.caption(
        f"Left out: {compact(n)} tokens of the {md(tier)} tier, which the cost report does not "
        "bill (Priority Tier is billed by contract)."
    )
st.caption(
    "Cache savings: what the cache reads would have cost as uncached input, less what they "
    f"cost, at list price ({LIST_PRICE_SOURCE}; batch and long context as priced there). "
    "Where the usage report does not say a request ran in the US, its 10 % residency "
    "surcharge is not added, so savings there may be up to a tenth higher."
)
if economy.unpriced_models:
    n = len(economy.unpriced_models)
    names = ", ".join(
        f"{md(name)} ({compact(reads)} cache reads)"
        for name, reads in economy.unpriced_models.items()
    )
    st.caption(
        f"Left out of cache savings, {n} model{'s' if n != 1 else ''} without a public list "
        f"price: {names}."
    )
for tier, reads in economy.unpriced_tiers.items():
    st.caption(
        f"Left out of cache savings: {compact(reads)} cache reads of the {md(tier)} tier, "
        "which has no public list price."
    )
st.caption(
    "Batch savings: the Batch tier is billed at half the standard rate, so the same tokens "
    "would have cost twice as much at the standard tier; the saving equals the batch spend."
)
if f.cost_types:
    st.caption("The cost type filter does not apply here: these figures are token costs.")
