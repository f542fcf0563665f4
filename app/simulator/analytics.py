"""The Claude Enterprise Analytics API routes (reference §7), served from ``EnterpriseWorld``.

Cost and usage (``usage_report``, ``cost_report``, ``user_usage_report``,
``user_cost_report``) and engagement (``summaries``, ``users``). Authentication, the rate
limit and faults are in ``api``; this module validates parameters and builds bodies.

Choices where the reference is silent or loose:

- "Now" is the start of the simulator's ``today``: ``starting_at`` must be before it,
  ``ending_at`` may be at most it, and the default ``ending_at`` is
  min(today's midnight, ``starting_at`` + 31 days). The span check uses the requested
  ``starting_at``; buckets start at ``starting_at`` ceiled to the bucket width, as in the
  Console reports, and sub-day buckets get all of a day's usage in the one at 00:00.
- ``bucket_width`` is 1d, 1h or 1m (limits 7/31, 24/168, 60/256) on the organization reports,
  and the same three, optional, on the per-user reports, whose rows then carry
  ``starting_at``/``ending_at`` (null without a bucket width). Without a bucket width a
  per-user row covers every day whose midnight is in [starting_at, ending_at).
- Cursors are tied to the query (every parameter but ``page`` and ``limit``): reusing one with
  another query is a 400. A data refresh (``Simulator.revise_enterprise``) expires the cursors
  handed out before it: 410, as does the ``expire_cursor`` fault.
- Dimension fields are always present in result rows, null unless grouped by. Per bucket,
  results are ordered by amount (cost) or total tokens (usage), largest first, and only the
  top 100 are returned.
- ``/summaries`` answers ``{"data": [...], "next_page": null}`` (plus the deprecated
  ``summaries`` alias while ``World.legacy_fields``) without paging; the latest available day is
  today - 3, so ``ending_date`` (exclusive) may be at most today - 2, its default.
- ``/users`` takes ``date`` or ``starting_date`` (+ optional ``ending_date``) under the same
  rules, ``limit`` 1..1000 (default 100, per the 2026 API reference), ``group_by[]`` only
  ``rbac_group_id``; ``filter[]``, ``order_by`` and ``order`` are accepted and ignored.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.simulator.common import (
    CURSOR_EXPIRED,
    INVALID_RANGE,
    ApiError,
    Params,
    cursor_fields,
    decode_cursor,
    every,
    fingerprint,
    offset_page,
    one,
    parse_bool,
    parse_date,
    parse_limit,
    parse_time,
)
from app.simulator.enterprise import (
    ANALYTICS_START,
    COST_DIMENSIONS,
    DIMENSIONS,
    TOKEN_FIELDS,
    EnterpriseWorld,
    SimEnterpriseOrg,
    add_requests,
    midnight,
)
from app.simulator.world import _fmt

WIDTHS = {"1d": timedelta(days=1), "1h": timedelta(hours=1), "1m": timedelta(minutes=1)}
LIMITS = {"1d": (7, 31), "1h": (24, 168), "1m": (60, 256)}  # (default, max) buckets per page
MAX_SPAN = timedelta(days=31)
MAX_LOOKBACK = timedelta(days=365)
MAX_FILTER_VALUES = 100
TOP_GROUPS = 100
USER_LIMITS = (20, 1000)
USERS_LIMITS = (100, 1000)
SUMMARY_MAX_DAYS = 366
FILTERS = {
    "products[]": "product",
    "models[]": "model",
    "user_ids[]": "user_id",
    "context_windows[]": "context_window",  # plural here, unlike the Console usage report
    "inference_geos[]": "inference_geo",
    "speeds[]": "speed",
    "rbac_group_ids[]": "rbac_group_id",
    "slack_channel_ids[]": "slack_channel_id",
}
USAGE_ORDER = ("total_tokens", "output_tokens", "uncached_input_tokens")
COST_ORDER = ("amount", "list_amount")
OTHER_QUERY = (
    "page: this page token belongs to a different query; keep every parameter the same across pages"
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


# --- shared parameters ---------------------------------------------------------------------------


def _range(ent: EnterpriseWorld, params: Params) -> tuple[datetime, datetime]:
    """The requested [starting_at, ending_at) of a cost/usage endpoint, validated."""
    text = one(params, "starting_at", "")
    if not text:
        raise ApiError(400, "starting_at: Field required")
    start = parse_time(text, "starting_at")
    now = midnight(ent.today)
    if start < midnight(ANALYTICS_START):
        raise ApiError(400, "starting_at: no data is available before 2026-01-01T00:00:00Z")
    if start < now - MAX_LOOKBACK:
        raise ApiError(400, "starting_at: must be within the last 365 days")
    if start >= now:
        raise ApiError(400, "starting_at: must be before the current UTC day")
    end_text = one(params, "ending_at", "")
    if not end_text:
        return start, min(now, start + MAX_SPAN)
    end = parse_time(end_text, "ending_at")
    if end <= start:
        raise ApiError(400, INVALID_RANGE)
    if end > now:
        raise ApiError(400, "ending_at: must not be later than the start of the current UTC day")
    if end - start > MAX_SPAN:
        raise ApiError(400, "Invalid date range: a query may span at most 31 days")
    return start, end


def _width(params: Params, *, required: bool) -> str | None:
    name = one(params, "bucket_width", "1d" if required else "")
    if not name and not required:
        return None
    if name not in WIDTHS:
        raise ApiError(400, "bucket_width: Input should be '1d', '1h' or '1m'")
    return name


def _groups(params: Params, allowed: tuple[str, ...]) -> list[str]:
    groups: list[str] = []
    for value in every(params, "group_by[]"):
        if value not in allowed:
            raise ApiError(400, f"group_by[]: Input should be {', '.join(map(repr, allowed))}")
        if value not in groups:
            groups.append(value)
    return groups


def _filters(params: Params) -> dict[str, set[str]]:
    filters: dict[str, set[str]] = {}
    for name, dimension in FILTERS.items():
        values = every(params, name)
        if len(values) > MAX_FILTER_VALUES:
            raise ApiError(400, f"{name}: at most {MAX_FILTER_VALUES} values are allowed")
        if values:
            filters[dimension] = set(values)
    return filters


def _passes(key: tuple[Any, ...], fields: tuple[str, ...], filters: dict[str, set[str]]) -> bool:
    """Whether a finest-grain key (user_id, *fields) passes every filter."""
    for dimension, allowed in filters.items():
        value = key[0] if dimension == "user_id" else key[1 + fields.index(dimension)]
        if value not in allowed:
            return False
    return True


def _cursor_check(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, query: str
) -> Callable[[dict[str, Any]], None]:
    def check(state: dict[str, Any]) -> None:
        if state.get("q") != query:
            raise ApiError(400, OTHER_QUERY)
        if state.get("g") != ent.refresh_count(org.id):
            raise ApiError(410, CURSOR_EXPIRED)

    return check


def _money(value: Decimal) -> str:
    """Cents as a decimal string with exactly six decimals, e.g. ``"41280.000000"``."""
    return format(value.quantize(Decimal("0.000001")), "f")


def _ceil(moment: datetime, width: timedelta) -> datetime:
    return _EPOCH + -((_EPOCH - moment) // width) * width


def _day_of_bucket(start: datetime) -> date | None:
    """The day whose usage lands in this bucket: all of it is in the bucket at 00:00."""
    return start.date() if start.hour == 0 and start.minute == 0 else None


# --- organization reports ------------------------------------------------------------------------


def usage_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    return _org_report(ent, org, params, fault, cost=False)


def cost_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    return _org_report(ent, org, params, fault, cost=True)


def _org_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None, *, cost: bool
) -> dict[str, Any]:
    start, end = _range(ent, params)
    width_name = _width(params, required=True)
    assert width_name is not None
    width = WIDTHS[width_name]
    limit = parse_limit(params, *LIMITS[width_name])
    fields = COST_DIMENSIONS if cost else DIMENSIONS
    groups = _groups(params, fields)
    filters = _filters(params)
    first = _ceil(start, width)
    if first + width > end:
        raise ApiError(400, INVALID_RANGE)
    query, generation = fingerprint(params), ent.refresh_count(org.id)
    incoming = one(params, "page", "")
    cursor, loop = first, False
    if incoming:
        state = decode_cursor(incoming)
        _cursor_check(ent, org, query)(state)
        try:
            cursor = parse_time(str(state.get("t")), "page")
        except ApiError:
            raise ApiError(400, "page: invalid page token") from None
        loop = state.get("loop") is True
    data: list[dict[str, Any]] = []
    while cursor + width <= end and len(data) < limit:
        day = _day_of_bucket(cursor)
        results = _bucket_results(ent, org, day, groups, filters, cost) if day else []
        data.append(
            {"starting_at": _fmt(cursor), "ending_at": _fmt(cursor + width), "results": results}
        )
        cursor += width
    scope = {"q": query, "g": generation}
    next_state = {**scope, "t": _fmt(cursor)} if cursor + width <= end else None
    return {
        "data": data,
        **cursor_fields(incoming, loop, next_state, {**scope, "t": _fmt(first)}, fault),
        "data_refreshed_at": _fmt(ent.refreshed_at(org.id)),
    }


def _bucket_results(
    ent: EnterpriseWorld,
    org: SimEnterpriseOrg,
    day: date,
    groups: list[str],
    filters: dict[str, set[str]],
    cost: bool,
) -> list[dict[str, Any]]:
    if cost:
        money: dict[tuple[Any, ...], list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 2)
        for key, amount, listed in ent.cost_pieces(org.id, day):
            if _passes(key, COST_DIMENSIONS, filters):
                acc = money[_group_key(key, COST_DIMENSIONS, groups)]
                acc[0] += amount
                acc[1] += listed
        ranked = sorted(money.items(), key=lambda item: (-item[1][0], repr(item[0])))
        return [
            _cost_json(groups, group, amounts[0], amounts[1])
            for group, amounts in ranked[:TOP_GROUPS]
        ]
    counts: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0] * 7)
    for key, values in ent.rows(org.id, day).items():
        if _passes(key, DIMENSIONS, filters):
            sums = counts[_group_key(key, DIMENSIONS, groups)]
            for i, value in enumerate(values):
                sums[i] += value
    ranked_usage = sorted(counts.items(), key=lambda item: (-sum(item[1][:5]), repr(item[0])))
    return [_usage_json(groups, group, values) for group, values in ranked_usage[:TOP_GROUPS]]


def _group_key(key: tuple[Any, ...], fields: tuple[str, ...], groups: list[str]) -> tuple[Any, ...]:
    return tuple(key[1 + fields.index(g)] for g in groups)


def _dims(fields: tuple[str, ...], groups: list[str], group: tuple[Any, ...]) -> dict[str, Any]:
    return {f: group[groups.index(f)] if f in groups else None for f in fields}


def _usage_json(groups: list[str], group: tuple[Any, ...], c: list[int]) -> dict[str, Any]:
    return {**_token_json(c), "requests": c[6], **_dims(DIMENSIONS, groups, group)}


def _token_json(c: list[int]) -> dict[str, Any]:
    return {
        "uncached_input_tokens": c[0],
        "cache_creation": {"ephemeral_1h_input_tokens": c[2], "ephemeral_5m_input_tokens": c[1]},
        "cache_read_input_tokens": c[3],
        "output_tokens": c[4],
        "server_tool_use": {"web_search_requests": c[5]},
    }


def _cost_json(
    groups: list[str], group: tuple[Any, ...], amount: Decimal, listed: Decimal
) -> dict[str, Any]:
    return {
        "amount": _money(amount),
        "list_amount": _money(listed),
        "currency": "USD",
        **_dims(COST_DIMENSIONS, groups, group),
    }


# --- per-user reports ----------------------------------------------------------------------------


def user_usage_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    return _user_report(ent, org, params, fault, cost=False)


def user_cost_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    return _user_report(ent, org, params, fault, cost=True)


def _user_report(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None, *, cost: bool
) -> dict[str, Any]:
    start, end = _range(ent, params)
    width_name = _width(params, required=False)
    parse_limit(params, *USER_LIMITS)  # validated before any work; paged below
    fields = COST_DIMENSIONS if cost else DIMENSIONS
    groups = _groups(params, fields)
    filters = _filters(params)
    orders = COST_ORDER if cost else USAGE_ORDER
    order_by = one(params, "order_by", orders[0])
    if order_by not in orders:
        raise ApiError(400, f"order_by: Input should be {', '.join(map(repr, orders))}")
    order = one(params, "order", "desc")
    if order not in ("asc", "desc"):
        raise ApiError(400, "order: Input should be 'asc' or 'desc'")
    exclude_deleted = parse_bool(params, "exclude_deleted_users")
    users = {u.id: u for u in org.users}

    # (bucket start or None, user id, group) -> sums
    width = WIDTHS[width_name] if width_name else None
    days: list[tuple[date, datetime | None]] = []
    day = start.date()
    while midnight(day) < end:
        moment = midnight(day)
        if width is None:
            if moment >= start:
                days.append((day, None))
        elif moment >= _ceil(start, width) and moment + width <= end:
            days.append((day, moment))
        day += timedelta(days=1)
    sums: dict[tuple[Any, ...], list[Any]] = {}
    for day, bucket in days:
        if cost:
            for key, amount, listed in ent.cost_pieces(org.id, day):
                if key[0] is None or not _passes(key, COST_DIMENSIONS, filters):
                    continue
                if exclude_deleted and users[key[0]].deleted:
                    continue
                acc = sums.setdefault(
                    (bucket, key[0], _group_key(key, COST_DIMENSIONS, groups)),
                    [Decimal(0), Decimal(0)],
                )
                acc[0] += amount
                acc[1] += listed
        else:
            for key, values in ent.rows(org.id, day).items():
                if key[0] is None or not _passes(key, DIMENSIONS, filters):
                    continue
                if exclude_deleted and users[key[0]].deleted:
                    continue
                acc = sums.setdefault(
                    (bucket, key[0], _group_key(key, DIMENSIONS, groups)), [0] * 7
                )
                for i, value in enumerate(values):
                    acc[i] += value

    def metric(values: list[Any]) -> Any:
        if cost:
            return values[COST_ORDER.index(order_by)]
        if order_by == "total_tokens":
            return sum(values[:5])
        return values[TOKEN_FIELDS.index(order_by)]

    sign = -1 if order == "desc" else 1
    ranked = sorted(
        sums.items(),
        key=lambda item: (
            item[0][0] or _EPOCH,
            sign * metric(item[1]),
            item[0][1],
            repr(item[0][2]),
        ),
    )
    if cost:  # each row's request count (null when split by cost or token type)
        add_requests(ent, org.id, days, sums, groups, filters)
    legacy = ent.world.legacy_fields
    rows = [
        _user_row(users[user_id], bucket, width, groups, group, values, cost, legacy)
        for (bucket, user_id, group), values in ranked
    ]
    query = fingerprint(params)
    body = offset_page(
        rows,
        params,
        fault,
        default_limit=USER_LIMITS[0],
        max_limit=USER_LIMITS[1],
        scope={"q": query, "g": ent.refresh_count(org.id)},
        check=_cursor_check(ent, org, query),
    )
    body["data_refreshed_at"] = _fmt(ent.refreshed_at(org.id))
    return body


def _user_row(
    user: Any,
    bucket: datetime | None,
    width: timedelta | None,
    groups: list[str],
    group: tuple[Any, ...],
    values: list[Any],
    cost: bool,
    legacy: bool = True,
) -> dict[str, Any]:
    actor = {"type": "user_actor", "user_id": user.id, "name": user.name, "deleted": user.deleted}
    # ``email_address`` (reference §14.11); ``email``, the old spelling, while ``legacy``.
    actor |= {"email_address": user.email} | ({"email": user.email} if legacy else {})
    row: dict[str, Any] = {
        "actor": actor,
        "starting_at": _fmt(bucket) if bucket else None,
        "ending_at": _fmt(bucket + width) if bucket and width else None,
    }
    if cost:
        row |= {"amount": _money(values[0]), "list_amount": _money(values[1]), "currency": "USD"}
        # A count, null when grouped by cost or token type (reference §14.9).
        row["requests"] = values[2] if len(values) > 2 else None
        row |= _dims(COST_DIMENSIONS, groups, group)
    else:
        row |= _token_json(values)
        row |= {"total_tokens": sum(values[:5]), "requests": values[6]}
        row |= _dims(DIMENSIONS, groups, group)
    return row


# --- engagement ----------------------------------------------------------------------------------


def _latest_day(ent: EnterpriseWorld) -> date:
    """The latest day engagement data is available for (a 3-day lag)."""
    return ent.today - timedelta(days=3)


def _engagement_range(ent: EnterpriseWorld, params: Params) -> tuple[date, date]:
    """[starting_date, ending_date) of an engagement endpoint, validated."""
    text = one(params, "starting_date", "")
    if not text:
        raise ApiError(400, "starting_date: Field required")
    start = parse_date(text, "starting_date")
    latest = _latest_day(ent)
    if start < ANALYTICS_START:
        raise ApiError(400, "starting_date: no data is available before 2026-01-01")
    if start > latest:
        raise ApiError(
            400,
            f"starting_date: must be at least 3 days ago; the latest available day is "
            f"{latest.isoformat()}",
        )
    end_text = one(params, "ending_date", "")
    end = parse_date(end_text, "ending_date") if end_text else latest + timedelta(days=1)
    if end > latest + timedelta(days=1):
        raise ApiError(
            400,
            f"ending_date: data is not available yet; the latest available day is "
            f"{latest.isoformat()} (ending_date is exclusive: at most "
            f"{(latest + timedelta(days=1)).isoformat()})",
        )
    if end <= start:
        raise ApiError(400, "Invalid date range: ending_date must be after starting_date")
    if (end - start).days > SUMMARY_MAX_DAYS:
        raise ApiError(400, f"Invalid date range: at most {SUMMARY_MAX_DAYS} days")
    return start, end


def summaries(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, _fault: str | None
) -> dict[str, Any]:
    start, end = _engagement_range(ent, params)
    days = [start + timedelta(days=n) for n in range((end - start).days)]
    items = [ent.summary(org.id, day) for day in days]
    # ``data``, the envelope of the other analytics lists; ``summaries`` is its deprecated
    # alias, still sent while the world emits the old forms (reference §14.8).
    body: dict[str, Any] = {"data": items, "next_page": None}
    if ent.world.legacy_fields:
        body["summaries"] = items
    return body


def users(
    ent: EnterpriseWorld, org: SimEnterpriseOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    one_day = one(params, "date", "")
    if one_day and (one(params, "starting_date", "") or one(params, "ending_date", "")):
        raise ApiError(400, "Specify either date or starting_date/ending_date, not both.")
    if one_day:
        day = parse_date(one_day, "date")
        latest = _latest_day(ent)
        if day < ANALYTICS_START:
            raise ApiError(400, "date: no data is available before 2026-01-01")
        if day > latest:
            raise ApiError(
                400,
                f"date: data is not available yet; the latest available day is "
                f"{latest.isoformat()}",
            )
        start, end = day, day + timedelta(days=1)
    elif one(params, "starting_date", ""):
        start, end = _engagement_range(ent, params)
    else:
        raise ApiError(400, "date or starting_date is required")
    groups = _groups(params, ("rbac_group_id",))
    parse_limit(params, *USERS_LIMITS)
    totals: dict[str, dict[str, int]] = {}
    for n in range((end - start).days):
        for user_id, counters in ent.engagement(org.id, start + timedelta(days=n)).items():
            acc = totals.setdefault(user_id, defaultdict(int))
            for name, value in counters.items():
                acc[name] += value
    by_id = {u.id: u for u in org.users}
    rows = [
        _engagement_json(by_id[user_id], totals[user_id], groups)
        for user_id in sorted(totals, key=lambda i: (by_id[i].email, i))
    ]
    return offset_page(
        rows,
        params,
        fault,
        default_limit=USERS_LIMITS[0],
        max_limit=USERS_LIMITS[1],
        scope={"q": fingerprint(params)},
    )


def _engagement_json(user: Any, c: dict[str, int], groups: list[str]) -> dict[str, Any]:
    def tool(name: str) -> dict[str, int]:
        return {
            "accepted_count": c[f"{name}_accepted"],
            "rejected_count": c[f"{name}_rejected"],
        }

    row: dict[str, Any] = {
        "user": {"id": user.id, "email_address": user.email},
        "chat_metrics": {
            name: c[name]
            for name in (
                "distinct_conversation_count",
                "message_count",
                "distinct_projects_created_count",
                "distinct_projects_used_count",
                "distinct_files_uploaded_count",
                "distinct_artifacts_created_count",
                "distinct_shared_artifacts_viewed_count",
                "thinking_message_count",
                "distinct_skills_used_count",
                "connectors_used_count",
                "shared_conversations_viewed_count",
            )
        },
        "claude_code_metrics": {
            "core_metrics": {
                "commit_count": c["commit_count"],
                "pull_request_count": c["pull_request_count"],
                "lines_of_code": {
                    "added_count": c["added_count"],
                    "removed_count": c["removed_count"],
                },
                "distinct_session_count": c["distinct_session_count"],
            },
            "tool_actions": {
                f"{name}_tool": tool(f"{name}_tool")
                for name in ("edit", "multi_edit", "write", "notebook_edit")
            },
        },
        "office_metrics": {
            app: {"distinct_session_count": c[app]}
            for app in ("excel", "powerpoint", "word", "outlook")
        },
        "cowork_metrics": {"distinct_session_count": c["cowork_sessions"]},
        "web_search_count": c["web_search_count"],
    }
    if "rbac_group_id" in groups:
        row["rbac_group_id"] = user.rbac_group_id
    return row
