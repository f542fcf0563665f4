"""Unit economics by model (the Spend page) and per active user (the Claude Enterprise page).

By model, over the Spend filters:

- **$ per million tokens**: the model's billed token cost (cost report rows of cost type
  "tokens"; a Claude Enterprise organization's rows of a model) over its tokens of every type
  (usage report), counting only the service tiers the cost report bills: Priority Tier is
  billed by contract and is in neither the cost report nor these figures (its tokens are
  counted apart, so the page can say so).
- **Cache savings**: what the cache reads would have cost as uncached input, less what they
  cost, at list price (``app.reports.list_prices``; tier, long context and US residency as
  Anthropic prices them). Models and tiers without a public price are left out and counted.
- **Batch savings**: the Batch tier is billed at half the standard rate, so the same tokens at
  the standard tier would have cost twice the billed batch spend: the saving is the billed
  batch token spend itself (billing truth, so it holds for every model and any discount).

Two queries, one of cost and one of usage, each summed in SQL by its few groups. Unfiltered
(``filters.uses_rollups``: dates, organizations and providers only), they read the daily
rollups' compound dimension ``economics`` (``app.datasets.ECONOMICS``: cost by cost type x
model x tier, usage by model x tier x context window x geography, a few rows a day); a view
filtered by workspace, model or tier reads the detail rows. Where the app's columnar copy is
current (``app.columnar``) it answers the filtered views, and the unfiltered ones longer than
``COPY_BEATS_ROLLUP_DAYS``, from the detail rows: DuckDB sums months of them faster than a
row store reads the compound rollup, a month of them slower. Both give the same groups, in the
same order, so the same figures. Money stays ``Decimal`` until the table.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal
from typing import Any

import pandas as pd
from sqlalchemy import Engine, func, or_, select
from sqlmodel import col

from app.columnar import detail_engine
from app.datasets import ECONOMICS, ECONOMICS_COST_COLUMNS, ECONOMICS_USAGE_COLUMNS, decode_value
from app.db import read_session
from app.models import CostDaily, CostLine, Organization, UsageBucket, UsageDaily
from app.reports.filters import Filters, uses_rollups, where_detail, where_rollup
from app.reports.labels import (
    ECONOMICS_HEADERS,
    SEAT_HEADERS,
    TOKEN_TYPES,
    model_label,
    service_tier_label,
)
from app.reports.list_prices import CACHE_READ, input_rate, list_price
from app.reports.periods import month_start, next_month, usd

MILLION = Decimal(1_000_000)
NO_TIER = "(no tier reported)"
# $ per million tokens, to a hundredth of a cent: a ratio, not an amount billed.
RATE_PLACES = Decimal("0.0001")


@dataclass
class _Model:
    token_cents: Decimal = Decimal(0)
    batch_cents: Decimal = Decimal(0)
    tokens: int = 0
    cache_reads: int = 0
    cache_savings: Decimal = Decimal(0)
    priced_reads: int = 0  # cache reads with a list price (in ``cache_savings``)


@dataclass(frozen=True)
class UnitEconomics:
    """The table by model (columns: ``labels.ECONOMICS_HEADERS``), the totals over every
    model, and what was left out: tokens of tiers the cost report does not bill (by tier
    label), and cache reads without a list price, of models the price list does not know (by
    model label) or of tiers without a public price (by tier label)."""

    frame: pd.DataFrame
    token_spend_usd: Decimal
    tokens: int
    cache_savings_usd: Decimal
    batch_savings_usd: Decimal
    unbilled_tokens: dict[str, int] = field(default_factory=dict)
    unpriced_models: dict[str, int] = field(default_factory=dict)
    unpriced_tiers: dict[str, int] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return bool(self.frame.empty)

    @property
    def usd_per_million_tokens(self) -> Decimal | None:
        return per_million(self.token_spend_usd, self.tokens)


def per_million(amount_usd: Decimal, tokens: int) -> Decimal | None:
    """USD per million tokens; None without tokens."""
    if not tokens:
        return None
    return (amount_usd * MILLION / tokens).quantize(RATE_PLACES)


# Unfiltered views longer than this read the copy's detail rows rather than the rollup. SQLite,
# p50, rollup vs copy: medium 30 days 18.7 vs 30.7 ms, 6 months 101 vs 55.7 ms; large (10M rows)
# 71 vs 86 ms and 396 vs 273 ms.
COPY_BEATS_ROLLUP_DAYS = 62


def _rows_engine(engine: Engine, f: Filters) -> Engine | None:
    """Where unit economics reads the detail rows; None: the database's compound rollup."""
    rows_engine = detail_engine(engine)
    if not uses_rollups(f):
        return rows_engine
    long = (f.end - f.start).days > COPY_BEATS_ROLLUP_DAYS
    return rows_engine if long and rows_engine is not engine else None


