"""Allocating an organization's days inside the database: what ``allocation.computed_lines``
computes row by row, at the speed of one ``INSERT … SELECT`` (issue 17, "Speed": six months of
a large organization allocated again in seconds, not minutes).

A cost row's rule depends only on its match keys and its day, and the rules in effect change
only at their effective dates. So Python decides once per distinct group of match keys and per
stretch of days between effective dates (a few thousand decisions, not millions of rows), and
writes them to a temporary table; the database then sums the cost rows of the value rules and
of the default straight into ``allocation_line``. Splits stay in Python, on the rows they
match only: they divide each row by largest remainder, and ``proportional`` follows each
value's spend matched directly that day, which the database has just summed. Rules on API keys
and actors divide rows by per-key cost and take the row-by-row path.

A rule change compares the old rules' choice with the new one's for each group and stretch:
only the rows whose choice changed are deleted and written again (a one-rule edit rewrites that
rule's rows, not six months of every row), unless a proportional split makes every value's day
matter (then every row of the days is written again).

The result is the row-by-row one exactly (tests/test_allocation_sql.py compares the two over
random rule sets on SQLite and Postgres).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any, NamedTuple

from sqlalchemy import (
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    and_,
    delete,
    func,
    inspect,
    literal,
    select,
)
from sqlmodel import Session, col

from app.finops.allocation_compute import (
    AllocationSpec,
    Rule,
    RuleIndex,
    first_rule,
    split_amount,
    split_weights,
)
from app.finops.allocation_tables import GROUP_COLUMNS, LINE_COLUMNS, AllocationLine
from app.finops.match import SpendRow
from app.models import CostLine
from app.store.bulk import insert_tuples

# Stands for a null match key in the temporary table's join (equal to itself, unlike NULL,
# so both databases can hash the join): no key the API sends looks like it.
_NULL = "\x1fnull\x1f"
_KEYS = GROUP_COLUMNS

_MAP = Table(
    "allocation_map",
    MetaData(),
    *(Column(key, Text) for key in _KEYS),
    Column("starts", Date),
    Column("ends", Date),
    Column("value", Text),
    Column("rule_position", Integer),
    Column("split", Integer),  # the split rule's index into the rules (null: not a split)
    prefixes=["TEMPORARY"],
)
# Each cost row finds its decision by its match keys: without this index SQLite compares every
# row with every decision.
_MAP_KEYS = Index("allocation_map_keys", *(_MAP.c[k] for k in _KEYS), _MAP.c.starts)


def stretches(*specs: AllocationSpec) -> list[tuple[date, date]]:
    """The days cut at every effective date of ``specs``: within each stretch the same rules
    of each are in effect (date.min and date.max stand for no bound)."""
    cuts = {date.min, date.max}
    for rule in (rule for spec in specs for rule in spec.rules):
        cuts.update(d for d in (rule.effective_from, rule.effective_to) if d is not None)
    ordered = sorted(cuts)
    return list(zip(ordered, ordered[1:], strict=False))


class _Choice(NamedTuple):
    """What a rule set does with a group on a stretch of days: a value (the default's has no
    position), or a split (its index into the rules, and what it is, to compare two sets)."""

    value: str | None
    position: int | None
    split: int | None = None
    split_is: tuple[Any, ...] | None = None


def _choice(spec: AllocationSpec, candidates: Sequence[int], day: date) -> _Choice:
    rule = first_rule(spec.rules, candidates, day)
    if rule is None:
        return _Choice(spec.default, None)
    if rule.value is not None:
        return _Choice(rule.value, rule.position)
    return _Choice(None, rule.position, spec.rules.index(rule), (rule.method, rule.targets))


def can_replace_changed(old: AllocationSpec, new: AllocationSpec) -> bool:
    """Whether ``insert_lines(..., old=old)`` may rewrite only the groups whose rule changed:
    not when a proportional split follows every value's day (any change moves its shares),
    nor with rules on keys (their rows are divided by per-key cost, row by row)."""
    rules = [r for spec in (old, new) for r in spec.rules]
    return not any(r.method == "proportional" or r.match.needs_per_key for r in rules)


def insert_lines(
    session: Session,
    allocation_pk: int,
    spec: AllocationSpec,
    org_pk: int,
    day_clause: Callable[[Any], Any],
    spend_row: Callable[[Sequence[Any]], SpendRow],
    *,
    old: AllocationSpec | None = None,
) -> None:
    """Allocate the organization's cost rows of the days ``day_clause`` selects (a function of
    a date column; None for every day) into ``allocation_line``, in the caller's transaction.
    Without ``old`` the days' old lines are already deleted. With ``old`` (the rules the
    stored lines of those days follow; ``can_replace_changed``) only the groups and stretches
    whose rule changed are deleted and written again: a one-rule edit rewrites its rows only."""
    connection = session.connection()
    if not inspect(connection).has_table(_MAP.name):
        _MAP.create(connection)  # its index too
    session.execute(_MAP.delete())
    keys = [getattr(CostLine, k) for k in _KEYS]
    where = [col(CostLine.organization_pk) == org_pk]
    clause = day_clause(col(CostLine.date))
    if clause is not None:
        where.append(clause)
    groups = session.execute(select(*keys).where(*where).distinct()).all()
    index = RuleIndex(spec)
    before = RuleIndex(old) if old is not None else None
    cut = stretches(spec) if old is None else stretches(old, spec)
    decisions = []
    splits: set[int] = set()
    for group in groups:
        row = spend_row(tuple(group))
        candidates = index.matching(row)
        was = before.matching(row) if before is not None else ()
        stored = tuple(_NULL if v is None else v for v in group)
        for starts, ends in cut:
            now = _choice(spec, candidates, starts)
            if old is not None:
                then = _choice(old, was, starts)
                if (then.value, then.position, then.split_is) == (
                    now.value,
                    now.position,
                    now.split_is,
                ):
                    continue
            if now.split is not None:
                splits.add(now.split)
            decisions.append((*stored, starts, ends, now.value, now.position, now.split))
    if not decisions:
        return
    insert_tuples(session, _MAP, list(_MAP.c), decisions)
    if old is not None:
        _delete_decided(session, allocation_pk, org_pk, day_clause)
    joined = and_(
        *(func.coalesce(getattr(CostLine, k), _NULL) == _MAP.c[k] for k in _KEYS),
        col(CostLine.date) >= _MAP.c.starts,
        col(CostLine.date) < _MAP.c.ends,
    )
    whole = (
        select(
            literal(allocation_pk),
            col(CostLine.organization_pk),
            col(CostLine.date),
            _MAP.c.value,
            _MAP.c.rule_position,
            *keys,
            func.sum(col(CostLine.amount_cents)),
        )
        .join(_MAP, joined)
        .where(*where, _MAP.c.split.is_(None))
        .group_by(
            col(CostLine.organization_pk),
            col(CostLine.date),
            _MAP.c.value,
            _MAP.c.rule_position,
            *keys,
        )
    )
    line = AllocationLine.__table__  # type: ignore[attr-defined]
    session.execute(
        line.insert().from_select(
            [
                "allocation_pk",
                "organization_pk",
                "date",
                "value",
                "rule_position",
                *_KEYS,
                "amount_cents",
            ],
            whole,
        )
    )
    if splits:
        _insert_splits(session, allocation_pk, spec, org_pk, day_clause, where, joined, keys)
    session.execute(_MAP.delete())


def _delete_decided(
    session: Session, allocation_pk: int, org_pk: int, day_clause: Callable[[Any], Any]
) -> None:
    """Delete the organization's lines of the days whose group and stretch are in the
    decisions table (the ones about to be written again)."""
    line = AllocationLine
    on = and_(
        *(func.coalesce(getattr(line, k), _NULL) == _MAP.c[k] for k in _KEYS),
        col(line.date) >= _MAP.c.starts,
        col(line.date) < _MAP.c.ends,
    )
    where = [col(line.allocation_pk) == allocation_pk, col(line.organization_pk) == org_pk]
    clause = day_clause(col(line.date))
    if clause is not None:
        where.append(clause)
    doomed = select(col(line.id)).join(_MAP, on).where(*where)
    session.execute(delete(line).where(col(line.id).in_(doomed)))


def _insert_splits(
    session: Session,
    allocation_pk: int,
    spec: AllocationSpec,
    org_pk: int,
    day_clause: Callable[[Any], Any],
    where: list[Any],
    joined: Any,
    keys: list[Any],
) -> None:
    """The rows of split rules, divided in Python: by their weights, or by each value's spend
    matched directly that day (the value rules' lines just inserted)."""
    direct: dict[date, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    line_where = [
        col(AllocationLine.allocation_pk) == allocation_pk,
        col(AllocationLine.organization_pk) == org_pk,
        col(AllocationLine.rule_position).is_not(None),
    ]
    clause = day_clause(col(AllocationLine.date))
    if clause is not None:
        line_where.append(clause)
    if any(rule.method == "proportional" for rule in spec.rules):
        sums = session.execute(
            select(
                col(AllocationLine.date),
                col(AllocationLine.value),
                func.sum(col(AllocationLine.amount_cents)),
            )
            .where(*line_where)
            .group_by(col(AllocationLine.date), col(AllocationLine.value))
        )
        for day, value, amount in sums:
            direct[day][value] += Decimal(amount or 0)
    rows = session.execute(
        select(col(CostLine.date), _MAP.c.split, *keys, func.sum(col(CostLine.amount_cents)))
        .join(_MAP, joined)
        .where(*where, _MAP.c.split.is_not(None))
        .group_by(col(CostLine.date), _MAP.c.split, *keys)
    )
    lines = []
    for day, number, *dims, amount in rows:
        rule: Rule = spec.rules[number]
        weights, shares = split_weights(rule, direct[day])
        parts = split_amount(Decimal(amount or 0), weights)
        for (value, _), share, part in zip(rule.targets, shares, parts, strict=True):
            lines.append(
                (allocation_pk, org_pk, day, value, rule.position, share, *dims, None, part)
            )
    if lines:
        table = AllocationLine.__table__  # type: ignore[attr-defined]
        insert_tuples(session, table, [table.c[n] for n in LINE_COLUMNS], lines)
