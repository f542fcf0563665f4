"""Claude Enterprise: billed spend by product, model and seat user, token usage by product, and
active users, adoption and seats over time; CSV per chart."""

from __future__ import annotations

from datetime import date, timedelta
from typing import SupportsInt

import pandas as pd
import streamlit as st

from app.clock import today as utc_today
from app.models import Provider
from app.reports.enterprise import (
    active_users,
    active_users_long,
    adoption,
    adoption_long,
    all_tokens,
    latest_engagement,
    tokens_by_product,
    top_users,
    usage_totals,
)
from app.reports.filters import EnterpriseFilters
from app.reports.frames import to_csv
from app.reports.labels import (
    AT_LIST_PRICE,
    DELETED_MARK,
    ENGAGEMENT_COUNTS,
    ENTERPRISE_GROUPS,
    SEAT_HEADERS,
    USAGE_COLUMNS,
    USER_HEADERS,
)
from app.reports.periods import GRAINS
from app.reports.spend import spend_totals
from app.ui import auth, state
from app.ui.banners import problem_banners
from app.ui.charts import chart_with_csv, daily_lines, register_view, stacked_bars, totals_bars
from app.ui.filters import (
    Chip,
    grain_segments,
    preset_picker,
    seed_from_url,
    span_bar,
    view_params,
)
from app.ui.format import compact, money, plain
from app.ui.tables import table

TOP = 15

st.title("Claude Enterprise")
db = state.database_key()
enterprises = [o for o in state.organizations() if o.provider == Provider.ENTERPRISE]
if not enterprises:
    st.info(
        "No Claude Enterprise organization is connected. Claude Enterprise (claude.ai) spend, "
        "usage, per-user cost and adoption come from Anthropic's Analytics API.\n\n"
        "It needs an **Analytics API key** (it starts with `sk-ant-api01-`) with the "
        "`read:analytics` scope. Only the organization's **Primary Owner** can create one: in "
        "claude.ai, open **Organization settings → API**, turn on API access, and create a key "
        "with `read:analytics`. An Admin API key of a Claude Console organization "
        "(`sk-ant-admin01-`) cannot read this data.",
        icon=":material/apartment:",
    )
    if auth.actor().is_admin:
        st.page_link(
            "../pages/connect.py",
            label="Connect a Claude Enterprise organization",
            icon=":material/add_link:",
        )
    else:
        st.caption("Ask an admin of this dashboard to connect it.")
    st.stop()
problem_banners(enterprises)

# --- Filters at the top (their own keys: "ent_"); the whole view is in the URL ------------------
today = utc_today()
org_names = dict(state.enterprise_organizations(db))
seed_from_url("ent_orgs", "organizations", [], many=True, allowed=list(org_names))
seed_from_url("ent_model_ids", "ids", False)
if isinstance(st.session_state["ent_model_ids"], str):  # from the URL: "1" shows the ids
    st.session_state["ent_model_ids"] = st.session_state["ent_model_ids"] == "1"
chosen_orgs: list[str] = []
with st.container(key="ent_filter_bar"):
    row = st.columns([3, 3, 2], vertical_alignment="bottom")
    with row[0]:
        preset = preset_picker("ent_")
    with row[1]:
        grain = grain_segments("ent_")
    with row[2], st.popover("Filters", icon=":material/filter_list:", width="stretch"):
        if len(org_names) > 1:
            chosen_orgs = st.multiselect(
                "Enterprise organizations",
                list(org_names),
                format_func=lambda o: plain(org_names[o]),
                key="ent_orgs",
                placeholder="All",
            )
        show_ids = st.toggle(
            "Show model ids",
            key="ent_model_ids",
            help="Models by their API id (an alias and its dated ids apart), not by name.",
        )
    in_view = [o for o in enterprises if not chosen_orgs or o.organization_id in chosen_orgs]
    span = span_bar(
        "ent_",
        preset,
        grain,
        in_view,
        today,
        [Chip("ent_orgs", o, f"Organization: {plain(org_names.get(o, o))}") for o in chosen_orgs]
        + ([Chip("ent_model_ids", None, "Model ids shown")] if show_ids else []),
    )
    start, end = span.start, span.end

params = view_params("ent_", preset, grain)
if chosen_orgs:
    params["organizations"] = list(chosen_orgs)
if show_ids:
    params["ids"] = "1"
st.query_params.from_dict(params)  # updates the address bar; does not rerun
if span.refused:
    st.stop()
register_view(start, end, grain, today)  # the charts mark partial weeks and months

