"""The simulated Admin API keeps the contract the product relies on (reference §11)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.simulator import SimOrg, Simulator, serve_http
from app.simulator.demo import DEMO_ADMIN_KEY, demo_simulator
from app.simulator.pricing import estimate_usd, price_for
from app.simulator.world import USAGE_COUNTS, USAGE_DIMENSIONS
from tests.simulator.helpers import TODAY, at, client_for, error_of, walk

ADMIN_KEY_SHAPE = re.compile(r"sk-ant-admin01-[A-Za-z0-9_\-]{93}AA")
TOKEN_TYPES = {
    "uncached_input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
}


@pytest.fixture
def simulator() -> Simulator:
    sim = Simulator(today=TODAY, history_days=200)
    sim.add_org(name="Acme Corp", seed=11)
    sim.add_org(name="Globex", seed=22)
    return sim


@pytest.fixture
def org(simulator: Simulator) -> SimOrg:
    return next(iter(simulator.orgs.values()))


@pytest.fixture
def client(simulator: Simulator, org: SimOrg) -> Iterator[httpx.Client]:
    with client_for(simulator, org.admin_key) as http:
        yield http


# --- identity, determinism, auth ----------------------------------------------------------------


def test_me_names_the_organization_of_the_key(client: httpx.Client, org: SimOrg) -> None:
    response = client.get("/v1/organizations/me")
    assert response.json() == {"id": org.id, "type": "organization", "name": "Acme Corp"}
    assert response.headers["anthropic-organization-id"] == org.id
    assert response.headers["request-id"].startswith("req_")


def test_same_seeds_give_the_same_organization_and_data() -> None:
    first, second = Simulator(today=TODAY), Simulator(today=TODAY)
    a, b = first.add_org(seed=3), second.add_org(seed=3)
    other = first.add_org(seed=4)
    assert (a.id, a.admin_key) == (b.id, b.admin_key)
    assert ADMIN_KEY_SHAPE.fullmatch(a.admin_key)
    assert len({a.id, other.id}) == 2 and a.admin_key != other.admin_key
    window = (TODAY - timedelta(days=30), TODAY + timedelta(days=1))
    assert first.truth_cost(a.id, *window) == second.truth_cost(b.id, *window)
    assert first.truth_usage(a.id, *window) != first.truth_usage(other.id, *window)
    # Without explicit seeds, the simulator's own seed decides.
    assert (
        Simulator(today=TODAY, seed=9).add_org().id == Simulator(today=TODAY, seed=9).add_org().id
    )


def test_a_200_day_organization_has_usage_and_cost_on_the_same_days_of_its_history() -> None:
    # How fast this is generated is a bench figure (bench/simulator_speed.py), not a test.
    sim = Simulator(today=TODAY, history_days=200)
    org = sim.add_org(seed=99)
    first_day = TODAY - timedelta(days=200)
    usage = sim.truth_usage(org.id, first_day - timedelta(days=5), TODAY + timedelta(days=3))
    cost = sim.truth_cost(org.id, first_day - timedelta(days=5), TODAY + timedelta(days=3))
    usage_days, cost_days = {row.date for row in usage}, {row.date for row in cost}
    # Nothing before the history or after today; about one day in seventeen has no usage.
    assert min(usage_days) >= first_day and max(usage_days) <= TODAY
    assert len(usage_days) >= 0.85 * 201
    assert cost_days == usage_days
    assert all(row.amount_cents > 0 for row in cost)


@pytest.mark.parametrize(
    ("key", "status", "error_type"),
    [
        (None, 401, "authentication_error"),
        ("sk-ant-admin01-" + "x" * 93 + "AA", 401, "authentication_error"),
        ("sk-ant-api03-" + "r" * 90 + "AA", 401, "authentication_error"),
        ("sk-ant-api01-" + "e" * 90 + "AA", 403, "permission_error"),
    ],
    ids=["missing", "unknown-admin", "regular", "enterprise"],
)
def test_wrong_keys_get_the_error_envelope_without_the_key(
    simulator: Simulator, key: str | None, status: int, error_type: str
) -> None:
    headers = {"anthropic-version": "2023-06-01"} | ({"x-api-key": key} if key else {})
    response = simulator.handler(
        httpx.Request("GET", "http://sim.test/v1/organizations/me", headers=headers)
    )
    assert response.status_code == status
    assert error_of(response) == error_type
    assert "anthropic-organization-id" not in response.headers
    if key:
        assert key not in response.text and key[:20] not in response.text


def test_regular_key_status_is_configurable(simulator: Simulator) -> None:
    simulator.regular_key_status = 403
    response = simulator.handler(
        httpx.Request(
            "GET",
            "http://sim.test/v1/organizations/cost_report",
            headers={"x-api-key": "sk-ant-api03-abc", "anthropic-version": "2023-06-01"},
        )
    )
    assert response.status_code == 403 and error_of(response) == "permission_error"


def test_rejected_key_missing_version_and_unknown_route(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    no_version = client.get("/v1/organizations/me", headers={"anthropic-version": ""})
    assert no_version.status_code == 400 and error_of(no_version) == "invalid_request_error"
    unknown = client.get("/v1/organizations/nothing_here")
    assert unknown.status_code == 404 and error_of(unknown) == "not_found_error"
    assert client.get("/v1/organizations/workspaces/x/members").status_code == 404

    simulator.reject_key(org.id)
    revoked = client.get("/v1/organizations/me")
    assert revoked.status_code == 401 and error_of(revoked) == "authentication_error"
    assert org.admin_key not in revoked.text


# --- list endpoints -----------------------------------------------------------------------------


def test_workspaces_hide_the_archived_one_unless_asked(client: httpx.Client) -> None:
    default = client.get("/v1/organizations/workspaces").json()
    everything = client.get("/v1/organizations/workspaces?include_archived=true").json()
    assert len(default["data"]) == 4 and not default["has_more"]
    archived = [w for w in everything["data"] if w["archived_at"]]
    assert len(everything["data"]) == 5 and len(archived) == 1
    assert all(w["id"].startswith("wrkspc_") and w["id"] for w in everything["data"])
    assert "Default" not in {w["name"] for w in everything["data"]}
    # Fetched by id, an archived workspace is still there (old usage keeps its name).
    one = client.get(f"/v1/organizations/workspaces/{archived[0]['id']}")
    assert one.status_code == 200 and one.json()["name"] == "Old Pilot"


def test_list_paging_walks_every_key_once(client: httpx.Client) -> None:
    everything = client.get("/v1/organizations/api_keys", params={"limit": 1000}).json()
    keys = everything["data"]
    assert {"active", "inactive", "archived"} <= {k["status"] for k in keys}
    assert any(k["workspace_id"] is None for k in keys)  # a key of the Default workspace
    assert [k["created_at"] for k in keys] == sorted(k["created_at"] for k in keys)

    seen: list[str] = []
    after: str | None = None
    while True:
        body = client.get(
            "/v1/organizations/api_keys",
            params={"limit": 2, **({"after_id": after} if after else {})},
        ).json()
        seen += [k["id"] for k in body["data"]]
        assert (
            body["first_id"] == body["data"][0]["id"] and body["last_id"] == body["data"][-1]["id"]
        )
        if not body["has_more"]:
            break
        after = body["last_id"]
    assert seen == [k["id"] for k in keys]
    before = client.get(
        "/v1/organizations/api_keys", params={"limit": 2, "before_id": keys[-1]["id"]}
    ).json()
    assert [k["id"] for k in before["data"]] == [k["id"] for k in keys[-3:-1]]
    assert client.get(f"/v1/organizations/api_keys/{keys[0]['id']}").json() == keys[0]
    assert client.get("/v1/organizations/api_keys/apikey_nope").status_code == 404
    users = client.get("/v1/organizations/users").json()["data"]
    assert users and all(u["id"].startswith("user_") for u in users)


@pytest.mark.parametrize("limit", ["0", "1001", "ten"])
def test_list_limits_outside_1_to_1000_are_rejected(client: httpx.Client, limit: str) -> None:
    response = client.get("/v1/organizations/workspaces", params={"limit": limit})
    assert response.status_code == 400 and error_of(response) == "invalid_request_error"


# --- report paging and validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/v1/organizations/cost_report", "/v1/organizations/usage_report/messages"]
)
def test_pagination_walks_every_day_once_and_stops(client: httpx.Client, path: str) -> None:
    start = TODAY - timedelta(days=60)
    params = [("starting_at", at(start)), ("ending_at", at(TODAY)), ("limit", "7")]
    first = client.get(path, params=params).json()
    assert len(first["data"]) == 7 and first["has_more"]
    decoded = base64.b64decode(first["next_page"].removeprefix("page_")).decode()
    assert first["next_page"].startswith("page_") and decoded == at(start + timedelta(days=7))

    buckets = walk(client, path, params)
    assert [b["starting_at"] for b in buckets] == [at(start + timedelta(days=n)) for n in range(60)]
    assert all(
        b["ending_at"] == at(date.fromisoformat(b["starting_at"][:10]) + timedelta(days=1))
        for b in buckets
    )


def test_empty_days_are_buckets_with_no_results(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start = TODAY - timedelta(days=190)
    used = {row.date for row in simulator.truth_usage(org.id, start, TODAY)}
    quiet = [start + timedelta(days=n) for n in range(190) if start + timedelta(days=n) not in used]
    assert quiet, "the generator should produce some days without usage"
    day = quiet[0]
    for path in ("/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"):
        body = client.get(
            path,
            params={
                "starting_at": at(day - timedelta(days=1)),
                "ending_at": at(day + timedelta(days=2)),
            },
        ).json()
        assert [b["starting_at"] for b in body["data"]] == [
            at(day - timedelta(days=1)),
            at(day),
            at(day + timedelta(days=1)),
        ]
        assert body["data"][1]["results"] == []


@pytest.mark.parametrize(
    ("path", "width", "default", "cap"),
    [
        ("/v1/organizations/usage_report/messages", "1d", 7, 31),
        ("/v1/organizations/usage_report/messages", "1h", 24, 168),
        ("/v1/organizations/usage_report/messages", "1m", 60, 1440),
        ("/v1/organizations/cost_report", "1d", 7, 31),
    ],
)
def test_bucket_limits_default_and_cap(
    client: httpx.Client, path: str, width: str, default: int, cap: int
) -> None:
    start, end = at(TODAY - timedelta(days=40)), at(TODAY)
    base = {"starting_at": start, "ending_at": end, "bucket_width": width}
    assert len(client.get(path, params=base).json()["data"]) == default
    assert len(client.get(path, params=base | {"limit": str(cap)}).json()["data"]) == cap
    for bad in (cap + 1, 0):
        response = client.get(path, params=base | {"limit": str(bad)})
        assert response.status_code == 400 and error_of(response) == "invalid_request_error"


def test_cost_report_is_daily_only_and_groups_by_workspace_or_description(
    client: httpx.Client,
) -> None:
    params = {"starting_at": at(TODAY - timedelta(days=3)), "ending_at": at(TODAY)}
    assert (
        client.get(
            "/v1/organizations/cost_report", params=params | {"bucket_width": "1h"}
        ).status_code
        == 400
    )
    assert (
        client.get(
            "/v1/organizations/cost_report", params=params | {"group_by[]": "model"}
        ).status_code
        == 400
    )


def test_group_by_validation(client: httpx.Client) -> None:
    path = "/v1/organizations/usage_report/messages"
    start = [("starting_at", at(TODAY - timedelta(days=2)))]
    six = ["api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo"]
    too_many = client.get(path, params=start + [("group_by[]", g) for g in six])
    assert too_many.status_code == 400
    assert (
        too_many.json()["error"]["message"] == "Cannot specify more than 5 group_by[] dimensions."
    )
    assert client.get(path, params=start + [("group_by[]", "colour")]).status_code == 400
    assert client.get(path, params=start + [("group_by[]", "speed")]).status_code == 400
    fast = client.get(
        path,
        params=start + [("group_by[]", "speed")],
        headers={"anthropic-beta": "fast-mode-2026-02-01"},
    )
    assert fast.status_code == 200
    assert {r["speed"] for b in fast.json()["data"] for r in b["results"]} == {"standard"}
    five = client.get(path, params=start + [("group_by[]", g) for g in six[:5]])
    assert five.status_code == 200


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, None),
        ({"starting_at": "2026-11-01"}, None),  # a date is not an RFC 3339 timestamp
        ({"starting_at": "yesterday"}, None),
        (
            {"starting_at": at(TODAY), "ending_at": at(TODAY)},
            "Invalid date range: ending date must be after starting date",
        ),
        (
            {"starting_at": at(TODAY), "ending_at": at(TODAY - timedelta(days=1))},
            "Invalid date range: ending date must be after starting date",
        ),
        # Starting mid-day ceils to the next midnight, past this ending_at.
        (
            {"starting_at": f"{TODAY}T10:00:00Z", "ending_at": f"{TODAY}T12:00:00Z"},
            "Invalid date range: ending date must be after starting date",
        ),
        ({"starting_at": at(TODAY), "page": "page_%%%"}, None),
        ({"starting_at": at(TODAY), "bucket_width": "1w"}, None),
    ],
)
def test_bad_report_parameters_are_400(
    client: httpx.Client, params: dict[str, str], message: str | None
) -> None:
    for path in ("/v1/organizations/usage_report/messages", "/v1/organizations/cost_report"):
        response = client.get(path, params=params)
        assert response.status_code == 400, (path, params)
        assert error_of(response) == "invalid_request_error"
        if message:
            assert response.json()["error"]["message"] == message


def test_starting_at_snaps_up_and_ending_at_defaults_to_tomorrow(client: httpx.Client) -> None:
    path = "/v1/organizations/cost_report"
    mid_day = client.get(
        path, params={"starting_at": f"{TODAY - timedelta(days=3)}T05:30:00Z"}
    ).json()
    # Ceiled to the next midnight; without ending_at the report runs through today.
    assert [b["starting_at"] for b in mid_day["data"]] == [
        at(TODAY - timedelta(days=2)),
        at(TODAY - timedelta(days=1)),
        at(TODAY),
    ]
    assert not mid_day["has_more"]
    long_ago = client.get(path, params={"starting_at": at(TODAY - timedelta(days=100))}).json()
    assert len(long_ago["data"]) == 7 and not long_ago["has_more"]


# --- report contents against the ground truth -------------------------------------------------------


def test_cost_over_pages_sums_to_the_truth(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=45), TODAY + timedelta(days=1)
    truth = simulator.truth_cost(org.id, start, end)
    for groups in ([], ["workspace_id"], ["workspace_id", "description"]):
        params = [("starting_at", at(start)), ("ending_at", at(end)), ("limit", "10")]
        buckets = walk(
            client, "/v1/organizations/cost_report", params + [("group_by[]", g) for g in groups]
        )
        rows = [r for b in buckets for r in b["results"]]
        assert sum((Decimal(r["amount"]) for r in rows), Decimal(0)) == sum(
            (t.amount_cents for t in truth), Decimal(0)
        )
        if not groups:
            assert len(rows) == len({t.date for t in truth})  # one total per non-empty day


def test_cost_rows_grouped_by_workspace_and_description_are_the_truth(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=20), TODAY
    params = [
        ("starting_at", at(start)),
        ("ending_at", at(end)),
        ("limit", "31"),
        ("group_by[]", "workspace_id"),
        ("group_by[]", "description"),
    ]
    buckets = client.get("/v1/organizations/cost_report", params=params).json()["data"]
    fields = (
        "workspace_id",
        "description",
        "cost_type",
        "model",
        "token_type",
        "service_tier",
        "context_window",
        "inference_geo",
    )
    served = Counter(
        (b["starting_at"][:10], *(r[f] for f in fields), Decimal(r["amount"]))
        for b in buckets
        for r in b["results"]
    )
    truth = Counter(
        (t.date.isoformat(), *(getattr(t, f) for f in fields), t.amount_cents)
        for t in simulator.truth_cost(org.id, start, end)
    )
    assert served == truth


def test_cost_rows_have_the_documented_shape(client: httpx.Client) -> None:
    params = [
        ("starting_at", at(TODAY - timedelta(days=30))),
        ("ending_at", at(TODAY)),
        ("limit", "31"),
        ("group_by[]", "description"),
    ]
    rows = [
        r
        for b in client.get("/v1/organizations/cost_report", params=params).json()["data"]
        for r in b["results"]
    ]
    assert all(
        re.fullmatch(r"\d+(\.\d{1,6})?", r["amount"]) and r["currency"] == "USD" for r in rows
    )
    assert {r["cost_type"] for r in rows} == {"tokens", "web_search", "code_execution"}
    assert {r["token_type"] for r in rows if r["cost_type"] == "tokens"} == TOKEN_TYPES
    # Standard and batch only (reference §4.2): flex, like priority, has no cost line.
    assert {r["service_tier"] for r in rows if r["cost_type"] == "tokens"} == {
        "standard",
        "batch",
    }
    for row in rows:
        if row["cost_type"] != "tokens":
            assert (row["model"], row["token_type"], row["service_tier"]) == (None, None, None)
            assert row["description"] in ("Web Search Usage", "Code Execution Usage")
    # Fields newer than the client: it must tolerate them.
    # ``speed`` only with the fast-mode beta header (issue 16).
    assert any("unknown_future_field" in r for r in rows) and not any("speed" in r for r in rows)
    assert "claude-nimbus-7-preview" in {r["model"] for r in rows}
    ungrouped = client.get("/v1/organizations/cost_report", params=params[:3]).json()["data"]
    assert all(
        r["description"] is None and r["model"] is None and r["workspace_id"] is None
        for b in ungrouped
        for r in b["results"]
    )


def test_token_costs_reconcile_with_usage_through_the_price_table(
    simulator: Simulator, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=30), TODAY
    estimated: dict[str, Decimal] = defaultdict(Decimal)
    for row in simulator.truth_usage(org.id, start, end):
        if price_for(row.model) is None or row.service_tier not in ("standard", "batch"):
            continue
        usd = estimate_usd(
            row.model,
            **{n: getattr(row, n) for n in USAGE_COUNTS if n != "web_search_requests"},
            service_tier=row.service_tier,
            inference_geo=row.inference_geo,
            context_window=row.context_window,
        )
        assert usd is not None
        estimated[row.model] += usd * 100
    billed: dict[str, Decimal] = defaultdict(Decimal)
    rows = simulator.truth_cost(org.id, start, end)
    for cost in rows:
        known = price_for(cost.model) is not None
        if known and cost.cost_type == "tokens" and cost.service_tier in ("standard", "batch"):
            billed[str(cost.model)] += cost.amount_cents
    assert set(billed) == set(estimated) and len(billed) >= 4
    for model, cents in billed.items():
        # Each billed row is rounded to a millionth of a cent.
        assert abs(cents - estimated[model]) <= Decimal("0.000001") * len(rows)
    assert not any(c.service_tier == "priority" for c in rows)


def test_usage_grouped_by_model_equals_the_truth(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=40), TODAY + timedelta(days=1)
    params = [
        ("starting_at", at(start)),
        ("ending_at", at(end)),
        ("limit", "31"),
        ("group_by[]", "model"),
    ]
    served: dict[tuple[str, str], tuple[int, ...]] = {}
    for bucket in walk(client, "/v1/organizations/usage_report/messages", params):
        for row in bucket["results"]:
            assert row["api_key_id"] is None and row["workspace_id"] is None
            assert "cache_creation_input_tokens" not in row
            served[(bucket["starting_at"][:10], row["model"])] = (
                row["uncached_input_tokens"],
                row["cache_creation"]["ephemeral_5m_input_tokens"],
                row["cache_creation"]["ephemeral_1h_input_tokens"],
                row["cache_read_input_tokens"],
                row["output_tokens"],
                row["server_tool_use"]["web_search_requests"],
            )
    truth: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0] * 6)
    for t in simulator.truth_usage(org.id, start, end):
        acc = truth[(t.date.isoformat(), t.model)]
        for i, name in enumerate(USAGE_COUNTS):
            acc[i] += getattr(t, name)
    assert served == {k: tuple(v) for k, v in truth.items()}
    assert all(isinstance(v, int) for counts in served.values() for v in counts)


def test_usage_without_group_by_is_one_row_per_day_with_null_dimensions(
    client: httpx.Client,
) -> None:
    body = client.get(
        "/v1/organizations/usage_report/messages",
        params={
            "starting_at": at(TODAY - timedelta(days=10)),
            "ending_at": at(TODAY),
            "limit": "31",
        },
    ).json()
    for bucket in body["data"]:
        assert len(bucket["results"]) <= 1
        for row in bucket["results"]:
            assert all(row[d] is None for d in USAGE_DIMENSIONS)


def test_usage_has_the_awkward_values_the_product_must_handle(
    simulator: Simulator, org: SimOrg
) -> None:
    rows = simulator.truth_usage(org.id, TODAY - timedelta(days=200), TODAY + timedelta(days=1))
    assert any(r.api_key_id is None for r in rows)  # Workbench
    assert any(r.workspace_id is None for r in rows)  # Default workspace
    assert {r.service_tier for r in rows} == {"standard", "batch", "priority", "flex"}
    assert {
        "claude-opus-4-6",
        "claude-sonnet-4-5-20250929",
        "claude-haiku-4-5-20251001",
        "claude-3-5-haiku-20241022",
        "claude-nimbus-7-preview",
    } <= {r.model for r in rows}
    assert {r.context_window for r in rows if r.model == "claude-sonnet-4-5-20250929"} == {
        "0-200k",
        "200k-1M",
    }
    assert {r.inference_geo for r in rows if r.model == "claude-3-5-haiku-20241022"} == {
        "not_available"
    }
    assert any(r.web_search_requests for r in rows)
    assert max(r.date for r in rows) == TODAY
    per_day = Counter(r.date for r in rows)
    assert 10 <= sum(per_day.values()) / len(per_day) <= 25


def test_usage_filters_apply_before_grouping(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=14), TODAY
    workspace = next(w.id for w in org.workspaces if w.archived_at is None)
    params = [
        ("starting_at", at(start)),
        ("ending_at", at(end)),
        ("limit", "31"),
        ("models[]", "claude-sonnet-4-5-20250929"),
        ("context_window[]", "200k-1M"),
        ("workspace_ids[]", workspace),
        ("group_by[]", "api_key_id"),
    ]
    body = client.get("/v1/organizations/usage_report/messages", params=params).json()
    served = sum(r["output_tokens"] for b in body["data"] for r in b["results"])
    expected = sum(
        t.output_tokens
        for t in simulator.truth_usage(org.id, start, end)
        if t.model == "claude-sonnet-4-5-20250929"
        and t.context_window == "200k-1M"
        and t.workspace_id == workspace
    )
    assert served == expected


def test_hourly_buckets_add_up_to_the_day(client: httpx.Client) -> None:
    day = TODAY - timedelta(days=5)
    path = "/v1/organizations/usage_report/messages"
    daily = client.get(
        path, params={"starting_at": at(day), "ending_at": at(day + timedelta(days=1))}
    ).json()
    hourly = client.get(
        path,
        params={
            "starting_at": at(day),
            "ending_at": at(day + timedelta(days=1)),
            "bucket_width": "1h",
        },
    ).json()
    assert len(hourly["data"]) == 24 and hourly["data"][1]["starting_at"] == f"{day}T01:00:00Z"
    total = sum(r["output_tokens"] for b in hourly["data"] for r in b["results"])
    assert total == sum(r["output_tokens"] for r in daily["data"][0]["results"])


# --- revisions -----------------------------------------------------------------------------------


def test_revise_changes_only_the_last_days(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    start, end = TODAY - timedelta(days=30), TODAY + timedelta(days=1)
    recent = TODAY - timedelta(days=1)
    usage_before = simulator.truth_usage(org.id, start, end)
    cost_before = simulator.truth_cost(org.id, start, end)
    other = next(o for o in simulator.orgs.values() if o.id != org.id)
    other_before = simulator.truth_cost(other.id, start, end)

    simulator.revise(org.id, days=2)

    usage_after = simulator.truth_usage(org.id, start, end)
    assert [r for r in usage_after if r.date < recent] == [
        r for r in usage_before if r.date < recent
    ]
    assert [r for r in simulator.truth_cost(org.id, start, end) if r.date < recent] == [
        r for r in cost_before if r.date < recent
    ]
    assert simulator.truth_cost(other.id, start, end) == other_before

    def dims(rows: list[Any]) -> set[tuple[Any, ...]]:
        return {(r.date, *(getattr(r, d) for d in USAGE_DIMENSIONS)) for r in rows}

    assert dims(usage_before) - dims(usage_after), "some rows disappear"
    assert dims(usage_after) - dims(usage_before), "new rows appear"
    changed = {(r.date, *(getattr(r, d) for d in USAGE_DIMENSIONS)): r for r in usage_after}
    assert any(
        changed.get((r.date, *(getattr(r, d) for d in USAGE_DIMENSIONS))) not in (None, r)
        for r in usage_before
    ), "some rows change their amounts"

    # The API serves the revised data, and the revision itself is deterministic.
    body = client.get(
        "/v1/organizations/cost_report", params={"starting_at": at(TODAY), "ending_at": at(end)}
    ).json()
    assert Decimal(body["data"][0]["results"][0]["amount"]) == sum(
        (r.amount_cents for r in simulator.truth_cost(org.id, TODAY, end)), Decimal(0)
    )
    twin = Simulator(today=TODAY, history_days=200)
    twin_org = twin.add_org(name="Acme Corp", seed=11)
    twin.revise(twin_org.id, days=2)
    assert twin.truth_usage(twin_org.id, start, end) == usage_after


# --- faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error_type"),
    [
        ("429", "rate_limit_error"),
        ("500", "api_error"),
        ("502", "api_error"),
        ("503", "api_error"),
        ("504", "timeout_error"),
        ("529", "overloaded_error"),
    ],
)
def test_status_faults_hit_the_next_matching_requests_only(
    simulator: Simulator, client: httpx.Client, kind: str, error_type: str
) -> None:
    simulator.inject(kind, route="cost_report", count=2, retry_after=3 if kind == "429" else None)
    params = {"starting_at": at(TODAY - timedelta(days=2))}
    assert client.get("/v1/organizations/me").status_code == 200  # another route is untouched
    for _ in range(2):
        response = client.get("/v1/organizations/cost_report", params=params)
        assert response.status_code == int(kind) and error_of(response) == error_type
        assert response.headers.get("retry-after") == ("3" if kind == "429" else None)
    assert client.get("/v1/organizations/cost_report", params=params).status_code == 200


def test_retry_after_may_be_an_http_date_sent_verbatim(
    simulator: Simulator, client: httpx.Client
) -> None:
    stamp = "Wed, 21 Oct 2026 07:28:00 GMT"
    simulator.inject("429", retry_after=stamp)
    response = client.get("/v1/organizations/workspaces")
    assert response.status_code == 429 and response.headers["retry-after"] == stamp
    simulator.inject("429", retry_after=None)
    assert "retry-after" not in client.get("/v1/organizations/workspaces").headers


def test_truncated_body_behind_a_200(simulator: Simulator, client: httpx.Client) -> None:
    simulator.inject("truncated", route="usage_report")
    response = client.get(
        "/v1/organizations/usage_report/messages", params={"starting_at": at(TODAY)}
    )
    assert response.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(response.content)


def test_repeat_cursor_hands_back_the_cursor_it_was_given(
    simulator: Simulator, client: httpx.Client
) -> None:
    path = "/v1/organizations/cost_report"
    params = [
        ("starting_at", at(TODAY - timedelta(days=20))),
        ("ending_at", at(TODAY)),
        ("limit", "5"),
    ]
    cursor = client.get(path, params=params).json()["next_page"]
    simulator.inject("repeat_cursor", route="cost_report")
    again = client.get(path, params=params + [("page", cursor)]).json()
    assert again["has_more"] and again["next_page"] == cursor

    # On the first page: a cursor that, followed after the fault is spent, loops to itself.
    simulator.inject("repeat_cursor", route="cost_report")
    first = client.get(path, params=params).json()
    assert first["has_more"]
    followed = client.get(path, params=params + [("page", first["next_page"])]).json()
    assert followed["has_more"] and followed["next_page"] == first["next_page"]


def test_missing_cursor_says_more_without_a_cursor(
    simulator: Simulator, client: httpx.Client
) -> None:
    simulator.inject("missing_cursor", route="usage_report")
    body = client.get(
        "/v1/organizations/usage_report/messages",
        params={"starting_at": at(TODAY - timedelta(days=1))},
    ).json()
    assert body["has_more"] is True and body["next_page"] is None


def test_unknown_fault_kinds_and_routes_are_refused(simulator: Simulator) -> None:
    with pytest.raises(ValueError):
        simulator.inject("418")
    with pytest.raises(ValueError):
        simulator.inject("500", route="usage")


def test_requests_are_recorded_without_the_key(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    simulator.reset_requests()
    client.get("/v1/organizations/me")
    client.get(
        "/v1/organizations/cost_report",
        params=[("starting_at", at(TODAY)), ("group_by[]", "description")],
    )
    client.get("/v1/organizations/me", headers={"x-api-key": "sk-ant-api03-zzz"})
    assert [(r.route, r.method, r.status) for r in simulator.requests] == [
        ("me", "GET", 200),
        ("cost_report", "GET", 200),
        ("me", "GET", 401),
    ]
    assert simulator.requests[1].params == [
        ("starting_at", at(TODAY)),
        ("group_by[]", "description"),
    ]
    assert org.admin_key not in repr(simulator.requests)
    simulator.reset_requests()
    assert simulator.requests == []


# --- real HTTP, demo, command line ----------------------------------------------------------------


@pytest.mark.slow
def test_serve_http_answers_concurrent_requests_over_loopback(
    simulator: Simulator, org: SimOrg
) -> None:
    simulator.latency = 0.3
    statuses: list[int] = []
    headers = {"x-api-key": org.admin_key, "anthropic-version": "2023-06-01"}
    with serve_http(simulator) as server:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.base_url)

        def fetch() -> None:
            with httpx.Client(base_url=server.base_url, headers=headers) as http:
                statuses.append(http.get("/v1/organizations/me").status_code)

        started = time.perf_counter()
        threads = [threading.Thread(target=fetch) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        with httpx.Client(base_url=server.base_url, headers=headers) as http:
            simulator.latency = 0.0
            cost = http.get(
                "/v1/organizations/cost_report",
                params={"starting_at": at(TODAY - timedelta(days=3))},
            )
            assert cost.status_code == 200 and len(cost.json()["data"]) == 4
            assert cost.headers["anthropic-organization-id"] == org.id
            assert http.get("/v1/organizations/me", headers={"x-api-key": ""}).status_code == 401
    assert statuses == [200] * 8
    assert elapsed < 8 * 0.3 / 2  # served in parallel, not one after another
    with pytest.raises(httpx.TransportError):
        httpx.get(server.base_url + "/v1/organizations/me", headers=headers, timeout=2)


def test_demo_simulator_is_the_same_every_time() -> None:
    assert ADMIN_KEY_SHAPE.fullmatch(DEMO_ADMIN_KEY) and "demo" in DEMO_ADMIN_KEY
    first, second = demo_simulator(TODAY), demo_simulator(TODAY)
    (a,), (b,) = first.orgs.values(), second.orgs.values()
    assert (a.id, a.name, a.admin_key) == (b.id, "Demo Org (simulated)", DEMO_ADMIN_KEY)
    window = (TODAY - timedelta(days=60), TODAY + timedelta(days=1))
    assert first.truth_cost(a.id, *window) == second.truth_cost(b.id, *window)
    response = first.handler(
        httpx.Request(
            "GET",
            "http://demo/v1/organizations/me",
            headers={"x-api-key": DEMO_ADMIN_KEY, "anthropic-version": "2023-06-01"},
        )
    )
    assert response.json()["name"] == "Demo Org (simulated)"


@pytest.mark.slow
def test_command_line_serves_and_prints_each_organization() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "app.simulator", "--port", "0", "--orgs", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(7)]
        base_url = re.search(r"http://127\.0\.0\.1:\d+", lines[0])
        keys = [line.split("key: ")[1].strip() for line in lines if "key: " in line]
        ids = [line.split("id: ")[1].strip() for line in lines if "id: " in line]
        assert base_url and len(keys) == 2 and len(ids) == 2
        assert {"Acme Corp", "Globex"} == {lines[1].strip(), lines[4].strip()}
        me = httpx.get(
            base_url.group(0) + "/v1/organizations/me",
            headers={"x-api-key": keys[1], "anthropic-version": "2023-06-01"},
            timeout=5,
        )
        assert me.json()["id"] == ids[1] and all(ADMIN_KEY_SHAPE.fullmatch(k) for k in keys)
    finally:
        process.terminate()
        process.wait(timeout=10)
