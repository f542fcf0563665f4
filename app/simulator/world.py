"""The simulated organizations and their data: deterministic, and the ground truth for tests.

Usage is generated per organization and day from a seeded RNG; costs are derived from usage
through the price table (plus web search and code execution), so they reconcile the way
Anthropic's reports do. ``revise`` bumps a day's revision, which regenerates that day: amounts
change, some rows disappear and new ones appear, as in a real upstream correction.
"""

from __future__ import annotations

import hashlib
import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from app.pricing import WEB_SEARCH_USD, price_for, token_rate

CENTS_QUANTUM = Decimal("0.000001")

# (model id, description name, supports inference_geo)
MODELS = [
    ("claude-opus-4-6", "Claude Opus 4.6", True),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", True),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", True),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", False),
    ("claude-sonnet-4-6", "Claude Sonnet 4.6", True),
    # A model no price table knows: the product must keep and show it, never drop it.
    ("claude-nimbus-7-preview", "Claude Nimbus 7 (preview)", True),
]
# Only the simulator knows what the unknown model costs (USD per million input/output).
HIDDEN_PRICES = {"claude-nimbus-7-preview": (Decimal(4), Decimal(20))}
TIERS = [("standard", 60), ("batch", 20), ("priority", 10), ("flex", 10)]
TOKEN_TYPES = [
    ("uncached_input_tokens", "Input Tokens"),
    ("cache_creation.ephemeral_5m_input_tokens", "Input Tokens, Cache Write (5m)"),
    ("cache_creation.ephemeral_1h_input_tokens", "Input Tokens, Cache Write (1h)"),
    ("cache_read_input_tokens", "Input Tokens, Cache Hit"),
    ("output_tokens", "Output Tokens"),
]
_USAGE_FIELD = {
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_creation_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens": "cache_creation_1h_input_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "output_tokens": "output_tokens",
}


@dataclass(frozen=True)
class UsageTruth:
    """One finest-grain usage row (every dimension)."""

    date: date
    api_key_id: str | None
    workspace_id: str | None
    model: str
    service_tier: str
    context_window: str
    inference_geo: str
    uncached_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    web_search_requests: int


@dataclass(frozen=True)
class CostTruth:
    """One row of the cost report grouped by workspace and description."""

    date: date
    workspace_id: str | None
    description: str
    cost_type: str
    model: str | None
    token_type: str | None
    service_tier: str | None
    context_window: str | None
    inference_geo: str | None
    amount_cents: Decimal


@dataclass
class SimWorkspace:
    id: str
    name: str
    created_at: datetime
    archived_at: datetime | None = None


@dataclass
class SimApiKey:
    id: str
    name: str
    workspace_id: str | None
    status: str
    created_at: datetime


@dataclass
class SimOrg:
    """A simulated Claude Console organization with its admin key and directory."""

    id: str
    name: str
    admin_key: str
    seed: int
    workspaces: list[SimWorkspace] = field(default_factory=list)
    api_keys: list[SimApiKey] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)
    rejected: bool = False


def _token(rng: random.Random, prefix: str, length: int = 24) -> str:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0123456789"
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def make_admin_key(rng: random.Random) -> str:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
    return "sk-ant-admin01-" + "".join(rng.choice(alphabet) for _ in range(93)) + "AA"


