"""The Admin API client against the simulator: paging, retries, errors, tolerant parsing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.anthropic.client import AdminClient
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
