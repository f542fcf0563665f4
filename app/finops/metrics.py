"""Prometheus metrics of the worker: ``/metrics`` on ``127.0.0.1:FINOPS_METRICS_PORT``.

Computed when scraped (a custom collector), from the same read side as the dashboard
(``app.reports.spend``, ``app.finops.budgets``), and kept ``CACHE_SECONDS`` so frequent or
parallel scrapes cost one set of queries. Series (label values are never dates):

- ``finops_organization_spend_month_to_date_usd{organization_id,organization}``: billed spend
  of the current UTC month, today's partial day included (the Overview's "Month to date").
- ``finops_workspace_spend_month_to_date_usd{organization_id,organization,workspace}``: the
  same by workspace as the Spend page names them ("Default workspace" included). At most
  ``WORKSPACE_CAP`` workspaces per organization, the largest; the rest are added up into
  ``workspace="(other workspaces)"``, so series stay bounded and still add up to the total.
- ``finops_data_lag_seconds{organization_id,organization,dataset}``: seconds since the
  organization's last successful sync, for each dataset it syncs (a run syncs them all);
  absent until one has succeeded. ``finops_data_behind_seconds{...}``: seconds since the end
  of the last day the dataset is stored through.
- ``finops_sync_last_outcome{organization_id,organization,outcome}``: 1 for the outcome of the
  latest finished run, 0 for the others (outcomes are a fixed set);
  ``finops_sync_runs_total{organization_id,organization,outcome}``: runs recorded.
- ``finops_budget_amount_usd`` / ``_actual_usd`` / ``_forecast_usd`` / ``_forecast_low_usd``
  / ``_forecast_high_usd`` (its 80 % interval) / ``_used_ratio`` ``{budget,period}``: each
  budget's current period (budgets are named by their owners, so they are few).
- ``finops_metrics_error``: 1 when the last computation failed (the log says why).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from sqlalchemy import Engine, func, select
from sqlmodel import col

from app import clock
from app.db import read_session
from app.models import Organization, SyncOutcome, SyncRun, SyncState

if TYPE_CHECKING:
    from wsgiref.simple_server import WSGIServer

log = logging.getLogger("app.finops.metrics")

CACHE_SECONDS = 15.0
WORKSPACE_CAP = 20
OTHER_WORKSPACES = "(other workspaces)"
HOST = "127.0.0.1"
_ORG = ["organization_id", "organization"]
# Outcomes a finished run can have (running is not one).
_OUTCOMES = [o.value for o in SyncOutcome if o != SyncOutcome.RUNNING]


def _usd(cents: Decimal) -> float:
    return float(cents / 100)  # floats only here, at the edge (Prometheus values are doubles)


class FinOpsCollector(Collector):
    """Every FinOps series, computed at scrape time and cached ``ttl`` seconds."""

    def __init__(
        self,
        engine: Engine,
        *,
        ttl: float = CACHE_SECONDS,
        workspace_cap: int = WORKSPACE_CAP,
        now: Callable[[], datetime] = clock.utcnow,
    ) -> None:
        self.engine = engine
        self.ttl = ttl
        self.workspace_cap = workspace_cap
        self.now = now
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._at = float("-inf")

    def collect(self) -> Iterable[Metric]:
        with self._lock:  # parallel scrapes wait for one computation
            if time.monotonic() - self._at >= self.ttl:
                error = GaugeMetricFamily(
                    "finops_metrics_error", "1 when the last computation of the metrics failed"
                )
                try:
                    self._cached = self._compute()
                    error.add_metric([], 0)
                except Exception:
                    log.exception("Could not compute the metrics; serving none this time")
                    self._cached = []
                    error.add_metric([], 1)
                self._cached.append(error)
                self._at = time.monotonic()
            return list(self._cached)

    def describe(self) -> Iterable[Metric]:
        return []  # computed at scrape time: nothing to check at registration

    def _compute(self) -> list[Metric]:
        now = self.now()
        with read_session(self.engine) as session:
            orgs = [
                (pk, org_id, label or name, last)
                for pk, org_id, name, label, last in session.execute(
                    select(
                        col(Organization.id),
                        col(Organization.organization_id),
                        col(Organization.name),
                        col(Organization.label),
                        col(Organization.last_synced_at),
                    ).order_by(col(Organization.organization_id))
                )
            ]
        # Syncs first: a sync ending meanwhile then shows in the spend, never the reverse.
        metrics = self._syncs(orgs, now)
        metrics += self._spend(orgs, now.date())
        metrics += self._budgets(now.date())
        return metrics

    def _spend(self, orgs: list[Any], today: date) -> list[Metric]:
        from app.reports.filters import Filters
        from app.reports.periods import month_start
        from app.reports.spend import spend_over_time, total_cents

        total = GaugeMetricFamily(
            "finops_organization_spend_month_to_date_usd",
            "Billed spend of the current UTC month so far, as the Overview shows it",
            labels=_ORG,
        )
        by_workspace = GaugeMetricFamily(
            "finops_workspace_spend_month_to_date_usd",
            f"Billed spend of the current UTC month by workspace (the {self.workspace_cap} "
            f"largest of each organization; the rest as {OTHER_WORKSPACES!r})",
            labels=[*_ORG, "workspace"],
        )
        first, tomorrow = month_start(today), today + timedelta(days=1)
        for _pk, org_id, name, _last in orgs:
            f = Filters(first, tomorrow, (org_id,), include_demo=True)
            total.add_metric([org_id, name], _usd(total_cents(self.engine, f)))
            grouped = spend_over_time(self.engine, f, "workspace", "month", self.workspace_cap)
            sums: dict[str, Decimal] = {}
            for label, amount in zip(
                grouped.frame[grouped.group], grouped.frame["amount_usd"], strict=True
            ):
                key = OTHER_WORKSPACES if grouped.is_other(label) else str(label)
                sums[key] = sums.get(key, Decimal(0)) + Decimal(amount)
            for workspace, usd in sums.items():
                by_workspace.add_metric([org_id, name, workspace], float(usd))
        return [total, by_workspace]

    def _syncs(self, orgs: list[Any], now: datetime) -> list[Metric]:
        lag = GaugeMetricFamily(
            "finops_data_lag_seconds",
            "Seconds since the organization's last successful sync, per dataset it syncs",
            labels=[*_ORG, "dataset"],
        )
        behind = GaugeMetricFamily(
            "finops_data_behind_seconds",
            "Seconds since the end of the last day the dataset is stored through",
            labels=[*_ORG, "dataset"],
        )
        last_outcome = GaugeMetricFamily(
            "finops_sync_last_outcome",
            "1 for the outcome of the organization's latest finished sync run, else 0",
            labels=[*_ORG, "outcome"],
        )
        runs = CounterMetricFamily(
            "finops_sync_runs",
            "Sync runs recorded, by outcome",
            labels=[*_ORG, "outcome"],
        )
        names = {pk: (org_id, name, last) for pk, org_id, name, last in orgs}
        with read_session(self.engine) as session:
            states = session.execute(
                select(
                    col(SyncState.organization_pk),
                    col(SyncState.dataset),
                    col(SyncState.synced_through),
                ).order_by(col(SyncState.organization_pk), col(SyncState.dataset))
            ).all()
            counts = session.execute(
                select(col(SyncRun.organization_pk), col(SyncRun.outcome), func.count())
                .group_by(col(SyncRun.organization_pk), col(SyncRun.outcome))
                .order_by(col(SyncRun.organization_pk), col(SyncRun.outcome))
            ).all()
            latest_finished = (
                select(col(SyncRun.organization_pk), func.max(col(SyncRun.id)).label("run_id"))
                .where(col(SyncRun.finished_at).is_not(None))
                .group_by(col(SyncRun.organization_pk))
                .subquery()
            )
            latest = session.execute(
                select(col(SyncRun.organization_pk), col(SyncRun.outcome)).join(
                    latest_finished, latest_finished.c.run_id == col(SyncRun.id)
                )
            ).all()
        for pk, dataset, through in states:
            if pk not in names:
                continue
            org_id, name, last = names[pk]
            if last is not None:
                lag.add_metric([org_id, name, dataset], max((now - last).total_seconds(), 0.0))
            if through is not None:
                end = clock.midnight(through + timedelta(days=1))
                behind.add_metric([org_id, name, dataset], max((now - end).total_seconds(), 0.0))
        for pk, outcome in latest:
            if pk in names:
                org_id, name, _ = names[pk]
                for value in sorted({*_OUTCOMES, outcome}):
                    last_outcome.add_metric([org_id, name, value], 1 if value == outcome else 0)
        for pk, outcome, count in counts:
            if pk in names:
                org_id, name, _ = names[pk]
                runs.add_metric([org_id, name, outcome], int(count))
        return [lag, behind, last_outcome, runs]

    def _budgets(self, today: date) -> list[Metric]:
        try:
            from app.finops.budgets import budget_statuses
        except ImportError:  # budgets are another part of the FinOps layer
            return []
        labels = ["budget", "period"]
        amount = GaugeMetricFamily("finops_budget_amount_usd", "Budget amount", labels=labels)
        actual = GaugeMetricFamily(
            "finops_budget_actual_usd", "Spend in the budget's current period", labels=labels
        )
        forecast = GaugeMetricFamily(
            "finops_budget_forecast_usd",
            "Forecast spend at the end of the budget's current period",
            labels=labels,
        )
        low, high = (
            GaugeMetricFamily(
                f"finops_budget_forecast_{bound}_usd",
                f"The {side} end of the 80 % interval of that forecast",
                labels=labels,
            )
            for bound, side in (("low", "lower"), ("high", "upper"))
        )
        used = GaugeMetricFamily(
            "finops_budget_used_ratio", "Actual spend over the budget amount", labels=labels
        )
        for status in budget_statuses(self.engine, today=today):
            key = [status.spec.name, status.spec.period]
            amount_cents = status.spec.amount_cents
            amount.add_metric(key, _usd(amount_cents))
            actual.add_metric(key, _usd(status.actual_cents))
            forecast.add_metric(key, _usd(status.forecast.expected_cents))
            low.add_metric(key, _usd(status.forecast.low_cents))
            high.add_metric(key, _usd(status.forecast.high_cents))
            used.add_metric(key, float(status.actual_cents / amount_cents) if amount_cents else 0)
        return [amount, actual, forecast, low, high, used]


class MetricsServer:
    """The ``/metrics`` HTTP server on 127.0.0.1 (a daemon thread), stopped by ``stop``."""

    def __init__(self, engine: Engine, port: int, *, host: str = HOST) -> None:
        from prometheus_client import start_http_server

        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = FinOpsCollector(engine)
        self.registry.register(self.collector)
        server: WSGIServer
        server, self._thread = start_http_server(port, addr=host, registry=self.registry)
        self._server = server
        self.address = str(server.server_address[0])
        self.port = server.server_port

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(engine: Engine, port: int | None) -> MetricsServer | None:
    """Serve the metrics when a port is set (FINOPS_METRICS_PORT); None when it is not."""
    if port is None:
        return None
    try:
        server = MetricsServer(engine, port)
    except OSError as exc:  # the port is taken: the worker still syncs, and says why
        log.error("No metrics: could not listen on %s:%s (%s)", HOST, port, exc.strerror)
        return None
    log.info("Metrics on http://%s:%s/metrics", HOST, server.port)
    return server
