"""Overview: headline spend, trend, top models and workspaces, freshness and problems."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.clock import today as utc_today
from app.models import OrgStatus
from app.reports.demo import DemoMix
from app.reports.filters import Filters
from app.reports.periods import month_start
from app.reports.spend import spend_totals
from app.ui import state
from app.ui.banners import problem_banners, ready_notices
from app.ui.charts import chart_with_csv, stacked_bars, totals_bars
from app.ui.compare import comparison_args
from app.ui.demo import include_demo_choice
from app.ui.format import in_sentence, md, money, money_md
from app.ui.onboarding import backfill_progress, data_freshness, empty_state

PROJECTION_HELP = (
    "The same forecast as the Budgets page: this month's spend so far, then the days left by "
    "an ETS model with a weekly season (weekends are often lower) fitted on up to 13 weeks of "
    "complete days, or at the run rate of the last days while there are fewer than 14. The "
    "month end falls within the 80 % range 8 times in 10. Today (UTC) is still partial: "
    "it counts as at least its forecast day."
)


orgs = state.organizations()
if not orgs:
    empty_state()
    st.stop()

st.title("Overview")
problem_banners(orgs)
ready_notices(orgs)
backfill_progress([o for o in orgs if o.status == OrgStatus.BACKFILLING])

mix = DemoMix(demo=sum(o.is_demo for o in orgs), real=sum(not o.is_demo for o in orgs))
include_demo = include_demo_choice("overview_")
if mix.mixed and not include_demo:
    demo_names = ", ".join(md(o.name) for o in orgs if o.is_demo)
    st.caption(
        f"Totals leave out the demo data ({demo_names}): a real organization is connected. "
        "Admins can remove it on the Organizations page."
    )

db = state.database_key()
today = utc_today()
summary = state.spend_summary(db, today, include_demo)
cols = st.columns(4)
cols[0].metric(
    "Month to date",
    money(summary.month_to_date),
    help=f"{month_start(today):%B %Y}, day {summary.days_elapsed} of "
    f"{summary.days_in_month}; compared with the same days of last month.",
    **comparison_args(summary.month_to_date_change, money),
)
projection = summary.projection
cols[1].metric(
    "Projected month end",
    money(projection.expected) if projection else "—",
    help=PROJECTION_HELP + " Compared with last month.",
    **comparison_args(summary.projection_change, money),
)
if projection is None:
    cols[1].caption("Needs one complete day (UTC) of data.")
else:
    cols[1].caption(
        # The figure is the tile's: its caption gives the range and how it was made.
        f"80 % range {money_md(projection.low)} – {money_md(projection.high)}. " + projection.note
    )
cols[2].metric(
    "Last month",
    money(summary.last_month),
    help="Compared with the month before it.",
    **comparison_args(summary.last_month_change, money),
)
today_change = summary.today_change
cols[3].metric(
    "Today so far (UTC)",
    money(summary.today),
    help="Anthropic reports spend within minutes; today is still partial, so it is "
    "compared with the whole of yesterday.",
    **comparison_args(
        today_change,
        money,
        against="yesterday",
    ),
)

trend = Filters(
    start=today - timedelta(days=29), end=today + timedelta(days=1), include_demo=include_demo
)
by_model = state.spend_over_time(db, trend, "model", "day")
if by_model.empty:
    st.info(
        "No spend in the last 30 days yet. If a backfill is running, figures appear as it goes."
    )
else:
    chart_with_csv(
        stacked_bars(
            by_model.frame,
            value="amount_usd",
            group="Model",
            money=True,
            title="Daily spend, last 30 days, by model",
            other=by_model.other,
        ),
        by_model.frame,
        file_name="spend-last-30-days-by-model.csv",
        key="trend",
    )

mtd = Filters(start=month_start(today), end=today + timedelta(days=1), include_demo=include_demo)
# The top models and workspaces, then each allocation's values ("Team": Search, Support,
# Unallocated…), two charts to a row.
tops = [
    ("model", "Model", "Top models", "top-models"),
    ("workspace", "Workspace", "Top workspaces", "top-workspaces"),
]
tops += [
    (group, name, f"Spend by {in_sentence(name)}", f"spend-by-allocation-{n}")
    for n, (group, name) in enumerate(state.allocation_groups().items())
]
for row in range(0, len(tops), 2):
    for column, (group, label, title, stem) in zip(
        st.columns(2), tops[row : row + 2], strict=False
    ):
        with column:
            totals = spend_totals(state.spend_over_time(db, mtd, group, "day"))
            if totals.empty:
                st.caption(f"No spend by {md(in_sentence(label))} this month yet.")
                continue
            top = totals.named().head(8)  # the largest named ones
            chart_with_csv(
                totals_bars(
                    top,
                    value="amount_usd",
                    group=label,
                    money=True,
                    title=f"{title}, month to date",
                ),
                top,
                file_name=f"{stem}-month-to-date.csv",
                key=f"top_{group}",
            )

st.subheader("Data freshness")
data_freshness(orgs)  # follows running backfills live
