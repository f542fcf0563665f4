"""Sums by day and group, the largest groups kept and the rest folded into one "Other (N …)":
the one top-N fold behind the spend and usage charts.

Summed in SQL by day and group, never row by row. The groups that can have thousands of values
are ranked first, over the rollups and the detail rows alike, so only the largest are added up
day by day.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Engine, String, case, cast, func, literal, or_, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.columnar import copied, detail_engine
from app.db import read_session
from app.models import (
    CostDaily,
    DimensionValue,
    KeyTokensToDate,
    Organization,
    UsageDaily,
)
from app.reports.filters import Filters, where_organizations
from app.reports.labels import ALL, MODEL_IDS, OTHER_SUFFIX, TOKEN_TYPES, group_noun
from app.reports.names import IDENTIFIED, Key, Namer, namer

# A stacked chart reads well up to about a dozen series: the rest are summed as one.
TOP_GROUPS = 12
# Groups that can have thousands of values (500 API keys x dozens of organizations): their
# largest ones are found first, so only those are added up day by day.
MANY_VALUED = frozenset({"workspace", "api_key", "actor", "description"})


@dataclass(frozen=True)
class Folded:
    """Sums by (day, group label), and the label of the one group the smaller ones were folded
    into: None when nothing was folded. Which group is "Other" is known from the fold that
    made it, never guessed from its text (a workspace may be named "Other (3 workspaces)")."""

    sums: dict[tuple[date, str], list[Any]]
    other: str | None = None


# A day's sums of one group before it is named: (day, key) -> sums.
Raw = dict[tuple[date, Key], list[Any]]


@dataclass(frozen=True)
class Source:
    """Where a chart's sums come from: a table, the grouped column (None: no grouping), the
    conditions, and the conditions of the same rows summed over every group (for "Other").
    ``key_totals``: the filters, when the API keys' running totals can rank the groups."""

    table: Any
    column: Any
    where: list[ColumnElement[bool]]
    whole: list[ColumnElement[bool]]
    key_totals: Filters | None = None
    by_organization: bool = True  # whether the conditions name the organization's columns
    # Cost by model, token type or tier: a Console organization's null there is a cost without
    # tokens, named by its cost type. ``split``: the detail rows' cost type column;
    # ``split_where``: the conditions of the same rows in the cost type rollup.
    split: Any = None
    split_where: list[ColumnElement[bool]] | None = None
    # Organizations whose rows here are estimated per-key cost: labelled as an estimate.
    estimated: frozenset[int] = frozenset()

    @property
    def rollup(self) -> bool:
        return self.table in (CostDaily, UsageDaily)


def rollup_dim(group: str, table: Any, whole: str) -> tuple[str, Any]:
    """The rollup dimension and column that answer ``group``; organization and provider are
    the organization's own, so any one dimension (``whole``) sums to them."""
    if group == "organization":
        return whole, col(Organization.organization_id)
    if group == "provider":
        return whole, col(Organization.provider)
    if group == MODEL_IDS:
        return "model", table.value
    return group, table.value


