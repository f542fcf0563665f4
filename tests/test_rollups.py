"""The daily rollups behind the unfiltered dashboards, and behind those filtered by one
dimension's values, equal the detail rows, to the cent and the token, for every grouping:
after a backfill, after upstream revisions and a re-sync, next to a Claude Enterprise
organization, and when built by the schema upgrade from existing data."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import replace
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, func, select, text

from app.clock import today
from app.datasets import (
    ECONOMICS,
    REGISTRY,
    Dataset,
    decode_value,
    encode_value,
)
from app.db import SCHEMA_VERSION, migrate, read_session
from app.models import CostDaily, KeyTokensToDate, UsageDaily
from app.reports.filters import ROLLUP_FILTERS, Filters, one_rollup_filter, uses_rollups
from app.reports.labels import SPEND_GROUPS, TOKEN_TYPES, USAGE_GROUPS
from app.reports.options import filter_options
from app.reports.spend import daily_totals, spend_by_day, total_cents
from app.reports.top import other_label
from app.reports.usage import usage_by_day, usage_counts
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import EnterpriseSpec, org_pk, sync_engine
from tests.utils.rollups import assert_economics_equals_the_detail
from tests.utils.snapshots import synced_copy


def both_ways(engine: Engine, f: Filters) -> None:
    """Every spend and usage grouping, read from the rollups and from the detail rows, in full
    and folded to the largest two groups plus "Other"."""
    assert uses_rollups(f)
    # A filter that matches every row forces the detail path with the same result set.
    detail = replace(f, models=every_value(engine, "models"))
    assert not uses_rollups(detail)
    assert_same_results(engine, f, detail)


def one_filter_both_ways(engine: Engine, f: Filters) -> None:
    """A view filtered by two values of one dimension (workspaces, models, tiers, cost
    types) reads that rollup dimension; every grouping, total and count equals the detail
    rows' for the same filter."""
    cost_dims, usage_dims = rollup_dims(Dataset.COST), rollup_dims(Dataset.USAGE)
    options = filter_options(engine)
    for attr, dim in ROLLUP_FILTERS.items():
        values = sorted(v for v, _ in options[attr] if v)[:2]
        assert len(values) == 2, attr  # two values to choose, so the filter leaves rows out
        chosen: dict[str, Any] = {attr: tuple(values)}
        one = replace(f, **chosen)
        assert one_rollup_filter(CostDaily, one, cost_dims) is not None, attr
        assert (one_rollup_filter(UsageDaily, one, usage_dims) is not None) == (dim in usage_dims)
        # A second filter that passes every row (each value and null) forces the detail rows.
        other = "models" if attr == "service_tiers" else "service_tiers"
        every: dict[str, Any] = {other: every_value(engine, other)}
        detail = replace(one, **every)
        assert one_rollup_filter(CostDaily, detail, cost_dims) is None
        assert_same_results(engine, one, detail)
        # Something was left out: the filter is not one that passes everything.
        assert total_cents(engine, one) < total_cents(engine, f), attr


def rollup_dims(dataset: Dataset) -> Collection[str]:
    rollup = REGISTRY[dataset].rollup
    assert rollup is not None
    return rollup.dims


def every_value(engine: Engine, attr: str) -> tuple[str, ...]:
    """Every option of the filter ``attr`` and "" (null): a filter that passes every row."""
    return tuple(sorted({v for v, _ in filter_options(engine)[attr]} | {""}))


def assert_same_results(engine: Engine, f: Filters, detail: Filters) -> None:
    """``f`` and ``detail`` (the same rows, read from the detail tables) give the same spend
    and usage by every grouping, in full and folded to two groups plus "Other", the same
    total and the same usage counts."""
    for group in SPEND_GROUPS:
        rolled = spend_by_day(engine, f, group)
        assert rolled == spend_by_day(engine, detail, group), group
        assert rolled, group  # something to compare, not two empty lists
        folded = spend_by_day(engine, f, group, top=2)
        assert other_as_counted(folded) == fold(rolled, 2, lambda c: c, add=lambda a, b: a + b), (
            group
        )
        assert folded == spend_by_day(engine, detail, group, top=2), group
    for group in [*USAGE_GROUPS, "token_type"]:
        via_rollup = usage_by_day(engine, f, group)
        assert via_rollup == usage_by_day(engine, detail, group), group
        folded = usage_by_day(engine, f, group, top=2)
        assert other_as_counted(folded) == fold(via_rollup, 2, all_tokens, add=add_counts), group
        assert folded == usage_by_day(engine, detail, group, top=2), group
    assert total_cents(engine, f) == total_cents(engine, detail)
    assert daily_totals(engine, f) == daily_totals(engine, detail)
    assert usage_counts(engine, f) == usage_counts(engine, detail)


def all_tokens(counts: dict[str, int]) -> int:
    return sum(v for k, v in counts.items() if k in TOKEN_TYPES)


def add_counts(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: a[k] + b[k] for k in a}


