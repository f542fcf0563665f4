"""List prices of Claude models and the multipliers that apply to them (reference §9).

Prices are USD per million tokens, as on Anthropic's pricing page. The simulator uses them so
its cost report reconciles with its usage report. The product prices nothing itself (it shows
the cost reports and Anthropic's own estimates), so the table lives here, with its only user.
Everything is ``Decimal``: a float would drift by fractions of a cent over a year of rows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

D = Decimal

# Cost-report token types (reference §4.2), in the order the pricing page lists their columns.
TOKEN_TYPES = (
    "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
)

BATCH_MULTIPLIER = D("0.5")
US_RESIDENCY_MULTIPLIER = D("1.1")  # inference_geo "us" on 4.6+ models
WEB_SEARCH_USD = D("0.01")  # $10 per 1,000 searches
LONG_CONTEXT_WINDOW = "200k-1M"
# Tiers whose price is public. Priority is contract-based; flex and the other newer tiers are
# not on the pricing page, so estimating them would be a guess presented as a number.
PRICED_TIERS = frozenset({"standard", "batch"})


@dataclass(frozen=True)
class ModelPrice:
    """One row of the price table, USD per million tokens."""

    name: str
    input: Decimal
    cache_write_5m: Decimal
    cache_write_1h: Decimal
    cache_read: Decimal
    output: Decimal
    us_residency_surcharge: bool = False  # 4.6+ models: inference_geo "us" costs 1.1x
    long_context_rates: bool = False  # Sonnet 4/4.5: 200k-1M requests use LONG_CONTEXT

    def rate(self, token_type: str) -> Decimal:
        """The base rate of one cost-report token type (KeyError for an unknown type)."""
        return {
            "uncached_input_tokens": self.input,
            "cache_creation.ephemeral_5m_input_tokens": self.cache_write_5m,
            "cache_creation.ephemeral_1h_input_tokens": self.cache_write_1h,
            "cache_read_input_tokens": self.cache_read,
            "output_tokens": self.output,
        }[token_type]


def _price(
    name: str, inp: str, w5m: str, w1h: str, hit: str, out: str, **flags: bool
) -> ModelPrice:
    return ModelPrice(name, D(inp), D(w5m), D(w1h), D(hit), D(out), **flags)


_OPUS_46 = _price("Claude Opus 4.6+", "5", "6.25", "10", "0.50", "25", us_residency_surcharge=True)
_SONNET_4 = _price("Claude Sonnet 4/4.5", "3", "3.75", "6", "0.30", "15", long_context_rates=True)

# Undated model ids and aliases; dated ids (``-20250929``) and ``-latest`` map to these.
PRICES: dict[str, ModelPrice] = {
    "claude-fable-5": _price(
        "Claude Fable 5", "10", "12.50", "20", "1.00", "50", us_residency_surcharge=True
    ),
    "claude-mythos-5": _price(
        "Claude Mythos 5", "10", "12.50", "20", "1.00", "50", us_residency_surcharge=True
    ),
    "claude-opus-5": _price(
        "Claude Opus 5", "5", "6.25", "10", "0.50", "25", us_residency_surcharge=True
    ),
    "claude-opus-4-8": _OPUS_46,
    "claude-opus-4-7": _OPUS_46,
    "claude-opus-4-6": _OPUS_46,
    "claude-opus-4-5": _price("Claude Opus 4.5", "5", "6.25", "10", "0.50", "25"),
    "claude-opus-4-1": _price("Claude Opus 4.1", "15", "18.75", "30", "1.50", "75"),
    "claude-opus-4": _price("Claude Opus 4", "15", "18.75", "30", "1.50", "75"),
    "claude-opus-4-0": _price("Claude Opus 4", "15", "18.75", "30", "1.50", "75"),
    "claude-sonnet-5": _price(
        "Claude Sonnet 5", "2", "2.50", "4", "0.20", "10", us_residency_surcharge=True
    ),
    "claude-sonnet-4-6": _price(
        "Claude Sonnet 4.6", "3", "3.75", "6", "0.30", "15", us_residency_surcharge=True
    ),
    "claude-sonnet-4-5": _SONNET_4,
    "claude-sonnet-4": _SONNET_4,
    "claude-sonnet-4-0": _SONNET_4,
    "claude-3-7-sonnet": _price("Claude Sonnet 3.7", "3", "3.75", "6", "0.30", "15"),
    "claude-haiku-4-5": _price("Claude Haiku 4.5", "1", "1.25", "2", "0.10", "5"),
    "claude-3-5-haiku": _price("Claude Haiku 3.5", "0.80", "1.00", "1.60", "0.08", "4"),
    "claude-3-haiku": _price("Claude Haiku 3", "0.25", "0.30", "0.50", "0.03", "1.25"),
}

# Sonnet 4 and 4.5 requests over 200k input tokens bill every token at these rates; the cache
# multipliers (1.25x, 2x, 0.1x) apply on top of the $6 input rate.
LONG_CONTEXT = _price("Claude Sonnet 4/4.5 long context", "6", "7.50", "12", "0.60", "22.50")

_SUFFIX = re.compile(r"-(?:\d{8}|latest)$")


def price_for(model: str | None) -> ModelPrice | None:
    """The list price of a model id, alias or dated id; None for a model the table lacks."""
    if not model:
        return None
    model = model.strip().lower()
    return PRICES.get(model) or PRICES.get(_SUFFIX.sub("", model))


def token_rate(
    price: ModelPrice,
    token_type: str,
    *,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
) -> Decimal:
    """USD per million tokens of one token type after long context, batch and US residency."""
    if context_window == LONG_CONTEXT_WINDOW and price.long_context_rates:
        price = LONG_CONTEXT
    rate = price.rate(token_type)
    if service_tier == "batch":
        rate *= BATCH_MULTIPLIER
    if inference_geo == "us" and price.us_residency_surcharge:
        rate *= US_RESIDENCY_MULTIPLIER
    return rate


def estimate_usd(
    model: str | None,
    *,
    uncached_input_tokens: int = 0,
    cache_creation_5m_input_tokens: int = 0,
    cache_creation_1h_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    output_tokens: int = 0,
    web_search_requests: int = 0,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
) -> Decimal | None:
    """List-price estimate in USD of one usage-report row (reference §9.4).

    None when it cannot be estimated honestly: an unknown model, or a tier without a public
    price (priority, flex, ...). A missing tier counts as standard.
    """
    price = price_for(model)
    if price is None or (service_tier is not None and service_tier not in PRICED_TIERS):
        return None
    counts = (
        uncached_input_tokens,
        cache_creation_5m_input_tokens,
        cache_creation_1h_input_tokens,
        cache_read_input_tokens,
        output_tokens,
    )
    per_million = sum(
        (
            D(count)
            * token_rate(
                price,
                token_type,
                service_tier=service_tier,
                inference_geo=inference_geo,
                context_window=context_window,
            )
            for token_type, count in zip(TOKEN_TYPES, counts, strict=True)
        ),
        D(0),
    )
    return per_million / D(1_000_000) + WEB_SEARCH_USD * web_search_requests
