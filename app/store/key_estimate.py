"""Per-key cost estimated where an organization's key may not read it (issue 16 point 1).

A Console organization whose key the Usage and Cost Analytics API refuses (403, 404, the beta
refused: ``sync_state.unavailable_reason`` of its ``key_cost`` dataset) has no billed cost by
API key. In its place: each day's billed cost of a workspace, model, service tier and cost
type (the cost report, the bill) divided among the API keys whose tokens of that grain the
usage report holds, in proportion to those tokens at list price (keyless Console and Workbench
use is a share of its own). A cost without tokens of its grain (web search, code execution, a
model without a public price) is divided by the keys' list-price shares of the workspace's
whole day, and stays keyless when the workspace had no tokens that day. Largest remainder at
the stored precision, so an organization's estimated day adds up to its billed day exactly.

The estimate is never billed cost: it is kept apart from ``key_cost_line`` (allocation rules,
budgets and anomalies on keys read billed cost only) and labelled "(estimate)" wherever it is
shown (Spend by API key or actor, Usage's cost by key, ``finops export --dataset
key_cost_estimate``). It follows the cost and usage rows' versions (``app.store.changes``):
after a sync only the days a new version replaced are estimated again. Once the key may read
per-key cost, the organization's estimate is dropped.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import case, delete, func, insert, literal, null, select, union_all
from sqlalchemy.orm import aliased
from sqlmodel import Session, SQLModel, col

from app.db import read_session, write_session
from app.finops.allocation_compute import split_units
from app.models import (
    CENTS_SCALE,
    ApiKey,
    CostLine,
    KeyCost,
    KeyCostEstimate,
    KeyEstimateMark,
    Organization,
    Provider,
    SyncState,
    UsageBucket,
)
from app.reports.list_prices import list_micro_cents
from app.store.changes import changes_after, record_change, versions

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.settings import Settings

log = logging.getLogger(__name__)

KEY_COST_DATASET = "key_cost"
# The estimate's own versions in the change log: the app's columnar copy follows them.
ESTIMATE_DATASET = "key_cost_estimate"
_FOLLOWED = ("cost", "usage")
# Days estimated per transaction: a six-month organization is not one long write lock.
_DAYS_PER_WRITE = 31

# (workspace, model, service tier): where a key's tokens and the bill meet.
_Grain = tuple[str | None, str | None, str | None]


@dataclass(frozen=True)
class EstimatedRow:
    date: date
    workspace_id: str | None
    api_key_id: str | None
    actor_name: str | None  # the key's name (an estimated key is its own actor)
    model: str | None
    service_tier: str | None
    cost_type: str | None
    amount_cents: Decimal
    list_amount_cents: Decimal | None


def estimate_changed(engine: Engine, settings: Settings) -> None:
    """After a sync (``app.finops.AFTER_SYNC``): estimate the days that changed."""
    del settings
    estimate(engine)


def estimate(engine: Engine) -> int:
    """Bring every organization's estimate up to date; returns the days estimated again."""
    with read_session(engine) as session:
        refused = _refused_organizations(session)
        marks = {
            m.organization_pk: (m.cost_version, m.usage_version)
            for m in session.execute(select(KeyEstimateMark)).scalars()
        }
        current = versions(session, _FOLLOWED)
    for pk in set(marks) - refused:
        with write_session(engine) as session:
            _record_dropped(session, pk)
            session.execute(
                delete(KeyCostEstimate).where(col(KeyCostEstimate.organization_pk) == pk)
            )
            session.execute(
                delete(KeyEstimateMark).where(col(KeyEstimateMark.organization_pk) == pk)
            )
    estimated = 0
    for pk in sorted(refused):
        now = (current.get((pk, "cost"), 0), current.get((pk, "usage"), 0))
        if marks.get(pk) == now:
            continue
        estimated += _estimate_organization(engine, pk, marks.get(pk), now)
    return estimated


def estimated_organizations(session: Session) -> frozenset[int]:
    """The organizations (pks) whose per-key cost shown is an estimate."""
    return frozenset(session.execute(select(col(KeyEstimateMark.organization_pk))).scalars())


def _refused_organizations(session: Session) -> set[int]:
    """Console organizations whose key the per-key cost endpoint refused at its last try."""
    rows = session.execute(
        select(col(SyncState.organization_pk))
        .join(Organization, col(Organization.id) == col(SyncState.organization_pk))
        .where(
            col(SyncState.dataset) == KEY_COST_DATASET,
            col(SyncState.unavailable_reason).is_not(None),
            col(Organization.provider) == Provider.CONSOLE,
        )
    )
    return set(rows.scalars())


