"""The HTTP behaviour of the simulated Admin API: routing, auth, rate limits and faults.

Follows reference §11. The pieces live next to this module: the usage and cost reports in
``admin_reports`` (with the choices made where the real API is unconfirmed), the directory
routes in ``directory``, the fault kinds and their knobs in ``faults``, error answers in
``errors``.

Also served: ``usage_report/claude_code`` (``claude_code``) for Console keys, and the Claude
Enterprise Analytics API under ``analytics/`` (``analytics``) for ``sk-ant-api01-`` keys, with
their own authentication rules (§7.3) and a per-organization rate limit.
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

from app.simulator import admin_reports, analytics, directory, faults, usage_cost_analytics
from app.simulator.claude_code import claude_code_report
from app.simulator.common import BASE, CURSOR_EXPIRED, NOT_FOUND, ApiError, Params
from app.simulator.common import one as _one
from app.simulator.enterprise import ANALYTICS_SCOPE, SimEnterpriseOrg
from app.simulator.errors import error_response, not_allowed, not_found, response_headers
from app.simulator.faults import (
    BODY_FAULTS,
    CONNECTION_FAULTS,
    CURSOR_FAULTS,
    POISON_FAULTS,
    STATUS_FAULTS,
    STREAM_FAULTS,
    Fault,
)
from app.simulator.world import SimOrg, World

ANALYTICS_BASE = f"{BASE}/analytics"

# Enterprise Analytics routes: engagement ones answer 404 for a bad or scope-less key.
ANALYTICS_REPORT_ROUTES = (
    "analytics_usage_report",
    "analytics_cost_report",
    "analytics_user_usage_report",
    "analytics_user_cost_report",
)
ANALYTICS_ENGAGEMENT_ROUTES = ("analytics_summaries", "analytics_users")
# The Usage and Cost Analytics API (beta, §13), served here to Console organizations' keys.
USAGE_COST_ANALYTICS_ROUTES = ("analytics_cost", "analytics_usage")
FAULT_ROUTES = (
    "*",
    "me",
    "workspaces",
    "api_keys",
    "users",
    "invites",
    "usage_report",
    "cost_report",
    "claude_code",
    *ANALYTICS_REPORT_ROUTES,
    *ANALYTICS_ENGAGEMENT_ROUTES,
    *USAGE_COST_ANALYTICS_ROUTES,
)
ANALYTICS_RPM = 60  # requests per rolling minute per Enterprise organization (§2.2)
RATE_WINDOW = 60.0


@dataclass(frozen=True)
class RecordedRequest:
    """What the simulator saw of a request. The key is never recorded."""

    route: str
    method: str
    path: str
    params: list[tuple[str, str]]
    status: int
    # The simulator's own time answering (after its latency): building and encoding the body.
    # On a request's critical path as much as the latency is (the bench's backfill floor).
    seconds: float = 0.0


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
        answering = time.perf_counter()
        path = request.url.path
        params: Params = list(request.url.params.multi_items())
        route, handler = self._resolve(request.method, path)
        org: SimOrg | SimEnterpriseOrg | None = None
        request_id = "req_" + uuid.uuid4().hex[:24]
        try:
            if route in USAGE_COST_ANALYTICS_ROUTES:
                org = self._authenticate(request)
            elif path == ANALYTICS_BASE or path.startswith(ANALYTICS_BASE + "/"):
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
                time.sleep(faults.HANG_SECONDS)
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
                response = self._streamed(fault.kind, raw, response_headers(request_id, org))
            else:
                headers = response_headers(request_id, org)
                response = httpx.Response(200, content=raw, headers=headers)
        except ApiError as exc:
            response = error_response(exc, request_id, org)
        with self._lock:
            self.requests.append(
                RecordedRequest(
                    route,
                    request.method,
                    path,
                    params,
                    response.status_code,
                    time.perf_counter() - answering,
                )
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
            STATUS_FAULTS
            + BODY_FAULTS
            + CONNECTION_FAULTS
            + CURSOR_FAULTS
            + STREAM_FAULTS
            + POISON_FAULTS
        )
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
                if faults.apply_poison(fault, body["data"]):
                    fault.remaining -= 1
        return body

    def _streamed(self, kind: str, raw: bytes, headers: dict[str, str]) -> httpx.Response:
        """A 200 whose body is produced lazily; the bytes clients pull are counted."""

        def pulled(chunk: bytes) -> bytes:
            with self._lock:
                self.streamed_bytes += len(chunk)
            return chunk

        return faults.streamed_response(kind, raw, headers, pulled)

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
                    return route, not_allowed
                if handler.startswith("analytics."):
                    return route, self._analytics(handler.removeprefix("analytics."))
                return route, getattr(self, handler)
        return "unknown", not_found

    # Directory routes (``directory``) need only the organization; reports need the world.
    _me = staticmethod(directory.me)
    _workspaces = staticmethod(directory.workspaces)

    def _api_keys(self, org: SimOrg, path: str, params: Params, r: Any, fault: Any) -> Any:
        return directory.api_keys(org, path, params, r, fault, legacy=self.world.legacy_fields)

    _users = staticmethod(directory.users)
    _invites = staticmethod(directory.invites)

    def _claude_code(self, org: SimOrg, _p: str, params: Params, _r: Any, fault: Any) -> Any:
        return claude_code_report(self.world.claude_code, org, params, fault)

    def _analytics_cost(
        self, org: SimOrg, _p: str, params: Params, request: httpx.Request, fault: str | None
    ) -> Any:
        return usage_cost_analytics.cost(self.world.key_cost, org, params, request, fault)

    def _analytics_usage(
        self, org: SimOrg, _p: str, params: Params, request: httpx.Request, fault: str | None
    ) -> Any:
        return usage_cost_analytics.usage(self.world.key_cost, org, params, request, fault)

    def _analytics(self, name: str) -> Handler:
        endpoint = getattr(analytics, name)

        def handler(org: Any, _p: str, params: Params, _r: Any, fault: Any) -> Any:
            return endpoint(self.world.enterprise, org, params, fault)

        return handler

    def _usage(
        self, org: SimOrg, _p: str, params: Params, request: httpx.Request, fault: str | None
    ) -> Any:
        return admin_reports.usage_report(self.world, org, params, request, fault)

    def _cost(
        self, org: SimOrg, _p: str, params: Params, _r: httpx.Request, fault: str | None
    ) -> Any:
        fast_mode = admin_reports.has_beta(_r, admin_reports.FAST_MODE_BETA)
        return admin_reports.cost_report(self.world, org, params, fault, fast_mode=fast_mode)


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
    (
        re.compile(rf"{ANALYTICS_BASE}/usage_report"),
        "analytics_usage_report",
        "analytics.usage_report",
    ),
    (
        re.compile(rf"{ANALYTICS_BASE}/cost_report"),
        "analytics_cost_report",
        "analytics.cost_report",
    ),
    (
        re.compile(rf"{ANALYTICS_BASE}/user_usage_report"),
        "analytics_user_usage_report",
        "analytics.user_usage_report",
    ),
    (
        re.compile(rf"{ANALYTICS_BASE}/user_cost_report"),
        "analytics_user_cost_report",
        "analytics.user_cost_report",
    ),
    (re.compile(rf"{ANALYTICS_BASE}/cost"), "analytics_cost", "_analytics_cost"),
    (re.compile(rf"{ANALYTICS_BASE}/usage"), "analytics_usage", "_analytics_usage"),
    (re.compile(rf"{ANALYTICS_BASE}/summaries"), "analytics_summaries", "analytics.summaries"),
    (re.compile(rf"{ANALYTICS_BASE}/users"), "analytics_users", "analytics.users"),
]
