"""Simulated organizations and their data: deterministic, and the ground truth for tests.

Usage is generated per organization and day from RNGs seeded by (org seed, day, revision),
so any day can be produced alone, in any order, and always comes out the same. Costs are
derived from that usage through ``app.simulator.pricing`` (plus web search and code
execution), so the two reports reconcile the way Anthropic's do. ``revise`` bumps the revision
of recent days: some rows change, some disappear and new ones appear, as in an upstream
correction.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from app.simulator.pricing import (
    TOKEN_TYPES,
    WEB_SEARCH_USD,
    ModelPrice,
    price_for,
    token_rate,
)

CENTS_QUANTUM = Decimal("0.000001")  # the cost report gives cents with up to 6 decimals
KEY_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"
ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"  # base58, as real ids


@dataclass(frozen=True)
class SimModel:
    id: str
    label: str  # as in cost-report descriptions: "Claude Sonnet 4.5 Usage - Input Tokens"
    geo: bool  # supports inference_geo (4.6+); older models report "not_available"
    weight: int


MODELS = (
    SimModel("claude-opus-4-6", "Claude Opus 4.6", True, 15),
    SimModel("claude-sonnet-4-6", "Claude Sonnet 4.6", True, 20),
    SimModel("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", False, 20),
    SimModel("claude-haiku-4-5-20251001", "Claude Haiku 4.5", False, 20),
    SimModel("claude-3-5-haiku-20241022", "Claude Haiku 3.5", False, 10),
    # A model no price table knows: the product must keep and show it, never drop it.
    SimModel("claude-nimbus-7-preview", "Claude Nimbus 7 Preview", True, 8),
)
LONG_CONTEXT_MODEL = "claude-sonnet-4-5-20250929"
# What the unknown model costs is known only to the simulator, so it still has cost rows.
HIDDEN_PRICES = {
    "claude-nimbus-7-preview": ModelPrice(
        "Claude Nimbus 7 Preview",
        Decimal(4),
        Decimal(5),
        Decimal(8),
        Decimal("0.4"),
        Decimal(20),
        us_residency_surcharge=True,
    ),
}
FLEX_DISCOUNT = Decimal("0.8")  # invented: flex pricing is not public
TIERS = (("standard", 60), ("batch", 18), ("priority", 12), ("flex", 10))
# Tiers that appear in the cost report: the reference allows only standard and batch there
# (§4.2). Priority is billed by contract; how flex is billed is UNCONFIRMED, so like priority
# it is usage without a cost line (issue 16).
COSTED_TIERS = frozenset({"standard", "batch"})
TOKEN_LABELS = {
    "uncached_input_tokens": "Input Tokens",
    "cache_creation.ephemeral_5m_input_tokens": "Input Tokens, Cache Write",
    "cache_creation.ephemeral_1h_input_tokens": "Input Tokens, Cache Write (1h)",
    "cache_read_input_tokens": "Input Tokens, Cache Hit",
    "output_tokens": "Output Tokens",
}
# UsageTruth attribute holding each cost-report token type.
USAGE_FIELD = {
    "uncached_input_tokens": "uncached_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens": "cache_creation_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens": "cache_creation_1h_input_tokens",
    "cache_read_input_tokens": "cache_read_input_tokens",
    "output_tokens": "output_tokens",
}
USAGE_DIMENSIONS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
USAGE_COUNTS = (
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
)


@dataclass(frozen=True)
class UsageTruth:
    """One finest-grain usage row: one day and one value of every dimension."""

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
    """One row of the cost report grouped by ``workspace_id`` and ``description``."""

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

    def live_on(self, day: date) -> bool:
        return self.created_at.date() <= day and (
            self.archived_at is None or day < self.archived_at.date()
        )


@dataclass
class SimApiKey:
    id: str
    name: str
    workspace_id: str | None  # None: the Default workspace
    status: str
    created_at: datetime
    created_by: str
    hint: str
    last_used_on: date | None = None  # inactive, archived and expired keys stopped being used
    # Who the key acts for: ("user", user id), ("service_account", svac id), or None (the key
    # is its own actor in the Usage and Cost Analytics API).
    principal: tuple[str, str] | None = None

    def used_on(self, day: date) -> bool:
        return self.created_at.date() <= day and (
            self.last_used_on is None or day <= self.last_used_on
        )


@dataclass
class SimOrg:
    """A simulated Claude Console organization: identity, admin key and directory."""

    id: str
    name: str
    admin_key: str
    seed: int
    workspaces: list[SimWorkspace] = field(default_factory=list)
    api_keys: list[SimApiKey] = field(default_factory=list)
    users: list[dict[str, str]] = field(default_factory=list)
    rejected: bool = False  # the key was revoked or expired: every request gets 401
    # The Default workspace's real id (reference §14.5): in API keys' ``scope`` only; reports
    # and the deprecated top-level ``workspace_id`` show null for it.
    default_workspace_id: str = ""


def _random_id(rng: random.Random, prefix: str, length: int = 22) -> str:
    return prefix + "".join(rng.choice(ID_ALPHABET) for _ in range(length))


def make_admin_key(rng: random.Random) -> str:
    """An admin key of the shape secret scanners look for: prefix, 93 characters, ``AA``."""
    return "sk-ant-admin01-" + "".join(rng.choice(KEY_ALPHABET) for _ in range(93)) + "AA"


def _at(day: date, hours: float = 0.0) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC) + timedelta(hours=hours)


# (name, workspace index or None for Default, status, days before today it was last used)
_KEYS = (
    ("prod-backend", 0, "active", None),
    ("prod-batch-jobs", 0, "active", None),
    ("staging-ci", 1, "active", None),
    ("research-notebooks", 2, "active", None),
    ("support-bot", 3, "active", None),
    ("pilot-app", 4, "archived", 46),
    ("intern-experiments", 2, "inactive", 20),
    ("ops-scripts", None, "active", None),
    ("contractor-2025", 1, "expired", 70),  # a 2026 status value: enums are open
)
_WORKSPACES = ("Production", "Staging", "Research", "Support Bot", "Old Pilot")
ARCHIVED_WORKSPACE = "Old Pilot"
ARCHIVED_DAYS_AGO = 45


def build_org(
    name: str, seed: int, *, today: date, history_days: int, admin_key: str | None = None
) -> SimOrg:
    """An organization whose ids, keys and directory depend only on ``seed`` and ``today``."""
    rng = random.Random(f"org:{seed}")
    org_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    key = make_admin_key(rng)  # drawn even when overridden, so the ids below stay the same
    founded = today - timedelta(days=history_days + 30 + rng.randint(0, 300))
    users = []
    for i, (role, person) in enumerate(
        (
            ("admin", "Ada Admin"),
            ("developer", "Dev Eloper"),
            ("billing", "Bill Ing"),
            ("claude_code_user", "Cody Coder"),
        )
    ):
        users.append(
            {
                "id": _random_id(rng, "user_01"),
                "type": "user",
                "email": f"{role.replace('_', '.')}@{name.split()[0].lower()}-{seed}.example",
                "name": person,
                "role": role,
                "added_at": _fmt(_at(founded + timedelta(days=i), 9.5)),
            }
        )
    workspaces = [
        SimWorkspace(
            id=_random_id(rng, "wrkspc_01"),
            name=ws_name,
            created_at=_at(founded + timedelta(days=1 + i), 10 + i),
            # Archived mid-history so its older usage must still show under its name.
            archived_at=_at(today - timedelta(days=ARCHIVED_DAYS_AGO), 16)
            if ws_name == ARCHIVED_WORKSPACE
            else None,
        )
        for i, ws_name in enumerate(_WORKSPACES)
    ]
    api_keys = []
    # Drawn from their own RNG, so every id above and below stays what it always was.
    extra_rng = random.Random(f"org-principals:{seed}")
    default_workspace_id = _random_id(extra_rng, "wrkspc_01")
    for i, (key_name, ws_index, status, stopped_days_ago) in enumerate(_KEYS):
        secret_tail = "".join(rng.choice(ID_ALPHABET) for _ in range(5))
        principal: tuple[str, str] | None = (
            ("user", users[i % 2]["id"])
            if i % 3 == 0
            else ("service_account", _random_id(extra_rng, "svac_01"))
            if i % 3 == 1
            else None
        )
        api_keys.append(
            SimApiKey(
                id=_random_id(rng, "apikey_01"),
                name=key_name,
                workspace_id=None if ws_index is None else workspaces[ws_index].id,
                status=status,
                created_at=_at(founded + timedelta(days=2 + i), 11.25),
                created_by=users[i % 2]["id"],
                hint=f"sk-ant-api03-{secret_tail[:3]}...{secret_tail[3:]}AA",
                last_used_on=None
                if stopped_days_ago is None
                else today - timedelta(days=stopped_days_ago),
                principal=principal,
            )
        )
    return SimOrg(
        id=org_id,
        name=name,
        admin_key=admin_key or key,
        seed=seed,
        workspaces=workspaces,
        api_keys=api_keys,
        users=users,
        default_workspace_id=default_workspace_id,
    )


class World:
    """All simulated organizations and their generated data (thread-safe, cached per day)."""

    def __init__(self, today: date, history_days: int) -> None:
        self.today = today
        self.history_days = history_days
        self.first_day = today - timedelta(days=history_days)
        self.orgs: dict[str, SimOrg] = {}
        # Emit the deprecated forms next to the new ones (``summaries`` beside ``data``, a key's
        # top-level ``workspace_id`` beside ``scope``, an actor's ``email`` beside
        # ``email_address``), as the API does "for a while"; False: the new forms only.
        self.legacy_fields = True
        self._revisions: dict[tuple[str, date], int] = defaultdict(int)
        self._usage_cache: dict[tuple[str, date, int], list[UsageTruth]] = {}
        self._cost_cache: dict[tuple[str, date, int], list[CostTruth]] = {}
        self._lock = threading.RLock()
        # Imported here: both modules build on this one.
        from app.simulator.claude_code import ClaudeCodeData
        from app.simulator.enterprise import EnterpriseWorld
        from app.simulator.usage_cost_analytics import KeyCostData

        self.claude_code = ClaudeCodeData(self)  # Console orgs' Claude Code analytics (§6)
        self.enterprise = EnterpriseWorld(self)  # Claude Enterprise orgs and analytics (§7)
        self.key_cost = KeyCostData(self)  # Console orgs' per-key cost (analytics/cost, §13)

    def revise(self, org_id: str, days: int) -> None:
        """Revise today and the ``days - 1`` days before it."""
        with self._lock:
            for back in range(days):
                self._revisions[(org_id, self.today - timedelta(days=back))] += 1

    def usage(self, org_id: str, day: date) -> list[UsageTruth]:
        """The finest-grain usage rows of one day (shared list: do not mutate)."""
        with self._lock:
            key = (org_id, day, self._revisions[(org_id, day)])
            if key not in self._usage_cache:
                self._usage_cache[key] = _day_usage(self.orgs[org_id], day, key[2], self)
            return self._usage_cache[key]

    def cost(self, org_id: str, day: date) -> list[CostTruth]:
        """The cost rows of one day grouped by workspace and description (do not mutate)."""
        with self._lock:
            key = (org_id, day, self._revisions[(org_id, day)])
            if key not in self._cost_cache:
                org = self.orgs[org_id]
                self._cost_cache[key] = _day_cost(org, day, key[2], self.usage(org_id, day))
            return self._cost_cache[key]


# --- usage -------------------------------------------------------------------------------------

_Dims = tuple[str | None, str | None, str, str, str, str]


def _day_usage(org: SimOrg, day: date, revision: int, world: World) -> list[UsageTruth]:
    if day < world.first_day or day > world.today:
        return []
    rng = random.Random(f"usage:{org.seed}:{day.isoformat()}")
    rows: dict[_Dims, list[int]] = {}
    if rng.random() >= 0.06:  # about one day in seventeen has no usage at all: empty buckets
        # Volume grows over the history and drops at weekends, so charts have a shape.
        progress = (day - world.first_day).days / max(world.history_days, 1)
        volume = (0.5 + progress) * (0.35 if day.weekday() >= 5 else 1.0)
        for _ in range(rng.randint(10, 25)):
            _add(rows, *_draw_row(rng, org, day, volume))
    for step in range(1, revision + 1):
        _apply_revision(rows, random.Random(f"revise:{org.seed}:{day}:{step}"), org, day)
    return [UsageTruth(day, *dims, *counts) for dims, counts in rows.items()]


def _add(rows: dict[_Dims, list[int]], dims: _Dims, counts: list[int]) -> None:
    acc = rows.setdefault(dims, [0] * len(USAGE_COUNTS))
    for i, value in enumerate(counts):
        acc[i] += value


def _draw_row(rng: random.Random, org: SimOrg, day: date, volume: float) -> tuple[_Dims, list[int]]:
    keys = [k for k in org.api_keys if k.used_on(day)]
    key = rng.choice(keys) if keys and rng.random() >= 0.1 else None
    if key is not None:
        workspace_id = key.workspace_id
    else:
        # Console Workbench usage has no API key; it happens in any workspace open that day.
        live = [w.id for w in org.workspaces if w.live_on(day)]
        workspace_id = rng.choice([None, *live])
    model = rng.choices(MODELS, weights=[m.weight for m in MODELS])[0]
    tier = rng.choices([t for t, _ in TIERS], weights=[w for _, w in TIERS])[0]
    long_context = model.id == LONG_CONTEXT_MODEL and rng.random() < 0.3
    geo = rng.choice(("global", "global", "us")) if model.geo else "not_available"
    dims: _Dims = (
        key.id if key else None,
        workspace_id,
        model.id,
        tier,
        "200k-1M" if long_context else "0-200k",
        geo,
    )
    requests = max(1, int(rng.randint(5, 400) * volume * (0.1 if long_context else 1.0)))
    prompt = rng.randint(220_000, 600_000) if long_context else rng.randint(300, 6_000)
    counts = [
        requests * prompt,
        requests * rng.randint(0, 3_000) if rng.random() < 0.5 else 0,
        requests * rng.randint(0, 2_000) if rng.random() < 0.25 else 0,
        requests * rng.randint(0, 30_000) if rng.random() < 0.6 else 0,
        requests * rng.randint(80, 1_500),
        rng.randint(1, requests // 4 + 1) if rng.random() < 0.12 else 0,
    ]
    return dims, counts


def _apply_revision(
    rows: dict[_Dims, list[int]], rng: random.Random, org: SimOrg, day: date
) -> None:
    """An upstream correction: drop some rows, change others, add new ones."""
    existing = sorted(rows, key=repr)  # dict order is deterministic too, but be explicit
    for dims in rng.sample(existing, k=min(len(existing), 1 + len(existing) // 6)):
        del rows[dims]
    for dims in sorted(rows, key=repr):
        if rng.random() < 0.35:
            factor = rng.uniform(0.7, 1.4)
            rows[dims] = [int(v * factor) for v in rows[dims]]
            rows[dims][4] += rng.randint(1, 5_000)  # always a visible change in output tokens
    for _ in range(rng.randint(1, 3)):
        _add(rows, *_draw_row(rng, org, day, 1.0))


# --- cost --------------------------------------------------------------------------------------


def price_of(model: str) -> ModelPrice:
    """The public price, or the simulator's hidden price for a model no table knows."""
    price = price_for(model)
    return price if price is not None else HIDDEN_PRICES[model]


