"""List prices of Claude models (USD per million tokens) and the multipliers that apply.

From the pricing page (reference §9). Used to estimate cost where the cost report cannot be
grouped (per API key), and by the simulator to produce costs that reconcile with usage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal

D = Decimal


@dataclass(frozen=True)
class ModelPrice:
    """USD per million tokens. Cache writes and reads are fixed multiples of ``input``."""

    input: Decimal
    output: Decimal
    family: str
    geo_multiplier_applies: bool  # 4.6+ models charge 1.1x for inference_geo "us"

    @property
    def cache_write_5m(self) -> Decimal:
        return self.input * D("1.25")

    @property
    def cache_write_1h(self) -> Decimal:
        return self.input * 2

    @property
    def cache_read(self) -> Decimal:
        return self.input * D("0.1")


_TABLE: list[tuple[str, ModelPrice]] = [
    (r"claude-(fable|mythos)-5", ModelPrice(D(10), D(50), "Claude 5 (Fable/Mythos)", True)),
    (r"claude-opus-5", ModelPrice(D(5), D(25), "Claude Opus 5", True)),
    (r"claude-opus-4-[678]", ModelPrice(D(5), D(25), "Claude Opus 4.6+", True)),
    (r"claude-opus-4-5", ModelPrice(D(5), D(25), "Claude Opus 4.5", False)),
    (r"claude-opus-4-1|claude-opus-4(-\d{8})?$|claude-opus-4-0",
     ModelPrice(D(15), D(75), "Claude Opus 4/4.1", False)),
    (r"claude-sonnet-5", ModelPrice(D(2), D(10), "Claude Sonnet 5", True)),
    (r"claude-sonnet-4-6", ModelPrice(D(3), D(15), "Claude Sonnet 4.6", True)),
    (r"claude-sonnet-4-5|claude-sonnet-4(-\d{8})?$|claude-sonnet-4-0|claude-3-7-sonnet",
     ModelPrice(D(3), D(15), "Claude Sonnet 4/4.5/3.7", False)),
    (r"claude-haiku-4-5", ModelPrice(D(1), D(5), "Claude Haiku 4.5", False)),
    (r"claude-3-5-haiku", ModelPrice(D("0.80"), D(4), "Claude Haiku 3.5", False)),
    (r"claude-3-haiku", ModelPrice(D("0.25"), D("1.25"), "Claude Haiku 3", False)),
]  # fmt: skip
_COMPILED = [(re.compile(rf"^(?:{pattern})"), price) for pattern, price in _TABLE]

LONG_CONTEXT = ModelPrice(D(6), D("22.50"), "Sonnet 4/4.5 long context", False)
WEB_SEARCH_USD = D("0.01")  # $10 per 1,000 searches


def price_for(model: str | None) -> ModelPrice | None:
    """The list price of a model id (dated ids and aliases too); None when it is unknown."""
    if not model:
        return None
    for pattern, price in _COMPILED:
        if pattern.match(model):
            return price
    return None


def token_rate(
    price: ModelPrice,
    token_type: str,
    *,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
) -> Decimal:
    """USD per million tokens of one token type, after batch, residency and long context."""
    if context_window == "200k-1M" and "Sonnet 4/4.5" in price.family:
        price = LONG_CONTEXT
    base = {
        "uncached_input_tokens": price.input,
        "cache_creation.ephemeral_5m_input_tokens": price.cache_write_5m,
        "cache_creation.ephemeral_1h_input_tokens": price.cache_write_1h,
        "cache_read_input_tokens": price.cache_read,
        "output_tokens": price.output,
    }[token_type]
    if service_tier == "batch":
        base *= D("0.5")
    if inference_geo == "us" and price.geo_multiplier_applies:
        base *= D("1.1")
    return base


def estimate_usd(
    model: str | None,
    tokens: dict[str, int],
    *,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
    web_search_requests: int = 0,
) -> Decimal | None:
    """An estimate of list-price cost for usage rows (``tokens`` keyed by cost-report token
    type); None for unknown models and for tiers whose price is not public (priority, flex)."""
    price = price_for(model)
    if price is None or service_tier in ("priority", "priority_on_demand", "flex", "flex_discount"):
        return None
    total = sum(
        (
            D(count) * token_rate(price, kind, service_tier=service_tier,
                                  inference_geo=inference_geo, context_window=context_window)
            for kind, count in tokens.items()
        ),
        D(0),
    )  # fmt: skip
    return total / D(1_000_000) + WEB_SEARCH_USD * web_search_requests
