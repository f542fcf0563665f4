"""Spend grouped by an allocation ("Team"): the same filters as every Spend view, each day adding
up to the billed cost of those filters exactly, on SQLite and Postgres."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.finops.allocation import import_allocation
from app.reports.filters import Filters
from app.reports.labels import allocation_group
from app.reports.spend import (
    allocated_group_refusal,
    allocation_groups,
    allocation_values,
    spend_by_day,
    spend_over_time,
    total_cents,
)
from tests.test_allocation_store import DAYS, EXAMPLE, START, seed_orgs

END = START + timedelta(days=DAYS)


def _by_day(rows: Sequence[tuple[object, str, Decimal]]) -> dict[object, Decimal]:
    out: dict[object, Decimal] = {}
    for day, _label, cents in rows:
        out[day] = out.get(day, Decimal(0)) + cents
    return out


def test_spend_by_team_adds_up_to_billed_spend_every_day(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    assert allocation_groups(engine) == {allocation_group("Team"): "Team"}
    f = Filters(START, END)
    by_team = spend_by_day(engine, f, allocation_group("Team"))
    assert {label for _, label, _ in by_team} == {"Search", "Support", "Unallocated"}
    assert _by_day(by_team) == _by_day(spend_by_day(engine, f, "cost_type"))
    frame = spend_over_time(engine, f, allocation_group("Team"), "day").frame
    assert "Team" in frame.columns
    assert sum(frame["amount_usd"]) == total_cents(engine, f).scaleb(-2)


def test_filters_apply_to_spend_by_team(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    # Production is all Search; Research matches no rule: all Unallocated.
    for workspace, value in (("wrkspc_prod", "Search"), ("wrkspc_lab", "Unallocated")):
        f = Filters(START, END, workspaces=(workspace,))
        rows = spend_by_day(engine, f, allocation_group("Team"))
        assert {label for _, label, _ in rows} == {value}
        assert sum(c for _, _, c in rows) == total_cents(engine, f)
    # The Default workspace is split 60/40 between Search and Support, to the micro-cent.
    f = Filters(START, END, workspaces=("",))
    shares = {}
    for _, label, cents in spend_by_day(engine, f, allocation_group("Team")):
        shares[label] = shares.get(label, Decimal(0)) + cents
    whole = total_cents(engine, f)
    assert set(shares) == {"Search", "Support"}
    assert sum(shares.values()) == whole
    assert abs(shares["Search"] - whole * Decimal("0.6")) < Decimal("0.001")


def _team(*values: str, **more: object) -> Filters:
    return Filters(START, END, allocation="Team", allocation_values=values, **more)  # type: ignore[arg-type]


def test_a_team_filter_keeps_that_teams_spend_in_every_grouping(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    everything = Filters(START, END)
    per_team: dict[str, dict[object, Decimal]] = {}
    for team in ("Search", "Support", "Unallocated"):
        of_team = [
            (day, cents)
            for day, label, cents in spend_by_day(engine, everything, allocation_group("Team"))
            if label == team
        ]
        per_team[team] = _by_day([(day, team, cents) for day, cents in of_team])
        f = _team(team)
        assert total_cents(engine, f) == sum(per_team[team].values())
        # Grouped by model, workspace or organization, the same days and cents: the team's.
        for group in ("model", "workspace", "organization", "cost_type", "token_type"):
            assert _by_day(spend_by_day(engine, f, group)) == per_team[team], (team, group)
        assert {label for _, label, _ in spend_by_day(engine, f, allocation_group("Team"))} == {
            team
        }
    # The three teams together are the whole bill, to the cent.
    assert total_cents(engine, _team("Search", "Support", "Unallocated")) == total_cents(
        engine, everything
    )


def test_a_team_filter_combines_with_the_other_filters(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    # The Default workspace is split 60/40: filtered to Support, 40 % of it is left.
    default = total_cents(engine, Filters(START, END, workspaces=("",)))
    support = total_cents(engine, _team("Support", workspaces=("",)))
    assert abs(support - default * Decimal("0.4")) < Decimal("0.001")
    # Research matches no rule: nothing of it is Search.
    assert total_cents(engine, _team("Search", workspaces=("wrkspc_lab",))) == 0
    # The previous period (before the data) has no allocated spend either.
    before = Filters(START - timedelta(days=DAYS), START, allocation="Team")
    assert total_cents(engine, before) == 0


def test_groups_the_allocated_lines_do_not_hold_are_refused_with_the_reason(
    engine: Engine,
) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    import_allocation(engine, "allocation: Cost centre\ndefault: CC-0\nrules: []\n", actor="test")
    f = _team("Search")
    for group in ("api_key", "description", allocation_group("Cost centre")):
        reason = allocated_group_refusal(f, group)
        assert reason is not None and "clear the Team filter" in reason, group
        with pytest.raises(ValueError, match="cannot be grouped"):
            spend_by_day(engine, f, group)
    assert allocated_group_refusal(f, allocation_group("Team")) is None
    assert allocated_group_refusal(Filters(START, END), "api_key") is None


def test_each_allocation_offers_its_default_values_and_split_targets(engine: Engine) -> None:
    import_allocation(engine, EXAMPLE, actor="test")
    import_allocation(
        engine,
        "allocation: Env\ndefault: Other\nrules:\n"
        "  - split: {method: even, values: [prod, staging]}\n    match: {model: ['*']}\n",
        actor="test",
    )
    assert allocation_values(engine) == {
        "Env": ["Other", "prod", "staging"],
        "Team": ["Search", "Support", "Unallocated"],
    }