f = EnterpriseFilters(start, end, tuple(chosen_orgs))
report = state.enterprise_report(db, f, grain)
last_day: date = end - timedelta(days=1)
st.caption(f"{start:%b %d, %Y} – {last_day:%b %d, %Y} (UTC days)")
if report.empty:
    st.info(
        "No Claude Enterprise data in this range yet. Data arrives with the organization's first "
        "sync; the Analytics API has nothing before January 1, 2026, and engagement figures "
        "arrive about three days late. Widen the date range or pick another organization.",
        icon=":material/hourglass_empty:",
    )
    st.stop()

# --- Headline numbers ----------------------------------------------------------------------------
usage = report.usage
tokens = all_tokens(usage)
latest = latest_engagement(report.engagement)
cols = st.columns(5)
cols[0].metric(
    "Spend",
    money(report.spend.amount_usd),
    help="Billed cost from Anthropic's Claude Enterprise cost report (after any discount).",
)
listed = report.spend.list_amount_usd
cols[1].metric(
    AT_LIST_PRICE,
    "–" if listed is None else money(listed),
    help="The same usage at Anthropic's list prices, before your negotiated discount.",
)
cols[2].metric("Tokens", compact(tokens), help=f"{tokens:,} tokens of every type")


def count(value: SupportsInt | None) -> str:
    return "–" if value is None or pd.isna(value) else f"{int(value):,}"


if latest is not None:
    on = f"On {latest['date']:%b %d, %Y}, the latest day reported in this range."
    cols[3].metric("Monthly active users", count(latest["monthly_active_users"]), help=on)
    cols[4].metric("Assigned seats", count(latest["assigned_seats"]), help=on)


stem = f"claude-enterprise-{start}-to-{end}"
per = GRAINS[grain].lower()

# --- Spend by product and by model ---------------------------------------------------------------
st.subheader("Spend")
tabs = st.tabs([f"By {label.lower()}" for label in ENTERPRISE_GROUPS.values()])
by_model = report.spend_by_model_id if show_ids and report.spend_by_model_id else None
by_model = by_model or report.spend_by_model
for tab, (group, label), over_time in zip(
    tabs,
    ENTERPRISE_GROUPS.items(),
    (report.spend_by_product, by_model),
    strict=True,
):
    with tab:
        if over_time.empty:
            st.caption("No spend in this range.")
            continue
        totals = spend_totals(over_time)
        left, right = st.columns([3, 2])
        with left:
            chart_with_csv(
                stacked_bars(
                    over_time.frame,
                    value="amount_usd",
                    group=label,
                    money=True,
                    title=f"Spend by {label.lower()} per {per}",
                    grain=grain,
                ),
                over_time.frame,
                file_name=f"{stem}-spend-by-{group}-per-{grain}.csv",
                key=f"ent_spend_{group}",
            )
        with right:
            chart_with_csv(
                totals_bars(
                    totals.frame,
                    value="amount_usd",
                    group=label,
                    money=True,
                    title=f"Total spend by {label.lower()}",
                    whole_dollars=True,
                ),
                totals.frame,
                file_name=f"{stem}-spend-by-{group}-totals.csv",
                key=f"ent_spend_{group}_totals",
            )

# --- Spend by user -------------------------------------------------------------------------------
st.subheader("Spend by user")
users = report.users
if report.per_user_as_of is not None:
    # Anthropic's own "as of": per-user figures lag the spend above and are revised later.
    st.caption(f"Per-user figures as of {report.per_user_as_of:%b %d, %Y %H:%M} UTC (Anthropic).")
if users.empty:
    st.caption("No per-user cost in this range.")
