"""Tolerant parsing of report pages: exact Decimal cents, open enums, unknown fields kept."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import cached_property
from typing import Any

from app.anthropic.errors import MalformedResponse, RefusedPage
from app.clock import parse_rfc3339
from app.models import USAGE_MEASURES

# Bounds beyond any real bill or count, well inside what the database holds: Postgres keeps
# cents as NUMERIC(24, 6) (18 integer digits), SQLite as a 64-bit count of micro-cents (about
# 9.2e12 cents), and token counts are 64-bit. A value past them is a broken or hostile
# answer; storing it would fail the insert (or overflow a later SUM) with a cryptic error.
# The same bounds hold for a day's total, so the daily rollups and a year of them fit too.
MAX_CENTS = Decimal(10) ** 10  # $100 million in one line of one day
MAX_COUNT = 10**15  # a quadrillion tokens (or lines, sessions ...) in one line of one day

COST_DIMENSIONS = (
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "token_type",
    "service_tier",
    "context_window",
    "inference_geo",
    "product",  # Claude Enterprise reports only
)
USAGE_DIMENSIONS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
    "product",  # Claude Enterprise reports only
)
# The measures a usage row keeps (``UsageRow.tokens``), in the order of the stored columns.
TOKEN_FIELDS = USAGE_MEASURES
_COST_KNOWN = {*COST_DIMENSIONS, "amount", "list_amount", "currency"}
_USAGE_KNOWN = {
    *USAGE_DIMENSIONS,
    "uncached_input_tokens",
    "cache_creation",
    "cache_read_input_tokens",
    "output_tokens",
    "server_tool_use",
}


@dataclass(frozen=True)
class OrganizationInfo:
    id: str
    name: str


@dataclass
class Bucket:
    starting_at: datetime
    ending_at: datetime
    results: list[dict[str, Any]]

    @property
    def day(self) -> date:
        return self.starting_at.date()


@dataclass
class ReportPage:
    buckets: list[Bucket]
    has_more: bool
    next_page: str | None


@dataclass
class CostRow:
    day: date
    dims: dict[str, str | None]
    amount_cents: Decimal
    currency: str
    extra: dict[str, Any] = field(default_factory=dict)
    list_amount_cents: Decimal | None = None  # Claude Enterprise only

    @cached_property
    def dims_key(self) -> str:
        # Dimensions never change after parsing; the digest is needed twice per row.
        return dims_digest(self.dims, self.extra)

    def merge(self, other: CostRow) -> None:
        self.amount_cents += other.amount_cents
        if other.list_amount_cents is not None:
            self.list_amount_cents = (self.list_amount_cents or 0) + other.list_amount_cents

    def values(self) -> dict[str, Any]:
        return {
            **_common(self.day, self.dims_key, self.extra),
            **self.dims,
            "amount_cents": self.amount_cents,
            "list_amount_cents": self.list_amount_cents,
            "currency": self.currency,
        }


@dataclass
class UsageRow:
    day: date
    dims: dict[str, str | None]
    tokens: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @cached_property
    def dims_key(self) -> str:
        # Dimensions never change after parsing; the digest is needed twice per row.
        return dims_digest(self.dims, self.extra)

    def merge(self, other: UsageRow) -> None:
        for name, value in other.tokens.items():
            self.tokens[name] += value

    def values(self) -> dict[str, Any]:
        return {**_common(self.day, self.dims_key, self.extra), **self.dims, **self.tokens}


def _common(day: date, dims_key: str, extra: dict[str, Any]) -> dict[str, Any]:
    """Columns every stored row has (``organization_pk`` is added by the writer)."""
    return {"date": day, "dims_key": dims_key, "extra": extra_texts(extra)[0] if extra else None}


# Types whose equal values always encode to the same JSON (not float: -0.0 == 0.0).
_MEMO_TYPES = frozenset({str, int, bool, type(None)})
_EXTRA_MEMO: dict[Any, tuple[str, str]] = {}
_EXTRA_MEMO_SIZE = 4096


def extra_texts(extra: dict[str, Any]) -> tuple[str, str]:
    """The unknown fields as stored (JSON, sorted keys) and as digested (compact JSON).

    Memoized for flat scalar fields: the same few unknown fields (``account_id: null`` on
    every usage row) repeat on every row of a page, and two JSON encodings per row were the
    largest cost of the write path. The memo key holds every name's and value's type, since
    equal values of different types (True and 1) encode differently; only keys of
    ``_MEMO_TYPES`` are ever stored, so nested or float values are encoded each time."""
    try:
        key = (tuple(extra.items()), tuple(map(type, extra)), tuple(map(type, extra.values())))
        hit = _EXTRA_MEMO.get(key)
    except TypeError:  # an unhashable (nested) value
        key, hit = None, None
    if hit is not None:
        return hit
    texts = (
        json.dumps(extra, sort_keys=True, default=str),
        json.dumps(extra, sort_keys=True, separators=(",", ":"), default=str),
    )
    if key is not None and set(key[1]) <= {str} and _MEMO_TYPES.issuperset(key[2]):
        if len(_EXTRA_MEMO) >= _EXTRA_MEMO_SIZE:
            _EXTRA_MEMO.clear()
        _EXTRA_MEMO[key] = texts
    return texts


def dims_digest(dims: dict[str, str | None], extra: dict[str, Any]) -> str:
    """A stable digest of every dimension, known and unknown: the row's natural key in a day.
    Known dimensions are plain strings or None in a fixed order, so ``repr`` of their sorted
    items is canonical and much cheaper than JSON; unknown fields may nest, so JSON with
    sorted keys."""
    payload = repr(sorted(dims.items()))
    if extra:
        payload += extra_texts(extra)[1]
    return hashlib.sha256(payload.encode()).hexdigest()


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else str(value)


def parse_page(body: Any) -> ReportPage:
    """A report page; raises ``MalformedResponse`` when the shape is not the documented one,
    ``RefusedPage`` when a bucket comes twice (its rows would be summed: a day doubled)."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise MalformedResponse("Anthropic returned a report page without a 'data' list.")
    buckets = []
    seen: set[datetime] = set()
    for raw in body["data"]:
        try:
            results = raw.get("results") or []
            if not isinstance(results, list):
                raise TypeError("results is not a list")
            bucket = Bucket(
                starting_at=parse_rfc3339(raw["starting_at"]),
                ending_at=parse_rfc3339(raw["ending_at"]),
                results=[r for r in results if isinstance(r, dict)],
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise MalformedResponse(f"Anthropic returned a malformed bucket: {exc}") from exc
        if bucket.starting_at in seen:
            raise RefusedPage(
                f"Anthropic returned the bucket starting_at {shown(raw['starting_at'])} for "
                f"{bucket.day.isoformat()} twice in one page (its rows would count twice); the "
                "page was refused and nothing of it was stored."
            )
        seen.add(bucket.starting_at)
        buckets.append(bucket)
    next_page = body.get("next_page")
    return ReportPage(
        buckets=buckets,
        has_more=bool(body.get("has_more")),
        next_page=next_page if isinstance(next_page, str) and next_page else None,
    )


def shown(value: Any) -> str:
    """A value as a message quotes it: its text, cut short, quoted."""
    try:
        text = value if isinstance(value, str) else str(value)
    except ValueError:  # an int past Python's digit limit for str()
        text = "a number of thousands of digits"
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:40] + "…")


