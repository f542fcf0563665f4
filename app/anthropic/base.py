"""What the Admin API and the Claude Enterprise Analytics API clients share: the httpx
client, retries, pacing, the per-request deadline, the size cap and gzip, the request count,
and paging. ``app.anthropic.admin`` and ``app.anthropic.analytics`` hold the endpoints."""

from __future__ import annotations

import contextvars
import json
import logging
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator, Sequence
from email.utils import parsedate_to_datetime
from types import TracebackType
from typing import Any, ClassVar, Self

import httpcore
import httpx

from app.anthropic.errors import (
    AnthropicError,
    MalformedResponse,
    NetworkError,
    PageOverBudget,
    RefusedPage,
    ResponseTooLarge,
    describe_status,
    error_for,
)
from app.anthropic.paging import Paginator, PagingErrors
from app.anthropic.schemas import ReportPage, parse_page
from app.clock import utcnow

log = logging.getLogger(__name__)

ANTHROPIC_VERSION = "2023-06-01"
USER_AGENT = "AnthropicFinOps/0.1 (self-hosted)"
MAX_BUCKETS_PER_PAGE = 31
# The longest wait a ``retry-after`` may impose on one request: a 429 saying "come back in a
# day" must not park a sync for a day; the organization's own backoff takes over after the
# retries.
MAX_RETRY_AFTER = 60.0
# Wall-clock limit of one request, headers and body (httpx's read timeout is per chunk: an
# upstream sending a byte every few seconds held a sync for minutes, or forever).
REQUEST_DEADLINE = 120.0
# The largest response body read (a 300k-result page took 787 MB of memory once parsed).
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# A report page of several days larger than this is not read (``PageOverBudget``): the sync
# asks again for fewer days, so a page's parsed JSON (~2 kB a result, ~4x its text) stays
# within the worker's memory budget. A page of one day is read up to MAX_RESPONSE_BYTES.
PAGE_BUDGET_BYTES = 24 * 1024 * 1024
# Of an error answer only the message matters: read at most this much of it.
ERROR_BODY_BYTES = 64 * 1024

Params = list[tuple[str, str]]

# Report pages are stored as they come, so a broken series resumes from the last stored day.
REPORT_PAGING = PagingErrors(
    missing="Anthropic said more report pages follow but sent no cursor; stopping so no day is "
    "skipped. The next sync resumes from the last stored day.",
    repeated="Anthropic returned a page cursor it had already sent; stopping to avoid a loop. "
    "The next sync resumes from the last stored day.",
    too_many="Stopped after {pages} report pages without reaching the end.",
)


# How an error status reads: status, the API's error type, the API's message.
Describe = Callable[[int, str | None, str | None], str]


