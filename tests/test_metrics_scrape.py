"""Prometheus metrics: `/metrics` scraped over real HTTP equals the dashboard's figures, series
stay bounded, and the worker serves them on 127.0.0.1 only when FINOPS_METRICS_PORT is set."""

from __future__ import annotations

import json
import re
import signal
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from app.clock import today
from app.finops.metrics import OTHER_WORKSPACES, MetricsServer
from app.reports.filters import Filters
from app.reports.periods import month_start
from app.reports.spend import spend_over_time, spend_summary, spend_totals
from app.services.access import OPERATOR
from app.settings import Settings
from app.simulator import Simulator
from tests.utils.factories import connect_org
from tests.utils.processes import free_port, start_worker, wait_for
from tests.utils.snapshots import synced_copy

ROOT = Path(__file__).resolve().parent.parent
Samples = dict[str, list[tuple[dict[str, str], float]]]


def scrape(port: int) -> Samples:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=30).text
    found: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def _cent(value: float, exact: Decimal) -> bool:
    return abs(Decimal(str(value)) - exact) < Decimal("0.005")


@pytest.fixture
def synced(
    sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    return synced_copy(sim, engine, Settings())


def test_scraped_spend_equals_the_dashboard_to_the_cent(synced: list[str], engine: Engine) -> None:
    server = MetricsServer(engine, 0)  # 0: a free port
    assert server.address == "127.0.0.1"  # loopback only, never every interface
    try:
        samples = scrape(server.port)
    finally:
        server.stop()
    day = today()
    totals = {
        labels["organization_id"]: value
        for labels, value in samples["finops_organization_spend_month_to_date_usd"]
    }
    assert set(totals) == set(synced)
    for org_id in synced:
        summary = spend_summary(engine, day, (org_id,), include_demo=True)
        assert _cent(totals[org_id], summary.month_to_date), org_id  # the Overview's figure
        f = Filters(month_start(day), day + timedelta(days=1), (org_id,), include_demo=True)
        by_workspace = spend_totals(spend_over_time(engine, f, "workspace", "month"))
        page = dict(
            zip(
                by_workspace.frame[by_workspace.group],
                by_workspace.frame["amount_usd"],
                strict=True,
            )
        )
        scraped = {
            labels["workspace"]: value
            for labels, value in samples["finops_workspace_spend_month_to_date_usd"]
            if labels["organization_id"] == org_id
        }
        assert scraped.keys() == page.keys()  # the Spend page's workspace names
        for name, usd in page.items():
            assert _cent(scraped[name], usd), (org_id, name)
    # Data lag per organization and dataset; the last run of each organization was ok.
    lags = samples["finops_data_lag_seconds"]
    assert {(s["organization_id"], s["dataset"]) for s, _ in lags} >= {(o, "cost") for o in synced}
    assert all(0 <= v < 3600 for _, v in lags)
    outcomes = {
        s["organization_id"]: s["outcome"] for s, v in samples["finops_sync_last_outcome"] if v == 1
    }
    assert outcomes == dict.fromkeys(synced, "ok")
    assert samples["finops_metrics_error"] == [({}, 0.0)]
    # No label value is a date.
    for series in samples.values():
        for labels, _ in series:
            assert not any(v[:4].isdigit() and v[4:5] == "-" for v in labels.values()), labels


def test_workspaces_beyond_the_cap_are_one_series_and_still_add_up(
    synced: list[str], engine: Engine
) -> None:
    server = MetricsServer(engine, 0)
    server.collector.workspace_cap = 1
    try:
        samples = scrape(server.port)
    finally:
        server.stop()
    totals = {
        s["organization_id"]: v for s, v in samples["finops_organization_spend_month_to_date_usd"]
    }
    org_id = synced[0]
    series = [
        (s["workspace"], v)
        for s, v in samples["finops_workspace_spend_month_to_date_usd"]
        if s["organization_id"] == org_id
    ]
    assert len(series) == 2 and OTHER_WORKSPACES in dict(series)  # the largest, and the rest
    assert abs(sum(v for _, v in series) - totals[org_id]) < 0.005


def test_budget_use_is_scraped(synced: list[str], engine: Engine) -> None:
    from app.finops.budgets import budget_statuses, import_budgets

    import_budgets(
        engine,
        "budgets:\n  - name: All spend\n    scope: {}\n    period: monthly\n    amount_usd: 1000\n",
        actor=OPERATOR,
    )
    server = MetricsServer(engine, 0)
    try:
        samples = scrape(server.port)
    finally:
        server.stop()
    [status] = budget_statuses(engine)
    [(labels, actual)] = samples["finops_budget_actual_usd"]
    assert labels == {"budget": "All spend", "period": "monthly"}
    assert _cent(actual, status.actual_cents / 100)
    [(_, amount)] = samples["finops_budget_amount_usd"]
    assert amount == 1000.0
    [(_, ratio)] = samples["finops_budget_used_ratio"]
    # The forecast with its 80 % interval, as the Budgets page shows it.
    [(_, expected)] = samples["finops_budget_forecast_usd"]
    [(_, low)] = samples["finops_budget_forecast_low_usd"]
    [(_, high)] = samples["finops_budget_forecast_high_usd"]
    assert _cent(expected, status.forecast.expected_cents / 100)
    assert _cent(low, status.forecast.low_cents / 100) and _cent(
        high, status.forecast.high_cents / 100
    )
    assert low <= expected <= high
    assert abs(ratio - float(status.actual_cents / 100) / 1000) < 1e-9
    # The sample Grafana dashboard queries only series the worker serves.
    dashboard = json.loads((ROOT / "grafana" / "finops-dashboard.json").read_text())
    queried = {
        name
        for panel in dashboard["panels"]
        for target in panel["targets"]
        for name in re.findall(r"finops_[a-z_]+", target["expr"])
    }
    assert queried and queried <= set(samples), queried - set(samples)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_worker_serves_metrics_on_loopback_after_its_sync(
    http_sim: Simulator,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    [org, *_] = http_sim.orgs.values()
    connect_org(http_sim, org, engine=engine, settings=Settings())
    port = free_port()
    worker = start_worker(
        tmp_path / "worker.log",
        env={"FINOPS_METRICS_PORT": str(port), "FINOPS_BACKFILL_MONTHS": "1"},
    )
    try:

        def synced_ok() -> bool:
            try:
                samples = scrape(port)
            except httpx.HTTPError:
                return False
            return any(
                s["outcome"] == "ok" and v == 1
                for s, v in samples.get("finops_sync_last_outcome", [])
            )

        assert wait_for(synced_ok, timeout=180, interval=1.0), (tmp_path / "worker.log").read_text()
        samples = scrape(port)
        [(labels, value)] = samples["finops_organization_spend_month_to_date_usd"]
        assert labels["organization_id"] == org.id
        summary = spend_summary(engine, today(), (org.id,), include_demo=True)
        assert _cent(value, summary.month_to_date)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)
    assert worker.returncode == 0
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2)


def test_no_port_no_server(engine: Engine) -> None:
    from app.finops.metrics import start_metrics_server

    assert start_metrics_server(engine, None) is None
