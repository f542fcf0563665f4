"""Data quality: per organization, which days are provisional and which settled, the
restatements later syncs found, each dataset's lag, and what in the data is incomplete."""

from __future__ import annotations

from datetime import timedelta

import streamlit as st

from app.clock import today
from app.reports.data_quality import RECENT_DAYS, REPORT_NAMES, data_quality
from app.reports.labels import CONSOLE_KEY, DEFAULT_WORKSPACE
from app.ui import state
from app.ui.format import md, plain
from app.ui.tables import table

st.title("Data quality")
st.caption(
    "How far each organization's figures can be trusted: the days every sync still reads "
    "again (Anthropic may revise them), the revisions it found, how current each report is, "
    "and what the data leaves unnamed."
)
orgs = {o.organization_id: o.label or o.name for o in state.organizations()}
if not orgs:
    st.info("No organization connected yet: connect one on the Organizations page.")
    st.stop()
chosen = st.selectbox(
    "Organization", list(orgs), format_func=lambda o: plain(orgs[o]), key="quality_org"
)
now = today()
try:
    q = data_quality(state.engine(), state.settings(), chosen, now)
except LookupError:
    st.warning("This organization was just removed. Pick another one.")
    st.stop()


st.subheader("Provisional and settled days")
st.markdown(
    f"Days from **{q.provisional_from:%Y-%m-%d}** to today are **provisional**: every sync reads "
    "them again, and Anthropic may still revise them. Earlier days are **settled**; a revision "
    "of one found later is listed below."
)

st.subheader("Restatements")
if not q.restatements:
    st.info("No stored day has changed since it was first synced.", icon=":material/check:")
else:
    table(
        [
            {
                "Found": r.found_at.strftime("%Y-%m-%d %H:%M UTC"),
                "Day": r.day,
                "Report": REPORT_NAMES.get(r.dataset, r.dataset),
                "Before (USD)": r.before_cents.scaleb(-2),
                "After (USD)": r.after_cents.scaleb(-2),
                "Change (USD)": (r.after_cents - r.before_cents).scaleb(-2),
                "Settled then": "yes" if q.settled_when_found(r) else "",
            }
            for r in q.restatements
        ],
        column_config={
            name: st.column_config.NumberColumn(format="$%.2f")
            for name in ("Before (USD)", "After (USD)", "Change (USD)")
        },
    )

st.subheader("Each report")
table(
    [
        {
            "Report": REPORT_NAMES.get(d.dataset, d.dataset),
            "Stored days": "" if d.first_day is None else f"{d.first_day} to {d.last_day}",
            "Rows": d.rows,
            "Read through": d.last_synced_day,
            "Lag (days)": d.lag_days,
            "Not available because": d.unavailable or "",
        }
        for d in q.datasets
    ]
)

st.subheader(f"Completeness, last {RECENT_DAYS} days")
spend = q.spend_cents
left, right = st.columns(2)
share = float(q.default_workspace_cents / spend) if spend else 0.0
left.metric(f"Spend in the {DEFAULT_WORKSPACE.lower()}", f"{share:.1%}")
if q.per_key_cents:
    right.metric(
        f"Per-key cost without a key ({CONSOLE_KEY})",
        f"{float(q.keyless_cents / q.per_key_cents):.1%}",
    )
else:
    right.metric("Per-key cost without a key", "no per-key cost")
if q.unpriced_models:
    names = ", ".join(md(m) for m in q.unpriced_models)
    st.warning(
        f"Models without a list price (their tokens cannot be priced for unit economics): {names}.",
        icon=":material/help:",
    )
if q.rows_with_unknown_fields:
    st.info(
        f"{q.rows_with_unknown_fields:,} cost rows carry fields this version does not know; "
        "they are kept as sent and shown in no chart yet.",
        icon=":material/new_releases:",
    )
since = now - timedelta(days=RECENT_DAYS - 1)
st.caption(f"As of {now:%Y-%m-%d}; the completeness figures span {since} to {now}.")
