"""Parsers of the per-actor and per-day reports: Claude Code (Console organizations) and the
Claude Enterprise per-user and engagement reports. Open sets stay open: unknown tools, actor
types and fields are kept, never dropped."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from typing import Any

from app.anthropic.errors import MalformedResponse
from app.anthropic.schemas import (
    MAX_CENTS,
    MAX_COUNT,
    _common,
    _text,
    count,
    dims_digest,
    parse_cents,
    parse_usage_result,
    refused,
)
from app.clock import parse_rfc3339


@dataclass
class Record:
    """A stored row of one of these reports: its day, natural key, dimensions and measures."""

    day: date
    dims: dict[str, Any]
    measures: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    # Measures that are added when two records share a key (others keep the first value).
    additive: tuple[str, ...] = ()

    @cached_property
    def dims_key(self) -> str:
        # Dimensions never change after parsing; the digest is needed twice per row.
        return dims_digest(self.dims, self.extra)

    def merge(self, other: Record) -> None:
        for name in self.additive:
            mine, theirs = self.measures.get(name), other.measures.get(name)
            if theirs is not None:
                self.measures[name] = theirs if mine is None else mine + theirs

    def values(self) -> dict[str, Any]:
        return {**_common(self.day, self.dims_key, self.extra), **self.dims, **self.measures}


def _day_of(value: Any, what: str) -> date:
    if not isinstance(value, str) or not value:
        raise MalformedResponse(f"Anthropic returned a {what} without a date.")
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return parse_rfc3339(value).date()
    except ValueError as exc:
        raise MalformedResponse(
            f"Anthropic returned a {what} with a bad date: {value[:40]!r}"
        ) from exc


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


# --- Claude Code ------------------------------------------------------------------------------

CLAUDE_CODE_KNOWN = {
    "date",
    "actor",
    "organization_id",
    "customer_type",
    "subscription_type",
    "terminal_type",
    "is_remote",
    "core_metrics",
    "tool_actions",
    "model_breakdown",
}


def parse_claude_code_record(raw: dict[str, Any]) -> Record:
    """One actor's day of Claude Code. ``estimated_cost.amount`` is integer cents (an estimate)."""
    day = _day_of(raw.get("date"), "Claude Code record")
    actor = _dict(raw.get("actor"))
    actor_type = _text(actor.get("type"))
    name = actor.get("email_address") or actor.get("api_key_name") or actor.get("name")
    core = _dict(raw.get("core_metrics"))
    lines = _dict(core.get("lines_of_code"))
    tools: dict[str, dict[str, int]] = {}
    for tool, counts in _dict(raw.get("tool_actions")).items():
        counts = _dict(counts)
        tools[str(tool)] = {
            "accepted": count(counts.get("accepted"), f"{tool}.accepted", day),
            "rejected": count(counts.get("rejected"), f"{tool}.rejected", day),
        }
    models: list[dict[str, Any]] = []
    totals = {"input": 0, "output": 0, "cache_read": 0, "cache_creation": 0}
    cost = Decimal(0)
    breakdown = raw.get("model_breakdown")
    for item in breakdown if isinstance(breakdown, list) else []:
        item = _dict(item)
        tokens = _dict(item.get("tokens"))
        counts = {k: count(tokens.get(k), f"tokens.{k}", day) for k in totals}
        estimate = _dict(item.get("estimated_cost"))
        cents = parse_cents(estimate.get("amount", 0), "Claude Code cost estimate", day)
        for k, v in counts.items():
            totals[k] += v
        cost += cents
        models.append(
            {"model": _text(item.get("model")), **counts, "estimated_cost_cents": str(cents)}
        )
    # Each model's numbers are bounded; their sums must be too (they are what is stored).
    for k, v in totals.items():
        if v > MAX_COUNT:
            raise refused(f"tokens.{k} summed over models", v, day, "beyond any real count")
    if abs(cost) > MAX_CENTS:
        raise refused(
            "Claude Code cost estimate summed over models", cost, day, "beyond any real bill"
        )
    tool_accepted = sum(t["accepted"] for t in tools.values())
    tool_rejected = sum(t["rejected"] for t in tools.values())
    if max(tool_accepted, tool_rejected) > MAX_COUNT:
        raise refused(
            "tool actions summed over tools",
            max(tool_accepted, tool_rejected),
            day,
            "beyond any real count",
        )
    extra = {k: v for k, v in raw.items() if k not in CLAUDE_CODE_KNOWN}
    extra.update(
        {
            f"actor.{k}": v
            for k, v in actor.items()
            if k not in ("type", "email_address", "api_key_name")
        }
    )
    is_remote = raw.get("is_remote")
    return Record(
        day=day,
        dims={
            "actor_type": actor_type,
            "actor": _text(name),
            "customer_type": _text(raw.get("customer_type")),
            "subscription_type": _text(raw.get("subscription_type")),
            "terminal_type": _text(raw.get("terminal_type")),
            "is_remote": is_remote if isinstance(is_remote, bool) else None,
        },
        measures={
            "sessions": count(core.get("num_sessions"), "num_sessions", day),
            "lines_added": count(lines.get("added"), "lines_of_code.added", day),
            "lines_removed": count(lines.get("removed"), "lines_of_code.removed", day),
            "commits": count(core.get("commits_by_claude_code"), "commits_by_claude_code", day),
            "pull_requests": count(
                core.get("pull_requests_by_claude_code"), "pull_requests_by_claude_code", day
            ),
            "tool_accepted": tool_accepted,
            "tool_rejected": tool_rejected,
            "tool_actions": json.dumps(tools, sort_keys=True) if tools else None,
            "models": json.dumps(models, sort_keys=True) if models else None,
            "input_tokens": totals["input"],
            "output_tokens": totals["output"],
            "cache_read_tokens": totals["cache_read"],
            "cache_creation_tokens": totals["cache_creation"],
            "estimated_cost_cents": cost,
        },
        extra=extra,
        additive=(
            "sessions",
            "lines_added",
            "lines_removed",
            "commits",
            "pull_requests",
            "tool_accepted",
            "tool_rejected",
            "input_tokens",
            "output_tokens",
            "cache_read_tokens",
            "cache_creation_tokens",
            "estimated_cost_cents",
        ),
    )


