"""Allocations stored and computed, on SQLite and Postgres: the contract's example, exact day
totals, refused files, effective dates keeping history, restatements, two workers."""

from __future__ import annotations

import threading
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app.anthropic.schemas import CostRow
from app.db import read_session, write_session
from app.finops.allocation import (
    AllocationNotFound,
    allocated_days,
    export_allocation,
    history,
    import_allocation,
    list_allocations,
    reallocate,
    remove_allocation,
)
from app.finops.allocation_tables import AllocationLine, AllocationMark
from app.finops.rule_files import RuleFileError
from app.models import AuditEvent, CostLine, Organization, Workspace
from app.settings import Settings
from app.store import replace_days
from tests.utils.factories import add_console_orgs

START = date(2026, 9, 25)
DAYS = 12
WORKSPACES = {"wrkspc_prod": "Production", "wrkspc_bot": "Support Bot", "wrkspc_lab": "Research"}

EXAMPLE = """\
allocation: Team              # shows as a "Team" group-by and filter on every spend view
default: Unallocated          # where unmatched spend goes
rules:                        # ordered; the first match wins
  - value: Search
    match: {workspace: [Production]}
  - value: Support
    match: {workspace: [Support Bot], model: ["claude-haiku-*"]}
    effective_from: 2026-10-01   # inclusive; effective_to is exclusive; both optional
  - split: {method: fixed, weights: {Search: 60, Support: 40}}   # even | proportional | fixed
    match: {workspace: [Default workspace]}
"""


def _cost(day: date, workspace: str | None, model: str | None, cents: str, n: int) -> CostRow:
    return CostRow(
        day=day,
        dims={
            "workspace_id": workspace,
            "description": f"line {n}",
            "cost_type": "tokens" if model else "web_search",
            "model": model,
            "token_type": "output_tokens" if model else None,
            "service_tier": "standard" if model else None,
            "context_window": None,
            "inference_geo": None,
        },
        amount_cents=Decimal(cents),
        currency="USD",
    )


def day_rows(day: date, seed: int) -> list[CostRow]:
    """A day's cost of one organization: every workspace, two models, web search, odd cents."""
    rows = []
    n = 0
    for workspace in [*WORKSPACES, None]:
        for model in ("claude-haiku-4-5-20251001", "claude-sonnet-4-5", None):
            n += 1
            cents = Decimal(seed * 7919 + n * 104729 + day.toordinal()) % 100000
            rows.append(_cost(day, workspace, model, f"{cents}.{(n * seed) % 999999:06d}", n))
    return rows


def seed_orgs(engine: Engine, count: int = 2, *, prefix: str = "org-alloc") -> list[int]:
    """``count`` Console organizations with three named workspaces and DAYS days of cost."""
    with write_session(engine) as session:
        pks = add_console_orgs(session, prefix, count, START)
        for pk in pks:
            session.add_all(
                Workspace(organization_pk=pk, workspace_id=ws, name=name)
                for ws, name in WORKSPACES.items()
            )
        session.flush()
        for o, pk in enumerate(pks):
            rows = [r for d in range(DAYS) for r in day_rows(START + timedelta(days=d), o + 1)]
            replace_days(session, pk, "cost", START, START + timedelta(days=DAYS), rows)
    return pks


def billed(engine: Engine) -> dict[tuple[date, int], Decimal]:
    with read_session(engine) as session:
        rows = session.execute(
            select(
                col(CostLine.date),
                col(CostLine.organization_pk),
                func.sum(col(CostLine.amount_cents)),
            ).group_by(col(CostLine.date), col(CostLine.organization_pk))
        ).all()
    return {(day, pk): Decimal(total) for day, pk, total in rows}


def allocated(engine: Engine, name: str = "Team") -> dict[tuple[date, int], Decimal]:
    out: dict[tuple[date, int], Decimal] = defaultdict(Decimal)
    with read_session(engine) as session:
        rows = session.execute(select(AllocationLine)).scalars().all()
    for line in rows:
        out[(line.date, line.organization_pk)] += line.amount_cents
    return dict(out)


def by_value(engine: Engine, name: str = "Team") -> dict[tuple[date, str, str], Decimal]:
    return {
        (r.date, r.organization_id, r.value): r.amount_cents for r in allocated_days(engine, name)
    }


def _line_count(engine: Engine) -> int:
    with read_session(engine) as session:
        return int(session.execute(select(func.count()).select_from(AllocationLine)).scalar_one())