class BaseClient:
    """One client per sync run. ``transport`` lets tests and the demo use the simulator.
    Subclasses say which API they speak: its endpoints, and how its errors read.

    Safe to share between threads (the sync fetches Claude Code days concurrently):
    ``httpx.Client`` is, and our own pacing and request count are guarded by locks."""

    # Statuses that mean the key was refused (its error reads as ``KeyRejected``).
    key_rejected_statuses: ClassVar[frozenset[int]] = frozenset({401, 403})

    @staticmethod
    def _describe(status: int, error_type: str | None, api_message: str | None) -> str:
        """A plain-language reason for an HTTP error of this API."""
        return describe_status(status, error_type, api_message)

    def _errors_of(self, path: str) -> tuple[Describe, frozenset[int]]:
        """How an error of ``path`` reads, and which statuses refuse the key there: the API's
        own by default (a 404 means different things on different Analytics endpoints)."""
        return self._describe, self.key_rejected_statuses

    def _headers_of(self, path: str) -> dict[str, str]:
        """Headers ``path`` needs beyond the client's own (a beta's ``anthropic-beta``)."""
        return {}

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = "https://api.anthropic.com",
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        max_retries: int = 5,
        max_retry_wait: float = MAX_RETRY_AFTER,
        max_total_wait: float = 300.0,
        sleep: Callable[[float], None] = time.sleep,
        requests_per_minute: float | None = None,
        buckets_per_page: int = MAX_BUCKETS_PER_PAGE,
        deadline: float = REQUEST_DEADLINE,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
        page_budget_bytes: int = PAGE_BUDGET_BYTES,
    ) -> None:
        """``timeout`` bounds each network wait (connect, each read); ``deadline`` bounds a
        whole request, headers and body; ``max_total_wait`` bounds one request with all its
        retries and the waits between them."""
        self._http = httpx.Client(
            base_url=base_url,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            transport=transport if transport is not None else _deadline_transport(),
            headers={
                "x-api-key": api_key,
                "anthropic-version": ANTHROPIC_VERSION,
                "user-agent": USER_AGENT,
                "accept": "application/json",
                # Only what _read inflates itself, within the size cap (httpx would inflate a
                # whole chunk, or several layers of encoding, before any size check).
                "accept-encoding": "gzip",
            },
            follow_redirects=False,
        )
        self._max_retries = max_retries
        self._max_retry_wait = min(max_retry_wait, MAX_RETRY_AFTER)
        self._deadline = deadline
        self._max_response_bytes = max_response_bytes
        self._page_budget_bytes = page_budget_bytes
        self._max_total_wait = max_total_wait
        self._sleep = sleep
        # Client-side pacing (the Analytics API allows 60 requests a minute per organization).
        self._min_interval = 60.0 / requests_per_minute if requests_per_minute else 0.0
        self._last_request = 0.0
        # Held through the pacing wait, so concurrent callers still leave the interval between
        # them; never held during the request itself.
        self._pace_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._buckets_per_page = buckets_per_page
        self.requests_made = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def fewer_buckets_per_page(self) -> bool:
        """After a report page too large to read: ask for a quarter as many days per page
        from now on (31, 7, then 1). False when pages already hold a single day."""
        if self._buckets_per_page <= 1:
            return False
        self._buckets_per_page = max(1, self._buckets_per_page // 4)
        return True

    def days_per_page(self, asked: int | None = None) -> int:
        """Buckets to ask per report page: ``asked`` (a sync sizing its pages to the rows per
        day it measured) within 1 and the client's own limit (31, fewer after a page too large
        to read)."""
        if asked is None:
            return self._buckets_per_page
        return max(1, min(asked, self._buckets_per_page))

    # --- paging ----------------------------------------------------------------------------

    def _record_pages(self, path: str, params: Params) -> list[dict[str, Any]]:
        """Bodies of a ``data``/``has_more``/``next_page`` series, whole (for record lists).
        An expired cursor (410) restarts the series: callers collect a whole series before
        using it, so nothing is counted twice."""
        return Paginator[dict[str, Any]](
            fetch=lambda cursor: self._data_body(path, _cursor(params, "page", cursor), "page"),
            next_cursor=lambda body: _text(body.get("next_page")),
            has_more=lambda body: bool(body.get("has_more")),
            errors=PagingErrors(
                missing=f"Anthropic said more pages of {path} follow but sent no cursor; "
                "stopping so nothing is skipped. The next sync tries again.",
                repeated=f"Anthropic repeated a page cursor of {path}; stopping.",
                too_many=f"Stopped after {{pages}} pages of {path}.",
            ),
            name=path,
        ).collect()

    def _report(self, path: str, params: Params, *, budget: bool = False) -> Iterator[ReportPage]:
        """Follow ``next_page`` to the end; every other parameter stays the same across pages.
        An expired cursor (410, Analytics API) restarts from the first page: the sync skips
        the days it already stored, so nothing is stored twice. ``budget``: a page larger than
        the page budget is refused (``PageOverBudget``) rather than read."""
        limit = self._page_budget_bytes if budget else None
        return Paginator[ReportPage](
            fetch=lambda cursor: parse_page(
                self._get_json(path, _cursor(params, "page", cursor), budget=limit)
            ),
            next_cursor=lambda page: page.next_page,
            has_more=lambda page: page.has_more,
            errors=REPORT_PAGING,
            name=path,
        ).stream()

    def _list(self, path: str, params: Params) -> Iterator[dict[str, Any]]:
        """Cursor lists (``after_id``/``last_id``/``has_more``)."""
        query = params + [("limit", "100")]
        stuck = f"Anthropic's list paging for {path} did not advance."
        pages = Paginator[dict[str, Any]](
            fetch=lambda after: self._data_body(path, _cursor(query, "after_id", after), "list"),
            next_cursor=lambda body: _text(body.get("last_id")),
            has_more=lambda body: bool(body.get("has_more")),
            errors=PagingErrors(stuck, stuck, f"Stopped after {{pages}} list pages of {path}."),
            name=path,
        ).once()
        for body in pages:
            yield from (item for item in body["data"] if isinstance(item, dict))

    def _data_body(self, path: str, params: Params, what: str) -> dict[str, Any]:
        """A page that must be an object with a ``data`` list (``what`` names it)."""
        body = self._get_json(path, params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise MalformedResponse(f"Anthropic returned a {what} without 'data' for {path}.")
        return body

    # --- one request with retries ----------------------------------------------------------

    def _get_json(
        self, path: str, params: Sequence[tuple[str, str]], *, budget: int | None = None
    ) -> Any:
        # Time spent in attempts and in the waits between them (the waits counted as asked
        # for, since ``sleep`` may be a test's recorder): one request never takes much more
        # than ``max_total_wait``, so the sync's lease outlives it.
        spent = 0.0
        attempt = 0
        while True:
            began = time.monotonic()
            try:
                return self._attempt(path, params, budget)
            except AnthropicError as exc:
                spent += time.monotonic() - began
                if not exc.retryable or attempt >= self._max_retries:
                    raise
                delay = exc.retry_after
                if delay is None or delay <= 0:
                    # No usable retry-after ("0", "-1", a date in the past): our own backoff,
                    # or a storm would be answered with requests back to back.
                    delay = min(30.0, 0.5 * 2**attempt) * (0.5 + random.random())
                delay = min(max(delay, 0.0), self._max_retry_wait)
                if spent + delay > self._max_total_wait:
                    raise
                log.warning(
                    "%s %s; retrying in %.1fs (attempt %s of %s)",
                    path,
                    exc.__class__.__name__,
                    delay,
                    attempt + 1,
                    self._max_retries,
                )
                self._sleep(delay)
                spent += delay
                attempt += 1

    def _attempt(
        self, path: str, params: Sequence[tuple[str, str]], budget: int | None = None
    ) -> Any:
        if self._min_interval:
            with self._pace_lock:
                wait = self._last_request + self._min_interval - time.monotonic()
                if wait > 0:
                    self._sleep(wait)
                self._last_request = time.monotonic()
        with self._count_lock:
            self.requests_made += 1
        started = time.monotonic()
        # Every network wait of this request is bounded by what is left of the deadline too
        # (``_DeadlineStream``); the body loop below checks it as well, for any transport.
        token = _DEADLINE.set(started + self._deadline)
        try:
            extra = self._headers_of(path)
            with self._http.stream(
                "GET", path, params=list(params), headers=extra or None
            ) as response:
                request_id = response.headers.get("request-id")
                if response.status_code != 200:
                    raw = self._read(response, path, started, ERROR_BODY_BYTES, cut=True)
                    describe, key_rejected = self._errors_of(path)
                    raise error_for(
                        response.status_code,
                        bytes(raw),
                        request_id,
                        retry_after=_retry_after(response.headers),
                        describe=describe,
                        key_rejected=key_rejected,
                    )
                raw = self._read_within(response, path, started, budget)
        except httpx.TimeoutException:
            if time.monotonic() - started >= self._deadline - 0.01:
                raise self._too_slow() from None
            raise NetworkError(
                "Anthropic's API did not answer in time (timeout). It will be retried."
            ) from None
        except httpx.TransportError as exc:
            raise NetworkError(
                f"Could not reach Anthropic's API ({exc.__class__.__name__}). Check the network "
                "connection and FINOPS_ANTHROPIC_BASE_URL."
            ) from None
        finally:
            _DEADLINE.reset(token)
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            # Usually a connection cut mid-body; worth another try.
            raise MalformedResponse(
                f"Anthropic returned an unreadable (truncated or non-JSON) page for {path}.",
                status=200,
                request_id=request_id,
            ) from None
        except (ValueError, RecursionError):
            # Well-formed but unsafe to hold (an integer of thousands of digits, nesting
            # thousands deep): the same page would come back the same, so not retried.
            raise RefusedPage(
                f"Anthropic returned a page for {path} with a number of thousands of digits or "
                "nesting thousands deep; the page was refused and nothing of it was stored.",
                status=200,
                request_id=request_id,
            ) from None

    def _read_within(
        self, response: httpx.Response, path: str, started: float, budget: int | None
    ) -> bytearray:
        """The body within the size cap, and within ``budget`` if one is given (smaller than
        the cap): beyond it ``PageOverBudget``, however much the cap would still allow."""
        cap = self._max_response_bytes
        if budget is None or budget >= cap:
            return self._read(response, path, started, cap)
        try:
            return self._read(response, path, started, budget)
        except ResponseTooLarge as exc:
            if exc.size is not None and exc.size > cap:
                raise self._too_large(path, cap, exc.size, exc.request_id) from None
            size = f" ({_mib(exc.size)})" if exc.size is not None else ""
            raise PageOverBudget(
                f"Anthropic's page for {path} is larger than the {_mib(budget)} of a page of "
                f"several days{size}; asking for fewer days per page.",
                path=path,
                size=exc.size,
                budget=budget,
                request_id=exc.request_id,
            ) from None

    def _read(
        self, response: httpx.Response, path: str, started: float, limit: int, *, cut: bool = False
    ) -> bytearray:
        """The body, at most ``limit`` bytes of it (decoded, so a compressed bomb counts at
        its real size) and within the deadline. ``cut``: keep what fits instead of refusing
        (error bodies, of which only the message matters)."""
        request_id = response.headers.get("request-id")
        declared = response.headers.get("content-length", "").strip()
        if declared.isdigit() and int(declared) > limit:
            if cut:
                return bytearray()
            raise self._too_large(path, limit, int(declared), request_id)  # nothing read
        if response.is_stream_consumed:
            # Built in memory (the in-process simulator, tests): httpx has decoded it already.
            content = response.content
            if len(content) > limit and not cut:
                raise self._too_large(path, limit, None, request_id)
            return bytearray(content[:limit])
        inflate = _inflater(response, path, request_id)
        body = bytearray()
        for raw in response.iter_raw():
            # At most what still fits (plus one byte, to know it did not), however much the
            # compressed chunk would inflate to.
            chunk = inflate(raw, limit - len(body) + 1) if inflate else raw
            if len(body) + len(chunk) > limit:
                if cut:
                    return body + chunk[: limit - len(body)]
                raise self._too_large(path, limit, None, request_id)
            body += chunk
            if time.monotonic() - started > self._deadline:
                raise self._too_slow()
        return body

    def _too_slow(self) -> NetworkError:
        return NetworkError(
            f"Anthropic's API sent the page too slowly (over {self._deadline:g} s); the "
            "request was abandoned and will be retried."
        )

    @staticmethod
    def _too_large(path: str, limit: int, declared: int | None, request_id: str | None) -> Any:
        size = f"{_mib(declared)} declared" if declared is not None else "more than that"
        return ResponseTooLarge(
            f"Anthropic's answer for {path} is larger than the {_mib(limit)} this client reads "
            f"({size}); it was refused, and nothing of it was stored.",
            path=path,
            size=declared,
            request_id=request_id,
        )


def _inflater(
    response: httpx.Response, path: str, request_id: str | None
) -> Callable[[bytes, int], bytes] | None:
    """For a gzip body, a function inflating the next compressed bytes into at most ``room``
    bytes (what does not fit stays pending and comes out with the next call); None for a
    plain body. Any other encoding, or gzip inside gzip, is refused: it was not asked for."""
    encodings = [
        e.strip().lower()
        for e in response.headers.get_list("content-encoding", split_commas=True)
        if e.strip() and e.strip().lower() != "identity"
    ]
    if not encodings:
        return None
    if encodings != ["gzip"]:
        raise MalformedResponse(
            f"Anthropic's answer for {path} came in an encoding this client did not ask for "
            f"({', '.join(encodings)}); it was refused, and nothing of it was stored.",
            status=response.status_code,
            request_id=request_id,
        )
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)

    def inflate(data: bytes, room: int) -> bytes:
        try:
            out = decoder.decompress(decoder.unconsumed_tail + data, room)
        except zlib.error:
            raise MalformedResponse(
                f"Anthropic returned an unreadable (corrupt gzip) page for {path}.",
                status=response.status_code,
                request_id=request_id,
            ) from None
        return out

    return inflate


def _retry_after(headers: httpx.Headers) -> float | None:
    """``retry-after`` as seconds, from either delta-seconds or an HTTP date, never more than
    ``MAX_RETRY_AFTER`` (``86400``, a date next week, ``1e400`` all mean "a minute" here)."""
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            return None
        seconds = (when - utcnow()).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def _cursor(params: Params, name: str, cursor: str | None) -> Params:
    """``params`` with the page cursor as ``name``; none on the first page."""
    return params + [(name, cursor)] if cursor else params


def _text(value: Any) -> str | None:
    """A cursor field read as text; anything but a non-empty string is no cursor."""
    return value if isinstance(value, str) and value else None


def _mib(size: int) -> str:
    text = f"{size / 2**20:.1f}".removesuffix(".0")
    return f"{text} MiB"


# --- the deadline at the socket ----------------------------------------------------------------

# When the request running in this thread (or context) must be done, in monotonic seconds.
_DEADLINE: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "anthropic_request_deadline", default=None
)