# --- Per-key cost (Usage and Cost Analytics API, Console organizations) ---------------------

# Group fields stored as columns; any other non-null one is kept in ``extra`` (and the key).
_KEY_COST_DIMS = (
    "workspace_id",
    "api_key_id",
    "model",
    "service_tier",
    "cost_type",
    "token_type",
)
_KEY_COST_KNOWN = {"starting_at", "ending_at", "group", "cost"}
_COST_KNOWN = {"amount", "list_amount", "currency", "requests"}
# The actor object's ``type`` as the ``actor_type`` the export names (open: others kept as sent,
# without an ``_actor`` suffix).
_ACTOR_TYPES = {
    "user_actor": "user",
    "service_account_actor": "service_account",
    "api_key_actor": "api_key",
}
_ACTOR_IDS = ("user_id", "service_account_id", "api_key_id", "id")


def _actor_of(
    group: dict[str, Any], api_key_id: str | None
) -> tuple[Any, Any, Any, dict[str, Any]]:
    """(actor_type, actor_id, actor_name, the actor's unknown fields) of a row's group. A key
    without a principal is its own actor: with no actor given, a row with a key is the key's."""
    actor = group.get("actor")
    declared = _text(group.get("actor_type"))
    if isinstance(actor, dict):
        raw_type = _text(actor.get("type"))
        actor_type = _ACTOR_TYPES.get(raw_type or "") or declared
        if actor_type is None and raw_type:
            actor_type = raw_type.removesuffix("_actor")
        actor_id = next((actor[k] for k in _ACTOR_IDS if actor.get(k)), None)
        name = actor.get("name") or actor.get("email_address") or actor.get("email")
        known = {"type", "name", "email_address", "email", "deleted", *_ACTOR_IDS}
        unknown = {f"actor.{k}": v for k, v in actor.items() if k not in known}
        return actor_type, _text(actor_id), _text(name), unknown
    if isinstance(actor, str) and actor:  # an id instead of an object
        return declared or _type_of_id(actor), actor, None, {}
    if api_key_id is not None:
        return declared or "api_key", api_key_id, None, {}
    return declared, None, None, {}


def _type_of_id(actor_id: str) -> str | None:
    for prefix, kind in (("user_", "user"), ("svac_", "service_account"), ("apikey_", "api_key")):
        if actor_id.startswith(prefix):
            return kind
    return None


