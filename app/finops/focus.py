"""FOCUS (FinOps Open Cost and Usage Specification) Cost and Usage rows of the billed cost.

One row per stored cost line (``cost_line``): ``BilledCost`` is that line's exact amount, so the
file adds up to the cost report to the micro-cent, per organization and day. What each column
holds, and why:

- ``BillingAccountId`` is the organization id, ``SubAccountId`` the workspace id (null for the
  Default workspace, whose name is then in ``x_WorkspaceName``: FOCUS wants ``SubAccountName``
  null when the id is). ``BillingAccountType`` tells Console organizations from Claude
  Enterprise ones.
- ``ChargePeriodStart``/``End`` are the UTC day, ``BillingPeriodStart``/``End`` its calendar
  month, written ``YYYY-MM-DDTHH:MM:SSZ``.
- Quantities: a token line consumes the tokens the usage report counted for the same day,
  workspace, model, tier, context window and geography (summed over API keys), priced per
  million (``PricingUnit`` "1000000 Tokens", as Anthropic's price list is per MTok). Web search
  is priced per 1,000 requests, code execution per container-hour: their counts are the billed
  amount over that public price. A line whose quantity cannot be known (no usage row, an
  unknown cost type) counts as one charge (``x_QuantitySource`` "charge").
- ``ListCost`` is the public list price times the quantity (``app.reports.list_prices``);
  Claude Enterprise lines carry their own pre-discount amount. Where no list price is known (a
  model or tier not on the price page) FOCUS still wants a non-null ListCost: it is the billed
  cost, ``ListUnitPrice`` the billed unit price, and ``x_ListCostSource`` says "billed".
- ``ContractedCost`` and ``EffectiveCost`` equal ``BilledCost``: Anthropic bills at the agreed
  rates, with no commitment discounts or amortized purchases to spread.
- ``Tags`` is a JSON object of the line's allocation values (``{"Team": "Search"}``; a split
  line names each value with its share: ``"Search (60%), Support (40%)"``); ``{}`` without one.
- Our own columns start with ``x_``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, localcontext
from typing import Any, TextIO

from sqlalchemy import Engine, and_, func, select
from sqlmodel import col

from app.csv_writer import csv_bytes, write_csv
from app.db import read_session
from app.finops.allocation_tables import Allocation, AllocationLine
from app.models import CostLine, Organization, Provider, UsageBucket, Workspace
from app.reports.labels import DEFAULT_WORKSPACE, provider_label
from app.reports.list_prices import (
    BATCH,
    CACHE_READ,
    CACHE_WRITE_1H,
    CACHE_WRITE_5M,
    LONG_CONTEXT,
    LONG_CONTEXT_WINDOW,
    PRICED_TIERS,
    US_RESIDENCY,
    list_price,
)
from app.reports.periods import month_start, next_month

VERSIONS = ("1.2", "1.3")
DEFAULT_VERSION = "1.2"

ANTHROPIC = "Anthropic"
SERVICE_CATEGORY = "AI and Machine Learning"
SERVICE_SUBCATEGORY = "Generative AI"
SERVICE_NAMES: dict[str, str] = {
    Provider.CONSOLE: "Claude API",
    Provider.ENTERPRISE: "Claude Enterprise",
}

# The columns FOCUS 1.2 requires of a Cost and Usage dataset (present whatever the provider
# supports), and the conditional ones that apply to Anthropic's billing: usage is measured,
# there are sub accounts (workspaces), two billing account types, a public price list, unit
# pricing, more than one pricing category column value set, and tags (our allocations).
MANDATORY_1_2 = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "ContractedCost",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
)
# FOCUS 1.3 adds these two as mandatory; ProviderName and PublisherName are deprecated there
# but still defined, so they stay (a 1.2 reader of a 1.3 file keeps working).
MANDATORY_1_3 = (*MANDATORY_1_2, "ServiceProviderName", "HostProviderName")

_FOCUS_COLUMNS_1_2 = (
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingAccountType",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountId",
    "CommitmentDiscountStatus",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceId",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingCurrency",
    "PricingCurrencyContractedUnitPrice",
    "PricingCurrencyEffectiveCost",
    "PricingCurrencyListUnitPrice",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "ServiceCategory",
    "ServiceName",
    "ServiceSubcategory",
    "SkuId",
    "SkuMeter",
    "SkuPriceDetails",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "SubAccountType",
    "Tags",
)
_EXTRA_COLUMNS = (
    "x_WorkspaceName",
    "x_CostType",
    "x_Model",
    "x_TokenType",
    "x_ServiceTier",
    "x_ContextWindow",
    "x_InferenceGeo",
    "x_Product",
    "x_ListCostSource",
    "x_QuantitySource",
)


def header(version: str = DEFAULT_VERSION) -> tuple[str, ...]:
    """The CSV header of a FOCUS version: its columns, then ours (``x_``)."""
    _check_version(version)
    extra = ("ServiceProviderName", "HostProviderName") if version == "1.3" else ()
    return (*_FOCUS_COLUMNS_1_2, *extra, *_EXTRA_COLUMNS)


def _check_version(version: str) -> None:
    if version not in VERSIONS:
        raise ValueError(f"FOCUS version must be one of {', '.join(VERSIONS)}")


# --- prices and quantities -------------------------------------------------------------------

MILLION = Decimal(1_000_000)
TOKENS_PRICING_UNIT = "1000000 Tokens"
WEB_SEARCH_PER_THOUSAND = Decimal(10)  # USD per 1,000 searches (Anthropic's pricing page)
CODE_EXECUTION_PER_HOUR = Decimal("0.05")  # USD per container-hour (same page)
# Cost-report token types -> the usage report's measure and the list-price multiplier of input
# (None: the output price).
TOKEN_MEASURES: dict[str, tuple[str, Decimal | None]] = {
    "uncached_input_tokens": ("uncached_input_tokens", Decimal(1)),
    "cache_creation.ephemeral_5m_input_tokens": ("cache_creation_5m_input_tokens", CACHE_WRITE_5M),
    "cache_creation.ephemeral_1h_input_tokens": ("cache_creation_1h_input_tokens", CACHE_WRITE_1H),
    "cache_read_input_tokens": ("cache_read_input_tokens", CACHE_READ),
    "output_tokens": ("output_tokens", None),
}
SKU_METERS = {
    "uncached_input_tokens": "Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Cache Write Input Tokens (5m)",
    "cache_creation.ephemeral_1h_input_tokens": "Cache Write Input Tokens (1h)",
    "cache_read_input_tokens": "Cache Read Input Tokens",
    "output_tokens": "Output Tokens",
}


def token_list_rate(
    model: str | None,
    token_type: str | None,
    *,
    service_tier: str | None,
    inference_geo: str | None,
    context_window: str | None,
) -> Decimal | None:
    """Public USD per million tokens of one token type of a cost line (long context, batch and
    US residency applied); None when the model, tier or token type has no public price."""
    price = list_price(model)
    measure = TOKEN_MEASURES.get(token_type or "")
    if price is None or measure is None:
        return None
    if service_tier is not None and service_tier not in PRICED_TIERS:
        return None
    base_input, base_output = price.input, price.output
    if price.long_context and context_window == LONG_CONTEXT_WINDOW:
        base_input, base_output = LONG_CONTEXT.input, LONG_CONTEXT.output
    multiplier = measure[1]
    rate = base_output if multiplier is None else base_input * multiplier
    if service_tier == "batch":
        rate *= BATCH
    if inference_geo == "us" and price.us_residency:
        rate *= US_RESIDENCY
    return rate


@dataclass(frozen=True)
class Pricing:
    """The quantity and price columns of one row."""

    consumed_quantity: Decimal
    consumed_unit: str
    pricing_quantity: Decimal
    pricing_unit: str
    list_unit_price: Decimal
    list_cost: Decimal
    list_cost_source: str  # "list_price" | "enterprise_list_amount" | "billed"
    # "usage" | "usage_shared_by_geo" | "billed_at_list_price" | "charge"
    quantity_source: str


def _divide(numerator: Decimal, denominator: Decimal) -> Decimal:
    """An exact-enough quotient (34 significant digits): the validator checks
    unit price x quantity against the cost to a relative 1e-9."""
    with localcontext() as ctx:
        ctx.prec = 34
        return numerator / denominator


def pricing(line: CostLine, tokens: int | None, tokens_source: str = "usage") -> Pricing:
    """Quantities and list prices of a cost line; ``tokens``: what the usage report counted
    for it (None when no usage row matches), ``tokens_source`` how (``line_tokens``)."""
    billed = line.amount_cents.scaleb(-2)
    cost_type = line.cost_type or ""
    rate: Decimal | None = None
    if cost_type == "tokens" and tokens is not None and (tokens > 0 or billed == 0):
        consumed, consumed_unit = Decimal(tokens), "Tokens"
        quantity, unit = _divide(consumed, MILLION), TOKENS_PRICING_UNIT
        source = tokens_source
        rate = token_list_rate(
            line.model,
            line.token_type,
            service_tier=line.service_tier,
            inference_geo=line.inference_geo,
            context_window=line.context_window,
        )
    elif cost_type == "web_search":
        consumed, consumed_unit = _divide(billed, WEB_SEARCH_PER_THOUSAND / 1000), "Requests"
        quantity, unit = _divide(consumed, Decimal(1000)), "1000 Requests"
        source, rate = "billed_at_list_price", WEB_SEARCH_PER_THOUSAND
    elif cost_type == "code_execution":
        consumed, consumed_unit = _divide(billed, CODE_EXECUTION_PER_HOUR), "Hours"
        quantity, unit = consumed, "Hours"
        source, rate = "billed_at_list_price", CODE_EXECUTION_PER_HOUR
    else:
        consumed, consumed_unit = Decimal(1), "Charges"
        quantity, unit = Decimal(1), "Charges"
        source = "charge"
    if line.list_amount_cents is not None:
        list_cost, list_source = line.list_amount_cents.scaleb(-2), "enterprise_list_amount"
        unit_price = _divide(list_cost, quantity) if quantity else Decimal(0)
    elif rate is not None:
        list_cost, list_source, unit_price = rate * quantity, "list_price", rate
    else:
        list_cost, list_source = billed, "billed"
        unit_price = _divide(billed, quantity) if quantity else Decimal(0)
    if unit_price < 0:  # a credit line: FOCUS unit prices are non-negative
        unit_price = -unit_price
        quantity, consumed = -quantity, -consumed
    return Pricing(
        consumed, consumed_unit, quantity, unit, unit_price, list_cost, list_source, source
    )


# --- tags ------------------------------------------------------------------------------------

# A cost line's allocation grain (``allocation_line`` keeps the cost rows' match keys).
_Grain = tuple[int, date, str | None, str | None, str | None, str | None, str | None, str | None]


def _grain(line: CostLine) -> _Grain:
    return (
        line.organization_pk,
        line.date,
        line.workspace_id,
        line.model,
        line.service_tier,
        line.cost_type,
        line.token_type,
        line.product,
    )


def allocation_tags(
    engine: Engine, organization_id: str | None, start: date, end: date
) -> dict[_Grain, str]:
    """Each allocated grain's ``Tags`` JSON over ``[start, end)``: allocation name -> value, or
    the values of a split with their shares."""
    a = AllocationLine
    grain = (
        col(a.organization_pk),
        col(a.date),
        col(a.workspace_id),
        col(a.model),
        col(a.service_tier),
        col(a.cost_type),
        col(a.token_type),
        col(a.product),
    )
    # A value's share of a row from the amounts: a split's share, and (a row divided by
    # per-key cost has a line per key) the keys' parts that went to it.
    query = (
        select(*grain, col(Allocation.name), col(a.value), func.sum(col(a.amount_cents)))
        .join(Allocation, col(Allocation.id) == col(a.allocation_pk))
        .where(col(a.date) >= start, col(a.date) < end)
        .group_by(*grain, col(Allocation.name), col(a.value))
    )
    if organization_id:
        query = query.join(Organization, col(Organization.id) == col(a.organization_pk)).where(
            col(Organization.organization_id) == organization_id
        )
    parts: dict[_Grain, dict[str, list[tuple[str, Decimal]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    with read_session(engine) as session:
        for *row_grain, name, value, amount in session.execute(query):
            parts[tuple(row_grain)][name].append((value, Decimal(amount or 0)))
    return {
        grain: json.dumps(
            {name: _tag_value(values) for name, values in by_name.items()},
            sort_keys=True,
            separators=(",", ":"),
        )
        for grain, by_name in parts.items()
    }


def _tag_value(values: list[tuple[str, Decimal]]) -> str:
    """One value, or each value with its share of the row's amount (to 0.01 %)."""
    if len(values) == 1:
        return values[0][0]
    total = sum(amount for _, amount in values)
    if not total:
        return ", ".join(sorted(value for value, _ in values))
    shares = [(value, (amount * 100 / total).quantize(Decimal("0.01"))) for value, amount in values]
    return ", ".join(
        f"{value} ({share.normalize():f}%)"
        for value, share in sorted(shares, key=lambda v: (-v[1], v[0]))
    )