def _bounded(timeout: float | None) -> float | None:
    """``timeout`` shortened to what is left of the current request's deadline."""
    end = _DEADLINE.get()
    if end is None:
        return timeout
    left = max(end - time.monotonic(), 0.001)  # 0 would mean non-blocking, not "expired"
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every read and write waits at most until the request's deadline,
    so a trickle of bytes (in the headers as much as in the body) cannot outlast it."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._stream.read(max_bytes, _bounded(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._stream.write(buffer, _bounded(timeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: Any,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        return _DeadlineStream(
            self._stream.start_tls(ssl_context, server_hostname, _bounded(timeout))
        )

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_tcp(
            host, port, _bounded(timeout), local_address, socket_options
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Any = None
    ) -> httpcore.NetworkStream:
        stream = self._backend.connect_unix_socket(path, _bounded(timeout), socket_options)
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _deadline_transport() -> httpx.HTTPTransport:
    """httpx's own transport, its connections bounded by the request deadline. httpx offers
    no public hook for the network backend, so it is set on its pool; should a later httpx
    rename that, the body loop's deadline check still holds (headers then are bounded only
    by the read timeout per chunk)."""
    transport = httpx.HTTPTransport()
    pool = getattr(transport, "_pool", None)
    backend = getattr(pool, "_network_backend", None)
    if pool is not None and isinstance(backend, httpcore.NetworkBackend):
        pool._network_backend = _DeadlineBackend(backend)
    else:
        log.debug("httpx's pool has no network backend to wrap; deadline checked per chunk")
    return transport
