"""Property tests of the report parsers: exact amounts, open enums, junk refused loudly."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.anthropic.errors import MalformedResponse
from app.anthropic.schemas import parse_cost_result, parse_page, parse_usage_result
from app.services.export import cents_to_usd

DAY = date(2026, 11, 1)
cents = st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e12"), places=6,
                    allow_nan=False, allow_infinity=False)  # fmt: skip
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


@given(tier=text_or_none, model=text_or_none, extra=st.dictionaries(
    st.text(min_size=1, max_size=10).filter(lambda k: k not in _KNOWN), st.integers() | st.text(max_size=5),
    max_size=3))  # fmt: skip
def test_unknown_values_and_fields_are_kept(tier: str | None, model: str | None,
                                            extra: dict[str, object]) -> None:  # fmt: skip
    row = parse_usage_result(
        DAY, {"service_tier": tier, "model": model, "output_tokens": 5, **extra}
    )
    assert row.dims["service_tier"] == tier and row.dims["model"] == model
    assert row.extra == extra
    assert row.tokens["output_tokens"] == 5 and row.tokens["uncached_input_tokens"] == 0


_KNOWN = {"service_tier", "model", "output_tokens", "uncached_input_tokens", "cache_creation",
          "cache_read_input_tokens", "server_tool_use", "api_key_id", "workspace_id",
          "context_window", "inference_geo"}  # fmt: skip


@given(count=st.one_of(st.floats(allow_nan=True), st.text(max_size=5), st.booleans()))
def test_non_integer_token_counts_are_refused(count: object) -> None:
    if isinstance(count, float) and count.is_integer():
        return
    if isinstance(count, str) and _is_number(count) and Decimal(count) == int(Decimal(count)):
        return
    with pytest.raises(MalformedResponse):
        parse_usage_result(DAY, {"output_tokens": count})


# Naive bounds on purpose: the offset is appended to the text below.
NAIVE_MIN, NAIVE_MAX = datetime(2020, 1, 1), datetime(2030, 1, 1)  # noqa: DTZ001


@given(start=st.datetimes(min_value=NAIVE_MIN, max_value=NAIVE_MAX),
       offset=st.sampled_from(["Z", "+00:00", "+02:00", "-05:30"]))  # fmt: skip
def test_bucket_timestamps_in_any_offset_land_on_the_utc_day(start: datetime, offset: str) -> None:
    text = start.strftime("%Y-%m-%dT%H:%M:%S") + offset
    page = parse_page({"data": [{"starting_at": text, "ending_at": text, "results": []}],
                       "has_more": False, "next_page": None})  # fmt: skip
    sign = -1 if offset.startswith("-") else 1
    hours, minutes = (0, 0) if offset == "Z" else map(int, offset[1:].split(":"))
    whole = start.replace(microsecond=0)
    expected = (whole - sign * timedelta(hours=hours, minutes=minutes)).replace(tzinfo=UTC)
    assert page.buckets[0].starting_at == expected


@given(body=st.one_of(st.none(), st.integers(), st.text(max_size=10), st.lists(st.integers()),
                      st.fixed_dictionaries({"data": st.text(max_size=5)})))  # fmt: skip
def test_pages_of_the_wrong_shape_are_refused(body: object) -> None:
    with pytest.raises(MalformedResponse):
        parse_page(body)
