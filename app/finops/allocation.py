"""Allocations stored and computed: import, list, export, remove, and the allocation of the
cost rows (``allocation_line``) on import and after every sync.

When a day is allocated again: an import allocates the days from the first one its change can
affect (``allocation_file.first_changed_day``: the earliest ``effective_from`` of the rules
that differ; every day when one of them has none, or the default changed); the days before
keep their stored lines, which the new rules would compute the same anyway. After a sync, each
(allocation, organization) allocates again only the days its cost rows replaced since it last
ran (``app.store.changes``; the whole organization when that log no longer reaches back), so a
restatement changes only the restated days. An allocation with rules on API keys or actors
divides each cost row by its keys' per-key billed cost (``allocation_keys``) and follows the
per-key cost's changes too. Each (allocation, organization) is one transaction
that locks its ``allocation_mark`` row first (SQLite: the write lock), deletes that org's lines
of those days and inserts the new ones: two workers running it at once do it once each, in
turn, and the second finds nothing left to do.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app.clock import utcnow
from app.db import read_session, write_session
from app.finops.allocation_compute import (
    AllocationSpec,
    Rule,
    RuleIndex,
    allocate_day,
    split_amount,
)
from app.finops.allocation_file import (
    describe_change,
    first_changed_day,
    parse_allocation,
    spec_key,
)
from app.finops.allocation_keys import KEY_COST_DATASET, KeyShare, key_shares
from app.finops.allocation_sql import can_replace_changed, insert_lines
from app.finops.allocation_tables import (
    GROUP_COLUMNS,
    LINE_COLUMNS,
    Allocation,
    AllocationDaily,
    AllocationLine,
    AllocationMark,
    AllocationRule,
    AllocationVersion,
)
from app.finops.match import SpendRow, parse_match
from app.finops.rule_files import RuleFileError
from app.models import CostLine, KeyCost, Organization, Provider, Workspace
from app.reports.labels import DEFAULT_WORKSPACE, ENTERPRISE_NULLS
from app.services import audit
from app.store.bulk import insert_tuples
from app.store.changes import changes_after, versions

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

COST_DATASET = "cost"
# Days as half-open ranges [start, end) (end None: no end); None itself: every day.
Days = list[tuple[date, date | None]] | None


class AllocationNotFound(LookupError):
    """No allocation has that name."""


@dataclass(frozen=True)
class ImportResult:
    name: str
    version: int
    created: bool
    changed: bool
    changed_from: date | None  # the first day allocated again (None: every day)
    rules: int


@dataclass(frozen=True)
class AllocationSummary:
    name: str
    default: str
    version: int
    rules: int
    per_key_rules: tuple[int, ...]  # the lines of the rules on api_key or actor
    updated_at: datetime
    updated_by: str


# --- storing -----------------------------------------------------------------------------


def _rule_rows(allocation_pk: int, spec: AllocationSpec) -> list[AllocationRule]:
    return [
        AllocationRule(
            allocation_pk=allocation_pk,
            position=rule.position,
            line=rule.line,
            value=rule.value,
            split_method=rule.method,
            split_targets=None
            if rule.method is None
            else json.dumps({value: str(weight) for value, weight in rule.targets}),
            match=json.dumps(rule.match.as_mapping()),
            effective_from=rule.effective_from,
            effective_to=rule.effective_to,
        )
        for rule in spec.rules
    ]


def stored_spec(session: Session, allocation: Allocation) -> AllocationSpec:
    """The allocation's current rules, as its file defined them."""
    rows = session.execute(
        select(AllocationRule)
        .where(col(AllocationRule.allocation_pk) == allocation.id)
        .order_by(col(AllocationRule.position))
    ).scalars()
    rules = []
    for row in rows:
        targets: tuple[tuple[str, Decimal], ...] = ()
        if row.split_targets is not None:
            loaded: dict[str, str] = json.loads(row.split_targets)
            targets = tuple((value, Decimal(weight)) for value, weight in loaded.items())
        rules.append(
            Rule(
                position=row.position,
                line=row.line,
                match=parse_match(json.loads(row.match), row.line),
                value=row.value,
                method=row.split_method,
                targets=targets,
                effective_from=row.effective_from,
                effective_to=row.effective_to,
            )
        )
    return AllocationSpec(allocation.name, allocation.default_value, tuple(rules))


def _find(session: Session, name: str, *, lock: bool = False) -> Allocation | None:
    query = select(Allocation).where(col(Allocation.name) == name)
    if lock:
        query = query.with_for_update()
    return session.execute(query).scalar_one_or_none()