def sum_by_day(
    engine: Engine,
    source: Source,
    measures: list[str],
    group: str,
    top: int | None,
    rank: Callable[[list[Any]], Any],
) -> Folded:
    """Sums of ``measures`` by (day, group label). With ``top``, groups beyond the largest
    ``top`` (by ``rank`` of their sums) are folded into one "Other" group per day. For the
    groups with thousands of values the largest are found first (one sum per group, in SQL)
    and only those are read day by day, with "Other" as the day's sum of the rest: so no more
    than the rows shown (and one rank row per group) leave the database.

    Groups are added up by label only where values are meant to read as one (a model's alias
    and its dated id); a workspace or an API key is its organization's, and its label says
    which (``Namer``), so two of one name are never added together."""
    table, column = source.table, source.column
    sums = [func.sum(getattr(table, m)) for m in measures]
    merged: dict[tuple[date, str], list[Any]] = {}
    # The detail rows are summed in the app's columnar copy when it is current; names always
    # come from the database (the copy holds rows, not the directory).
    rows_engine = detail_engine(engine) if copied(source.table) else engine
    with read_session(engine) as names_session:
        names = namer(names_session, group)
    names.estimated = source.estimated
    with read_session(rows_engine) as session:
        keep: set[tuple[int, Any]] | None = None
        other: str | None = None
        labels: dict[Key, str] = {}
        # The groups with thousands of values are ranked first, over the rollups and over the
        # detail rows, so only the largest are read day by day; the few-valued groups are read
        # whole (a few rows a day) and folded here.
        if top is not None and column is not None and _ranked_first(session, source, group):
            keep, other, labels = _largest(session, source, names, group, top)
        split = source.split if column is not None and source.split is not None else None
        value_cols = [column] if column is not None else []
        if split is not None:
            # A null's cost type, so a Console organization's web search reads as such.
            value_cols.append(case((column.is_(None), split)))
        # A model's, tier's or token type's label depends on its organization only through
        # the provider (``Namer.label``): those are summed by provider in SQL, with any one of
        # its organizations standing for it, so a row leaves the database per day and value
        # rather than per organization too (usage by model id over six months at 10M rows:
        # 20 organizations' rows folded in Python took 400 ms). Not where keys are kept by
        # organization (the ranked groups) or a null is split by each organization's cost type.
        by_provider = (
            keep is None
            and split is None
            and source.split_where is None
            and group not in IDENTIFIED
            and group != "organization"
        )
        org_key = func.min(Organization.id) if by_provider else col(Organization.id)
        org_group = col(Organization.provider) if by_provider else col(Organization.id)
        group_cols = [table.date, org_key, *value_cols]
        base = (
            select(*group_cols, *sums)
            .join(Organization, col(Organization.id) == table.organization_pk)
            .group_by(table.date, org_group, *value_cols)
        )
        if keep is None:
            queries = [base.where(*source.where)]
        elif source.rollup:
            # Named values and null apart: each then reads its days through the value index.
            named = sorted({v for _, v in keep if v is not None})
            queries = [base.where(*source.where, column.in_(named))] if named else []
            if any(v is None for _, v in keep):
                queries.append(base.where(*source.where, column.is_(None)))
        else:
            # The detail rows have no index by value: one pass sums the largest groups and the
            # rest ("Other") day by day.
            _add_kept_and_rest(session, source, measures, keep, labels, merged, other or "")
            queries = []
        width = len(group_cols)
        raw: Raw = {}
        for query in queries:
            for row in session.execute(query):
                day, org_pk = row[0], row[1]
                if column is None:
                    _add(merged.setdefault((day, ALL), [0] * len(measures)), row[width:])
                    continue
                if keep is not None and (org_pk, row[2]) not in keep:
                    continue
                key: Key = (org_pk, row[2], row[3] if split is not None else None)
                _add(raw.setdefault((day, key), [0] * len(measures)), row[width:])
        if source.split_where is not None and column is not None:
            _split_by_cost_type(session, source.split_where, names, raw)
        if keep is None:
            labels = names.labels({k for _, k in raw})
        for (day, key), values in raw.items():
            _add(merged.setdefault((day, labels[key]), [0] * len(measures)), values)
        if other is not None and source.rollup:
            _add_other(session, source, sums, merged, other)
    if top is not None and keep is None:
        return _fold_smallest(merged, top, group, rank)
    return Folded(merged, other)


def _split_by_cost_type(
    session: Any, where: list[ColumnElement[bool]], names: Namer, raw: Raw
) -> None:
    """A Console organization's null model, token type or tier in the rollup (one sum a day)
    as its costs without tokens, by cost type (the cost type rollup's rows of that day); what
    they do not account for stays null. So the day's total is unchanged, to the cent."""
    nulls = {
        (day, key[0]): key
        for day, key in raw
        if key[1] is None and key[2] is None and key[0] not in names.enterprise
    }
    if not nulls:
        return
    day_, pk_, value_ = col(CostDaily.date), col(CostDaily.organization_pk), col(CostDaily.value)
    rows = session.execute(
        select(day_, pk_, value_, func.sum(col(CostDaily.amount_cents)))
        .join(Organization, col(Organization.id) == pk_)
        .where(*where, value_ != "tokens")
        .group_by(day_, pk_, value_)
    )
    by_day: dict[tuple[date, int], list[tuple[str, Any]]] = {}
    for day, org_pk, cost_type, cents in rows:
        if (day, org_pk) in nulls and cents:
            by_day.setdefault((day, org_pk), []).append((cost_type, cents))
    for (day, org_pk), costs in by_day.items():
        null_key = nulls[(day, org_pk)]
        rest = raw[(day, null_key)]
        # Costs without tokens that do carry a model (or tier) are in other groups already:
        # the rollup cannot tell them apart, so such a day keeps its null as it is rather than
        # go below zero.
        if sum(cents for _, cents in costs) > rest[0]:
            continue
        for cost_type, cents in costs:
            raw[(day, (org_pk, None, cost_type))] = [cents]
            rest[0] -= cents
    for day, key in [(d, k) for (d, _), k in nulls.items()]:
        if not raw[(day, key)][0]:
            del raw[(day, key)]


