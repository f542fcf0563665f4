"""Pieces shared by the simulator's HTTP modules: the error type, query parameters, cursors.

The Console routes (``api``) and the newer ones (``claude_code``, ``analytics``) use these.
Cursors of the newer routes are ``page_`` + URL-safe base64 of a small JSON object: opaque to
a client, easy to tie to a query, an offset or a data refresh here.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

Params = list[tuple[str, str]]

BASE = "/v1/organizations"  # the Admin API routes' prefix

NOT_FOUND = "The requested resource could not be found."
INVALID_RANGE = "Invalid date range: ending date must be after starting date"
INVALID_PAGE = "page: invalid page token"
CURSOR_EXPIRED = "The page cursor has expired after a data refresh; restart from the first page."


class ApiError(Exception):
    """An error response: status, message, optional extra headers."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


# --- query parameters ------------------------------------------------------------------------


def one(params: Params, name: str, default: str) -> str:
    """The last value of ``name``, or ``default``."""
    values = [v for k, v in params if k == name]
    return values[-1] if values else default


def many(params: Params, name: str) -> set[str]:
    return {v for k, v in params if k == name}


def every(params: Params, name: str) -> list[str]:
    """All values of a repeated parameter, in order, duplicates kept."""
    return [v for k, v in params if k == name]


def parse_time(text: str, name: str) -> datetime:
    """An RFC 3339 timestamp (date, time and offset) as an aware UTC datetime, else 400."""
    # RFC 3339 needs a date, a time and an offset; fromisoformat alone accepts bare dates.
    if not re.fullmatch(r"\d{4}-\d\d-\d\d[Tt ]\d\d:\d\d:\d\d(\.\d+)?([Zz]|[+-]\d\d:\d\d)", text):
        raise ApiError(400, f"{name}: Input should be an RFC 3339 timestamp")
    try:
        return datetime.fromisoformat(text.upper().replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise ApiError(400, f"{name}: Input should be an RFC 3339 timestamp") from None


def parse_date(text: str, name: str) -> date:
    """Exactly ``YYYY-MM-DD`` (no time, no offset), else 400."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\d", text):
        raise ApiError(400, f"{name}: Input should be a date in YYYY-MM-DD format")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ApiError(400, f"{name}: Input should be a valid date") from None


def parse_limit(params: Params, default: int, maximum: int) -> int:
    text = one(params, "limit", str(default))
    if not re.fullmatch(r"-?\d+", text.strip()):
        raise ApiError(400, "limit: Input should be a valid integer")
    limit = int(text)
    if not 1 <= limit <= maximum:
        raise ApiError(400, f"limit: Input should be between 1 and {maximum}")
    return limit


def parse_bool(params: Params, name: str) -> bool:
    text = one(params, name, "false").strip().lower()
    if text in ("1", "true"):
        return True
    if text in ("0", "false", ""):
        return False
    raise ApiError(400, f"{name}: Input should be a valid boolean")


# --- cursors ---------------------------------------------------------------------------------


def fingerprint(params: Params) -> str:
    """What a cursor is tied to: every parameter except ``page`` and ``limit``, in any order."""
    relevant = sorted((k, v) for k, v in params if k not in ("page", "limit"))
    return hashlib.sha256(json.dumps(relevant).encode()).hexdigest()[:16]


def encode_cursor(state: dict[str, Any]) -> str:
    text = json.dumps(state, sort_keys=True, separators=(",", ":"))
    return "page_" + base64.urlsafe_b64encode(text.encode()).decode()


def decode_cursor(token: str) -> dict[str, Any]:
    """The state inside a cursor made by ``encode_cursor``; 400 for anything else."""
    try:
        if not token.startswith("page_"):
            raise ValueError(token)
        state = json.loads(base64.urlsafe_b64decode(token[5:].encode()).decode())
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, INVALID_PAGE) from None
    if not isinstance(state, dict):
        raise ApiError(400, INVALID_PAGE)
    return state


def cursor_fields(
    incoming: str,
    loop: bool,
    next_state: dict[str, Any] | None,
    first_state: dict[str, Any],
    fault: str | None,
) -> dict[str, Any]:
    """``has_more`` and ``next_page`` of a page, with the cursor faults of ``Simulator.inject``.

    ``loop`` marks a cursor made by ``repeat_cursor`` on a first page: following it hands the
    same cursor back. ``first_state`` is the position of the first page (``cursor_cycle``).
    """
    if fault == "repeat_cursor" or loop:
        if incoming:
            return {"has_more": True, "next_page": incoming}
        return {"has_more": True, "next_page": encode_cursor({**first_state, "loop": True})}
    if fault == "missing_cursor":
        return {"has_more": True, "next_page": None}
    if fault == "cursor_cycle" and incoming:
        return {"has_more": True, "next_page": encode_cursor(first_state)}
    if next_state is None:
        return {"has_more": False, "next_page": None}
    return {"has_more": True, "next_page": encode_cursor(next_state)}


def offset_page(
    items: list[Any],
    params: Params,
    fault: str | None,
    *,
    default_limit: int,
    max_limit: int,
    scope: dict[str, Any],
    check: Callable[[dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """``limit`` items from the cursor's offset, with ``has_more``/``next_page``.

    ``scope`` goes into every cursor; ``check(state)`` (optional) raises for a cursor whose
    scope does not fit this request. Without ``check`` a scope mismatch is a 400.
    """
    limit = parse_limit(params, default_limit, max_limit)
    incoming = one(params, "page", "")
    offset, loop = 0, False
    if incoming:
        state = decode_cursor(incoming)
        if check is not None:
            check(state)
        elif any(state.get(k) != v for k, v in scope.items()):
            raise ApiError(400, "page: the page token belongs to a different query")
        position = state.get("o")
        if not isinstance(position, int) or isinstance(position, bool) or position < 0:
            raise ApiError(400, INVALID_PAGE)
        offset = position
        loop = state.get("loop") is True
    page = items[offset : offset + limit]
    following = offset + limit
    next_state = {**scope, "o": following} if following < len(items) else None
    return {"data": page, **cursor_fields(incoming, loop, next_state, {**scope, "o": 0}, fault)}