def import_allocation(engine: Engine, text: str, *, actor: str) -> ImportResult:
    """Import an allocation file: all or nothing. A refused file raises ``RuleFileError``
    (line and reason) and nothing stored changes; a valid one replaces that allocation's rules
    and allocates the days its change affects, in one transaction, audited."""
    with read_session(engine) as session:
        names = set(session.execute(select(col(Allocation.name))).scalars())
    # Refused before anything is written (parse_allocation raises).
    spec = parse_allocation(text, other_allocations=names)
    with write_session(engine) as session:
        allocation = _find(session, spec.name, lock=True)
        now = utcnow()
        created = allocation is None
        if allocation is None:
            # A name removed before keeps its history: the versions go on from it.
            last = session.execute(
                select(func.max(col(AllocationVersion.version))).where(
                    col(AllocationVersion.name) == spec.name
                )
            ).scalar_one()
            allocation = Allocation(
                name=spec.name,
                default_value=spec.default,
                source=text,
                version=int(last or 0) + 1,
                updated_at=now,
                updated_by=actor,
            )
            session.add(allocation)
            session.flush()
            changed_from: date | None = None
            previous = 0
            old: AllocationSpec | None = None
        else:
            old = stored_spec(session, allocation)
            if spec_key(old) == spec_key(spec):
                return ImportResult(
                    spec.name, allocation.version, False, False, None, len(spec.rules)
                )
            change = first_changed_day(old, spec)
            changed_from = None if change is False or change is True else change
            previous = allocation.version
            allocation.version += 1
            allocation.default_value = spec.default
            allocation.source = text
            allocation.updated_at = now
            allocation.updated_by = actor
            session.execute(
                delete(AllocationRule).where(col(AllocationRule.allocation_pk) == allocation.id)
            )
            session.flush()
        assert allocation.id is not None
        session.add_all(_rule_rows(allocation.id, spec))
        session.add(
            AllocationVersion(
                name=spec.name,
                version=allocation.version,
                source=text,
                changed_from=changed_from,
                at=now,
                actor=actor,
            )
        )
        session.flush()
        days: Days = None if changed_from is None else [(changed_from, None)]
        for org in _organizations(session):
            _allocate_org(session, allocation, spec, org, days, pending_since=previous, old=old)
        audit.record(
            session,
            actor=actor,
            action="allocation.imported" if created else "allocation.changed",
            target=f"allocation {spec.name}",
            detail=f"version {allocation.version}, {len(spec.rules)} rules "
            f"({describe_change(old, spec)}), "
            + (
                "every day allocated again"
                if changed_from is None
                else f"days from {changed_from.isoformat()} allocated again"
            ),
        )
        return ImportResult(
            spec.name, allocation.version, created, True, changed_from, len(spec.rules)
        )


def remove_allocation(engine: Engine, name: str, *, actor: str) -> None:
    """Remove an allocation, its rules and its lines (``AllocationNotFound`` if none)."""
    with write_session(engine) as session:
        allocation = _find(session, name, lock=True)
        if allocation is None:
            raise AllocationNotFound(name)
        pk = allocation.id
        for table in (AllocationLine, AllocationDaily, AllocationMark, AllocationRule):
            session.execute(delete(table).where(col(table.allocation_pk) == pk))
        session.delete(allocation)
        session.add(
            AllocationVersion(
                name=name,
                version=allocation.version + 1,
                source=None,
                at=utcnow(),
                actor=actor,
            )
        )
        audit.record(
            session,
            actor=actor,
            action="allocation.removed",
            target=f"allocation {name}",
        )


def export_allocation(engine: Engine, name: str) -> str:
    """The allocation as a YAML file that imports back the same (``AllocationNotFound``)."""
    from app.finops.allocation_file import spec_yaml

    with read_session(engine) as session:
        allocation = _find(session, name)
        if allocation is None:
            raise AllocationNotFound(name)
        return spec_yaml(stored_spec(session, allocation))


def list_allocations(engine: Engine) -> list[AllocationSummary]:
    with read_session(engine) as session:
        allocations = session.execute(select(Allocation).order_by(col(Allocation.name))).scalars()
        out = []
        for allocation in allocations:
            spec = stored_spec(session, allocation)
            out.append(
                AllocationSummary(
                    name=allocation.name,
                    default=allocation.default_value,
                    version=allocation.version,
                    rules=len(spec.rules),
                    per_key_rules=tuple(r.line for r in spec.rules if r.match.needs_per_key),
                    updated_at=allocation.updated_at,
                    updated_by=allocation.updated_by,
                )
            )
        return out


