"""Spend: billed cost by day and group, chart-ready tables by day, week or month with exact
USD, and the Overview's headline numbers.

A chart and its CSV download are built from the same table, so they always agree.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.columnar import detail_engine
from app.datasets import REGISTRY, Dataset
from app.db import read_session
from app.finops.allocation_tables import (
    Allocation,
    AllocationDaily,
    AllocationLine,
    AllocationRule,
    of_allocation,
)
from app.models import CostDaily, CostLine, KeyCost, Organization
from app.reports.comparison import Change, change, previous_range
from app.reports.filters import (
    Filters,
    one_rollup_filter,
    uses_rollups,
    where_detail,
    where_organizations,
    where_rollup,
)
from app.reports.frames import Grouped, spend_per_period
from app.reports.labels import (
    BY_COST_TYPE,
    KEY_COST_GROUPS,
    MODEL_IDS,
    allocation_group,
    allocation_of,
    group_noun,
)
from app.reports.periods import month_start, next_month, usd
from app.reports.projection import Projection, history_window, project_month_end
from app.reports.top import Source, rollup_dim, sum_by_day
from app.store.key_estimate import estimated_organizations, with_estimates


def spend_by_day(
    engine: Engine, f: Filters, group: str, top: int | None = None
) -> list[tuple[date, str, Decimal]]:
    """(day, group label, cents) for every day and group with cost in the filters.

    With ``top``, only the ``top`` largest groups over the whole range keep their own rows;
    the others are summed day by day into one "Other (N …)" group, so totals stay exact."""
    return _spend_by_day(engine, f, group, top)[0]


def _spend_by_day(
    engine: Engine, f: Filters, group: str, top: int | None
) -> tuple[list[tuple[date, str, Decimal]], str | None]:
    """``spend_by_day``'s rows, and the label of its "Other" group (None: nothing folded)."""
    # A Console organization's cost without a model, token type or tier is one without tokens
    # (web search, code execution): it is named by its cost type.
    by_cost_type = group in BY_COST_TYPE or group == MODEL_IDS
    one = _one_filter(f)
    allocation = allocation_of(group)
    refused = view_refusal(f, group)
    if refused is not None:
        raise ValueError(refused)
    if f.allocated:
        table = _allocation_table(f, group)
        where = _where_allocated(f, table)
        if table is AllocationDaily:
            column = col(AllocationDaily.value) if allocation else _LINE_COLUMNS[group]
            source = Source(table, column, where, where)
        else:
            split = col(AllocationLine.cost_type) if by_cost_type else None
            source = Source(table, _line_column(group), where, where, split=split)
    elif allocation is not None:
        # The allocated lines keep the cost rows' filter columns: the same filters apply, and a
        # day's lines add up to its billed cost exactly (app.finops.allocation). Their daily
        # sums per value answer a view that filters none of those columns.
        table = _allocation_table(f, group)
        where = [of_allocation(allocation, table), *_where_lines(table, f)]
        source = Source(table, col(table.value), where, where)
    elif group in KEY_COST_GROUPS or f.keyed:
        # The cost report has no key: per-key billed cost is the Usage and Cost Analytics API's
        # (``key_cost_line``), of the organizations that have it. An actor is named by its
        # name as the API sends it (a person, a service account, a key), else by its id.
        # Where an organization's key may not read it, its estimate stands in (labelled).
        with read_session(engine) as session:
            keyed, estimated = with_estimates(session), estimated_organizations(session)
        where = where_detail(keyed, f, cost=True)
        split = keyed.cost_type if by_cost_type else None
        source = Source(
            keyed, _keyed_column(keyed, group), where, where, split=split, estimated=estimated
        )
    elif one is not None and rollup_dim(group, CostDaily, one[0])[0] == one[0]:
        # Grouped by the filtered dimension itself, or by what every dimension sums to: its
        # rows with the chosen values. Those hold no null model or tier, so nothing is split
        # by cost type.
        dim, where = one
        source = Source(
            CostDaily,
            rollup_dim(group, CostDaily, dim)[1],
            where,
            where,
            by_organization=bool(where_organizations(f)),
        )
    elif uses_rollups(f):
        # Organization and provider are the organization's own: any one dimension sums to them.
        dim, column = rollup_dim(group, CostDaily, "cost_type")
        by_type = [col(CostDaily.dim) == "cost_type", *where_rollup(CostDaily, f)]
        source = Source(
            CostDaily,
            column,
            [col(CostDaily.dim) == dim, *where_rollup(CostDaily, f)],
            by_type,
            by_organization=bool(where_organizations(f)),
            split_where=by_type if by_cost_type else None,
        )
    else:
        where = where_detail(CostLine, f, cost=True)
        split = col(CostLine.cost_type) if by_cost_type else None
        source = Source(CostLine, _spend_column(group), where, where, split=split)
    folded = sum_by_day(engine, source, ["amount_cents"], group, top, rank=lambda v: v[0])
    rows = [(d, g, Decimal(v[0] or 0)) for (d, g), v in sorted(folded.sums.items())]
    return rows, folded.other