def parse_key_cost(raw: dict[str, Any]) -> Record:
    """One row of ``/analytics/cost`` grouped by ``KEY_COST_GROUP_BY`` with daily buckets.
    ``amount`` (post-discount, pre-credit) and ``list_amount`` are cents as a decimal string or
    a number; unknown group values, row fields and enum values are kept."""
    day = _day_of(raw.get("starting_at"), "per-key cost row")
    group = _dict(raw.get("group"))
    cost = _dict(raw.get("cost"))
    dims: dict[str, Any] = {name: _text(group.get(name)) for name in _KEY_COST_DIMS}
    actor_type, actor_id, actor_name, extra = _actor_of(group, dims["api_key_id"])
    dims["actor_type"] = actor_type
    dims["actor_id"] = actor_id
    handled = {*_KEY_COST_DIMS, "actor", "actor_type"}
    extra.update({k: v for k, v in group.items() if k not in handled and v is not None})
    extra.update({k: v for k, v in raw.items() if k not in _KEY_COST_KNOWN})
    extra.update({f"cost.{k}": v for k, v in cost.items() if k not in _COST_KNOWN})
    list_raw = cost.get("list_amount")
    return Record(
        day=day,
        dims=dims,
        measures={
            "actor_name": actor_name,
            "amount_cents": parse_cents(cost.get("amount"), "per-key cost amount", day),
            "list_amount_cents": (
                None if list_raw is None else parse_cents(list_raw, "per-key list amount", day)
            ),
            "requests": _optional_count(cost.get("requests"), "requests", day),
            "currency": _text(cost.get("currency")) or "USD",
        },
        extra=extra,
        additive=("amount_cents", "list_amount_cents", "requests"),
    )


