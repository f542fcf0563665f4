"""Claude Enterprise organizations (provider ``anthropic_enterprise``) for the dashboard: billed
spend by product and model, spend by seat user, token usage by product, and engagement (active
users, adoption, seats).

Sums run in SQL by day and group over rows of Enterprise organizations only; money stays exact
``Decimal`` (cents in the database, USD here) until the chart edge. A page and its CSV downloads
share these tables, so they always hold the same numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypedDict

import pandas as pd
from sqlalchemy import Engine, case, func, select
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import col

from app.db import read_session
from app.models import (
    CostLine,
    EngagementDay,
    Organization,
    Provider,
    UsageBucket,
    UserCost,
    UserUsage,
)
from app.reports.economics import SeatEconomics, seat_economics
from app.reports.filters import EnterpriseFilters, where_provider
from app.reports.frames import Grouped, long_form, spend_per_period
from app.reports.labels import (
    ADOPTION_RATES,
    DELETED_MARK,
    ENGAGEMENT_COUNTS,
    ENTERPRISE_GROUPS,
    MODEL_IDS,
    TOKEN_TYPES,
    UNKNOWN_USER,
    model_label,
    product_label,
)
from app.reports.periods import period_of, usd


def _where(table: Any, f: EnterpriseFilters) -> list[ColumnElement[bool]]:
    return where_provider(table, f.start, f.end, Provider.ENTERPRISE, f.organizations)


def _select(table: Any, f: EnterpriseFilters, *columns: Any) -> Any:
    return (
        select(*columns)
        .join(Organization, col(Organization.id) == table.organization_pk)
        .where(*_where(table, f))
    )


# --- Spend --------------------------------------------------------------------------------------


def spend_by_day(
    engine: Engine, f: EnterpriseFilters, group: str
) -> list[tuple[date, str, Decimal]]:
    """(day, product or model label, cents) of Enterprise cost, summed in SQL; ``group``
    "model_id" is by model id ("Show model ids"), "model" by model (its ids as one)."""
    column = col(CostLine.product) if group == "product" else col(CostLine.model)
    labels: dict[str, Callable[[str | None], str]] = {
        "product": product_label,
        "model": model_label,
        MODEL_IDS: lambda model: model_label(model, show_ids=True),
    }
    label = labels[group]
    query = _select(
        CostLine, f, col(CostLine.date), column, func.sum(col(CostLine.amount_cents))
    ).group_by(col(CostLine.date), column)
    with read_session(engine) as session:
        rows = session.execute(query).all()
    merged: dict[tuple[date, str], Decimal] = defaultdict(Decimal)
    for day, value, cents in rows:
        merged[(day, label(value))] += Decimal(cents or 0)
    return [(d, g, c) for (d, g), c in sorted(merged.items())]


def spend_over_time(engine: Engine, f: EnterpriseFilters, group: str, grain: str) -> Grouped:
    """Columns: period, Product|Model, amount_usd (exact Decimal); nothing folded."""
    title = ENTERPRISE_GROUPS["model" if group == MODEL_IDS else group]
    return spend_per_period(spend_by_day(engine, f, group), title, grain)


@dataclass(frozen=True)
class SpendTotal:
    """Billed spend and, where Anthropic reported it on every row, the pre-discount amount."""

    amount_usd: Decimal
    list_amount_usd: Decimal | None


def spend_total(engine: Engine, f: EnterpriseFilters) -> SpendTotal:
    query = _select(
        CostLine,
        f,
        func.sum(col(CostLine.amount_cents)),
        func.sum(col(CostLine.list_amount_cents)),
        func.count(col(CostLine.list_amount_cents)),
        func.count(),
    )
    with read_session(engine) as session:
        amount, list_amount, with_list, rows = session.execute(query).one()
    complete = rows and with_list == rows
    return SpendTotal(
        amount_usd=usd(Decimal(amount or 0)),
        list_amount_usd=usd(Decimal(list_amount or 0)) if complete else None,
    )


USER_COLUMNS = ["user", "email", "deleted", "amount_usd", "list_amount_usd"]


class _Person(TypedDict):
    """One row of the per-user table before it becomes a frame."""

    name: str
    email: str
    id: str
    deleted: bool
    amount_usd: Decimal
    list_amount_usd: Decimal | None


def user_spend(engine: Engine, f: EnterpriseFilters) -> pd.DataFrame:
    """Spend per seat user, largest first. ``user`` is the name (or e-mail or id) a person reads,
    made unique, with deleted users marked; ``list_amount_usd`` is None where not reported."""
    deleted = func.max(case((col(UserCost.deleted).is_(True), 1), else_=0))
    query = _select(
        UserCost,
        f,
        col(UserCost.organization_pk),
        col(UserCost.user_id),
        func.max(col(UserCost.user_name)),
        func.max(col(UserCost.user_email)),
        deleted,
        func.sum(col(UserCost.amount_cents)),
        func.sum(col(UserCost.list_amount_cents)),
        func.count(col(UserCost.list_amount_cents)),
        func.count(),
    ).group_by(col(UserCost.organization_pk), col(UserCost.user_id))
    with read_session(engine) as session:
        rows = session.execute(query).all()
    people: list[_Person] = []
    for _pk, user_id, name, email, gone, cents, list_cents, with_list, count in rows:
        people.append(
            {
                "name": name or email or user_id or UNKNOWN_USER,
                "email": email or "",
                "id": user_id or "",
                "deleted": bool(gone),
                "amount_usd": usd(Decimal(cents or 0)),
                "list_amount_usd": usd(Decimal(list_cents or 0)) if with_list == count else None,
            }
        )
    people.sort(key=lambda p: (-p["amount_usd"], p["name"].lower()))
    seen: defaultdict[str, int] = defaultdict(int)
    for p in people:
        seen[p["name"]] += 1
    for p in people:
        # Two people may share a name: the e-mail (or id) tells them apart.
        if seen[p["name"]] > 1:
            p["name"] = f"{p['name']} ({p['email'] or p['id']})"
        if p["deleted"]:
            p["name"] += DELETED_MARK
    return pd.DataFrame(
        [
            [p["name"], p["email"], p["deleted"], p["amount_usd"], p["list_amount_usd"]]
            for p in people
        ],
        columns=USER_COLUMNS,
    )


# --- Token usage --------------------------------------------------------------------------------

USAGE_COUNTS = [*TOKEN_TYPES, "web_search_requests"]


def usage_over_time(engine: Engine, f: EnterpriseFilters, grain: str) -> pd.DataFrame:
    """Columns: period, Product, one column per token type, web_search_requests, tokens (the
    sum of the token types)."""
    sums = [func.sum(getattr(UsageBucket, name)) for name in USAGE_COUNTS]
    query = _select(
        UsageBucket, f, col(UsageBucket.date), col(UsageBucket.product), *sums
    ).group_by(col(UsageBucket.date), col(UsageBucket.product))
    with read_session(engine) as session:
        rows = session.execute(query).all()
    merged: dict[tuple[date, str], list[int]] = {}
    for day, product, *values in rows:
        acc = merged.setdefault((period_of(day, grain), product_label(product)), [0] * len(sums))
        for i, value in enumerate(values):
            acc[i] += int(value or 0)
    records = [[p, g, *acc, sum(acc[: len(TOKEN_TYPES)])] for (p, g), acc in sorted(merged.items())]
    return pd.DataFrame(records, columns=["period", "Product", *USAGE_COUNTS, "tokens"])


def usage_totals(over_time: pd.DataFrame) -> pd.DataFrame:
    """Per product: every count summed over the periods, most tokens first."""
    columns = [*USAGE_COUNTS, "tokens"]
    if over_time.empty:
        return pd.DataFrame(columns=["Product", *columns])
    totals = over_time.groupby("Product", as_index=False)[columns].sum()
    return totals.sort_values(["tokens", "Product"], ascending=[False, True]).reset_index(drop=True)


# --- Engagement ---------------------------------------------------------------------------------


def engagement_by_day(engine: Engine, f: EnterpriseFilters) -> pd.DataFrame:
    """Columns: date, the active-user and seat counts (summed over organizations), pending
    invites, and adoption rates. With several organizations a rate is weighted by each one's
    assigned seats, so one organization's rate is exactly what Anthropic reported.

    These are daily snapshots (a week's or month's active users are not sums of days), so this
    table is always per day.
    """
    counts = [*ENGAGEMENT_COUNTS, "pending_invites"]
    seats = col(EngagementDay.assigned_seats)

    def weighted(rate: Any) -> list[Any]:
        with_rate = case((rate.is_not(None), seats), else_=None)
        return [func.sum(rate * seats), func.sum(with_rate), func.avg(rate), func.count(rate)]

    columns: list[Any] = [func.sum(getattr(EngagementDay, c)) for c in counts]
    columns += [func.count(getattr(EngagementDay, c)) for c in counts]
    for rate in ADOPTION_RATES:
        columns += weighted(getattr(EngagementDay, rate))
    query = (
        _select(EngagementDay, f, col(EngagementDay.date), *columns)
        .group_by(col(EngagementDay.date))
        .order_by(col(EngagementDay.date))
    )
    with read_session(engine) as session:
        rows = session.execute(query).all()
    records = []
    n = len(counts)
    for day, *values in rows:
        record: dict[str, Any] = {"date": day}
        for i, name in enumerate(counts):
            # None when no organization reported the figure that day (not zero).
            record[name] = int(values[i] or 0) if values[n + i] else None
        for j, rate in enumerate(ADOPTION_RATES):
            weighted_sum, weight, plain, reported = values[2 * n + 4 * j : 2 * n + 4 * j + 4]
            if not reported:
                record[rate] = None
            elif reported > 1 and weight:
                record[rate] = float(weighted_sum) / float(weight)
            else:
                record[rate] = float(plain)  # one organization: its own figure, untouched
        records.append(record)
    frame = pd.DataFrame(records, columns=["date", *counts, *ADOPTION_RATES])
    # Nullable integers: a day without a figure stays empty instead of turning counts to floats.
    return frame.astype(dict.fromkeys(counts, "Int64"))


# --- Everything the page shows ------------------------------------------------------------------


@dataclass
class EnterpriseReport:
    """Every table the Claude Enterprise page charts, for one choice of filters and grain."""

    spend: SpendTotal
    spend_by_product: Grouped
    spend_by_model: Grouped
    users: pd.DataFrame
    usage: pd.DataFrame
    engagement: pd.DataFrame
    spend_by_model_id: Grouped | None = None  # by model id, for "Show model ids"
    # Spend per monthly active user and idle seats, over the range and by month.
    seats: SeatEconomics | None = None
    # The latest "data as of" Anthropic gave the per-user figures in view (``data_refreshed_at``
    # of their pages); None when it never said.
    per_user_as_of: datetime | None = None

    @property
    def empty(self) -> bool:
        return all(
            t.empty for t in (self.spend_by_product, self.users, self.usage, self.engagement)
        )


def enterprise_report(engine: Engine, f: EnterpriseFilters, grain: str) -> EnterpriseReport:
    # Spend by product per day serves the chart (per grain) and the spend of each month per
    # active user, with no query of its own.
    by_product = spend_by_day(engine, f, "product")
    daily: dict[date, Decimal] = defaultdict(Decimal)
    for day, _, cents in by_product:
        daily[day] += cents
    engagement = engagement_by_day(engine, f)
    return EnterpriseReport(
        spend=spend_total(engine, f),
        spend_by_product=spend_per_period(by_product, ENTERPRISE_GROUPS["product"], grain),
        spend_by_model=spend_over_time(engine, f, "model", grain),
        users=user_spend(engine, f),
        usage=usage_over_time(engine, f, grain),
        engagement=engagement,
        spend_by_model_id=spend_over_time(engine, f, MODEL_IDS, grain),
        seats=seat_economics(dict(daily), engagement, f.start, f.end),
        per_user_as_of=per_user_as_of(engine, f),
    )


def per_user_as_of(engine: Engine, f: EnterpriseFilters) -> datetime | None:
    """The latest ``data_refreshed_at`` of the per-user cost and usage rows in view."""
    latest: list[datetime] = []
    with read_session(engine) as session:
        for table in (UserCost, UserUsage):
            found = session.execute(
                _select(table, f, func.max(col(table.data_refreshed_at)))
            ).scalar_one()
            if found is not None:
                latest.append(found)
    return max(latest, default=None)


def latest_engagement(engagement: pd.DataFrame) -> dict[str, Any] | None:
    """The last day's snapshot in the table (None when there is none)."""
    if engagement.empty:
        return None
    return dict(engagement.iloc[-1])


