"""Spend grouped by an allocation ("Team"): the same filters as every Spend view, each day adding
up to the billed cost of those filters exactly, on SQLite and Postgres."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import Engine

from app.finops.allocation import import_allocation
from app.reports.filters import Filters
from app.reports.labels import allocation_group
from app.reports.spend import allocation_groups, spend_by_day, spend_over_time, total_cents
from tests.test_allocation_store import DAYS, EXAMPLE, START, seed_orgs

END = START + timedelta(days=DAYS)


def _by_day(rows: list[tuple[object, str, Decimal]]) -> dict[object, Decimal]:
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