# The groups an allocation's lines hold: a view filtered by allocated values can be grouped by
# these (and by that allocation); a cost row's description, its API key and another
# allocation's values are not on the lines.
_LINE_COLUMNS = {
    "model": col(AllocationLine.model),
    MODEL_IDS: col(AllocationLine.model),
    "workspace": col(AllocationLine.workspace_id),
    "service_tier": col(AllocationLine.service_tier),
    "token_type": col(AllocationLine.token_type),
    "cost_type": col(AllocationLine.cost_type),
    "organization": col(Organization.organization_id),
    "provider": col(Organization.provider),
    "product": col(AllocationLine.product),
}


def allocated_group_refusal(f: Filters, group: str) -> str | None:
    """Why spend filtered by ``f``'s allocated values cannot be grouped by ``group`` (None:
    it can). Plain text; the allocation's name is the user's."""
    if not f.allocated or group in _LINE_COLUMNS or allocation_of(group) == f.allocation:
        return None
    other = allocation_of(group)
    if other is not None:
        why = (
            f"{other} and {f.allocation} divide the spend by different rules (and splits), so "
            f"spend of chosen {f.allocation} values has no {other} of its own"
        )
    else:
        noun = group_noun(group).lower()
        why = f"allocated spend is kept by workspace, model, tier and cost type, not by {noun}"
    return (
        f"Spend filtered by {f.allocation} cannot be grouped by {group_noun(group)}: {why}. "
        f"Group by something else, or clear the {f.allocation} filter."
    )


# The groups per-key cost holds: a view filtered by API keys can be grouped by these.
KEYED_GROUPS = frozenset(
    {"model", MODEL_IDS, "workspace", "service_tier", "token_type", "cost_type"}
    | {"organization", "provider", *KEY_COST_GROUPS}
)


def key_filter_refusal(f: Filters, group: str) -> str | None:
    """Why spend filtered by API keys or actors cannot be grouped by ``group`` (None: it
    can)."""
    if not f.keyed or group in KEYED_GROUPS:
        return None
    if allocation_of(group) is not None or f.allocated:
        why = "allocated spend is kept by cost row, and the cost report has no key"
    else:
        noun = group_noun(group).lower()
        why = f"per-key cost is kept by workspace, model, tier and cost type, not by {noun}"
    return (
        f"Spend filtered by {_keyed_by(f)} cannot be grouped by {group_noun(group)}: {why}. "
        f"Group by something else, or clear the {_keyed_by(f)} filter."
    )


def _keyed_by(f: Filters) -> str:
    return "API key" if not f.actors else "actor" if not f.api_keys else "API key and actor"


def _keyed_column(keyed: Any, group: str) -> Any:
    """Per-key cost's column of ``group`` (``KEYED_GROUPS``)."""
    if group == "actor":
        return func.coalesce(keyed.actor_name, keyed.actor_id)
    if group == "organization":
        return col(Organization.organization_id)
    if group == "provider":
        return col(Organization.provider)
    if group == MODEL_IDS:
        return keyed.model
    return getattr(keyed, {"workspace": "workspace_id", "api_key": "api_key_id"}.get(group, group))


