"""The simulated Claude Code analytics endpoint of Console organizations (reference §6)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import httpx
import pytest

from app.simulator import SimOrg, Simulator
from tests.simulator.helpers import TODAY, client_for

PATH = "/v1/organizations/usage_report/claude_code"
KNOWN_TOOLS = {"edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool"}


@pytest.fixture
def simulator() -> Simulator:
    sim = Simulator(today=TODAY, history_days=120)
    sim.add_org(name="Acme Corp", seed=11)
    sim.add_enterprise_org(seed=5)
    return sim


@pytest.fixture
def org(simulator: Simulator) -> SimOrg:
    return next(iter(simulator.orgs.values()))


@pytest.fixture
def client(simulator: Simulator, org: SimOrg) -> Iterator[httpx.Client]:
    with client_for(simulator, org.admin_key) as http:
        yield http


def walk(client: httpx.Client, day: date, limit: int | None) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        params = [("starting_at", day.isoformat())]
        params += [("limit", str(limit))] if limit is not None else []
        params += [("page", cursor)] if cursor else []
        response = client.get(PATH, params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"data", "has_more", "next_page"}
        assert len(body["data"]) <= (limit or 20)
        records += body["data"]
        if not body["has_more"]:
            assert body["next_page"] is None
            return records
        assert len(body["data"]) == (limit or 20)
        assert body["next_page"].startswith("page_") and body["next_page"] != cursor
        cursor = body["next_page"]
    raise AssertionError("pagination did not stop")


def busy_day(simulator: Simulator, org: SimOrg) -> date:
    """A recent day with many records (so paging has something to page)."""
    days = [TODAY - timedelta(days=n) for n in range(1, 40)]
    return max(days, key=lambda d: (len(simulator.truth_claude_code(org.id, d)), d))


def test_records_round_trip_and_page_with_any_limit(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    day = busy_day(simulator, org)
    truth = simulator.truth_claude_code(org.id, day)
    assert len(truth) > 20
    for limit in (None, 1, 3, 7, 20, 999, 1000):
        assert walk(client, day, limit) == truth, limit
    # The facade hands out copies: mutating them changes nothing served.
    truth[0]["actor"] = {}
    assert walk(client, day, 1000)[0]["actor"] != {}


def test_record_shape(simulator: Simulator, org: SimOrg) -> None:
    start = TODAY - timedelta(days=60)
    records = [
        r for n in range(61) for r in simulator.truth_claude_code(org.id, start + timedelta(n))
    ]
    assert records
    for r in records:
        assert set(r) == {
            "date",
            "actor",
            "organization_id",
            "customer_type",
            "subscription_type",
            "terminal_type",
            "is_remote",
            "core_metrics",
            "tool_actions",
            "model_breakdown",
        }
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", r["date"])
        assert r["organization_id"] == org.id
        actor = r["actor"]
        if actor["type"] == "user_actor":
            assert set(actor) == {"type", "email_address"} and "@" in actor["email_address"]
        else:
            assert actor["type"] == "api_actor" and set(actor) == {"type", "api_key_name"}
            assert r["customer_type"] == "api" and not r["is_remote"]
        assert r["customer_type"] in ("api", "subscription")
        if r["customer_type"] == "api":
            assert r["subscription_type"] is None
        else:
            assert r["subscription_type"] in ("enterprise", "team")
        assert isinstance(r["terminal_type"], str) and isinstance(r["is_remote"], bool)
        core = r["core_metrics"]
        assert set(core) == {
            "num_sessions",
            "lines_of_code",
            "commits_by_claude_code",
            "pull_requests_by_claude_code",
        }
        assert core["num_sessions"] >= 1 and set(core["lines_of_code"]) == {"added", "removed"}
        assert set(r["tool_actions"]) >= KNOWN_TOOLS
        for counts in r["tool_actions"].values():
            assert set(counts) == {"accepted", "rejected"}
        assert r["model_breakdown"]
        for entry in r["model_breakdown"]:
            assert set(entry["tokens"]) == {"input", "output", "cache_read", "cache_creation"}
            assert all(isinstance(v, int) for v in entry["tokens"].values())
            cost = entry["estimated_cost"]
            assert isinstance(cost["amount"], int) and cost["currency"] == "USD"

    # The awkward cases a client must handle all occur.
    assert {r["actor"]["type"] for r in records} == {"user_actor", "api_actor"}
    assert {r["customer_type"] for r in records} == {"api", "subscription"}
    assert any(set(r["tool_actions"]) - KNOWN_TOOLS for r in records), "an unknown tool"
    models = {e["model"] for r in records for e in r["model_breakdown"]}
    assert {"claude-opus-4-8", "claude-nimbus-7-preview"} <= models
    per_actor_day = Counter((r["date"], str(r["actor"])) for r in records)
    twice = [key for key, n in per_actor_day.items() if n == 2]
    assert twice, "remote and local records of one actor on one day"
    for day_text, actor in twice[:5]:
        pair = [r for r in records if (r["date"], str(r["actor"])) == (day_text, actor)]
        assert {r["is_remote"] for r in pair} == {True, False}


def test_realistic_volume_empty_days_and_no_future(simulator: Simulator, org: SimOrg) -> None:
    days = [TODAY - timedelta(days=n) for n in range(0, 100)]
    per_day = {d: simulator.truth_claude_code(org.id, d) for d in days}
    empty = [d for d, records in per_day.items() if not records]
    assert empty, "some days nobody used Claude Code"
    for records in per_day.values():
        if records:
            assert 5 <= len({str(r["actor"]) for r in records}) <= 30
    assert per_day[TODAY]  # today is served as far as it goes
    for future in (TODAY + timedelta(days=1), TODAY + timedelta(days=30)):
        assert simulator.truth_claude_code(org.id, future) == []
    assert simulator.truth_claude_code(org.id, TODAY - timedelta(days=121)) == []


def test_deterministic_per_seed(simulator: Simulator, org: SimOrg) -> None:
    twin = Simulator(today=TODAY, history_days=120)
    twin_org = twin.add_org(name="Acme Corp", seed=11)
    other = twin.add_org(name="Globex", seed=22)
    day = TODAY - timedelta(days=3)
    assert twin.truth_claude_code(twin_org.id, day) == simulator.truth_claude_code(org.id, day)
    assert twin.truth_claude_code(other.id, day) != simulator.truth_claude_code(org.id, day)


def test_future_day_is_an_empty_page(client: httpx.Client) -> None:
    body = client.get(PATH, params={"starting_at": (TODAY + timedelta(days=2)).isoformat()})
    assert body.status_code == 200
    assert body.json() == {"data": [], "has_more": False, "next_page": None}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": ""},
        {"starting_at": "2026-11-20T00:00:00Z"},  # a full timestamp is not a date
        {"starting_at": "2026-11-20T00:00:00"},
        {"starting_at": "2026/11/20"},
        {"starting_at": "2026-13-01"},
        {"starting_at": "20261120"},
        {"starting_at": "2026-11-20", "limit": "0"},
        {"starting_at": "2026-11-20", "limit": "1001"},
        {"starting_at": "2026-11-20", "limit": "ten"},
        {"starting_at": "2026-11-20", "page": "page_%%%"},
        {"starting_at": "2026-11-20", "page": "not-a-cursor"},
        {"starting_at": "2026-11-20", "page": "page_W10="},  # valid base64, not our cursor
    ],
)
def test_bad_parameters_are_400(client: httpx.Client, params: dict[str, str]) -> None:
    response = client.get(PATH, params=params)
    assert response.status_code == 400, (params, response.text)
    body = response.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["request_id"].startswith("req_")


def test_a_cursor_belongs_to_its_day(
    simulator: Simulator, client: httpx.Client, org: SimOrg
) -> None:
    day = busy_day(simulator, org)
    cursor = client.get(PATH, params={"starting_at": day.isoformat(), "limit": 2}).json()[
        "next_page"
    ]
    other = (day - timedelta(days=1)).isoformat()
    response = client.get(PATH, params={"starting_at": other, "page": cursor})
    assert response.status_code == 400
    # The limit may change between pages: the cursor is an offset into the day.
    rest = client.get(PATH, params={"starting_at": day.isoformat(), "page": cursor, "limit": 5})
    assert rest.json()["data"] == simulator.truth_claude_code(org.id, day)[2:7]


def test_auth_like_the_other_admin_routes(simulator: Simulator, org: SimOrg) -> None:
    enterprise = next(iter(simulator.enterprise_orgs.values()))
    day = (TODAY - timedelta(days=1)).isoformat()

    def get(headers: dict[str, str]) -> httpx.Response:
        return simulator.handler(
            httpx.Request("GET", f"http://sim.test{PATH}?starting_at={day}", headers=headers)
        )

    version = {"anthropic-version": "2023-06-01"}
    assert get(version).status_code == 401
    assert get(version | {"x-api-key": "sk-ant-admin01-" + "x" * 95}).status_code == 401
    wrong = get(version | {"x-api-key": enterprise.key})
    assert wrong.status_code == 403 and wrong.json()["error"]["type"] == "permission_error"
    assert enterprise.key not in wrong.text
    assert get({"x-api-key": org.admin_key}).status_code == 400  # no anthropic-version
    ok = get(version | {"x-api-key": org.admin_key})
    assert ok.status_code == 200 and ok.headers["anthropic-organization-id"] == org.id


def test_faults_and_recording(simulator: Simulator, client: httpx.Client, org: SimOrg) -> None:
    day = busy_day(simulator, org)
    params = {"starting_at": day.isoformat(), "limit": "3"}
    simulator.reset_requests()
    simulator.inject("503", route="claude_code", retry_after=2)
    failed = client.get(PATH, params=params)
    assert failed.status_code == 503 and failed.headers["retry-after"] == "2"
    first = client.get(PATH, params=params).json()

    simulator.inject("expire_cursor", route="claude_code")
    assert client.get(PATH, params=params).status_code == 200  # no cursor: fault stays armed
    expired = client.get(PATH, params=params | {"page": first["next_page"]})
    assert expired.status_code == 410
    assert expired.json()["error"]["type"] == "invalid_request_error"
    assert client.get(PATH, params=params | {"page": first["next_page"]}).status_code == 200

    simulator.inject("repeat_cursor", route="claude_code")
    again = client.get(PATH, params=params | {"page": first["next_page"]}).json()
    assert again["has_more"] and again["next_page"] == first["next_page"]
    simulator.inject("missing_cursor", route="claude_code")
    missing = client.get(PATH, params=params).json()
    assert missing["has_more"] and missing["next_page"] is None

    assert {r.route for r in simulator.requests} == {"claude_code"}
    assert [r.status for r in simulator.requests][:2] == [503, 200]
    assert org.admin_key not in repr(simulator.requests)