def _usd_per_million(row: UsageTruth, token_type: str) -> Decimal:
    rate = token_rate(
        price_of(row.model),
        token_type,
        service_tier=row.service_tier,
        inference_geo=row.inference_geo,
        context_window=row.context_window,
    )
    return rate * FLEX_DISCOUNT if row.service_tier == "flex" else rate


def _description(row: UsageTruth, token_type: str) -> str:
    label = next(m.label for m in MODELS if m.id == row.model)
    suffix = ""
    if row.service_tier == "batch":
        suffix += " (Batch)"
    elif row.service_tier == "flex":
        suffix += " (Flex)"
    if row.context_window == "200k-1M":
        suffix += " (Long Context)"
    # inference_geo is deliberately not in the text: rows that differ only by geo share a
    # description, so a product keying on description alone would merge them (and be wrong).
    return f"{label} Usage - {TOKEN_LABELS[token_type]}{suffix}"


def _cents(usd: Decimal) -> Decimal:
    return (usd * 100).quantize(CENTS_QUANTUM, rounding=ROUND_HALF_EVEN)


def _day_cost(org: SimOrg, day: date, revision: int, usage: list[UsageTruth]) -> list[CostTruth]:
    # (workspace, description, model, token type, tier, context window, geo) -> USD
    token_usd: dict[tuple[str | None, str, str, str, str, str, str], Decimal] = defaultdict(Decimal)
    searches: dict[str | None, int] = defaultdict(int)
    for row in usage:
        if row.service_tier not in COSTED_TIERS:
            continue  # Priority Tier is billed by contract: never in the cost report
        searches[row.workspace_id] += row.web_search_requests
        for token_type in TOKEN_TYPES:
            count = getattr(row, USAGE_FIELD[token_type])
            if count:
                key = (
                    row.workspace_id,
                    _description(row, token_type),
                    row.model,
                    token_type,
                    row.service_tier,
                    row.context_window,
                    row.inference_geo,
                )
                token_usd[key] += Decimal(count) * _usd_per_million(row, token_type) / 1_000_000
    result = [
        CostTruth(day, ws, desc, "tokens", model, token_type, tier, context, geo, _cents(usd))
        for (ws, desc, model, token_type, tier, context, geo), usd in token_usd.items()
    ]
    result += [
        CostTruth(
            day,
            ws,
            "Web Search Usage",
            "web_search",
            None,
            None,
            None,
            None,
            None,
            _cents(WEB_SEARCH_USD * count),
        )
        for ws, count in searches.items()
        if count
    ]
    # Code execution is billed per container-hour and is absent from the usage report.
    rng = random.Random(f"code:{org.seed}:{day.isoformat()}:{revision}")
    if usage and rng.random() < 0.4:
        live = [w.id for w in org.workspaces if w.live_on(day)]
        hours = Decimal(rng.randint(1, 400)) / 4  # 15-minute steps
        result.append(
            CostTruth(
                day,
                rng.choice([None, *live]),
                "Code Execution Usage",
                "code_execution",
                None,
                None,
                None,
                None,
                None,
                _cents(hours * Decimal("0.05")),
            )
        )
    return result


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
