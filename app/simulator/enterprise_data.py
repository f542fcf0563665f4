"""Generation of a simulated Enterprise organization's data, day by day (see ``enterprise``).

Which seat users were active, the finest-grain usage rows, their revisions and the cost pieces
priced from them: each from an RNG seeded by (org seed, day, revision), so any day can be
produced alone and always comes out the same.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from app.simulator.pricing import TOKEN_TYPES, WEB_SEARCH_USD, token_rate
from app.simulator.world import price_of

if TYPE_CHECKING:
    from app.simulator.enterprise import SimEnterpriseOrg, SimEnterpriseUser

CENTS_QUANTUM = Decimal("0.000001")
FAST_MULTIPLIER = Decimal(2)  # fast mode on Opus 4.8: $10/$50 instead of $5/$25, every type
PRODUCTS = (
    ("chat", 38),
    ("claude_code", 26),
    ("cowork", 12),
    ("office_agent", 14),
    ("claude_in_chrome", 10),
)
# Counts of one usage row, in this order.
USAGE_FIELDS = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "requests",
)


@dataclass(frozen=True)
class EnterpriseModel:
    id: str
    geo: bool  # supports inference_geo ("global"/"us"); others report "not_available"
    fast: bool  # has fast mode
    long_context: bool  # has the "200k-1M" context-window price tier
    weight: int


ENTERPRISE_MODELS = (
    EnterpriseModel("claude-opus-4-8", True, True, False, 24),
    EnterpriseModel("claude-sonnet-4-6", True, False, False, 28),
    EnterpriseModel("claude-sonnet-4-5", False, False, True, 16),
    EnterpriseModel("claude-haiku-4-5", False, False, False, 26),
    # A model no price table knows: the product must keep and show it, never drop it.
    EnterpriseModel("claude-nimbus-7-preview", True, False, False, 3),
)

# Finest-grain keys: (user_id, *DIMENSIONS) for usage, (user_id, *COST_DIMENSIONS) for cost.
UsageKey = tuple[Any, ...]
CostPiece = tuple[tuple[Any, ...], Decimal, Decimal]  # key, amount, list amount


def day_activity(org: SimEnterpriseOrg, day: date) -> tuple[frozenset[str], frozenset[str]]:
    rng = random.Random(f"ent-active:{org.seed}:{day.isoformat()}")
    factor = 0.3 if day.weekday() >= 5 else 1.0
    active: set[str] = set()
    cowork: set[str] = set()
    for user in org.users:
        roll, cowork_roll = rng.random(), rng.random()  # drawn for everyone: stable sequences
        if user.seated_on(day) and roll < user.propensity * factor:
            active.add(user.id)
            if cowork_roll < user.cowork:
                cowork.add(user.id)
    return frozenset(active), frozenset(cowork)


def add_counts(rows: dict[Any, list[int]], key: Any, counts: tuple[int, ...] | list[int]) -> None:
    acc = rows.setdefault(key, [0] * len(USAGE_FIELDS))
    for i, value in enumerate(counts):
        acc[i] += value


def day_rows(
    org: SimEnterpriseOrg,
    day: date,
    revision: int,
    activity: tuple[frozenset[str], frozenset[str]],
) -> dict[UsageKey, tuple[int, ...]]:
    rng = random.Random(f"ent-usage:{org.seed}:{day.isoformat()}")
    rows: dict[UsageKey, list[int]] = {}
    active, cowork = activity
    users = {u.id: u for u in org.users}
    if rng.random() >= 0.03:  # about one day in thirty has no usage at all: empty buckets
        for user_id in sorted(active):
            user = users[user_id]
            for n in range(rng.randint(1, 4)):
                product = "cowork" if n == 0 and user_id in cowork else _product(rng)
                add_counts(rows, *_draw_row(rng, org, user, product))
        for _ in range(rng.randint(2, 8)):  # API-key and automation traffic: no seat user
            add_counts(
                rows, *_draw_row(rng, org, None, rng.choice(("claude_code", "claude_code", "chat")))
            )
    for step in range(1, revision + 1):
        _apply_revision(rows, random.Random(f"ent-revise:{org.seed}:{day}:{step}"), org, active)
    return {key: tuple(counts) for key, counts in rows.items()}


def _product(rng: random.Random) -> str:
    # Cowork only for users who used it that day (their first row); others draw from the rest.
    choices = [(p, w) for p, w in PRODUCTS if p != "cowork"]
    return rng.choices([p for p, _ in choices], weights=[w for _, w in choices])[0]


def _draw_row(
    rng: random.Random, org: SimEnterpriseOrg, user: SimEnterpriseUser | None, product: str
) -> tuple[UsageKey, list[int]]:
    model = rng.choices(ENTERPRISE_MODELS, weights=[m.weight for m in ENTERPRISE_MODELS])[0]
    long_context = model.long_context and rng.random() < 0.25
    geo = rng.choice(("global", "global", "us")) if model.geo else "not_available"
    speed = "fast" if model.fast and product == "claude_code" and rng.random() < 0.3 else "standard"
    slack_share = 0.6 if user is None else 0.15  # Claude in Slack: chat in a channel
    slack = (
        rng.choice(org.slack_channels) if product == "chat" and rng.random() < slack_share else None
    )
    key: UsageKey = (
        user.id if user else None,
        # Channel usage is Claude Tag, the Claude product in Slack (reference §14.10: the value
        # is ``claude-tag``); direct messages stay under the user's own product.
        "claude-tag" if slack else product,
        model.id,
        "200k-1M" if long_context else "0-200k",
        geo,
        speed,
        user.rbac_group_id if user else None,
        slack,
    )
    requests = rng.randint(1, 14) if user else rng.randint(10, 150)
    prompt = rng.randint(210_000, 480_000) if long_context else rng.randint(400, 9_000)
    counts = [
        requests * prompt,
        requests * rng.randint(0, 4_000) if rng.random() < 0.5 else 0,
        requests * rng.randint(0, 2_500) if rng.random() < 0.2 else 0,
        requests * rng.randint(0, 40_000) if rng.random() < 0.65 else 0,
        requests * rng.randint(60, 1_800),
        rng.randint(1, requests // 3 + 1) if rng.random() < 0.15 else 0,
        requests,
    ]
    return key, counts


def _apply_revision(
    rows: dict[UsageKey, list[int]],
    rng: random.Random,
    org: SimEnterpriseOrg,
    active: frozenset[str],
) -> None:
    """An upstream correction: drop some rows, change others, add new ones."""
    existing = sorted(rows, key=repr)
    for key in rng.sample(existing, k=min(len(existing), 1 + len(existing) // 6)):
        del rows[key]
    for key in sorted(rows, key=repr):
        if rng.random() < 0.35:
            factor = rng.uniform(0.7, 1.4)
            counts = rows[key]
            rows[key] = [int(v * factor) for v in counts[:-1]] + [counts[-1]]
            rows[key][4] += rng.randint(1, 5_000)  # always a visible change in output tokens
    users = {u.id: u for u in org.users}
    candidates = [users[i] for i in sorted(active)]
    for _ in range(rng.randint(1, 3)):
        user = rng.choice(candidates) if candidates and rng.random() < 0.7 else None
        add_counts(rows, *_draw_row(rng, org, user, _product(rng)))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENTS_QUANTUM, rounding=ROUND_HALF_EVEN)


def day_costs(org: SimEnterpriseOrg, rows: dict[UsageKey, tuple[int, ...]]) -> list[CostPiece]:
    share = 1 - org.discount
    pieces: list[CostPiece] = []
    for key, counts in rows.items():
        user, product, model, context, geo, speed, rbac, slack = key
        price = price_of(model)
        for token_type, count in zip(TOKEN_TYPES, counts[:5], strict=True):
            if not count:
                continue
            rate = token_rate(price, token_type, inference_geo=geo, context_window=context)
            if speed == "fast":
                rate *= FAST_MULTIPLIER
            list_cents = Decimal(count) * rate / 10_000  # USD per million tokens -> cents
            piece_key: tuple[Any, ...] = (
                user,
                product,
                model,
                context,
                geo,
                speed,
                rbac,
                slack,
                "tokens",
                token_type,
            )
            pieces.append((piece_key, _cents(list_cents * share), _cents(list_cents)))
        if counts[5]:
            list_cents = WEB_SEARCH_USD * counts[5] * 100
            piece_key = (user, product, None, None, None, None, rbac, slack, "web_search", None)
            pieces.append((piece_key, _cents(list_cents * share), _cents(list_cents)))
    return pieces