def view_refusal(f: Filters, group: str) -> str | None:
    """Why the view of ``f`` cannot be grouped by ``group`` (None: it can). Plain text."""
    if f.keyed and f.allocated:
        return (
            f"Spend cannot be filtered by {_keyed_by(f)} and by {f.allocation} at once: "
            "allocated spend is kept by cost row, and the cost report has no key. Clear one of "
            "the two."
        )
    return allocated_group_refusal(f, group) or key_filter_refusal(f, group)


def _line_column(group: str) -> Any:
    return col(AllocationLine.value) if allocation_of(group) is not None else _LINE_COLUMNS[group]


def _where_allocated(f: Filters, table: Any = AllocationLine) -> list[ColumnElement[bool]]:
    """The lines (or their daily sums) of ``f``'s chosen values of its allocation, in the
    other filters: what a view filtered by "Team: Search" adds up (a split's share of a row
    included)."""
    assert f.allocation is not None
    return [
        of_allocation(f.allocation, table),
        col(table.value).in_(f.allocation_values),
        *_where_lines(table, f),
    ]


def _where_lines(table: Any, f: Filters) -> list[ColumnElement[bool]]:
    """The filters over allocation lines, or over their daily sums (which hold no match keys:
    they are read only when ``uses_rollups(f)``, the days and organizations alone)."""
    if table is AllocationDaily:
        return [
            col(table.date) >= f.start,
            col(table.date) < f.end,
            *where_organizations(f),
        ]
    return where_detail(table, f, cost=True)


# Groups an allocation's daily sums hold (its values, and the organization's own columns).
_DAILY_GROUPS = ("organization", "provider")


def _allocation_table(f: Filters, group: str | None) -> Any:
    """``AllocationDaily`` where it answers the view (no filter on the lines' match keys, a
    group by the allocation's values or the organization's), else ``AllocationLine``."""
    if not uses_rollups(f):
        return AllocationLine
    if group is None or group in _DAILY_GROUPS or allocation_of(group) is not None:
        return AllocationDaily
    return AllocationLine


def allocation_values(engine: Engine) -> dict[str, list[str]]:
    """Each allocation's values (its default, its rules' values and split targets), sorted:
    what its filter offers. From the rules, not the lines: a few rows at any scale."""
    with read_session(engine) as session:
        allocations = session.execute(
            select(col(Allocation.id), col(Allocation.name), col(Allocation.default_value))
        ).all()
        rules = session.execute(
            select(
                col(AllocationRule.allocation_pk),
                col(AllocationRule.value),
                col(AllocationRule.split_targets),
            )
        ).all()
    values: dict[int, set[str]] = {pk: {default} for pk, _, default in allocations}
    for pk, value, targets in rules:
        if value is not None:
            values[pk].add(value)
        if targets:
            values[pk].update(json.loads(targets))
    return {
        name: sorted(values[pk], key=str.lower)
        for pk, name, _ in sorted(allocations, key=lambda a: a[1])
    }


def has_key_cost(engine: Engine) -> bool:
    """Whether any organization has per-key billed cost, or its estimate (Spend can then be
    grouped by key)."""
    with read_session(engine) as session:
        if estimated_organizations(session):
            return True
        return session.execute(select(col(KeyCost.id)).limit(1)).first() is not None


def estimated_names(engine: Engine) -> list[str]:
    """The organizations (as named) whose per-key cost shown is an estimate, by name."""
    with read_session(engine) as session:
        pks = estimated_organizations(session)
        if not pks:
            return []
        orgs = session.execute(
            select(col(Organization.label), col(Organization.name)).where(
                col(Organization.id).in_(pks)
            )
        )
        return sorted((label or name for label, name in orgs), key=str.lower)


def allocation_groups(engine: Engine) -> dict[str, str]:
    """The Spend groups of the allocations (``allocation:Team`` -> "Team"), by name."""
    with read_session(engine) as session:
        names = session.execute(select(col(Allocation.name)).order_by(col(Allocation.name)))
        return {allocation_group(name): name for (name,) in names}


