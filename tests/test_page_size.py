"""The worker's memory is bounded by the page size, not by rows per day (issue 14): the days
each usage or cost page asks for follow the rows per day measured, a first page beyond the
page budget is refused unread and asked again smaller, and small organizations keep their
31-day pages (no request more than before)."""

from __future__ import annotations

import math
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from app import store
from app.anthropic.errors import PageOverBudget
from app.datasets import Dataset
from app.keystore import KeyStore
from app.models import SyncState
from app.settings import Settings
from app.simulator import Simulator
from ingest import pages
from ingest.pages import PageSize, days_for
from ingest.sync import Syncer
from tests.test_sync import backfill_range
from tests.utils.factories import (
    connect_org,
    org_pk,
    sim_factory,
    stored_cost,
    stored_usage,
    truth_cost,
    truth_usage,
)


def test_days_per_page_follow_the_rows_per_day() -> None:
    assert days_for(0) == 31
    assert days_for(500) == 31  # a small organization: the pages it always had
    assert days_for(3_000) == pages.ROWS_PER_PAGE // 3_000 < 31
    assert days_for(10 * pages.ROWS_PER_PAGE) == 1
    size = PageSize(31)
    size.measured(rows=31 * 3_000, days=31)
    assert size.days * 3_000 <= pages.ROWS_PER_PAGE
    size.measured(rows=7 * 100, days=7)  # sparse days: back to 31
    assert size.days == 31
    size.measured(rows=5, days=0)  # nothing covered: nothing learnt
    assert size.days == 31


def test_a_window_is_sized_from_the_rows_already_stored() -> None:
    stored = SyncState(
        organization_pk=1,
        dataset=Dataset.USAGE,
        row_count=100 * 3_000,
        first_day=date(2026, 1, 1),
        last_day=date(2026, 1, 1) + timedelta(days=99),
    )
    assert PageSize.for_window(stored).days == days_for(3_000) < 31
    assert PageSize.for_window(SyncState(organization_pk=1, dataset=Dataset.USAGE)).days == 31


def test_a_page_over_budget_asks_for_as_many_days_as_fit() -> None:
    size = PageSize(31, asked=31)
    refused = PageOverBudget("x", path="p", size=40 * 2**20, budget=24 * 2**20)
    assert size.over_budget(refused)
    assert size.days == 31 * 12 // 40  # half the budget's worth of days
    size = PageSize(31, asked=31)
    assert size.over_budget(PageOverBudget("x", path="p", size=None, budget=2**20))
    assert size.days == 7  # size unknown: a quarter
    assert not PageSize(1, asked=1).over_budget(refused)


def _recording(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """(dataset, rows) of every chunk handed to the store."""
    handed: list[tuple[str, int]] = []
    replace = store.replace_days_counted

    def recorded(session: Any, org: int, dataset: str, start: Any, end: Any, rows: Any) -> Any:
        handed.append((dataset, len(rows)))
        return replace(session, org, dataset, start, end, rows)

    monkeypatch.setattr(store, "replace_days_counted", recorded)
    return handed


def _requests(sim: Simulator, route: str) -> list[dict[str, str]]:
    return [dict(r.params) for r in sim.requests if r.route == route]


def test_a_wide_organization_hands_the_store_bounded_pages(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An organization "wide" for small bounds (rows per page 100, page budget 64 kB, where
    its 31-day pages hold ~460 usage and ~1,400 cost rows): the first page is refused unread,
    every page handed to the store stays within the bound, and what is stored is exact."""
    monkeypatch.setattr(pages, "ROWS_PER_PAGE", 100)
    handed = _recording(monkeypatch)
    settings = settings.model_copy(update={"claude_code": False})
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=sim_factory(sim, settings, page_budget_bytes=64 * 1024),
    )
    sim.reset_requests()
    result = sync.run(org_pk(engine, org.id))
    assert result.outcome == "ok", result.message
    start, end = backfill_range(engine, org.id)
    assert stored_usage(engine, org.id) == truth_usage(sim, org.id, start, end)
    assert stored_cost(engine, org.id) == truth_cost(sim, org.id, start, end)
    days = (end - start).days
    truth_rows = {
        Dataset.USAGE: len(sim.truth_usage(org.id, start, end)),
        Dataset.COST: len(sim.truth_cost(org.id, start, end)),
    }
    for dataset, route in ((Dataset.USAGE, "usage_report"), (Dataset.COST, "cost_report")):
        sizes = [rows for name, rows in handed if name == dataset]
        # Days vary around their mean: twice the bound, far below a 31-day page.
        assert max(sizes) <= 2 * pages.ROWS_PER_PAGE, (dataset, sizes)
        asked = _requests(sim, route)
        assert asked[0]["limit"] == "31" and int(asked[1]["limit"]) < 31  # refused, smaller
        # Sized to the rows per day, not one day a page: about rows / ROWS_PER_PAGE pages.
        assert len(asked) <= 1.5 * truth_rows[dataset] / pages.ROWS_PER_PAGE + 3, len(asked)
        assert len(asked) < days


def test_a_small_organization_keeps_its_31_day_pages(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    handed = _recording(monkeypatch)
    settings = settings.model_copy(update={"claude_code": False})
    org = next(iter(sim.orgs.values()))
    connect_org(sim, org, engine=engine, settings=settings)
    sync = Syncer(
        engine=engine,
        settings=settings,
        keystore=KeyStore.from_settings(settings),
        client_factory=sim_factory(sim, settings),
    )
    sim.reset_requests()
    assert sync.run(org_pk(engine, org.id)).outcome == "ok"
    start, end = backfill_range(engine, org.id)
    for route in ("usage_report", "cost_report"):
        asked = _requests(sim, route)
        assert {a["limit"] for a in asked} == {"31"}
        assert len(asked) == math.ceil((end - start).days / 31)  # no request more
    # A page of each report, one store each (per-key cost comes in 7-day queries of its own).
    reports = [h for h in handed if h[0] in (Dataset.COST, Dataset.USAGE)]
    assert len(reports) == 2 * math.ceil((end - start).days / 31)
