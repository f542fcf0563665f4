"""Statements: an allocation's monthly chargeback statement per value (charges, and the
adjustments correcting closed months), as CSV and PDF; admins close an ended month, which
locks its statements (the same as `finops statements close` and `export`)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import streamlit as st

from app.finops.allocation import AllocationNotFound
from app.finops.statement_pdf import statement_pdf
from app.finops.statements import (
    close_month,
    month_statement,
    statement_csv,
    statement_months,
    value_totals,
)
from app.reports.spend import allocation_groups
from app.ui import auth, state
from app.ui.format import md, money, money_md, plain
from app.ui.tables import table

me = auth.actor()
engine = state.engine()
st.title("Statements")
st.caption(
    "A monthly chargeback statement per allocation value: the month's allocated spend by "
    "organization, workspace and model, with each split's share. Closing an ended month locks "
    "its statements; a later restatement by Anthropic then shows as an adjustment on the next "
    "month's statement instead of changing one already sent."
)

names = list(allocation_groups(engine).values())
if not names:
    st.info(
        "No allocations yet: statements are per allocation value. Import an allocation on the "
        "Allocations page or with `finops allocations import FILE`."
    )
    st.stop()


def _month_label(month: date) -> str:
    return f"{month:%B %Y}"


left, right = st.columns(2)
with left:
    name = st.selectbox("Allocation", names, format_func=plain, key="statements_allocation")
months = statement_months(engine, name)
with right:
    month = st.selectbox("Month", months, format_func=_month_label, key="statements_month")

try:
    statement = month_statement(engine, name, month)
except AllocationNotFound:
    st.warning("This allocation was just removed. Pick another one.")
    st.stop()
current = month == months[0]
if statement.closed_at is not None:
    st.success(
        f"Closed on {statement.closed_at:%b %d, %Y} by {md(statement.closed_by or '')}: this "
        "statement is locked.",
        icon=":material/lock:",
    )
elif current:
    st.info(
        f"Provisional: {_month_label(month)} is still being billed; its figures change "
        "with every sync until it ends and is closed.",
        icon=":material/pending:",
    )
else:
    st.warning(
        f"Provisional: {_month_label(month)} has ended but is not closed, so a restatement by "
        "Anthropic would still change it. Close it to lock the statements.",
        icon=":material/lock_open:",
    )

totals = value_totals(statement)
st.metric(f"Total allocated, {_month_label(month)}", money(statement.total_cents().scaleb(-2)))
if not totals:
    st.caption("No spend was allocated in this month.")
else:
    table(
        [
            {
                "Value": t.value,
                "Charges (USD)": t.charges.scaleb(-2),
                "Adjustments (USD)": t.adjustments.scaleb(-2),
                "Total (USD)": t.total.scaleb(-2),
            }
            for t in totals
        ],
        column_config={
            header: st.column_config.NumberColumn(format="$%.2f")
            for header in ("Charges (USD)", "Adjustments (USD)", "Total (USD)")
        },
    )
    adjusted = [t for t in totals if t.adjustments]
    if adjusted:
        adjustments = sum((t.adjustments for t in adjusted), Decimal(0)).scaleb(-2)
        st.caption(
            "Adjustments correct closed months that Anthropic restated after they were "
            f"closed: {money_md(adjustments)} in all."
        )

stem = f"statement-{plain(name)}-{month:%Y-%m}".replace("/", "-").replace(" ", "-")
csv_col, pdf_col = st.columns(2)
with csv_col:
    st.download_button(
        "Download CSV",
        data=statement_csv(statement),
        file_name=f"{stem}.csv",
        mime="text/csv",
        key="statement_csv",
        icon=":material/download:",
        on_click="ignore",
        width="stretch",
    )
with pdf_col:
    st.download_button(
        "Download PDF (printable, a page per value)",
        # Made on the click, not on every rerun of the page (fpdf2 lays out every page).
        data=lambda: statement_pdf(statement),
        file_name=f"{stem}.pdf",
        mime="application/pdf",
        key="statement_pdf",
        icon=":material/picture_as_pdf:",
        on_click="ignore",
        width="stretch",
    )

if statement.rows:
    with st.expander(f"Every line ({len(statement.rows):,})", icon=":material/list:"):
        table(
            [
                {
                    "Value": r.value,
                    "Kind": r.kind if r.kind == "charge" else f"adjustment of {r.for_month:%b %Y}",
                    "Organization": r.organization_name,
                    "Workspace": r.workspace_name,
                    "Model": r.model or "",
                    "Split share (%)": r.share_percent,
                    "Amount (USD)": r.amount_cents.scaleb(-2),
                }
                for r in statement.rows
            ],
            column_config={"Amount (USD)": st.column_config.NumberColumn(format="$%.4f")},
        )


def _close() -> None:
    result = close_month(engine, month, actor=me.email)
    if name in result.already:
        st.session_state["statements_note"] = (
            f"{_month_label(month)} was closed already; nothing changed."
        )
    else:
        st.session_state["statements_note"] = (
            f"{_month_label(month)} closed: the statements of every allocation are locked."
        )


note = st.session_state.pop("statements_note", None)
if note:
    st.toast(note, icon=":material/lock:")
if me.is_admin and statement.closed_at is None and not current:
    with st.popover(f"Close {_month_label(month)}", icon=":material/lock:"):
        st.markdown(
            f"Closing locks the {_month_label(month)} statements of **every** allocation. "
            "It cannot be undone: later corrections by Anthropic become adjustments on the "
            "next month's statement."
        )
        st.button(
            f"Close {_month_label(month)}",
            type="primary",
            key="statements_close",
            on_click=_close,
        )
elif not me.is_admin and statement.closed_at is None and not current:
    st.caption("An administrator closes an ended month (or `finops statements close MONTH`).")
