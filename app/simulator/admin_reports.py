"""The Admin API's usage and cost reports (reference §11): buckets, paging and result rows.

Choices where the real API is unconfirmed:

- ``starting_at`` is ceiled to the bucket boundary; buckets are emitted while they end at or
  before ``ending_at``; a range with no room for any bucket start is a 400, like the
  "ending date must be after starting date" error seen for too-recent cost queries.
- Without ``ending_at`` the range ends at min(tomorrow's UTC midnight, start + limit buckets).
- Hourly and minute buckets: all of a day's usage happens in its first bucket (00:00), so the
  sum over a day matches the daily report; the product only syncs daily buckets.
- Page tokens are ``page_`` + base64(RFC 3339 start of the next bucket).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app.simulator.common import INVALID_RANGE, ApiError, Params
from app.simulator.common import many as _many
from app.simulator.common import one as _one
from app.simulator.common import parse_time as _parse_time
from app.simulator.world import USAGE_COUNTS, CostTruth, SimOrg, World, _fmt

USAGE_GROUPS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "speed",
    "account_id",
    "service_account_id",
)
COST_GROUPS = ("workspace_id", "description")
COST_DETAIL = (
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
)
MAX_GROUP_BY = 5
FAST_MODE_BETA = "fast-mode-2026-02-01"
WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}  # (default, max) buckets per page
USAGE_FILTERS = {
    "api_key_ids[]": "api_key_id",
    "workspace_ids[]": "workspace_id",
    "models[]": "model",
    "service_tiers[]": "service_tier",
    "context_window[]": "context_window",  # singular in the legacy usage report
    "inference_geos[]": "inference_geo",
    "speeds[]": "speed",
    "account_ids[]": "account_id",
    "service_account_ids[]": "service_account_id",
}
_LOOP_MARK = "|again"
_EPOCH = datetime(
    1970, 1, 1, tzinfo=UTC
)  # marks a page token that leads back to itself (repeat_cursor fault)


def usage_report(
    world: World, org: SimOrg, params: Params, request: httpx.Request, fault: str | None
) -> Any:
    """A page of ``usage_report/messages``."""
    groups = _groups(params, USAGE_GROUPS)
    fast_mode = has_beta(request, FAST_MODE_BETA)
    if not fast_mode and ("speed" in groups or _many(params, "speeds[]")):
        raise ApiError(400, f"'speed' requires the anthropic-beta header {FAST_MODE_BETA}")
    filters = {
        dim: values for name, dim in USAGE_FILTERS.items() if (values := _many(params, name))
    }
    buckets, next_start = _window(world, params, cost=False)
    data = []
    for start, end in buckets:
        merged: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
        # Finer buckets: a day's usage all lands in its first bucket (module docstring).
        day_rows = world.usage(org.id, start.date()) if _starts_day(start) else []
        for row in day_rows:
            dims = _usage_dims(row)
            if any(dims[d] not in allowed for d, allowed in filters.items()):
                continue
            acc = merged[tuple(dims[g] for g in groups)]
            for i, name in enumerate(USAGE_COUNTS):
                acc[i] += getattr(row, name)
        results = [_usage_json(groups, key, counts, fast_mode) for key, counts in merged.items()]
        data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
    return _report_page(data, next_start, params, fault)


def cost_report(
    world: World, org: SimOrg, params: Params, fault: str | None, *, fast_mode: bool = False
) -> Any:
    """A page of ``cost_report``: service tiers standard and batch only (§4.2); ``speed`` only
    with the fast-mode beta header (``fast_mode``), as on the usage report."""
    groups = _groups(params, COST_GROUPS)
    buckets, next_start = _window(world, params, cost=True)
    data = []
    for start, end in buckets:
        merged: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for row in world.cost(org.id, start.date()):
            merged[_cost_key(row, groups)] += row.amount_cents
        results = [_cost_json(key, cents, fast_mode) for key, cents in merged.items()]
        data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
    return _report_page(data, next_start, params, fault)


def has_beta(request: httpx.Request, name: str) -> bool:
    """Whether the request's ``anthropic-beta`` header (comma-separated) names ``name``."""
    beta = request.headers.get("anthropic-beta", "")
    return name in [b.strip() for b in beta.split(",")]


def _window(
    world: World, params: Params, *, cost: bool
) -> tuple[list[tuple[datetime, datetime]], datetime | None]:
    """The buckets of this page and the start of the next page (None when done)."""
    start_text = _one(params, "starting_at", "")
    if not start_text:
        raise ApiError(400, "starting_at: Field required")
    requested_start = _parse_time(start_text, "starting_at")
    width_name = _one(params, "bucket_width", "1d")
    if width_name not in WIDTHS or (cost and width_name != "1d"):
        allowed = "'1d'" if cost else "'1d', '1h' or '1m'"
        raise ApiError(400, f"bucket_width: Input should be {allowed}")
    width = WIDTHS[width_name]
    default_limit, max_limit = LIMITS[width_name]
    limit_text = _one(params, "limit", str(default_limit))
    if not re.fullmatch(r"-?\d+", limit_text.strip()):
        raise ApiError(400, "limit: Input should be a valid integer")
    limit = int(limit_text)
    if not 1 <= limit <= max_limit:
        raise ApiError(400, f"limit: Input should be between 1 and {max_limit}")
    start = _ceil(requested_start, width)
    end_text = _one(params, "ending_at", "")
    if end_text:
        end = _parse_time(end_text, "ending_at")
        if end <= requested_start or end <= start:
            raise ApiError(400, INVALID_RANGE)
    else:
        tomorrow = datetime.combine(world.today, datetime.min.time(), UTC) + WIDTHS["1d"]
        end = min(tomorrow, start + limit * width)
    page = _one(params, "page", "")
    if page:
        start = _decode_page(page)[0]
    return _buckets(start, end, width, limit)


