"""Claude Code: sessions, lines, commits, pull requests and tool acceptance per actor, tool and
period, with Anthropic's cost estimate (never billed spend); CSV per chart."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from app.clock import today as utc_today
from app.models import Provider
from app.reports.filters import CodeFilters
from app.reports.frames import to_csv
from app.reports.labels import ALL_TOOLS, ESTIMATE_CAPTION, ESTIMATE_LABEL
from app.reports.periods import GRAINS
from app.ui import auth, state
from app.ui.banners import problem_banners
from app.ui.charts import (
    PALETTE,
    chart_with_csv,
    period_ticks,
    safe_labels,
    stacked_bars,
    totals_bars,
)
from app.ui.filters import date_range, grain_picker
from app.ui.format import money, plain
from app.ui.tables import table

TOP = 15

st.title("Claude Code")
db = state.database_key()
orgs = state.organizations()
consoles = [o for o in orgs if o.provider == Provider.CONSOLE]
problem_banners(consoles)


def empty_state() -> None:
    st.info(
        "No Claude Code data is stored yet. Anthropic's Claude Code report of each connected "
        "Claude Console organization appears here after that organization's next sync.\n\n"
        "People who use Claude Code through a claude.ai subscription (Pro, Team or Enterprise "
        "sign-in) are not in this report: their activity only appears through a Claude "
        "Enterprise connection.",
        icon=":material/terminal:",
    )
    if auth.actor().is_admin and not consoles:
        st.page_link(
            "../pages/connect.py",
            label="Connect a Console organization",
            icon=":material/add_link:",
        )
    st.stop()


all_orgs = state.claude_code_options(db, ())
if not consoles or not all_orgs["has_data"]:
    empty_state()

# --- Filters (their own keys: "cc_") -------------------------------------------------------------
today = utc_today()
with st.sidebar:
    st.subheader("Filters")
    start, end = date_range("cc_", today)
    org_names = dict(all_orgs["organizations"])
    chosen_orgs: list[str] = []
    if len(org_names) > 1:
        chosen_orgs = st.multiselect(
            "Organizations",
            list(org_names),
            format_func=lambda o: plain(org_names[o]),
            key="cc_orgs",
            placeholder="All",
        )
    options = state.claude_code_options(db, tuple(chosen_orgs))
    actor_names = dict(options["actors"])
    chosen_actors = st.multiselect(
        "Actors",
        list(actor_names),
        format_func=lambda a: plain(actor_names[a]),
        key="cc_actors",
        placeholder="All",
        help="People (by e-mail) and API keys (by name) that ran Claude Code.",
    )
    grain = grain_picker("cc_")

f = CodeFilters(start, end, tuple(chosen_orgs), tuple(chosen_actors))
report = state.claude_code_report(db, f, grain)
total = report.summary()

# --- Headline numbers ----------------------------------------------------------------------------
last_day: date = end - timedelta(days=1)
st.caption(f"{start:%b %d, %Y} – {last_day:%b %d, %Y} (UTC days)")
row1 = st.columns(4)
row1[0].metric("Sessions", f"{total.sessions:,}")
row1[1].metric("Lines added", f"{total.lines_added:,}")
row1[2].metric("Lines removed", f"{total.lines_removed:,}")
rate = total.acceptance_rate
row1[3].metric(
    "Tool acceptance rate",
    "–" if rate is None else f"{rate:.1%}",
    help=f"Accepted ÷ (accepted + rejected) edit and write proposals: "
    f"{total.tool_accepted:,} accepted, {total.tool_rejected:,} rejected.",
)
row2 = st.columns(4)
row2[0].metric("Commits", f"{total.commits:,}")
row2[1].metric("Pull requests", f"{total.pull_requests:,}")
row2[2].metric(ESTIMATE_LABEL, money(total.estimated_cost_usd), help=ESTIMATE_CAPTION)
st.caption(ESTIMATE_CAPTION)

if report.empty:
    st.info(
        "No Claude Code activity matches these filters. Widen the date range or clear a filter."
    )
    st.stop()


def long_form(frame: pd.DataFrame, columns: dict[str, str], name: str, value: str) -> pd.DataFrame:
    """period × one row per measure, for a chart of several measures side by side."""
    melted = frame.melt(id_vars="period", value_vars=list(columns), var_name=name, value_name=value)
    melted[name] = melted[name].map(columns)
    return melted


def per_period(fig: go.Figure, y_title: str, *, grouped: bool = False) -> go.Figure:
    fig.update_layout(yaxis_title=y_title, barmode="group" if grouped else "stack")
    return period_ticks(fig, list(report.activity["period"]), grain)


def rate_lines(frame: pd.DataFrame, *, group: str, title: str) -> go.Figure:
    plot = frame.dropna(subset=["acceptance_rate"]).copy()
    plot["acceptance_rate"] = plot["acceptance_rate"].astype(float)
    plot[group] = safe_labels(plot[group])
    fig = px.line(
        plot,
        x="period",
        y="acceptance_rate",
        color=group,
        markers=True,
        color_discrete_sequence=PALETTE,
    )
    fig.update_layout(
        title=title,
        height=380,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        legend={"title": None, "orientation": "h", "y": -0.2},
        xaxis_title=None,
        yaxis_title="acceptance rate",
        hovermode="x unified",
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_traces(
        hovertemplate="%{fullData.name}: %{y:.1%}<extra></extra>",
        line={"width": 1.5},
        opacity=0.6,
        marker={"size": 4},
    )
    # The overall rate is what people read first: thick, dark, drawn over the per-tool lines.
    for trace in fig.data:
        if trace.name == ALL_TOOLS:
            trace.update(line={"width": 4, "color": "#333333"}, opacity=1, legendrank=1)
    fig.data = tuple(sorted(fig.data, key=lambda t: t.name == ALL_TOOLS))
    return period_ticks(fig, list(frame["period"]), grain)


stem = f"claude-code-{start}-to-{end}"
per = GRAINS[grain].lower()
activity = report.activity

# --- Activity over time --------------------------------------------------------------------------
st.subheader("Activity")
left, right = st.columns(2)
with left:
    sessions = activity[["period", "sessions"]]
    chart_with_csv(
        per_period(
            stacked_bars(
                sessions.assign(measure="Sessions"),
                value="sessions",
                group="measure",
                money=False,
                title=f"Sessions per {per}",
            ).update_layout(showlegend=False),
            "sessions",
        ),
        sessions,
        file_name=f"{stem}-sessions-per-{grain}.csv",
        key="cc_sessions",
    )
with right:
    lines = activity[["period", "lines_added", "lines_removed"]]
    chart_with_csv(
        per_period(
            stacked_bars(
                long_form(
                    lines, {"lines_added": "Added", "lines_removed": "Removed"}, "change", "lines"
                ),
                value="lines",
                group="change",
                money=False,
                title=f"Lines of code per {per}",
            ),
            "lines",
            grouped=True,
        ),
        lines,
        file_name=f"{stem}-lines-per-{grain}.csv",
        key="cc_lines",
    )
left, right = st.columns(2)
with left:
    shipped = activity[["period", "commits", "pull_requests"]]
    chart_with_csv(
        per_period(
            stacked_bars(
                long_form(
                    shipped,
                    {"commits": "Commits", "pull_requests": "Pull requests"},
                    "kind",
                    "count",
                ),
                value="count",
                group="kind",
                money=False,
                title=f"Commits and pull requests per {per}",
            ),
            "count",
            grouped=True,
        ),
        shipped,
        file_name=f"{stem}-commits-and-prs-per-{grain}.csv",
        key="cc_shipped",
    )
with right:
    tools_over_time = report.tools_over_time
    if tools_over_time.empty:
        st.caption("No edit or write proposals in these records: no acceptance rate to show.")
    else:
        chart_with_csv(
            rate_lines(tools_over_time, group="tool", title=f"Tool acceptance rate per {per}"),
            tools_over_time,
            file_name=f"{stem}-tool-acceptance-per-{grain}.csv",
            key="cc_acceptance",
        )

# --- Actors --------------------------------------------------------------------------------------
st.subheader("By actor")
actors = report.actors
left, right = st.columns(2)
with left:
    top_sessions = actors[["actor", "sessions"]].head(TOP)
    fig = totals_bars(
        top_sessions,
        value="sessions",
        group="actor",
        money=False,
        title=f"Top {min(TOP, len(actors))} actors by sessions",
    )
    chart_with_csv(
        fig.update_layout(xaxis_title="sessions"),
        top_sessions,
        file_name=f"{stem}-top-actors-by-sessions.csv",
        key="cc_top_sessions",
    )
with right:
    by_cost = actors.sort_values(["estimated_cost_usd", "actor"], ascending=[False, True])
    top_cost = by_cost[["actor", "estimated_cost_usd"]].head(TOP).reset_index(drop=True)
    fig = totals_bars(
        top_cost,
        value="estimated_cost_usd",
        group="actor",
        money=True,
        title=f"Top {min(TOP, len(actors))} actors by "
        f"{ESTIMATE_LABEL[0].lower()}{ESTIMATE_LABEL[1:]}",
    )
    chart_with_csv(
        fig.update_layout(xaxis_title=f"{ESTIMATE_LABEL}, USD"),
        top_cost,
        file_name=f"{stem}-top-actors-by-estimated-cost.csv",
        key="cc_top_cost",
    )

shown = actors.copy()
shown["estimated_cost_usd"] = shown["estimated_cost_usd"].astype(float)
table(
    shown,
    # Accepted and rejected counts are in the CSV; the table keeps the rate so it fits.
    column_order=[
        "actor",
        "actor_type",
        "sessions",
        "lines_added",
        "lines_removed",
        "commits",
        "pull_requests",
        "acceptance_rate",
        "estimated_cost_usd",
    ],
    column_config={
        "actor": st.column_config.TextColumn("Actor"),
        "actor_type": st.column_config.TextColumn("Type"),
        "sessions": st.column_config.NumberColumn("Sessions", format="localized"),
        "lines_added": st.column_config.NumberColumn("Lines added", format="localized"),
        "lines_removed": st.column_config.NumberColumn("Lines removed", format="localized"),
        "commits": st.column_config.NumberColumn("Commits", format="localized"),
        "pull_requests": st.column_config.NumberColumn("Pull requests", format="localized"),
        "acceptance_rate": st.column_config.NumberColumn("Acceptance", format="percent"),
        "estimated_cost_usd": st.column_config.NumberColumn(ESTIMATE_LABEL, format="$%.2f"),
    },
)
st.download_button(
    "Download CSV (all actors)",
    data=to_csv(actors),
    file_name=f"{stem}-actors.csv",
    mime="text/csv",
    key="csv_cc_actors",
    icon=":material/download:",
    on_click="ignore",
)

# --- Tools ---------------------------------------------------------------------------------------
st.subheader("Tool acceptance")
tools = report.tools
if tools.empty:
    st.caption("No edit or write proposals in these records.")
else:
    fig = totals_bars(
        tools.dropna(subset=["acceptance_rate"]),
        value="acceptance_rate",
        group="tool",
        money=False,
        title="Acceptance rate by tool",
    )
    fig.update_xaxes(title="acceptance rate", tickformat=".0%", range=[0, 1])
    fig.update_traces(
        hovertemplate="%{y}: %{x:.1%}<extra></extra>",
        texttemplate="%{x:.1%}",
        textposition="inside",
        insidetextanchor="end",
    )
    chart_with_csv(fig, tools, file_name=f"{stem}-tool-acceptance.csv", key="cc_tools")

# --- Estimated cost by model ---------------------------------------------------------------------
st.subheader(f"{ESTIMATE_LABEL} by model")
over_time = report.models_over_time
if over_time.empty:
    st.caption("These records report no per-model breakdown.")
else:
    fig = stacked_bars(
        over_time,
        value="estimated_cost_usd",
        group="Model",
        money=True,
        title=f"{ESTIMATE_LABEL} by model per {per}",
    )
    fig = period_ticks(fig, list(over_time["period"]), grain)
    chart_with_csv(
        fig.update_layout(yaxis_title=f"{ESTIMATE_LABEL}, USD"),
        over_time,
        file_name=f"{stem}-estimated-cost-by-model-per-{grain}.csv",
        key="cc_models",
    )
    models = report.models.copy()
    models["estimated_cost_usd"] = models["estimated_cost_usd"].astype(float)
    table(
        models,
        column_config={
            "Model": st.column_config.TextColumn("Model"),
            "input_tokens": st.column_config.NumberColumn("Input tokens", format="compact"),
            "output_tokens": st.column_config.NumberColumn("Output tokens", format="compact"),
            "cache_read_tokens": st.column_config.NumberColumn("Cache read", format="compact"),
            "cache_creation_tokens": st.column_config.NumberColumn("Cache write", format="compact"),
            "estimated_cost_usd": st.column_config.NumberColumn(ESTIMATE_LABEL, format="$%.2f"),
        },
    )
    st.caption(
        f"{ESTIMATE_LABEL}: Anthropic's estimate, not part of billed spend. Claude Code data is "
        "up to an hour old; usage through Amazon Bedrock or Google Vertex AI is not included."
    )