def fold(rows: list, top: int, rank: Callable[[Any], Any], add: Callable[[Any, Any], Any]) -> list:
    """The reference for ``top``, from the full result: the largest groups over the range
    keep their rows, the rest are added up per day under one "Other (N …)" label."""
    totals: dict[str, Any] = {}
    for _, label, value in rows:
        totals[label] = add(totals[label], value) if label in totals else value
    if len(totals) <= top:
        return rows
    kept = sorted(totals, key=lambda g: (-rank(totals[g]), g))[:top]
    folded = len(totals) - top
    out: dict[tuple, Any] = {}
    for day, label, value in rows:
        key = (day, label if label in kept else f"Other ({folded:,} …)")
        out[key] = add(out[key], value) if key in out else value
    return sorted(
        (d, g, v)
        for (d, g), v in out.items()
        if g in kept or (any(v.values()) if isinstance(v, dict) else v)
    )


def other_as_counted(rows: list) -> list:
    """The product's rows with "Other (N API keys)" written as "Other (N …)"."""
    return sorted(
        (d, f"{g.split(' ')[0]} {g.split(' ')[1]} …)" if g.startswith("Other (") else g, v)
        for d, g, v in rows
    )


def test_the_other_group_says_how_many_it_holds() -> None:
    assert other_label(1, "api_key") == "Other (1 API key)"
    assert other_label(1234, "workspace") == "Other (1,234 workspaces)"
    assert other_label(2, "service_tier") == "Other (2 service tiers)"


def test_rollups_equal_the_detail_rows(sim: Simulator, engine: Engine, settings: Settings) -> None:
    ids = synced_copy(sim, engine, settings, enterprise=EnterpriseSpec(seed=91))
    sync = sync_engine(sim, engine, settings)

    six_months = Filters(today() - timedelta(days=200), today() + timedelta(days=1))
    both_ways(engine, six_months)
    both_ways(engine, Filters(today() - timedelta(days=6), today() + timedelta(days=1), (ids[0],)))
    one_filter_both_ways(engine, six_months)
    # A range in the middle: the API keys' running totals before its start are subtracted.
    both_ways(engine, Filters(today() - timedelta(days=60), today() - timedelta(days=20)))
    assert key_total_rows(engine) > 0
    assert assert_economics_equals_the_detail(engine) > 0  # something compared

    # Upstream revisions, then a re-sync: the replaced days' rollups follow the detail.
    for org in sim.orgs.values():
        sim.revise(org.id, days=3)
        assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    both_ways(engine, six_months)
    assert assert_economics_equals_the_detail(engine) > 0

    # A database from before the rollups gets them built from its detail rows.
    before = rollup_sums(engine)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE cost_daily"))
        conn.execute(text("DROP TABLE usage_daily"))
        conn.execute(text("DROP TABLE key_tokens_to_date"))
        conn.execute(text("DELETE FROM dimension_value WHERE kind = 'api_key'"))
        conn.execute(text("UPDATE schema_version SET version = 6"))
    assert migrate(engine) == SCHEMA_VERSION
    assert rollup_sums(engine) == before
    assert key_total_rows(engine) > 0
    both_ways(engine, six_months)
    assert assert_economics_equals_the_detail(engine) > 0
    # The compound dimension is in both rollups, built again by the upgrade (step 12).
    assert ECONOMICS in {r[0] for r in before[0]} & {r[0] for r in before[1]}


def key_total_rows(engine: Engine) -> int:
    with read_session(engine) as session:
        return session.execute(select(func.count()).select_from(KeyTokensToDate)).scalar_one()


def rollup_sums(engine: Engine) -> tuple:
    with read_session(engine) as session:
        cost = session.execute(
            select(CostDaily.dim, func.sum(CostDaily.amount_cents), func.count())
            .group_by(CostDaily.dim)
            .order_by(CostDaily.dim)
        ).all()
        usage = session.execute(
            select(UsageDaily.dim, func.sum(UsageDaily.output_tokens), func.count())
            .group_by(UsageDaily.dim)
            .order_by(UsageDaily.dim)
        ).all()
    return tuple(map(tuple, cost)), tuple(map(tuple, usage))


def test_compound_dimensions_name_detail_columns_and_no_single_dimension() -> None:
    """A compound dimension's columns are its detail table's, and its name is none of the
    single-column dimensions' (a read by ``dim`` must never meet the other kind of value)."""
    for spec in REGISTRY.values():
        if spec.rollup is None:
            continue
        columns = set(spec.detail_table.c.keys())
        for dim, crossed in spec.rollup.compound.items():
            assert set(crossed) <= columns and len(crossed) > 1, (spec.name, dim)
            assert dim not in spec.rollup.dims, (spec.name, dim)
            assert len(dim) <= 20  # cost_daily.dim, usage_daily.dim
    assert encode_value((None, "a", "null")) == '[null,"a","null"]'
    assert decode_value(encode_value(('x","y', None))) == ('x","y', None)