def _estimate_organization(
    engine: Engine, pk: int, mark: tuple[int, int] | None, now: tuple[int, int]
) -> int:
    """Estimate the days of one organization that changed since ``mark`` (every stored day
    when there is none, or the change log no longer reaches back to it)."""
    with read_session(engine) as session:
        spans = None if mark is None else _changed_spans(session, pk, mark, now)
        if spans is None:
            first, last = session.execute(
                select(func.min(col(CostLine.date)), func.max(col(CostLine.date))).where(
                    col(CostLine.organization_pk) == pk
                )
            ).one()
            spans = [] if first is None else [(first, last + timedelta(days=1))]
    days = sorted({d for start, end in spans for d in _days(start, end)})
    for at in range(0, len(days), _DAYS_PER_WRITE) or [0]:
        chunk = days[at : at + _DAYS_PER_WRITE]
        with write_session(engine) as session:
            if chunk:
                record_change(session, pk, ESTIMATE_DATASET, chunk[0], chunk[-1] + timedelta(1))
                rows = estimate_days(session, pk, chunk)
                session.execute(
                    delete(KeyCostEstimate).where(
                        col(KeyCostEstimate.organization_pk) == pk,
                        col(KeyCostEstimate.date).in_(chunk),
                    )
                )
                if rows:
                    session.execute(
                        insert(KeyCostEstimate),
                        [{"organization_pk": pk, **vars(r)} for r in rows],
                    )
            if at + _DAYS_PER_WRITE >= len(days):
                # The mark moves with the last days: a worker killed halfway starts again.
                _set_mark(session, pk, now)
    log.info("Estimated per-key cost of organization %s on %d days", pk, len(days))
    return len(days)


def _changed_spans(
    session: Session, pk: int, mark: tuple[int, int], now: tuple[int, int]
) -> list[tuple[date, date]] | None:
    spans: list[tuple[date, date]] = []
    for dataset, seen, upto in zip(_FOLLOWED, mark, now, strict=True):
        if upto == seen:
            continue
        found = changes_after(session, pk, dataset, seen, upto)
        if found is None:
            return None
        spans.extend((c.first_day, c.last_day) for c in found)
    return spans


def _record_dropped(session: Session, pk: int) -> None:
    """Log the days of an organization's estimate about to be dropped (a copy drops them)."""
    e = KeyCostEstimate
    first, last = session.execute(
        select(func.min(col(e.date)), func.max(col(e.date))).where(col(e.organization_pk) == pk)
    ).one()
    if first is not None:
        record_change(session, pk, ESTIMATE_DATASET, first, last + timedelta(days=1))


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _set_mark(session: Session, pk: int, now: tuple[int, int]) -> None:
    mark = session.get(KeyEstimateMark, pk, with_for_update=True)
    if mark is None:
        session.add(KeyEstimateMark(organization_pk=pk, cost_version=now[0], usage_version=now[1]))
    else:
        mark.cost_version, mark.usage_version = now
        session.add(mark)


def estimate_days(session: Session, pk: int, days: list[date]) -> list[EstimatedRow]:
    """The organization's estimated per-key rows of ``days`` (see the module's text)."""
    weights = _key_weights(session, pk, days)
    names = dict(
        session.execute(
            select(col(ApiKey.api_key_id), col(ApiKey.name)).where(
                col(ApiKey.organization_pk) == pk
            )
        ).all()
    )
    costs = session.execute(
        select(
            col(CostLine.date),
            col(CostLine.workspace_id),
            col(CostLine.model),
            col(CostLine.service_tier),
            col(CostLine.cost_type),
            func.sum(col(CostLine.amount_cents)),
        )
        .where(col(CostLine.organization_pk) == pk, col(CostLine.date).in_(days))
        .group_by(
            col(CostLine.date),
            col(CostLine.workspace_id),
            col(CostLine.model),
            col(CostLine.service_tier),
            col(CostLine.cost_type),
        )
    ).all()
    # A workspace's whole day: what a cost without tokens of its own grain is divided by.
    whole: dict[tuple[date, str | None], dict[str | None, int]] = defaultdict(
        lambda: defaultdict(int)
    )
    for (day, grain), keys in weights.items():
        for key, units in keys.items():
            whole[(day, grain[0])][key] += units
    out: list[EstimatedRow] = []
    for day, workspace, model, tier, cost_type, amount in sorted(costs, key=_cost_order):
        own = weights.get((day, (workspace, model, tier)))
        shares = own or whole.get((day, workspace))
        cents = Decimal(amount or 0)
        if not shares:
            out.append(
                EstimatedRow(day, workspace, None, None, model, tier, cost_type, cents, None)
            )
            continue
        holders = sorted(shares, key=lambda k: (k is not None, k or ""))
        units = int(cents.scaleb(CENTS_SCALE).to_integral_value())
        parts = split_units(units, [shares[k] for k in holders])
        for key, part in zip(holders, parts, strict=True):
            listed = None if own is None else Decimal(own[key]).scaleb(-CENTS_SCALE)
            out.append(
                EstimatedRow(
                    day,
                    workspace,
                    key,
                    None if key is None else names.get(key),
                    model,
                    tier,
                    cost_type,
                    Decimal(part).scaleb(-CENTS_SCALE),
                    listed,
                )
            )
    return out