def _ranked_first(session: Any, source: Source, group: str) -> bool:
    """Whether the largest groups are found first. Always for the many-valued groups over the
    rollups and on Postgres, which hashes the groups; SQLite sorts every detail row to group
    them, and one more sort for the ranking pays for itself only with the API keys' (and their
    actors') thousands of groups: with a few hundred workspaces or descriptions one pass folded
    here was faster (bench, issue 14: 3.9 s against 6.3 s at 10M rows). Per-key cost by actor,
    620 actors over six months folded here: 302 ms in the columnar copy (bench, issue 16)."""
    if group not in MANY_VALUED:
        return False
    keyed = group in ("api_key", "actor")
    return source.rollup or keyed or session.get_bind().dialect.name != "sqlite"


def _largest(
    session: Any, source: Source, names: Namer, group: str, top: int
) -> tuple[set[tuple[int, Any]] | None, str | None, dict[Key, str]]:
    """The (organization pk, value) pairs of the ``top`` largest group labels over the range,
    the label of the "Other" group the rest are folded into, and every pair's label; (None,
    None, {}) when there are no more than ``top`` labels. Values that read the same (a
    description in two organizations) are one group, ranked by their sum; workspaces and API
    keys never read the same."""
    scores = _scores(session, source)
    labeled = names.labels([(pk, value, None) for pk, value in scores])
    by_label: dict[str, Any] = {}
    for (pk, value), score in scores.items():
        label = labeled[(pk, value, None)]
        by_label[label] = by_label.get(label, 0) + score
    if len(by_label) <= top:
        return None, None, {}
    kept = set(heapq.nsmallest(top, by_label, key=lambda g: (-by_label[g], g)))
    other = other_label(len(by_label) - top, group, taken=kept)
    return {(pk, v) for (pk, v, _), label in labeled.items() if label in kept}, other, labeled


def _add_kept_and_rest(
    session: Any,
    source: Source,
    measures: list[str],
    keep: set[tuple[int, Any]],
    labels: dict[Key, str],
    merged: dict[tuple[date, str], list[Any]],
    other: str,
) -> None:
    """Add the kept groups' sums and "Other" (every other group) day by day, from one pass over
    the detail rows: each row is summed under its value if that value is kept in some
    organization, else under one "rest" per day and organization; so no more rows leave the
    database than (kept values + 1) per day and organization."""
    table, column = source.table, source.column
    named = sorted({v for _, v in keep if v is not None})
    shown_if = [column.in_(named)] if named else []
    if any(v is None for _, v in keep):
        shown_if.append(column.is_(None))
    shown = or_(*shown_if)
    inner = (
        select(
            table.date.label("day"),
            table.organization_pk.label("org_pk"),
            case((shown, 1), else_=0).label("shown"),
            case((shown, column)).label("value"),
            *(getattr(table, m).label(f"m{i}") for i, m in enumerate(measures)),
        )
        .join(Organization, col(Organization.id) == table.organization_pk)
        .where(*source.where)
        .subquery()
    )
    # Grouped over a subquery: Postgres does not match a CASE with bound parameters in the
    # select list to the same CASE in GROUP BY.
    keys = [inner.c.day, inner.c.org_pk, inner.c.shown, inner.c.value]
    query = select(*keys, *(func.sum(inner.c[f"m{i}"]) for i in range(len(measures)))).group_by(
        *keys
    )
    for day, org_pk, is_shown, value, *values in session.execute(query):
        shown_here = is_shown and (org_pk, value) in keep
        label = labels[(org_pk, value, None)] if shown_here else other
        _add(merged.setdefault((day, label), [0] * len(measures)), values)
    # As when "Other" is a day's total minus the largest groups: no row where it adds nothing.
    for key in [k for k in merged if k[1] == other and not any(merged[k])]:
        del merged[key]


