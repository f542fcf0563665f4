"""The simulator's Usage and Cost Analytics API (beta) for Console keys: its rules (beta
header, the 2026-01-01 floor and 365-day window, the group object), per-key cost that adds up
to the cost report, and usage by key that adds up to the usage report."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from app.settings import Settings
from app.simulator import Simulator
from app.simulator.usage_cost_analytics import COST_GROUPS
from tests.utils.factories import connect_org, org_pk, sync_engine

BETA = "analytics-usage-cost-2026-08-24"


@pytest.fixture
def world() -> tuple[Simulator, httpx.Client]:
    sim = Simulator(history_days=60)
    org = sim.add_org(name="Acme", seed=11)
    headers = {"x-api-key": org.admin_key, "anthropic-version": "2023-06-01"}
    client = httpx.Client(transport=sim.transport(), base_url="http://sim", headers=headers)
    return sim, client


def _at(sim: Simulator, days_ago: int) -> str:
    return f"{sim.today - timedelta(days=days_ago)}T00:00:00Z"


def _all(client: httpx.Client, path: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    page: str | None = None
    while True:
        query = params + ([("page", page)] if page else [])
        body = client.get(path, params=query, headers={"anthropic-beta": BETA}).json()
        rows += body["data"]
        page = body.get("next_page")
        if not page:
            return rows


def test_the_rules_of_the_endpoint(world: tuple[Simulator, httpx.Client]) -> None:
    sim, client = world
    path = "/v1/organizations/analytics/cost"
    params = {"starting_at": _at(sim, 5), "ending_at": _at(sim, 2)}
    assert client.get(path, params=params).status_code == 400  # no beta header
    beta = {"anthropic-beta": BETA}
    assert (
        client.get(path, params={"starting_at": "2025-12-31T00:00:00Z"}, headers=beta).status_code
        == 400
    )
    assert client.get(path, params={"starting_at": _at(sim, 400)}, headers=beta).status_code == 400
    too_long = {"starting_at": _at(sim, 40), "ending_at": _at(sim, 1)}
    assert client.get(path, params=too_long, headers=beta).status_code == 400
    body = client.get(
        path, params={**params, "time_bucket_width": "1d", "group_by[]": "model"}, headers=beta
    ).json()
    assert body["data"] and "data_refreshed_at" in body
    for row in body["data"]:
        assert set(row["group"]) == set(COST_GROUPS)  # every dimension, null unless grouped
        assert all(v is None for k, v in row["group"].items() if k != "model")
        assert isinstance(row["cost"]["amount"], str) and row["cost"]["currency"] == "USD"
        assert row["cost"]["requests"] is not None  # not split by cost or token type
    sim.key_cost.refuse = 400
    refused = client.get(path, params=params, headers=beta)
    assert refused.status_code == 400 and BETA in refused.text


def test_cost_by_key_adds_up_to_the_cost_report(world: tuple[Simulator, httpx.Client]) -> None:
    sim, client = world
    org_id = next(iter(sim.orgs))
    params = [
        ("starting_at", _at(sim, 10)),
        ("ending_at", _at(sim, 3)),
        ("time_bucket_width", "1d"),
        ("group_by[]", "api_key_id"),
        ("group_by[]", "token_type"),
        ("limit", "7"),
    ]
    rows = _all(client, "/v1/organizations/analytics/cost", params)
    by_day: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        by_day[row["starting_at"][:10]] += Decimal(row["cost"]["amount"])
        assert row["cost"]["requests"] is None  # grouped by token type
    truth: dict[str, Decimal] = defaultdict(Decimal)
    for line in sim.truth_cost(
        org_id, sim.today - timedelta(days=10), sim.today - timedelta(days=3)
    ):
        truth[line.date.isoformat()] += line.amount_cents
    assert by_day == {d: v for d, v in truth.items() if v}


def test_usage_by_key_adds_up_to_the_usage_report(world: tuple[Simulator, httpx.Client]) -> None:
    sim, client = world
    org_id = next(iter(sim.orgs))
    params = [
        ("starting_at", _at(sim, 8)),
        ("ending_at", _at(sim, 1)),
        ("time_bucket_width", "1d"),
        ("group_by[]", "api_key_id"),
        ("group_by[]", "actor"),
    ]
    rows = _all(client, "/v1/organizations/analytics/usage", params)
    served: dict[tuple[str, Any], int] = defaultdict(int)
    for row in rows:
        usage = row["usage"]
        assert usage["total_tokens"] == (
            usage["uncached_input_tokens"]
            + usage["cache_read_input_tokens"]
            + usage["output_tokens"]
            + sum(usage["cache_creation"].values())
        )
        served[(row["starting_at"][:10], row["group"]["api_key_id"])] += usage["output_tokens"]
        actor = row["group"]["actor"]
        if row["group"]["api_key_id"] is None:
            assert actor is None
        else:
            assert actor["type"] in ("user_actor", "service_account_actor", "api_key_actor")
    truth: dict[tuple[str, Any], int] = defaultdict(int)
    for r in sim.truth_usage(org_id, sim.today - timedelta(days=8), sim.today - timedelta(days=1)):
        truth[(r.date.isoformat(), r.api_key_id)] += r.output_tokens
    assert served == {k: v for k, v in truth.items() if v}


def test_a_5xx_on_the_analytics_endpoint_is_retried(
    sim: Simulator, engine: Engine, settings: Settings
) -> None:
    sim.inject("503", route="analytics_cost", count=2, retry_after=0)
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    result = sync_engine(sim, engine, settings).run(org_pk(engine, org.id))
    assert result.outcome == "ok" and not result.notes
    statuses = [r.status for r in sim.requests if r.route == "analytics_cost"]
    assert statuses[:2] == [503, 503] and set(statuses[2:]) == {200}
