"""The HTTP behaviour of the simulated Admin API: routes, auth, validation, paging and faults.

Follows reference §11. Choices where the real API is unconfirmed:

- ``starting_at`` is ceiled to the bucket boundary; buckets are emitted while they end at or
  before ``ending_at``; a range with no room for any bucket start is a 400, like the
  "ending date must be after starting date" error seen for too-recent cost queries.
- Without ``ending_at`` the range ends at min(tomorrow's UTC midnight, start + limit buckets).
- Hourly and minute buckets: all of a day's usage happens in its first bucket (00:00), so the
  sum over a day matches the daily report; the product only syncs daily buckets.
- Page tokens are ``page_`` + base64(RFC 3339 start of the next bucket).

Also served: ``usage_report/claude_code`` (``claude_code``) for Console keys, and the Claude
Enterprise Analytics API under ``analytics/`` (``analytics``) for ``sk-ant-api01-`` keys, with
their own authentication rules (§7.3) and a per-organization rate limit.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx

from app.simulator import analytics
from app.simulator.claude_code import claude_code_report
from app.simulator.common import CURSOR_EXPIRED, INVALID_RANGE, NOT_FOUND, ApiError, Params
from app.simulator.common import many as _many
from app.simulator.common import one as _one
from app.simulator.common import parse_time as _parse_time
from app.simulator.enterprise import ANALYTICS_SCOPE, SimEnterpriseOrg
from app.simulator.world import (
    USAGE_COUNTS,
    CostTruth,
    SimApiKey,
    SimOrg,
    SimWorkspace,
    World,
    _fmt,
)

BASE = "/v1/organizations"
ANALYTICS_BASE = f"{BASE}/analytics"

USAGE_GROUPS = (
    "api_key_id", "workspace_id", "model", "service_tier", "context_window", "inference_geo",
    "speed", "account_id", "service_account_id",
)  # fmt: skip
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
ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    404: "not_found_error", 429: "rate_limit_error", 500: "api_error", 502: "api_error",
    503: "api_error", 504: "timeout_error", 529: "overloaded_error",
}  # fmt: skip
STATUS_FAULTS = ("429", "500", "502", "503", "504", "529")
BODY_FAULTS = ("truncated", "repeat_cursor", "missing_cursor", "cursor_cycle")
# "expire_cursor": the next request to the route that carries a ``page`` cursor gets 410.
CURSOR_FAULTS = ("expire_cursor",)
# Connection faults: "reset" drops the connection without an answer; "hang" answers only after
# HANG_SECONDS, long after any sensible client timeout.
CONNECTION_FAULTS = ("reset", "hang")
HANG_SECONDS = 30.0
# Slow or oversized answers: "trickle" sends a 200 promptly, then its body one byte every
# TRICKLE_SECONDS (a slow-loris upstream; each byte arrives well within any read timeout);
# "trickle_headers" does the same with the status line and headers (over real HTTP only);
# "huge_page" streams a body of HUGE_PAGE_BYTES without a Content-Length; "huge_length"
# declares a Content-Length of HUGE_PAGE_BYTES up front. Bytes of these bodies actually
# handed out are counted in ``Api.streamed_bytes``.
STREAM_FAULTS = ("trickle", "trickle_headers", "huge_page", "huge_length")
# Marks a response whose status line and headers the HTTP server sends a byte at a time.
TRICKLE_HEADERS_MARK = "x-simulator-trickle-headers"
TRICKLE_SECONDS = 0.2
HUGE_PAGE_BYTES = 80 * 1024 * 1024
HUGE_CHUNK = 64 * 1024
# Poison values in report pages (usage, cost and the Analytics reports), on the bucket of the
# fault's ``day`` (or the page's first bucket): an amount of 1e30, a token count of 2**64, a
# token count of -5, or the bucket sent twice in one page. Spent only by a page they changed.
POISON_FAULTS = ("poison_amount", "poison_tokens", "negative_tokens", "repeat_bucket")
POISON_AMOUNT = "1e30"
POISON_TOKENS = 2**64
NEGATIVE_TOKENS = -5
# Enterprise Analytics routes: engagement ones answer 404 for a bad or scope-less key.
ANALYTICS_REPORT_ROUTES = (
    "analytics_usage_report", "analytics_cost_report", "analytics_user_usage_report",
    "analytics_user_cost_report",
)  # fmt: skip
ANALYTICS_ENGAGEMENT_ROUTES = ("analytics_summaries", "analytics_users")
FAULT_ROUTES = (
    "*", "me", "workspaces", "api_keys", "users", "invites", "usage_report", "cost_report",
    "claude_code", *ANALYTICS_REPORT_ROUTES, *ANALYTICS_ENGAGEMENT_ROUTES,
)  # fmt: skip
ANALYTICS_RPM = 60  # requests per rolling minute per Enterprise organization (§2.2)
RATE_WINDOW = 60.0
_LOOP_MARK = "|again"
_EPOCH = datetime(
    1970, 1, 1, tzinfo=UTC
)  # marks a page token that leads back to itself (repeat_cursor fault)


@dataclass(frozen=True)
class RecordedRequest:
    """What the simulator saw of a request. The key is never recorded."""

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
    day: date | None = None  # poison faults: the bucket they change


class Api:
    """Turns an ``httpx.Request`` into an ``httpx.Response`` against a ``World``."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.regular_key_status = 401
        self.latency = 0.0
        self.requests: list[RecordedRequest] = []
        self.faults: list[Fault] = []
        # Enterprise Analytics rate limit: requests per rolling minute per organization (None:
        # no limit). ``clock`` is monotonic seconds; tests may replace it.
        self.analytics_rpm: int | None = ANALYTICS_RPM
        self.clock: Callable[[], float] = time.monotonic
        self._analytics_hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self.streamed_bytes = 0  # bytes of "trickle"/"huge_*" bodies pulled by clients

    # --- entry point ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> httpx.Response:
        latency = self.latency
        if latency > 0:
            time.sleep(latency)  # outside any lock: concurrent requests overlap, as on a server
        path = request.url.path
        params: Params = list(request.url.params.multi_items())
        route, handler = self._resolve(request.method, path)
        org: SimOrg | SimEnterpriseOrg | None = None
        request_id = "req_" + uuid.uuid4().hex[:24]
        try:
            if path == ANALYTICS_BASE or path.startswith(ANALYTICS_BASE + "/"):
                org = self._authenticate_enterprise(
                    request, engagement=route not in ANALYTICS_REPORT_ROUTES
                )
                self._admit(org)
            else:
                org = self._authenticate(request)
            fault = self._take_fault(route, has_cursor=bool(_one(params, "page", "")))
            if fault is not None and fault.kind == "expire_cursor":
                raise ApiError(410, CURSOR_EXPIRED)
            if fault is not None and fault.kind == "reset":
                raise httpx.RemoteProtocolError("Simulated connection reset", request=request)
            if fault is not None and fault.kind == "hang":
                time.sleep(HANG_SECONDS)
            if fault is not None and fault.kind in STATUS_FAULTS:
                headers = {}
                if fault.retry_after is not None:
                    value = fault.retry_after
                    headers["retry-after"] = value if isinstance(value, str) else f"{value:g}"
                raise ApiError(int(fault.kind), f"Simulated {fault.kind} response.", headers)
            body = self._poison(
                route, handler(org, path, params, request, fault.kind if fault else None)
            )
            raw = json.dumps(body).encode()
            if fault is not None and fault.kind == "truncated":
                raw = raw[: len(raw) // 2]  # a connection cut mid-body behind a 200
            if fault is not None and fault.kind in STREAM_FAULTS:
                response = self._streamed(fault.kind, raw, _headers(request_id, org))
            else:
                response = httpx.Response(200, content=raw, headers=_headers(request_id, org))
        except ApiError as exc:
            envelope = {
                "type": "error",
                "error": {"type": _error_type(exc.status), "message": exc.message},
                "request_id": request_id,
            }
            headers = {**_headers(request_id, org), **exc.headers}
            response = httpx.Response(exc.status, content=json.dumps(envelope), headers=headers)
        with self._lock:
            self.requests.append(
                RecordedRequest(route, request.method, path, params, response.status_code)
            )
        return response

    def inject(
        self,
        kind: str,
        route: str,
        count: int,
        retry_after: float | str | None,
        day: date | None = None,
    ) -> None:
        kinds = (
            STATUS_FAULTS + BODY_FAULTS + CONNECTION_FAULTS + CURSOR_FAULTS + STREAM_FAULTS
            + POISON_FAULTS
        )  # fmt: skip
        if kind not in kinds:
            raise ValueError(f"unknown fault kind {kind!r}")
        if route not in FAULT_ROUTES:
            raise ValueError(f"unknown route {route!r}; one of {', '.join(FAULT_ROUTES)}")
        if day is not None and kind not in POISON_FAULTS:
            raise ValueError("only poison faults take a day")
        with self._lock:
            # A new injection for the same kind and route replaces the old one; count 0 clears.
            self.faults = [f for f in self.faults if (f.kind, f.route) != (kind, route)]
            if count > 0:
                self.faults.append(Fault(kind, route, count, retry_after, day))

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def _take_fault(self, route: str, *, has_cursor: bool) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.remaining > 0 and fault.route in ("*", route):
                    if fault.kind in POISON_FAULTS:
                        continue  # applied to the answer's body instead (``_poison``)
                    if fault.kind in CURSOR_FAULTS and not has_cursor:
                        continue  # spent only by a request that carries a page cursor
                    fault.remaining -= 1
                    return fault
        return None

    def _poison(self, route: str, body: Any) -> Any:
        """The report page ``body`` with the armed poison faults of ``route`` applied."""
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            return body
        with self._lock:
            armed = [
                f
                for f in self.faults
                if f.kind in POISON_FAULTS and f.remaining > 0 and f.route in ("*", route)
            ]
            for fault in armed:
                if _apply_poison(fault, body["data"]):
                    fault.remaining -= 1
        return body

    def _streamed(self, kind: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        """A 200 whose body is produced lazily (slowly, or far too much of it)."""

        def pulled(chunk: bytes) -> bytes:
            with self._lock:
                self.streamed_bytes += len(chunk)
            return chunk

        def trickle() -> Iterator[bytes]:
            for offset in range(len(raw)):
                yield pulled(raw[offset : offset + 1])
                time.sleep(TRICKLE_SECONDS)

        def huge() -> Iterator[bytes]:
            # Valid JSON all the way: the page, then whitespace up to HUGE_PAGE_BYTES.
            yield pulled(raw)
            left = HUGE_PAGE_BYTES - len(raw)
            while left > 0:
                size = min(HUGE_CHUNK, left)
                yield pulled(b" " * size)
                left -= size

        if kind == "trickle":
            headers = {**headers, "content-length": str(len(raw))}
            return httpx.Response(200, content=trickle(), headers=headers)
        if kind == "trickle_headers":
            return httpx.Response(200, content=raw, headers={**headers, TRICKLE_HEADERS_MARK: "1"})
        if kind == "huge_length":
            headers = {**headers, "content-length": str(max(HUGE_PAGE_BYTES, len(raw)))}
        return httpx.Response(200, content=huge(), headers=headers)

    # --- auth ----------------------------------------------------------------------------------

    def _authenticate(self, request: httpx.Request) -> SimOrg:
        # Messages never contain the key: a log of responses must not leak it.
        key = request.headers.get("x-api-key", "").strip()
        if not key:
            raise ApiError(401, "x-api-key header is required")
        if key.startswith("sk-ant-api03-"):
            raise ApiError(
                self.regular_key_status,
                "invalid x-api-key: this endpoint requires an Admin API key",
            )
        if key.startswith("sk-ant-api01-"):
            raise ApiError(403, "This API key does not have permission to use the Admin API.")
        org = next((o for o in self.world.orgs.values() if o.admin_key == key), None)
        if org is None or org.rejected:
            raise ApiError(401, "invalid x-api-key")
        if not request.headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required")
        return org

    def _authenticate_enterprise(
        self, request: httpx.Request, *, engagement: bool
    ) -> SimEnterpriseOrg:
        """Claude Enterprise Analytics auth (§7.3). Engagement endpoints answer 404 for a
        missing, invalid or scope-less key; cost/usage ones 401 and 403."""
        key = request.headers.get("x-api-key", "").strip()
        if key.startswith("sk-ant-admin01-"):
            raise ApiError(
                403,
                "Admin API keys cannot be used with the Claude Enterprise Analytics API; use a "
                "Claude Enterprise API key with the read:analytics scope.",
            )
        enterprise = self.world.enterprise.orgs.values()
        org = next((o for o in enterprise if o.key == key), None) if key else None
        if org is None or org.rejected:
            if engagement:
                raise ApiError(404, NOT_FOUND)
            raise ApiError(401, "invalid x-api-key" if key else "x-api-key header is required")
        if not org.api_enabled:
            raise ApiError(
                403,
                "The Analytics API is not enabled for this organization. The Primary Owner can "
                "turn on API access in Organization settings.",
            )
        if ANALYTICS_SCOPE not in org.scopes:
            if engagement:
                raise ApiError(404, NOT_FOUND)
            scopes = ", ".join(org.scopes) or "none"
            raise ApiError(
                403,
                f"This API key does not have the scope this endpoint requires. The key's "
                f"scopes: {scopes}. Required scope: {ANALYTICS_SCOPE}.",
            )
        if not request.headers.get("anthropic-version"):
            raise ApiError(400, "anthropic-version: header is required")
        return org

    def _admit(self, org: SimEnterpriseOrg) -> None:
        """At most ``analytics_rpm`` requests per rolling minute per organization, else 429."""
        rpm = self.analytics_rpm
        if rpm is None:
            return
        now = self.clock()
        with self._lock:
            hits = self._analytics_hits.setdefault(org.id, deque())
            while hits and hits[0] <= now - RATE_WINDOW:
                hits.popleft()
            if len(hits) >= rpm:
                wait = max(1, math.ceil(hits[0] + RATE_WINDOW - now))
                raise ApiError(
                    429,
                    f"Rate limit exceeded: at most {rpm} requests per minute per organization.",
                    {"retry-after": str(wait)},
                )
            hits.append(now)

    # --- routing -------------------------------------------------------------------------------

    def _resolve(self, method: str, path: str) -> tuple[str, Handler]:
        for pattern, route, handler in _ROUTES:
            if pattern.fullmatch(path):
                if method != "GET":
                    return route, _not_allowed
                if handler.startswith("analytics."):
                    return route, self._analytics(handler.removeprefix("analytics."))
                return route, getattr(self, handler)
        return "unknown", _not_found

    def _me(self, org: SimOrg, *_: Any) -> Any:
        return {"id": org.id, "type": "organization", "name": org.name}

    def _workspaces(self, org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
        items = [_workspace_json(w) for w in org.workspaces]
        if item_id := _item_id(path, "workspaces"):
            return _get(items, item_id)
        if _one(params, "include_archived", "false").lower() not in ("1", "true"):
            items = [i for i in items if i["archived_at"] is None]
        return _list(items, params, fault)

    def _api_keys(self, org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
        items = [_key_json(k) for k in org.api_keys]
        if item_id := _item_id(path, "api_keys"):
            return _get(items, item_id)
        for name in ("status", "workspace_id", "created_by_user_id"):
            wanted = _one(params, name, "")
            field = "created_by" if name == "created_by_user_id" else name
            if wanted:
                items = [i for i in items if _plain(i[field]) == wanted]
        return _list(items, params, fault)

    def _users(self, org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
        if item_id := _item_id(path, "users"):
            return _get(org.users, item_id)
        items = list(org.users)
        if email := _one(params, "email", ""):
            items = [u for u in items if u["email"] == email]
        return _list(items, params, fault)

    def _invites(self, org: SimOrg, path: str, params: Params, _r: Any, fault: Any) -> Any:
        if _item_id(path, "invites"):
            raise ApiError(404, NOT_FOUND)
        return _list([], params, fault)

    def _claude_code(self, org: SimOrg, _p: str, params: Params, _r: Any, fault: Any) -> Any:
        return claude_code_report(self.world.claude_code, org, params, fault)

    def _analytics(self, name: str) -> Handler:
        endpoint = getattr(analytics, name)

        def handler(org: Any, _p: str, params: Params, _r: Any, fault: Any) -> Any:
            return endpoint(self.world.enterprise, org, params, fault)

        return handler

    # --- reports -------------------------------------------------------------------------------

    def _usage(
        self, org: SimOrg, _p: str, params: Params, request: httpx.Request, fault: str | None
    ) -> Any:
        groups = _groups(params, USAGE_GROUPS)
        beta = request.headers.get("anthropic-beta", "")
        fast_mode = FAST_MODE_BETA in [b.strip() for b in beta.split(",")]
        if not fast_mode and ("speed" in groups or _many(params, "speeds[]")):
            raise ApiError(400, f"'speed' requires the anthropic-beta header {FAST_MODE_BETA}")
        filters = {
            dim: values for name, dim in USAGE_FILTERS.items() if (values := _many(params, name))
        }
        buckets, next_start = self._window(params, cost=False)
        data = []
        for start, end in buckets:
            merged: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 6)
            # Finer buckets: a day's usage all lands in its first bucket (module docstring).
            day_rows = self.world.usage(org.id, start.date()) if _starts_day(start) else []
            for row in day_rows:
                dims = _usage_dims(row)
                if any(dims[d] not in allowed for d, allowed in filters.items()):
                    continue
                acc = merged[tuple(dims[g] for g in groups)]
                for i, name in enumerate(USAGE_COUNTS):
                    acc[i] += getattr(row, name)
            results = [
                _usage_json(groups, key, counts, fast_mode) for key, counts in merged.items()
            ]
            data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
        return _report_page(data, next_start, params, fault)

    def _cost(
        self, org: SimOrg, _p: str, params: Params, _r: httpx.Request, fault: str | None
    ) -> Any:
        groups = _groups(params, COST_GROUPS)
        buckets, next_start = self._window(params, cost=True)
        data = []
        for start, end in buckets:
            merged: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
            for row in self.world.cost(org.id, start.date()):
                merged[_cost_key(row, groups)] += row.amount_cents
            results = [_cost_json(key, cents) for key, cents in merged.items()]
            data.append({"starting_at": _fmt(start), "ending_at": _fmt(end), "results": results})
        return _report_page(data, next_start, params, fault)

    def _window(
        self, params: Params, *, cost: bool
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
            tomorrow = datetime.combine(self.world.today, datetime.min.time(), UTC) + WIDTHS["1d"]
            end = min(tomorrow, start + limit * width)
        page = _one(params, "page", "")
        if page:
            start = _decode_page(page)[0]
        return _buckets(start, end, width, limit)


# The organization is a SimOrg on Console routes, a SimEnterpriseOrg on Enterprise ones.
Handler = Callable[[Any, str, Params, httpx.Request, str | None], Any]

_ROUTES = [
    (re.compile(rf"{BASE}/me"), "me", "_me"),
    (re.compile(rf"{BASE}/workspaces(/[^/]+)?"), "workspaces", "_workspaces"),
    (re.compile(rf"{BASE}/api_keys(/[^/]+)?"), "api_keys", "_api_keys"),
    (re.compile(rf"{BASE}/users(/[^/]+)?"), "users", "_users"),
    (re.compile(rf"{BASE}/invites(/[^/]+)?"), "invites", "_invites"),
    (re.compile(rf"{BASE}/usage_report/messages"), "usage_report", "_usage"),
    (re.compile(rf"{BASE}/cost_report"), "cost_report", "_cost"),
    (re.compile(rf"{BASE}/usage_report/claude_code"), "claude_code", "_claude_code"),
    (re.compile(rf"{ANALYTICS_BASE}/usage_report"), "analytics_usage_report",
     "analytics.usage_report"),
    (re.compile(rf"{ANALYTICS_BASE}/cost_report"), "analytics_cost_report",
     "analytics.cost_report"),
    (re.compile(rf"{ANALYTICS_BASE}/user_usage_report"), "analytics_user_usage_report",
     "analytics.user_usage_report"),
    (re.compile(rf"{ANALYTICS_BASE}/user_cost_report"), "analytics_user_cost_report",
     "analytics.user_cost_report"),
    (re.compile(rf"{ANALYTICS_BASE}/summaries"), "analytics_summaries", "analytics.summaries"),
    (re.compile(rf"{ANALYTICS_BASE}/users"), "analytics_users", "analytics.users"),
]  # fmt: skip


def _not_found(*_: Any) -> Any:
    raise ApiError(404, NOT_FOUND)


def _not_allowed(*_: Any) -> Any:
    # The product only reads; writes are not simulated.
    raise ApiError(405, "Method not allowed: the simulator serves GET requests only.")


def _error_type(status: int) -> str:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return "invalid_request_error" if status < 500 else "api_error"


def _headers(request_id: str, org: SimOrg | SimEnterpriseOrg | None) -> dict[str, str]:
    headers = {"request-id": request_id, "content-type": "application/json"}
    if org is not None:
        headers["anthropic-organization-id"] = org.id
    return headers


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


def _apply_poison(fault: Fault, data: list[Any]) -> bool:
    """Poison the bucket of ``fault.day`` (or the first one) in ``data``; False if the page has
    no such bucket, or none of the field the fault changes."""
    for index, bucket in enumerate(data):
        if not isinstance(bucket, dict):
            continue
        if fault.day is not None and str(bucket.get("starting_at", ""))[:10] != str(fault.day):
            continue
        if fault.kind == "repeat_bucket":
            data.insert(index + 1, json.loads(json.dumps(bucket)))
            return True
        field, value = {
            "poison_amount": ("amount", POISON_AMOUNT),
            "poison_tokens": ("output_tokens", POISON_TOKENS),
            "negative_tokens": ("uncached_input_tokens", NEGATIVE_TOKENS),
        }[fault.kind]
        for result in bucket.get("results") or []:
            if isinstance(result, dict) and field in result:
                result[field] = value
                return True
        return False
    return False


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


def _cost_json(key: tuple[Any, ...], cents: Decimal) -> dict[str, Any]:
    item: dict[str, Any] = {
        "amount": _amount(cents),
        "currency": "USD",
        "workspace_id": key[0],
        "description": key[1],
    }
    item.update(zip(COST_DETAIL, key[2:], strict=True))
    # Fields this client version does not know, as the API adds them over time.
    if item["service_tier"] == "flex":
        item["speed"] = "standard"
    if item["cost_type"] == "code_execution":
        item["unknown_future_field"] = "tolerate me"
    return item


def _amount(cents: Decimal) -> str:
    """Cents as a decimal string with up to 6 decimals and no float on the way."""
    text = format(cents.quantize(Decimal("0.000001")), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


# --- directory objects ---------------------------------------------------------------------------


def _workspace_json(ws: SimWorkspace) -> dict[str, Any]:
    return {
        "id": ws.id,
        "type": "workspace",
        "name": ws.name,
        "created_at": _fmt(ws.created_at),
        "archived_at": _fmt(ws.archived_at) if ws.archived_at else None,
        "display_color": "#6C5BB9",
        "data_residency": {
            "workspace_geo": "us",
            "default_inference_geo": "global",
            "allowed_inference_geos": "unrestricted",
        },
        "external_key_id": None,
        "tags": {},
    }


def _key_json(key: SimApiKey) -> dict[str, Any]:
    return {
        "id": key.id,
        "type": "api_key",
        "name": key.name,
        "created_at": _fmt(key.created_at),
        "created_by": {"id": key.created_by, "type": "user"},
        "expires_at": None,
        "partial_key_hint": key.hint,
        "principal": {"id": key.created_by, "type": "user"},
        "status": key.status,
        "workspace_id": key.workspace_id,
    }


def _plain(value: Any) -> Any:
    return value["id"] if isinstance(value, dict) else value


def _item_id(path: str, collection: str) -> str | None:
    rest = path[len(f"{BASE}/{collection}") :]
    return rest[1:] if rest.startswith("/") else None


def _get(items: list[dict[str, Any]], item_id: str | None) -> dict[str, Any]:
    for item in items:
        if item["id"] == item_id:
            return item
    raise ApiError(404, NOT_FOUND)


def _list(items: list[dict[str, Any]], params: Params, fault: str | None) -> dict[str, Any]:
    """``after_id``/``before_id``/``limit`` paging over items sorted by creation time."""
    items = sorted(items, key=lambda i: (i.get("created_at") or i.get("added_at") or "", i["id"]))
    limit_text = _one(params, "limit", "20")
    if not re.fullmatch(r"-?\d+", limit_text.strip()):
        raise ApiError(400, "limit: Input should be a valid integer")
    limit = int(limit_text)
    if not 1 <= limit <= 1000:
        raise ApiError(400, "limit: Input should be between 1 and 1000")
    ids = [i["id"] for i in items]
    after, before = _one(params, "after_id", ""), _one(params, "before_id", "")
    if after and before:
        raise ApiError(400, "Cannot specify both after_id and before_id.")
    if after or before:
        anchor = after or before
        if anchor not in ids:
            raise ApiError(400, f"{'after_id' if after else 'before_id'}: unknown id")
        position = ids.index(anchor)
        remaining = items[position + 1 :] if after else items[:position]
        page = remaining[:limit] if after else remaining[-limit:]
    else:
        remaining = items
        page = items[:limit]
    body: dict[str, Any] = {
        "data": page,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
        "has_more": len(remaining) > limit,
    }
    if fault == "missing_cursor":
        body.update(has_more=True, last_id=None)
    elif fault == "repeat_cursor":
        # The cursor passed in (or, on the first page, this page's own) comes back again.
        body.update(has_more=True, last_id=after or body["last_id"])
    return body
