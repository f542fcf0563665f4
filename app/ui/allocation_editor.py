"""The Allocations page's rules editor (admins): a table of rules checked on every edit by the
file parser, a preview of what each rule would allocate over the last 30 days and what stays
with the default value, and Save, which imports the table as a new version (the same as
``finops allocations import``: audited, in the history, days from the change allocated again)."""

from __future__ import annotations

import math
from collections.abc import Collection
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st

from app.finops.allocation import import_allocation
from app.finops.allocation_compute import AllocationSpec
from app.finops.allocation_editor import KINDS, Checked, EditorRow, check, editor_rows
from app.finops.allocation_file import first_changed_day, spec_key
from app.finops.allocation_preview import Preview
from app.finops.rule_files import RuleFileError
from app.ui import state
from app.ui.format import md, money_md, plain
from app.ui.tables import table

PREVIEW_DAYS = 30
COLUMNS = ("Order", "Kind", "Allocates to", "Match", "From", "Until")
_NOTE = "allocation_editor_note"


def _frame(rows: list[EditorRow]) -> pd.DataFrame:
    data = [
        [r.order, r.kind, r.allocates_to, r.match, r.effective_from, r.effective_to] for r in rows
    ]
    frame = pd.DataFrame(data, columns=list(COLUMNS))
    frame["Order"] = frame["Order"].astype("float64")
    for column in ("Kind", "Allocates to", "Match", "From", "Until"):
        frame[column] = frame[column].astype("object")
    return frame


def _day(value: Any) -> date | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value)[:10])
    except ValueError:
        return None


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return str(value)