def refused(what: str, value: Any, day: date | None, why: str) -> RefusedPage:
    """The error for a value no real answer has; names the field, the value and the day."""
    when = f" for {day.isoformat()}" if day is not None else ""
    return RefusedPage(
        f"Anthropic returned {what} {shown(value)}{when}, {why}; the page was refused and "
        "nothing of it was stored."
    )


def parse_cents(value: Any, what: str = "cost amount", day: date | None = None) -> Decimal:
    """A decimal string (or number) of cents, exactly; ``MalformedResponse`` when it is not a
    number, ``RefusedPage`` when it is beyond any real bill. Negative amounts (credits,
    refunds) are kept."""
    try:
        if isinstance(value, bool) or value is None:
            raise InvalidOperation
        amount = Decimal(str(value).strip())
        if not amount.is_finite():
            raise InvalidOperation
    except (InvalidOperation, ValueError) as exc:
        raise MalformedResponse(
            f"Anthropic returned a {what} that is not a number: {str(value)[:40]!r}"
        ) from exc
    # copy_abs, not abs(): no arithmetic context, so "1e999999999" is refused by name here
    # instead of raising decimal.Overflow.
    if amount.copy_abs() > MAX_CENTS:
        raise refused(what, value, day, "beyond any real bill")
    return amount