def allocation_specs(engine: Engine) -> list[tuple[Allocation, AllocationSpec]]:
    """Every allocation with its rules, by name."""
    with read_session(engine) as session:
        allocations = list(
            session.execute(select(Allocation).order_by(col(Allocation.name))).scalars()
        )
        return [(a, stored_spec(session, a)) for a in allocations]


def history(engine: Engine, name: str | None = None) -> list[AllocationVersion]:
    """Every imported version (and removal), newest first."""
    query = select(AllocationVersion).order_by(
        col(AllocationVersion.at).desc(), col(AllocationVersion.version).desc()
    )
    if name is not None:
        query = query.where(col(AllocationVersion.name) == name)
    with read_session(engine) as session:
        return list(session.execute(query).scalars())


def version_changes(versions: Sequence[AllocationVersion]) -> dict[int, str]:
    """What each version of one allocation changed from the one before it (``history``'s
    rows, any order), by version: "rule 2 changed", "removed", "created with 3 rules"."""
    out: dict[int, str] = {}
    before: AllocationSpec | None = None
    for version in sorted(versions, key=lambda v: v.version):
        if version.source is None:
            out[version.version], before = "removed", None
            continue
        try:
            spec = parse_allocation(version.source)
        except RuleFileError:
            # A file a later, stricter parser refuses: its change cannot be told.
            out[version.version], before = "", None
            continue
        out[version.version] = describe_change(before, spec)
        before = spec
    return out


# --- computing ---------------------------------------------------------------------------


def _organizations(session: Session) -> list[Organization]:
    return list(session.execute(select(Organization).order_by(col(Organization.id))).scalars())