def test_the_example_allocates_every_day_exactly(engine: Engine) -> None:
    seed_orgs(engine)
    result = import_allocation(engine, EXAMPLE, actor="ada@example.com")
    assert result.created and result.rules == 3
    assert allocated(engine) == billed(engine)  # to the micro-cent, every day and org
    values = by_value(engine)
    assert {value for _, _, value in values} == {"Search", "Support", "Unallocated"}
    # Research is matched by no rule: all of it is Unallocated.
    with read_session(engine) as session:
        research = session.execute(
            select(func.sum(col(AllocationLine.amount_cents))).where(
                col(AllocationLine.workspace_id) == "wrkspc_lab"
            )
        ).scalar_one()
        research_values = set(
            session.execute(
                select(col(AllocationLine.value)).where(
                    col(AllocationLine.workspace_id) == "wrkspc_lab"
                )
            ).scalars()
        )
        research_cost = session.execute(
            select(func.sum(col(CostLine.amount_cents))).where(
                col(CostLine.workspace_id) == "wrkspc_lab"
            )
        ).scalar_one()
    assert research_values == {"Unallocated"} and research == research_cost


def test_a_fixed_split_of_the_default_workspace_gives_exactly_its_shares(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    with read_session(engine) as session:
        lines = (
            session.execute(
                select(AllocationLine).where(col(AllocationLine.workspace_id).is_(None))
            )
            .scalars()
            .all()
        )
        cost = session.execute(
            select(col(CostLine.date), col(CostLine.model), func.sum(col(CostLine.amount_cents)))
            .where(col(CostLine.workspace_id).is_(None))
            .group_by(col(CostLine.date), col(CostLine.model))
        ).all()
    assert cost
    for day, model, amount in cost:
        parts = {
            line.value: line.amount_cents
            for line in lines
            if line.date == day and line.model == model
        }
        assert set(parts) == {"Search", "Support"}
        assert parts["Search"] + parts["Support"] == amount
        micro = Decimal("0.000001")
        # Within one micro-cent of 60 % and 40 % (largest remainder decides that last unit).
        assert abs(parts["Search"] - amount * Decimal("0.6")) < micro
        assert abs(parts["Support"] - amount * Decimal("0.4")) < micro
        shares = {line.share_percent for line in lines if line.date == day and line.model == model}
        assert shares == {Decimal(60), Decimal(40)}


def test_support_starts_on_its_effective_date(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    with read_session(engine) as session:
        bot_haiku = {
            (line.date, line.value)
            for line in session.execute(
                select(AllocationLine).where(
                    col(AllocationLine.workspace_id) == "wrkspc_bot",
                    col(AllocationLine.model) == "claude-haiku-4-5-20251001",
                )
            ).scalars()
        }
    assert {v for d, v in bot_haiku if d < date(2026, 10, 1)} == {"Unallocated"}
    assert {v for d, v in bot_haiku if d >= date(2026, 10, 1)} == {"Support"}


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (EXAMPLE.replace("[Production]", "[Production"), None, ""),
        (
            EXAMPLE.replace("workspace: [Support Bot]", "workspaces: [Support Bot]"),
            7,
            "unknown match key 'workspaces'",
        ),
        (EXAMPLE.replace("Search: 60", "Search: 70"), 9, "add up to 110, not 100"),
        (EXAMPLE.replace("method: fixed", "method: random"), 9, "split method must be one of"),
        (EXAMPLE.replace("2026-10-01", "next week"), 8, "effective_from must be a date"),
        (
            EXAMPLE.replace("  - value: Search\n", "  - value: Search\n    owner: me\n"),
            5,
            "unknown key 'owner'",
        ),
    ],
)
def test_a_malformed_file_is_refused_with_its_line_and_nothing_changes(
    engine: Engine, text: str, line: int | None, reason: str
) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    before = (by_value(engine), export_allocation(engine, "Team"), len(history(engine)))
    with pytest.raises(RuleFileError) as caught:
        import_allocation(engine, text, actor="cli")
    message = str(caught.value)
    assert message.startswith("line ")
    if line is not None:
        assert message.startswith(f"line {line}: "), message
    assert reason in message
    assert (by_value(engine), export_allocation(engine, "Team"), len(history(engine))) == before