def _one_filter(f: Filters) -> tuple[str, list[Any]] | None:
    """The cost rollup's dimension and conditions of a view filtered by one dimension's
    values (``one_rollup_filter``)."""
    rollup = REGISTRY[Dataset.COST].rollup
    assert rollup is not None  # the cost dataset is rolled up daily
    return one_rollup_filter(CostDaily, f, rollup.dims)


def _spend_column(group: str) -> Any:
    return {
        "model": col(CostLine.model),
        MODEL_IDS: col(CostLine.model),
        "workspace": col(CostLine.workspace_id),
        "service_tier": col(CostLine.service_tier),
        "token_type": col(CostLine.token_type),
        "cost_type": col(CostLine.cost_type),
        "organization": col(Organization.organization_id),
        "provider": col(Organization.provider),
        "product": col(CostLine.product),
        "description": col(CostLine.description),
    }[group]


def _total_query(f: Filters, *, by_day: bool = False, keyed: Any = None) -> Any:
    """Billed cost of the filters (``by_day``: per day), one query: the cost type rollup
    where the filters allow it (the filtered dimension's, filtered by one), else the detail
    rows; of chosen API keys, ``keyed`` (``with_estimates``: their per-key cost)."""
    one = _one_filter(f)
    table: Any = CostDaily if one is not None or uses_rollups(f) else CostLine
    if f.allocated:
        table, one = _allocation_table(f, None), None
    elif keyed is not None:
        table = keyed
    day, amount = col(table.date), func.sum(col(table.amount_cents))
    query = select(*([day] if by_day else []), amount).join(
        Organization, col(Organization.id) == col(table.organization_pk)
    )
    if one is not None:
        # The filtered dimension's rows with the chosen values: the filtered rows' total.
        query = query.where(*one[1])
    elif table in (AllocationLine, AllocationDaily):
        query = query.where(*_where_allocated(f, table))
    elif table is CostDaily:
        query = query.where(col(CostDaily.dim) == "cost_type", *where_rollup(CostDaily, f))
    else:
        query = query.where(*where_detail(table, f, cost=True))
    return query.group_by(day) if by_day else query


def _totals_engine(engine: Engine, f: Filters) -> Engine:
    """Where ``_total_query`` runs: the database for a rollup, else the detail rows through
    the app's columnar copy when it is current."""
    if f.allocated:
        return engine  # allocation lines are not in the columnar copy
    if f.keyed:
        return detail_engine(engine)  # per-key cost (and its estimate) is
    rolled = _one_filter(f) is not None or uses_rollups(f)
    return engine if rolled else detail_engine(engine)


def _keyed(engine: Engine, f: Filters) -> Any:
    """Per-key cost of ``f``'s chosen keys (``with_estimates``); None: not filtered by key.
    Which organizations are estimated is the database's to say, not the copy's."""
    if not f.keyed:
        return None
    with read_session(engine) as session:
        return with_estimates(session)


def total_cents(engine: Engine, f: Filters) -> Decimal:
    return total_or_none(engine, f) or Decimal(0)


def total_or_none(engine: Engine, f: Filters) -> Decimal | None:
    """Billed cents of the filters; None when not one row is stored for them (the previous
    period of a view that starts with the data: "no data", which is not $0)."""
    keyed = _keyed(engine, f)
    with read_session(_totals_engine(engine, f)) as session:
        value = session.execute(_total_query(f, keyed=keyed)).scalar_one()
    return None if value is None else Decimal(value)


def daily_totals(engine: Engine, f: Filters) -> dict[date, Decimal]:
    """Billed cents per day of the filters, in one query; a day without a stored row is
    absent (a day of rows adding up to $0 is there)."""
    keyed = _keyed(engine, f)
    with read_session(_totals_engine(engine, f)) as session:
        rows = session.execute(_total_query(f, by_day=True, keyed=keyed)).all()
    return {day: Decimal(cents or 0) for day, cents in rows}


def spend_over_time(
    engine: Engine, f: Filters, group: str, grain: str, top: int | None = None
) -> Grouped:
    """Columns: period, <group label>, amount_usd (exact Decimal), sorted by period; with
    ``top``, groups beyond the largest ``top`` are one "Other (N …)" group."""
    by_day, other = _spend_by_day(engine, f, group, top)
    return spend_per_period(by_day, group_noun(group), grain, other)