def _scores(session: Any, source: Source) -> dict[tuple[int, Any], Any]:
    """(organization pk, value) -> what ranks it over the range (cents, or tokens of every
    type), for every value with rows in it."""
    f = source.key_totals
    # Postgres adds up the rollup rows in a hash table faster than it runs two lookups per
    # key; SQLite sorts them, so there the running totals are several times faster.
    if f is None or session.get_bind().dialect.name != "sqlite":
        # One sum of what ranks them, not every measure: a narrower row lets Postgres hash
        # the groups in memory instead of sorting them on disk.
        table = source.table
        ranked = (
            table.amount_cents
            if hasattr(table, "amount_cents")
            else sum((getattr(table, t) for t in TOKEN_TYPES), start=literal(0))
        )
        query = select(table.organization_pk, source.column, func.sum(ranked))
        if source.by_organization:
            query = query.join(Organization, col(Organization.id) == table.organization_pk)
        rows = session.execute(
            query.where(*source.where).group_by(table.organization_pk, source.column)
        )
        return {(pk, value): total or 0 for pk, value, total in rows}
    # API keys: the running total at the end minus the one before the start, per key.
    k = KeyTokensToDate

    def latest(column: Any, before: date) -> Any:
        return (
            select(column)
            .where(
                col(k.organization_pk) == col(DimensionValue.organization_pk),
                col(k.api_key) == col(DimensionValue.value),
                col(k.date) < before,
            )
            .order_by(col(k.date).desc())
            .limit(1)
            .scalar_subquery()
        )

    # The last row before the end gives its day and total in one lookup ("YYYY-MM-DD|tokens").
    day_and_total = cast(col(k.date), String) + "|" + cast(col(k.tokens), String)
    rows = (
        session.connection()
        .execute(
            select(
                col(DimensionValue.organization_pk),
                col(DimensionValue.value),
                latest(day_and_total, f.end),
                latest(col(k.tokens), f.start),
            )
            .join(Organization, col(Organization.id) == col(DimensionValue.organization_pk))
            .where(col(DimensionValue.kind) == "api_key", *where_organizations(f))
        )
        .all()
    )
    start = f.start.isoformat()
    scores: dict[tuple[int, Any], Any] = {}
    for pk, value, at_end, before in rows:
        if at_end is None:
            continue
        last_day, total = at_end.split("|")
        if last_day >= start:  # else the key has no row in the range
            scores[(pk, value or None)] = int(total) - (before or 0)
    return scores


def _add_other(
    session: Any,
    source: Source,
    sums: list[Any],
    merged: dict[tuple[date, str], list[Any]],
    other: str,
) -> None:
    """Add each day's "Other": the day's total over every group minus the groups shown."""
    table = source.table
    shown: dict[date, list[Any]] = {}
    for (day, _), values in merged.items():
        _add(shown.setdefault(day, [0] * len(sums)), values)
    day_totals = session.execute(
        select(table.date, *sums)
        .join(Organization, col(Organization.id) == table.organization_pk)
        .where(*source.whole)
        .group_by(table.date)
    )
    for day, *values in day_totals:
        kept = shown.get(day, [0] * len(sums))
        rest = [(v or 0) - s for v, s in zip(values, kept, strict=True)]
        if any(rest):
            merged[(day, other)] = rest


def _add(acc: list[Any], values: Any) -> None:
    for i, value in enumerate(values):
        acc[i] += value or 0


def _fold_smallest(
    merged: dict[tuple[date, str], list[Any]],
    top: int,
    group: str,
    rank: Callable[[list[Any]], Any],
) -> Folded:
    """Fold every group beyond the ``top`` largest into "Other", day by day."""
    by_label: dict[str, list[Any]] = {}
    for (_, label), values in merged.items():
        _add(by_label.setdefault(label, [0] * len(values)), values)
    if len(by_label) <= top:
        return Folded(merged)
    kept = set(sorted(by_label, key=lambda g: (-rank(by_label[g]), g))[:top])
    other = other_label(len(by_label) - top, group, taken=kept)
    folded: dict[tuple[date, str], list[Any]] = {}
    for (day, label), values in merged.items():
        key = (day, label if label in kept else other)
        _add(folded.setdefault(key, [0] * len(values)), values)
    # As when "Other" is a day total minus the largest groups: no row where it adds nothing.
    return Folded({k: v for k, v in folded.items() if k[1] != other or any(v)}, other)


def other_label(count: int, group: str, taken: Collection[str] = ()) -> str:
    """ "Other (N …)", the label of the ``count`` groups added up as one; never one of the
    ``taken`` labels of the groups shown by name, whose sums it would otherwise merge with."""
    noun = group_noun(group)
    noun = noun if noun.startswith("API") else noun.lower()
    label = f"Other ({count:,} {noun}{'' if count == 1 else 's'})"
    while label in taken:
        label += OTHER_SUFFIX
    return label
