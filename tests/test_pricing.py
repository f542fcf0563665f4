"""The price table against hand-computed values from the pricing page (reference §9)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.simulator.pricing import estimate_usd, price_for

M = 1_000_000


def test_one_million_output_tokens_of_opus_4_6_cost_25_dollars() -> None:
    assert estimate_usd("claude-opus-4-6", output_tokens=M) == Decimal(25)


@pytest.mark.parametrize(
    ("model", "input_usd", "write_5m_usd"),
    [("claude-opus-4-6", "5", "6.25"), ("claude-haiku-4-5-20251001", "1", "1.25")],
)
def test_a_five_minute_cache_write_costs_a_quarter_more_than_input(
    model: str, input_usd: str, write_5m_usd: str
) -> None:
    assert estimate_usd(model, uncached_input_tokens=M) == Decimal(input_usd)
    assert estimate_usd(model, cache_creation_5m_input_tokens=M) == Decimal(write_5m_usd)
    assert Decimal(write_5m_usd) == Decimal(input_usd) * Decimal("1.25")


def test_batch_halves_input_and_output() -> None:
    standard = estimate_usd("claude-sonnet-4-5", uncached_input_tokens=M, output_tokens=M)
    batch = estimate_usd(
        "claude-sonnet-4-5", uncached_input_tokens=M, output_tokens=M, service_tier="batch"
    )
    assert standard == Decimal(18)
    assert batch == Decimal(9)


def test_dated_ids_and_aliases_share_a_price() -> None:
    assert price_for("claude-sonnet-4-5") == price_for("claude-sonnet-4-5-20250929")
    assert price_for("claude-3-5-haiku-latest") == price_for("claude-3-5-haiku-20241022")
    opus_4 = price_for("claude-opus-4-20250514")
    assert opus_4 is not None and opus_4.output == Decimal(75)
    haiku_3 = price_for("claude-3-haiku-20240307")
    # Haiku 3 is listed with its own cache prices, not the 1.25x / 0.1x multiples.
    assert haiku_3 is not None
    assert (haiku_3.cache_write_5m, haiku_3.cache_read) == (Decimal("0.30"), Decimal("0.03"))


def test_unknown_models_and_unpriced_tiers_are_not_guessed() -> None:
    assert price_for("claude-nimbus-7-preview") is None
    assert estimate_usd("claude-nimbus-7-preview", output_tokens=M) is None
    assert estimate_usd("claude-opus-4-6", output_tokens=M, service_tier="priority") is None
    assert estimate_usd("claude-opus-4-6", output_tokens=M, service_tier="flex") is None


def test_us_inference_costs_ten_percent_more_only_on_4_6_and_later() -> None:
    assert estimate_usd("claude-opus-4-6", uncached_input_tokens=M, inference_geo="us") == Decimal(
        "5.5"
    )
    assert estimate_usd(
        "claude-sonnet-4-5-20250929", uncached_input_tokens=M, inference_geo="us"
    ) == Decimal(3)
    # Batch stacks with residency: 25 x 0.5 x 1.1.
    assert estimate_usd(
        "claude-opus-4-6", output_tokens=M, service_tier="batch", inference_geo="us"
    ) == Decimal("13.75")


def test_long_context_on_sonnet_4_5_bills_6_and_22_50() -> None:
    usd = estimate_usd(
        "claude-sonnet-4-5-20250929",
        uncached_input_tokens=M,
        output_tokens=M,
        context_window="200k-1M",
    )
    assert usd == Decimal("28.50")
    # 4.6+ models price the full 1M context at standard rates.
    assert estimate_usd(
        "claude-sonnet-4-6", uncached_input_tokens=M, context_window="200k-1M"
    ) == Decimal(3)


def test_a_full_row_with_every_token_type_and_web_search() -> None:
    usd = estimate_usd(
        "claude-haiku-4-5-20251001",
        uncached_input_tokens=2 * M,  # $2
        cache_creation_5m_input_tokens=M,  # $1.25
        cache_creation_1h_input_tokens=M // 2,  # $1
        cache_read_input_tokens=10 * M,  # $1
        output_tokens=400_000,  # $2
        web_search_requests=3,  # $0.03
    )
    assert usd == Decimal("7.28")
    assert estimate_usd("claude-haiku-4-5", web_search_requests=1000) == Decimal(10)


def test_tiny_amounts_stay_exact() -> None:
    usd = estimate_usd("claude-3-5-haiku-20241022", uncached_input_tokens=1)
    assert isinstance(usd, Decimal)
    assert usd == Decimal("0.0000008")
