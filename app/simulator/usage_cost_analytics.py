"""The Usage and Cost Analytics API (beta) for Console organizations: ``/analytics/cost``
(reference §13), billed cost by API key, actor, workspace, model, tier, cost and token type.

Per-key cost is the cost report split by usage: each cost report line (a workspace, model,
tier, context window, geo and token type of a day) is shared among the usage rows behind it
(each an API key, or none for Console / Workbench) in proportion to their tokens, with the
largest remainder at the report's 0.000001-cent quantum; web search by searches; code
execution has no key. So, by default, a workspace-day's per-key cost adds up exactly to the
cost report's (``list_amount`` = ``amount``). ``KeyCostOptions.discount`` makes ``amount``
that fraction below ``list_amount`` on every row (a negotiated discount), so the two differ by
exactly the discount.

Choices where the reference is UNCONFIRMED (§13.3-§13.6, §16), each configurable in
``KeyCostOptions`` where a test needs the other answer:

- The beta header ``anthropic-beta: analytics-usage-cost-2026-08-24`` is required (400 without).
- ``starting_at`` must be at or after 2026-01-01 and within the last 365 days; ``ending_at``
  defaults to min(tomorrow's midnight, ``starting_at`` + 31 days), may be at most tomorrow's
  midnight (today's partial day, as the Console reports), and the span is at most
  ``max_days`` (31).
- ``time_bucket_width`` is ``1d`` or omitted (one row per group over the whole range).
- ``group_by[]`` takes the 21 documented and inferred cost dimensions; every one is present in
  ``group``, null unless grouped by. Only combinations with cost are returned.
- Actor shapes: ``{"type": "user_actor", "user_id", "email_address", "name", "deleted"}``,
  ``{"type": "service_account_actor", "service_account_id", "name"}`` and, for a key without a
  principal, ``{"type": "api_key_actor", "api_key_id", "name"}``; ``actor_type`` is ``user``,
  ``service_account`` or ``api_key``. Rows without a key have a null actor.
- Envelope ``{data, has_more, next_page, data_refreshed_at}``; ``omit_has_more`` leaves
  ``has_more`` out. ``limit`` (rows) defaults to 100, at most 1000. Cursors are tied to the
  query. Amounts are decimal strings of cents, or JSON numbers with ``amounts_as_numbers``.
- ``requests`` is null when grouped by ``cost_type`` or ``token_type`` (as documented), else
  the count of usage rows behind the row (the simulator has no request counts of its own).
- ``refuse`` answers every request with that status (403: the key may not use it; 404: not
  offered to this organization).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import httpx

from app.simulator.common import (
    INVALID_RANGE,
    ApiError,
    Params,
    fingerprint,
    many,
    offset_page,
    one,
    parse_time,
)
from app.simulator.world import (
    CENTS_QUANTUM,
    COSTED_TIERS,
    USAGE_COUNTS,
    USAGE_FIELD,
    SimApiKey,
    SimOrg,
    World,
    _fmt,
)

BETA = "analytics-usage-cost-2026-08-24"
FIRST_DAY = date(2026, 1, 1)
COST_GROUPS = (
    "actor",
    "actor_type",
    "agent_id",
    "api_key_id",
    "claude_tag_category",
    "claude_tag_user_id",
    "context_window",
    "cost_type",
    "deployment_id",
    "environment_id",
    "inference_geo",
    "model",
    "product",
    "rbac_group_id",
    "service_tier",
    "session_id",
    "slack_channel_id",
    "speed",
    "token_type",
    "user_profile_id",
    "workspace_id",
)
# Dimensions the simulated pieces carry; every other group field is always null.
_PIECE_DIMS = (
    "workspace_id",
    "api_key_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "cost_type",
    "token_type",
)
_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "actor_types[]": "actor_type",
}


@dataclass
class KeyCostOptions:
    """The simulated endpoint's knobs (module docstring)."""

    discount: Decimal = Decimal(0)
    refuse: int | None = None
    amounts_as_numbers: bool = False
    omit_has_more: bool = False
    max_days: int = 31
    default_limit: int = 100
    max_limit: int = 1000


