"""Allocating an organization-day (no database): first match wins, effective dates, splits,
and exact sums by largest remainder."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.finops.allocation_compute import (
    AllocationSpec,
    RuleIndex,
    allocate_day,
    integer_weights,
    matching_rules,
    split_amount,
    split_units,
)
from app.finops.allocation_file import parse_allocation, spec_yaml
from app.finops.match import SpendRow

DAY = date(2026, 10, 15)


def _row(workspace: str | None, model: str | None = "claude-haiku-4-5") -> SpendRow:
    return SpendRow(
        "org-1",
        "Acme",
        workspace_id=None if workspace is None else f"wrkspc_{workspace}",
        workspace_name="Default workspace" if workspace is None else workspace,
        model=model,
        cost_type="tokens" if model else "web_search",
    )


def _allocate(
    spec: AllocationSpec, rows: list[tuple[SpendRow, str]], day: date = DAY
) -> dict[str, Decimal]:
    groups = [(matching_rules(spec, row), Decimal(amount)) for row, amount in rows]
    totals: dict[str, Decimal] = {}
    for part in allocate_day(spec, day, groups):
        totals[part.value] = totals.get(part.value, Decimal(0)) + part.amount_cents
    return totals


EXAMPLE = """\
allocation: Team
default: Unallocated
rules:
  - value: Search
    match: {workspace: [Production]}
  - value: Support
    match: {workspace: [Support Bot], model: ["claude-haiku-*"]}
    effective_from: 2026-10-01
  - split: {method: fixed, weights: {Search: 60, Support: 40}}
    match: {workspace: [Default workspace]}
