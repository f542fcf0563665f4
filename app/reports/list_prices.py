"""Anthropic's public list prices, for the unit economics that need one: what cache reads
saved against uncached input. Billed spend never comes from here (it is the cost report's).

Source: Anthropic's pricing page (platform.claude.com/docs/en/about-claude/pricing), snapshot
of 2026-08-22, as copied in the project's API reference (§9.2 and §9.3). USD per million tokens.
Every model there prices its cache the same way (a 5-minute write 1.25 x input, a 1-hour write
2 x, a read 0.1 x), so only input and output are listed. The simulator keeps its own copy
(``app.simulator.pricing``), which the product may not import: that one makes the fake API's
cost reconcile, this one is the product's, and a price change is made in both.

A model not in the table (a new or a private one) has no list price here: it is left out of
list-price figures and counted, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from app.reports.model_names import model_key

SOURCE = "Anthropic's pricing page, 2026-08-22"

CACHE_WRITE_5M = Decimal("1.25")
CACHE_WRITE_1H = Decimal(2)
CACHE_READ = Decimal("0.1")
BATCH = Decimal("0.5")  # 50 % off input and output; stacks with the cache multipliers
US_RESIDENCY = Decimal("1.1")  # inference_geo "us" on 4.6+ models
LONG_CONTEXT_WINDOW = "200k-1M"
# Tiers with a public price: the others (priority by contract, flex and newer ones not on the
# page) are left out of list-price figures.
PRICED_TIERS = frozenset({"standard", "batch"})


@dataclass(frozen=True)
class ListPrice:
    """USD per million tokens of uncached input and of output."""

    input: Decimal
    output: Decimal
    us_residency: bool = False  # 4.6+ models: inference_geo "us" costs 1.1 x
    long_context: bool = False  # Sonnet 4 / 4.5: a 200k-1M request bills $6 / $22.50


def _p(inp: str, out: str, *, us: bool = False, long: bool = False) -> ListPrice:
    return ListPrice(Decimal(inp), Decimal(out), us_residency=us, long_context=long)


# By model (``model_key``: the id without its date, so dated ids and aliases share a price).
PRICES: dict[str, ListPrice] = {
    "claude-fable-5": _p("10", "50", us=True),
    "claude-mythos-5": _p("10", "50", us=True),
    "claude-opus-5": _p("5", "25", us=True),
    "claude-opus-4-8": _p("5", "25", us=True),
    "claude-opus-4-7": _p("5", "25", us=True),
    "claude-opus-4-6": _p("5", "25", us=True),
    "claude-opus-4-5": _p("5", "25"),
    "claude-opus-4-1": _p("15", "75"),
    "claude-opus-4": _p("15", "75"),
    "claude-opus-4-0": _p("15", "75"),
    "claude-sonnet-5": _p("2", "10", us=True),
    "claude-sonnet-4-6": _p("3", "15", us=True),
    "claude-sonnet-4-5": _p("3", "15", long=True),
    "claude-sonnet-4": _p("3", "15", long=True),
    "claude-sonnet-4-0": _p("3", "15", long=True),
    "claude-3-7-sonnet": _p("3", "15"),
    "claude-haiku-4-5": _p("1", "5"),
    "claude-3-5-haiku": _p("0.80", "4"),
    "claude-3-haiku": _p("0.25", "1.25"),
}
LONG_CONTEXT = _p("6", "22.50")


def list_price(model: str | None) -> ListPrice | None:
    """The list price of a model id (dated, undated or ``-latest``); None when unknown."""
    if not model:
        return None
    return PRICES.get(model_key(model.strip().lower()))


def input_rate(
    price: ListPrice,
    *,
    service_tier: str | None,
    inference_geo: str | None,
    context_window: str | None,
) -> Decimal | None:
    """USD per million uncached input tokens of one usage row after long context, batch and
    US residency; None for a tier without a public price. A missing tier is standard."""
    rates = _rates(price, service_tier, inference_geo, context_window)
    return None if rates is None else rates[0]


def _rates(
    price: ListPrice,
    service_tier: str | None,
    inference_geo: str | None,
    context_window: str | None,
) -> tuple[Decimal, Decimal] | None:
    """USD per million uncached input and output tokens of one usage row (``input_rate``)."""
    if service_tier is not None and service_tier not in PRICED_TIERS:
        return None
    if price.long_context and context_window == LONG_CONTEXT_WINDOW:
        price = ListPrice(LONG_CONTEXT.input, LONG_CONTEXT.output, price.us_residency)
    factor = Decimal(1)
    if service_tier == "batch":
        factor *= BATCH
    if inference_geo == "us" and price.us_residency:
        factor *= US_RESIDENCY
    return price.input * factor, price.output * factor


def list_micro_cents(
    model: str | None,
    *,
    service_tier: str | None,
    inference_geo: str | None,
    context_window: str | None,
    uncached: int,
    cache_write_5m: int,
    cache_write_1h: int,
    cache_read: int,
    output: int,
) -> int | None:
    """One usage row's tokens at list price, in millionths of a cent (whole: a weight, not a
    bill); None for a model or tier without a public price."""
    price = list_price(model)
    rates = None if price is None else _rates(price, service_tier, inference_geo, context_window)
    if rates is None:
        return None
    rate_in, rate_out = rates
    inputs = (
        uncached
        + cache_write_5m * CACHE_WRITE_5M
        + cache_write_1h * CACHE_WRITE_1H
        + cache_read * CACHE_READ
    )
    # USD per million tokens x 100 cents x 10^6 micro-cents / 10^6 tokens: x 100 per token.
    return int(((inputs * rate_in) + output * rate_out) * 100)