def _lock_mark(session: Session, allocation_pk: int, org_pk: int) -> AllocationMark:
    """The (allocation, organization) mark, created if missing, locked until commit."""
    dialect = session.get_bind().dialect.name
    insert = postgres_insert if dialect == "postgresql" else sqlite_insert
    session.execute(
        insert(AllocationMark)
        .values(
            allocation_pk=allocation_pk,
            organization_pk=org_pk,
            allocation_version=0,
            cost_version=-1,
            key_cost_version=0,
        )
        .on_conflict_do_nothing(index_elements=["allocation_pk", "organization_pk"])
    )
    mark: AllocationMark = session.execute(
        select(AllocationMark)
        .where(
            col(AllocationMark.allocation_pk) == allocation_pk,
            col(AllocationMark.organization_pk) == org_pk,
        )
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    return mark


@dataclass(frozen=True)
class _Versions:
    """An organization's cost version, and its per-key cost version where the allocation
    follows it (None: it has no rules on keys or actors)."""

    cost: int
    key_cost: int | None


def _versions(session: Session, org_pk: int, spec: AllocationSpec) -> _Versions:
    stored = versions(session, (COST_DATASET, KEY_COST_DATASET))
    return _Versions(
        stored.get((org_pk, COST_DATASET), 0),
        stored.get((org_pk, KEY_COST_DATASET), 0) if _per_key(spec) else None,
    )


def _per_key(spec: AllocationSpec) -> bool:
    """Whether a rule is on keys or actors: its rows are divided by per-key billed cost."""
    return any(rule.match.needs_per_key for rule in spec.rules)


def _pending_days(
    session: Session, mark: AllocationMark, allocation_version: int, now: _Versions
) -> Days | bool:
    """The days the organization's cost rows (and per-key cost, where followed) replaced
    since the mark (None: every day; False: none). A mark of another version of the
    allocation: every day."""
    if mark.allocation_version != allocation_version or mark.cost_version < 0:
        return None
    followed = [(COST_DATASET, mark.cost_version, now.cost)]
    if now.key_cost is not None:
        followed.append((KEY_COST_DATASET, mark.key_cost_version, now.key_cost))
    days: list[tuple[date, date | None]] = []
    for dataset, since, current in followed:
        if since >= current:
            continue
        changes = changes_after(session, mark.organization_pk, dataset, since, current)
        if changes is None:
            return None
        days.extend((c.first_day, c.last_day) for c in changes)
    return days or False


def _merge(days: Iterable[tuple[date, date | None]]) -> list[tuple[date, date | None]]:
    merged: list[tuple[date, date | None]] = []
    for start, end in sorted(days, key=lambda d: (d[0], d[1] or date.max)):
        if merged:
            last_start, last_end = merged[-1]
            if last_end is None or start <= last_end:
                new_end = None if last_end is None or end is None else max(last_end, end)
                merged[-1] = (last_start, new_end)
                continue
        merged.append((start, end))
    return merged


def _day_clause(column: Any, days: Days) -> Any:
    if days is None:
        return None
    return or_(
        *(
            column >= start if end is None else and_(column >= start, column < end)
            for start, end in days
        )
    )


def _allocate_org(
    session: Session,
    allocation: Allocation,
    spec: AllocationSpec,
    org: Organization,
    days: Days,
    *,
    pending_since: int | None,
    old: AllocationSpec | None = None,
) -> None:
    """Allocate the organization's ``days`` again, and move its mark; in the caller's
    transaction. ``pending_since``: the allocation's version before this change; the days
    the cost rows replaced since the mark (of that version) are allocated again too.
    ``old``: the rules of that version, when only the rows whose rule changed need writing."""
    assert allocation.id is not None and org.id is not None
    mark = _lock_mark(session, allocation.id, org.id)
    # The version first, then the rows: a sync committing in between is allocated next time.
    now = _versions(session, org.id, spec)
    if pending_since is not None:
        pending = _pending_days(session, mark, pending_since, now)
        if pending is not False:
            old = None  # restated days (or a mark of another version): all of them again
        if pending is None or days is None:
            days = None
        elif pending is not False:
            assert not isinstance(pending, bool)
            days = [*days, *pending]
    if days is not None:
        days = _merge(days)
    _replace_lines(session, allocation.id, spec, org, days, old=old)
    mark.allocation_version = allocation.version
    mark.cost_version = now.cost
    if now.key_cost is not None:
        mark.key_cost_version = now.key_cost
    session.add(mark)
    session.flush()


def _replace_lines(
    session: Session,
    allocation_pk: int,
    spec: AllocationSpec,
    org: Organization,
    days: Days,
    *,
    old: AllocationSpec | None = None,
) -> None:
    """Write the organization's lines of ``days`` again, and their daily sums. ``old``: the
    rules the stored lines follow; given, only the rows whose rule changed are rewritten
    (where ``allocation_sql.can_replace_changed``)."""
    assert org.id is not None
    day_clause = lambda column: _day_clause(column, days)  # noqa: E731
    if old is not None and can_replace_changed(old, spec):
        insert_lines(
            session, allocation_pk, spec, org.id, day_clause, _namer(session, org), old=old
        )
        _replace_daily(session, allocation_pk, org.id, days)
        return
    where = [
        col(AllocationLine.allocation_pk) == allocation_pk,
        col(AllocationLine.organization_pk) == org.id,
    ]
    clause = _day_clause(col(AllocationLine.date), days)
    if clause is not None:
        where.append(clause)
    session.execute(delete(AllocationLine).where(*where))
    if not _per_key(spec):
        # Inside the database (the same lines; allocation_sql).
        insert_lines(session, allocation_pk, spec, org.id, day_clause, _namer(session, org))
    else:
        lines = list(computed_lines(session, allocation_pk, spec, org, days))
        if lines:
            table = AllocationLine.__table__  # type: ignore[attr-defined]
            columns = [table.c[name] for name in LINE_COLUMNS]
            insert_tuples(session, table, columns, lines)
    _replace_daily(session, allocation_pk, org.id, days)


def _replace_daily(session: Session, allocation_pk: int, org_pk: int, days: Days) -> None:
    """The days' sums per value (``allocation_daily``), from the lines just written."""
    daily = [
        col(AllocationDaily.allocation_pk) == allocation_pk,
        col(AllocationDaily.organization_pk) == org_pk,
    ]
    lines = [
        col(AllocationLine.allocation_pk) == allocation_pk,
        col(AllocationLine.organization_pk) == org_pk,
    ]
    for where, column in ((daily, AllocationDaily.date), (lines, AllocationLine.date)):
        clause = _day_clause(col(column), days)
        if clause is not None:
            where.append(clause)
    session.execute(delete(AllocationDaily).where(*daily))
    keys = (
        col(AllocationLine.allocation_pk),
        col(AllocationLine.organization_pk),
        col(AllocationLine.date),
        col(AllocationLine.value),
    )
    sums = select(*keys, func.sum(col(AllocationLine.amount_cents))).where(*lines).group_by(*keys)
    table = AllocationDaily.__table__  # type: ignore[attr-defined]
    session.execute(
        table.insert().from_select(
            ["allocation_pk", "organization_pk", "date", "value", "amount_cents"], sums
        )
    )


def computed_lines(
    session: Session, allocation_pk: int, spec: AllocationSpec, org: Organization, days: Days
) -> Iterable[tuple[Any, ...]]:
    """The allocation lines of the organization's ``days``: tuples in ``LINE_COLUMNS``."""
    assert org.id is not None
    groups = [getattr(CostLine, name) for name in GROUP_COLUMNS]
    where = [col(CostLine.organization_pk) == org.id]
    clause = _day_clause(col(CostLine.date), days)
    if clause is not None:
        where.append(clause)
    query = (
        select(col(CostLine.date), *groups, func.sum(col(CostLine.amount_cents)))
        .where(*where)
        .group_by(col(CostLine.date), *groups)
        .order_by(col(CostLine.date))
    )
    spend_row = _namer(session, org)
    shares = (
        key_shares(session, org.id, _day_clause(col(KeyCost.date), days))
        if _per_key(spec) and org.provider != Provider.ENTERPRISE
        else {}
    )
    index = RuleIndex(spec)
    candidates: dict[tuple[Any, ...], tuple[int, ...]] = {}
    by_day: dict[date, list[tuple[tuple[Any, ...], Decimal]]] = defaultdict(list)
    for row in session.execute(query):
        by_day[row[0]].append((tuple(row[1:-1]), Decimal(row[-1] or 0)))
    for day in sorted(by_day):
        pieces = [p for dims, amount in by_day[day] for p in _pieces(day, dims, amount, shares)]
        indexed = []
        for piece in pieces:
            who = piece.key
            cache_key = (piece.dims, None if who is None else (who.api_key_id, who.actor_id))
            found = candidates.get(cache_key)
            if found is None:
                found = index.matching(spend_row(piece.dims, who))
                candidates[cache_key] = found
            indexed.append((found, piece.amount))
        for part in allocate_day(spec, day, indexed):
            piece = pieces[part.group]
            yield (
                allocation_pk,
                org.id,
                day,
                part.value,
                part.rule_position,
                part.share_percent,
                *piece.dims,
                piece.key.api_key_id if piece.key is not None else None,
                part.amount_cents,
            )


@dataclass(frozen=True)
class _Piece:
    """A cost row, or one ``key``'s part of it."""

    dims: tuple[Any, ...]
    amount: Decimal
    key: KeyShare | None = None


def _pieces(
    day: date, dims: tuple[Any, ...], amount: Decimal, shares: dict[Any, list[KeyShare]]
) -> list[_Piece]:
    """A cost row divided among its grain's keys by their per-key billed cost (exactly: the
    parts add up to the row); whole when no per-key cost covers it. Parts of zero are left
    out (a row of many keys, a few of them tiny)."""
    keys = shares.get((day, *dims[:5])) if amount else None
    if not keys:
        return [_Piece(dims, amount)]
    parts = split_amount(amount, [k.units for k in keys])
    return [_Piece(dims, part, key) for key, part in zip(keys, parts, strict=True) if part]


def _namer(session: Session, org: Organization) -> Callable[..., SpendRow]:
    """``spend_row(dims, key=None)``: a group of the organization's cost (``GROUP_COLUMNS``)
    as the match keys see it, its workspace named as the dashboard names it."""
    workspaces = dict(
        session.execute(
            select(col(Workspace.workspace_id), col(Workspace.name)).where(
                col(Workspace.organization_pk) == org.id
            )
        ).all()
    )
    null_workspace = (
        ENTERPRISE_NULLS["workspace"] if org.provider == Provider.ENTERPRISE else DEFAULT_WORKSPACE
    )

    def spend_row(dims: Sequence[Any], key: KeyShare | None = None) -> SpendRow:
        return _spend_row(org, dims, workspaces, null_workspace, key)

    return spend_row


def _spend_row(
    org: Organization,
    dims: Sequence[Any],
    workspaces: dict[str, str],
    null_workspace: str,
    key: KeyShare | None = None,
) -> SpendRow:
    workspace_id, model, service_tier, cost_type, token_type, product = dims
    return SpendRow(
        organization_id=org.organization_id,
        organization_name=org.name,
        organization_label=org.label,
        provider=org.provider,
        workspace_id=workspace_id,
        workspace_name=null_workspace
        if workspace_id is None
        else workspaces.get(workspace_id, workspace_id),
        model=model,
        service_tier=service_tier,
        cost_type=cost_type,
        token_type=token_type,
        product=product,
        **({} if key is None else _key_fields(key)),
    )


def _key_fields(key: KeyShare) -> dict[str, Any]:
    return {
        "per_key": True,
        "api_key_id": key.api_key_id,
        "api_key_name": key.api_key_name,
        "actor_id": key.actor_id,
        "actor_name": key.actor_name,
    }


def reallocate(engine: Engine, *, allocation: str | None = None) -> int:
    """Allocate again what changed since each (allocation, organization) last ran: the days
    the cost rows replaced, every day of a new organization. Idempotent; returns how many
    (allocation, organization) pairs were allocated again."""
    done = 0
    with read_session(engine) as session:
        pending = _stale_pairs(session, allocation)
    for allocation_pk, org_pk in pending:
        with write_session(engine) as session:
            # Under the mark's lock: read again what to do (another worker may have done it).
            mark = _lock_mark(session, allocation_pk, org_pk)
            stored = session.get(Allocation, allocation_pk, populate_existing=True)
            org = session.get(Organization, org_pk)
            if stored is None or org is None:
                continue
            spec = stored_spec(session, stored)
            days = _pending_days(session, mark, stored.version, _versions(session, org_pk, spec))
            if days is False:
                continue
            assert not isinstance(days, bool)
            _allocate_org(session, stored, spec, org, days, pending_since=None)
            done += 1
    return done


def _stale_pairs(session: Session, name: str | None) -> list[tuple[int, int]]:
    query = select(Allocation)
    if name is not None:
        query = query.where(col(Allocation.name) == name)
    allocations = list(session.execute(query).scalars())
    if not allocations:
        return []
    stored = versions(session, (COST_DATASET, KEY_COST_DATASET))
    marks = {
        (m.allocation_pk, m.organization_pk): m
        for m in session.execute(select(AllocationMark)).scalars()
    }
    org_pks = list(session.execute(select(col(Organization.id))).scalars())
    stale = []
    for allocation in allocations:
        assert allocation.id is not None
        per_key = _per_key(stored_spec(session, allocation))
        for org_pk in org_pks:
            mark = marks.get((allocation.id, org_pk))
            if (
                mark is None
                or mark.allocation_version != allocation.version
                or mark.cost_version != stored.get((org_pk, COST_DATASET), 0)
                or (per_key and mark.key_cost_version != stored.get((org_pk, KEY_COST_DATASET), 0))
            ):
                stale.append((allocation.id, org_pk))
    return stale


def reallocate_changed(engine: Engine, settings: Settings) -> None:
    """After a sync (``app.finops.AFTER_SYNC``): allocate the restated and new days."""
    del settings
    reallocate(engine)


# --- reading -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AllocatedDay:
    date: date
    organization_id: str
    organization_name: str
    value: str
    amount_cents: Decimal


def allocated_days(
    engine: Engine,
    name: str,
    *,
    organization_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> list[AllocatedDay]:
    """The allocation's spend per day, organization and value (``AllocationNotFound``)."""
    with read_session(engine) as session:
        allocation = _find(session, name)
        if allocation is None:
            raise AllocationNotFound(name)
        where = [col(AllocationLine.allocation_pk) == allocation.id]
        if organization_id:
            where.append(col(Organization.organization_id) == organization_id)
        if start:
            where.append(col(AllocationLine.date) >= start)
        if end:
            where.append(col(AllocationLine.date) < end)
        query = (
            select(
                col(AllocationLine.date),
                col(Organization.organization_id),
                col(Organization.name),
                col(Organization.label),
                col(AllocationLine.value),
                func.sum(col(AllocationLine.amount_cents)),
            )
            .join(Organization, col(Organization.id) == col(AllocationLine.organization_pk))
            .where(*where)
            .group_by(
                col(AllocationLine.date),
                col(Organization.organization_id),
                col(Organization.name),
                col(Organization.label),
                col(AllocationLine.value),
            )
            .order_by(
                col(AllocationLine.date),
                col(Organization.organization_id),
                col(AllocationLine.value),
            )
        )
        return [
            AllocatedDay(day, org_id, label or org_name, value, Decimal(amount))
            for day, org_id, org_name, label, value, amount in session.execute(query)
        ]


def spend_by_value(engine: Engine, name: str, *, days: int = 30) -> list[tuple[str, Decimal]]:
    """The allocation's spend per value over the last ``days`` days (today included), the
    largest first."""
    today = utcnow().date()
    start = today - timedelta(days=days - 1)
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for row in allocated_days(engine, name, start=start):
        totals[row.value] += row.amount_cents
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))
