"""A hostile or broken upstream (issue 12, points 7-9): a slow-loris answer, a retry-after of a
day, a page far too large, poison values. Each one fails one request or one page clearly and
boundedly, marks the organization failing with a message that names the problem, keeps what
was stored before it, and a later run after the fault is gone ends with exact totals."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, select

from app import cli
from app.anthropic.admin import AdminClient
from app.anthropic.base import MAX_RETRY_AFTER
from app.anthropic.errors import NetworkError, RefusedPage, ResponseTooLarge
from app.anthropic.schemas import MAX_COUNT, parse_cost_result, parse_usage_result
from app.clock import midnight, today, utcnow
from app.db import read_session
from app.keystore import KeyStore
from app.models import Organization, OrgStatus, SyncRun
from app.services.organizations import list_organizations
from app.settings import Settings
from app.simulator import Simulator, serve_http
from app.simulator import faults as sim_faults
from app.store import check_bounds
from ingest.sync import Syncer
from tests.utils.factories import (
    connect_org,
    org_pk,
    stored_cost,
    stored_usage,
    sync_engine,
    truth_cost,
    truth_usage,
)


def bounded(call: Callable[[], Any], seconds: float) -> tuple[Any, BaseException | None, float]:
    """Run ``call`` in a daemon thread for at most ``seconds``: a regression that hangs fails
    the test instead of blocking the suite. Returns (result, exception, elapsed)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            box["error"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    elapsed = time.monotonic() - started
    assert not thread.is_alive(), f"still blocked after {seconds} s"
    return box.get("result"), box.get("error"), elapsed


def window(days: int) -> tuple[Any, Any]:
    end = today() + timedelta(days=1)
    return midnight(end - timedelta(days=days)), midnight(end)


# --- 7. an overall deadline per request ----------------------------------------------------


@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"], ids=["body", "headers"])
def test_a_trickling_upstream_fails_the_request_within_its_deadline(kind: str) -> None:
    sim = Simulator(history_days=40)
    org = sim.add_org(name="Slow Loris", seed=31)
    sim.inject(kind, route="cost_report", count=5)  # one byte every 0.2 s, for minutes
    start, end = window(10)
    with serve_http(sim) as server:
        client = AdminClient(
            org.admin_key, base_url=server.base_url, timeout=1.0, deadline=2.0, max_retries=0
        )
        with client:
            _, error, elapsed = bounded(lambda: list(client.iter_cost_pages(start, end)), 8.0)
    assert isinstance(error, NetworkError), error
    assert "too slowly (over 2 s)" in str(error)
    assert error.retryable  # another try may well be quick
    assert 2.0 <= elapsed < 3.5  # the deadline, plus at most a byte's delay and set-up


def test_a_sync_retries_a_trickling_page_and_ends_exact(
    http_sim: Simulator, engine: Engine, settings: Settings
) -> None:
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    http_sim.inject("trickle", route="cost_report", count=1)
    waits: list[float] = []

    def make(_org: Organization, key: str) -> AdminClient:
        return AdminClient(
            key,
            base_url=Settings().anthropic_base_url,
            timeout=1.0,
            deadline=1.0,
            sleep=waits.append,
        )

    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=make,
    )
    result, error, _ = bounded(lambda: sync.run(org_pk(engine, org.id)), 20.0)
    assert error is None and result.outcome == "ok", result.message
    # The slow page cost a retry; on a loaded machine one more of the run's requests (per-key
    # cost added 27) may also pass the 1 s deadline once. No retry storm either way.
    assert 1 <= len(waits) <= 2, waits
    start, end = backfill_range(engine, org.id)
    assert stored_cost(engine, org.id) == truth_cost(http_sim, org.id, start, end)


@pytest.mark.parametrize(
    "retry_after", [86400, "http-date a day ahead", "1e400", "99999999999999999999999"]
)
def test_a_huge_retry_after_is_capped(sim: Simulator, retry_after: object) -> None:
    org = next(iter(sim.orgs.values()))
    if retry_after == "http-date a day ahead":
        retry_after = format_datetime(utcnow() + timedelta(days=1), usegmt=True)
    sim.inject("429", route="cost_report", count=1, retry_after=retry_after)  # type: ignore[arg-type]
    waits: list[float] = []
    start, end = window(5)
    client = AdminClient(
        org.admin_key, base_url="http://sim.invalid", transport=sim.transport(), sleep=waits.append
    )
    with client:
        assert len(list(client.iter_cost_pages(start, end))) == 1
    # A 429 saying "come back tomorrow" parks the request for a minute, not a day.
    assert MAX_RETRY_AFTER == 60.0
    assert waits == [MAX_RETRY_AFTER]


# --- 9. a response size cap --------------------------------------------------------------


