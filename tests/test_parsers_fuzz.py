"""Property tests of the report parsers: exact amounts, open enums, junk refused loudly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from app.anthropic.errors import MalformedResponse, RefusedPage
from app.anthropic.records import (
    parse_claude_code_record,
    parse_summary,
    parse_user_cost,
    parse_user_usage,
)
from app.anthropic.schemas import (
    MAX_CENTS,
    MAX_COUNT,
    parse_cost_result,
    parse_page,
    parse_usage_result,
)
from app.reports.export import cents_to_usd

DAY = date(2026, 11, 1)
# Every amount a real bill can have, credits (negative) included: up to $100M a line a day.
cents = st.decimals(
    min_value=-MAX_CENTS, max_value=MAX_CENTS, places=6, allow_nan=False, allow_infinity=False
)
text_or_none = st.none() | st.text(max_size=40)


@given(amount=cents)
def test_amount_strings_parse_exactly_and_export_as_exact_dollars(amount: Decimal) -> None:
    row = parse_cost_result(DAY, {"amount": format(amount, "f"), "currency": "USD"})
    assert row.amount_cents == amount
    assert Decimal(cents_to_usd(row.amount_cents)) * 100 == amount


@given(junk=st.text(max_size=20).filter(lambda t: not _is_number(t)))
def test_non_numeric_amounts_are_refused_not_zeroed(junk: str) -> None:
    with pytest.raises(MalformedResponse):
        parse_cost_result(DAY, {"amount": junk, "currency": "USD"})


def _is_number(text: str) -> bool:
    try:
        return Decimal(text.strip()).is_finite()
    except ArithmeticError:
        return False


@given(
    tier=text_or_none,
    model=text_or_none,
    extra=st.dictionaries(
        st.text(min_size=1, max_size=10).filter(lambda k: k not in _KNOWN),
        st.integers() | st.text(max_size=5),
        max_size=3,
    ),
)
def test_unknown_values_and_fields_are_kept(
    tier: str | None, model: str | None, extra: dict[str, object]
) -> None:
    row = parse_usage_result(
        DAY, {"service_tier": tier, "model": model, "output_tokens": 5, **extra}
    )
    assert row.dims["service_tier"] == tier and row.dims["model"] == model
    assert row.extra == extra
    assert row.tokens["output_tokens"] == 5 and row.tokens["uncached_input_tokens"] == 0


_KNOWN = {
    "service_tier",
    "model",
    "output_tokens",
    "uncached_input_tokens",
    "cache_creation",
    "cache_read_input_tokens",
    "server_tool_use",
    "api_key_id",
    "workspace_id",
    "context_window",
    "inference_geo",
}


def _whole_number(value: object) -> int | None:
    """The whole number a float or a text spells (5.0, "12", " 1e3"), else None (a bool is
    not a number here)."""
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str) and _is_number(value):
        number = Decimal(value.strip())
        return int(number) if number == number.to_integral_value() else None
    return None


@given(count=st.one_of(st.floats(allow_nan=True), st.text(max_size=5), st.booleans()))
@example(count=5.0)
@example(count=" 12")
@example(count="1e3")
@example(count=-3.0)
@example(count=1e30)
def test_token_counts_are_kept_when_whole_and_refused_otherwise(count: object) -> None:
    whole = _whole_number(count)
    if whole is None:
        # Not a whole number: refused as malformed (not as an out-of-range value), naming it.
        with pytest.raises(MalformedResponse) as caught:
            parse_usage_result(DAY, {"output_tokens": count})
        assert type(caught.value) is MalformedResponse
        assert "output_tokens" in str(caught.value)
    elif 0 <= whole <= MAX_COUNT:
        # A whole number written as a float or a text is that number, exactly.
        assert parse_usage_result(DAY, {"output_tokens": count}).tokens["output_tokens"] == whole
    else:
        with pytest.raises(RefusedPage) as refused:
            parse_usage_result(DAY, {"output_tokens": count})
        assert "output_tokens" in str(refused.value) and DAY.isoformat() in str(refused.value)


# Naive bounds on purpose: the offset is appended to the text below.
NAIVE_MIN, NAIVE_MAX = datetime(2020, 1, 1), datetime(2030, 1, 1)  # noqa: DTZ001


@given(
    start=st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX),
    offset=st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"]),
)
def test_bucket_timestamps_in_any_offset_land_on_the_utc_day(start: datetime, offset: str) -> None:
    text = start.strftime("%Y-%m-%dT%H:%M:%S") + offset
    page = parse_page(
        {
            "data": [{"starting_at": text, "ending_at": text, "results": []}],
            "has_more": False,
            "next_page": None,
        }
    )
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = (0, 0) if offset == "Z" else map(int, offset[1:].split(":"))
    whole = start.replace(microsecond=0)
    expected = (whole - sign * timedelta(hours=hours, minutes=minutes)).replace(tzinfo=UTC)
    assert page.buckets[0].starting_at == expected


@given(
    body=st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=10),
        st.lists(st.integers()),
        st.fixed_dictionaries({"data": st.text(max_size=5)}),
    )
)
def test_pages_of_the_wrong_shape_are_refused(body: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_page(body)


# --- poison values: refused, naming the field, the value and the day (issue 12, point 8) ---

too_big_cents = st.decimals(
    min_value=MAX_CENTS + Decimal("0.000001"), allow_nan=False, allow_infinity=False, places=6
) | st.sampled_from(["1e30", "-1e30", "9" * 40, "1E+999999", 1e30, -(10**25)])


@given(amount=too_big_cents, sign=st.sampled_from([1, -1]))
def test_amounts_beyond_any_real_bill_are_refused(amount: object, sign: int) -> None:
    if isinstance(amount, Decimal):
        amount = format(amount * sign, "f")
    with pytest.raises(RefusedPage) as caught:
        parse_cost_result(DAY, {"amount": amount, "currency": "USD"})
    message = str(caught.value)
    assert "cost amount" in message and DAY.isoformat() in message
    assert str(amount).strip()[:20] in message and "nothing of it was stored" in message
    assert not caught.value.retryable


bad_counts = (
    st.integers(min_value=MAX_COUNT + 1)
    | st.integers(max_value=-1)
    | st.sampled_from([2**63, 2**64, -5, 1e30, "-5", "18446744073709551616", -1.0])
)


@given(
    value=bad_counts,
    field=st.sampled_from(["output_tokens", "uncached_input_tokens", "cache_read_input_tokens"]),
)
def test_token_counts_beyond_64_bits_or_negative_are_refused(value: object, field: str) -> None:
    with pytest.raises(RefusedPage) as caught:
        parse_usage_result(DAY, {field: value})
    message = str(caught.value)
    assert field in message and DAY.isoformat() in message
    assert ("negative" in message) == (Decimal(str(value)) < 0)


@given(value=st.integers(min_value=0, max_value=MAX_COUNT))
def test_every_real_count_is_kept_exactly(value: int) -> None:
    assert parse_usage_result(DAY, {"output_tokens": value}).tokens["output_tokens"] == value


def test_a_bucket_repeated_within_a_page_is_refused_not_summed() -> None:
    bucket = {
        "starting_at": "2026-11-01T00:00:00Z",
        "ending_at": "2026-11-02T00:00:00Z",
        "results": [{"amount": "5", "currency": "USD"}],
    }
    with pytest.raises(RefusedPage, match="2026-11-01.*twice"):
        parse_page({"data": [bucket, dict(bucket)], "has_more": False, "next_page": None})


def claude_code(
    tokens: dict[str, object], cost: object = "10", **core: object
) -> dict[str, object]:
    return {
        "date": DAY.isoformat(),
        "actor": {"type": "user_actor", "email_address": "a@example.com"},
        "core_metrics": {"num_sessions": 1, **core},
        "model_breakdown": [{"model": "m", "tokens": tokens, "estimated_cost": {"amount": cost}}],
    }


@pytest.mark.parametrize(
    ("record", "named"),
    [
        (claude_code({"output": 2**64}), "tokens.output"),
        (claude_code({"input": -5}), "tokens.input"),
        (claude_code({"input": 1}, cost="1e30"), "Claude Code cost estimate"),
        (claude_code({"input": 1}, num_sessions=-1), "num_sessions"),
    ],
)
def test_claude_code_records_with_poison_values_are_refused(record: dict, named: str) -> None:
    with pytest.raises(RefusedPage) as caught:
        parse_claude_code_record(record)
    assert named in str(caught.value) and DAY.isoformat() in str(caught.value)


def test_claude_code_tokens_summed_over_models_are_bounded_too() -> None:
    record = claude_code({"output": MAX_COUNT})
    record["model_breakdown"] = record["model_breakdown"] * 3  # type: ignore[operator]
    with pytest.raises(RefusedPage, match="summed over models"):
        parse_claude_code_record(record)


def test_enterprise_records_with_poison_values_are_refused() -> None:
    actor = {"actor": {"user_id": "u1", "email": "u@example.com"}}
    with pytest.raises(RefusedPage, match="cost amount '1e30' for 2026-11-01"):
        parse_user_cost(DAY, {**actor, "amount": "1e30"})
    with pytest.raises(RefusedPage, match="requests '-5' for 2026-11-01"):
        parse_user_usage(DAY, {**actor, "requests": -5})
    with pytest.raises(RefusedPage, match="daily_active_user_count"):
        parse_summary({"starting_at": "2026-11-01T00:00:00Z", "daily_active_user_count": 2**64})
    # A credit within range is a real line.
    assert parse_user_cost(DAY, {**actor, "amount": "-250.5"}).measures["amount_cents"] < 0