def _order(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def _rows(edited: pd.DataFrame) -> list[EditorRow]:
    return [
        EditorRow(
            order=_order(record.get("Order")),
            kind=_text(record.get("Kind")) or "value",
            allocates_to=_text(record.get("Allocates to")),
            match=_text(record.get("Match")),
            effective_from=_day(record.get("From")),
            effective_to=_day(record.get("Until")),
        )
        for record in edited.to_dict("records")
    ]


def _save(text: str, actor: str, name: str) -> None:
    try:
        result = import_allocation(state.engine(), text, actor=actor)
    except RuleFileError as error:  # e.g. another admin saved a clashing name meanwhile
        st.session_state[_NOTE] = ("error", f"Not saved: {error}. Nothing was changed.")
        return
    state.clear_caches()
    if result.changed:
        since = (
            "every day allocated again"
            if result.changed_from is None
            else f"the days from {result.changed_from:%b %d, %Y} allocated again"
        )
        st.session_state[_NOTE] = ("success", f"{name} saved as version {result.version}: {since}.")
    else:
        st.session_state[_NOTE] = ("info", f"{name} is unchanged: nothing was saved.")


def show_note() -> None:
    """The result of the last Save (once), above the page's content."""
    note = st.session_state.pop(_NOTE, None)
    if note is None:
        return
    kind, text = note
    {"error": st.error, "success": st.success}.get(kind, st.info)(md(text))


def rules_editor(
    *,
    key: str,
    actor: str,
    spec: AllocationSpec | None,
    others: Collection[str],
) -> None:
    """The editor of ``spec`` (None: a new allocation, named here). ``others``: the other
    allocations' names (a rule cannot match on them; a new one cannot take one)."""
    if spec is None:
        name = st.text_input("Name", key=key + "name", placeholder="Team, Cost centre…")
    else:
        name = spec.name
    default = st.text_input(
        "Default value (what no rule matches)",
        value=spec.default if spec is not None else "Unallocated",
        key=key + "default",
    )
    st.caption(
        "One rule per row; the first rule (by Order) that matches a cost row wins. Allocates "
        "to: a value, or for a split its values (fixed: “Search 60, Support 40”; even or "
        "proportional: “Search, Support”). Match: “workspace: [Production], model: "
        "[claude-haiku-*]” (empty: all spend). Until is exclusive."
    )
    edited = st.data_editor(
        _frame(editor_rows(spec) if spec is not None else []),
        key=key + "table",
        num_rows="dynamic",
        hide_index=True,
        width="stretch",
        column_config={
            "Order": st.column_config.NumberColumn(
                "Order", help="Rules apply in this order: change a number to move a rule."
            ),
            "Kind": st.column_config.SelectboxColumn(
                "Kind", options=list(KINDS), default="value", required=True
            ),
            "Allocates to": st.column_config.TextColumn("Allocates to", max_chars=2000),
            "Match": st.column_config.TextColumn(
                "Match", help="workspace: [Production], model: [claude-haiku-*]", width="large"
            ),
            "From": st.column_config.DateColumn("From", format="YYYY-MM-DD"),
            "Until": st.column_config.DateColumn("Until", format="YYYY-MM-DD"),
        },
    )
    if not name.strip():
        st.caption("Name the allocation to check and preview its rules.")
        return
    refused = _name_clash(spec, name, others)
    checked = check(name, default, _rows(edited), other_allocations=others)
    errors = ([refused] if refused else []) + checked.errors
    if errors:
        st.error(
            "  \n".join(md(e) for e in errors) + "  \nFix these to preview and save.",
            icon=":material/error:",
        )
        return
    assert checked.spec is not None
    _preview(checked)
    unchanged = spec is not None and spec_key(spec) == spec_key(checked.spec)
    if spec is not None and not unchanged:
        change = first_changed_day(spec, checked.spec)
        st.caption(
            "Saving allocates every day again."
            if change is None or change is True
            else f"Saving allocates again the days from {change:%b %d, %Y}; earlier days keep "
            "their allocation."
        )
    st.button(
        "Save rules" if spec is not None else "Create allocation",
        type="primary",
        key=key + "save",
        disabled=unchanged,
        help="Nothing has changed yet." if unchanged else None,
        on_click=_save,
        args=(checked.text, actor, plain(checked.spec.name)),
    )


def _note(per_key: bool, cents: Decimal) -> str:
    if cents:
        return "by per-key billed cost" if per_key else ""
    if per_key:
        return "matches nothing in these days: it needs per-key billed cost of these keys"
    return "matches nothing in these days"


def _name_clash(spec: AllocationSpec | None, name: str, others: Collection[str]) -> str | None:
    if spec is None and name.strip() in others:
        return f"An allocation named {name.strip()} exists already: choose it above to edit it."
    return None


def _preview(checked: Checked) -> None:
    """Each rule's spend over the last days, the default value's, and each value's."""
    assert checked.spec is not None
    shown: Preview = state.allocation_preview(state.database_key(), checked.text, PREVIEW_DAYS)
    st.markdown(f"**Preview, last {PREVIEW_DAYS} days** (nothing is saved yet)")
    whole = shown.total

    def share(cents: Decimal) -> float:
        return float(cents / whole) if whole else 0.0

    rows: list[dict[str, object]] = []
    for number, (rule, row) in enumerate(zip(checked.spec.rules, checked.rows, strict=True), 1):
        cents = shown.by_rule.get(rule.position, Decimal(0))
        rows.append(
            {
                "Rule": str(number),
                "Allocates to": row.allocates_to or "",
                "Match": row.match or "(all spend)",
                "Spend (USD)": cents.scaleb(-2),
                "Share": share(cents),
                "Note": _note(rule.match.needs_per_key, cents),
            }
        )
    rows.append(
        {
            "Rule": "default",
            "Allocates to": f"{checked.spec.default} (default)",
            "Match": "what no rule matches",
            "Spend (USD)": shown.default.scaleb(-2),
            "Share": share(shown.default),
            "Note": "",
        }
    )
    table(
        rows,
        column_config={
            "Spend (USD)": st.column_config.NumberColumn(format="$%.2f"),
            "Share": st.column_config.ProgressColumn(
                "Share", min_value=0, max_value=1, format="percent"
            ),
        },
    )
    st.caption(
        f"{money_md(whole.scaleb(-2))} billed from {shown.start:%b %d} to today; a split rule's "
        "spend goes to its values in their shares. Per value: "
        + ", ".join(
            f"{md(value)} {money_md(cents.scaleb(-2))}"
            for value, cents in sorted(shown.by_value.items(), key=lambda item: -item[1])
        )
        + "."
    )
