"""The dashboard's rules table for an allocation (issue 17 point 4), turned into the same YAML
file ``finops allocations import`` reads, and checked by the same parser on every edit.

A row is one rule: its order (the first match wins), what it allocates to (a value, or a
split's values: ``Search 60, Support 40`` for a fixed split, ``Search, Support`` otherwise),
its match in the file's flow form (``workspace: [Production], model: [claude-haiku-*]``;
empty: all spend) and its effective dates. Each rule is written on one line of the YAML, so a
refusal's line names the rule it is about: "Rule 2: weights must add up to 100".
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from app.finops.allocation_compute import AllocationSpec, Rule
from app.finops.allocation_file import parse_allocation
from app.finops.rule_files import RuleFileError, load_rule_file

# What a row allocates by: a value, or a split of one of the three methods.
KINDS = {"value": None, "split even": "even", "split proportional": "proportional"}
KINDS["split fixed"] = "fixed"
_HEADER_LINES = 3  # allocation, default, rules: the first rule is on line 4


@dataclass(frozen=True)
class EditorRow:
    """One row of the rules table, as the person typed it (anything may be missing)."""

    order: float | None = None
    kind: str | None = "value"
    allocates_to: str | None = None
    match: str | None = None
    effective_from: date | None = None
    effective_to: date | None = None

    @property
    def blank(self) -> bool:
        """A row with nothing typed in it (a new row not filled yet): left out."""
        return not (self.allocates_to or "").strip() and not (self.match or "").strip()


@dataclass(frozen=True)
class Checked:
    """The table as a file: its YAML, and the spec it reads as (None when refused, with the
    reasons in ``errors``, each naming the rule it is about)."""

    text: str
    spec: AllocationSpec | None
    errors: list[str] = field(default_factory=list)
    # The rows of the table in rule order, blank rows left out (``spec.rules`` follows them).
    rows: list[EditorRow] = field(default_factory=list)


def editor_rows(spec: AllocationSpec) -> list[EditorRow]:
    """An allocation's rules as rows of the table (orders 1, 2, 3…)."""
    return [_row_of(position + 1, rule) for position, rule in enumerate(spec.rules)]


def _row_of(order: int, rule: Rule) -> EditorRow:
    if rule.value is not None:
        kind, to = "value", rule.value
    elif rule.method == "fixed":
        kind = "split fixed"
        to = ", ".join(f"{value} {_weight_text(weight)}" for value, weight in rule.targets)
    else:
        kind, to = f"split {rule.method}", ", ".join(value for value, _ in rule.targets)
    mapping = rule.match.as_mapping()
    match = _flow(mapping)[1:-1] if mapping else ""
    return EditorRow(order, kind, to, match, rule.effective_from, rule.effective_to)


def _weight_text(weight: Decimal) -> str:
    return f"{weight.normalize():f}"


def _flow(data: Any) -> str:
    """``data`` as one line of YAML flow (names quoted only where YAML needs it)."""
    text = yaml.safe_dump(
        data, default_flow_style=True, width=math.inf, allow_unicode=True, sort_keys=False
    )
    return text.strip().removesuffix("...").strip()


def ordered(rows: Sequence[EditorRow]) -> list[EditorRow]:
    """The non-blank rows in rule order: by their order, rows without one last, ties in the
    table's order."""
    kept = [row for row in rows if not row.blank]

    def key(row: EditorRow) -> tuple[bool, float]:
        missing = row.order is None or math.isnan(row.order)
        return missing, 0.0 if missing or row.order is None else row.order

    return sorted(kept, key=key)