# --- The tables of the page's charts, from the report's ---------------------------------------


def top_users(users: pd.DataFrame, top: int) -> pd.DataFrame:
    """Columns: user, amount_usd of the ``top`` users who spent most."""
    return users[["user", "amount_usd"]].head(top)


def all_tokens(usage: pd.DataFrame) -> int:
    return int(usage["tokens"].sum()) if not usage.empty else 0


def tokens_by_product(usage: pd.DataFrame) -> Grouped:
    """Columns: period, Product, tokens (every type)."""
    return Grouped(usage[["period", "Product", "tokens"]], "Product")


def active_users(engagement: pd.DataFrame) -> pd.DataFrame:
    """Columns: date, the active-user counts and assigned seats."""
    return engagement[["date", *ENGAGEMENT_COUNTS]]


def adoption(engagement: pd.DataFrame) -> pd.DataFrame:
    """Columns: date, the adoption rates."""
    return engagement[["date", *ADOPTION_RATES]]


def active_users_long(people: pd.DataFrame) -> pd.DataFrame:
    """date, measure (its label), people: one line per count in the chart."""
    return long_form(people, ENGAGEMENT_COUNTS, by="date", name="measure", value="people")


def adoption_long(rates: pd.DataFrame) -> pd.DataFrame:
    """date, measure (its label), rate: one line per rate in the chart."""
    return long_form(rates, ADOPTION_RATES, by="date", name="measure", value="rate")