else:
    top = top_users(users, TOP)
    chart_with_csv(
        totals_bars(
            top,
            value="amount_usd",
            group="user",
            money=True,
            title=f"Top {len(top)} users by spend",
        ),
        top,
        file_name=f"{stem}-top-users-by-spend.csv",
        key="ent_top_users",
    )
    table(
        users,
        column_config={
            "user": st.column_config.TextColumn(USER_HEADERS["user"]),
            "email": st.column_config.TextColumn(USER_HEADERS["email"]),
            "deleted": st.column_config.CheckboxColumn(USER_HEADERS["deleted"]),
            **{
                name: st.column_config.NumberColumn(USER_HEADERS[name], format="$%.2f")
                for name in ("amount_usd", "list_amount_usd")
            },
        },
    )
    st.download_button(
        "Download CSV (all users)",
        data=to_csv(users),
        file_name=f"{stem}-users.csv",
        mime="text/csv",
        key="csv_ent_users",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(
        f"Cost Anthropic attributes to seat users; API-key and automation traffic belongs to no "
        f"user, so these add up to less than the total. “{DELETED_MARK.strip(' ()')}” marks "
        "people removed from the organization since."
    )

# --- Token usage by product ----------------------------------------------------------------------
st.subheader("Token usage by product")
if usage.empty:
    st.caption("No token usage in this range.")
else:
    per_product = tokens_by_product(usage)
    chart_with_csv(
        stacked_bars(
            per_product.frame,
            value="tokens",
            group="Product",
            money=False,
            title=f"Tokens by product per {per}",
            grain=grain,
        ),
        per_product.frame,
        file_name=f"{stem}-tokens-by-product-per-{grain}.csv",
        key="ent_tokens",
    )
    totals = usage_totals(usage)
    table(
        totals,
        column_config={
            "Product": st.column_config.TextColumn("Product"),
            **{
                name: st.column_config.NumberColumn(label, format="localized")
                for name, label in USAGE_COLUMNS.items()
            },
        },
    )
    st.download_button(
        "Download CSV (totals by product)",
        data=to_csv(totals),
        file_name=f"{stem}-tokens-by-product-totals.csv",
        mime="text/csv",
        key="csv_ent_token_totals",
        icon=":material/download:",
        on_click="ignore",
    )

# --- Engagement ----------------------------------------------------------------------------------
st.subheader("Active users and adoption")
engagement = report.engagement
if engagement.empty:
    st.caption(
        "No engagement summaries in this range yet: Anthropic publishes each day about three "
        "days later."
    )
else:
    people = active_users(engagement)
    rates = adoption(engagement)
    left, right = st.columns(2)
    with left:
        chart_with_csv(
            daily_lines(
                active_users_long(people),
                value="people",
                group="measure",
                percent=False,
                title="Active users and assigned seats per day",
                dashed=ENGAGEMENT_COUNTS["assigned_seats"],
            ),
            people,
            file_name=f"{stem}-active-users-per-day.csv",
            key="ent_active",
        )
    with right:
        chart_with_csv(
            daily_lines(
                adoption_long(rates),
                value="rate",
                group="measure",
                percent=True,
                title="Adoption rate per day",
            ),
            rates,
            file_name=f"{stem}-adoption-per-day.csv",
            key="ent_adoption",
        )
    st.caption(
        "Daily snapshots from Anthropic's engagement summaries, shown per day whatever the "
        "granularity (a week's active users are not the sum of its days). Adoption rates are "
        "Anthropic's own figures."
    )

# --- Unit economics: spend per active user, idle seats --------------------------------------------
st.subheader("Spend per active user and idle seats")
seats = report.seats
if seats is None or seats.by_month.empty:
    st.caption("No spend or engagement summaries in this range yet.")
else:
    as_of = (
        f"the monthly active users and assigned seats of {seats.snapshot:%b %d, %Y}, the latest "
        "day reported in this range"
        if seats.snapshot
        else "no engagement summary in this range yet"
    )
    left, right = st.columns(2)
    left.metric(
        "Spend per active user",
        "–" if seats.usd_per_active_user is None else money(seats.usd_per_active_user),
        help=f"Spend of the range divided by {as_of}. The table below has it by month.",
    )
    right.metric(
        "Idle seats",
        count(seats.idle_seats),
        help=f"Assigned seats less monthly active users: {as_of}.",
    )
    table(
        seats.by_month,
        column_config={
            "month": st.column_config.DateColumn(SEAT_HEADERS["month"], format="MMM YYYY"),
            "snapshot": st.column_config.DateColumn(SEAT_HEADERS["snapshot"]),
            **{
                name: st.column_config.NumberColumn(SEAT_HEADERS[name], format="$%.2f")
                for name in ("amount_usd", "usd_per_active_user")
            },
            **{
                name: st.column_config.NumberColumn(SEAT_HEADERS[name], format="localized")
                for name in ("days", "monthly_active_users", "assigned_seats", "idle_seats")
            },
        },
    )
    st.download_button(
        "Download CSV (per active user, by month)",
        data=to_csv(seats.by_month),
        file_name=f"{stem}-spend-per-active-user-by-month.csv",
        mime="text/csv",
        key="csv_ent_seats",
        icon=":material/download:",
        on_click="ignore",
    )
    st.caption(
        "By calendar month within the range: the month's spend over its monthly active users "
        "(Anthropic's count of the trailing month, on the month's latest reported day); idle "
        "seats are assigned seats nobody used in that month. A month only partly in the range "
        "counts only its days in it."
    )

st.caption(
    "Claude Enterprise cost and usage arrive within about a day and may be revised for 30 days; "
    "use dates at least 30 days old for invoice-grade figures."
)
