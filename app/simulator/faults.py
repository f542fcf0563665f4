"""Fault injection of the simulated APIs: the fault kinds, their knobs and what they do to an
answer (poisoned report pages, slow or oversized bodies).

Tests tune the knobs (``HANG_SECONDS``, ``HUGE_PAGE_BYTES``, ``POISON_AMOUNT``, ...) by patching
them on this module: the code that uses them reads them here, at request time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx

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


@dataclass
class Fault:
    kind: str
    route: str
    remaining: int
    retry_after: float | str | None = None
    day: date | None = None  # poison faults: the bucket they change


def apply_poison(fault: Fault, data: list[Any]) -> bool:
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


def streamed_response(
    kind: str, raw: bytes, headers: dict[str, str], pulled: Callable[[bytes], bytes]
) -> httpx.Response:
    """A 200 whose body is produced lazily (slowly, or far too much of it); each chunk handed
    out goes through ``pulled`` (which counts it)."""

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