"""


def test_the_contract_example() -> None:
    spec = parse_allocation(EXAMPLE)
    rows = [
        (_row("Production"), "1000"),
        (_row("Support Bot"), "500"),
        (_row("Support Bot", model="claude-sonnet-4-5"), "70"),  # not haiku: unmatched
        (_row(None), "100.000001"),
        (_row("Research"), "3"),
    ]
    totals = _allocate(spec, rows)
    assert totals == {
        "Search": Decimal("1000") + Decimal("60.000001"),
        "Support": Decimal("500") + Decimal("40.000000"),
        "Unallocated": Decimal("73"),
    }


def test_a_rule_before_its_effective_date_does_not_match_and_spend_falls_through() -> None:
    spec = parse_allocation(EXAMPLE + "  - value: Bots\n    match: {workspace: [Support Bot]}\n")
    before = _allocate(spec, [(_row("Support Bot"), "500")], date(2026, 9, 30))
    assert before == {"Bots": Decimal(500)}
    assert _allocate(spec, [(_row("Support Bot"), "500")], date(2026, 10, 1)) == {
        "Support": Decimal(500)
    }


def test_effective_to_is_exclusive() -> None:
    spec = parse_allocation(
        "allocation: T\nrules:\n  - value: A\n    match: {}\n    effective_to: 2026-10-15\n"
    )
    assert _allocate(spec, [(_row("x"), "5")], date(2026, 10, 14)) == {"A": Decimal(5)}
    assert _allocate(spec, [(_row("x"), "5")], date(2026, 10, 15)) == {"Unallocated": Decimal(5)}


def test_even_and_proportional_splits() -> None:
    spec = parse_allocation(
        "allocation: T\nrules:\n"
        "  - value: A\n    match: {workspace: a}\n"
        "  - value: B\n    match: {workspace: b}\n"
        "  - split: {method: proportional, values: [A, B]}\n    match: {workspace: shared}\n"
        "  - split: {method: even, values: [A, B, C]}\n    match: {workspace: common}\n"
    )
    totals = _allocate(
        spec,
        [(_row("a"), "300"), (_row("b"), "100"), (_row("shared"), "40"), (_row("common"), "1")],
    )
    third = Decimal("0.333333")
    assert totals == {
        "A": Decimal(330) + third + Decimal("0.000001"),  # the remainder to the first
        "B": Decimal(110) + third,
        "C": third,
    }
    # No direct spend that day: a proportional split is even.
    assert _allocate(spec, [(_row("shared"), "10")]) == {"A": Decimal(5), "B": Decimal(5)}


def test_a_negative_amount_splits_exactly_too() -> None:
    spec = parse_allocation(
        "allocation: T\nrules:\n  - split: {method: even, values: [A, B, C]}\n    match: {}\n"
    )
    totals = _allocate(spec, [(_row("x"), "-1.000000")])
    assert sum(totals.values()) == Decimal("-1")
    assert sorted(totals.values()) == [
        Decimal("-0.333334"),
        Decimal("-0.333333"),
        Decimal("-0.333333"),
    ]


def test_largest_remainder_gives_the_fixed_shares() -> None:
    # 60/40 of 0.000005 cents (5 micro-cents): 3 and 2, not 3.0 and 2.0 rounded apart.
    assert split_units(5, [60, 40]) == [3, 2]
    assert split_units(1, [60, 40]) == [1, 0]
    assert split_units(7, [1] * 3) == [3, 2, 2]
    with pytest.raises(ValueError):
        split_units(7, [0, 0])


@given(
    units=st.integers(min_value=-(10**18), max_value=10**18),
    weights=st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=12).filter(
        lambda ws: sum(ws) > 0
    ),
)
def test_split_units_adds_up_and_each_part_is_within_one_unit(
    units: int, weights: list[int]
) -> None:
    parts = split_units(units, weights)
    assert sum(parts) == units
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        exact = Fraction(units * weight, total)
        assert abs(part - exact) < 1


_amounts = st.decimals(
    min_value=Decimal("-100000"), max_value=Decimal("10000000"), places=6, allow_nan=False
)
_workspaces = st.sampled_from(["a", "b", "c", "shared", None])


@st.composite
def _rule_files(draw: st.DrawFn) -> str:
    """A random allocation file over workspaces a, b, c, shared and the Default workspace."""
    lines = ["allocation: Random", "default: Unallocated", "rules:"]
    for _ in range(draw(st.integers(0, 6))):
        workspaces = draw(
            st.lists(
                st.sampled_from(["a", "b", "c", "shared", "Default workspace", "*"]),
                min_size=1,
                max_size=3,
                unique=True,
            )
        )
        match = "{workspace: [" + ", ".join(f'"{w}"' for w in workspaces) + "]}"
        kind = draw(st.sampled_from(["value", "even", "proportional", "fixed"]))
        if kind == "value":
            lines.append(f"  - value: {draw(st.sampled_from(['A', 'B', 'C']))}")
        elif kind == "fixed":
            first = draw(st.integers(1, 99))
            lines.append(f"  - split: {{method: fixed, weights: {{A: {first}, B: {100 - first}}}}}")
        else:
            values = draw(
                st.lists(st.sampled_from(["A", "B", "C", "D"]), min_size=1, max_size=4, unique=True)
            )
            lines.append(f"  - split: {{method: {kind}, values: [{', '.join(values)}]}}")
        lines.append(f"    match: {match}")
        if draw(st.booleans()):
            lines.append(f"    effective_from: 2026-10-{draw(st.integers(1, 28)):02d}")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None)
@given(
    text=_rule_files(),
    rows=st.lists(st.tuples(_workspaces, _amounts), max_size=15),
    day=st.integers(1, 28),
)
def test_a_day_allocates_exactly_its_billed_total(
    text: str, rows: list[tuple[str | None, Decimal]], day: int
) -> None:
    spec = parse_allocation(text)
    groups = [(matching_rules(spec, _row(ws)), amount) for ws, amount in rows]
    parts = allocate_day(spec, date(2026, 10, day), groups)
    assert sum((p.amount_cents for p in parts), Decimal(0)) == sum(
        (amount for _, amount in rows), Decimal(0)
    )
    for index, (_, amount) in enumerate(rows):
        assert sum(p.amount_cents for p in parts if p.group == index) == amount
        assert all(p.amount_cents == p.amount_cents.quantize(Decimal("0.000001")) for p in parts)


def test_split_amount_keeps_the_stored_precision() -> None:
    parts = split_amount(Decimal("0.000010"), [1] * 3)
    assert parts == [Decimal("0.000004"), Decimal("0.000003"), Decimal("0.000003")]


def test_fixed_weights_with_decimals_keep_their_proportions() -> None:
    spec = parse_allocation(
        "allocation: T\nrules:\n"
        "  - split: {method: fixed, weights: {A: 33.5, B: 66.5}}\n    match: {}\n"
    )
    assert integer_weights([Decimal("33.5"), Decimal("66.5")]) == [335, 665]
    assert _allocate(spec, [(_row("x"), "1000")]) == {"A": Decimal("335"), "B": Decimal("665")}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rules: []\n", 1, "allocation is missing"),
        (
            "allocation: T\nrules:\n  - value: A\n    split: {method: even, values: [A]}\n",
            3,
            "either value or split",
        ),
        ("allocation: T\nrules:\n  - split: {method: even, values: [A, A]}\n", 3, "listed twice"),
        ("allocation: T\nrules:\n  - split: {method: even}\n", 3, "needs values"),
        ("allocation: T\nrules:\n  - split: {method: fixed, values: [A]}\n", 3, "takes weights"),
        (
            "allocation: T\nrules:\n  - value: A\n    match: {T: x}\n",
            4,
            "cannot match on an allocation",
        ),
        (
            "allocation: T\nrules:\n  - value: A\n    effective_from: 2026-10-02\n    effective_to: 2026-10-01\n",
            5,
            "must be after",
        ),
        ("allocation: 42\n", 1, 'quote numbers: "42"'),
        ("- just a list\n", 1, "must be a mapping"),
    ],
)
def test_a_refused_file_names_the_line_and_the_reason(text: str, line: int, reason: str) -> None:
    from app.finops.rule_files import RuleFileError

    with pytest.raises(RuleFileError) as caught:
        parse_allocation(text)
    assert str(caught.value).startswith(f"line {line}: "), str(caught.value)
    assert reason in str(caught.value)


def test_a_json_file_and_values_beside_the_split_are_read_too() -> None:
    spec = parse_allocation(
        '{"allocation": "Env", "default": "Other", "rules": ['
        '{"split": {"method": "even"}, "values": ["Prod", "Dev"], "match": {"workspace": "*"}}]}'
    )
    assert spec.default == "Other"
    assert spec.rules[0].values == ("Prod", "Dev")
    assert spec_yaml(parse_allocation(spec_yaml(spec))) == spec_yaml(spec)


_WORKSPACES = [None, "Production", "Support Bot", "Research", "Prod*"]
_MODELS = [None, "claude-haiku-4-5", "claude-sonnet-4-5", "claude-opus-4-1"]
_PATTERNS = {
    "workspace": ["Production", "Support*", "Default workspace", "*", "Prod*", "wrkspc_Research"],
    "model": ["claude-haiku-*", "claude-sonnet-4-5", "*", "Claude Opus 4.1", "claude-*-4-1"],
    "cost_type": ["tokens", "Web search", "web_search"],
    "organization": ["Acme", "org-1", "Other"],
}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(sorted(_PATTERNS)),
            st.integers(0, 5),
            max_size=3,
        ),
        min_size=1,
        max_size=8,
    ),
    st.lists(st.tuples(st.sampled_from(_WORKSPACES), st.sampled_from(_MODELS)), max_size=12),
)
def test_the_rule_index_finds_the_rules_each_match_finds(
    matches: list[dict[str, int]], rows: list[tuple[str | None, str | None]]
) -> None:
    # The index (a bit per rule and key value) must pick exactly the rules, in order, that
    # trying every rule's match on the row picks: it is what allocation uses at scale.
    rules = []
    for i, terms in enumerate(matches):
        pattern = {k: _PATTERNS[k][n % len(_PATTERNS[k])] for k, n in terms.items()}
        rules.append(f"  - value: V{i}\n    match: {json.dumps(pattern)}\n")
    spec = parse_allocation("allocation: T\ndefault: U\nrules:\n" + "".join(rules))
    index = RuleIndex(spec)
    for workspace, model in rows:
        row = _row(workspace, model)
        assert index.matching(row) == matching_rules(spec, row)