def counting_transport(pulled: list[int], total: int, declare: bool) -> httpx.MockTransport:
    """A 200 whose body is a valid page padded with ``total`` bytes of whitespace, made
    lazily; ``pulled`` records the bytes the client asked for."""
    page = b'{"data": [], "has_more": false, "next_page": null}'

    def body() -> Iterator[bytes]:
        pulled.append(len(page))
        yield page
        for _ in range(total // 65536):
            pulled.append(65536)
            yield b" " * 65536

    def handler(request: httpx.Request) -> httpx.Response:
        headers = {"content-type": "application/json"}
        if declare:
            headers["content-length"] = str(len(page) + total)
        return httpx.Response(200, content=body(), headers=headers)

    return httpx.MockTransport(handler)


@pytest.mark.parametrize("declare", [False, True], ids=["streamed", "content-length"])
def test_an_oversized_body_is_refused_without_reading_it_all(declare: bool) -> None:
    pulled: list[int] = []
    client = AdminClient(
        "sk-ant-admin01-x",
        base_url="http://sim.invalid",
        max_retries=3,
        transport=counting_transport(pulled, 32 * 2**20, declare),
        max_response_bytes=2**20,
        sleep=lambda _s: None,
    )
    start, end = window(5)
    with client, pytest.raises(ResponseTooLarge) as caught:
        list(client.iter_cost_pages(start, end))
    message = str(caught.value)
    assert "/v1/organizations/cost_report" in message and "1 MiB" in message
    assert not caught.value.retryable and client.requests_made == 1  # same next time
    # Memory stays bounded: at most the cap and one chunk was read, or nothing at all when
    # the Content-Length already said too much.
    assert sum(pulled) <= (0 if declare else 2**20 + 65536 + 100)


def test_a_sync_shrinks_pages_that_are_too_large_and_ends_exact(
    http_sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_faults, "HUGE_PAGE_BYTES", 3 * 2**20)
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings)
    http_sim.inject("huge_page", route="cost_report", count=1)

    def make(_org: Organization, key: str) -> AdminClient:
        return AdminClient(
            key,
            base_url=Settings().anthropic_base_url,
            max_response_bytes=2**20,
            sleep=lambda _s: None,
        )

    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=make,
    )
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "ok", result.message
    start, end = backfill_range(engine, org.id)
    assert stored_cost(engine, org.id) == truth_cost(http_sim, org.id, start, end)


def test_pages_too_large_even_one_day_at_a_time_fail_clearly(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sim_faults, "HUGE_PAGE_BYTES", 3 * 2**20)
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    sim.inject("huge_length", route="cost_report", count=1000)
    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=lambda _o, key: AdminClient(
            key,
            base_url="http://sim.invalid",
            transport=sim.transport(),
            max_response_bytes=2**20,
            sleep=lambda _s: None,
        ),
    )
    sim.reset_requests()
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "failed"
    assert "larger than the 1 MiB" in (result.message or "")
    assert "cost_report" in (result.message or "")
    # Fewer buckets per page, down to one day; never the same request again and again.
    assert len([r for r in sim.requests if r.route == "cost_report"]) == 3
    assert sim.api.streamed_bytes == 0  # the Content-Length said enough
    assert_failing_not_due(engine, sync, org.id, "larger than the 1 MiB")


# --- 8. poison values ----------------------------------------------------------------------

POISONS = [
    # kind, route (dataset), what the message names
    ("poison_amount", "cost_report", ["cost amount", "'1e30'"]),
    ("poison_tokens", "usage_report", ["output_tokens", "'18446744073709551616'"]),
    ("negative_tokens", "usage_report", ["uncached_input_tokens", "'-5'"]),
    ("repeat_bucket", "cost_report", ["twice"]),
]


def backfill_range(engine: Engine, organization_id: str) -> tuple[date, date]:
    with read_session(engine) as session:
        org = session.execute(
            select(Organization).where(Organization.organization_id == organization_id)
        ).scalar_one()
        return org.backfill_start, today() + timedelta(days=1)


def a_day_with_rows(sim: Simulator, organization_id: str, day: date, route: str) -> date:
    """``day`` or the first day after it on which the simulator reports rows for ``route``: a
    day without any (the simulated organization's quiet days move with the date) has no bucket
    results to poison."""
    truth = truth_cost if route == "cost_report" else truth_usage
    while not truth(sim, organization_id, day, day + timedelta(days=1)):
        day += timedelta(days=1)
    return day


def assert_failing_not_due(engine: Engine, sync: Syncer, org_id: str, text: str) -> None:
    """Failing with ``text`` in its status, and not due again at once (backoff, no tight loop)."""
    [summary] = [s for s in list_organizations(engine) if s.organization_id == org_id]
    assert summary.status == OrgStatus.FAILING
    assert text in (summary.status_message or "")
    pk = org_pk(engine, org_id)
    with read_session(engine) as session:
        org = session.get(Organization, pk)
        assert org is not None and org.next_run_at is not None
        assert org.next_run_at > utcnow() + timedelta(seconds=30)
    assert pk not in sync.due_organizations()


