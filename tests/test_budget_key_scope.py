"""A budget scoped by API key or actor (PRODUCT.md: ``api_key`` and ``actor`` are match keys of
budget scopes): its actual is that key's (actor's) per-key billed cost, the other keys of the
scope applied to the per-key rows; scopes that cannot hold are refused with their line. SQLite
and Postgres."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.db import read_session
from app.finops.allocation import import_allocation
from app.finops.budgets import budget_statuses, import_budgets, period_bounds
from app.finops.rule_files import RuleFileError
from app.models import KeyCost
from app.services.access import OPERATOR
from app.settings import Settings
from app.simulator import Simulator
from tests.test_allocation_keys import _top
from tests.test_allocation_store import EXAMPLE
from tests.test_key_cost_sync import _synced


def _key_cost(engine: Engine, start: date, end: date, *where: object) -> Decimal:
    with read_session(engine) as session:
        cents = session.execute(
            select(func.sum(KeyCost.amount_cents)).where(
                col(KeyCost.date) >= start,
                col(KeyCost.date) < end,
                *where,  # type: ignore[arg-type]
            )
        ).scalar_one()
    return Decimal(cents or 0)


def test_a_budget_on_a_key_or_an_actor_is_their_per_key_billed_cost(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _, pk = _synced(sim, engine, settings)
    key_id, key_name, user = _top(engine, pk)
    import_budgets(
        engine,
        f"""budgets:
  - {{name: Backend key, scope: {{api_key: ["{key_name}"]}}, amount_usd: 100000}}
  - {{name: Backend key by id, scope: {{api_key: {key_id}}}, amount_usd: 100000}}
  - {{name: A person, scope: {{actor: ["{user}"]}}, amount_usd: 100000}}
  - {{name: Backend on Haiku, scope: {{api_key: ["{key_name}"], model: ["claude-haiku-*"]}},
     amount_usd: 100000}}
  - {{name: Console, scope: {{api_key: ["Console / Workbench"]}}, amount_usd: 100000}}
""",
        actor=OPERATOR,
    )
    by_name = {s.spec.name: s for s in budget_statuses(engine, today=sim.today)}
    start, _ = period_bounds("monthly", sim.today)
    end = sim.today + timedelta(days=1)  # today's partial day included
    backend = _key_cost(engine, start, end, col(KeyCost.api_key_id) == key_id)
    assert backend > 0
    assert by_name["Backend key"].actual_cents == backend
    assert by_name["Backend key by id"].actual_cents == backend
    person = _key_cost(engine, start, end, col(KeyCost.actor_id) == user)
    assert person > 0 and by_name["A person"].actual_cents == person
    haiku = _key_cost(
        engine,
        start,
        end,
        col(KeyCost.api_key_id) == key_id,
        col(KeyCost.model).like("claude-haiku-%"),
    )
    assert by_name["Backend on Haiku"].actual_cents == haiku < backend
    console = _key_cost(engine, start, end, col(KeyCost.api_key_id).is_(None))
    assert console > 0 and by_name["Console"].actual_cents == console


@pytest.mark.parametrize(
    ("scope", "line", "reason"),
    [
        ("{api_key: [k1], product: [chat]}", 2, "per-key billed cost, which has no product"),
        ("{Team: [Search], actor: [u1]}", 2, "cannot also name actor"),
    ],
)
def test_scopes_a_key_budget_cannot_hold_are_refused_with_their_line(
    engine: Engine, scope: str, line: int, reason: str
) -> None:
    from tests.test_allocation_store import seed_orgs

    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    with pytest.raises(RuleFileError) as refused:
        import_budgets(
            engine,
            f"budgets:\n  - {{name: B, scope: {scope}, amount_usd: 1}}\n",
            actor=OPERATOR,
        )
    assert str(refused.value).startswith(f"line {line}: ") and reason in str(refused.value)
