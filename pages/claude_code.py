"""Claude Code: sessions, lines, commits, pull requests and tool acceptance per actor, tool and
period, with Anthropic's cost estimate (never billed spend); CSV per chart."""

from __future__ import annotations

from datetime import date, timedelta

import streamlit as st

from app.clock import today as utc_today
from app.models import Provider
from app.reports.claude_code import (
    lines_long,
    lines_per_period,
    sessions_long,
    sessions_per_period,
    shipped_long,
    shipped_per_period,
    top_actors_by_cost,
    top_actors_by_sessions,
)
from app.reports.filters import CodeFilters
from app.reports.frames import to_csv
from app.reports.labels import (
    ACTIVITY_LABELS,
    ACTOR_HEADERS,
    ALL_TOOLS,
    CODE_MODEL_HEADERS,
    ESTIMATE_CAPTION,
    ESTIMATE_LABEL,
)
from app.reports.periods import GRAINS
from app.ui import auth, state
from app.ui.banners import problem_banners
from app.ui.charts import (
    chart_with_csv,
    rate_bars,
    rate_lines,
    register_view,
    stacked_bars,
    totals_bars,
)
from app.ui.filters import (
    Chip,
    grain_segments,
    preset_picker,
    seed_from_url,
    span_bar,
    view_params,
)
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

# --- Filters at the top (their own keys: "cc_"); the whole view is in the URL -------------------
today = utc_today()
org_names = dict(all_orgs["organizations"])
seed_from_url("cc_orgs", "organizations", [], many=True, allowed=list(org_names))
chosen_orgs: list[str] = []
with st.container(key="cc_filter_bar"):
    row = st.columns([3, 3, 2], vertical_alignment="bottom")
    with row[0]:
        preset = preset_picker("cc_")
    with row[1]:
        grain = grain_segments("cc_")
    with row[2], st.popover("Filters", icon=":material/filter_list:", width="stretch"):
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
        seed_from_url("cc_actors", "actors", [], many=True, allowed=list(actor_names))
        # An actor of an organization no longer chosen is no choice any more.
        st.session_state["cc_actors"] = [
            a for a in st.session_state["cc_actors"] if a in actor_names
        ]
        chosen_actors = st.multiselect(
            "Actors",
            list(actor_names),
            format_func=lambda a: plain(actor_names[a]),
            key="cc_actors",
            placeholder="All",
            help="People (by e-mail) and API keys (by name) that ran Claude Code.",
        )
    in_view = [o for o in consoles if not chosen_orgs or o.organization_id in chosen_orgs]
    span = span_bar(
        "cc_",
        preset,
        grain,
        in_view,
        today,
        [Chip("cc_orgs", o, f"Organization: {plain(org_names.get(o, o))}") for o in chosen_orgs]
        + [Chip("cc_actors", a, f"Actor: {plain(actor_names.get(a, a))}") for a in chosen_actors],
    )
    start, end = span.start, span.end

params = view_params("cc_", preset, grain)
if chosen_orgs:
    params["organizations"] = list(chosen_orgs)
if chosen_actors:
    params["actors"] = list(chosen_actors)
st.query_params.from_dict(params)  # updates the address bar; does not rerun
if span.refused:
    st.stop()
register_view(start, end, grain, today, chosen=(chosen_orgs, chosen_actors))

f = CodeFilters(start, end, tuple(chosen_orgs), tuple(chosen_actors))
report = state.claude_code_report(db, f, grain)
total = report.summary()

# --- Headline numbers ----------------------------------------------------------------------------
last_day: date = end - timedelta(days=1)
st.caption(f"{start:%b %d, %Y} – {last_day:%b %d, %Y} (UTC days)")
row1 = st.columns(4)
row1[0].metric(ACTIVITY_LABELS["sessions"], f"{total.sessions:,}")
row1[1].metric(ACTIVITY_LABELS["lines_added"], f"{total.lines_added:,}")
row1[2].metric(ACTIVITY_LABELS["lines_removed"], f"{total.lines_removed:,}")
rate = total.acceptance_rate
row1[3].metric(
    "Tool acceptance rate",
    "–" if rate is None else f"{rate:.1%}",
    help=f"Accepted ÷ (accepted + rejected) edit and write proposals: "
    f"{total.tool_accepted:,} accepted, {total.tool_rejected:,} rejected.",
)
row2 = st.columns(4)
row2[0].metric(ACTIVITY_LABELS["commits"], f"{total.commits:,}")
row2[1].metric(ACTIVITY_LABELS["pull_requests"], f"{total.pull_requests:,}")
row2[2].metric(ESTIMATE_LABEL, money(total.estimated_cost_usd), help=ESTIMATE_CAPTION)
st.caption(ESTIMATE_CAPTION)

if report.empty:
    st.info(
        "No Claude Code activity matches these filters. Widen the date range or clear a filter."
    )
    st.stop()


stem = f"claude-code-{start}-to-{end}"
per = GRAINS[grain].lower()
activity = report.activity