def spend_totals(over_time: Grouped) -> Grouped:
    """Totals per group from the over-time table, largest first (exact Decimal)."""
    label = over_time.group
    frame = over_time.frame
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for name, amount in zip(frame[label], frame["amount_usd"], strict=True):
        totals[name] += amount
    # Largest first; "Other (N …)", the sum of the smaller ones, last.
    rows = sorted(totals.items(), key=lambda item: (over_time.is_other(item[0]), -item[1]))
    return over_time.replace(pd.DataFrame(rows, columns=[label, "amount_usd"]))


@dataclass(frozen=True)
class SpendSummary:
    """The Overview's headline numbers, in exact USD; ``projection`` is None until a complete
    day has data. Each ``*_change`` is the figure against its previous period
    (``app.reports.comparison``): month to date against the same days of last month, the
    projection and last month against the month before each, today against yesterday."""

    month_to_date: Decimal
    last_month: Decimal
    today: Decimal
    projection: Projection | None
    days_elapsed: int
    days_in_month: int
    month_to_date_change: Change | None = None
    projection_change: Change | None = None
    last_month_change: Change | None = None
    today_change: Change | None = None


def spend_summary(
    engine: Engine,
    today: date,
    organizations: tuple[str, ...] = (),
    *,
    include_demo: bool = False,
) -> SpendSummary:
    """Month to date, last month, today so far, the month-end projection
    (``projection.project_month_end``: the budgets' forecast engine on complete days), and
    each against its previous period. Demo organizations are left out once a real one is
    connected, unless ``include_demo``.

    One query: the daily totals from the first day any figure needs (the month before last,
    or the projection's 13 weeks) to today; every figure is a sum of those days."""
    first = month_start(today)
    previous = month_start(first - timedelta(days=1))
    tomorrow = today + timedelta(days=1)
    mtd_before = previous_range(first, tomorrow)
    last_before = previous_range(previous, first)
    yesterday = (today - timedelta(days=1), today)
    history = history_window(today)
    since = min(mtd_before[0], last_before[0], history[0])
    window = Filters(since, tomorrow, organizations, include_demo=include_demo)
    daily = daily_totals(engine, window)

    def total(start: date, end: date) -> Decimal | None:
        """Cents of ``[start, end)``; None when not one day of it has a stored row."""
        days = [cents for day, cents in daily.items() if start <= day < end]
        return sum(days, Decimal(0)) if days else None

    def dollars(cents: Decimal | None) -> Decimal | None:
        return None if cents is None else usd(cents)

    mtd = total(first, tomorrow) or Decimal(0)
    last = total(previous, first)
    so_far = total(today, tomorrow) or Decimal(0)
    basis = {day: cents for day, cents in daily.items() if history[0] <= day < history[1]}
    projection = project_month_end(today, basis, so_far)
    return SpendSummary(
        month_to_date=usd(mtd),
        last_month=usd(last or Decimal(0)),
        today=usd(so_far),
        projection=projection,
        days_elapsed=(today - first).days + 1,
        days_in_month=(next_month(first) - first).days,
        month_to_date_change=change(usd(mtd), dollars(total(*mtd_before)), mtd_before),
        projection_change=(
            None
            if projection is None
            else change(projection.expected, dollars(last), (previous, first))
        ),
        last_month_change=change(
            usd(last or Decimal(0)), dollars(total(*last_before)), last_before
        ),
        today_change=change(usd(so_far), dollars(total(*yesterday)), yesterday),
    )


def total_usd(totals: Grouped) -> Decimal:
    """The sum of a totals table (exact)."""
    return sum(totals.frame["amount_usd"], start=Decimal(0))


def spend_table(totals: Grouped) -> pd.DataFrame:
    """The totals by group with each one's share of the whole, for the Spend page's table."""
    total = total_usd(totals)
    rows = totals.frame.copy()
    rows["share"] = [float(a / total) if total else 0.0 for a in rows["amount_usd"]]
    return rows
