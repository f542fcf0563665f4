"""The HTTP behaviour of the simulated Admin API: routes, auth, validation, paging, faults."""

from __future__ import annotations

import base64
import binascii
import json
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app.simulator.world import SimOrg, World

BASE = "/v1/organizations"
USAGE_GROUPS = {
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
    "speed", "account_id", "service_account_id",
}  # fmt: skip
COST_GROUPS = {"workspace_id", "description"}
COST_DETAIL = (
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
)
WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
    503: "api_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip
FAULT_KINDS = {"429", "500", "502", "503", "504", "529", "truncated", "repeat_cursor",
               "missing_cursor"}  # fmt: skip


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class RecordedRequest:
    """What the simulator saw of a request: never the key."""

    route: str
    method: str
    path: str
    params: list[tuple[str, str]]
    status: int


@dataclass
class Fault:
    kind: str
    route: str
    remaining: int
    retry_after: float | str | None = None


@dataclass
class Api:
    """Turns an httpx.Request into an httpx.Response against a ``World``."""

    world: World
    regular_key_status: int = 401
    latency: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    faults: list[Fault] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # --- entry point -----------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        if self.latency:
            time.sleep(self.latency)
        path = request.url.path
        params = list(request.url.params.multi_items())
        route = _route_of(path)
        org: SimOrg | None = None
        try:
            org = self._authenticate(request)
            fault = self._take_fault(route)
            if fault is not None and fault.kind not in (
                "truncated",
                "repeat_cursor",
                "missing_cursor",
            ):
                status = int(fault.kind)
                headers = {}
                if fault.retry_after is not None:
                    ra = fault.retry_after
                    headers["retry-after"] = ra if isinstance(ra, str) else f"{ra:g}"
                raise ApiError(status, f"Simulated {status}.", headers)
            body = self._dispatch(route, path, params, org, fault)
            raw = json.dumps(body).encode()
            if fault is not None and fault.kind == "truncated":
                raw = raw[: len(raw) // 2]
            response = httpx.Response(200, content=raw, headers=self._headers(org))
        except ApiError as exc:
            envelope = {
                "type": "error",
                "error": {"type": ERROR_TYPES.get(exc.status, "api_error"), "message": exc.message},
                "request_id": _request_id(),
            }
            response = httpx.Response(
                exc.status, json=envelope, headers={**self._headers(org), **exc.headers}
            )
        with self._lock:
            self.requests.append(
                RecordedRequest(route, request.method, path, params, response.status_code)
            )
        return response

    def _headers(self, org: SimOrg | None) -> dict[str, str]:
        headers = {"request-id": _request_id(), "content-type": "application/json"}
        if org is not None:
            headers["anthropic-organization-id"] = org.id
        return headers

    def inject(self, kind: str, route: str, count: int, retry_after: float | str | None) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}")
        with self._lock:
            # A new injection for the same kind and route replaces the old one (count 0 clears).
            self.faults = [f for f in self.faults if (f.kind, f.route) != (kind, route)]
            if count > 0:
                self.faults.append(Fault(kind, route, count, retry_after))

    def _take_fault(self, route: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.route in ("*", route):
                    fault.remaining -= 1
                    return fault
        return None

    # --- auth ------------------------------------------------------------------------------

    def _authenticate(self, request: httpx.Request) -> SimOrg:
        key = request.headers.get("x-api-key", "")
        if key.startswith("sk-ant-api03-"):
            raise ApiError(self.regular_key_status, "invalid x-api-key")
        if key.startswith("sk-ant-api01-"):
            raise ApiError(403, "This API key cannot access the Admin API.")
        org = next((o for o in self.world.orgs.values() if o.admin_key == key), None)
        if org is None or org.rejected:
            raise ApiError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required")
        if request.method != "GET":
            raise ApiError(405 if False else 400, "Only GET is simulated.")
        return org

    # --- routing ---------------------------------------------------------------------------

    def _dispatch(
        self, route: str, path: str, params: list[tuple[str, str]], org: SimOrg, fault: Fault | None
    ) -> Any:
        if route == "me":
            return {"id": org.id, "type": "organization", "name": org.name}
        if route == "usage_report":
            return self._usage(org, params, fault)
        if route == "cost_report":
            return self._cost(org, params, fault)
        rest = path[len(BASE) + 1 :].split("/")
        if route == "workspaces":
            include = _one(params, "include_archived", "false").lower() == "true"
            items = [_workspace_json(w) for w in org.workspaces if include or w.archived_at is None]
            return _item_or_list(items, rest, params)
        if route == "api_keys":
            items = [_key_json(k) for k in org.api_keys]
            status = _one(params, "status", "")
            if status:
                items = [i for i in items if i["status"] == status]
            return _item_or_list(items, rest, params)
        if route == "users":
            return _item_or_list(list(org.users), rest, params)
        raise ApiError(404, "The requested resource could not be found.")

    # --- reports ---------------------------------------------------------------------------

    def _window(
        self, params: list[tuple[str, str]], *, cost: bool
    ) -> tuple[list[tuple[datetime, datetime]], datetime | None]:
        """The buckets of this page and where the next page starts (None when done)."""
        width_name = _one(params, "bucket_width", "1d")
        if width_name not in WIDTHS or (cost and width_name != "1d"):
            raise ApiError(400, f"bucket_width: invalid value {width_name!r}")
        width = WIDTHS[width_name]
        default_limit, max_limit = LIMITS[width_name]
        try:
            limit = int(_one(params, "limit", str(default_limit)))
        except ValueError:
            raise ApiError(400, "limit: must be an integer") from None
        if not 1 <= limit <= max_limit:
            raise ApiError(400, f"limit: must be between 1 and {max_limit}")
        start_text = _one(params, "starting_at", "")
        if not start_text:
            raise ApiError(400, "starting_at: field required")
        start = _ceil(_parse_time(start_text, "starting_at"), width)
        end_text = _one(params, "ending_at", "")
        if end_text:
            end = _parse_time(end_text, "ending_at")
            if end <= _parse_time(start_text, "starting_at"):
                raise ApiError(400, "Invalid date range: ending date must be after starting date")
        else:
            tomorrow = datetime.combine(
                self.world.today + timedelta(days=1), datetime.min.time(), UTC
            )
            end = min(tomorrow, start + limit * width)
        page = _one(params, "page", "")
        if page:
            start = _decode_page(page)
        buckets = []
        cursor = start
        while cursor + width <= end and len(buckets) < limit:
            buckets.append((cursor, cursor + width))
            cursor += width
        return buckets, (cursor if cursor + width <= end else None)

    def _page(
        self, data: list[dict[str, Any]], next_start: datetime | None,
        params: list[tuple[str, str]], fault: Fault | None,
    ) -> dict[str, Any]:  # fmt: skip
        next_page = _encode_page(next_start) if next_start else None
        if fault is not None and fault.kind == "repeat_cursor":
            incoming = _one(params, "page", "")
            first = data[0]["starting_at"] if data else "1970-01-01T00:00:00Z"
            return {"data": data, "has_more": True,
                    "next_page": incoming or _encode_page(_parse_time(first, "page"))}  # fmt: skip
        if fault is not None and fault.kind == "missing_cursor":
            return {"data": data, "has_more": True, "next_page": None}
        return {"data": data, "has_more": next_page is not None, "next_page": next_page}

    def _usage(self, org: SimOrg, params: list[tuple[str, str]], fault: Fault | None) -> Any:
        groups = [v for k, v in params if k == "group_by[]"]
        _check_groups(groups, USAGE_GROUPS)
        if "speed" in groups:
            raise ApiError(400, "group_by[]: 'speed' requires the fast-mode beta header")
        filters = {
            "api_key_id": _many(params, "api_key_ids[]"),
            "workspace_id": _many(params, "workspace_ids[]"),
            "model": _many(params, "models[]"),
            "service_tier": _many(params, "service_tiers[]"),
            "context_window": _many(params, "context_window[]"),
            "inference_geo": _many(params, "inference_geos[]"),
        }
        buckets, next_start = self._window(params, cost=False)
        data = []
        for start, end in buckets:
            rows = self.world.usage(org.id, start.date()) if _is_day_start(start, end) else []
            merged: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
            for row in rows:
                if any(
                    values and getattr(row, name) not in values for name, values in filters.items()
                ):
                    continue
                acc = merged[tuple(getattr(row, g) for g in groups)]
                for i, name in enumerate(_TOKEN_NAMES):
                    acc[i] += getattr(row, name)
            results = []
            for key, counts in merged.items():
                item: dict[str, Any] = {
                    "uncached_input_tokens": counts[0],
                    "cache_creation": {"ephemeral_1h_input_tokens": counts[2],
                                       "ephemeral_5m_input_tokens": counts[1]},
                    "cache_read_input_tokens": counts[3],
                    "output_tokens": counts[4],
                    "server_tool_use": {"web_search_requests": counts[5]},
                }  # fmt: skip
                for name in ("api_key_id", "workspace_id", "model", "service_tier",
                             "context_window", "inference_geo", "account_id",
                             "service_account_id"):  # fmt: skip
                    item[name] = key[groups.index(name)] if name in groups else None
                results.append(item)
            data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
        return self._page(data, next_start, params, fault)

    def _cost(self, org: SimOrg, params: list[tuple[str, str]], fault: Fault | None) -> Any:
        groups = [v for k, v in params if k == "group_by[]"]
        _check_groups(groups, COST_GROUPS)
        buckets, next_start = self._window(params, cost=True)
        data = []
        for start, end in buckets:
            merged: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
            for row in self.world.cost(org.id, start.date()):
                key: tuple[Any, ...] = (row.workspace_id if "workspace_id" in groups else None,)
                if "description" in groups:
                    key += (row.description, *(getattr(row, n) for n in COST_DETAIL))
                merged[key] += row.amount_cents
            results = []
            for key, cents in merged.items():
                item: dict[str, Any] = {"amount": _amount(cents), "currency": "USD"}
                item["workspace_id"] = key[0]
                detail = key[1:] if "description" in groups else (None,) * 7
                item["description"] = detail[0]
                for name, value in zip(COST_DETAIL, detail[1:], strict=True):
                    item[name] = value
                if item["cost_type"] == "code_execution":
                    item["container_hours"] = "0.25"  # an unknown field: must be tolerated
                results.append(item)
            data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
        return self._page(data, next_start, params, fault)


_TOKEN_NAMES = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)