# --- query parameters ----------------------------------------------------------------------------


def _groups(params: Params, allowed: tuple[str, ...]) -> list[str]:
    groups: list[str] = []
    for value in (v for k, v in params if k == "group_by[]"):
        if value not in allowed:
            raise ApiError(400, f"group_by[]: Input should be {', '.join(map(repr, allowed))}")
        if value not in groups:
            groups.append(value)
    if len(groups) > MAX_GROUP_BY:
        raise ApiError(400, "Cannot specify more than 5 group_by[] dimensions.")
    return groups


# --- buckets and pages ---------------------------------------------------------------------------


def _ceil(moment: datetime, width: timedelta) -> datetime:
    return _EPOCH + -((_EPOCH - moment) // width) * width


def _buckets(
    start: datetime, end: datetime, width: timedelta, limit: int
) -> tuple[list[tuple[datetime, datetime]], datetime | None]:
    buckets: list[tuple[datetime, datetime]] = []
    cursor = start
    while cursor + width <= end and len(buckets) < limit:
        buckets.append((cursor, cursor + width))
        cursor += width
    return buckets, cursor if cursor + width <= end else None


def _starts_day(moment: datetime) -> bool:
    return moment.hour == 0 and moment.minute == 0


def _encode_page(moment: datetime, *, loop: bool = False) -> str:
    text = _fmt(moment) + (_LOOP_MARK if loop else "")
    return "page_" + base64.b64encode(text.encode()).decode()


def _decode_page(token: str) -> tuple[datetime, bool]:
    try:
        if not token.startswith("page_"):
            raise ValueError(token)
        text = base64.b64decode(token[5:], validate=True).decode()
        loop = text.endswith(_LOOP_MARK)
        moment = _parse_time(text.removesuffix(_LOOP_MARK), "page")
    except (ValueError, binascii.Error, UnicodeDecodeError, ApiError):
        raise ApiError(400, "page: invalid page token") from None
    return moment, loop


def _report_page(
    data: list[dict[str, Any]], next_start: datetime | None, params: Params, fault: str | None
) -> dict[str, Any]:
    incoming = _one(params, "page", "")
    if fault == "repeat_cursor" or (incoming and _decode_page(incoming)[1]):
        if incoming:
            return {"data": data, "has_more": True, "next_page": incoming}
        # First page: a cursor that, when followed, hands itself back.
        first = _parse_time(data[0]["starting_at"], "page") if data else _EPOCH
        return {"data": data, "has_more": True, "next_page": _encode_page(first, loop=True)}
    if fault == "missing_cursor":
        return {"data": data, "has_more": True, "next_page": None}
    if fault == "cursor_cycle" and incoming:
        # A later page points back at the first one: A -> B -> A -> B ... unless detected.
        first = _parse_time(_one(params, "starting_at", ""), "starting_at")
        return {"data": data, "has_more": True, "next_page": _encode_page(first)}
    next_page = _encode_page(next_start) if next_start is not None else None
    return {"data": data, "has_more": next_page is not None, "next_page": next_page}


# --- rows ----------------------------------------------------------------------------------------


def _usage_dims(row: Any) -> dict[str, str | None]:
    return {
        "api_key_id": row.api_key_id,
        "workspace_id": row.workspace_id,
        "model": row.model,
        "service_tier": row.service_tier,
        "context_window": row.context_window,
        "inference_geo": row.inference_geo,
        "speed": "standard",  # no simulated model has fast mode
        "account_id": None,  # no OAuth or WIF traffic is simulated
        "service_account_id": None,
    }


def _usage_json(
    groups: list[str], key: tuple[Any, ...], counts: list[int], fast_mode: bool
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "uncached_input_tokens": counts[0],
        "cache_creation": {
            "ephemeral_1h_input_tokens": counts[2],
            "ephemeral_5m_input_tokens": counts[1],
        },
        "cache_read_input_tokens": counts[3],
        "output_tokens": counts[4],
        "server_tool_use": {"web_search_requests": counts[5]},
    }
    for name in USAGE_GROUPS:
        if name == "speed" and not fast_mode:
            continue  # returned only with the fast-mode beta header
        item[name] = key[groups.index(name)] if name in groups else None
    if item.get("model") == "claude-nimbus-7-preview":
        item["unknown_future_field"] = "tolerate me"  # clients must ignore unknown fields
    return item


def _cost_key(row: CostTruth, groups: list[str]) -> tuple[Any, ...]:
    workspace = row.workspace_id if "workspace_id" in groups else None
    if "description" not in groups:
        return (workspace, None, *(None for _ in COST_DETAIL))
    return (workspace, row.description, *(getattr(row, name) for name in COST_DETAIL))


def _cost_json(key: tuple[Any, ...], cents: Decimal, fast_mode: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {
        "amount": _amount(cents),
        "currency": "USD",
        "workspace_id": key[0],
        "description": key[1],
    }
    item.update(zip(COST_DETAIL, key[2:], strict=True))
    # Fields this client version does not know, as the API adds them over time: ``speed`` (on
    # token lines, with the fast-mode beta header only) and one no reference names.
    if fast_mode and item["cost_type"] == "tokens":
        item["speed"] = "standard"
    if item["cost_type"] == "code_execution":
        item["unknown_future_field"] = "tolerate me"
    return item


def _amount(cents: Decimal) -> str:
    """Cents as a decimal string with up to 6 decimals and no float on the way."""
    text = format(cents.quantize(Decimal("0.000001")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