def parse_cost_result(day: date, raw: dict[str, Any]) -> CostRow:
    """One cost result. ``amount`` is a decimal string in cents and must parse exactly."""
    list_raw = raw.get("list_amount")
    return CostRow(
        day=day,
        dims={name: _text(raw.get(name)) for name in COST_DIMENSIONS},
        amount_cents=parse_cents(raw.get("amount"), day=day),
        currency=_text(raw.get("currency")) or "USD",
        extra={k: v for k, v in raw.items() if k not in _COST_KNOWN},
        list_amount_cents=None if list_raw is None else parse_cents(list_raw, "list amount", day),
    )


def count(value: Any, name: str, day: date | None = None) -> int:
    """A count (tokens, requests, lines ...): a whole number from 0 to ``MAX_COUNT``."""
    if value.__class__ is int:
        # The usual case, and the cheapest (bool is not int here).
        if 0 <= value <= MAX_COUNT:
            return int(value)
        number = Decimal(value)
    elif value is None:
        return 0  # documented as never null; tolerate it as "nothing used"
    elif isinstance(value, bool):
        raise MalformedResponse(f"Anthropic returned a non-integer token count for {name}.")
    else:
        try:
            number = Decimal(str(value))
        except InvalidOperation as exc:
            raise MalformedResponse(
                f"Anthropic returned a non-integer token count for {name}."
            ) from exc
        if not number.is_finite() or number != number.to_integral_value():
            raise MalformedResponse(f"Anthropic returned a fractional token count for {name}.")
    if number < 0:
        raise refused(name, value, day, "a negative count")
    if number > MAX_COUNT:
        raise refused(name, value, day, "beyond any real count")
    return int(number)


def _nested_object(raw: dict[str, Any], key: str) -> dict[str, Any]:
    """``raw[key]`` if it is an object, else an empty one (missing, null or malformed)."""
    value = raw.get(key)
    return value if isinstance(value, dict) else {}


def parse_usage_result(day: date, raw: dict[str, Any]) -> UsageRow:
    """One usage result; cache writes are nested under ``cache_creation`` (not flat). The
    tokens are the ``USAGE_MEASURES``, in their order (a test holds the two together)."""
    cache = _nested_object(raw, "cache_creation")
    tools = _nested_object(raw, "server_tool_use")
    tokens = {
        "uncached_input_tokens": count(
            raw.get("uncached_input_tokens"), "uncached_input_tokens", day
        ),
        "cache_creation_5m_input_tokens": count(
            cache.get("ephemeral_5m_input_tokens"), "ephemeral_5m_input_tokens", day
        ),
        "cache_creation_1h_input_tokens": count(
            cache.get("ephemeral_1h_input_tokens"), "ephemeral_1h_input_tokens", day
        ),
        "cache_read_input_tokens": count(
            raw.get("cache_read_input_tokens"), "cache_read_input_tokens", day
        ),
        "output_tokens": count(raw.get("output_tokens"), "output_tokens", day),
        "web_search_requests": count(tools.get("web_search_requests"), "web_search_requests", day),
    }
    extra = {k: v for k, v in raw.items() if k not in _USAGE_KNOWN}
    # Unknown members of the nested objects are kept too, under their full path.
    extra.update(
        {
            f"cache_creation.{k}": v
            for k, v in cache.items()
            if k not in ("ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens")
        }
    )
    extra.update(
        {f"server_tool_use.{k}": v for k, v in tools.items() if k != "web_search_requests"}
    )
    return UsageRow(
        day=day,
        dims={name: _text(raw.get(name)) for name in USAGE_DIMENSIONS},
        tokens=tokens,
        extra=extra,
    )