# --- rows ------------------------------------------------------------------------------------

_UsageKey = tuple[int, date, str | None, str | None, str | None, str | None, str | None, str | None]


def _timestamp(day: date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _sku(line: CostLine) -> tuple[str, str]:
    """SkuId (model x token type x tier) and SkuPriceId (that, by context window and
    geography, which change the price)."""
    if line.cost_type == "tokens":
        tier = line.service_tier or "standard"
        sku = f"{line.model or 'unknown'}/{line.token_type or 'unknown'}/{tier}"
        return sku, f"{sku}/{line.context_window or 'default'}/{line.inference_geo or 'global'}"
    sku = line.cost_type or (line.description or "charge")
    return sku, sku


def _sku_meter(line: CostLine) -> str:
    if line.cost_type == "tokens":
        return SKU_METERS.get(line.token_type or "", line.token_type or "Tokens")
    return {"web_search": "Web Search Requests", "code_execution": "Code Execution Hours"}.get(
        line.cost_type or "", line.cost_type or "Charges"
    )


def _price_details(line: CostLine) -> str:
    details = {
        "x_CostType": line.cost_type,
        "x_Model": line.model,
        "x_TokenType": line.token_type,
        "x_ServiceTier": line.service_tier,
        "x_ContextWindow": line.context_window,
        "x_InferenceGeo": line.inference_geo,
    }
    return json.dumps({k: v for k, v in details.items() if v is not None}, sort_keys=True)


def _months(start: date, end: date) -> Iterator[tuple[date, date]]:
    """``[start, end)`` cut at month boundaries."""
    first = start
    while first < end:
        last = min(next_month(month_start(first)), end)
        yield first, last
        first = last


def _usage_tokens(
    engine: Engine, organization_id: str | None, start: date, end: date
) -> dict[_UsageKey, dict[str, int]]:
    """Tokens by type per (organization, day, workspace, model, tier, context window, geo,
    product), summed over API keys, as the cost report groups them."""
    keys = (
        col(UsageBucket.organization_pk),
        col(UsageBucket.date),
        col(UsageBucket.workspace_id),
        col(UsageBucket.model),
        col(UsageBucket.service_tier),
        col(UsageBucket.context_window),
        col(UsageBucket.inference_geo),
        col(UsageBucket.product),
    )
    measures = [m for m, _ in TOKEN_MEASURES.values()]
    query = (
        select(*keys, *(func.sum(getattr(UsageBucket, m)) for m in measures))
        .join(Organization, col(Organization.id) == col(UsageBucket.organization_pk))
        .where(col(UsageBucket.date) >= start, col(UsageBucket.date) < end)
        .group_by(*keys)
    )
    if organization_id:
        query = query.where(col(Organization.organization_id) == organization_id)
    found: dict[_UsageKey, dict[str, int]] = {}
    with read_session(engine) as session:
        for row in session.execute(query):
            key: _UsageKey = tuple(row[:8])
            found[key] = {m: int(v or 0) for m, v in zip(measures, row[8:], strict=True)}
    return found


def _range(
    engine: Engine, organization_id: str | None, start: date | None, end: date | None
) -> tuple[date, date] | None:
    """The days to export: the given bounds, or the stored cost lines' first and last day."""
    if start and end:
        return start, end
    query = select(func.min(col(CostLine.date)), func.max(col(CostLine.date))).join(
        Organization, col(Organization.id) == col(CostLine.organization_pk)
    )
    if organization_id:
        query = query.where(col(Organization.organization_id) == organization_id)
    with read_session(engine) as session:
        first, last = session.execute(query).one()
    if first is None:
        return None
    return start or first, end or last + timedelta(days=1)


def focus_rows(
    engine: Engine,
    *,
    version: str = DEFAULT_VERSION,
    organization_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> Iterator[list[Any]]:
    """The FOCUS rows of the stored cost lines in ``[start, end)``, in ``header(version)``
    order, oldest day first. Amounts are exact ``Decimal`` USD."""
    _check_version(version)
    bounds = _range(engine, organization_id, start, end)
    if bounds is None:
        return
    for first, last in _months(*bounds):
        usage = _usage_tokens(engine, organization_id, first, last)
        yield from _month_rows(engine, version, organization_id, first, last, usage)


def _month_rows(
    engine: Engine,
    version: str,
    organization_id: str | None,
    start: date,
    end: date,
    usage: dict[_UsageKey, dict[str, int]],
) -> Iterator[list[Any]]:
    query = (
        select(
            CostLine,
            col(Organization.organization_id),
            col(Organization.name),
            col(Organization.label),
            col(Organization.provider),
            col(Workspace.name),
        )
        .join(Organization, col(Organization.id) == col(CostLine.organization_pk))
        .outerjoin(
            Workspace,
            and_(
                col(Workspace.organization_pk) == col(CostLine.organization_pk),
                col(Workspace.workspace_id) == col(CostLine.workspace_id),
            ),
        )
        .where(col(CostLine.date) >= start, col(CostLine.date) < end)
        .order_by(col(CostLine.date), col(Organization.organization_id), col(CostLine.id))
        .execution_options(yield_per=5000)
    )
    if organization_id:
        query = query.where(col(Organization.organization_id) == organization_id)
    tags = allocation_tags(engine, organization_id, start, end)
    with read_session(engine) as session:
        day: list[Any] = []
        for found in session.execute(query):
            if day and found[0].date != day[0][0].date:
                yield from _day_rows(version, day, usage, tags)
                day = []
            day.append(found)
        if day:
            yield from _day_rows(version, day, usage, tags)


def _usage_key(line: CostLine, geo: str | None) -> _UsageKey:
    return (
        line.organization_pk,
        line.date,
        line.workspace_id,
        line.model,
        line.service_tier,
        line.context_window,
        geo,
        line.product,
    )


def _geo_weight(line: CostLine) -> Decimal:
    """A line's billed amount in input-price units: US residency bills 1.1 x."""
    price = list_price(line.model)
    us = line.inference_geo == "us" and price is not None and price.us_residency
    return abs(line.amount_cents) / (US_RESIDENCY if us else 1)


def _apportion(total: int, weights: list[Decimal]) -> list[int]:
    """``total`` split in proportion to ``weights`` (evenly when they are all zero), in whole
    numbers adding up to ``total`` exactly (largest remainder)."""
    whole = sum(weights, Decimal(0))
    if not whole:
        weights, whole = [Decimal(1)] * len(weights), Decimal(len(weights))
    shares = [Decimal(total) * w / whole for w in weights]
    floors = [int(x) for x in shares]
    order = sorted(range(len(shares)), key=lambda i: shares[i] - floors[i], reverse=True)
    for i in order[: total - sum(floors)]:
        floors[i] += 1
    return floors


def line_tokens(
    lines: list[CostLine], usage: dict[_UsageKey, dict[str, int]]
) -> dict[int, tuple[int, str]]:
    """Tokens of each token line of one day (by position in ``lines``) and how they were
    found: the usage row of the same dimensions ("usage"), or, where the usage report does not
    tell geographies apart (its rows have no ``inference_geo``), that row's tokens shared
    among the day's lines of each geography by their billed amount at the geography's price
    ("usage_shared_by_geo": exact in total, close per line)."""
    groups: dict[tuple[_UsageKey, str], list[int]] = defaultdict(list)
    for i, line in enumerate(lines):
        if line.cost_type != "tokens" or (line.token_type or "") not in TOKEN_MEASURES:
            continue
        exact = _usage_key(line, line.inference_geo)
        key = exact if exact in usage else _usage_key(line, None)
        if key in usage:
            groups[(key, line.token_type or "")].append(i)
    found: dict[int, tuple[int, str]] = {}
    for (key, token_type), members in groups.items():
        total = usage[key][TOKEN_MEASURES[token_type][0]]
        if len(members) == 1:
            found[members[0]] = (total, "usage")
            continue
        counts = _apportion(total, [_geo_weight(lines[i]) for i in members])
        for i, count in zip(members, counts, strict=True):
            found[i] = (count, "usage_shared_by_geo")
    return found


def _day_rows(
    version: str,
    day: list[Any],
    usage: dict[_UsageKey, dict[str, int]],
    tags: dict[_Grain, str],
) -> Iterator[list[Any]]:
    tokens = line_tokens([found[0] for found in day], usage)
    for i, (line, org_id, org_name, label, provider, ws_name) in enumerate(day):
        counted = tokens.get(i)
        yield _row(
            version,
            line,
            org_id,
            label or org_name,
            provider,
            ws_name,
            None if counted is None else counted[0],
            None if counted is None else counted[1],
            tags.get(_grain(line), "{}"),
        )


def _row(
    version: str,
    line: CostLine,
    org_id: str,
    org_name: str,
    provider: str,
    ws_name: str | None,
    tokens: int | None,
    tokens_source: str | None,
    tags: str = "{}",
) -> list[Any]:
    price = pricing(line, tokens, tokens_source or "usage")
    billed = line.amount_cents.scaleb(-2)
    workspace_id = line.workspace_id or None
    if workspace_id:
        workspace_name: str | None = ws_name or workspace_id
    else:
        workspace_name = None if provider == Provider.ENTERPRISE else DEFAULT_WORKSPACE
    sku_id, sku_price_id = _sku(line)
    month = month_start(line.date)
    # The billed cost is the contracted one: its unit price is billed over the quantity.
    quantity = price.pricing_quantity
    contracted_unit_price = _divide(billed, quantity) if quantity else Decimal(0)
    values: dict[str, Any] = {
        "BilledCost": billed,
        "BillingAccountId": org_id,
        "BillingAccountName": org_name,
        "BillingAccountType": provider_label(provider),
        "BillingCurrency": line.currency or "USD",
        "BillingPeriodEnd": _timestamp(next_month(month)),
        "BillingPeriodStart": _timestamp(month),
        "ChargeCategory": "Usage",
        "ChargeClass": None,  # not a correction of an invoiced period
        "ChargeDescription": line.description or _sku_meter(line),
        "ChargeFrequency": "Usage-Based",
        "ChargePeriodEnd": _timestamp(line.date + timedelta(days=1)),
        "ChargePeriodStart": _timestamp(line.date),
        # No commitment discounts: the columns are there (null) so rules conditional on a
        # commitment's status can be evaluated.
        "CommitmentDiscountId": None,
        "CommitmentDiscountStatus": None,
        "ConsumedQuantity": price.consumed_quantity,
        "ConsumedUnit": price.consumed_unit,
        "ContractedCost": billed,
        "ContractedUnitPrice": contracted_unit_price,
        "EffectiveCost": billed,
        "InvoiceId": None,  # the cost report names no invoice
        "InvoiceIssuerName": ANTHROPIC,
        "ListCost": price.list_cost,
        "ListUnitPrice": price.list_unit_price,
        # Predetermined rates: batch and flex are set prices, not dynamic ones.
        "PricingCategory": "Standard",
        "PricingCurrency": line.currency or "USD",
        "PricingCurrencyContractedUnitPrice": contracted_unit_price,
        "PricingCurrencyEffectiveCost": billed,
        "PricingCurrencyListUnitPrice": price.list_unit_price,
        "PricingQuantity": price.pricing_quantity,
        "PricingUnit": price.pricing_unit,
        "ProviderName": ANTHROPIC,
        "PublisherName": ANTHROPIC,
        "ServiceCategory": SERVICE_CATEGORY,
        "ServiceName": SERVICE_NAMES.get(provider, "Claude API"),
        "ServiceSubcategory": SERVICE_SUBCATEGORY,
        "SkuId": sku_id,
        "SkuMeter": _sku_meter(line),
        "SkuPriceDetails": _price_details(line),
        "SkuPriceId": sku_price_id,
        "SubAccountId": workspace_id,
        "SubAccountName": workspace_name if workspace_id else None,
        "SubAccountType": "Workspace" if workspace_id else None,
        "Tags": tags,
        "ServiceProviderName": ANTHROPIC,
        "HostProviderName": ANTHROPIC,
        "x_WorkspaceName": workspace_name,
        "x_CostType": line.cost_type,
        "x_Model": line.model,
        "x_TokenType": line.token_type,
        "x_ServiceTier": line.service_tier,
        "x_ContextWindow": line.context_window,
        "x_InferenceGeo": line.inference_geo,
        "x_Product": line.product,
        "x_ListCostSource": price.list_cost_source,
        "x_QuantitySource": price.quantity_source,
    }
    return [values[name] for name in header(version)]


def export_focus(
    engine: Engine,
    out: TextIO,
    *,
    version: str = DEFAULT_VERSION,
    organization_id: str | None = None,
    start: date | None = None,
    end: date | None = None,
) -> int:
    """Write the FOCUS CSV to ``out`` through the one CSV writer; returns the data rows."""
    rows = focus_rows(
        engine, version=version, organization_id=organization_id, start=start, end=end
    )
    return write_csv(out, header(version), rows)


def billed_total_by_day(rows: Iterator[list[Any]], version: str) -> dict[tuple[str, str], Decimal]:
    """BilledCost summed per (BillingAccountId, ChargePeriodStart day) of FOCUS rows: what the
    page and the tests compare with the cost report."""
    columns = header(version)
    billed_at, account_at = columns.index("BilledCost"), columns.index("BillingAccountId")
    start_at = columns.index("ChargePeriodStart")
    totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for row in rows:
        totals[(row[account_at], row[start_at][:10])] += row[billed_at]
    return dict(totals)


@dataclass(frozen=True)
class FocusFile:
    """A FOCUS CSV ready to download, with what it adds up to."""

    content: bytes
    rows: int
    billed_usd: Decimal  # the sum of its BilledCost, exact


def focus_file(
    engine: Engine,
    *,
    version: str = DEFAULT_VERSION,
    start: date,
    end: date,
    organization_id: str | None = None,
) -> FocusFile:
    """The FOCUS CSV of ``[start, end)`` in memory (the dashboard's download)."""
    columns = header(version)
    billed_at = columns.index("BilledCost")
    total = Decimal(0)
    count = 0

    def counted() -> Iterator[list[Any]]:
        nonlocal total, count
        for row in focus_rows(
            engine, version=version, organization_id=organization_id, start=start, end=end
        ):
            total += row[billed_at]
            count += 1
            yield row

    content = csv_bytes(columns, counted())
    return FocusFile(content, count, total)