def _route_of(path: str) -> str:
    if not path.startswith(BASE + "/"):
        return "unknown"
    rest = path[len(BASE) + 1 :]
    if rest == "me":
        return "me"
    if rest == "usage_report/messages":
        return "usage_report"
    if rest == "cost_report":
        return "cost_report"
    head = rest.split("/")[0]
    return head if head in ("workspaces", "api_keys", "users") else "unknown"


def _one(params: list[tuple[str, str]], name: str, default: str) -> str:
    values = [v for k, v in params if k == name]
    return values[-1] if values else default


def _many(params: list[tuple[str, str]], name: str) -> set[str]:
    return {v for k, v in params if k == name}


def _check_groups(groups: list[str], allowed: set[str]) -> None:
    for group in groups:
        if group not in allowed:
            raise ApiError(400, f"group_by[]: invalid value {group!r}")
    if len(groups) > 5:
        raise ApiError(400, "Cannot specify more than 5 group_by[] dimensions.")


def _parse_time(text: str, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, f"{name}: invalid RFC 3339 timestamp") from None
    if value.tzinfo is None:
        raise ApiError(400, f"{name}: timestamp must include a timezone")
    return value.astimezone(UTC)


def _ceil(moment: datetime, width: timedelta) -> datetime:
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    steps = -((epoch - moment) // width)  # ceiling division
    return epoch + steps * width


def _is_day_start(start: datetime, end: datetime) -> bool:
    # Finer buckets carry a day's whole usage in the day's first bucket (documented shortcut).
    return start.hour == 0 and start.minute == 0


def _fmt(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _encode_page(moment: datetime) -> str:
    return "page_" + base64.b64encode(_fmt(moment).encode()).decode()


def _decode_page(token: str) -> datetime:
    try:
        if not token.startswith("page_"):
            raise ValueError
        text = base64.b64decode(token[5:], validate=True).decode()
        return _parse_time(text, "page")
    except (ValueError, binascii.Error, UnicodeDecodeError, ApiError):
        raise ApiError(400, "page: invalid page token") from None


def _amount(cents: Decimal) -> str:
    return format(cents.quantize(Decimal("0.000001")), "f")


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


def _workspace_json(ws: Any) -> dict[str, Any]:
    return {
        "id": ws.id, "type": "workspace", "name": ws.name, "created_at": _fmt(ws.created_at),
        "archived_at": _fmt(ws.archived_at) if ws.archived_at else None,
        "display_color": "#6C5BB9",
        "data_residency": {"workspace_geo": "us", "default_inference_geo": "global",
                           "allowed_inference_geos": "unrestricted"},
        "tags": {},
    }  # fmt: skip


def _key_json(key: Any) -> dict[str, Any]:
    return {
        "id": key.id, "type": "api_key", "name": key.name, "created_at": _fmt(key.created_at),
        "created_by": None, "expires_at": None, "partial_key_hint": "sk-ant-api03-R2D...igAA",
        "principal": None, "status": key.status, "workspace_id": key.workspace_id,
    }  # fmt: skip


def _item_or_list(
    items: list[dict[str, Any]], rest: list[str], params: list[tuple[str, str]]
) -> Any:
    items = sorted(items, key=lambda i: (i.get("created_at") or i.get("added_at") or "", i["id"]))
    if len(rest) == 2:
        for item in items:
            if item["id"] == rest[1]:
                return item
        raise ApiError(404, "The requested resource could not be found.")
    try:
        limit = int(_one(params, "limit", "20"))
    except ValueError:
        raise ApiError(400, "limit: must be an integer") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit: must be between 1 and 1000")
    after, before = _one(params, "after_id", ""), _one(params, "before_id", "")
    ids = [i["id"] for i in items]
    if after:
        if after not in ids:
            raise ApiError(400, "after_id: unknown id")
        items = items[ids.index(after) + 1 :]
        page = items[:limit]
        has_more = len(items) > limit
    elif before:
        if before not in ids:
            raise ApiError(400, "before_id: unknown id")
        items = items[: ids.index(before)]
        page = items[-limit:]
        has_more = len(items) > limit
    else:
        page = items[:limit]
        has_more = len(items) > limit
    return {
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": has_more,
    }


__all__ = ["Api", "ApiError", "RecordedRequest", "date"]
