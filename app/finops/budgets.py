"""Budgets: the imported set (a YAML file, all-or-nothing), their scopes' spend and forecast.

A budget's scope is a match (``app.finops.match``) over the cost report's rows; ``{}`` is all
spend. A scope naming an allocation (``{Team: [Search]}``) reads that allocation's lines, which
keep the cost rows' columns and add up to them exactly. Its spend is read once per evaluation
for every budget together: the rows are grouped by the columns the scopes name (through the
daily rollup when they name at most one), each group matched once per budget, so 200 budgets
cost one or a few grouped reads, not 200.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import Engine, delete, func, select
from sqlmodel import Session, col

from app import clock
from app.db import read_session, write_session
from app.finops.allocation_keys import actor_name
from app.finops.allocation_tables import (
    Allocation,
    AllocationDaily,
    AllocationLine,
    of_allocation,
)
from app.finops.budget_tables import Budget, Channel
from app.finops.forecast import HISTORY_DAYS, Forecast, forecast_period
from app.finops.match import MATCH_KEYS, PER_KEY_KEYS, Match, SpendRow, parse_match
from app.finops.rule_files import LineDict, LineList, RuleFileError, line_of, load_rule_file
from app.models import ApiKey, CostDaily, CostLine, KeyCost, Organization, Workspace
from app.reports import labels
from app.services.access import Actor, require_admin
from app.services.audit import record

PERIODS = ("monthly", "quarterly", "yearly")
THRESHOLD_ON = ("actual", "forecast")
_BUDGET_KEYS = ("name", "scope", "period", "amount_usd", "thresholds", "channels")
# Match key -> the cost row's column, and the daily rollup's dimension of it.
_COLUMNS = {
    "workspace": "workspace_id",
    "model": "model",
    "service_tier": "service_tier",
    "cost_type": "cost_type",
    "token_type": "token_type",
    "product": "product",
}
_ROLLUP_DIMS = {
    "workspace_id": "workspace",
    "model": "model",
    "service_tier": "service_tier",
    "cost_type": "cost_type",
    "token_type": "token_type",
    "product": "product",
}


@dataclass(frozen=True)
class Threshold:
    percent: Decimal
    on: str  # actual | forecast

    @property
    def label(self) -> str:
        return f"{_number(self.percent)}% of {self.on}"


@dataclass(frozen=True)
class BudgetSpec:
    """One budget as the file (or the database) defines it."""

    name: str
    scope: Match
    period: str
    amount_usd: Decimal
    thresholds: tuple[Threshold, ...]
    channels: tuple[str, ...]
    line: int = 1

    @property
    def amount_cents(self) -> Decimal:
        return self.amount_usd * 100

    def definition(self) -> str:
        """Its normalised JSON: what an unchanged re-import compares equal to."""
        return json.dumps(
            {
                "scope": self.scope.as_mapping(),
                "period": self.period,
                "amount_usd": _number(self.amount_usd),
                "thresholds": [
                    {"percent": _number(t.percent), "on": t.on} for t in self.thresholds
                ],
                "channels": list(self.channels),
            },
            sort_keys=True,
        )


def _number(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text


# --- the file ---------------------------------------------------------------------------------


def parse_budgets(
    text: str, channel_names: Collection[str], allocation_names: Collection[str] = ()
) -> list[BudgetSpec]:
    """The budgets of a file, validated; RuleFileError ("line N: reason") otherwise. A scope
    may name one of ``allocation_names`` (``{Team: [Search]}``: the spend allocated to it)."""
    content = load_rule_file(text)
    if not isinstance(content, dict) or "budgets" not in content:
        raise RuleFileError(line_of(content, 1), "the file must have a 'budgets:' list")
    extra = [k for k in content if k != "budgets"]
    if extra:
        raise RuleFileError(_key_line(content, extra[0]), f"unknown key {extra[0]!r}")
    items = content["budgets"]
    if items is None:
        items = LineList()
        items.line, items.item_lines = _key_line(content, "budgets"), []
    if not isinstance(items, list):
        raise RuleFileError(_key_line(content, "budgets"), "'budgets' must be a list")
    specs: list[BudgetSpec] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        line = items.item_line(index) if isinstance(items, LineList) else 1
        spec = _parse_budget(item, line_of(item, line) or line, channel_names, allocation_names)
        if spec.name in seen:
            raise RuleFileError(spec.line, f"budget {spec.name!r} is defined twice")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def _key_line(mapping: Any, key: Any) -> int:
    if isinstance(mapping, LineDict):
        return mapping.key_line(key)
    return line_of(mapping, 1) or 1


def _parse_budget(
    item: Any, line: int, channel_names: Collection[str], allocation_names: Collection[str]
) -> BudgetSpec:
    if not isinstance(item, dict):
        raise RuleFileError(line, "each budget must be a mapping (name, scope, period, ...)")
    for key in item:
        if key not in _BUDGET_KEYS:
            raise RuleFileError(
                _key_line(item, key),
                f"unknown budget key {key!r}: the keys are {', '.join(_BUDGET_KEYS)}",
            )
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        raise RuleFileError(_key_line(item, "name"), "a budget needs a name (text)")
    name = name.strip()
    if len(name) > 200:
        raise RuleFileError(_key_line(item, "name"), "a budget's name is at most 200 characters")
    scope_line = _key_line(item, "scope")
    scope_value = item.get("scope") or {}
    if isinstance(scope_value, dict):
        for key in scope_value:
            key_line = _key_line(scope_value, key)
            if key == "product" and any(k in PER_KEY_KEYS for k in scope_value):
                raise RuleFileError(
                    key_line,
                    "scope key 'product': a scope on API keys or actors reads per-key billed "
                    "cost, which has no product (it is the Claude API's)",
                )
            if isinstance(key, str) and key not in MATCH_KEYS and key not in allocation_names:
                allocations = (
                    f", or an allocation ({', '.join(sorted(allocation_names))})"
                    if allocation_names
                    else ", or the name of an allocation (none is imported yet)"
                )
                raise RuleFileError(
                    key_line,
                    f"unknown scope key {key!r}: the keys are "
                    + ", ".join(MATCH_KEYS)
                    + allocations,
                )
        named = [k for k in scope_value if k in allocation_names]
        if len(named) > 1:
            raise RuleFileError(
                _key_line(scope_value, named[1]),
                f"a scope names one allocation at most ({named[0]} and {named[1]} divide the "
                "spend by different rules)",
            )
        keyed = [k for k in scope_value if k in PER_KEY_KEYS]
        if named and keyed:
            raise RuleFileError(
                _key_line(scope_value, keyed[0]),
                f"a scope on an allocation ({named[0]}) cannot also name {keyed[0]}: scope "
                f"the allocation's rules by {keyed[0]} instead",
            )
    scope = parse_match(scope_value, scope_line, what="scope", allocation_names=allocation_names)
    period = item.get("period", "monthly")
    if period not in PERIODS:
        raise RuleFileError(
            _key_line(item, "period"), f"period {period!r}: one of {', '.join(PERIODS)}"
        )
    amount = _amount(item.get("amount_usd"), _key_line(item, "amount_usd"), "amount_usd")
    if amount <= 0:
        raise RuleFileError(_key_line(item, "amount_usd"), "amount_usd must be more than 0")
    thresholds = _thresholds(item.get("thresholds"), _key_line(item, "thresholds"))
    channels = _channels(item.get("channels"), _key_line(item, "channels"), channel_names)
    return BudgetSpec(name, scope, period, amount, thresholds, channels, line)


def _amount(value: Any, line: int, what: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RuleFileError(line, f"{what} must be a number")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise RuleFileError(line, f"{what}: {value!r} is not a number") from None
    if not amount.is_finite() or amount > Decimal("1e12"):
        raise RuleFileError(line, f"{what}: {value!r} is not a usable amount")
    return amount


def _thresholds(value: Any, line: int) -> tuple[Threshold, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise RuleFileError(line, "thresholds must be a list of {percent, on}")
    found: list[Threshold] = []
    for index, item in enumerate(value):
        item_line = value.item_line(index) if isinstance(value, LineList) else line
        item_line = line_of(item, item_line) or item_line
        if not isinstance(item, dict):
            raise RuleFileError(
                item_line, "a threshold is a mapping like {percent: 80, on: actual}"
            )
        for key in item:
            if key not in ("percent", "on"):
                raise RuleFileError(
                    _key_line(item, key), f"unknown threshold key {key!r}: percent, on"
                )
        percent = _amount(item.get("percent"), _key_line(item, "percent"), "percent")
        if not 0 < percent <= 1000:
            raise RuleFileError(_key_line(item, "percent"), "percent must be from 0 to 1000")
        on = item.get("on", "actual")
        if on not in THRESHOLD_ON:
            raise RuleFileError(_key_line(item, "on"), f"on {on!r}: actual or forecast")
        threshold = Threshold(percent.normalize(), str(on))
        if threshold in found:
            raise RuleFileError(item_line, f"the threshold {threshold.label} is listed twice")
        found.append(threshold)
    return tuple(found)


def _channels(value: Any, line: int, known: Collection[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    names = value if isinstance(value, list) else [value]
    for name in names:
        if not isinstance(name, str):
            raise RuleFileError(line, "channels must be a list of channel names")
        if name not in known:
            raise RuleFileError(
                line, f"channel {name!r} does not exist (add it with `finops channels add`)"
            )
    return tuple(dict.fromkeys(names))


# --- the stored set ---------------------------------------------------------------------------


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


def import_budgets(engine: Engine, text: str, *, actor: Actor) -> ImportResult:
    """Replace the stored budgets by the file's (the file is the whole set). A refused file
    raises RuleFileError and changes nothing. An unchanged budget keeps its row (and so its
    fired thresholds never fire again; they are kept by name and period anyway)."""
    require_admin(actor, "import budgets")
    result = ImportResult()
    now = clock.utcnow()
    with write_session(engine) as session:
        channels = set(session.execute(select(col(Channel.name))).scalars())
        allocations = set(session.execute(select(col(Allocation.name))).scalars())
        specs = parse_budgets(text, channels, allocations)
        stored = {b.name: b for b in session.execute(select(Budget)).scalars()}
        for spec in specs:
            definition = spec.definition()
            row = stored.pop(spec.name, None)
            if row is None:
                session.add(
                    Budget(name=spec.name, definition=definition, created_at=now, updated_at=now)
                )
                result.added.append(spec.name)
            elif row.definition != definition:
                row.definition, row.updated_at = definition, now
                session.add(row)
                result.changed.append(spec.name)
            else:
                result.unchanged.append(spec.name)
        for name in stored:
            session.execute(delete(Budget).where(col(Budget.name) == name))
            result.removed.append(name)
        for action, names in (
            ("budget_added", result.added),
            ("budget_changed", result.changed),
            ("budget_removed", result.removed),
        ):
            for name in names:
                record(session, actor=actor.email, action=action, target=f"budget:{name}")
    return result


def remove_budget(engine: Engine, *, actor: Actor, name: str) -> bool:
    require_admin(actor, "remove budgets")
    with write_session(engine) as session:
        row = session.execute(select(Budget).where(col(Budget.name) == name)).scalar_one_or_none()
        if row is None:
            return False
        session.delete(row)
        record(session, actor=actor.email, action="budget_removed", target=f"budget:{name}")
    return True


def load_budgets(engine: Engine) -> list[BudgetSpec]:
    """The stored budgets, by name."""
    with read_session(engine) as session:
        rows = session.execute(select(Budget).order_by(col(Budget.name))).scalars().all()
    return [_from_row(row) for row in rows]


def _from_row(row: Budget) -> BudgetSpec:
    data = json.loads(row.definition)
    return BudgetSpec(
        name=row.name,
        # A stored scope was checked on import; a key that is no match key is an allocation's.
        scope=parse_match(
            data["scope"],
            1,
            what="scope",
            allocation_names=[k for k in data["scope"] if k not in MATCH_KEYS],
        ),
        period=data["period"],
        amount_usd=Decimal(data["amount_usd"]),
        thresholds=tuple(Threshold(Decimal(t["percent"]), t["on"]) for t in data["thresholds"]),
        channels=tuple(data["channels"]),
    )


# --- periods ----------------------------------------------------------------------------------


def period_bounds(period: str, day: date) -> tuple[date, date]:
    """``[start, end)`` of the calendar (UTC) period holding ``day``."""
    if period == "monthly":
        start = day.replace(day=1)
        months = 1
    elif period == "quarterly":
        start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
        months = 3
    else:
        start = date(day.year, 1, 1)
        months = 12
    year, month = divmod(start.month - 1 + months, 12)
    return start, date(start.year + year, month + 1, 1)


# --- spend of scopes --------------------------------------------------------------------------


def scope_spend(
    engine: Engine, scopes: Mapping[str, Match], start: date, end: date
) -> dict[str, dict[date, Decimal]]:
    """Cents per day in ``[start, end)`` of each named scope, from one grouped read per set of
    columns the scopes name (the daily rollup where that is at most one column)."""
    # Scopes by what they read (an allocation's lines, per-key cost, else the cost rows) and
    # the columns they name.
    by_columns: dict[tuple[str | None, tuple[str, ...]], list[str]] = defaultdict(list)
    for name, scope in scopes.items():
        named_columns = sorted({_COLUMNS[t.key] for t in scope.terms if t.key in _COLUMNS})
        allocation = scope.allocation_keys[0] if scope.allocation_keys else None
        if scope.needs_per_key:
            allocation = _PER_KEY
        by_columns[(allocation, tuple(named_columns))].append(name)
    result: dict[str, dict[date, Decimal]] = {name: defaultdict(Decimal) for name in scopes}
    with read_session(engine) as session:
        orgs = {o.id: o for o in session.execute(select(Organization)).scalars()}
        workspaces = {
            (w.organization_pk, w.workspace_id): w.name
            for w in session.execute(select(Workspace)).scalars()
        }
        key_names = {
            (k.organization_pk, k.api_key_id): k.name
            for k in session.execute(select(ApiKey)).scalars()
        }
        for (allocation, columns), names in by_columns.items():
            # The scopes each distinct row matches, found once per row: a row's day adds to
            # those alone (200 scopes on one column set would otherwise try every row 200 times).
            hits_of: dict[tuple[Any, ...], tuple[str, ...]] = {}
            if allocation is None:
                rows = _grouped(session, columns, start, end)
            elif allocation == _PER_KEY:
                rows = _per_key_rows(session, columns, start, end)
            else:
                rows = _allocated(session, allocation, columns, start, end)
            for pk, day, values, cents in rows:
                key = (pk, *values)
                hits = hits_of.get(key)
                if hits is None:
                    org = orgs.get(pk)
                    if org is None:
                        hits = hits_of[key] = ()
                        continue
                    # An allocation's rows lead with its value, then the columns.
                    own = values[len(values) - len(columns) :]
                    row = _spend_row(org, dict(zip(columns, own, strict=True)), workspaces)
                    if allocation == _PER_KEY:
                        row = _keyed(row, pk, values, key_names)
                    elif allocation is not None:
                        row = replace(row, allocations={allocation: values[0]})
                    hits = hits_of[key] = tuple(n for n in names if scopes[n].matches(row))
                for name in hits:
                    result[name][day] += cents
    return {name: dict(days) for name, days in result.items()}


def _grouped(
    session: Session, columns: tuple[str, ...], start: date, end: date
) -> Iterable[tuple[int, date, tuple[Any, ...], Decimal]]:
    if len(columns) <= 1:
        dim = _ROLLUP_DIMS[columns[0]] if columns else "cost_type"
        value = col(CostDaily.value)
        picked = [value] if columns else []
        query = (
            select(
                col(CostDaily.organization_pk),
                col(CostDaily.date),
                *picked,
                func.sum(col(CostDaily.amount_cents)),
            )
            .where(
                col(CostDaily.dim) == dim, col(CostDaily.date) >= start, col(CostDaily.date) < end
            )
            .group_by(col(CostDaily.organization_pk), col(CostDaily.date), *picked)
        )
    else:
        picked = [getattr(CostLine, c) for c in columns]
        query = (
            select(
                col(CostLine.organization_pk),
                col(CostLine.date),
                *picked,
                func.sum(col(CostLine.amount_cents)),
            )
            .where(col(CostLine.date) >= start, col(CostLine.date) < end)
            .group_by(col(CostLine.organization_pk), col(CostLine.date), *picked)
        )
    for row in session.execute(query):
        yield int(row[0]), row[1], tuple(row[2:-1]), Decimal(row[-1] or 0)


# What a scope on API keys or actors reads (in place of an allocation's name).
_PER_KEY = "\x00per-key"


def _per_key_rows(
    session: Session, columns: tuple[str, ...], start: date, end: date
) -> Iterable[tuple[int, date, tuple[Any, ...], Decimal]]:
    """Per-key billed cost (Usage and Cost Analytics API) in ``[start, end)`` by organization,
    day, key and actor, then ``columns``: a scope on ``{api_key: [...]}``."""
    who = (
        col(KeyCost.api_key_id),
        col(KeyCost.actor_type),
        col(KeyCost.actor_id),
        col(KeyCost.actor_name),
    )
    keys = (
        col(KeyCost.organization_pk),
        col(KeyCost.date),
        *who,
        *(getattr(KeyCost, c) for c in columns),
    )
    query = (
        select(*keys, func.sum(col(KeyCost.amount_cents)))
        .where(col(KeyCost.date) >= start, col(KeyCost.date) < end)
        .group_by(*keys)
    )
    for row in session.execute(query):
        yield int(row[0]), row[1], tuple(row[2:-1]), Decimal(row[-1] or 0)


def _keyed(
    row: SpendRow,
    org_pk: int,
    values: tuple[Any, ...],
    key_names: Mapping[tuple[int, str], str],
) -> SpendRow:
    """``row`` as per-key cost of the key and actor leading ``values``."""
    api_key_id, actor_type, actor_id, sent_name = values[:4]
    key_name = None if api_key_id is None else key_names.get((org_pk, api_key_id))
    return replace(
        row,
        per_key=True,
        api_key_id=api_key_id,
        api_key_name=key_name,
        actor_id=actor_id,
        actor_name=actor_name(actor_type, sent_name, key_name),
    )


def _allocated(
    session: Session, allocation: str, columns: tuple[str, ...], start: date, end: date
) -> Iterable[tuple[int, date, tuple[Any, ...], Decimal]]:
    """The allocation's lines in ``[start, end)`` by organization, day, value and ``columns``
    (the lines hold the cost rows' columns): a scope on ``{Team: [Search], model: [...]}``."""
    # Without other columns, the lines' daily sums per value answer it (a few rows a day).
    table: Any = AllocationDaily if not columns else AllocationLine
    picked = [getattr(table, c) for c in columns]
    keys = (col(table.organization_pk), col(table.date), col(table.value), *picked)
    query = (
        select(*keys, func.sum(col(table.amount_cents)))
        .where(
            of_allocation(allocation, table),
            col(table.date) >= start,
            col(table.date) < end,
        )
        .group_by(*keys)
    )
    for row in session.execute(query):
        yield int(row[0]), row[1], tuple(row[2:-1]), Decimal(row[-1] or 0)


def _spend_row(
    org: Organization, values: dict[str, Any], workspaces: Mapping[tuple[int | None, str], str]
) -> SpendRow:
    workspace_id = values.get("workspace_id")
    if workspace_id is None:
        workspace_name = labels.DEFAULT_WORKSPACE
    else:
        workspace_name = workspaces.get((org.id, workspace_id), workspace_id)
    return SpendRow(
        organization_id=org.organization_id,
        organization_name=org.name,
        organization_label=org.label,
        provider=org.provider,
        workspace_id=workspace_id,
        workspace_name=workspace_name,
        model=values.get("model"),
        service_tier=values.get("service_tier"),
        cost_type=values.get("cost_type"),
        token_type=values.get("token_type"),
        product=values.get("product"),
    )


# --- status of each budget --------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetStatus:
    spec: BudgetSpec
    period_start: date
    period_end: date
    forecast: Forecast
    daily: Mapping[date, Decimal]

    @property
    def actual_cents(self) -> Decimal:
        return self.forecast.actual_cents

    @property
    def exhausted_on(self) -> date | None:
        return self.forecast.exhausted_on(self.spec.amount_cents)

    @property
    def prorated_cents(self) -> Decimal:
        """The amount at an even pace through today (the line a progress bar compares to)."""
        days = (self.period_end - self.period_start).days
        elapsed = (self.forecast.today - self.period_start).days + 1
        return self.spec.amount_cents * min(elapsed, days) / days

    @property
    def status(self) -> str:
        if self.actual_cents >= self.spec.amount_cents:
            return "over"
        if self.forecast.expected_cents >= self.spec.amount_cents:
            return "at_risk"
        return "on_track"

    def as_json(self) -> dict[str, Any]:
        f = self.forecast
        return {
            "name": self.spec.name,
            "scope": self.spec.scope.as_mapping(),
            "period": self.spec.period,
            "amount_usd": usd_number(self.spec.amount_cents),
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "actual_usd": usd_number(f.actual_cents),
            "forecast_usd": usd_number(f.expected_cents),
            "forecast_low_usd": usd_number(f.low_cents),
            "forecast_high_usd": usd_number(f.high_cents),
            "forecast_method": f.method,
            "prorated_usd": usd_number(self.prorated_cents),
            "percent_used": float(round(f.actual_cents * 100 / self.spec.amount_cents, 1)),
            "exhausted_on": self.exhausted_on.isoformat() if self.exhausted_on else None,
            "status": self.status,
            "thresholds": [{"percent": float(t.percent), "on": t.on} for t in self.spec.thresholds],
            "channels": list(self.spec.channels),
        }


def usd_number(cents: Decimal) -> float:
    """Cents as a JSON number of dollars, rounded to the cent."""
    return float((cents / 100).quantize(Decimal("0.01")))


def budget_statuses(
    engine: Engine, specs: list[BudgetSpec] | None = None, *, today: date | None = None
) -> list[BudgetStatus]:
    """Every budget's current period: actual (today's partial day included) and forecast."""
    specs = load_budgets(engine) if specs is None else specs
    return scope_statuses(engine, specs, today=today)


def scope_statuses(
    engine: Engine, specs: list[BudgetSpec], *, today: date | None = None
) -> list[BudgetStatus]:
    if not specs:
        return []
    today = today or clock.today()
    bounds = {s.name: period_bounds(s.period, today) for s in specs}
    start = min(min(b[0] for b in bounds.values()), today - timedelta(days=HISTORY_DAYS))
    spend = scope_spend(engine, {s.name: s.scope for s in specs}, start, today + timedelta(days=1))
    out = []
    for spec in specs:
        period_start, period_end = bounds[spec.name]
        daily = spend[spec.name]
        forecast = forecast_period(
            daily,
            today,
            period_start,
            period_end,
            cache_key=("scope", json.dumps(spec.scope.as_mapping(), sort_keys=True)),
        )
        out.append(BudgetStatus(spec, period_start, period_end, forecast, daily))
    return out


def month_forecast(
    engine: Engine, *, organization_id: str | None = None, today: date | None = None
) -> dict[str, Any]:
    """This month's end-of-month spend per organization and in total (``finops forecast``),
    and when each budget is projected to run out. LookupError for an unknown organization."""
    today = today or clock.today()
    with read_session(engine) as session:
        query = select(Organization).order_by(col(Organization.name))
        if organization_id is not None:
            query = query.where(col(Organization.organization_id) == organization_id)
        orgs = list(session.execute(query).scalars())
    if organization_id is not None and not orgs:
        raise LookupError(f"No connected organization has the id {organization_id}.")
    scopes = {
        f"org:{o.organization_id}": parse_match({"organization": [o.organization_id]}, 1)
        for o in orgs
    }
    total_scope = (
        scopes[f"org:{orgs[0].organization_id}"] if organization_id is not None else Match()
    )
    scopes["total"] = total_scope
    month_start, month_end = period_bounds("monthly", today)
    start = min(month_start, today - timedelta(days=HISTORY_DAYS))
    spend = scope_spend(engine, scopes, start, today + timedelta(days=1))

    def row(key: str, name: str) -> dict[str, Any]:
        f = forecast_period(
            spend[key],
            today,
            month_start,
            month_end,
            cache_key=("scope", json.dumps(scopes[key].as_mapping(), sort_keys=True)),
        )
        return {
            "name": name,
            "actual_usd": usd_number(f.actual_cents),
            "forecast_usd": usd_number(f.expected_cents),
            "low_usd": usd_number(f.low_cents),
            "high_usd": usd_number(f.high_cents),
            "method": f.method,
        }

    budgets = [
        {
            "name": s.spec.name,
            "period": s.spec.period,
            "period_start": s.period_start.isoformat(),
            "amount_usd": usd_number(s.spec.amount_cents),
            "forecast_usd": usd_number(s.forecast.expected_cents),
            "exhausted_on": s.exhausted_on.isoformat() if s.exhausted_on else None,
        }
        for s in budget_statuses(engine, today=today)
    ]
    return {
        "month_start": month_start.isoformat(),
        "as_of": today.isoformat(),
        "organizations": [
            {
                "organization_id": o.organization_id,
                **row(f"org:{o.organization_id}", o.display_name),
            }
            for o in orgs
        ],
        "total": row("total", "Total"),
        "budgets": budgets,
    }
