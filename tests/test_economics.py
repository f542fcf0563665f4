"""The product's list prices against the pricing page (reference §9), and the per-seat
figures' edges (issue 15, unit economics)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd

from app.reports.economics import seat_economics
from app.reports.list_prices import input_rate, list_price


def rate(
    model: str,
    *,
    service_tier: str | None = None,
    inference_geo: str | None = None,
    context_window: str | None = None,
) -> Decimal | None:
    """USD per million uncached input tokens of a usage row of ``model``."""
    price = list_price(model)
    assert price is not None, model
    return input_rate(
        price,
        service_tier=service_tier,
        inference_geo=inference_geo,
        context_window=context_window,
    )


def test_input_prices_follow_the_pricing_page() -> None:
    # Dated ids and aliases share their model's price.
    assert rate("claude-sonnet-4-5-20250929") == Decimal(3)
    assert rate("claude-3-5-haiku-20241022") == Decimal("0.80")
    assert rate("claude-haiku-4-5") == Decimal(1)
    # Batch halves it; US residency on 4.6+ adds a tenth (not on Haiku 4.5); Sonnet 4.5 long
    # context is $6.
    assert rate("claude-opus-4-6", service_tier="batch") == Decimal("2.5")
    assert rate("claude-opus-4-6", inference_geo="us") == Decimal("5.5")
    assert rate("claude-haiku-4-5-20251001", inference_geo="us") == Decimal(1)
    assert rate("claude-sonnet-4-5", context_window="200k-1M") == Decimal(6)
    assert rate("claude-sonnet-4-6", context_window="200k-1M") == Decimal(3)
    # Tiers without a public price have none here.
    assert rate("claude-opus-4-6", service_tier="priority") is None
    assert rate("claude-opus-4-6", service_tier="flex") is None
    # A model nobody listed has no price: left out, never guessed.
    assert list_price("claude-nimbus-7-preview") is None


def test_seats_by_month_use_each_months_latest_snapshot() -> None:
    engagement = pd.DataFrame(
        [
            {"date": date(2026, 10, 30), "monthly_active_users": 40, "assigned_seats": 50},
            {"date": date(2026, 10, 31), "monthly_active_users": 41, "assigned_seats": 50},
            {"date": date(2026, 11, 10), "monthly_active_users": 60, "assigned_seats": 55},
        ]
    )
    spend = {date(2026, 10, 31): Decimal("4100"), date(2026, 11, 9): Decimal("1000")}
    seats = seat_economics(spend, engagement, date(2026, 10, 15), date(2026, 11, 20))
    october, november = seats.by_month.to_dict("records")
    assert october["days"] == 17 and october["amount_usd"] == Decimal(41)
    assert october["usd_per_active_user"] == Decimal("1.00") and october["idle_seats"] == 9
    # More active users than seats (people removed since): no negative idle seats.
    assert november["idle_seats"] == 0
    # The range: its spend over the latest day's monthly active users.
    assert seats.usd_per_active_user == (Decimal(51) / 60).quantize(Decimal("0.01"))
    assert seats.snapshot == date(2026, 11, 10)