def _token_cost(engine: Engine, f: Filters) -> list[Any]:
    """(model, tier, cents) of token costs by model and tier: the Console's rows of cost type
    "tokens", a Claude Enterprise organization's rows of a model (no cost type)."""
    rows_engine = _rows_engine(engine, f)
    if rows_engine is None:
        return _token_cost_rolled(engine, f)
    token_rows = or_(col(CostLine.cost_type) == "tokens", col(CostLine.cost_type).is_(None))
    query = (
        select(col(CostLine.model), col(CostLine.service_tier), func.sum(CostLine.amount_cents))
        .join(Organization, col(Organization.id) == col(CostLine.organization_pk))
        .where(*where_detail(CostLine, f, cost=True), col(CostLine.model).is_not(None))
        .where(token_rows)
        .group_by(col(CostLine.model), col(CostLine.service_tier))
    )
    with read_session(rows_engine) as session:
        return _in_order(session.execute(query).all(), 2)


def _token_cost_rolled(engine: Engine, f: Filters) -> list[Any]:
    """``_token_cost`` from ``cost_daily``'s compound dimension: summed in SQL by its value
    (cost type, model, tier), then by model and tier here (a few dozen groups)."""
    query = (
        select(col(CostDaily.value), func.sum(CostDaily.amount_cents))
        .join(Organization, col(Organization.id) == col(CostDaily.organization_pk))
        .where(col(CostDaily.dim) == ECONOMICS, *where_rollup(CostDaily, f))
        .group_by(col(CostDaily.value))
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
    cents: dict[tuple[Any, ...], Decimal] = {}
    for value, amount in rows:
        cost_type, model, tier = _decoded(value, ECONOMICS_COST_COLUMNS)
        if model is None or cost_type not in ("tokens", None):
            continue
        key = (model, tier)
        cents[key] = cents[key] + amount if key in cents else amount
    return _in_order([(*key, amount) for key, amount in cents.items()], 2)


def _usage(engine: Engine, f: Filters) -> list[Any]:
    """(model, tier, context window, geo, counts by token type) of usage with a model."""
    rows_engine = _rows_engine(engine, f)
    if rows_engine is None:
        return _usage_rolled(engine, f)
    group = [
        col(UsageBucket.model),
        col(UsageBucket.service_tier),
        col(UsageBucket.context_window),
        col(UsageBucket.inference_geo),
    ]
    query = (
        select(*group, *(func.sum(getattr(UsageBucket, name)) for name in TOKEN_TYPES))
        .join(Organization, col(Organization.id) == col(UsageBucket.organization_pk))
        .where(*where_detail(UsageBucket, f, cost=False), col(UsageBucket.model).is_not(None))
        .group_by(*group)
    )
    with read_session(rows_engine) as session:
        return _in_order(session.execute(query).all(), 4)


def _usage_rolled(engine: Engine, f: Filters) -> list[Any]:
    """``_usage`` from ``usage_daily``'s compound dimension (one value per model, tier,
    context window and geography: its SQL groups are ``_usage``'s)."""
    query = (
        select(col(UsageDaily.value), *(func.sum(getattr(UsageDaily, n)) for n in TOKEN_TYPES))
        .join(Organization, col(Organization.id) == col(UsageDaily.organization_pk))
        .where(col(UsageDaily.dim) == ECONOMICS, *where_rollup(UsageDaily, f))
        .group_by(col(UsageDaily.value))
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
    out = []
    for value, *counts in rows:
        dims = _decoded(value, ECONOMICS_USAGE_COLUMNS)
        if dims[0] is not None:
            out.append((*dims, *counts))
    return _in_order(out, 4)


def _decoded(value: str, columns: tuple[str, ...]) -> tuple[Any, ...]:
    dims = decode_value(value)
    if len(dims) != len(columns):  # a value of another encoding: say so, never misread it
        raise ValueError(f"rollup value {value!r} does not hold {columns}")
    return dims


def _in_order(rows: Iterable[Any], width: int) -> list[Any]:
    """Rows sorted by their first ``width`` values (null first): whichever table they came
    from, the sums below are added up in the same order, to the last digit."""
    return sorted(rows, key=lambda r: tuple((v is not None, v or "") for v in r[:width]))


def unit_economics(engine: Engine, f: Filters, *, show_ids: bool = False) -> UnitEconomics:
    """Unit economics by model over ``f`` (its cost type filter aside: these are token
    costs); models by name (an alias and its dated ids as one) or, ``show_ids``, by id."""
    f = replace(f, cost_types=())

    def label(model: str) -> str:
        return model_label(model, show_ids=show_ids)

    models: dict[str, _Model] = defaultdict(_Model)
    billed: set[tuple[str, str | None]] = set()
    for model, tier, cents in _token_cost(engine, f):
        entry = models[label(model)]
        entry.token_cents += Decimal(cents or 0)
        if tier == "batch":
            entry.batch_cents += Decimal(cents or 0)
        billed.add((model, tier))
    unbilled: dict[str, int] = defaultdict(int)
    unpriced_models: dict[str, int] = defaultdict(int)
    unpriced_tiers: dict[str, int] = defaultdict(int)
    for model, tier, window, geo, *counts in _usage(engine, f):
        tokens = {name: int(v or 0) for name, v in zip(TOKEN_TYPES, counts, strict=True)}
        every = sum(tokens.values())
        if (model, tier) not in billed:
            if every:
                unbilled[service_tier_label(tier) if tier else NO_TIER] += every
            continue
        entry = models[label(model)]
        entry.tokens += every
        reads = tokens["cache_read_input_tokens"]
        entry.cache_reads += reads
        price = list_price(model)
        rate = (
            None
            if price is None
            else input_rate(price, service_tier=tier, inference_geo=geo, context_window=window)
        )
        if rate is None:
            if reads and price is None:
                unpriced_models[label(model)] += reads
            elif reads:
                unpriced_tiers[service_tier_label(tier) if tier else NO_TIER] += reads
            continue
        # A read costs a tenth of uncached input: it saved the other nine tenths.
        entry.cache_savings += Decimal(reads) * rate * (1 - CACHE_READ) / MILLION
        entry.priced_reads += reads
    rows = []
    # Most spend first.
    for name, m in sorted(models.items(), key=lambda item: (-item[1].token_cents, item[0])):
        spend = usd(m.token_cents)
        rows.append(
            {
                "Model": name,
                "token_spend_usd": spend,
                "tokens": m.tokens,
                "usd_per_million_tokens": per_million(spend, m.tokens),
                "cache_read_tokens": m.cache_reads,
                # None: no cache read of it has a list price (not a saving of $0).
                "cache_savings_usd": m.cache_savings if m.priced_reads else None,
                "batch_savings_usd": usd(m.batch_cents),
            }
        )
    frame = pd.DataFrame(rows, columns=list(ECONOMICS_HEADERS))
    return UnitEconomics(
        frame=frame,
        token_spend_usd=sum((usd(m.token_cents) for m in models.values()), Decimal(0)),
        tokens=sum(m.tokens for m in models.values()),
        cache_savings_usd=sum((m.cache_savings for m in models.values()), Decimal(0)),
        batch_savings_usd=sum((usd(m.batch_cents) for m in models.values()), Decimal(0)),
        unbilled_tokens=dict(unbilled),
        unpriced_models=dict(unpriced_models),
        unpriced_tiers=dict(unpriced_tiers),
    )


# --- Claude Enterprise: cost per active user and idle seats -------------------------------------

COUNT_COLUMNS = ("days", "monthly_active_users", "assigned_seats", "idle_seats")


@dataclass(frozen=True)
class SeatEconomics:
    """Spend per monthly active user and idle seats: over the range (spend of the range over
    the monthly active users of its latest reported day) and by calendar month."""

    usd_per_active_user: Decimal | None
    idle_seats: int | None
    monthly_active_users: int | None
    assigned_seats: int | None
    snapshot: date | None
    by_month: pd.DataFrame


def _count(value: Any) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def per_user(amount_usd: Decimal, users: int | None) -> Decimal | None:
    """Spend per active user, to the cent; None without active users."""
    if not users:
        return None
    return (amount_usd / users).quantize(Decimal("0.01"))


def idle(seats: int | None, users: int | None) -> int | None:
    """Assigned seats nobody used in the month (never below zero)."""
    if seats is None or users is None:
        return None
    return max(0, seats - users)


def seat_economics(
    daily_spend_cents: dict[date, Decimal],
    engagement: pd.DataFrame,
    start: date,
    end: date,
) -> SeatEconomics:
    """From the Enterprise report's tables: its spend per day (cents) and its engagement per
    day (daily snapshots; a monthly active user count is the trailing month's, so a month's
    row uses the month's latest reported day)."""
    snapshots: dict[date, dict[str, Any]] = {}
    for record in engagement.to_dict("records"):
        if _count(record.get("monthly_active_users")) is not None:
            snapshots[record["date"]] = record
    rows = []
    month = month_start(start)
    while month < end:
        following = next_month(month)
        first, last = max(month, start), min(following, end)
        spend = usd(sum((c for d, c in daily_spend_cents.items() if first <= d < last), Decimal(0)))
        days = [d for d in snapshots if first <= d < last]
        if not days and not any(first <= d < last for d in daily_spend_cents):
            month = following  # nothing reported of it yet (today's month, for one)
            continue
        snap = snapshots[max(days)] if days else None
        users = _count(snap["monthly_active_users"]) if snap else None
        seats = _count(snap["assigned_seats"]) if snap else None
        rows.append(
            {
                "month": month,
                "days": (last - first).days,
                "amount_usd": spend,
                "monthly_active_users": users,
                "assigned_seats": seats,
                "idle_seats": idle(seats, users),
                "usd_per_active_user": per_user(spend, users),
                "snapshot": max(days) if days else None,
            }
        )
        month = following
    latest = snapshots[max(snapshots)] if snapshots else None
    users = _count(latest["monthly_active_users"]) if latest else None
    seats = _count(latest["assigned_seats"]) if latest else None
    total = usd(sum(daily_spend_cents.values(), Decimal(0)))
    frame = pd.DataFrame(rows, columns=list(SEAT_HEADERS))
    return SeatEconomics(
        usd_per_active_user=per_user(total, users),
        idle_seats=idle(seats, users),
        monthly_active_users=users,
        assigned_seats=seats,
        snapshot=max(snapshots) if snapshots else None,
        # Nullable integers: a month without a snapshot stays empty, not a float NaN.
        by_month=frame.astype(dict.fromkeys(COUNT_COLUMNS, "Int64")),
    )
