"""The Admin API client against the simulator: paging, retries, errors, tolerant parsing."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from app.anthropic.admin import AdminClient
from app.anthropic.analytics import AnalyticsClient
from app.anthropic.errors import (
    KeyRejected,
    MalformedResponse,
    PaginationError,
    RateLimited,
    ServerError,
)
from app.anthropic.schemas import parse_cost_result, parse_usage_result
from app.clock import midnight, today
from app.simulator import Simulator


def client_for(
    sim: Simulator, key: str, *, retries: int = 3, waits: list[float] | None = None
) -> AdminClient:
    sleeps = waits if waits is not None else []
    return AdminClient(
        key,
        base_url="http://sim.invalid",
        transport=sim.transport(),
        max_retries=retries,
        sleep=sleeps.append,
    )


def window(days: int) -> tuple:
    end = today() + timedelta(days=1)
    return midnight(end - timedelta(days=days)), midnight(end)


def test_me_names_the_organization(sim: Simulator) -> None:
    acme = next(iter(sim.orgs.values()))
    with client_for(sim, acme.admin_key) as client:
        info = client.get_organization()
    assert (info.id, info.name) == (acme.id, acme.name)


def test_cost_pages_cover_every_day_once_and_match_truth(sim: Simulator) -> None:
    org = sim.add_org(name="Paging Co", seed=5)
    start, end = window(100)
    with client_for(sim, org.admin_key) as client:
        pages = list(client.iter_cost_pages(start, end))
    days = [b.day for p in pages for b in p.buckets]
    assert len(pages) == 4  # 100 days at 31 buckets a page
    assert days == sorted(set(days)) and len(days) == 100
    total = sum(
        (
            parse_cost_result(b.day, r).amount_cents
            for p in pages
            for b in p.buckets
            for r in b.results
        ),
        Decimal(0),
    )
    truth = sum(
        (r.amount_cents for r in sim.truth_cost(org.id, start.date(), end.date())), Decimal(0)
    )
    assert total == truth and total > 0


def test_usage_rows_read_nested_cache_writes(sim: Simulator) -> None:
    org = sim.add_org(name="Cache Co", seed=6)
    start, end = window(30)
    with client_for(sim, org.admin_key) as client:
        rows = [
            parse_usage_result(b.day, r)
            for p in client.iter_usage_pages(start, end)
            for b in p.buckets
            for r in b.results
        ]
    truth = sim.truth_usage(org.id, start.date(), end.date())
    for name in ("cache_creation_5m_input_tokens", "cache_creation_1h_input_tokens"):
        got = sum(r.tokens[name] for r in rows)
        assert got == sum(getattr(t, name) for t in truth) and got > 0


@pytest.mark.parametrize("kind", ["429", "500", "502", "503", "504", "529", "truncated"])
def test_transient_faults_are_retried(sim: Simulator, kind: str) -> None:
    org = sim.add_org(name="Flaky", seed=8)
    sim.inject(kind, route="cost_report", count=2, retry_after=3 if kind == "429" else None)
    waits: list[float] = []
    start, end = window(10)
    with client_for(sim, org.admin_key, waits=waits) as client:
        pages = list(client.iter_cost_pages(start, end))
        assert client.requests_made == 3
    assert len(pages[0].buckets) == 10
    assert len(waits) == 2
    if kind == "429":
        assert waits == [3.0, 3.0]  # retry-after is honoured exactly


def test_retries_are_bounded(sim: Simulator) -> None:
    org = sim.add_org(name="Down", seed=9)
    sim.inject("529", route="cost_report", count=50)
    start, end = window(5)
    with client_for(sim, org.admin_key, retries=3) as client, pytest.raises(ServerError):
        list(client.iter_cost_pages(start, end))
    assert client.requests_made == 4


def test_rate_limit_that_persists_surfaces_as_rate_limited(sim: Simulator) -> None:
    org = sim.add_org(name="Busy", seed=10)
    sim.inject("429", route="usage_report", count=10, retry_after=1)
    start, end = window(5)
    with client_for(sim, org.admin_key, retries=2) as client, pytest.raises(RateLimited) as caught:
        list(client.iter_usage_pages(start, end))
    assert "rate limiting" in str(caught.value)


def test_401_is_not_retried(sim: Simulator) -> None:
    org = sim.add_org(name="Revoked", seed=12)
    sim.reject_key(org.id)
    with client_for(sim, org.admin_key) as client, pytest.raises(KeyRejected) as caught:
        client.get_organization()
    assert client.requests_made == 1
    assert caught.value.status == 401
    assert org.admin_key[15:] not in str(caught.value)


@pytest.mark.parametrize("kind", ["repeat_cursor", "missing_cursor"])
def test_broken_paging_raises_instead_of_looping(sim: Simulator, kind: str) -> None:
    org = sim.add_org(name="Loopy", seed=13)
    sim.inject(kind, route="cost_report", count=5)
    start, end = window(90)
    with client_for(sim, org.admin_key) as client, pytest.raises(PaginationError):
        list(client.iter_cost_pages(start, end))
    assert client.requests_made <= 5


def test_parsing_keeps_unknown_values_and_exact_cents() -> None:
    row = parse_cost_result(
        today(),
        {
            "amount": "123.456789",
            "currency": "USD",
            "cost_type": "session_usage",
            "service_tier": "flex_discount",
            "model": None,
            "workspace_id": None,
            "brand_new_field": {"x": 1},
        },
    )
    assert row.amount_cents == Decimal("123.456789")
    assert row.dims["cost_type"] == "session_usage"
    assert row.dims["service_tier"] == "flex_discount"
    assert row.extra == {"brand_new_field": {"x": 1}}


def test_non_numeric_amount_is_an_error_not_zero() -> None:
    with pytest.raises(MalformedResponse):
        parse_cost_result(today(), {"amount": "12,50", "currency": "USD"})


def test_a_cursor_cycle_is_detected(sim: Simulator) -> None:
    org = sim.add_org(name="Cyclic", seed=14)
    sim.inject("cursor_cycle", route="cost_report", count=2)
    start, end = window(120)
    with (
        client_for(sim, org.admin_key) as client,
        pytest.raises(PaginationError, match="already sent"),
    ):
        list(client.iter_cost_pages(start, end))
    assert client.requests_made == 3  # A, B (which points back at A), A again: stopped there


# --- what each kind of series says when its paging breaks, and how it restarts ------------

CLAUDE_CODE = "/v1/organizations/usage_report/claude_code"


def busy_claude_code_day(sim: Simulator, org_id: str) -> date:
    days = [today() - timedelta(days=n) for n in range(1, 40)]
    return max(days, key=lambda d: (len(sim.truth_claude_code(org_id, d)), d))


@pytest.mark.parametrize(
    ("kind", "requests", "message"),
    [
        (
            "missing_cursor",
            1,
            "Anthropic said more report pages follow but sent no cursor; stopping so no day is "
            "skipped. The next sync resumes from the last stored day.",
        ),
        (
            "repeat_cursor",
            2,
            "Anthropic returned a page cursor it had already sent; stopping to avoid a loop. "
            "The next sync resumes from the last stored day.",
        ),
    ],
)
def test_broken_report_paging_says_so_and_hands_out_no_page_past_it(
    sim: Simulator, kind: str, requests: int, message: str
) -> None:
    org = sim.add_org(name="Broken reports", seed=15)
    sim.inject(kind, route="cost_report", count=5)
    got = []
    with client_for(sim, org.admin_key) as client, pytest.raises(PaginationError) as caught:
        got.extend(client.iter_cost_pages(*window(90)))
    assert str(caught.value) == message
    # The page whose cursor is missing is not handed out; the one before a repeat is.
    assert len(got) == requests - 1 and client.requests_made == requests


@pytest.mark.parametrize(
    ("kind", "requests", "message"),
    [
        (
            "missing_cursor",
            1,
            f"Anthropic said more pages of {CLAUDE_CODE} follow but sent no cursor; stopping so "
            "nothing is skipped. The next sync tries again.",
        ),
        ("repeat_cursor", 2, f"Anthropic repeated a page cursor of {CLAUDE_CODE}; stopping."),
    ],
)
def test_broken_record_paging_says_so_and_hands_out_nothing(
    sim: Simulator, kind: str, requests: int, message: str
) -> None:
    org = next(iter(sim.orgs.values()))
    sim.inject(kind, route="claude_code", count=5)
    got = []
    with client_for(sim, org.admin_key) as client, pytest.raises(PaginationError) as caught:
        got.extend(client.iter_claude_code(busy_claude_code_day(sim, org.id)))
    assert str(caught.value) == message
    assert got == [] and client.requests_made == requests


@pytest.mark.parametrize(("kind", "requests"), [("missing_cursor", 1), ("repeat_cursor", 2)])
def test_broken_list_paging_says_so(sim: Simulator, kind: str, requests: int) -> None:
    org = next(iter(sim.orgs.values()))
    sim.inject(kind, route="workspaces", count=5)
    with client_for(sim, org.admin_key) as client, pytest.raises(PaginationError) as caught:
        list(client.iter_workspaces())
    assert str(caught.value) == (
        "Anthropic's list paging for /v1/organizations/workspaces did not advance."
    )
    assert client.requests_made == requests


def test_an_expired_record_cursor_rereads_the_whole_day_and_counts_each_record_once(
    sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    import app.anthropic.admin as admin_module

    monkeypatch.setattr(admin_module, "CLAUDE_CODE_LIMIT", 3)  # a day of several pages
    org = next(iter(sim.orgs.values()))
    day = busy_claude_code_day(sim, org.id)
    truth = sim.truth_claude_code(org.id, day)
    pages = -(-len(truth) // 3)
    assert pages >= 3
    sim.inject("expire_cursor", route="claude_code", count=2)
    with client_for(sim, org.admin_key) as client:
        records = [r for page in client.iter_claude_code(day) for r in page]
    assert records == truth
    # Page one, then 410 on page two, twice; then the whole day.
    assert client.requests_made == 2 + 2 + pages
    assert [r.status for r in sim.requests].count(410) == 2


def test_an_expired_report_cursor_restarts_from_page_one_handing_its_days_out_again(
    sim: Simulator,
) -> None:
    ent = sim.add_enterprise_org(name="Expiring", seed=31)
    end = midnight(today())
    start = end - timedelta(days=21)
    sim.inject("expire_cursor", route="analytics_cost_report", count=1)
    with AnalyticsClient(
        ent.key,
        base_url="http://sim.invalid",
        transport=sim.transport(),
        sleep=lambda _s: None,
        buckets_per_page=7,
    ) as client:
        firsts = [p.buckets[0].day for p in client.iter_analytics_cost_pages(start, end)]
        assert client.requests_made == 1 + 1 + 3  # page one, 410, then the three pages
    week = start.date()
    assert firsts == [week, week, week + timedelta(days=7), week + timedelta(days=14)]