def test_export_imports_back_the_same(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    exported = export_allocation(engine, "Team")
    lines = by_value(engine)
    again = import_allocation(engine, exported, actor="cli")
    assert not again.changed  # the same rules: nothing allocated again, no new version
    assert export_allocation(engine, "Team") == exported
    assert by_value(engine) == lines
    assert "effective_from: 2026-10-01" in exported


def test_a_rule_change_keeps_the_days_before_its_effective_date(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    before = by_value(engine)
    changed = EXAMPLE + (
        "  - value: Research\n    match: {workspace: Research}\n    effective_from: 2026-10-03\n"
    )
    with read_session(engine) as session:
        old_ids = {line.id: line.date for line in session.execute(select(AllocationLine)).scalars()}
    result = import_allocation(engine, changed, actor="grace@example.com")
    assert result.changed and result.version == 2 and result.changed_from == date(2026, 10, 3)
    after = by_value(engine)
    assert {k: v for k, v in after.items() if k[0] < date(2026, 10, 3)} == {
        k: v for k, v in before.items() if k[0] < date(2026, 10, 3)
    }
    assert any(v == "Research" for d, _, v in after if d >= date(2026, 10, 3))
    assert allocated(engine) == billed(engine)
    with read_session(engine) as session:
        kept = {line.id for line in session.execute(select(AllocationLine)).scalars()}
    # The days before were not even written again.
    assert {i for i, d in old_ids.items() if d < date(2026, 10, 3)} <= kept
    versions = history(engine, "Team")
    assert [v.version for v in versions] == [2, 1]
    assert versions[0].actor == "grace@example.com"
    with read_session(engine) as session:
        actions = list(
            session.execute(select(col(AuditEvent.action)).order_by(col(AuditEvent.id))).scalars()
        )
    assert actions[-2:] == ["allocation.imported", "allocation.changed"]


def test_a_restatement_changes_only_the_restated_days(engine: Engine) -> None:
    (pk,) = seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    with read_session(engine) as session:
        old = {line.id: line.date for line in session.execute(select(AllocationLine)).scalars()}
    restated_from = START + timedelta(days=DAYS - 3)
    with write_session(engine) as session:
        rows = [r for d in range(DAYS - 3, DAYS) for r in day_rows(START + timedelta(days=d), 5)]
        replace_days(session, pk, "cost", restated_from, START + timedelta(days=DAYS), rows)
    assert allocated(engine) != billed(engine)  # not yet followed
    assert reallocate(engine) == 1
    assert allocated(engine) == billed(engine)
    with read_session(engine) as session:
        now = {line.id: line.date for line in session.execute(select(AllocationLine)).scalars()}
    assert {i for i, d in old.items() if d < restated_from} == {
        i for i, d in now.items() if d < restated_from
    }
    assert reallocate(engine) == 0  # idempotent: nothing left to do


def test_a_new_organization_is_allocated_after_its_sync(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    seed_orgs(engine, 1, prefix="org-late")
    assert allocated(engine) != billed(engine)
    from app.finops.allocation import reallocate_changed
    from app.settings import Settings

    reallocate_changed(engine, Settings())
    assert allocated(engine) == billed(engine)


def test_remove_then_export_fails_and_lines_are_gone(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    remove_allocation(engine, "Team", actor="cli")
    with pytest.raises(AllocationNotFound):
        export_allocation(engine, "Team")
    assert _line_count(engine) == 0
    assert list_allocations(engine) == []
    assert history(engine, "Team")[0].source is None  # the removal is in the history
    with pytest.raises(AllocationNotFound):
        remove_allocation(engine, "Team", actor="cli")


def test_deleting_an_organization_deletes_its_allocated_lines(engine: Engine) -> None:
    pks = seed_orgs(engine, 2)
    import_allocation(engine, EXAMPLE, actor="cli")
    from app.services.access import OPERATOR
    from app.services.organizations import delete_organization

    with read_session(engine) as session:
        org_id = session.get(Organization, pks[0]).organization_id  # type: ignore[union-attr]
    delete_organization(engine=engine, organization_id=org_id, actor=OPERATOR)
    with read_session(engine) as session:
        left = set(session.execute(select(col(AllocationLine.organization_pk))).scalars())
        marks = set(session.execute(select(col(AllocationMark.organization_pk))).scalars())
    assert left == marks == {pks[1]}


def test_rules_on_api_keys_are_listed_as_needing_per_key_cost(engine: Engine) -> None:
    seed_orgs(engine, 1)
    text = EXAMPLE + "  - value: Backend\n    match: {api_key: [prod-backend]}\n"
    import_allocation(engine, text, actor="cli")
    (summary,) = list_allocations(engine)
    assert summary.per_key_rules == (11,)
    assert "Backend" not in {v for _, _, v in by_value(engine)}  # no per-key cost: no match


def test_two_workers_reallocating_at_once_do_it_once(engine: Engine) -> None:
    (pk,) = seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    with write_session(engine) as session:
        rows = day_rows(START, 9)
        replace_days(session, pk, "cost", START, START + timedelta(days=1), rows)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reallocate(engine)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert allocated(engine) == billed(engine)


_rule = st.builds(
    lambda kind, ws, value, first, start: (
        (
            f"  - value: {value}\n"
            if kind == "value"
            else f"  - split: {{method: fixed, weights: {{A: {first}, B: {100 - first}}}}}\n"
            if kind == "fixed"
            else f"  - split: {{method: {kind}, values: [A, B, C]}}\n"
        )
        + f'    match: {{workspace: ["{ws}"]}}\n'
        + (f"    effective_from: 2026-10-{start:02d}\n" if start else "")
    ),
    st.sampled_from(["value", "even", "proportional", "fixed"]),
    st.sampled_from(["Production", "Support Bot", "Research", "Default workspace", "*", "R*"]),
    st.sampled_from(["A", "B", "C"]),
    st.integers(1, 99),
    st.sampled_from([0, 1, 3]),
)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rules=st.lists(_rule, max_size=5))
def test_random_rule_sets_allocate_every_day_exactly(engine: Engine, rules: list[str]) -> None:
    with read_session(engine) as session:
        seeded = session.execute(select(func.count()).select_from(Organization)).scalar_one()
    if not seeded:
        seed_orgs(engine, 2)
    import_allocation(engine, "allocation: Random\nrules:\n" + "".join(rules), actor="cli")
    totals: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for row in allocated_days(engine, "Random"):
        totals[(row.date, row.organization_id)] += row.amount_cents
    with read_session(engine) as session:
        ids = dict(
            session.execute(select(col(Organization.id), col(Organization.organization_id))).all()
        )
    assert dict(totals) == {(day, ids[pk]): amount for (day, pk), amount in billed(engine).items()}


def test_finops_delete_removes_allocated_lines_without_the_cascade(
    engine: Engine, settings: Settings
) -> None:
    """The allocation tables are bookkeeping tables: deletion removes their rows itself, even
    where the database would not cascade (SQLite with foreign keys off)."""
    if engine.dialect.name != "sqlite":
        pytest.skip("switches SQLite's foreign-key enforcement off for one engine")
    from sqlalchemy import event

    from app.db import make_engine
    from app.services.access import OPERATOR
    from app.services.organizations import delete_organization

    pks = seed_orgs(engine, 2)
    import_allocation(engine, EXAMPLE, actor="cli")
    loose = make_engine(settings.resolved_database_url)

    @event.listens_for(loose, "connect")
    def _no_cascade(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA foreign_keys=OFF")

    try:
        assert delete_organization(engine=loose, organization_id="org-alloc-0", actor=OPERATOR)
    finally:
        loose.dispose()
    with read_session(engine) as session:
        left = set(session.execute(select(col(AllocationLine.organization_pk))).scalars())
        marks = set(session.execute(select(col(AllocationMark.organization_pk))).scalars())
    assert left == marks == {pks[1]}


def test_simulated_organizations_allocate_to_the_cent_after_their_sync(
    sim: Any, engine: Engine, settings: Settings
) -> None:
    """The simulator's organizations, synced: an allocation on their own workspace names and
    models adds up, every day and organization, to the billed cost."""
    from tests.utils.factories import connect_org, org_pk, sync_engine

    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    with read_session(engine) as session:
        names = sorted(set(session.execute(select(col(Workspace.name))).scalars()))
    assert names
    text = (
        "allocation: Team\nrules:\n"
        f'  - value: First\n    match: {{workspace: ["{names[0]}"], model: ["claude-*"]}}\n'
        "  - split: {method: proportional, values: [First, Rest]}\n"
        '    match: {workspace: ["Default workspace"]}\n'
        '  - value: Rest\n    match: {cost_type: ["Web search", "code_execution"]}\n'
    )
    import_allocation(engine, text, actor="cli")
    assert allocated(engine) == billed(engine)
    values = {value for _, _, value in by_value(engine)}
    assert {"First", "Unallocated"} <= values


def test_an_allocation_removed_and_imported_again_continues_its_history(engine: Engine) -> None:
    seed_orgs(engine, 1)
    import_allocation(engine, EXAMPLE, actor="cli")
    remove_allocation(engine, "Team", actor="cli")
    result = import_allocation(engine, EXAMPLE, actor="cli")
    assert result.created and result.version == 3
    assert [v.version for v in history(engine, "Team")] == [3, 2, 1]
    assert allocated(engine) == billed(engine)
