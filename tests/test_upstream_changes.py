"""Upstream changes found by comparing our client with independent sources (issue 16 point 5,
reference §14): each from the documented example, against the new form and the old one."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.errors import InvalidRequest, KeyRejected
from app.anthropic.keys import (
    MESSAGES,
    KeyFormatError,
    KeyKind,
    check_admin_key,
    describe_key_kind,
)
from app.anthropic.records import parse_user_cost, parse_user_usage
from app.db import read_session, write_session
from app.models import ApiKey, Organization, OrgStatus, UserCost, UserUsage, Workspace
from app.settings import Settings
from app.simulator import Simulator
from app.store import store_directory
from tests.utils.factories import connect_enterprise, connect_org, org_pk, sync_engine

ANALYTICS_KEY = "sk-ant-api01-" + "b" * 40
DAY = date(2026, 3, 10)


def _answering(status: int, body: Any) -> httpx.MockTransport:
    return httpx.MockTransport(lambda _request: httpx.Response(status, json=body))


# --- /analytics/summaries answers in ``data`` (§14.8) ---------------------------------------


SUMMARY = {"starting_at": "2026-03-06T00:00:00Z", "daily_active_user_count": 7}


@pytest.mark.parametrize(
    "body",
    [
        {"data": [SUMMARY], "next_page": None},  # the documented envelope
        {"summaries": [SUMMARY]},  # the deprecated alias, alone
        {"data": [SUMMARY], "summaries": [SUMMARY], "next_page": None},  # both, for a while
    ],
)
def test_summaries_are_read_from_data_and_the_old_alias(body: dict[str, Any]) -> None:
    with AnalyticsClient(ANALYTICS_KEY, transport=_answering(200, body), max_retries=0) as api:
        assert api.get_summaries(DAY - timedelta(days=4), DAY - timedelta(days=3)) == [SUMMARY]


# --- per-user rows: requests, data_refreshed_at, email_address (§14.9, §14.11) -----------------


def _user_cost_row(**extra: Any) -> dict[str, Any]:
    return {
        "actor": {
            "type": "user_actor",
            "user_id": "user_01",
            "email_address": "ada@example.com",
            "name": "Ada",
            "deleted": False,
        },
        "amount": "1250.5",
        "list_amount": "1500",
        "currency": "USD",
        **extra,
    }


def test_per_user_requests_are_a_count_not_part_of_the_row_key() -> None:
    counted = parse_user_cost(DAY, _user_cost_row(requests=12))
    split = parse_user_cost(DAY, _user_cost_row(requests=None))  # grouped by cost/token type
    assert counted.dims_key == split.dims_key  # the same row, whatever its count
    assert counted.measures["requests"] == 12 and split.measures["requests"] is None
    assert "requests" not in counted.extra
    usage = parse_user_usage(DAY, {**_user_cost_row(), "requests": 3, "total_tokens": 9})
    assert usage.measures["requests"] == 3


def test_the_actor_email_is_read_from_email_address_and_the_old_email() -> None:
    new = parse_user_cost(DAY, _user_cost_row())
    row = _user_cost_row()
    row["actor"] = {"type": "user_actor", "user_id": "user_01", "email": "ada@example.com"}
    old = parse_user_cost(DAY, row)
    assert new.dims["user_email"] == old.dims["user_email"] == "ada@example.com"


@pytest.mark.parametrize("legacy", [True, False])
def test_enterprise_sync_keeps_requests_and_data_as_of_with_new_or_old_fields(
    engine: Engine, settings: Settings, legacy: bool
) -> None:
    """The simulator's per-user cost rows carry ``requests`` and the pages
    ``data_refreshed_at``; with the deprecated fields gone (``summaries``, ``actor.email``)
    the sync still completes, engagement included."""
    sim = Simulator(history_days=60, seed=5)
    ent = sim.add_enterprise_org(name="Globex Enterprise", seed=41)
    sim.analytics_rpm = None
    sim.legacy_fields = legacy
    fast = settings.model_copy(update={"enterprise_requests_per_minute": 100_000})
    conn = connect_enterprise(sim, ent.key, engine=engine, settings=fast)
    pk = org_pk(engine, conn.organization_id)
    result = sync_engine(sim, engine, fast).run(pk)
    assert result.outcome == "ok", result.message
    assert not result.notes, result.notes  # engagement (summaries) did not fail
    with read_session(engine) as session:
        costs = session.execute(select(UserCost).where(UserCost.organization_pk == pk)).all()
        usage = session.execute(select(UserUsage).where(UserUsage.organization_pk == pk)).all()
        org = session.get(Organization, pk)
    assert costs and usage and org is not None and org.status == OrgStatus.HEALTHY
    assert all(c.requests is not None and c.requests > 0 for (c,) in costs)
    assert all(c.user_email for (c,) in costs)  # read from email_address alone too
    assert all(c.data_refreshed_at is not None for (c,) in costs)
    assert all(u.data_refreshed_at is not None for (u,) in usage)
    assert all("requests" not in (c.extra or "") for (c,) in costs)


# --- API keys' scope (§14.6) ----------------------------------------------------------------


def test_an_api_keys_workspace_is_read_from_scope_first(engine: Engine, settings: Settings) -> None:
    sim = Simulator(history_days=30)
    org = sim.add_org(name="Acme", seed=11)
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    listed = {"wrkspc_prod": {}}
    keys = [
        # The new form: the scope, and the old field, which says null for the Default one.
        {"id": "k1", "name": "a", "scope": {"type": "workspace", "workspace_id": "wrkspc_prod"}},
        {"id": "k2", "name": "b", "scope": {"type": "workspace", "workspace_id": "wrkspc_dflt"}},
        {"id": "k3", "name": "c", "scope": {"type": "organization"}, "workspace_id": None},
        # The old form alone.
        {"id": "k4", "name": "d", "workspace_id": "wrkspc_prod"},
        {"id": "k5", "name": "e", "workspace_id": None},
    ]
    with write_session(engine) as session:
        store_directory(session, pk, [{"id": w, "name": "Prod"} for w in listed], keys)
    with read_session(engine) as session:
        stored = dict(
            session.execute(
                select(ApiKey.api_key_id, ApiKey.workspace_id).where(ApiKey.organization_pk == pk)
            ).all()
        )
    # The Default workspace's real id (in scope only) is the null workspace of the reports.
    assert stored == {"k1": "wrkspc_prod", "k2": None, "k3": None, "k4": "wrkspc_prod", "k5": None}


@pytest.mark.parametrize("legacy", [True, False])
def test_synced_keys_have_their_reports_workspace_with_or_without_the_old_field(
    engine: Engine, settings: Settings, legacy: bool
) -> None:
    sim = Simulator(history_days=30)
    org = sim.add_org(name="Acme", seed=11)
    sim.legacy_fields = legacy
    connect_org(sim, org, engine=engine, settings=settings)
    pk = org_pk(engine, org.id)
    assert sync_engine(sim, engine, settings).run(pk).outcome == "ok"
    with read_session(engine) as session:
        stored = dict(
            session.execute(
                select(ApiKey.api_key_id, ApiKey.workspace_id).where(ApiKey.organization_pk == pk)
            ).all()
        )
        workspaces = set(session.execute(select(Workspace.workspace_id)).scalars())
    assert stored == {k.id: k.workspace_id for k in org.api_keys}
    assert None in stored.values()  # ops-scripts is in the Default workspace
    assert org.default_workspace_id not in workspaces | set(stored.values())


# --- Claude in Slack is ``claude-tag`` (§14.10) ------------------------------------------------


def test_slack_channel_usage_is_the_claude_tag_product() -> None:
    sim = Simulator(history_days=60, seed=5)
    ent = sim.add_enterprise_org(seed=41)
    usage = sim.truth_enterprise_usage(ent.id, sim.today - timedelta(days=30), sim.today)
    products = {r.product for r in usage}
    assert "claude-tag" in products and "claude-in-slack" not in products
    assert {r.product for r in usage if r.slack_channel_id} == {"claude-tag"}


# --- a 404 on the Analytics cost and usage endpoints -----------------------------------------


def test_a_404_on_an_enterprise_cost_report_is_not_called_a_scope_problem() -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
    with AnalyticsClient(ANALYTICS_KEY, transport=_answering(404, body), max_retries=0) as api:
        with pytest.raises(InvalidRequest) as cost:
            next(iter(api.iter_analytics_cost_pages(*_range())))
        assert not isinstance(cost.value, KeyRejected)  # the organization is not stopped
        assert "not a problem with the key's scope" in str(cost.value)
        assert "/v1/organizations/analytics/cost_report" in str(cost.value)
        # The engagement endpoints' 404 still means a key without read:analytics.
        with pytest.raises(KeyRejected) as engagement:
            api.test_analytics(DAY)
        assert "read:analytics" in str(engagement.value)


def test_a_404_on_the_usage_cost_analytics_api_says_what_it_is() -> None:
    body = {"type": "error", "error": {"type": "not_found_error", "message": "Not found"}}
    key = "sk-ant-admin01-" + "a" * 40
    admin = AdminClient(key, transport=_answering(404, body), max_retries=0)
    with admin, pytest.raises(InvalidRequest) as refused:
        admin.iter_key_cost(DAY, DAY + timedelta(days=1))
    assert not isinstance(refused.value, KeyRejected)
    message = str(refused.value)
    assert "The key was not refused" in message and "analytics-usage-cost-2026-08-24" in message


def _range() -> tuple[Any, Any]:
    from app.clock import midnight

    return midnight(DAY), midnight(DAY + timedelta(days=1))


# --- the simulator's cost report: standard and batch only; speed only with its beta --------


def test_the_cost_report_has_no_flex_rows_and_no_speed_without_the_beta_header() -> None:
    sim = Simulator(history_days=30)
    org = sim.add_org(name="Acme", seed=11)
    params = {
        "starting_at": f"{sim.today - timedelta(days=20)}T00:00:00Z",
        "ending_at": f"{sim.today}T00:00:00Z",
        "limit": "31",
        "group_by[]": ["workspace_id", "description"],
    }
    headers = {"x-api-key": org.admin_key, "anthropic-version": "2023-06-01"}
    with httpx.Client(transport=sim.transport(), base_url="http://sim") as http:
        plain = http.get("/v1/organizations/cost_report", params=params, headers=headers).json()
        beta = http.get(
            "/v1/organizations/cost_report",
            params=params,
            headers={**headers, "anthropic-beta": "fast-mode-2026-02-01"},
        ).json()
    results = [r for b in plain["data"] for r in b["results"]]
    assert results and {r["service_tier"] for r in results} - {None} == {"standard", "batch"}
    assert all("speed" not in r for r in results)
    with_beta = [r for b in beta["data"] for r in b["results"]]
    assert any(r.get("speed") == "standard" for r in with_beta)
    # Flex usage is still in the usage report: usage without a cost line, like priority.
    assert "flex" in {
        r.service_tier for r in sim.truth_usage(org.id, sim.today - timedelta(days=20), sim.today)
    }


# --- keys: workspace-unscoped personal and service-account keys (§14.7) -----------------------


def test_a_key_of_an_unknown_prefix_is_left_to_the_test_call() -> None:
    key = "sk-ant-sa01-" + "x" * 60
    assert check_admin_key(key) == key
    hint = describe_key_kind(key) or ""
    assert "sk-ant-sa01-" in hint and "service-account" in hint
    assert describe_key_kind("sk-ant-admin01-" + "a" * 40) is None
    # Regular workspace keys are still refused with the same message, as are non-keys.
    with pytest.raises(KeyFormatError) as regular:
        check_admin_key("sk-ant-api03-" + "r" * 40)
    assert regular.value.kind is KeyKind.REGULAR and str(regular.value) == MESSAGES[KeyKind.REGULAR]
    for junk in ("hello", "sk-ant-sa01- spaced key here", "sk-ant-x"):
        with pytest.raises(KeyFormatError):
            check_admin_key(junk)


def test_an_unscoped_service_account_key_connects_when_the_test_call_succeeds(
    engine: Engine, settings: Settings
) -> None:
    sim = Simulator(history_days=20)
    org = sim.add_org(name="Acme", seed=11, admin_key="sk-ant-sa01-" + "s" * 60)
    connection = connect_org(sim, org, engine=engine, settings=settings)
    assert connection.organization_id == org.id
    # The person connecting is told what the key seems to be (`finops connect`, the Connect
    # page), by its kind's prefix alone.
    note = connection.key_note or ""
    assert "sk-ant-sa01-…" in note and "service-account" in note and "s" * 20 not in note
    assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"


def test_a_key_of_unknown_kind_with_a_non_ascii_kind_is_refused_before_any_request() -> None:
    # Found by tests/test_key_fuzz.py: the kind, not only the secret, goes into the header.
    from app.anthropic.keys import KeyFormatError, check_admin_key

    with pytest.raises(KeyFormatError):
        check_admin_key("sk-ant-\x80QjZxW0000000-00000000")