# --- Activity over time --------------------------------------------------------------------------
st.subheader("Activity")
left, right = st.columns(2)
with left:
    sessions = sessions_per_period(activity)
    chart_with_csv(
        stacked_bars(
            sessions_long(sessions),
            value="sessions",
            group="measure",
            money=False,
            title=f"Sessions per {per}",
            legend=False,
            value_title="sessions",
            grain=grain,
        ),
        sessions,
        file_name=f"{stem}-sessions-per-{grain}.csv",
        key="cc_sessions",
    )
with right:
    lines = lines_per_period(activity)
    chart_with_csv(
        stacked_bars(
            lines_long(lines),
            value="lines",
            group="change",
            money=False,
            title=f"Lines of code per {per}",
            value_title="lines",
            grouped=True,
            grain=grain,
        ),
        lines,
        file_name=f"{stem}-lines-per-{grain}.csv",
        key="cc_lines",
    )
left, right = st.columns(2)
with left:
    shipped = shipped_per_period(activity)
    chart_with_csv(
        stacked_bars(
            shipped_long(shipped),
            value="count",
            group="kind",
            money=False,
            title=f"Commits and pull requests per {per}",
            value_title="count",
            grouped=True,
            grain=grain,
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
            rate_lines(
                tools_over_time,
                group="tool",
                title=f"Tool acceptance rate per {per}",
                grain=grain,
                overall=ALL_TOOLS,
            ),
            tools_over_time,
            file_name=f"{stem}-tool-acceptance-per-{grain}.csv",
            key="cc_acceptance",
        )

# --- Actors --------------------------------------------------------------------------------------
st.subheader("By actor")
actors = report.actors
left, right = st.columns(2)
with left:
    top_sessions = top_actors_by_sessions(actors, TOP)
    chart_with_csv(
        totals_bars(
            top_sessions,
            value="sessions",
            group="actor",
            money=False,
            title=f"Top {min(TOP, len(actors))} actors by sessions",
            value_title="sessions",
        ),
        top_sessions,
        file_name=f"{stem}-top-actors-by-sessions.csv",
        key="cc_top_sessions",
    )
with right:
    top_cost = top_actors_by_cost(actors, TOP)
    chart_with_csv(
        totals_bars(
            top_cost,
            value="estimated_cost_usd",
            group="actor",
            money=True,
            title=f"Top {min(TOP, len(actors))} actors by "
            f"{ESTIMATE_LABEL[0].lower()}{ESTIMATE_LABEL[1:]}",
            value_title=f"{ESTIMATE_LABEL}, USD",
        ),
        top_cost,
        file_name=f"{stem}-top-actors-by-estimated-cost.csv",
        key="cc_top_cost",
    )

table(
    actors,
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
        "actor": st.column_config.TextColumn(ACTOR_HEADERS["actor"]),
        "actor_type": st.column_config.TextColumn(ACTOR_HEADERS["actor_type"]),
        **{
            name: st.column_config.NumberColumn(ACTOR_HEADERS[name], format="localized")
            for name in ACTIVITY_LABELS
        },
        "acceptance_rate": st.column_config.NumberColumn(
            ACTOR_HEADERS["acceptance_rate"], format="percent"
        ),
        "estimated_cost_usd": st.column_config.NumberColumn(
            ACTOR_HEADERS["estimated_cost_usd"], format="$%.2f"
        ),
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
    chart_with_csv(
        rate_bars(tools, group="tool", title="Acceptance rate by tool"),
        tools,
        file_name=f"{stem}-tool-acceptance.csv",
        key="cc_tools",
    )

# --- Estimated cost by model ---------------------------------------------------------------------
st.subheader(f"{ESTIMATE_LABEL} by model")
over_time = report.models_over_time
if over_time.empty:
    st.caption("These records report no per-model breakdown.")
else:
    chart_with_csv(
        stacked_bars(
            over_time,
            value="estimated_cost_usd",
            group="Model",
            money=True,
            title=f"{ESTIMATE_LABEL} by model per {per}",
            value_title=f"{ESTIMATE_LABEL}, USD",
            grain=grain,
        ),
        over_time,
        file_name=f"{stem}-estimated-cost-by-model-per-{grain}.csv",
        key="cc_models",
    )
    table(
        report.models,
        column_config={
            "Model": st.column_config.TextColumn(CODE_MODEL_HEADERS["Model"]),
            **{
                name: st.column_config.NumberColumn(CODE_MODEL_HEADERS[name], format="compact")
                for name in ("input_tokens", "output_tokens", "cache_read_tokens")
            },
            "cache_creation_tokens": st.column_config.NumberColumn(
                CODE_MODEL_HEADERS["cache_creation_tokens"], format="compact"
            ),
            "estimated_cost_usd": st.column_config.NumberColumn(
                CODE_MODEL_HEADERS["estimated_cost_usd"], format="$%.2f"
            ),
        },
    )
    st.caption(
        f"{ESTIMATE_LABEL}: Anthropic's estimate, not part of billed spend. Claude Code data is "
        "up to an hour old; usage through Amazon Bedrock or Google Vertex AI is not included."
    )
