"""The client side of per-key cost (``/analytics/cost``, beta): the headers and query it
sends, paging when ``has_more`` is absent, and rows parsed with every enum open and every
unknown field kept (reference §13, the UNCONFIRMED points handled defensively)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import httpx

from app.anthropic.admin import KEY_COST_GROUP_BY, AdminClient
from app.anthropic.records import parse_key_cost

KEY = "sk-ant-admin01-" + "a" * 40
DAY = date(2026, 9, 3)


def _row(group: dict[str, Any], cost: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "starting_at": "2026-09-03T00:00:00Z",
        "ending_at": "2026-09-04T00:00:00Z",
        "group": group,
        "cost": cost,
        **extra,
    }


def test_pages_are_followed_by_next_page_when_has_more_is_absent() -> None:
    seen: list[httpx.Request] = []
    pages = {
        None: {"data": [_row({"api_key_id": "apikey_1"}, {"amount": "1"})], "next_page": "p2"},
        "p2": {"data": [_row({"api_key_id": "apikey_2"}, {"amount": 2})], "next_page": None},
    }

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json=pages[request.url.params.get("page")])

    with AdminClient(KEY, transport=httpx.MockTransport(answer), max_retries=0) as client:
        rows = client.iter_key_cost(DAY, date(2026, 9, 10))
    assert [r["group"]["api_key_id"] for r in rows] == ["apikey_1", "apikey_2"]
    first = seen[0]
    assert first.headers["anthropic-beta"] == "analytics-usage-cost-2026-08-24"
    assert first.headers["anthropic-version"]
    params = first.url.params
    assert params["starting_at"] == "2026-09-03T00:00:00Z"
    assert params["ending_at"] == "2026-09-10T00:00:00Z"
    assert params["time_bucket_width"] == "1d"
    assert tuple(params.get_list("group_by[]")) == KEY_COST_GROUP_BY
    # Every other parameter stays the same across pages.
    assert [(k, v) for k, v in seen[1].url.params.multi_items() if k != "page"] == list(
        params.multi_items()
    )


def test_amounts_are_exact_from_a_string_or_a_number() -> None:
    text = parse_key_cost(_row({}, {"amount": "1234.567891", "list_amount": "1300"}))
    number = parse_key_cost(_row({}, {"amount": 1234.567891, "list_amount": 1300}))
    assert text.measures["amount_cents"] == number.measures["amount_cents"]
    assert text.measures["amount_cents"] == Decimal("1234.567891")
    assert number.measures["list_amount_cents"] == Decimal(1300)
    missing_list = parse_key_cost(_row({}, {"amount": "5"}))
    assert missing_list.measures["list_amount_cents"] is None


def test_unknown_enum_values_and_fields_are_kept() -> None:
    row = parse_key_cost(
        _row(
            {
                "workspace_id": "wrkspc_1",
                "api_key_id": "apikey_9",
                "actor": {"type": "federated_actor", "subject": "wif:ci", "name": "CI"},
                "model": "claude-nimbus-9",
                "service_tier": "flex_discount",
                "cost_type": "session_usage",
                "token_type": None,
                "agent_id": "agent_7",  # a dimension this version does not store as a column
                "speed": None,
            },
            {"amount": "10", "currency": "USD", "requests": None, "credits": "1"},
            unknown_future_field="tolerate me",
        )
    )
    assert row.dims["service_tier"] == "flex_discount"
    assert row.dims["cost_type"] == "session_usage"
    assert row.dims["model"] == "claude-nimbus-9"
    assert row.dims["actor_type"] == "federated"  # kept, without the _actor suffix
    assert row.measures["actor_name"] == "CI"
    assert row.extra["agent_id"] == "agent_7"
    assert row.extra["unknown_future_field"] == "tolerate me"
    assert row.extra["cost.credits"] == "1" and row.extra["actor.subject"] == "wif:ci"
    assert "speed" not in row.extra  # null group fields are not requested dimensions
    # An unknown field makes a different row, never a merged one.
    plain = parse_key_cost(_row({"api_key_id": "apikey_9"}, {"amount": "10"}))
    assert plain.dims_key != row.dims_key


def test_the_actor_of_a_row_by_kind() -> None:
    user = parse_key_cost(
        _row(
            {
                "api_key_id": "apikey_1",
                "actor": {
                    "type": "user_actor",
                    "user_id": "user_1",
                    "email_address": "ada@example.com",
                    "name": None,
                    "deleted": False,
                },
            },
            {"amount": "1"},
        )
    )
    assert (user.dims["actor_type"], user.dims["actor_id"]) == ("user", "user_1")
    assert user.measures["actor_name"] == "ada@example.com"
    service = parse_key_cost(
        _row(
            {"actor": {"type": "service_account_actor", "service_account_id": "svac_1"}},
            {"amount": "1"},
        )
    )
    assert (service.dims["actor_type"], service.dims["actor_id"]) == ("service_account", "svac_1")
    # A key without a principal is its own actor, also when the API sends no actor.
    bare = parse_key_cost(_row({"api_key_id": "apikey_2", "actor": None}, {"amount": "1"}))
    assert (bare.dims["actor_type"], bare.dims["actor_id"]) == ("api_key", "apikey_2")
    by_id = parse_key_cost(_row({"actor": "svac_3"}, {"amount": "1"}))
    assert (by_id.dims["actor_type"], by_id.dims["actor_id"]) == ("service_account", "svac_3")
    # No key (Console / Workbench, code execution): no actor.
    keyless = parse_key_cost(_row({"cost_type": "code_execution"}, {"amount": "1"}))
    assert keyless.dims["actor_type"] is None and keyless.dims["actor_id"] is None
    assert keyless.dims["api_key_id"] is None
