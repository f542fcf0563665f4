"""Budget alerts: every budget's thresholds evaluated, each fired at most once per period.

Firing is an insert into ``budget_alert`` against its unique key (budget, threshold, period):
the insert that conflicts did not fire, so two workers, a restart, a second evaluation, a
re-import or a replaced trailing window never send a threshold twice. Only the current period
is evaluated. A threshold crossed only because days already evaluated were restated upward
fires once, saying so (``restatement``).

``evaluate`` is an AFTER_SYNC step (``app.finops``): it retries pending deliveries, evaluates,
delivers what fired, and sends the weekly digest when it is due (``app.finops.digest``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app import clock
from app.db import read_session, write_session
from app.finops import delivery
from app.finops.budget_tables import BudgetAlert, BudgetState, Delivery
from app.finops.budgets import BudgetStatus, budget_statuses, usd_number
from app.settings import Settings

log = logging.getLogger(__name__)
EVENT_TYPE = "budget.threshold_crossed"


@dataclass(frozen=True)
class AlertView:
    alert: BudgetAlert
    deliveries: tuple[Delivery, ...]

    def data(self) -> dict[str, Any]:
        """The alert's fields (``alerts list --json`` and the webhook's ``data``)."""
        a = self.alert
        return alert_data(a)

    def as_json(self) -> dict[str, Any]:
        return {
            **self.data(),
            "deliveries": [
                {
                    "channel": d.channel_name,
                    "status": d.status,
                    "attempts": d.attempts,
                    "last_status_code": d.last_status_code,
                    "last_attempt_at": clock.rfc3339(d.last_attempt_at)
                    if d.last_attempt_at
                    else None,
                    "event_id": d.event_id,
                    "error": d.last_error,
                }
                for d in self.deliveries
            ],
        }


def alert_data(a: BudgetAlert) -> dict[str, Any]:
    return {
        "id": a.id,
        "type": EVENT_TYPE,
        "budget": a.budget_name,
        "threshold_percent": float(a.threshold_percent),
        "on": a.threshold_on,
        "period": a.period,
        "period_start": a.period_start.isoformat(),
        "amount_usd": usd_number(a.amount_cents),
        "actual_usd": usd_number(a.actual_cents),
        "forecast_usd": None if a.forecast_cents is None else usd_number(a.forecast_cents),
        "restatement": a.restatement,
        "fired_at": clock.rfc3339(a.fired_at),
    }


def evaluate(engine: Engine, settings: Settings, *, today: date | None = None) -> list[AlertView]:
    """Retry pending deliveries, evaluate every budget's current period, fire and deliver
    what crossed; returns the alerts that fired now."""
    delivery.retry_pending(engine, settings)
    statuses = budget_statuses(engine, today=today)
    fired: list[tuple[BudgetAlert, BudgetStatus]] = []
    # One transaction for every budget: 200 budgets are one commit, not 200.
    with write_session(engine) as session:
        # What already fired and what was seen, read once: a steady evaluation writes nothing.
        starts = {s.period_start for s in statuses} or {clock.today()}
        done = {
            (name, Decimal(percent), on, start)
            for name, percent, on, start in session.execute(
                select(
                    col(BudgetAlert.budget_name),
                    col(BudgetAlert.threshold_percent),
                    col(BudgetAlert.threshold_on),
                    col(BudgetAlert.period_start),
                ).where(col(BudgetAlert.period_start) >= min(starts))
            )
        }
        seen = {
            (state.budget_name, state.period_start): state
            for state in session.execute(
                select(BudgetState).where(col(BudgetState.period_start) >= min(starts))
            ).scalars()
        }
        queued: dict[int | None, list[int]] = {}
        for status in statuses:
            for alert in _fire(session, status, done, seen):
                fired.append((alert, status))
                # In the alert's own transaction: a crash after the commit leaves pending
                # deliveries, which the next evaluation attempts; never a silent alert.
                queued[alert.id] = delivery.enqueue(
                    session,
                    EVENT_TYPE,
                    alert_data(alert),
                    channel_names=list(status.spec.channels),
                    alert_id=alert.id,
                )
    views = []
    for alert, _status in fired:
        log.info(
            "Budget %s: %s%% on %s crossed (period %s)",
            alert.budget_name,
            alert.threshold_percent,
            alert.threshold_on,
            alert.period_start,
        )
        ids = queued.get(alert.id, [])
        for delivery_id in ids:
            delivery.attempt(engine, settings, delivery_id)
        with read_session(engine) as session:
            rows = tuple(
                session.execute(select(Delivery).where(col(Delivery.id).in_(ids))).scalars()
            )
        views.append(AlertView(alert, rows))
    try:
        from app.finops.digest import send_due

        send_due(engine, settings, statuses)
    except Exception:
        log.exception("The weekly digest could not be sent; the next evaluation tries again")
    return views


def _fire(
    session: Session,
    status: BudgetStatus,
    done: set[tuple[str, Decimal, str, date]],
    seen: dict[tuple[str, date], BudgetState],
) -> list[BudgetAlert]:
    spec, f = status.spec, status.forecast
    today = f.today
    now = clock.utcnow()
    complete = sum(
        (v for d, v in status.daily.items() if status.period_start <= d < today), Decimal(0)
    )
    fired: list[BudgetAlert] = []
    upsert: Any = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    previous = seen.get((spec.name, status.period_start))
    restated = Decimal(0)
    if previous is not None and previous.complete_through <= today:
        then = sum(
            (
                v
                for d, v in status.daily.items()
                if status.period_start <= d < previous.complete_through
            ),
            Decimal(0),
        )
        restated = max(Decimal(0), then - previous.complete_cents)
    for threshold in spec.thresholds:
        value = f.actual_cents if threshold.on == "actual" else f.expected_cents
        limit = spec.amount_cents * threshold.percent / 100
        if (
            value < limit
            or (spec.name, threshold.percent, threshold.on, status.period_start) in done
        ):
            continue  # (a race with another worker is settled by the unique key below)
        event_id = f"alert_{spec.name}_{threshold.percent}_{threshold.on}_{status.period_start}"
        inserted = session.execute(
            upsert(BudgetAlert)
            .values(
                budget_name=spec.name,
                threshold_percent=threshold.percent,
                threshold_on=threshold.on,
                period_start=status.period_start,
                period=spec.period,
                amount_cents=spec.amount_cents,
                actual_cents=f.actual_cents,
                forecast_cents=f.expected_cents,
                restatement=bool(restated) and value - restated < limit,
                event_id=event_id[:64],
                fired_at=now,
            )
            .on_conflict_do_nothing()
            .returning(col(BudgetAlert.id))
        ).scalar_one_or_none()
        if inserted is not None:
            alert = session.get(BudgetAlert, inserted)
            assert alert is not None
            fired.append(alert)
    if (
        previous is not None
        and previous.complete_through == today
        and previous.complete_cents == complete
    ):
        return fired
    state = upsert(BudgetState).values(
        budget_name=spec.name,
        period_start=status.period_start,
        complete_through=today,
        complete_cents=complete,
        evaluated_at=now,
    )
    session.execute(
        state.on_conflict_do_update(
            index_elements=["budget_name", "period_start"],
            set_={
                "complete_through": state.excluded.complete_through,
                "complete_cents": state.excluded.complete_cents,
                "evaluated_at": state.excluded.evaluated_at,
            },
        )
    )
    return fired


def list_alerts(engine: Engine, *, limit: int = 500) -> list[AlertView]:
    """What fired, newest first, each with its deliveries."""
    with read_session(engine) as session:
        alerts = (
            session.execute(
                select(BudgetAlert)
                .order_by(col(BudgetAlert.fired_at).desc(), col(BudgetAlert.id).desc())
                .limit(limit)
            )
            .scalars()
            .all()
        )
        ids = [a.id for a in alerts]
        rows = (
            session.execute(
                select(Delivery)
                .where(col(Delivery.alert_id).in_(ids))
                .order_by(col(Delivery.channel_name))
            )
            .scalars()
            .all()
            if ids
            else []
        )
    by_alert: dict[int | None, list[Delivery]] = {}
    for row in rows:
        by_alert.setdefault(row.alert_id, []).append(row)
    return [AlertView(a, tuple(by_alert.get(a.id, []))) for a in alerts]


def recent_deliveries(engine: Engine, *, days: int = 30) -> list[Delivery]:
    """Every delivery of the last ``days`` (tests, alerts and the rest), newest first."""
    since = clock.utcnow() - timedelta(days=days)
    with read_session(engine) as session:
        return list(
            session.execute(
                select(Delivery)
                .where(col(Delivery.created_at) >= since)
                .order_by(col(Delivery.id).desc())
            ).scalars()
        )
