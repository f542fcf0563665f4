"""A budget scoped by an allocation's value (``{Team: [Search]}``, PRODUCT.md: an allocation's
name is a match key of budget scopes): its actual is the spend allocated to that value, with the
other keys of the scope applied to the allocated lines; on SQLite and Postgres."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine

from app.finops.allocation import allocated_days, import_allocation
from app.finops.budgets import budget_statuses, import_budgets
from app.finops.rule_files import RuleFileError
from app.reports.filters import Filters
from app.reports.spend import total_cents
from app.services.access import OPERATOR
from tests.test_allocation_store import EXAMPLE, seed_orgs

TODAY = date(2026, 10, 6)  # the seeded days run Sep 25 - Oct 6
OCTOBER = date(2026, 10, 1)


def team_cents(engine: Engine, value: str) -> Decimal:
    rows = allocated_days(engine, "Team", start=OCTOBER, end=TODAY + timedelta(days=1))
    return sum((r.amount_cents for r in rows if r.value == value), Decimal(0))


def test_a_budget_on_a_team_is_that_teams_allocated_spend(engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    import_budgets(
        engine,
        """budgets:
  - {name: Search team, scope: {Team: [Search]}, amount_usd: 100000}
  - {name: Not search, scope: {Team: ["Supp*", Unallocated]}, amount_usd: 100000}
  - {name: Search in Production, scope: {Team: Search, workspace: Production}, amount_usd: 1}
  - {name: Everything, scope: {}, amount_usd: 100000}
""",
        actor=OPERATOR,
    )
    by_name = {s.spec.name: s for s in budget_statuses(engine, today=TODAY)}
    search = team_cents(engine, "Search")
    assert search > 0
    assert by_name["Search team"].actual_cents == search
    rest = team_cents(engine, "Support") + team_cents(engine, "Unallocated")
    assert by_name["Not search"].actual_cents == rest
    # Team and the other keys together: Search's spend in Production only (not its 60 % of
    # the Default workspace), which is all of Production's spend.
    production = total_cents(
        engine, Filters(OCTOBER, TODAY + timedelta(days=1), workspaces=("wrkspc_prod",))
    )
    assert by_name["Search in Production"].actual_cents == production < search
    # The teams add up to the whole bill.
    assert search + rest == by_name["Everything"].actual_cents


@pytest.mark.parametrize(
    ("scope", "reason"),
    [
        ("{Team: [Search], Cost centre: [CC-1]}", "one allocation at most"),
        ("{Teams: [Search]}", "or an allocation (Cost centre, Team)"),
    ],
)
def test_scopes_naming_two_allocations_or_an_unknown_one_are_refused(
    engine: Engine, scope: str, reason: str
) -> None:
    import_allocation(engine, EXAMPLE, actor="test")
    import_allocation(engine, "allocation: Cost centre\ndefault: CC-0\nrules: []\n", actor="t")
    with pytest.raises(RuleFileError) as refused:
        import_budgets(
            engine,
            f"budgets:\n  - name: A\n    amount_usd: 10\n    scope: {scope}\n",
            actor=OPERATOR,
        )
    assert refused.value.line == 4 and reason in str(refused.value)
