"""FOCUS export: a month of billed cost as a FOCUS Cost and Usage CSV, in version 1.2 or 1.3."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import streamlit as st

from app.clock import today
from app.finops.focus import DEFAULT_VERSION, VERSIONS, focus_file
from app.reports.filters import Filters
from app.reports.periods import month_start, next_month, usd
from app.reports.spend import total_cents
from app.ui import state
from app.ui.banners import require_organizations
from app.ui.format import money_md

st.title("FOCUS export")
require_organizations("cost")
st.caption(
    "The FinOps Open Cost and Usage Specification (FOCUS) Cost and Usage dataset: one row per "
    "billed cost line, for tools that read FOCUS. Same as `finops export --dataset focus`."
)

first_month = month_start(today())
months = [first_month]
for _ in range(11):
    months.append(month_start(months[-1] - timedelta(days=1)))
left, right = st.columns([2, 1])
month = left.selectbox("Month (UTC)", months, format_func=lambda m: f"{m:%B %Y}", key="focus_month")
version = right.radio(
    "FOCUS version", VERSIONS, index=VERSIONS.index(DEFAULT_VERSION), horizontal=True
)
end = next_month(month)


@st.cache_data(ttl=60, show_spinner="Building the FOCUS file…")
def build(db: str, version: str, start_iso: str, end_iso: str) -> tuple[bytes, int, str, str]:
    """The file, its row count, its BilledCost total and the cost report's (as text)."""
    from datetime import date

    engine = state.engine()
    start, stop = date.fromisoformat(start_iso), date.fromisoformat(end_iso)
    made = focus_file(engine, version=version, start=start, end=stop)
    report = usd(total_cents(engine, Filters(start, stop, include_demo=True)))
    return made.content, made.rows, str(made.billed_usd), str(report)


content, rows, billed, report = build(
    state.database_key(), version, month.isoformat(), end.isoformat()
)
st.download_button(
    f"Download FOCUS {version} CSV ({rows:,} rows)",
    data=content,
    file_name=f"focus-{version}-{month:%Y-%m}.csv",
    mime="text/csv",
    icon=":material/download:",
    disabled=rows == 0,
)
if Decimal(billed) == Decimal(report):
    st.success(
        f"BilledCost adds up to {money_md(Decimal(billed))}, exactly the cost report's total for "
        f"{month:%B %Y}."
    )
else:
    st.warning(
        f"BilledCost adds up to {money_md(Decimal(billed))} but the cost report says "
        f"{money_md(Decimal(report))}: data changed while the file was built; build it again."
    )
