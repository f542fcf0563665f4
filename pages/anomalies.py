"""Anomalies: days whose spend was above the expected range, per organization, workspace, model
and API key, with the range, the dollar impact and what drove it; a chart of the chosen
series marking its anomalies; admins acknowledge or dismiss one with a reason (audited)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import streamlit as st

from app.clock import today
from app.finops.anomalies import (
    UnknownAnomaly,
    anomaly_series_key,
    list_anomalies,
    series_days,
    triage,
)
from app.finops.anomaly_chart import series_chart
from app.finops.anomaly_tables import AnomalyStatus
from app.ui import auth, state
from app.ui.format import money, plain
from app.ui.tables import table

DIMENSIONS = {
    "organization": "Organization",
    "workspace": "Workspace",
    "model": "Model",
    "api_key": "API key",
}
STATUSES = {"open": "Open", "acknowledged": "Acknowledged", "dismissed": "Dismissed"}
CHART_DAYS = 90

me = auth.actor()
engine = state.engine()
st.title("Anomalies")
st.caption(
    "A day is an anomaly when its spend is above the expected range: the expected spend comes "
    "from the same weekday in recent weeks and the last 28 days' level; the range from how much "
    "the series usually varies. Today is not checked (it is not complete), nor a series' first "
    "14 days."
)

left, right = st.columns([2, 3])
end = today()
picked = left.date_input(
    "Days (UTC)", value=(end - timedelta(days=30), end - timedelta(days=1)), max_value=end
)
first, last = (list(picked) + [None, None])[:2] if isinstance(picked, tuple) else (None, None)
if first is None or last is None:
    st.info("Pick the first and the last day.")
    st.stop()
statuses = right.multiselect(
    "Status", list(STATUSES), default=["open"], format_func=STATUSES.__getitem__
)
rows = [
    a
    for a in list_anomalies(engine, start=first, end=last + timedelta(days=1))
    if not statuses or a["status"] in statuses
]
if not rows:
    st.info("No anomaly in these days.")
    st.stop()


def drove(a: dict[str, Any]) -> str:
    return "; ".join(f"{d['name']} +{money(d['change_usd'])}" for d in a["drivers"][:3])


def label(a: dict[str, Any]) -> str:
    return (
        f"#{a['id']} {a['date']} · {DIMENSIONS.get(a['dimension'], a['dimension'])} "
        f"{plain(a['value']['name'])} · +{money(a['impact_usd'])}"
    )


# Names come from the API: the table shows them as inert text.
table(
    [
        {
            "ID": a["id"],
            "Date": a["date"],
            "Organization": a["organization_name"] or a["organization_id"],
            "Dimension": DIMENSIONS.get(a["dimension"], a["dimension"]),
            "Value": a["value"]["name"],
            "Actual": a["actual_usd"],
            "Expected": a["expected_usd"],
            "Range": f"{money(a['low_usd'])} – {money(a['high_usd'])}",
            "Impact": a["impact_usd"],
            "What drove it": drove(a),
            "Status": STATUSES.get(a["status"], a["status"]),
            "Reason": a["reason"] or "",
        }
        for a in rows
    ],
    column_config={
        "Actual": st.column_config.NumberColumn(format="dollar"),
        "Expected": st.column_config.NumberColumn(format="dollar"),
        "Impact": st.column_config.NumberColumn(format="dollar"),
    },
    width="stretch",
)

by_id = {a["id"]: a for a in rows}
chosen_id = st.selectbox("Anomaly", list(by_id), format_func=lambda i: label(by_id[i]))
chosen = by_id[chosen_id]
key = anomaly_series_key(engine, chosen_id)
if key is not None:
    pk, dimension, value_key = key
    day = chosen["date"]
    centre = date.fromisoformat(day)
    start = centre - timedelta(days=CHART_DAYS - 14)
    stop = min(end, centre + timedelta(days=14))
    days = series_days(engine, pk, dimension, value_key, start, stop)
    same = [
        a
        for a in list_anomalies(engine, start=start, end=stop, organization_pk=pk)
        if a["dimension"] == dimension and a["value"] == chosen["value"]
    ]
    st.plotly_chart(
        series_chart(
            days,
            same,
            title=f"{DIMENSIONS.get(dimension, dimension)}: {chosen['value']['name']}",
        ),
        width="stretch",
    )
if chosen["drivers"]:
    st.text(
        "What drove it (change against the usual spend of that weekday):\n"
        + "\n".join(
            f"  {DIMENSIONS.get(d['dimension'], d['dimension'].replace('_', ' ').capitalize())}"
            f" {plain(d['name'])}: {money(d['actual_usd'])} instead of "
            f"{money(d['expected_usd'])} (+{money(d['change_usd'])})"
            for d in chosen["drivers"]
        )
    )

if me.is_admin:
    with st.form("triage", clear_on_submit=True, border=True):
        st.text(f"Triage anomaly #{chosen_id}")
        action = st.radio(
            "Action",
            ["acknowledged", "dismissed"],
            format_func={"acknowledged": "Acknowledge", "dismissed": "Dismiss"}.__getitem__,
            horizontal=True,
        )
        reason = st.text_input("Reason (required)", max_chars=500)
        suppress = st.number_input(
            "When dismissing: no new anomaly of this series for this many days (0: none)",
            min_value=0,
            max_value=365,
            value=0,
            step=1,
        )
        if st.form_submit_button("Save", type="primary"):
            try:
                triage(
                    engine,
                    actor=me,
                    anomaly_id=chosen_id,
                    status=AnomalyStatus(action),
                    reason=reason,
                    suppress_days=int(suppress) or None,
                )
            except (UnknownAnomaly, ValueError) as exc:
                st.error(plain(str(exc)))
            else:
                st.rerun()