def build_org(name: str, seed: int, admin_key: str | None = None) -> SimOrg:
    rng = random.Random(f"org:{seed}")
    org_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    created = datetime(2024, 10, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 100_000))
    workspaces = []
    for i, ws_name in enumerate(["Production", "Staging", "Research", "Support Bot", "Old Pilot"]):
        workspaces.append(
            SimWorkspace(
                id=_token(rng, "wrkspc_01"),
                name=f"{ws_name}",
                created_at=created + timedelta(days=i),
                # One archived workspace: its old usage must keep its name.
                archived_at=created + timedelta(days=90) if ws_name == "Old Pilot" else None,
            )
        )
    keys = []
    statuses = ["active", "active", "active", "inactive", "active", "archived", "active", "active"]
    for i, status in enumerate(statuses):
        ws = None if i == 7 else workspaces[i % len(workspaces)].id  # one key in the default ws
        keys.append(
            SimApiKey(
                id=_token(rng, "apikey_01"),
                name=f"{name.split()[0].lower()}-key-{i + 1}",
                workspace_id=ws,
                status=status,
                created_at=created + timedelta(days=i, hours=1),
            )
        )
    users = [
        {"id": _token(rng, "user_01"), "type": "user", "email": f"{role}@{seed}.example",
         "name": role.title(), "role": role, "added_at": created.strftime("%Y-%m-%dT%H:%M:%SZ")}
        for role in ("admin", "developer", "billing")
    ]  # fmt: skip
    return SimOrg(
        id=org_id,
        name=name,
        admin_key=admin_key or make_admin_key(rng),
        seed=seed,
        workspaces=workspaces,
        api_keys=keys,
        users=users,
    )


