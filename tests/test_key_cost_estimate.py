"""Per-key cost estimated where the organization's key may not read it (issue 16 point 1): the
workspace's billed cost divided by its keys' tokens at list price. It adds up to the cost
report per workspace-day exactly; each key's part follows its list-price share; it follows
restated days; it goes once the key may read billed per-key cost; and it is labelled an
estimate where it is shown. SQLite and Postgres."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import Engine, func, select

from app.commands.key_estimates import COLUMNS as ESTIMATE_COLUMNS
from app.db import read_session
from app.models import ApiKey, CostLine, KeyCost, KeyCostEstimate, KeyEstimateMark, UsageBucket
from app.reports.filters import Filters
from app.reports.key_costs import BILLED, ESTIMATE, NO_COST, key_costs
from app.reports.labels import ESTIMATE_SUFFIX, ESTIMATED_TOKEN_TYPES
from app.reports.list_prices import list_micro_cents
from app.reports.spend import has_key_cost, spend_by_day, total_cents
from app.settings import Settings
from app.simulator import Simulator
from app.store.key_estimate import estimate, estimate_days
from tests.test_key_cost_sync import _sum_by_workspace_day, _synced
from tests.utils.factories import sync_engine
from tests.utils.processes import finops


def _refused(sim: Simulator, engine: Engine, settings: Settings) -> int:
    sim.key_cost.refuse = 403
    _org_id, pk = _synced(sim, engine, settings)
    return pk


def _rows(engine: Engine, pk: int) -> list[KeyCostEstimate]:
    with read_session(engine) as session:
        return list(
            session.execute(
                select(KeyCostEstimate).where(KeyCostEstimate.organization_pk == pk)
            ).scalars()
        )


def test_the_estimate_adds_up_to_the_bill_per_workspace_day(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    pk = _refused(sim, engine, settings)
    assert estimate(engine) > 0
    billed = _sum_by_workspace_day(engine, CostLine, "amount_cents", pk)
    assert _sum_by_workspace_day(engine, KeyCostEstimate, "amount_cents", pk) == billed
    rows = _rows(engine, pk)
    keys = {r.api_key_id for r in rows}
    with read_session(engine) as session:
        used = set(session.execute(select(UsageBucket.api_key_id).distinct()).scalars())
        # Billed per-key cost stays empty: the estimate is kept apart from it.
        assert session.execute(select(func.count()).select_from(KeyCost)).scalar_one() == 0
    assert keys - {None} and keys <= used | {None}
    # Nothing more to do until a sync writes rows again.
    assert estimate(engine) == 0


def test_each_key_gets_its_share_of_list_price(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    pk = _refused(sim, engine, settings)
    estimate(engine)
    # Each grain with two or more keys: each key's part is the bill times its share of the
    # grain's tokens at list price, to within the one remainder unit.
    with read_session(engine) as session:
        usage = session.execute(
            select(UsageBucket).where(UsageBucket.organization_pk == pk)
        ).scalars()
        weights: dict[tuple, dict] = defaultdict(lambda: defaultdict(int))
        for u in usage:
            units = list_micro_cents(
                u.model,
                service_tier=u.service_tier,
                inference_geo=u.inference_geo,
                context_window=u.context_window,
                uncached=u.uncached_input_tokens,
                cache_write_5m=u.cache_creation_5m_input_tokens,
                cache_write_1h=u.cache_creation_1h_input_tokens,
                cache_read=u.cache_read_input_tokens,
                output=u.output_tokens,
            )
            if units:
                weights[(u.date, u.workspace_id, u.model, u.service_tier)][u.api_key_id] += units
    rows = [r for r in _rows(engine, pk) if r.list_amount_cents is not None]
    by_grain: dict[tuple, list[KeyCostEstimate]] = defaultdict(list)
    for r in rows:
        by_grain[(r.date, r.workspace_id, r.model, r.service_tier, r.cost_type)].append(r)
    checked = 0
    for (day, workspace, model, tier, _), parts in by_grain.items():
        shares = weights[(day, workspace, model, tier)]
        if len(parts) < 2:
            continue
        bill = sum(p.amount_cents for p in parts)
        total = sum(shares.values())
        for p in parts:
            assert p.list_amount_cents == Decimal(shares[p.api_key_id]).scaleb(-6)
            expected = bill * shares[p.api_key_id] / total
            assert abs(p.amount_cents - expected) <= Decimal("0.000001")
            checked += 1
    assert checked >= 2


def test_a_restated_day_is_estimated_again_and_matches_a_fresh_estimate(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.key_cost.refuse = 403
    org_id, pk = _synced(sim, engine, settings)
    estimate(engine)
    before = _sum_by_workspace_day(engine, KeyCostEstimate, "amount_cents", pk)
    sim.revise(org_id, days=3)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    assert 1 <= estimate(engine) <= 31  # the trailing window's days, not all of them
    billed = _sum_by_workspace_day(engine, CostLine, "amount_cents", pk)
    after = _sum_by_workspace_day(engine, KeyCostEstimate, "amount_cents", pk)
    assert after == billed and after != before
    with read_session(engine) as session:
        days = sorted(set(session.execute(select(CostLine.date).distinct()).scalars()))
        fresh = sorted(
            (r.date, r.workspace_id or "", r.api_key_id or "", r.model or "", r.amount_cents)
            for r in estimate_days(session, pk, days)
        )
    stored = sorted(
        (r.date, r.workspace_id or "", r.api_key_id or "", r.model or "", r.amount_cents)
        for r in _rows(engine, pk)
    )
    assert stored == fresh


def test_the_estimate_goes_once_the_key_may_read_per_key_cost(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    pk = _refused(sim, engine, settings)
    estimate(engine)
    assert _rows(engine, pk)
    sim.key_cost.refuse = None
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    estimate(engine)
    assert not _rows(engine, pk)
    with read_session(engine) as session:
        assert session.get(KeyEstimateMark, pk) is None


def test_spend_by_api_key_shows_the_estimate_labelled(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    pk = _refused(sim, engine, settings)
    estimate(engine)
    assert has_key_cost(engine)  # Spend offers the group
    with read_session(engine) as session:
        first, last = session.execute(
            select(func.min(CostLine.date), func.max(CostLine.date))
        ).one()
    f = Filters(first, last + timedelta(days=1))
    for group in ("api_key", "actor"):
        rows = spend_by_day(engine, f, group)
        assert rows and all(label.endswith(ESTIMATE_SUFFIX) for _, label, _ in rows)
        assert sum(c for _, _, c in rows) == total_cents(engine, f)
    # An estimated key is its own actor, named as the key.
    with read_session(engine) as session:
        names = set(
            session.execute(select(ApiKey.name).where(ApiKey.organization_pk == pk)).scalars()
        )
        key = session.execute(
            select(KeyCostEstimate.api_key_id)
            .where(KeyCostEstimate.api_key_id.is_not(None))  # type: ignore[union-attr]
            .limit(1)
        ).scalar_one()
    actors = {
        label.removesuffix(ESTIMATE_SUFFIX) for _, label, _ in spend_by_day(engine, f, "actor")
    }
    assert names & actors, (names, actors)
    # Its token cost has no token type (the estimate divides cost rows): "All token types".
    by_type = spend_by_day(engine, replace(f, api_keys=(key,)), "token_type")
    labels = {label for _, label, _ in by_type}
    assert f"{ESTIMATED_TOKEN_TYPES}{ESTIMATE_SUFFIX}" in labels, labels
    assert not any("no token type" in label for label in labels), labels


def test_usage_by_key_shows_each_keys_cost_and_says_it_is_an_estimate(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    pk = _refused(sim, engine, settings)
    with read_session(engine) as session:
        first, last = session.execute(
            select(func.min(CostLine.date), func.max(CostLine.date))
        ).one()
        tokens = session.execute(
            select(
                func.sum(
                    UsageBucket.uncached_input_tokens
                    + UsageBucket.cache_creation_5m_input_tokens
                    + UsageBucket.cache_creation_1h_input_tokens
                    + UsageBucket.cache_read_input_tokens
                    + UsageBucket.output_tokens
                )
            ).where(UsageBucket.organization_pk == pk)
        ).scalar_one()
    f = Filters(first, last + timedelta(days=1))
    # Before the estimate: tokens per key, and no cost to show.
    before = key_costs(engine, f)
    assert set(before["cost_source"]) == {NO_COST} and before["cost_usd"].isna().all()
    estimate(engine)
    table = key_costs(engine, f)
    assert set(table["cost_source"]) == {ESTIMATE}
    assert int(table["tokens"].sum()) == tokens
    assert round(Decimal(str(table["cost_usd"].sum())), 2) == round(total_cents(engine, f) / 100, 2)
    # Largest cost first, and a key's rate is its cost over its tokens.
    assert list(table["cost_usd"]) == sorted(table["cost_usd"], reverse=True)
    top = table.iloc[0]
    assert top["usd_per_million_tokens"] == top["cost_usd"] * 1_000_000 / top["tokens"]


def test_usage_by_key_shows_billed_per_key_cost_where_the_key_may_read_it(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    _synced(sim, engine, settings)
    estimate(engine)  # nothing to estimate
    with read_session(engine) as session:
        first, last = session.execute(select(func.min(KeyCost.date), func.max(KeyCost.date))).one()
        billed = session.execute(select(func.sum(KeyCost.amount_cents))).scalar_one()
    table = key_costs(engine, Filters(first, last + timedelta(days=1)))
    assert set(table["cost_source"]) == {BILLED}
    assert round(Decimal(str(table["cost_usd"].sum())), 2) == round(billed / 100, 2)


def test_finops_sync_then_export_of_the_estimate_over_http(
    http_sim: Simulator, tmp_path: Path
) -> None:
    """`finops connect` and `finops sync` of an organization whose key the per-key endpoint
    refuses: `finops export --dataset key_cost_estimate` holds the estimate (adding up to the
    cost export per workspace-day), `--dataset key_cost` nothing (it is billed cost only)."""
    http_sim.key_cost.refuse = 403
    org = next(iter(http_sim.orgs.values()))
    assert finops("connect", env={"FINOPS_ADMIN_KEY": org.admin_key}).returncode == 0
    assert finops("sync").returncode == 0
    start, end = http_sim.today - timedelta(days=6), http_sim.today - timedelta(days=2)
    span = ["--org", org.id, "--start", start.isoformat(), "--end", end.isoformat()]
    target = tmp_path / "estimate.csv"
    done = finops("export", "--dataset", "key_cost_estimate", *span, "-o", str(target))
    assert done.returncode == 0, done.stderr
    text = target.read_text()
    assert text.splitlines()[0].split(",") == list(ESTIMATE_COLUMNS)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["api_key_id"] for r in rows} - {""}
    cost = list(csv.DictReader(io.StringIO(finops("export", "--dataset", "cost", *span).stdout)))
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in rows:
        totals[(r["date"], r["workspace_id"])] += Decimal(r["amount_usd"])
    billed: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for r in cost:
        billed[(r["date"], r["workspace_id"])] += Decimal(r["amount_usd"])
    assert totals == {k: v for k, v in billed.items() if v}
    keyed = finops("export", "--dataset", "key_cost", *span).stdout
    assert len(keyed.splitlines()) == 1  # the header: no billed per-key cost
