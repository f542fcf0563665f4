"""The simulated Claude Enterprise Analytics API keeps the reference's contract (§1.2, §7)."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from app.simulator import SimEnterpriseOrg, SimOrg, Simulator, serve_http
from app.simulator.enterprise import COST_DIMENSIONS, DIMENSIONS
from tests.simulator.helpers import TODAY, at, client_for, error_of, walk

BASE = "/v1/organizations/analytics"
REPORTS = ("usage_report", "cost_report", "user_usage_report", "user_cost_report")
ENGAGEMENT = ("summaries", "users")
MONEY = re.compile(r"\d+\.\d{6}")
TOKEN_KEYS = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "requests",
)


@pytest.fixture
def simulator() -> Simulator:
    sim = Simulator(today=TODAY, history_days=400)
    sim.add_org(name="Acme Corp", seed=11)
    sim.add_enterprise_org(name="Globex Enterprise", seed=5)
    sim.analytics_rpm = None  # paging through a month takes more than 60 requests
    return sim


@pytest.fixture
def console(simulator: Simulator) -> SimOrg:
    return next(iter(simulator.orgs.values()))


@pytest.fixture
def ent(simulator: Simulator) -> SimEnterpriseOrg:
    return next(iter(simulator.enterprise_orgs.values()))


@pytest.fixture
def client(simulator: Simulator, ent: SimEnterpriseOrg) -> Iterator[httpx.Client]:
    with client_for(simulator, ent.key) as http:
        yield http


def usage_counts(row: dict[str, Any]) -> tuple[int, ...]:
    return (
        row["uncached_input_tokens"],
        row["cache_creation"]["ephemeral_5m_input_tokens"],
        row["cache_creation"]["ephemeral_1h_input_tokens"],
        row["cache_read_input_tokens"],
        row["output_tokens"],
        row["server_tool_use"]["web_search_requests"],
        row["requests"],
    )


def summed(rows: list[Any], key: Any, fields: tuple[str, ...]) -> dict[Any, tuple[Any, ...]]:
    acc: dict[Any, list[Any]] = defaultdict(lambda: [0] * len(fields))
    for row in rows:
        values = acc[key(row)]
        for i, name in enumerate(fields):
            values[i] += getattr(row, name)
    return {k: tuple(v) for k, v in acc.items()}


START, END = TODAY - timedelta(days=40), TODAY - timedelta(days=10)


# --- organization cost and usage against the ground truth --------------------------------------


@pytest.mark.parametrize(
    "groups", [[], ["product"], ["model", "token_type"], ["cost_type", "rbac_group_id"]]
)
def test_cost_totals_equal_the_truth_with_and_without_group_by(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg, groups: list[str]
) -> None:
    params = [("starting_at", at(START)), ("ending_at", at(END))]
    params += [("group_by[]", g) for g in groups]
    buckets = walk(client, f"{BASE}/cost_report", params)
    assert [b["starting_at"] for b in buckets] == [at(START + timedelta(n)) for n in range(30)]
    truth = simulator.truth_enterprise_cost(ent.id, START, END)
    fields = ("amount_cents", "list_amount_cents")
    expected = summed(truth, lambda t: (t.date, *(getattr(t, g) for g in groups)), fields)
    served: dict[Any, tuple[Decimal, Decimal]] = {}
    for bucket in buckets:
        for row in bucket["results"]:
            assert MONEY.fullmatch(row["amount"]) and MONEY.fullmatch(row["list_amount"])
            assert row["currency"] == "USD"
            assert Decimal(row["amount"]) <= Decimal(row["list_amount"])  # a discount
            for dim in COST_DIMENSIONS:
                if dim not in groups:
                    assert row[dim] is None, dim
            key = (date.fromisoformat(bucket["starting_at"][:10]), *(row[g] for g in groups))
            assert key not in served
            served[key] = (Decimal(row["amount"]), Decimal(row["list_amount"]))
    assert served == expected
    assert sum(a for a, _ in served.values()) < sum(listed for _, listed in served.values())
    if not groups:
        assert all(len(b["results"]) <= 1 for b in buckets)


def test_usage_grouped_and_ungrouped_equals_the_truth(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    truth = simulator.truth_enterprise_usage(ent.id, START, END)
    for groups in ([], ["product", "model"], ["speed", "inference_geo", "context_window"]):
        params = [("starting_at", at(START)), ("ending_at", at(END)), ("limit", "31")]
        params += [("group_by[]", g) for g in groups]
        buckets = walk(client, f"{BASE}/usage_report", params)
        served = {}
        for bucket in buckets:
            for row in bucket["results"]:
                assert all(row[d] is None for d in DIMENSIONS if d not in groups)
                assert "cache_creation_input_tokens" not in row
                key = (date.fromisoformat(bucket["starting_at"][:10]), *(row[g] for g in groups))
                served[key] = usage_counts(row)
        expected = summed(
            truth, lambda t, dims=groups: (t.date, *(getattr(t, g) for g in dims)), TOKEN_KEYS
        )
        assert served == expected


def test_data_has_the_awkward_values(simulator: Simulator, ent: SimEnterpriseOrg) -> None:
    usage = simulator.truth_enterprise_usage(ent.id, TODAY - timedelta(days=90), TODAY)
    assert {r.product for r in usage} == {
        "chat",
        "claude_code",
        "cowork",
        "office_agent",
        "claude_in_chrome",
        "claude-tag",  # Claude in Slack's channel usage (reference §14.10)
    }
    # Channel usage is Claude Tag; a direct message stays under the user's own product.
    assert {r.product for r in usage if r.slack_channel_id} == {"claude-tag"}
    assert {"claude-opus-4-8", "claude-sonnet-4-5", "claude-haiku-4-5"} <= {r.model for r in usage}
    assert "claude-nimbus-7-preview" in {r.model for r in usage}  # unknown to any price table
    assert {r.speed for r in usage} == {"standard", "fast"}
    assert {r.context_window for r in usage} == {"0-200k", "200k-1M"}
    assert {r.inference_geo for r in usage} == {"global", "us", "not_available"}
    assert None in {r.rbac_group_id for r in usage} and None in {r.slack_channel_id for r in usage}
    assert {r.slack_channel_id for r in usage} - {None}
    cost = simulator.truth_enterprise_cost(ent.id, TODAY - timedelta(days=90), TODAY)
    assert {c.cost_type for c in cost} == {"tokens", "web_search"}
    assert all(c.model is None and c.token_type is None for c in cost if c.cost_type != "tokens")
    # Nothing before 2026-01-01, nothing for today.
    assert simulator.truth_enterprise_cost(ent.id, date(2025, 12, 1), date(2026, 1, 1)) == []
    assert simulator.truth_enterprise_usage(ent.id, TODAY, TODAY + timedelta(days=3)) == []
    assert simulator.truth_enterprise_usage(ent.id, date(2026, 1, 1), date(2026, 1, 2))
    days = {r.date for r in simulator.truth_enterprise_usage(ent.id, date(2026, 1, 1), TODAY)}
    assert len(days) < (TODAY - date(2026, 1, 1)).days, "some days have no usage at all"


def test_each_bucket_shows_at_most_its_top_100_groups(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    truth = simulator.truth_enterprise_cost(ent.id, START, END)
    per_day: dict[date, list[Decimal]] = defaultdict(list)
    for t in truth:
        per_day[t.date].append(t.amount_cents)  # finest grain: one per group below
    day = max(per_day, key=lambda d: len(per_day[d]))
    assert len(per_day[day]) > 100
    params = [("starting_at", at(day)), ("ending_at", at(day + timedelta(1)))]
    params += [("group_by[]", g) for g in COST_DIMENSIONS]
    (bucket,) = client.get(f"{BASE}/cost_report", params=params).json()["data"]
    amounts = [Decimal(r["amount"]) for r in bucket["results"]]
    assert len(amounts) == 100
    assert amounts == sorted(per_day[day], reverse=True)[:100]


def test_filters_apply_and_are_capped(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    params = [
        ("starting_at", at(START)),
        ("ending_at", at(END)),
        ("limit", "31"),
        ("products[]", "claude_code"),
        ("products[]", "cowork"),
        ("models[]", "claude-opus-4-8"),
        ("group_by[]", "product"),
    ]
    buckets = walk(client, f"{BASE}/usage_report", params)
    served = sum(r["output_tokens"] for b in buckets for r in b["results"])
    expected = sum(
        t.output_tokens
        for t in simulator.truth_enterprise_usage(ent.id, START, END)
        if t.product in ("claude_code", "cowork") and t.model == "claude-opus-4-8"
    )
    assert served == expected > 0
    assert {r["product"] for b in buckets for r in b["results"]} == {"claude_code", "cowork"}
    for path in REPORTS:
        base = [("starting_at", at(START)), ("ending_at", at(END))]
        ok = client.get(f"{BASE}/{path}", params=base + [("models[]", f"m{i}") for i in range(100)])
        assert ok.status_code == 200
        too_many = base + [("user_ids[]", f"user_{i}") for i in range(101)]
        response = client.get(f"{BASE}/{path}", params=too_many)
        assert response.status_code == 400 and error_of(response) == "invalid_request_error"


def test_paging_defaults_refresh_watermark_and_cursor_binding(client: httpx.Client) -> None:
    path = f"{BASE}/cost_report"
    first = client.get(path, params={"starting_at": at(TODAY - timedelta(days=100))}).json()
    assert len(first["data"]) == 7 and first["has_more"] and first["next_page"].startswith("page_")
    refreshed = datetime.fromisoformat(first["data_refreshed_at"].replace("Z", "+00:00"))
    assert refreshed.tzinfo is not None
    # Without ending_at the range runs 31 days, or up to today's midnight if that is sooner.
    month = walk(client, path, [("starting_at", at(TODAY - timedelta(days=100)))])
    assert len(month) == 31
    recent = walk(client, path, [("starting_at", at(TODAY - timedelta(days=5)))])
    assert [b["starting_at"] for b in recent][-1] == at(TODAY - timedelta(days=1))
    assert len(recent) == 5
    # Empty buckets are included.
    assert all("results" in b for b in month)
    # A cursor belongs to its query: changing a filter, a group or the range is a 400.
    base = [("starting_at", at(TODAY - timedelta(days=100)))]
    for changed in (
        [("group_by[]", "product")],
        [("products[]", "chat")],
        [("ending_at", at(TODAY - timedelta(days=80)))],
    ):
        response = client.get(path, params=base + changed + [("page", first["next_page"])])
        assert response.status_code == 400, changed
    # ...but the limit may change between pages.
    assert client.get(path, params=base + [("limit", "3"), ("page", first["next_page"])]).json()[
        "data"
    ][0]["starting_at"] == at(TODAY - timedelta(days=93))
    hourly = client.get(
        f"{BASE}/usage_report",
        params={
            "starting_at": at(START),
            "ending_at": at(START + timedelta(1)),
            "bucket_width": "1h",
        },
    ).json()
    assert len(hourly["data"]) == 24


# --- per-user reports ---------------------------------------------------------------------------


def test_user_usage_over_the_range_equals_the_truth(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    params = [("starting_at", at(START)), ("ending_at", at(END)), ("limit", "9")]
    rows = walk(client, f"{BASE}/user_usage_report", params)
    truth = simulator.truth_user_usage(ent.id, START, END)
    expected = summed(truth, lambda t: t.user_id, TOKEN_KEYS)
    served = {r["actor"]["user_id"]: usage_counts(r) for r in rows}
    assert len(served) == len(rows) == len(expected)
    assert served == expected
    totals = [r["total_tokens"] for r in rows]
    assert totals == sorted(totals, reverse=True)  # ranked, largest first
    by_id = {u.id: u for u in ent.users}
    for row in rows:
        assert row["starting_at"] is None and row["ending_at"] is None
        assert row["total_tokens"] == sum(usage_counts(row)[:5])
        user = by_id[row["actor"]["user_id"]]
        # ``email_address`` (reference §14.11), and the old ``email`` for a while.
        assert row["actor"] == {
            "type": "user_actor",
            "user_id": user.id,
            "name": user.name,
            "email_address": user.email,
            "email": user.email,
            "deleted": user.deleted,
        }
    ascending = walk(
        client,
        f"{BASE}/user_usage_report",
        params + [("order_by", "output_tokens"), ("order", "asc")],
    )
    outputs = [r["output_tokens"] for r in ascending]
    assert outputs == sorted(outputs)


def test_user_cost_per_day_and_its_share_of_the_org_cost(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    params = [
        ("starting_at", at(START)),
        ("ending_at", at(END)),
        ("bucket_width", "1d"),
        ("limit", "1000"),
    ]
    rows = walk(client, f"{BASE}/user_cost_report", params)
    served = {
        (date.fromisoformat(r["starting_at"][:10]), r["actor"]["user_id"]): (
            Decimal(r["amount"]),
            Decimal(r["list_amount"]),
        )
        for r in rows
    }
    assert len(served) == len(rows)
    truth = simulator.truth_user_cost(ent.id, START, END)
    assert served == {(t.date, t.user_id): (t.amount_cents, t.list_amount_cents) for t in truth}
    for row in rows:
        start = date.fromisoformat(row["starting_at"][:10])
        assert row["ending_at"] == at(start + timedelta(1))
        assert MONEY.fullmatch(row["amount"]) and row["currency"] == "USD"
    starts = [r["starting_at"] for r in rows]
    assert starts == sorted(starts)
    org_truth = simulator.truth_enterprise_cost(ent.id, START, END)
    per_day_org: dict[date, Decimal] = defaultdict(Decimal)
    for c in org_truth:
        per_day_org[c.date] += c.amount_cents
    per_day_users: dict[date, Decimal] = defaultdict(Decimal)
    for (day, _), (amount, _) in served.items():
        per_day_users[day] += amount
    assert all(per_day_users[d] <= per_day_org[d] for d in per_day_users)
    assert sum(per_day_users.values()) < sum(per_day_org.values())  # API-key traffic exists


def test_user_reports_group_filter_and_exclude_deleted(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    start, end = date(2026, 4, 1), date(2026, 5, 1)
    deleted = {u.id for u in ent.users if u.deleted}
    assert deleted
    params = [("starting_at", at(start)), ("ending_at", at(end)), ("limit", "1000")]
    everyone = walk(client, f"{BASE}/user_cost_report", params)
    assert deleted & {r["actor"]["user_id"] for r in everyone}
    assert all(r["actor"]["deleted"] == (r["actor"]["user_id"] in deleted) for r in everyone)
    kept = walk(client, f"{BASE}/user_cost_report", params + [("exclude_deleted_users", "true")])
    assert {r["actor"]["user_id"] for r in kept} == {
        r["actor"]["user_id"] for r in everyone
    } - deleted
    grouped = walk(
        client,
        f"{BASE}/user_cost_report",
        params + [("group_by[]", "cost_type"), ("group_by[]", "token_type")],
    )
    assert len(grouped) > len(everyone)
    assert {r["cost_type"] for r in grouped} == {"tokens", "web_search"}
    assert sum(Decimal(r["amount"]) for r in grouped) == sum(Decimal(r["amount"]) for r in everyone)
    one_user = everyone[0]["actor"]["user_id"]
    only = walk(client, f"{BASE}/user_usage_report", params + [("user_ids[]", one_user)])
    assert [r["actor"]["user_id"] for r in only] == [one_user]


# --- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", REPORTS)
@pytest.mark.parametrize(
    "params",
    [
        {},
        {"starting_at": "2026-11-01"},  # not RFC 3339
        {"starting_at": "2025-12-31T00:00:00Z"},  # before 2026-01-01
        {"starting_at": at(TODAY)},  # today
        {"starting_at": at(TODAY + timedelta(days=1))},  # future
        {"starting_at": at(TODAY - timedelta(40)), "ending_at": at(TODAY - timedelta(8))},  # 32 d
        {"starting_at": at(TODAY - timedelta(5)), "ending_at": at(TODAY - timedelta(6))},
        {"starting_at": at(TODAY - timedelta(5)), "ending_at": at(TODAY - timedelta(5))},
        {"starting_at": at(TODAY - timedelta(5)), "ending_at": at(TODAY + timedelta(1))},
        {"starting_at": at(TODAY - timedelta(5)), "ending_at": "tomorrow"},
        {"starting_at": at(TODAY - timedelta(5)), "bucket_width": "1w"},
        {"starting_at": at(TODAY - timedelta(5)), "limit": "0"},
        {"starting_at": at(TODAY - timedelta(5)), "group_by[]": "workspace_id"},
        {"starting_at": at(TODAY - timedelta(5)), "page": "page_%%%"},
        {"starting_at": at(TODAY - timedelta(5)), "page": "page_e30="},  # "{}": no position
    ],
)
def test_bad_cost_and_usage_parameters_are_400(
    client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    response = client.get(f"{BASE}/{path}", params=params)
    assert response.status_code == 400, (path, params, response.text)
    assert error_of(response) == "invalid_request_error"


@pytest.mark.parametrize(
    ("path", "limits"),
    [
        ("usage_report", (7, 31)),
        ("cost_report", (7, 31)),
        ("user_usage_report", (20, 1000)),
        ("user_cost_report", (20, 1000)),
    ],
)
def test_limits(client: httpx.Client, path: str, limits: tuple[int, int]) -> None:
    base = {"starting_at": at(TODAY - timedelta(31)), "bucket_width": "1d"}
    default, cap = limits
    assert len(client.get(f"{BASE}/{path}", params=base).json()["data"]) <= default
    if path in ("usage_report", "cost_report"):
        assert len(client.get(f"{BASE}/{path}", params=base).json()["data"]) == default
        assert len(client.get(f"{BASE}/{path}", params=base | {"limit": cap}).json()["data"]) == 31
    for bad in (0, cap + 1, "x"):
        assert client.get(f"{BASE}/{path}", params=base | {"limit": bad}).status_code == 400


def test_group_by_and_order_validation(client: httpx.Client) -> None:
    base = [("starting_at", at(TODAY - timedelta(5)))]
    assert (
        client.get(f"{BASE}/usage_report", params=base + [("group_by[]", "cost_type")]).status_code
        == 400
    )
    assert (
        client.get(f"{BASE}/cost_report", params=base + [("group_by[]", "cost_type")]).status_code
        == 200
    )
    assert (
        client.get(
            f"{BASE}/usage_report", params=base + [("group_by[]", "slack_channel_id")]
        ).status_code
        == 200
    )
    user_usage, user_cost = f"{BASE}/user_usage_report", f"{BASE}/user_cost_report"
    assert client.get(user_usage, params=base + [("order_by", "amount")]).status_code == 400
    assert client.get(user_cost, params=base + [("order_by", "list_amount")]).status_code == 200
    assert client.get(user_cost, params=base + [("order", "sideways")]).status_code == 400
    assert client.get(user_cost, params=base + [("group_by[]", "token_type")]).status_code == 200
    assert client.get(user_usage, params=base + [("group_by[]", "token_type")]).status_code == 400


def test_starting_at_at_most_365_days_back() -> None:
    sim = Simulator(today=date(2027, 6, 1), history_days=600)
    org = sim.add_enterprise_org(seed=8)
    headers = {"x-api-key": org.key, "anthropic-version": "2023-06-01"}

    def status(path: str, params: dict[str, str]) -> int:
        request = httpx.Request(
            "GET", f"http://sim.test{BASE}/{path}", params=params, headers=headers
        )
        return sim.handler(request).status_code

    assert status("cost_report", {"starting_at": "2026-05-31T00:00:00Z"}) == 400  # 366 days
    assert status("cost_report", {"starting_at": "2026-06-01T00:00:00Z"}) == 200
    # Summaries: at most 366 days at once (2026 has 365).
    assert status("summaries", {"starting_date": "2026-01-01", "ending_date": "2027-01-03"}) == 400
    assert status("summaries", {"starting_date": "2026-01-01", "ending_date": "2027-01-02"}) == 200


# --- engagement -----------------------------------------------------------------------------------


def test_summaries_one_per_day_equal_to_the_truth(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    start = TODAY - timedelta(days=20)
    body = client.get(f"{BASE}/summaries", params={"starting_date": start.isoformat()}).json()
    # ``data`` (reference §14.8), the deprecated ``summaries`` alias beside it for a while.
    assert set(body) == {"data", "next_page", "summaries"} and body["next_page"] is None
    assert body["summaries"] == body["data"]
    summaries = body["data"]
    # ending_date defaults to today - 2 (exclusive): the last day is today - 3.
    assert len(summaries) == 18
    assert summaries == simulator.truth_summaries(ent.id, start, TODAY - timedelta(days=2))
    assert summaries[0]["starting_at"] == at(start) and summaries[0]["ending_at"] == at(
        start + timedelta(1)
    )
    for s in summaries:
        assert set(s) == {
            "starting_at",
            "ending_at",
            "daily_active_user_count",
            "weekly_active_user_count",
            "monthly_active_user_count",
            "daily_adoption_rate",
            "weekly_adoption_rate",
            "monthly_adoption_rate",
            "assigned_seat_count",
            "pending_invite_count",
            "cowork_daily_active_user_count",
            "cowork_weekly_active_user_count",
            "cowork_monthly_active_user_count",
        }
        assert 0 < s["daily_active_user_count"] <= s["weekly_active_user_count"]
        assert (
            s["weekly_active_user_count"]
            <= s["monthly_active_user_count"]
            <= s["assigned_seat_count"]
        )
        assert s["cowork_daily_active_user_count"] <= s["daily_active_user_count"]
        assert 0 <= s["daily_adoption_rate"] <= s["monthly_adoption_rate"] <= 1
    explicit = client.get(
        f"{BASE}/summaries",
        params={
            "starting_date": start.isoformat(),
            "ending_date": (start + timedelta(3)).isoformat(),
        },
    ).json()["summaries"]
    assert explicit == summaries[:3]


@pytest.mark.parametrize(
    ("params", "names_latest_day"),
    [
        ({}, False),
        ({"starting_date": "2026-11-01T00:00:00Z"}, False),
        ({"starting_date": "2025-12-31"}, False),
        ({"starting_date": (TODAY - timedelta(2)).isoformat()}, False),  # under 3 days ago
        ({"starting_date": "2026-11-01", "ending_date": (TODAY - timedelta(1)).isoformat()}, True),
        ({"starting_date": "2026-11-01", "ending_date": "2026-11-01"}, False),
        ({"starting_date": "2026-11-01", "ending_date": "2026-10-01"}, False),
    ],
)
def test_bad_summary_parameters_are_400(
    client: httpx.Client, params: dict[str, str], names_latest_day: bool
) -> None:
    response = client.get(f"{BASE}/summaries", params=params)
    assert response.status_code == 400 and error_of(response) == "invalid_request_error"
    if names_latest_day:
        assert (TODAY - timedelta(3)).isoformat() in response.json()["error"]["message"]


def test_summaries_accept_the_latest_available_day(client: httpx.Client) -> None:
    latest = TODAY - timedelta(days=3)
    body = client.get(
        f"{BASE}/summaries",
        params={
            "starting_date": latest.isoformat(),
            "ending_date": (latest + timedelta(1)).isoformat(),
        },
    ).json()
    assert [s["starting_at"] for s in body["summaries"]] == [at(latest)]


def test_users_engagement(client: httpx.Client, ent: SimEnterpriseOrg) -> None:
    day = (TODAY - timedelta(days=4)).isoformat()
    everyone = walk(client, f"{BASE}/users", [("date", day), ("limit", "7")])
    assert everyone and len({r["user"]["id"] for r in everyone}) == len(everyone)
    emails = {u.id: u.email for u in ent.users}
    for row in everyone:
        assert row["user"]["email_address"] == emails[row["user"]["id"]]
        core = row["claude_code_metrics"]["core_metrics"]
        assert set(core["lines_of_code"]) == {"added_count", "removed_count"}
        assert set(row["claude_code_metrics"]["tool_actions"]) == {
            "edit_tool",
            "multi_edit_tool",
            "write_tool",
            "notebook_edit_tool",
        }
        assert "message_count" in row["chat_metrics"] and "web_search_count" in row
    assert len(client.get(f"{BASE}/users", params={"date": day}).json()["data"]) == min(
        100, len(everyone)
    )
    ranged = client.get(
        f"{BASE}/users",
        params=[
            ("starting_date", "2026-11-01"),
            ("ending_date", "2026-11-08"),
            ("group_by[]", "rbac_group_id"),
            ("limit", "1000"),
        ],
    )
    assert ranged.status_code == 200 and all("rbac_group_id" in r for r in ranged.json()["data"])
    for bad in (
        {},
        {"date": day, "starting_date": day},
        {"date": (TODAY - timedelta(2)).isoformat()},
        {"date": "2025-12-31"},
        {"date": day, "limit": "1001"},
        {"date": day, "group_by[]": "product"},
    ):
        assert client.get(f"{BASE}/users", params=bad).status_code == 400, bad


# --- keys, scopes, access -----------------------------------------------------------------------


def _get(sim: Simulator, path: str, key: str | None, version: bool = True) -> httpx.Response:
    headers = {"anthropic-version": "2023-06-01"} if version else {}
    if key is not None:
        headers["x-api-key"] = key
    params = (
        {"starting_date": (TODAY - timedelta(10)).isoformat()}
        if path in ENGAGEMENT
        else {"starting_at": at(TODAY - timedelta(10))}
    )
    if path == "users":
        params = {"date": (TODAY - timedelta(10)).isoformat()}
    return sim.handler(
        httpx.Request("GET", f"http://sim.test{BASE}/{path}", params=params, headers=headers)
    )


@pytest.mark.parametrize("path", REPORTS + ENGAGEMENT)
def test_keys_and_scopes(
    simulator: Simulator, console: SimOrg, ent: SimEnterpriseOrg, path: str
) -> None:
    engagement = path in ENGAGEMENT
    ok = _get(simulator, path, ent.key)
    assert ok.status_code == 200 and ok.headers["anthropic-organization-id"] == ent.id

    admin = _get(simulator, path, console.admin_key)
    assert admin.status_code == 403 and error_of(admin) == "permission_error"
    assert console.admin_key not in admin.text

    for key in (None, "sk-ant-api01-" + "z" * 95, "sk-ant-api03-" + "r" * 95):
        response = _get(simulator, path, key)
        assert response.status_code == (404 if engagement else 401), key
        assert error_of(response) == ("not_found_error" if engagement else "authentication_error")

    members = simulator.add_enterprise_org(seed=6, scopes=("read:members", "read:rbac_groups"))
    scoped = _get(simulator, path, members.key)
    if engagement:
        assert scoped.status_code == 404 and error_of(scoped) == "not_found_error"
    else:
        assert scoped.status_code == 403 and error_of(scoped) == "permission_error"
        message = scoped.json()["error"]["message"]
        assert "read:members" in message and "read:rbac_groups" in message
        assert "read:analytics" in message
    assert members.key not in scoped.text

    assert _get(simulator, path, ent.key, version=False).status_code == 400

    ent.api_enabled = False
    off = _get(simulator, path, ent.key)
    assert off.status_code == 403 and error_of(off) == "permission_error"
    ent.api_enabled = True
    simulator.reject_key(ent.id)
    assert ent.rejected
    assert _get(simulator, path, ent.key).status_code == (404 if engagement else 401)


def test_enterprise_keys_are_refused_on_console_routes(
    simulator: Simulator, ent: SimEnterpriseOrg, console: SimOrg
) -> None:
    for path in ("/me", "/cost_report", "/usage_report/claude_code", "/workspaces"):
        response = simulator.handler(
            httpx.Request(
                "GET",
                f"http://sim.test/v1/organizations{path}",
                headers={"x-api-key": ent.key, "anthropic-version": "2023-06-01"},
            )
        )
        assert response.status_code == 403 and error_of(response) == "permission_error"
        assert ent.key not in response.text
    # One served simulator answers both kinds of key.
    me = simulator.handler(
        httpx.Request(
            "GET",
            "http://sim.test/v1/organizations/me",
            headers={"x-api-key": console.admin_key, "anthropic-version": "2023-06-01"},
        )
    )
    assert me.json()["id"] == console.id


def test_enterprise_org_is_deterministic_and_has_an_enterprise_key(ent: SimEnterpriseOrg) -> None:
    twin = Simulator(today=TODAY, history_days=400)
    again = twin.add_enterprise_org(name="Globex Enterprise", seed=5)
    assert (again.id, again.key, again.name, again.scopes) == (
        ent.id,
        ent.key,
        ent.name,
        ent.scopes,
    )
    assert re.fullmatch(r"sk-ant-api01-[A-Za-z0-9_\-]{93}AA", ent.key)
    assert again.users == ent.users and not ent.rejected and ent.api_enabled
    third = Simulator(today=TODAY, history_days=400)
    third_org = third.add_enterprise_org(name="Globex Enterprise", seed=5)
    assert twin.truth_enterprise_cost(again.id, START, END) == third.truth_enterprise_cost(
        third_org.id, START, END
    )
    assert twin.truth_summaries(again.id, START, END) == third.truth_summaries(
        third_org.id, START, END
    )
    custom = twin.add_enterprise_org(seed=77, key="sk-ant-api01-custom", scopes=())
    assert custom.key == "sk-ant-api01-custom" and custom.scopes == ()
    with pytest.raises(ValueError):
        twin.add_enterprise_org(seed=5)


# --- cursors, rate limit, revisions ---------------------------------------------------------------


def test_expired_cursors_get_410(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    for route, params in (
        ("cost_report", {"starting_at": at(TODAY - timedelta(30))}),
        ("user_usage_report", {"starting_at": at(TODAY - timedelta(30)), "limit": "2"}),
    ):
        path = f"{BASE}/{route}"
        first = client.get(path, params=params).json()
        assert first["has_more"]
        simulator.inject("expire_cursor", route=f"analytics_{route}")
        assert client.get(path, params=params).status_code == 200  # no cursor: still armed
        expired = client.get(path, params=params | {"page": first["next_page"]})
        assert expired.status_code == 410 and error_of(expired) == "invalid_request_error"
        assert client.get(path, params=params | {"page": first["next_page"]}).status_code == 200

        # A data refresh expires every cursor handed out before it.
        watermark = first["data_refreshed_at"]
        simulator.revise_enterprise(ent.id, days=3)
        stale = client.get(path, params=params | {"page": first["next_page"]})
        assert stale.status_code == 410
        fresh = client.get(path, params=params).json()
        assert fresh["data_refreshed_at"] > watermark
        assert client.get(path, params=params | {"page": fresh["next_page"]}).status_code == 200


def test_rate_limit_per_organization(
    simulator: Simulator, client: httpx.Client, console: SimOrg
) -> None:
    now = [1000.0]
    simulator.api.clock = lambda: now[0]
    simulator.analytics_rpm = 3
    assert simulator.analytics_rpm == 3
    params = {"starting_date": (TODAY - timedelta(10)).isoformat()}
    for step in range(3):
        now[0] += 5 * step
        assert client.get(f"{BASE}/summaries", params=params).status_code == 200
    limited = client.get(f"{BASE}/cost_report", params={"starting_at": at(TODAY - timedelta(3))})
    assert limited.status_code == 429 and error_of(limited) == "rate_limit_error"
    assert limited.headers["retry-after"] == "45"  # the oldest request leaves the window then
    # Another organization and the Console routes are not limited by it.
    other = simulator.add_enterprise_org(seed=9)
    assert _get(simulator, "summaries", other.key).status_code == 200
    me = client.get("/v1/organizations/me", headers={"x-api-key": console.admin_key})
    assert me.status_code == 200
    now[0] += 46
    assert client.get(f"{BASE}/summaries", params=params).status_code == 200
    simulator.analytics_rpm = None
    assert all(client.get(f"{BASE}/summaries", params=params).status_code == 200 for _ in range(5))


def test_default_rate_limit_is_60_per_minute() -> None:
    sim = Simulator(today=TODAY)
    org = sim.add_enterprise_org(seed=3)
    assert sim.analytics_rpm == 60
    statuses = Counter(_get(sim, "summaries", org.key).status_code for _ in range(61))
    assert statuses == {200: 60, 429: 1}


def test_revisions_change_only_the_last_days(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    start, end = TODAY - timedelta(days=30), TODAY
    cutoff = TODAY - timedelta(days=5)
    before = (
        simulator.truth_enterprise_usage(ent.id, start, end),
        simulator.truth_enterprise_cost(ent.id, start, end),
        simulator.truth_user_usage(ent.id, start, end),
        simulator.truth_user_cost(ent.id, start, end),
    )
    summaries_before = simulator.truth_summaries(ent.id, start, end)
    simulator.revise_enterprise(ent.id, days=5)
    after = (
        simulator.truth_enterprise_usage(ent.id, start, end),
        simulator.truth_enterprise_cost(ent.id, start, end),
        simulator.truth_user_usage(ent.id, start, end),
        simulator.truth_user_cost(ent.id, start, end),
    )
    for old, new in zip(before, after, strict=True):
        assert [r for r in old if r.date < cutoff] == [r for r in new if r.date < cutoff]
        assert [r for r in old if r.date >= cutoff] != [r for r in new if r.date >= cutoff]
    assert simulator.truth_summaries(ent.id, start, end) == summaries_before

    def keys(rows: list[Any]) -> set[tuple[Any, ...]]:
        return {(r.date, *(getattr(r, d) for d in DIMENSIONS)) for r in rows}

    assert keys(before[0]) - keys(after[0]), "some rows vanish"
    assert keys(after[0]) - keys(before[0]), "new rows appear"
    for day in (cutoff + timedelta(n) for n in range(5)):
        assert [r for r in before[1] if r.date == day] != [r for r in after[1] if r.date == day]

    # The API serves the revised data; the revision is deterministic.
    buckets = walk(
        client, f"{BASE}/cost_report", [("starting_at", at(cutoff)), ("ending_at", at(end))]
    )
    served = sum(Decimal(r["amount"]) for b in buckets for r in b["results"])
    assert served == sum((c.amount_cents for c in after[1] if c.date >= cutoff), Decimal(0))
    twin = Simulator(today=TODAY, history_days=400)
    twin_org = twin.add_enterprise_org(name="Globex Enterprise", seed=5)
    twin.revise_enterprise(twin_org.id, days=5)
    assert twin.truth_enterprise_cost(twin_org.id, start, end) == after[1]


# --- faults and recording -------------------------------------------------------------------------


def test_faults_and_recorded_requests(
    simulator: Simulator, client: httpx.Client, ent: SimEnterpriseOrg
) -> None:
    simulator.reset_requests()
    params = {"starting_at": at(TODAY - timedelta(20))}
    simulator.inject("429", route="analytics_usage_report", retry_after=7)
    limited = client.get(f"{BASE}/usage_report", params=params)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "7"
    assert client.get(f"{BASE}/usage_report", params=params).status_code == 200
    simulator.inject("repeat_cursor", route="analytics_cost_report")
    first = client.get(f"{BASE}/cost_report", params=params).json()
    looped = client.get(f"{BASE}/cost_report", params=params | {"page": first["next_page"]}).json()
    assert looped["has_more"] and looped["next_page"] == first["next_page"]
    simulator.inject("missing_cursor", route="analytics_user_cost_report")
    body = client.get(f"{BASE}/user_cost_report", params=params | {"limit": "1"}).json()
    assert body["has_more"] and body["next_page"] is None
    simulator.inject("truncated", route="analytics_summaries")
    truncated = client.get(f"{BASE}/summaries", params={"starting_date": "2026-11-01"})
    assert truncated.status_code == 200
    with pytest.raises(ValueError):
        truncated.json()
    for route in ("claude_code", "analytics_users", "analytics_user_usage_report"):
        simulator.inject("500", route=route, count=0)
    with pytest.raises(ValueError):
        simulator.inject("500", route="analytics_skills")
    routes = [r.route for r in simulator.requests]
    assert routes[:2] == ["analytics_usage_report"] * 2 and "analytics_summaries" in routes
    assert ent.key not in repr(simulator.requests)
    unknown = client.get(f"{BASE}/skills")
    assert unknown.status_code == 404


def test_one_served_simulator_answers_both_kinds_of_key(
    simulator: Simulator, console: SimOrg, ent: SimEnterpriseOrg
) -> None:
    version = {"anthropic-version": "2023-06-01"}
    with serve_http(simulator) as server, httpx.Client(base_url=server.base_url) as http:
        me = http.get("/v1/organizations/me", headers=version | {"x-api-key": console.admin_key})
        assert me.json()["id"] == console.id
        summaries = http.get(
            f"{BASE}/summaries",
            params={"starting_date": (TODAY - timedelta(5)).isoformat()},
            headers=version | {"x-api-key": ent.key},
        )
        assert summaries.status_code == 200 and len(summaries.json()["summaries"]) == 3
        assert summaries.headers["anthropic-organization-id"] == ent.id