_KEY_USAGE_DIMS = (
    "workspace_id",
    "api_key_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
_KEY_USAGE_KNOWN = {"starting_at", "ending_at", "group", "usage"}
_KEY_USAGE_TOTALS = {"total_tokens", "requests"}


def parse_key_usage(raw: dict[str, Any]) -> Record:
    """One row of ``/analytics/usage`` grouped by ``KEY_USAGE_GROUP_BY`` with daily buckets:
    the usage report's token fields (nested ``cache_creation`` and ``server_tool_use``) and a
    nullable ``requests``. ``uncached_input_tokens`` is UNCONFIRMED: where it is missing and
    ``total_tokens`` is sent, it is the total less the other input and output tokens."""
    day = _day_of(raw.get("starting_at"), "per-key usage row")
    group = _dict(raw.get("group"))
    usage = _dict(raw.get("usage"))
    parsed = parse_usage_result(day, {k: v for k, v in usage.items() if k not in _KEY_USAGE_TOTALS})
    tokens = dict(parsed.tokens)
    if usage.get("uncached_input_tokens") is None and usage.get("total_tokens") is not None:
        known = sum(v for k, v in tokens.items() if k != "web_search_requests")
        tokens["uncached_input_tokens"] = max(
            0, count(usage.get("total_tokens"), "total_tokens", day) - known
        )
    dims: dict[str, Any] = {name: _text(group.get(name)) for name in _KEY_USAGE_DIMS}
    actor_type, actor_id, actor_name, extra = _actor_of(group, dims["api_key_id"])
    dims["actor_type"] = actor_type
    dims["actor_id"] = actor_id
    handled = {*_KEY_USAGE_DIMS, "actor", "actor_type"}
    extra.update({k: v for k, v in group.items() if k not in handled and v is not None})
    extra.update({k: v for k, v in raw.items() if k not in _KEY_USAGE_KNOWN})
    extra.update({f"usage.{k}": v for k, v in parsed.extra.items()})
    return Record(
        day=day,
        dims=dims,
        measures={
            "actor_name": actor_name,
            **tokens,
            "requests": _optional_count(usage.get("requests"), "requests", day),
        },
        extra=extra,
        additive=(*tokens, "requests"),
    )


# --- Claude Enterprise per-user reports -----------------------------------------------------

_USER_KNOWN = {"actor", "starting_at", "ending_at", "data_refreshed_at"}


def _refreshed_at(raw: dict[str, Any]) -> datetime | None:
    """The page's ``data_refreshed_at`` (the data's "as of"), None when absent or unreadable:
    a watermark, never a reason to refuse the rows."""
    value = raw.get("data_refreshed_at")
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def _optional_count(value: Any, name: str, day: date) -> int | None:
    """A count that may be null (``requests`` when grouped by cost or token type)."""
    return None if value is None else count(value, name, day)


def _user_dims(raw: dict[str, Any]) -> dict[str, Any]:
    actor = _dict(raw.get("actor"))
    deleted = actor.get("deleted")
    return {
        "user_id": _text(actor.get("user_id") or actor.get("id")),
        "user_name": _text(actor.get("name")),
        # ``email_address`` (reference §14.11); ``email`` as older answers and guides spell it.
        "user_email": _text(actor.get("email_address") or actor.get("email")),
        "deleted": deleted if isinstance(deleted, bool) else None,
    }


def parse_user_cost(day: date, raw: dict[str, Any]) -> Record:
    """One seat user's cost (``amount``/``list_amount`` are decimal strings in cents)."""
    list_raw = raw.get("list_amount")
    # ``requests`` is a measure (null when grouped by cost or token type), never part of the
    # row's key (reference §14.9).
    known = _USER_KNOWN | {"amount", "list_amount", "currency", "requests"}
    return Record(
        day=day,
        dims=_user_dims(raw),
        measures={
            "amount_cents": parse_cents(raw.get("amount"), day=day),
            "list_amount_cents": (
                None if list_raw is None else parse_cents(list_raw, "list amount", day)
            ),
            "currency": _text(raw.get("currency")) or "USD",
            "requests": _optional_count(raw.get("requests"), "requests", day),
            "data_refreshed_at": _refreshed_at(raw),
        },
        extra={k: v for k, v in raw.items() if k not in known},
        additive=("amount_cents", "list_amount_cents", "requests"),
    )


def parse_user_usage(day: date, raw: dict[str, Any]) -> Record:
    """One seat user's token usage: the usage-report token fields plus totals and requests."""
    usage = parse_usage_result(day, {k: v for k, v in raw.items() if k not in _USER_KNOWN})
    known = {"total_tokens", "requests", "product", "model", "context_window", "inference_geo"}
    extra = {k: v for k, v in usage.extra.items() if k not in known}
    # Dimensions the per-user report may be grouped by are part of the key.
    extra.update({k: raw[k] for k in ("product", "model") if raw.get(k) is not None})
    return Record(
        day=day,
        dims=_user_dims(raw),
        measures={
            **usage.tokens,
            "total_tokens": count(raw.get("total_tokens"), "total_tokens", day),
            "requests": count(raw.get("requests"), "requests", day),
            "data_refreshed_at": _refreshed_at(raw),
        },
        extra=extra,
        additive=(*usage.tokens, "total_tokens", "requests"),
    )


def user_row_day(raw: dict[str, Any]) -> date | None:
    """The day a bucketed per-user row covers; None for a row that aggregates the whole range."""
    start = raw.get("starting_at")
    if not isinstance(start, str) or not start:
        return None
    try:
        return parse_rfc3339(start).date()
    except ValueError as exc:
        raise MalformedResponse(f"Anthropic returned a bad starting_at: {start[:40]!r}") from exc


# --- Claude Enterprise engagement summaries -------------------------------------------------

_SUMMARY_FIELDS = {
    "daily_active_user_count": "daily_active_users",
    "weekly_active_user_count": "weekly_active_users",
    "monthly_active_user_count": "monthly_active_users",
    "assigned_seat_count": "assigned_seats",
    "pending_invite_count": "pending_invites",
    "cowork_daily_active_user_count": "cowork_daily_active_users",
    "cowork_weekly_active_user_count": "cowork_weekly_active_users",
    "cowork_monthly_active_user_count": "cowork_monthly_active_users",
}
_RATES = ("daily_adoption_rate", "weekly_adoption_rate", "monthly_adoption_rate")


def _rate(value: Any) -> float | None:
    """An adoption rate, or None (unknown) for anything that cannot be one: NaN, infinities,
    negatives, or past 100 (the reference does not say whether rates are fractions or
    percentages, so both are kept; a chart of 1e300 % would hide every real day)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        rate = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return rate if math.isfinite(rate) and 0 <= rate <= 100 else None


def parse_summary(raw: dict[str, Any]) -> Record:
    """One day of engagement: active users, adoption rates, seats."""
    day = _day_of(raw.get("starting_at") or raw.get("date"), "engagement summary")
    measures: dict[str, Any] = {
        column: None if raw.get(name) is None else count(raw.get(name), name, day)
        for name, column in _SUMMARY_FIELDS.items()
    }
    measures.update({name: _rate(raw.get(name)) for name in _RATES})
    known = {*_SUMMARY_FIELDS, *_RATES, "starting_at", "ending_at", "date"}
    return Record(
        day=day,
        dims={},
        measures=measures,
        extra={k: v for k, v in raw.items() if k not in known},
    )
