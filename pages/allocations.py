"""Allocations: each allocation's rules, the last 30 days' spend per value (Unallocated
included) and its history; admins import a rule file (the same YAML as `finops allocations
import`)."""

from __future__ import annotations

import json
from decimal import Decimal

import streamlit as st

from app.finops.allocation import (
    allocation_specs,
    history,
    import_allocation,
    spend_by_value,
    version_changes,
)
from app.finops.allocation_compute import Rule
from app.finops.allocation_keys import per_key_coverage
from app.finops.rule_files import RuleFileError
from app.ui import auth, state
from app.ui.allocation_editor import rules_editor, show_note
from app.ui.format import md, plain
from app.ui.tables import table

DAYS = 30

me = auth.actor()
st.title("Allocations")
st.caption(
    "Each allocation sends every day's billed spend to a value (a team, a cost centre…) by "
    "ordered rules: the first rule that matches wins, and what no rule matches goes to the "
    "default value. The values of a day add up exactly to that day's bill."
)
engine = state.engine()


def _import_form() -> None:
    uploaded = st.file_uploader(
        "Import an allocation file (YAML or JSON)", type=["yaml", "yml", "json"]
    )
    if uploaded is None or not st.button("Import", type="primary"):
        return
    try:
        text = uploaded.getvalue().decode("utf-8-sig")
    except UnicodeDecodeError:
        st.error("The file is not UTF-8 text. Nothing was changed.")
        return
    try:
        result = import_allocation(engine, text, actor=me.email)
    except RuleFileError as exc:
        # The reason quotes the file: shown inert, never as Markdown.
        st.error("The file was refused; nothing was changed.")
        st.code(plain(str(exc)), language=None)
        return
    if result.changed:
        st.success(f"Allocation {md(result.name)} imported: version {result.version}.")
    else:
        st.info(f"Allocation {md(result.name)} is unchanged.")


def _rule_row(rule: Rule) -> dict[str, object]:
    if rule.value is not None:
        target = rule.value
    elif rule.method == "fixed":
        target = f"split fixed: {', '.join(f'{v} {w}%' for v, w in rule.targets)}"
    else:
        target = f"split {rule.method}: {', '.join(v for v, _ in rule.targets)}"
    return {
        "Line": rule.line,
        "Allocates to": target,
        "Match": json.dumps(rule.match.as_mapping(), ensure_ascii=False) or "{}",
        "From": rule.effective_from,
        "Until (exclusive)": rule.effective_to,
        "By per-key cost": "yes" if rule.match.needs_per_key else "",
    }


show_note()
allocations = allocation_specs(engine)
names = [allocation.name for allocation, _ in allocations]
if me.is_admin:
    with st.expander("Import an allocation file", icon=":material/upload_file:"):
        _import_form()
    with st.expander("Create an allocation", icon=":material/add:"):
        rules_editor(key="allocation_new_", actor=me.email, spec=None, others=names)

if not allocations:
    st.info(
        "No allocations yet. An administrator creates one here or imports a file (here or "
        "with `finops allocations import FILE`)."
    )
    st.stop()

chosen = st.selectbox("Allocation", names, format_func=plain, key="allocation")
allocation, spec = allocations[names.index(chosen) if chosen in names else 0]

st.subheader("Rules")
if me.is_admin:
    st.caption(
        f"Version {allocation.version}. Edit the rules in the table; Save makes a new version."
    )
    rules_editor(
        key=f"allocation_{allocation.id}_{allocation.version}_",
        actor=me.email,
        spec=spec,
        others=[n for n in names if n != allocation.name],
    )
else:
    st.text(f"Default value: {plain(spec.default)}  ·  version {allocation.version}")
    if spec.rules:
        table([_rule_row(rule) for rule in spec.rules])
    else:
        st.text("No rules: all spend goes to the default value.")
if any(rule.match.needs_per_key for rule in spec.rules):
    coverage = per_key_coverage(engine)
    # Organization names are the API's: plain text.
    if coverage.without:
        st.warning(coverage.note(md), icon=":material/key:")
    else:
        st.caption(coverage.note(md))

st.subheader(f"Spend by value, last {DAYS} days")
totals = dict(spend_by_value(engine, allocation.name, days=DAYS))
totals.setdefault(spec.default, Decimal(0))  # Unallocated is shown even when it is zero
table(
    [
        {"Value": value, "Spend (USD)": amount.scaleb(-2)}
        for value, amount in sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    ],
    column_config={"Spend (USD)": st.column_config.NumberColumn(format="$%.2f")},
)

st.subheader("History")
versions = history(engine, allocation.name)
changes = version_changes(versions)
table(
    [
        {
            "Version": version.version,
            "When (UTC)": version.at,
            "Who": version.actor,
            "What changed": changes.get(version.version, ""),
            "Allocated again from": version.changed_from
            if version.source is not None
            else "(removed)",
        }
        for version in versions
    ]
)
