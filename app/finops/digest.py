"""The weekly digest (``digest.weekly``): from Monday 08:00 UTC, once per week and channel.

Sent by the first evaluation after that moment (the evaluation follows every sync), to each
channel subscribed to ``digest.weekly``. Once per week and channel is the delivery table's
unique key (channel, event id) with the event id ``digest_<Monday>``: two workers, restarts and
re-evaluations never send a week twice, and no table of its own is needed.

Contents: last week's (Monday to Sunday) spend and its change from the week before, the top
movers by model, by workspace, by API key (per-key billed cost) and by each allocation's
values, every budget's status, and the week's anomalies still open.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col

from app import clock
from app.db import read_session, write_session
from app.finops import delivery
from app.finops.allocation import allocated_days
from app.finops.anomalies import list_anomalies
from app.finops.budget_tables import Channel, Delivery
from app.finops.budgets import BudgetStatus, usd_number
from app.models import ApiKey, CostDaily, KeyCost, Workspace
from app.reports import labels
from app.reports.model_names import model_name
from app.reports.spend import allocation_groups
from app.settings import Settings

log = logging.getLogger(__name__)
EVENT_TYPE = "digest.weekly"
SEND_AT = time(8, 0)
TOP_MOVERS = 5


def week_of(moment: datetime) -> date | None:
    """The Monday whose digest is due at ``moment`` (None before Monday 08:00 UTC)."""
    monday = moment.date() - timedelta(days=moment.weekday())
    if moment.weekday() == 0 and moment.time() < SEND_AT:
        return None if moment.date() == monday else monday
    return monday


def send_due(
    engine: Engine, settings: Settings, statuses: list[BudgetStatus] | None = None
) -> list[int]:
    """Record and attempt this week's digest for each subscribed channel that has not had it;
    the ids of the deliveries made now."""
    monday = week_of(clock.utcnow())
    if monday is None:
        return []
    event_id = f"digest_{monday.isoformat()}"
    with read_session(engine) as session:
        channels = [
            c.name
            for c in session.execute(select(Channel)).scalars()
            if EVENT_TYPE in c.events.split(",")
        ]
        sent = set(
            session.execute(
                select(col(Delivery.channel_name)).where(col(Delivery.event_id) == event_id)
            ).scalars()
        )
    due = [name for name in channels if name not in sent]
    if not due:
        return []
    data = digest_data(engine, monday, statuses or [])
    body = json.dumps(
        {"type": EVENT_TYPE, "timestamp": clock.rfc3339(clock.utcnow()), "data": data}
    )
    ids: list[int] = []
    with write_session(engine) as session:
        upsert: Any = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        for name in due:
            made = session.execute(
                upsert(Delivery)
                .values(
                    channel_name=name,
                    event_id=event_id,
                    event_type=EVENT_TYPE,
                    body=body,
                    status=delivery.PENDING,
                    retryable=True,
                    attempts=0,
                    created_at=clock.utcnow(),
                )
                .on_conflict_do_nothing()
                .returning(col(Delivery.id))
            ).scalar_one_or_none()
            if made is not None:
                ids.append(int(made))
    for delivery_id in ids:
        delivery.attempt(engine, settings, delivery_id)
    return ids


def _key_movers(
    session: Session, before: date, week: date, monday: date
) -> dict[str, list[Decimal]]:
    """Per-key billed cost of the two weeks by key name ([week before, last week]); the
    null key is the Console / Workbench."""
    names = {
        (k.organization_pk, k.api_key_id): k.name for k in session.execute(select(ApiKey)).scalars()
    }
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    keys = (col(KeyCost.organization_pk), col(KeyCost.api_key_id), col(KeyCost.date))
    rows = session.execute(
        select(*keys, func.sum(col(KeyCost.amount_cents)))
        .where(col(KeyCost.date) >= before, col(KeyCost.date) < monday)
        .group_by(*keys)
    )
    for pk, key_id, day, cents in rows:
        name = labels.CONSOLE_KEY if key_id is None else names.get((pk, key_id), key_id)
        sums[name][1 if day >= week else 0] += Decimal(cents or 0)
    return sums


def digest_data(engine: Engine, monday: date, statuses: list[BudgetStatus]) -> dict[str, Any]:
    """Last week's figures: ``week_start`` (the Monday before ``monday``), ``spend_usd``,
    ``previous_usd``, ``change_usd``, ``change_percent``, ``movers`` by model and workspace
    (name, ``spend_usd``, ``change_usd``; largest change first), the same by each allocation's
    values in ``movers_by_allocation`` (by allocation name), ``budgets`` and ``text``."""
    week = monday - timedelta(days=7)
    before = week - timedelta(days=7)
    by: dict[str, dict[str, list[Decimal]]] = {}
    with read_session(engine) as session:
        names = {
            (w.organization_pk, w.workspace_id): w.name
            for w in session.execute(select(Workspace)).scalars()
        }
        for dim in ("model", "workspace", "cost_type"):
            sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
            rows = session.execute(
                select(
                    col(CostDaily.organization_pk),
                    col(CostDaily.value),
                    col(CostDaily.date),
                    func.sum(col(CostDaily.amount_cents)),
                )
                .where(
                    col(CostDaily.dim) == dim,
                    col(CostDaily.date) >= before,
                    col(CostDaily.date) < monday,
                )
                .group_by(
                    col(CostDaily.organization_pk),
                    col(CostDaily.value),
                    col(CostDaily.date),
                )
            )
            for pk, value, day, cents in rows:
                if dim == "model":
                    name = model_name(value) if value else "(no model)"
                elif dim == "workspace":
                    name = names.get((pk, value), value) if value else labels.DEFAULT_WORKSPACE
                else:
                    name = value or ""
                sums[name][1 if day >= week else 0] += Decimal(cents or 0)
            by[dim] = sums
        by["api_key"] = _key_movers(session, before, week, monday)
    # Each allocation's values ("Team": Search, Unallocated…), from its allocated lines.
    by_allocation: dict[str, dict[str, list[Decimal]]] = {}
    for name in allocation_groups(engine).values():
        sums = defaultdict(lambda: [Decimal(0), Decimal(0)])
        for row in allocated_days(engine, name, start=before, end=monday):
            sums[row.value][1 if row.date >= week else 0] += row.amount_cents
        by_allocation[name] = sums
    totals = by["cost_type"]
    previous = sum((v[0] for v in totals.values()), Decimal(0))
    spend = sum((v[1] for v in totals.values()), Decimal(0))
    change = spend - previous

    def movers(sums: dict[str, list[Decimal]]) -> list[dict[str, Any]]:
        ranked = sorted(sums.items(), key=lambda kv: (-abs(kv[1][1] - kv[1][0]), kv[0]))
        return [
            {
                "name": name,
                "spend_usd": usd_number(values[1]),
                "change_usd": usd_number(values[1] - values[0]),
            }
            for name, values in ranked[:TOP_MOVERS]
        ]

    budgets = [
        {
            "name": s.spec.name,
            "actual_usd": usd_number(s.actual_cents),
            "amount_usd": usd_number(s.spec.amount_cents),
            "forecast_usd": usd_number(s.forecast.expected_cents),
            "status": s.status,
        }
        for s in statuses
    ]
    percent = None if not previous else float(round(change * 100 / previous, 1))
    data: dict[str, Any] = {
        "week_start": week.isoformat(),
        "week_end": monday.isoformat(),
        "spend_usd": usd_number(spend),
        "previous_usd": usd_number(previous),
        "change_usd": usd_number(change),
        "change_percent": percent,
        "movers": {
            "model": movers(by["model"]),
            "workspace": movers(by["workspace"]),
            # Per-key billed cost (Console organizations with the Usage and Cost Analytics API).
            "api_key": movers(by["api_key"]),
        },
        # By allocation name: a name is the admin's and could be "model", so not in "movers".
        "movers_by_allocation": {name: movers(sums) for name, sums in by_allocation.items()},
        "budgets": budgets,
        # Anomalies of the week still open (not acknowledged or dismissed), largest first.
        "open_anomalies": [
            {k: a[k] for k in ("id", "date", "organization_name", "dimension", "value")}
            | {"impact_usd": a["impact_usd"]}
            for a in sorted(
                (
                    a
                    for a in list_anomalies(engine, start=week, end=monday)
                    if a["status"] == "open"
                ),
                key=lambda a: -a["impact_usd"],
            )[:TOP_MOVERS]
        ],
    }
    lines = [
        f"Week of {week.isoformat()}: ${spend / 100:,.2f} "
        f"({'+' if change >= 0 else '-'}${abs(change) / 100:,.2f}"
        + (f", {percent:+.1f}%" if percent is not None else "")
        + " on the week before)."
    ]
    tops = [
        (noun, data["movers"][dim])
        for dim, noun in (("model", "model"), ("workspace", "workspace"), ("api_key", "API key"))
    ]
    tops += list(data["movers_by_allocation"].items())
    for dim, ranked in tops:
        if ranked[:3]:
            lines.append(
                f"Top movers by {dim}: "
                + "; ".join(f"{m['name']} {m['change_usd']:+,.2f}" for m in ranked[:3])
            )
    for a in data["open_anomalies"]:
        lines.append(
            f"Open anomaly {a['date']}: {a['value']['name']} ({a['dimension']}, "
            f"{a['organization_name']}) {a['impact_usd']:+,.2f} above the expected"
        )
    for b in budgets:
        lines.append(
            f"Budget {b['name']}: ${b['actual_usd']:,.2f} of ${b['amount_usd']:,.2f}, "
            f"forecast ${b['forecast_usd']:,.2f} ({b['status']})"
        )
    data["text"] = "\n".join(lines)
    return data
