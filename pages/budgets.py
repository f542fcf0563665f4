"""Budgets: each budget's current period (actual against the amount, the prorated line, the
forecast with its 80 % range, when it runs out, status), the alerts that fired with each
delivery's status, and the channels (hints only) with "Send test" for admins."""

from __future__ import annotations

import streamlit as st

from app.finops.alerts import list_alerts
from app.finops.budgets import budget_statuses
from app.finops.channels import list_channels
from app.finops.delivery import send_test
from app.settings import get_settings
from app.ui import auth, state
from app.ui.format import md, money, money_md
from app.ui.tables import table

STATUS = {"on_track": "On track", "at_risk": "Forecast over budget", "over": "Over budget"}
METHOD = {
    "ets": "ETS with a weekly season",
    "run_rate": "run rate (under 14 complete days)",
    "actual_only": "no complete day yet",
    "actual": "period ended",
}

me = auth.actor()
engine = state.engine()
st.title("Budgets")

statuses = budget_statuses(engine)
if not statuses:
    st.info(
        "No budgets yet. An administrator imports the budget file with "
        "`finops budgets import FILE` (see the README for its format)."
    )
for s in statuses:
    j = s.as_json()
    amount = j["amount_usd"]
    with st.container(border=True):
        st.subheader(md(s.spec.name))
        st.caption(
            md(
                f"{s.spec.period.capitalize()} from {j['period_start']} · "
                f"{STATUS[j['status']]} · forecast by {METHOD.get(j['forecast_method'], '')}"
            )
        )
        st.progress(min(1.0, j["actual_usd"] / amount if amount else 0.0))
        actual, prorated, forecast, runs_out = st.columns(4)
        # Plain figures (a metric's delta would draw an up arrow beside "of $5,000").
        actual.metric(f"Actual of {money(amount)} (today included)", money(j["actual_usd"]))
        prorated.metric("Prorated to today", money(j["prorated_usd"]))
        forecast.metric("Forecast at period end", money(j["forecast_usd"]))
        runs_out.metric("Runs out", j["exhausted_on"] or "Not in this period")
        forecast.caption(
            f"80 % range {money_md(j['forecast_low_usd'])} – {money_md(j['forecast_high_usd'])}"
        )

st.header("Alerts fired")
alerts = list_alerts(engine, limit=200)
if not alerts:
    st.caption("No threshold has fired yet.")
else:
    table(
        [
            {
                "Fired (UTC)": a["fired_at"],
                "Budget": a["budget"],
                "Threshold": f"{a['threshold_percent']:g}% of {a['on']}",
                "Period": a["period_start"],
                "Actual": a["actual_usd"],
                "Forecast": a["forecast_usd"],
                "Restated": "yes" if a["restatement"] else "",
                "Deliveries": ", ".join(
                    f"{d['channel']}: {d['status']} ({d['attempts']}x"
                    + (f", HTTP {d['last_status_code']}" if d["last_status_code"] else "")
                    + ")"
                    for d in a["deliveries"]
                )
                or "no channel",
            }
            for a in (view.as_json() for view in alerts)
        ],
        column_config={
            "Actual": st.column_config.NumberColumn(format="dollar"),
            "Forecast": st.column_config.NumberColumn(format="dollar"),
        },
    )

st.header("Channels")
channels = list_channels(engine)
if not channels:
    st.caption("No channels. Add one with `finops channels add` (it holds a secret).")
for channel in channels:
    left, right = st.columns([5, 1])
    hint = f" · secret {channel.secret_hint}" if channel.secret_hint else ""
    left.text(f"{channel.name} · {channel.type} · {channel.target}{hint}")
    left.caption(md("Events: " + ", ".join(channel.events)))
    if me.is_admin and right.button("Send test", key=f"test-{channel.name}"):
        result = send_test(engine, get_settings(), channel.name)
        if result is not None and result.status == "delivered":
            st.success(md(f"Test delivered to {channel.name}."))
        else:
            reason = result.last_error if result is not None else "the channel is gone"
            st.error(md(f"The test to {channel.name} did not go through: {reason}"))