class World:
    """All simulated organizations and the data generator (thread-safe, cached per day)."""

    def __init__(self, today: date, history_days: int) -> None:
        self.today = today
        self.first_day = today - timedelta(days=history_days)
        self.orgs: dict[str, SimOrg] = {}
        self._revisions: dict[tuple[str, date], int] = defaultdict(int)
        self._usage_cache: dict[tuple[str, date, int], list[UsageTruth]] = {}
        self._cost_cache: dict[tuple[str, date, int], list[CostTruth]] = {}
        self._lock = threading.RLock()

    def revise(self, org_id: str, days: int) -> None:
        with self._lock:
            for back in range(days):
                self._revisions[(org_id, self.today - timedelta(days=back))] += 1

    # --- usage ---------------------------------------------------------------------------

    def usage(self, org_id: str, day: date) -> list[UsageTruth]:
        with self._lock:
            rev = self._revisions[(org_id, day)]
            key = (org_id, day, rev)
            if key not in self._usage_cache:
                self._usage_cache[key] = self._generate_usage(self.orgs[org_id], day, rev)
            return self._usage_cache[key]

    def _generate_usage(self, org: SimOrg, day: date, rev: int) -> list[UsageTruth]:
        if day < self.first_day or day > self.today:
            return []
        digest = hashlib.sha256(f"{org.seed}:{day.isoformat()}:{rev}".encode()).hexdigest()
        rng = random.Random(int(digest[:16], 16))
        if rng.random() < 0.05:
            return []  # quiet days exist (weekends, holidays): empty buckets
        active_keys = [k for k in org.api_keys if k.status != "archived" or rng.random() < 0.3]
        rows: dict[tuple[object, ...], list[int]] = {}
        for _ in range(rng.randint(10, 25)):
            key = rng.choice([*active_keys, None])
            api_key_id = key.id if key else None
            workspace_id = key.workspace_id if key else None
            model, _, geo_ok = rng.choice(MODELS)
            tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
            context = (
                "200k-1M"
                if model.startswith("claude-sonnet-4-5") and rng.random() < 0.3
                else "0-200k"
            )
            geo = rng.choice(["global", "global", "us"]) if geo_ok else "not_available"
            dims = (api_key_id, workspace_id, model, tier, context, geo)
            scale = rng.choice([1, 10, 100, 1000])
            tokens = [
                rng.randint(0, 50_000) * scale,
                rng.randint(0, 5_000) * scale if rng.random() < 0.5 else 0,
                rng.randint(0, 2_000) * scale if rng.random() < 0.3 else 0,
                rng.randint(0, 80_000) * scale if rng.random() < 0.6 else 0,
                rng.randint(1, 20_000) * scale,
                rng.randint(1, 40) if rng.random() < 0.15 else 0,
            ]
            acc = rows.setdefault(dims, [0] * 6)
            for i, value in enumerate(tokens):
                acc[i] += value
        return [UsageTruth(day, *dims, *counts) for dims, counts in rows.items()]  # type: ignore[arg-type]

    # --- cost ----------------------------------------------------------------------------

    def cost(self, org_id: str, day: date) -> list[CostTruth]:
        with self._lock:
            rev = self._revisions[(org_id, day)]
            key = (org_id, day, rev)
            if key not in self._cost_cache:
                self._cost_cache[key] = self._generate_cost(self.orgs[org_id], day, rev)
            return self._cost_cache[key]

    def _generate_cost(self, org: SimOrg, day: date, rev: int) -> list[CostTruth]:
        names = {m: n for m, n, _ in MODELS}
        totals: dict[tuple[object, ...], Decimal] = defaultdict(Decimal)
        searches: dict[str | None, int] = defaultdict(int)
        for row in self.usage(org.id, day):
            searches[row.workspace_id] += row.web_search_requests
            if row.service_tier in ("priority",):
                continue  # Priority Tier cost is contract-based: not in the cost report
            for token_type, label in TOKEN_TYPES:
                count = getattr(row, _USAGE_FIELD[token_type])
                if not count:
                    continue
                usd = Decimal(count) * _rate(row, token_type) / Decimal(1_000_000)
                suffix = ""
                if row.service_tier == "batch":
                    suffix += " (Batch)"
                if row.service_tier == "flex":
                    suffix += " (Flex)"
                if row.context_window == "200k-1M":
                    suffix += " (Long Context)"
                description = f"{names[row.model]} Usage - {label}{suffix}"
                key = ("tokens", row.workspace_id, description, row.model, token_type,
                       row.service_tier, row.context_window, row.inference_geo)  # fmt: skip
                totals[key] += usd * 100
        result = [
            CostTruth(day, ws, desc, cost_type, model, token_type, tier, context, geo,
                      cents.quantize(CENTS_QUANTUM, rounding=ROUND_HALF_EVEN))
            for (cost_type, ws, desc, model, token_type, tier, context, geo), cents
            in totals.items()
        ]  # fmt: skip
        for ws, count in searches.items():
            if count:
                cents = (WEB_SEARCH_USD * count * 100).quantize(CENTS_QUANTUM)
                result.append(CostTruth(day, ws, "Web Search Usage", "web_search",
                                        None, None, None, None, None, cents))  # fmt: skip
        digest = hashlib.sha256(f"code:{org.seed}:{day.isoformat()}:{rev}".encode()).hexdigest()
        rng = random.Random(int(digest[:16], 16))
        if result and rng.random() < 0.4:
            ws = rng.choice([w.id for w in org.workspaces if w.archived_at is None] + [None])
            cents = (Decimal(rng.randint(5, 90_000)) / Decimal(1000)).quantize(CENTS_QUANTUM)
            result.append(CostTruth(day, ws, "Code Execution Usage", "code_execution",
                                    None, None, None, None, None, cents))  # fmt: skip
        return result


def _rate(row: UsageTruth, token_type: str) -> Decimal:
    price = price_for(row.model)
    if price is None:
        hidden_in, hidden_out = HIDDEN_PRICES[row.model]
        base = {
            "uncached_input_tokens": hidden_in,
            "cache_creation.ephemeral_5m_input_tokens": hidden_in * Decimal("1.25"),
            "cache_creation.ephemeral_1h_input_tokens": hidden_in * 2,
            "cache_read_input_tokens": hidden_in * Decimal("0.1"),
            "output_tokens": hidden_out,
        }[token_type]
        return base * (Decimal("0.5") if row.service_tier == "batch" else 1)
    rate = token_rate(
        price,
        token_type,
        service_tier=row.service_tier,
        inference_geo=row.inference_geo,
        context_window=row.context_window,
    )
    if row.service_tier == "flex":
        rate *= Decimal("0.8")  # an invented discount: flex pricing is not public
    return rate
