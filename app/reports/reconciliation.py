"""Per-key billed cost, and tokens at list price, against the bill (issue 16 point 3;
PRODUCT.md: "where the two disagree for a day and workspace, the dashboard shows the difference
rather than hiding it").

Per day and workspace of each Console organization that has per-key cost: the cost report's
billed amount (the billing truth), the Usage and Cost Analytics API's per-key ``amount`` summed
over the keys, its ``list_amount`` (pre-discount), and the difference per-key minus billed, with
its likely cause. And per day and workspace of every Console organization (``price_check``):
the bill's token cost against the usage report's tokens at the public list price, with what
the list price cannot see (models without a public price, tiers the cost report does not bill,
costs without tokens) and the likely cause of the rest. Exact decimal cents throughout; the
CSVs go through the one CSV writer.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlmodel import col

from app.csv_writer import csv_bytes
from app.db import read_session
from app.models import (
    CENTS_SCALE,
    CostLine,
    KeyCost,
    Organization,
    Provider,
    UsageBucket,
    Workspace,
)
from app.reports.labels import DEFAULT_WORKSPACE
from app.reports.list_prices import PRICED_TIERS, list_micro_cents

if TYPE_CHECKING:
    from sqlalchemy import Engine

# Differences this small are the two reports' rounding (each row at 0.000001 cent; a day
# and workspace has a few thousand rows at most): not worth a cause.
ROUNDING_CENTS = Decimal("0.01")

CSV_COLUMNS = (
    "date",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace_name",
    "billed_usd",
    "per_key_usd",
    "per_key_list_usd",
    "difference_usd",
    "cause",
)


@dataclass(frozen=True)
class ReconciledDay:
    """One day and workspace: billed (cost report) against per-key cost, in exact cents."""

    date: date
    organization_id: str
    organization_name: str
    workspace_id: str | None
    workspace_name: str
    billed_cents: Decimal
    per_key_cents: Decimal
    per_key_list_cents: Decimal | None

    @property
    def difference_cents(self) -> Decimal:
        return self.per_key_cents - self.billed_cents

    @property
    def cause(self) -> str:
        """The likely cause of the difference, in a few words ("" when they agree)."""
        if abs(self.difference_cents) < ROUNDING_CENTS:
            return "" if not self.difference_cents else "rounding"
        if not self.per_key_cents:
            return "no per-key cost for this day and workspace"
        if not self.billed_cents:
            return "not in the cost report"
        listed = self.per_key_list_cents
        if listed is not None and abs(listed - self.billed_cents) < ROUNDING_CENTS:
            return "discount in per-key cost (its list amount matches the bill)"
        return "the two reports differ (a restatement one has and the other not yet?)"


@dataclass(frozen=True)
class Reconciliation:
    days: list[ReconciledDay]
    without_per_key: list[str]  # Console organizations with no per-key cost (as shown)

    @property
    def billed_cents(self) -> Decimal:
        return sum((d.billed_cents for d in self.days), Decimal(0))

    @property
    def per_key_cents(self) -> Decimal:
        return sum((d.per_key_cents for d in self.days), Decimal(0))

    @property
    def differing(self) -> list[ReconciledDay]:
        return [d for d in self.days if abs(d.difference_cents) >= ROUNDING_CENTS]


def reconcile(
    engine: Engine, start: date, end: date, *, organization_id: str | None = None
) -> Reconciliation:
    """Billed against per-key cost per day and workspace in ``[start, end)`` (end exclusive),
    of the Console organizations with per-key cost; the others are named."""
    with read_session(engine) as session:
        orgs = [
            o
            for o in session.execute(select(Organization).order_by(col(Organization.id))).scalars()
            if o.provider != Provider.ENTERPRISE
            and (organization_id is None or o.organization_id == organization_id)
        ]
        with_cost = {
            pk
            for (pk,) in session.execute(
                select(col(KeyCost.organization_pk))
                .where(
                    col(KeyCost.organization_pk).in_([o.id for o in orgs]),
                    col(KeyCost.date) >= start,
                    col(KeyCost.date) < end,
                )
                .distinct()
            )
        }
        pks = sorted(with_cost)
        billed = _sums(session, CostLine, pks, start, end, list_amounts=False)
        per_key = _sums(session, KeyCost, pks, start, end, list_amounts=True)
        names = {
            (w.organization_pk, w.workspace_id): w.name
            for w in session.execute(
                select(Workspace).where(col(Workspace.organization_pk).in_(pks))
            ).scalars()
        }
    by_pk = {o.id: o for o in orgs}
    days = []
    for key in sorted(set(billed) | set(per_key), key=_order):
        pk, day, workspace_id = key
        org = by_pk[pk]
        amount, listed = per_key.get(key, (Decimal(0), None))
        days.append(
            ReconciledDay(
                date=day,
                organization_id=org.organization_id,
                organization_name=org.label or org.name,
                workspace_id=workspace_id,
                workspace_name=DEFAULT_WORKSPACE
                if workspace_id is None
                else names.get((pk, workspace_id), workspace_id),
                billed_cents=billed.get(key, (Decimal(0), None))[0],
                per_key_cents=amount,
                per_key_list_cents=listed,
            )
        )
    without = [o.label or o.name for o in orgs if o.id not in with_cost]
    return Reconciliation(days, without)


_Key = tuple[int, date, str | None]


def _order(key: _Key) -> tuple[Any, ...]:
    return (key[1], key[0], key[2] is not None, key[2] or "")


def _sums(
    session: Any, table: Any, pks: list[int], start: date, end: date, *, list_amounts: bool
) -> dict[_Key, tuple[Decimal, Decimal | None]]:
    if not pks:
        return {}
    keys = (col(table.organization_pk), col(table.date), col(table.workspace_id))
    amounts = [func.sum(col(table.amount_cents))]
    if list_amounts:
        amounts.append(func.sum(col(table.list_amount_cents)))
    rows = session.execute(
        select(*keys, *amounts)
        .where(col(table.organization_pk).in_(pks), col(table.date) >= start, col(table.date) < end)
        .group_by(*keys)
    )
    out: dict[_Key, tuple[Decimal, Decimal | None]] = {}
    for pk, day, workspace_id, amount, *listed in rows:
        total = None if not listed or listed[0] is None else Decimal(listed[0])
        out[(pk, day, workspace_id)] = (Decimal(amount or 0), total)
    return out


def csv_rows(result: Reconciliation) -> Iterable[list[Any]]:
    for d in result.days:
        yield [
            d.date,
            d.organization_id,
            d.organization_name,
            d.workspace_id,
            d.workspace_name,
            d.billed_cents.scaleb(-2),
            d.per_key_cents.scaleb(-2),
            None if d.per_key_list_cents is None else d.per_key_list_cents.scaleb(-2),
            d.difference_cents.scaleb(-2),
            d.cause,
        ]


def reconciliation_csv(result: Reconciliation) -> bytes:
    """The reconciliation as CSV bytes (``CSV_COLUMNS``), through the one CSV writer."""
    return csv_bytes(list(CSV_COLUMNS), csv_rows(result))


# --- tokens at list price against the bill ------------------------------------------------

PRICE_CSV_COLUMNS = (
    "date",
    "organization_id",
    "organization_name",
    "workspace_id",
    "workspace_name",
    "billed_tokens_usd",
    "list_price_usd",
    "difference_usd",
    "billed_without_tokens_usd",
    "billed_us_residency_usd",
    "unpriced_model_tokens",
    "unbilled_tier_tokens",
    "cause",
)


@dataclass(frozen=True)
class PricedDay:
    """One day and workspace: the bill's token cost against the usage report's tokens at the
    public list price (batch, long context and US residency as priced there)."""

    date: date
    organization_id: str
    organization_name: str
    workspace_id: str | None
    workspace_name: str
    billed_tokens_cents: Decimal  # the cost report's rows of cost type "tokens"
    list_cents: Decimal  # the usage report's priced tokens at list price
    billed_other_cents: Decimal  # web search, code execution: no tokens to price
    # Billed tokens that ran in the US: 1.1 x on 4.6+ models, which the usage report (with no
    # inference_geo dimension) cannot price.
    billed_us_cents: Decimal
    unpriced_model_tokens: int  # tokens of models without a public price (billed, not priced)
    unbilled_tier_tokens: int  # priority tier and others the cost report does not bill

    @property
    def difference_cents(self) -> Decimal:
        return self.billed_tokens_cents - self.list_cents

    @property
    def cause(self) -> str:
        """The likely cause of the difference billed minus list price ("" when they agree)."""
        diff = self.difference_cents
        if abs(diff) < ROUNDING_CENTS:
            return "" if not diff else "rounding"
        if diff > 0 and self.unpriced_model_tokens:
            return "a model without a public price is billed but not priced here"
        if not self.list_cents:
            return "no priced tokens in the usage report for this day and workspace"
        if not self.billed_tokens_cents:
            return "tokens not in the cost report (yet)"
        if diff < 0:
            return "discount: billed below list price"
        # At most the 10 % of US-run spend (its 1.1 x) the list price here could not add.
        if self.billed_us_cents and diff <= self.billed_us_cents / 11 + ROUNDING_CENTS:
            return "US data residency (1.1 x): the usage report does not say where requests ran"
        return "billed above list price (a multiplier the usage report does not show?)"


def price_check(
    engine: Engine, start: date, end: date, *, organization_id: str | None = None
) -> list[PricedDay]:
    """Tokens at list price against the bill per day and workspace in ``[start, end)`` of
    every Console organization (Claude Enterprise bills seats and products, not tokens)."""
    with read_session(engine) as session:
        orgs = {
            o.id: o
            for o in session.execute(select(Organization)).scalars()
            if o.provider != Provider.ENTERPRISE
            and (organization_id is None or o.organization_id == organization_id)
        }
        pks = sorted(pk for pk in orgs if pk is not None)
        if not pks:
            return []
        # Per key: billed tokens, billed without tokens, billed tokens that ran in the US.
        billed: dict[_Key, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
        for pk, day, workspace_id, cost_type, geo, cents in session.execute(
            select(
                col(CostLine.organization_pk),
                col(CostLine.date),
                col(CostLine.workspace_id),
                col(CostLine.cost_type),
                col(CostLine.inference_geo),
                func.sum(col(CostLine.amount_cents)),
            )
            .where(
                col(CostLine.organization_pk).in_(pks),
                col(CostLine.date) >= start,
                col(CostLine.date) < end,
            )
            .group_by(
                col(CostLine.organization_pk),
                col(CostLine.date),
                col(CostLine.workspace_id),
                col(CostLine.cost_type),
                col(CostLine.inference_geo),
            )
        ):
            acc = billed[(pk, day, workspace_id)]
            acc[0 if cost_type == "tokens" else 1] += Decimal(cents or 0)
            if cost_type == "tokens" and geo == "us":
                acc[2] += Decimal(cents or 0)
        priced = _priced_usage(session, pks, start, end)
        names = {
            (w.organization_pk, w.workspace_id): w.name
            for w in session.execute(
                select(Workspace).where(col(Workspace.organization_pk).in_(pks))
            ).scalars()
        }
    out = []
    for key in sorted(set(billed) | set(priced), key=_order):
        pk, day, workspace_id = key
        org = orgs[pk]
        tokens_cents, other_cents, us_cents = billed.get(key, [Decimal(0)] * 3)
        listed, unpriced, unbilled = priced.get(key, (0, 0, 0))
        out.append(
            PricedDay(
                date=day,
                organization_id=org.organization_id,
                organization_name=org.label or org.name,
                workspace_id=workspace_id,
                workspace_name=DEFAULT_WORKSPACE
                if workspace_id is None
                else names.get((pk, workspace_id), workspace_id),
                billed_tokens_cents=tokens_cents,
                list_cents=Decimal(listed).scaleb(-CENTS_SCALE),
                billed_other_cents=other_cents,
                billed_us_cents=us_cents,
                unpriced_model_tokens=unpriced,
                unbilled_tier_tokens=unbilled,
            )
        )
    return out


def _priced_usage(
    session: Any, pks: list[int], start: date, end: date
) -> dict[_Key, tuple[int, int, int]]:
    """Per (organization, day, workspace): the tokens at list price in millionths of a cent,
    the tokens of models without a public price, and those of tiers without one."""
    u = UsageBucket
    by = (
        col(u.organization_pk),
        col(u.date),
        col(u.workspace_id),
        col(u.model),
        col(u.service_tier),
        col(u.context_window),
        col(u.inference_geo),
    )
    token_columns = [
        col(u.uncached_input_tokens),
        col(u.cache_creation_5m_input_tokens),
        col(u.cache_creation_1h_input_tokens),
        col(u.cache_read_input_tokens),
        col(u.output_tokens),
    ]
    rows = session.execute(
        select(*by, *(func.sum(c) for c in token_columns))
        .where(col(u.organization_pk).in_(pks), col(u.date) >= start, col(u.date) < end)
        .group_by(*by)
    )
    out: dict[_Key, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pk, day, workspace_id, model, tier, window, geo, *sums in rows:
        tokens = [int(v or 0) for v in sums]
        acc = out[(pk, day, workspace_id)]
        if tier is not None and tier not in PRICED_TIERS:
            acc[2] += sum(tokens)
            continue
        units = list_micro_cents(
            model,
            service_tier=tier,
            inference_geo=geo,
            context_window=window,
            uncached=tokens[0],
            cache_write_5m=tokens[1],
            cache_write_1h=tokens[2],
            cache_read=tokens[3],
            output=tokens[4],
        )
        if units is None:
            acc[1] += sum(tokens)
        else:
            acc[0] += units
    return {key: (a, b, c) for key, (a, b, c) in out.items()}


def price_csv_rows(days: list[PricedDay]) -> Iterable[list[Any]]:
    for d in days:
        yield [
            d.date,
            d.organization_id,
            d.organization_name,
            d.workspace_id,
            d.workspace_name,
            d.billed_tokens_cents.scaleb(-2),
            d.list_cents.scaleb(-2),
            d.difference_cents.scaleb(-2),
            d.billed_other_cents.scaleb(-2),
            d.billed_us_cents.scaleb(-2),
            d.unpriced_model_tokens,
            d.unbilled_tier_tokens,
            d.cause,
        ]


def price_check_csv(days: list[PricedDay]) -> bytes:
    """The list-price check as CSV bytes (``PRICE_CSV_COLUMNS``), through the one writer."""
    return csv_bytes(list(PRICE_CSV_COLUMNS), price_csv_rows(days))