@dataclass(frozen=True)
class KeyCostTruth:
    """One finest-grain piece of a day's per-key cost (cents with up to 6 decimals)."""

    date: date
    workspace_id: str | None
    api_key_id: str | None
    actor_type: str | None
    actor_id: str | None
    model: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    cost_type: str
    token_type: str | None
    list_amount_cents: Decimal
    amount_cents: Decimal
    usage_rows: int


class KeyCostData:
    """Per-key cost of the Console organizations of a ``World`` (cached per day)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.options = KeyCostOptions()
        self._cache: dict[tuple[str, date, int, Decimal], list[KeyCostTruth]] = {}
        self._rows: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def signature(self, org_id: str, params: Params, days: list[Any]) -> tuple[Any, ...]:
        """What a query's rows depend on: the query, its days' revisions, the options."""
        revisions = tuple(self.world._revisions[(org_id, day)] for day, _ in days)
        options = (self.options.discount, self.options.amounts_as_numbers)
        return (org_id, fingerprint(params), revisions, options)

    def built(self, signature: tuple[Any, ...]) -> list[dict[str, Any]] | None:
        with self._lock:
            return self._rows.get(signature)

    def keep(self, signature: tuple[Any, ...], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        with self._lock:
            if len(self._rows) >= 8:  # a few queries at once (several workers)
                self._rows.pop(next(iter(self._rows)))
            self._rows[signature] = rows
        return rows

    def pieces(self, org_id: str, day: date) -> list[KeyCostTruth]:
        """The day's pieces (shared: do not mutate)."""
        revision = self.world._revisions[(org_id, day)]
        key = (org_id, day, revision, self.options.discount)
        with self._lock:
            cached = self._cache.get(key)
        if cached is None:
            cached = _day_pieces(self.world, self.world.orgs[org_id], day, self.options.discount)
            with self._lock:
                self._cache[key] = cached
        return cached


