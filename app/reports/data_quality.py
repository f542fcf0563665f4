"""How far an organization's data can be trusted (issue 16 point 4): which days are still
provisional (inside the trailing window every sync reads again) and which are settled, the
restatements later syncs found (day, dataset, before -> after), the lag of each dataset, the share
of spend without a workspace or a key, models without a list price, and rows carrying fields
this version does not know."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from sqlalchemy import func, select
from sqlmodel import col

from app.db import read_session
from app.models import CostLine, KeyCost, Organization, Provider, Restatement, SyncState
from app.reports.list_prices import list_price

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

RECENT_DAYS = 30  # the window of the shares and unknown values
RESTATEMENTS_SHOWN = 200
# The reports as the page names them (a dataset this version adds later shows as stored).
REPORT_NAMES = {
    "cost": "Cost report",
    "usage": "Usage report",
    "key_cost": "Per-key cost",
    "claude_code": "Claude Code",
    "user_cost": "Per-user cost",
    "user_usage": "Per-user usage",
    "engagement": "Engagement",
}


@dataclass(frozen=True)
class DatasetFreshness:
    dataset: str
    first_day: date | None
    last_day: date | None
    last_synced_day: date | None  # the last day the sync has read (None: never synced)
    rows: int
    lag_days: int | None  # days from it to today (0: today read; None: never synced)
    unavailable: str | None  # why it could not be fetched at its last attempt


@dataclass(frozen=True)
class Quality:
    organization_id: str
    organization_name: str
    provisional_from: date  # days from this one on are read again by every sync
    datasets: list[DatasetFreshness]
    restatements: list[Restatement]  # newest first
    spend_cents: Decimal  # the last RECENT_DAYS days, billed
    default_workspace_cents: Decimal  # of that, with no workspace (the Default workspace)
    per_key_cents: Decimal | None  # per-key cost of those days (None: none stored)
    keyless_cents: Decimal  # of that, with no key (Console / Workbench, code execution)
    unpriced_models: list[str]  # models of those days without a list price
    rows_with_unknown_fields: int  # cost rows of those days carrying fields we do not know
    provisional_days: int  # how many days back the sync reads again (today included)

    def settled_when_found(self, r: Restatement) -> bool:
        """Whether the day was already settled (outside the re-read window) when the
        restatement was found: a figure people had taken as final changed."""
        return r.day < r.found_at.date() - timedelta(days=self.provisional_days - 1)


def data_quality(engine: Engine, settings: Settings, organization_id: str, today: date) -> Quality:
    """The organization's data quality as of ``today`` (``LookupError``: no such organization)."""
    recent = today - timedelta(days=RECENT_DAYS - 1)
    with read_session(engine) as session:
        org = session.execute(
            select(Organization).where(col(Organization.organization_id) == organization_id)
        ).scalar_one_or_none()
        if org is None:
            raise LookupError(organization_id)
        enterprise = org.provider == Provider.ENTERPRISE
        lookback = settings.enterprise_lookback_days if enterprise else settings.lookback_days
        states = session.execute(
            select(SyncState)
            .where(col(SyncState.organization_pk) == org.id)
            .order_by(col(SyncState.dataset))
        ).scalars()
        datasets = [
            DatasetFreshness(
                s.dataset,
                s.first_day,
                s.last_day,
                last,
                s.row_count,
                None if last is None else max(0, (today - last).days),
                s.unavailable_reason,
            )
            for s in states
            # synced_through is the end of what was read (exclusive)
            for last in [None if s.synced_through is None else s.synced_through - timedelta(1)]
        ]
        restatements = list(
            session.execute(
                select(Restatement)
                .where(col(Restatement.organization_pk) == org.id)
                .order_by(col(Restatement.found_at).desc(), col(Restatement.day).desc())
                .limit(RESTATEMENTS_SHOWN)
            ).scalars()
        )
        in_recent = (
            col(CostLine.organization_pk) == org.id,
            col(CostLine.date) >= recent,
            col(CostLine.date) <= today,
        )
        spend, default, unknown = session.execute(
            select(
                func.sum(col(CostLine.amount_cents)),
                func.sum(col(CostLine.amount_cents)).filter(col(CostLine.workspace_id).is_(None)),
                func.count().filter(col(CostLine.extra).is_not(None)),
            ).where(*in_recent)
        ).one()
        models = session.execute(
            select(col(CostLine.model))
            .where(*in_recent, col(CostLine.model).is_not(None))
            .distinct()
        ).scalars()
        unpriced = sorted(m for m in models if list_price(m) is None)
        per_key, keyless = session.execute(
            select(
                func.sum(col(KeyCost.amount_cents)),
                func.sum(col(KeyCost.amount_cents)).filter(col(KeyCost.api_key_id).is_(None)),
            ).where(
                col(KeyCost.organization_pk) == org.id,
                col(KeyCost.date) >= recent,
                col(KeyCost.date) <= today,
            )
        ).one()
    # The sync reads [end - lookback, end) again; a Console end is tomorrow, an Enterprise
    # one today (its API refuses today).
    provisional_from = today - timedelta(days=lookback if enterprise else lookback - 1)
    return Quality(
        organization_id=org.organization_id,
        organization_name=org.label or org.name,
        provisional_from=provisional_from,
        datasets=datasets,
        restatements=restatements,
        spend_cents=Decimal(spend or 0),
        default_workspace_cents=Decimal(default or 0),
        per_key_cents=None if per_key is None else Decimal(per_key),
        keyless_cents=Decimal(keyless or 0),
        unpriced_models=unpriced,
        rows_with_unknown_fields=int(unknown or 0),
        provisional_days=(today - provisional_from).days + 1,
    )