@pytest.mark.parametrize(("kind", "route", "named"), POISONS, ids=[p[0] for p in POISONS])
def test_a_poison_page_fails_clearly_and_keeps_what_came_before(
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    kind: str,
    route: str,
    named: list[str],
) -> None:
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    start, end = backfill_range(engine, org.id)
    page_start = start + timedelta(days=31)  # the second page of 31 daily buckets
    bad_day = a_day_with_rows(sim, org.id, page_start + timedelta(days=9), route)
    assert bad_day < page_start + timedelta(days=31)
    sim.inject(kind, route=route, count=1000, day=bad_day)  # bad until cleared
    sync = sync_engine(sim, engine, settings)
    sim.reset_requests()

    result = sync.run(org_pk(engine, org.id))

    assert result.outcome == "failed"
    for text in [*named, bad_day.isoformat(), "nothing of it was stored"]:
        assert text in (result.message or ""), (text, result.message)
    assert_failing_not_due(engine, sync, org.id, named[0])
    # The bad page was asked for once: refused, not retried as if it were a cut connection.
    assert len([r for r in sim.requests if r.route == route]) == 2
    # Nothing of the bad page; the pages before it stored and exact.
    if route == "cost_report":
        stored, truth = stored_cost(engine, org.id), truth_cost(sim, org.id, start, page_start)
        assert stored_usage(engine, org.id) == truth_usage(sim, org.id, start, end)
    else:
        stored, truth = stored_usage(engine, org.id), truth_usage(sim, org.id, start, page_start)
        assert stored_cost(engine, org.id) == {}
    assert max(day for day, _, _ in stored) < page_start
    assert stored == truth  # type: ignore[comparison-overlap]
    with read_session(engine) as session:
        run = session.execute(select(SyncRun).order_by(SyncRun.id.desc())).scalars().first()
        assert run is not None and run.outcome == "failed" and named[0] in (run.error or "")

    # A second run meets the same bad page: still failing, the backoff grows.
    assert sync.run(org_pk(engine, org.id)).outcome == "failed"
    with read_session(engine) as session:
        org_row = session.get(Organization, org_pk(engine, org.id))
        assert org_row is not None and org_row.consecutive_failures == 2

    sim.clear_faults()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)
    assert stored_usage(engine, org.id) == truth_usage(sim, org.id, start, end)
    [summary] = [s for s in list_organizations(engine) if s.organization_id == org.id]
    assert summary.status == OrgStatus.HEALTHY


def test_negative_cost_amounts_are_still_accepted(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A credit or refund within range is a real line of a bill, not poison.
    monkeypatch.setattr(sim_faults, "POISON_AMOUNT", "-123456.5")
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    start, end = backfill_range(engine, org.id)
    sim.inject("poison_amount", route="cost_report", count=1, day=start + timedelta(days=3))
    assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    stored = stored_cost(engine, org.id)
    assert min(stored.values()) < 0


def test_finops_sync_exits_non_zero_naming_the_poison(
    http_sim: Simulator, engine: Engine, settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    org = next(iter(http_sim.orgs.values()))
    connect_org(http_sim, org, engine=engine, settings=settings, label="Poisoned")
    start, _ = backfill_range(engine, org.id)
    bad_day = a_day_with_rows(http_sim, org.id, start + timedelta(days=40), "cost_report")
    http_sim.inject("poison_amount", route="cost_report", count=1000, day=bad_day)
    assert cli.main(["sync", "--org", org.id]) == 1
    err = capsys.readouterr().err
    assert "cost amount '1e30'" in err and bad_day.isoformat() in err


def test_rows_each_in_range_that_add_up_past_any_real_day_are_refused() -> None:
    # Each value passes on its own; a day of ten thousand of them would overflow the rollup.
    day = date(2026, 11, 1)
    rows = [
        parse_usage_result(day, {"output_tokens": MAX_COUNT, "model": f"m{n}"})
        for n in range(10_000)
    ]
    with pytest.raises(RefusedPage, match="output_tokens adding up to '10000000000000000000'"):
        check_bounds(rows)
    costs = [parse_cost_result(day, {"amount": "-9e9", "model": f"m{n}"}) for n in range(3)]
    with pytest.raises(RefusedPage, match="cost amounts adding up to .* for 2026-11-01"):
        check_bounds(costs)
    # Credits and charges within a real day's range pass.
    check_bounds([parse_cost_result(day, {"amount": a, "model": a}) for a in ("-5e9", "4e9")])