def _cost_order(row: Any) -> tuple[Any, ...]:
    """The same order on every database (a remainder's tie goes to the same key)."""
    return tuple((v is not None, "" if v is None else str(v)) for v in row[:5])


def _key_weights(
    session: Session, pk: int, days: list[date]
) -> dict[tuple[date, _Grain], dict[str | None, int]]:
    """Each (day, workspace, model, tier)'s keys and their tokens at list price in millionths
    of a cent; a grain or key without a priced token is left out."""
    u = UsageBucket
    priced_by = (
        col(u.date),
        col(u.workspace_id),
        col(u.model),
        col(u.service_tier),
        col(u.context_window),
        col(u.inference_geo),
        col(u.api_key_id),
    )
    rows = session.execute(
        select(
            *priced_by,
            func.sum(col(u.uncached_input_tokens)),
            func.sum(col(u.cache_creation_5m_input_tokens)),
            func.sum(col(u.cache_creation_1h_input_tokens)),
            func.sum(col(u.cache_read_input_tokens)),
            func.sum(col(u.output_tokens)),
        )
        .where(col(u.organization_pk) == pk, col(u.date).in_(days))
        .group_by(*priced_by)
    )
    out: dict[tuple[date, _Grain], dict[str | None, int]] = defaultdict(lambda: defaultdict(int))
    for day, workspace, model, tier, window, geo, key, *tokens in rows:
        units = list_micro_cents(
            model,
            service_tier=tier,
            inference_geo=geo,
            context_window=window,
            uncached=int(tokens[0] or 0),
            cache_write_5m=int(tokens[1] or 0),
            cache_write_1h=int(tokens[2] or 0),
            cache_read=int(tokens[3] or 0),
            output=int(tokens[4] or 0),
        )
        if units:
            out[(day, (workspace, model, tier))][key] += units
    return {grain: dict(keys) for grain, keys in out.items()}


def with_estimates(session: Session) -> Any:
    """What Spend by API key or actor reads: ``KeyCost`` itself, or, where some organization's
    per-key cost is estimated, ``KeyCost`` over the union of its rows and the estimates (an
    estimated key is its own actor, named as the key). Only the columns the reports read, the
    others null: the app's columnar copy (``app.columnar``) holds both tables without them."""
    if not estimated_organizations(session):
        return KeyCost
    e = KeyCostEstimate
    keyed = col(e.api_key_id).is_not(None)
    estimated = select(
        col(e.organization_pk),
        col(e.date),
        col(e.workspace_id),
        col(e.api_key_id),
        case((keyed, literal("api_key")), else_=null()).label("actor_type"),
        col(e.api_key_id).label("actor_id"),
        col(e.actor_name),
        col(e.model),
        col(e.service_tier),
        col(e.cost_type),
        null().label("token_type"),
        col(e.amount_cents),
        col(e.list_amount_cents),
        null().label("requests"),
        literal("USD").label("currency"),
    )
    billed = SQLModel.metadata.tables[KeyCost.__tablename__]
    read = [billed.c[c.name] for c in estimated.selected_columns]
    named = set(estimated.selected_columns.keys())
    unread = [null().label(c.name) for c in billed.c if c.name not in named]
    both = union_all(select(*read, *unread), estimated.add_columns(*unread)).subquery(
        "key_cost_all"
    )
    return aliased(KeyCost, both)