def check(
    name: str,
    default: str,
    rows: Sequence[EditorRow],
    *,
    other_allocations: Collection[str] = (),
) -> Checked:
    """The table as an allocation file, read by ``parse_allocation``. Every mistake is
    listed, not only the first: the name and default are read alone, then each rule alone
    (its match, its split's values), each reason as "Rule N: reason"."""
    rules = ordered(rows)
    errors: list[str] = []
    header = _document(name, default, [])
    try:
        parse_allocation(header, other_allocations=other_allocations)
    except RuleFileError as error:
        errors.append(_where(error, 0))
    mappings: list[dict[str, Any]] = []
    for number, row in enumerate(rules, start=1):
        try:
            mapping = _rule_mapping(row)
            parse_allocation(
                _document(name or "?", default, [mapping]), other_allocations=other_allocations
            )
        except RuleFileError as error:
            reason = error.reason if error.line is None or error.line > _HEADER_LINES else None
            if reason is not None:
                errors.append(f"Rule {number}: {reason}")
            mapping = {"value": "?"}
        mappings.append(mapping)
    text = _document(name, default, mappings)
    if errors:
        return Checked(text, None, errors, rules)
    try:
        spec = parse_allocation(text, other_allocations=other_allocations)
    except RuleFileError as error:  # nothing a rule alone gets wrong; kept for safety
        return Checked(text, None, [_where(error, len(rules))], rules)
    return Checked(text, spec, [], rules)


def _where(error: RuleFileError, count: int) -> str:
    """A parser's refusal, named by the rule its line is (or the name and default)."""
    line = error.line
    if line is not None and _HEADER_LINES < line <= _HEADER_LINES + count:
        return f"Rule {line - _HEADER_LINES}: {error.reason}"
    return error.reason[:1].upper() + error.reason[1:]


def _document(name: str, default: str, rules: list[dict[str, Any]]) -> str:
    """The YAML file: one line each for the name and the default, one per rule."""
    lines = [
        "allocation: " + _flow(name.strip()),
        "default: " + _flow(default.strip() or "Unallocated"),
        "rules:" if rules else "rules: []",
    ]
    lines += ["  - " + _flow(rule) for rule in rules]
    return "\n".join(lines) + "\n"


def _rule_mapping(row: EditorRow) -> dict[str, Any]:
    """One row as a rule of the file; ``RuleFileError`` (no line) for what the row itself
    gets wrong."""
    kind = (row.kind or "value").strip()
    if kind not in KINDS:
        raise RuleFileError(None, f"unknown kind {kind!r}: one of {', '.join(KINDS)}")
    method = KINDS[kind]
    to = (row.allocates_to or "").strip()
    if not to:
        raise RuleFileError(None, "say what it allocates to (a value, or a split's values)")
    out: dict[str, Any] = {}
    if method is None:
        out["value"] = to
    elif method == "fixed":
        out["split"] = {"method": "fixed", "weights": _weights(to)}
    else:
        out["split"] = {"method": method, "values": [v.strip() for v in to.split(",")]}
    match = _match(row.match)
    if match:
        out["match"] = match
    if row.effective_from is not None:
        out["effective_from"] = row.effective_from
    if row.effective_to is not None:
        out["effective_to"] = row.effective_to
    return out


def _weights(text: str) -> dict[str, int | float]:
    """``Search 60, Support 40`` as the weights of a fixed split."""
    weights: dict[str, int | float] = {}
    for part in text.split(","):
        value, _, number = part.strip().rpartition(" ")
        try:
            weight = Decimal(number)
        except InvalidOperation:
            weight = Decimal("NaN")
        if not value.strip() or not weight.is_finite():
            raise RuleFileError(
                None,
                f"{part.strip()!r}: write a fixed split as value and weight, "
                "e.g. Search 60, Support 40",
            )
        weights[value.strip()] = (
            int(weight) if weight == weight.to_integral_value() else float(weight)
        )
    return weights


def _match(text: str | None) -> dict[str, Any]:
    """The match column (``workspace: [Production], model: [claude-haiku-*]``, with or without
    braces) as a mapping; empty: all spend."""
    text = (text or "").strip()
    if not text:
        return {}
    flow = text if text.startswith("{") else "{" + text + "}"
    try:
        data = load_rule_file(flow)
    except RuleFileError as error:
        raise RuleFileError(
            None, f"the match is not key: [names], e.g. workspace: [Production] ({error.reason})"
        ) from None
    if not isinstance(data, dict):
        raise RuleFileError(None, "the match is not key: [names], e.g. workspace: [Production]")
    plain: dict[str, Any] = _plain(data)
    return plain


def _plain(data: Any) -> Any:
    """The loader's line-keeping mappings and lists as plain ones (what ``yaml`` can dump)."""
    if isinstance(data, dict):
        return {key: _plain(value) for key, value in data.items()}
    if isinstance(data, list):
        return [_plain(item) for item in data]
    return data