def _share(total: Decimal, weights: list[int]) -> list[Decimal]:
    """``total`` split by ``weights`` at the 0.000001-cent quantum, adding up exactly
    (largest remainder)."""
    units = int((total / CENTS_QUANTUM).to_integral_value(ROUND_HALF_EVEN))
    whole = sum(weights)
    if whole <= 0:
        return [Decimal(0)] * len(weights)
    base = [units * w // whole for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(units * weights[i] % whole), i))
    for i in order[: units - sum(base)]:
        base[i] += 1
    return [Decimal(b) * CENTS_QUANTUM for b in base]


def _actor(org: SimOrg, key: SimApiKey | None) -> tuple[str | None, str | None]:
    if key is None:
        return None, None
    if key.principal is None:
        return "api_key", key.id
    return key.principal


def _day_pieces(world: World, org: SimOrg, day: date, discount: Decimal) -> list[KeyCostTruth]:
    keys = {k.id: k for k in org.api_keys}
    usage = [r for r in world.usage(org.id, day) if r.service_tier in COSTED_TIERS]
    pieces: list[KeyCostTruth] = []

    def add(line: Any, api_key_id: str | None, cents: Decimal, rows: int) -> None:
        if not cents:
            return
        off = (cents * discount).quantize(CENTS_QUANTUM, rounding=ROUND_HALF_EVEN)
        actor_type, actor_id = _actor(org, keys.get(api_key_id or ""))
        pieces.append(
            KeyCostTruth(
                day,
                line.workspace_id,
                api_key_id,
                actor_type,
                actor_id,
                line.model,
                line.service_tier,
                line.context_window,
                line.inference_geo,
                line.cost_type,
                line.token_type,
                cents,
                cents - off,
                rows,
            )
        )

    # The usage rows behind each cost line, indexed once (a large organization has thousands
    # of both a day).
    by_line: dict[tuple[Any, ...], list[Any]] = defaultdict(list)
    by_workspace: dict[str | None, list[Any]] = defaultdict(list)
    for r in usage:
        by_line[
            (r.workspace_id, r.model, r.service_tier, r.context_window, r.inference_geo)
        ].append(r)
        by_workspace[r.workspace_id].append(r)
    for line in world.cost(org.id, day):
        if line.cost_type == "tokens":
            assert line.token_type is not None
            field = USAGE_FIELD[line.token_type]
            candidates = by_line[
                (
                    line.workspace_id,
                    line.model,
                    line.service_tier,
                    line.context_window,
                    line.inference_geo,
                )
            ]
            behind = [r for r in candidates if getattr(r, field)]
            weights = [getattr(r, field) for r in behind]
        elif line.cost_type == "web_search":
            behind = [r for r in by_workspace[line.workspace_id] if r.web_search_requests]
            weights = [r.web_search_requests for r in behind]
        else:  # code execution: no key
            add(line, None, line.amount_cents, 0)
            continue
        by_key: dict[str | None, list[int]] = defaultdict(lambda: [0, 0])
        for row, weight in zip(behind, weights, strict=True):
            by_key[row.api_key_id][0] += weight
            by_key[row.api_key_id][1] += 1
        if not by_key:
            add(line, None, line.amount_cents, 0)
            continue
        owners = sorted(by_key, key=lambda k: k or "")
        shares = _share(line.amount_cents, [by_key[k][0] for k in owners])
        for owner, cents in zip(owners, shares, strict=True):
            add(line, owner, cents, by_key[owner][1])
    return pieces


# --- the endpoint --------------------------------------------------------------------------------


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _actor_json(org: SimOrg, piece: KeyCostTruth) -> dict[str, Any] | None:
    if piece.actor_type is None:
        return None
    if piece.actor_type == "user":
        user = next((u for u in org.users if u["id"] == piece.actor_id), None)
        return {
            "type": "user_actor",
            "user_id": piece.actor_id,
            "email_address": user["email"] if user else None,
            "name": user["name"] if user else None,
            "deleted": user is None,
        }
    key = next((k for k in org.api_keys if k.id == piece.api_key_id), None)
    if piece.actor_type == "service_account":
        name = f"{key.name} (service account)" if key else None
        return {
            "type": "service_account_actor",
            "service_account_id": piece.actor_id,
            "name": name,
        }
    return {
        "type": "api_key_actor",
        "api_key_id": piece.actor_id,
        "name": key.name if key else None,
    }


def _money(cents: Decimal, as_number: bool) -> Any:
    text = format(cents.quantize(CENTS_QUANTUM), "f")
    text = text.rstrip("0").rstrip(".") if "." in text else text
    return float(text) if as_number else text


@dataclass(frozen=True)
class _Query:
    start: datetime
    end: datetime
    width: str
    groups: list[str]
    filters: dict[str, set[str]]

    def days(self) -> list[tuple[date, date | None]]:
        """(day, its bucket or None without ``time_bucket_width``) of every whole day."""
        first = self.start.date()
        day = first if self.start == _midnight(first) else first + timedelta(days=1)
        days = []
        while _midnight(day) + timedelta(days=1) <= self.end:
            days.append((day, day if self.width else None))
            day += timedelta(days=1)
        return days


def _query(
    data: KeyCostData, params: Params, request: httpx.Request, allowed: tuple[str, ...]
) -> _Query:
    """The request's range, bucket width, groups and filters, validated (module docstring)."""
    options = data.options
    if options.refuse is not None:
        if options.refuse == 404:
            raise ApiError(404, "The requested resource could not be found.")
        if options.refuse == 400:
            raise ApiError(400, f"The beta {BETA} is not available for this organization.")
        raise ApiError(
            options.refuse, "This API key does not have permission to use the Analytics API."
        )
    betas = [b.strip() for b in request.headers.get("anthropic-beta", "").split(",")]
    if BETA not in betas:
        raise ApiError(400, f"This endpoint requires the anthropic-beta header {BETA}.")
    today = data.world.today
    start_text = one(params, "starting_at", "")
    if not start_text:
        raise ApiError(400, "starting_at: Field required")
    start = parse_time(start_text, "starting_at")
    if start < _midnight(FIRST_DAY):
        raise ApiError(400, "starting_at: must be no earlier than 2026-01-01T00:00:00Z")
    if start < _midnight(today - timedelta(days=365)):
        raise ApiError(400, "starting_at: must be within the last 365 days")
    now = _midnight(today + timedelta(days=1))
    end_text = one(params, "ending_at", "")
    end = (
        parse_time(end_text, "ending_at")
        if end_text
        else min(now, start + timedelta(days=options.max_days))
    )
    if end <= start:
        raise ApiError(400, INVALID_RANGE)
    if end > now:
        raise ApiError(400, "ending_at: must not be in the future")
    if end - start > timedelta(days=options.max_days):
        raise ApiError(400, f"Invalid date range: at most {options.max_days} days")
    width = one(params, "time_bucket_width", "")
    if width not in ("", "1d"):
        raise ApiError(400, "time_bucket_width: Input should be '1d'")
    groups: list[str] = []
    for value in (v for k, v in params if k == "group_by[]"):
        if value not in allowed:
            raise ApiError(400, f"group_by[]: Input should be one of {', '.join(allowed)}")
        if value not in groups:
            groups.append(value)
    filters = {dim: wanted for name, dim in _FILTERS.items() if (wanted := many(params, name))}
    return _Query(start, end, width, groups, filters)


def _page(data: KeyCostData, params: Params, rows: list[Any], fault: str | None) -> Any:
    options = data.options
    body = offset_page(
        rows,
        params,
        fault,
        default_limit=options.default_limit,
        max_limit=options.max_limit,
        scope={"q": fingerprint(params)},
    )
    body["data_refreshed_at"] = _fmt(_midnight(data.world.today))
    if options.omit_has_more:
        body.pop("has_more", None)
    return body


def cost(
    data: KeyCostData, org: SimOrg, params: Params, request: httpx.Request, fault: str | None
) -> Any:
    """A page of ``GET /v1/organizations/analytics/cost``. The query's rows are built once
    and kept while its pages are read (a large organization's week is many pages)."""
    query = _query(data, params, request, COST_GROUPS)
    signature = data.signature(org.id, params, query.days())
    rows = data.built(signature)
    if rows is None:
        rows = data.keep(signature, _cost_rows(data, org, query))
    return _page(data, params, rows, fault)


def _cost_rows(data: KeyCostData, org: SimOrg, query: _Query) -> list[dict[str, Any]]:
    options = data.options
    start, end, groups, filters = query.start, query.end, query.groups, query.filters
    buckets: dict[tuple[Any, ...], list[Any]] = {}
    for day, bucket in query.days():
        for piece in data.pieces(org.id, day):
            dims = {**{d: getattr(piece, d) for d in _PIECE_DIMS}, "actor_type": piece.actor_type}
            if any(dims.get(d) not in allowed for d, allowed in filters.items()):
                continue
            key = (bucket, *(_group_value(g, piece) for g in groups))
            acc = buckets.setdefault(key, [Decimal(0), Decimal(0), 0, piece])
            acc[0] += piece.amount_cents
            acc[1] += piece.list_amount_cents
            acc[2] += piece.usage_rows

    split = {"cost_type", "token_type"} & set(groups)
    rows = []
    for key, (amount, listed, usage_rows, piece) in sorted(
        buckets.items(), key=lambda item: (item[0][0] or FIRST_DAY, -item[1][0], repr(item[0]))
    ):
        bucket = key[0]
        group: dict[str, Any] = dict.fromkeys(COST_GROUPS)
        for name, value in zip(groups, key[1:], strict=True):
            group[name] = value
        if "actor" in groups:
            group["actor"] = _actor_json(org, piece)
        row_start = _midnight(bucket) if bucket else start
        row_end = row_start + timedelta(days=1) if bucket else end
        row: dict[str, Any] = {
            "starting_at": _fmt(row_start),
            "ending_at": _fmt(row_end),
            "group": group,
            "cost": {
                "amount": _money(amount, options.amounts_as_numbers),
                "list_amount": _money(listed, options.amounts_as_numbers),
                "currency": "USD",
                "requests": None if split else usage_rows,
            },
        }
        if group.get("cost_type") == "code_execution":
            row["unknown_future_field"] = "tolerate me"  # clients must keep unknown fields
        rows.append(row)
    return rows


USAGE_GROUPS = tuple(g for g in COST_GROUPS if g not in ("cost_type", "token_type"))


def usage(
    data: KeyCostData, org: SimOrg, params: Params, request: httpx.Request, fault: str | None
) -> Any:
    """A page of ``GET /v1/organizations/analytics/usage``: the usage report's rows by the
    requested dimensions (an API key's actor from its principal), every tier included;
    ``requests`` is the count of usage rows behind a row (no request counts are simulated),
    ``uncached_input_tokens`` and ``total_tokens`` as the reference infers them."""
    query = _query(data, params, request, USAGE_GROUPS)
    keys = {k.id: k for k in org.api_keys}
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for day, bucket in query.days():
        for row in data.world.usage(org.id, day):
            key = keys.get(row.api_key_id or "")
            actor = _actor(org, key)
            dims = {
                "workspace_id": row.workspace_id,
                "api_key_id": row.api_key_id,
                "model": row.model,
                "service_tier": row.service_tier,
                "context_window": row.context_window,
                "inference_geo": row.inference_geo,
                "actor_type": actor[0],
                "speed": "standard",
            }
            if any(dims.get(d) not in allowed for d, allowed in query.filters.items()):
                continue
            values = tuple(actor if g == "actor" else dims.get(g) for g in query.groups)
            acc = sums.setdefault((bucket, *values), [0] * 7 + [row])
            for i, name in enumerate(USAGE_COUNTS):
                acc[i] += getattr(row, name)
            acc[6] += 1
    rows = []
    for grouped, acc in sorted(
        sums.items(), key=lambda item: (item[0][0] or FIRST_DAY, -sum(item[1][:5]), repr(item[0]))
    ):
        bucket = grouped[0]
        group: dict[str, Any] = dict.fromkeys(USAGE_GROUPS)
        group.update(zip(query.groups, grouped[1:], strict=True))
        if "actor" in query.groups:
            actor_type, actor_id = grouped[1 + query.groups.index("actor")]
            piece_like = KeyCostTruth(
                FIRST_DAY,
                None,
                acc[7].api_key_id,
                actor_type,
                actor_id,
                None,
                None,
                None,
                None,
                "tokens",
                None,
                Decimal(0),
                Decimal(0),
                0,
            )
            group["actor"] = _actor_json(org, piece_like)
        row_start = _midnight(bucket) if bucket else query.start
        rows.append(
            {
                "starting_at": _fmt(row_start),
                "ending_at": _fmt(row_start + timedelta(days=1) if bucket else query.end),
                "group": group,
                "usage": {
                    "uncached_input_tokens": acc[0],
                    "cache_creation": {
                        "ephemeral_5m_input_tokens": acc[1],
                        "ephemeral_1h_input_tokens": acc[2],
                    },
                    "cache_read_input_tokens": acc[3],
                    "output_tokens": acc[4],
                    "server_tool_use": {"web_search_requests": acc[5]},
                    "requests": acc[6],
                    "total_tokens": sum(acc[:5]),
                },
            }
        )
    return _page(data, params, rows, fault)


def _group_value(name: str, piece: KeyCostTruth) -> Any:
    if name == "actor":
        return (piece.actor_type, piece.actor_id)
    if name == "speed":
        return "standard" if piece.cost_type == "tokens" else None
    return getattr(piece, name, None)
