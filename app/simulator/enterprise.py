"""Simulated Claude Enterprise (claude.ai) organizations and their analytics data (§7).

Each organization has seat users (some deleted, most in an RBAC group), Slack channels and a
negotiated discount. Per day it has:

- engagement: which seat users were active (and in Cowork), from which the daily summaries
  (DAU/WAU/MAU, adoption, seats, invites) and the per-user engagement rows are derived;
- usage at the finest grain: (user or None, product, model, context window, inference geo,
  speed, RBAC group, Slack channel) with token counts, web searches and requests. Rows with
  no user are API-key and automation traffic: in the organization reports, never in the
  per-user ones;
- cost derived from that usage through ``app.simulator.pricing`` (list price; ``amount`` after the
  discount), rounded to a millionth of a cent per finest-grain piece, so per-user cost sums
  exactly to the seat-user share of the organization's cost.

Everything comes from RNGs seeded by (org seed, day, revision): any day can be produced alone
and always comes out the same. ``revise`` bumps the revision of recent days (rows change,
vanish, appear) and counts a data refresh, which moves ``data_refreshed_at`` and expires the
cursors handed out before it.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from app.simulator.pricing import TOKEN_TYPES, WEB_SEARCH_USD, token_rate
from app.simulator.world import ID_ALPHABET, KEY_ALPHABET, _fmt, _random_id, price_of

if TYPE_CHECKING:
    from app.simulator.world import World

ANALYTICS_START = date(2026, 1, 1)  # no Enterprise analytics data before this day
ANALYTICS_SCOPE = "read:analytics"
CENTS_QUANTUM = Decimal("0.000001")
FAST_MULTIPLIER = Decimal(2)  # fast mode on Opus 4.8: $10/$50 instead of $5/$25, every type
PRODUCTS = (
    ("chat", 38), ("claude_code", 26), ("cowork", 12), ("office_agent", 14),
    ("claude_in_chrome", 10),
)  # fmt: skip
# Organization-report dimensions (group_by[] values) and the cost-only ones.
DIMENSIONS = (
    "product", "model", "context_window", "inference_geo", "speed", "rbac_group_id",
    "slack_channel_id",
)  # fmt: skip
COST_DIMENSIONS = (*DIMENSIONS, "cost_type", "token_type")
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
TOKEN_FIELDS = USAGE_FIELDS[:5]  # the ones that add up to total_tokens, in TOKEN_TYPES order
_RBAC_GROUPS = ("Engineering", "Sales", "Legal", "Research", "Operations")
_FIRST = ("Ada", "Ben", "Chloe", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jade",
          "Kenji", "Lucia", "Mateo", "Nadia", "Omar", "Petra", "Quinn", "Rosa", "Sven", "Tara",
          "Umar", "Vera")  # fmt: skip
_LAST = ("Abe", "Brandt", "Costa", "Diaz", "Eze", "Fischer", "Gupta", "Horvat", "Ito",
         "Jensen", "Khan", "Lopez", "Meyer", "Nakamura", "Osei", "Park")  # fmt: skip
_SLACK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


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


# --- organizations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SimEnterpriseUser:
    id: str
    name: str
    email: str
    added_on: date
    deleted_on: date | None  # deleted users keep their past usage, with ``deleted: true``
    rbac_group_id: str | None
    propensity: float  # chance of being active on a working day
    cowork: float  # chance of using Cowork on an active day

    @property
    def deleted(self) -> bool:
        return self.deleted_on is not None

    def seated_on(self, day: date) -> bool:
        return self.added_on <= day and (self.deleted_on is None or day < self.deleted_on)


@dataclass
class SimEnterpriseOrg:
    """A simulated Claude Enterprise organization: identity, analytics key, seat users."""

    id: str
    name: str
    key: str  # an ``sk-ant-api01-`` Enterprise key
    seed: int
    scopes: tuple[str, ...] = (ANALYTICS_SCOPE,)
    users: list[SimEnterpriseUser] = field(default_factory=list)
    rbac_groups: list[dict[str, str]] = field(default_factory=list)  # {"id", "name"}
    slack_channels: list[str] = field(default_factory=list)
    discount: Decimal = Decimal("0.15")  # amount = list_amount * (1 - discount)
    rejected: bool = False  # the key was revoked: 401 (cost/usage) or 404 (engagement)
    api_enabled: bool = True  # the Analytics API access toggle: off means 403 for everything


def make_enterprise_key(rng: random.Random) -> str:
    return "sk-ant-api01-" + "".join(rng.choice(KEY_ALPHABET) for _ in range(93)) + "AA"


def build_enterprise_org(
    name: str,
    seed: int,
    *,
    today: date,
    history_days: int,
    key: str | None = None,
    scopes: tuple[str, ...] = (ANALYTICS_SCOPE,),
) -> SimEnterpriseOrg:
    """An organization whose ids, key and users depend only on ``seed`` and ``today``."""
    rng = random.Random(f"enterprise:{seed}")
    org_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    drawn_key = make_enterprise_key(rng)  # drawn even when overridden: the rest stays the same
    founded = min(ANALYTICS_START, today - timedelta(days=history_days)) - timedelta(
        days=rng.randint(30, 120)
    )
    domain = f"{name.split()[0].lower()}-{seed}.example"
    groups = [{"id": _random_id(rng, "rbac_group_01"), "name": n} for n in _RBAC_GROUPS]
    channels = ["C0" + "".join(rng.choice(_SLACK_ALPHABET) for _ in range(9)) for _ in range(5)]
    count = rng.randint(70, 110)
    names = rng.sample([(f, s) for f in _FIRST for s in _LAST], k=count)
    late_span = max((today - timedelta(days=10) - founded).days, 1)
    users = []
    for i, (first, last) in enumerate(names):
        added = founded + timedelta(
            days=rng.randint(0, 10) if i < count * 0.6 else rng.randint(0, late_span)
        )
        deleted_on = None
        if i % 23 == 5:  # a few people left: their history stays, flagged as deleted
            lo, hi = added + timedelta(days=14), today - timedelta(days=3)
            if lo < hi:
                deleted_on = lo + timedelta(days=rng.randint(0, (hi - lo).days))
        users.append(
            SimEnterpriseUser(
                id=_random_id(rng, "user_01"),
                name=f"{first} {last}",
                email=f"{first.lower()}.{last.lower()}@{domain}",
                added_on=added,
                deleted_on=deleted_on,
                rbac_group_id=rng.choice(groups)["id"] if rng.random() < 0.85 else None,
                propensity=_propensity(rng),
                cowork=0.0 if rng.random() < 0.5 else rng.uniform(0.1, 0.6),
            )
        )
    return SimEnterpriseOrg(
        id=org_id,
        name=name,
        key=key or drawn_key,
        seed=seed,
        scopes=tuple(scopes),
        users=users,
        rbac_groups=groups,
        slack_channels=channels,
        discount=Decimal(rng.choice(("0.08", "0.12", "0.15", "0.20"))),
    )


def _propensity(rng: random.Random) -> float:
    """A seat user's chance of being active on a working day: dormant, occasional, regular."""
    kind = rng.random()
    if kind < 0.15:
        return rng.uniform(0.0, 0.02)
    if kind < 0.45:
        return rng.uniform(0.03, 0.2)
    return rng.uniform(0.3, 0.9)


# --- ground truth --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnterpriseUsageTruth:
    """Organization usage of one day at the finest grain of the report's dimensions."""

    date: date
    product: str
    model: str
    context_window: str
    inference_geo: str
    speed: str
    rbac_group_id: str | None
    slack_channel_id: str | None
    uncached_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    web_search_requests: int
    requests: int


@dataclass(frozen=True)
class EnterpriseCostTruth:
    """Organization cost of one day at the finest grain (every ``group_by[]`` dimension)."""

    date: date
    product: str
    model: str | None  # None for web search
    context_window: str | None
    inference_geo: str | None
    speed: str | None
    rbac_group_id: str | None
    slack_channel_id: str | None
    cost_type: str  # "tokens" or "web_search"
    token_type: str | None
    amount_cents: Decimal
    list_amount_cents: Decimal


@dataclass(frozen=True)
class UserUsageTruth:
    """One seat user's usage of one day."""

    date: date
    user_id: str
    uncached_input_tokens: int
    cache_creation_5m_input_tokens: int
    cache_creation_1h_input_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    web_search_requests: int
    requests: int

    @property
    def total_tokens(self) -> int:
        return sum(getattr(self, name) for name in TOKEN_FIELDS)


@dataclass(frozen=True)
class UserCostTruth:
    """One seat user's cost of one day."""

    date: date
    user_id: str
    amount_cents: Decimal
    list_amount_cents: Decimal


# Finest-grain keys: (user_id, *DIMENSIONS) for usage, (user_id, *COST_DIMENSIONS) for cost.
UsageKey = tuple[Any, ...]
CostPiece = tuple[tuple[Any, ...], Decimal, Decimal]  # key, amount, list amount


def midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


class EnterpriseWorld:
    """The Enterprise organizations of a ``World`` and their data (thread-safe, cached)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.orgs: dict[str, SimEnterpriseOrg] = {}
        self._revisions: dict[tuple[str, date], int] = defaultdict(int)
        self._refreshes: dict[str, int] = defaultdict(int)
        self._rows: dict[tuple[str, date, int], dict[UsageKey, tuple[int, ...]]] = {}
        self._costs: dict[tuple[str, date, int], list[CostPiece]] = {}
        self._activity: dict[tuple[str, date], tuple[frozenset[str], frozenset[str]]] = {}
        self._lock = threading.RLock()

    @property
    def today(self) -> date:
        return self.world.today

    @property
    def first_data_day(self) -> date:
        """Enterprise data starts on 2026-01-01 whatever the simulator's ``history_days``:
        the API's own floor."""
        return ANALYTICS_START

    def has_data(self, day: date) -> bool:
        """Cost and usage exist for complete days only: never today or later."""
        return self.first_data_day <= day < self.world.today

    # --- refreshes ---------------------------------------------------------------------------

    def revise(self, org_id: str, days: int) -> None:
        """Revise the ``days`` most recent complete days (yesterday and before) and count a
        data refresh."""
        with self._lock:
            for back in range(1, days + 1):
                self._revisions[(org_id, self.world.today - timedelta(days=back))] += 1
            self._refreshes[org_id] += 1

    def refresh_count(self, org_id: str) -> int:
        with self._lock:
            return self._refreshes[org_id]

    def refreshed_at(self, org_id: str) -> datetime:
        """The ``data_refreshed_at`` watermark: today's midnight, later after each refresh."""
        return midnight(self.world.today) + timedelta(minutes=5 * self.refresh_count(org_id))

    # --- generated data ------------------------------------------------------------------------

    def activity(self, org_id: str, day: date) -> tuple[frozenset[str], frozenset[str]]:
        """Ids of the seat users active that day, and of those who used Cowork."""
        with self._lock:
            key = (org_id, day)
            if key not in self._activity:
                self._activity[key] = _activity(self.orgs[org_id], day)
            return self._activity[key]

    def rows(self, org_id: str, day: date) -> dict[UsageKey, tuple[int, ...]]:
        """Finest-grain usage of one day, keyed by (user_id, *DIMENSIONS) (do not mutate)."""
        with self._lock:
            key = (org_id, day, self._revisions[(org_id, day)])
            if key not in self._rows:
                self._rows[key] = (
                    _day_rows(self.orgs[org_id], day, key[2], self.activity(org_id, day))
                    if self.has_data(day)
                    else {}
                )
            return self._rows[key]

    def cost_pieces(self, org_id: str, day: date) -> list[CostPiece]:
        """Finest-grain cost of one day, keyed by (user_id, *COST_DIMENSIONS); keys may repeat
        (web search of rows that differ only by model). Do not mutate."""
        with self._lock:
            key = (org_id, day, self._revisions[(org_id, day)])
            if key not in self._costs:
                self._costs[key] = _day_costs(self.orgs[org_id], self.rows(org_id, day))
            return self._costs[key]

    def summary(self, org_id: str, day: date) -> dict[str, Any]:
        org = self.orgs[org_id]
        window = [self.activity(org_id, day - timedelta(days=back)) for back in range(30)]

        def distinct(days: int, index: int) -> int:
            return len(frozenset().union(*(w[index] for w in window[:days])))

        seats = sum(1 for u in org.users if u.seated_on(day))
        dau, wau, mau = distinct(1, 0), distinct(7, 0), distinct(30, 0)
        invites = random.Random(f"ent-invites:{org.seed}:{day.isoformat()}").randint(0, 6)

        def rate(count: int) -> float:
            return round(count / seats, 4) if seats else 0.0

        return {
            "starting_at": _fmt(midnight(day)),
            "ending_at": _fmt(midnight(day + timedelta(days=1))),
            "daily_active_user_count": dau,
            "weekly_active_user_count": wau,
            "monthly_active_user_count": mau,
            "daily_adoption_rate": rate(dau),
            "weekly_adoption_rate": rate(wau),
            "monthly_adoption_rate": rate(mau),
            "assigned_seat_count": seats,
            "pending_invite_count": invites,
            "cowork_daily_active_user_count": distinct(1, 1),
            "cowork_weekly_active_user_count": distinct(7, 1),
            "cowork_monthly_active_user_count": distinct(30, 1),
        }

    def engagement(self, org_id: str, day: date) -> dict[str, dict[str, int]]:
        """Flat engagement counters of each active seat user that day (for ``/users``)."""
        org = self.orgs[org_id]
        active, cowork = self.activity(org_id, day)
        rng = random.Random(f"ent-engagement:{org.seed}:{day.isoformat()}")
        result: dict[str, dict[str, int]] = {}
        for user_id in sorted(active):
            conversations = rng.randint(0, 12)
            sessions = rng.randint(0, 6)
            added = sessions * rng.randint(0, 150)
            commits = rng.randint(0, sessions)
            result[user_id] = {
                "distinct_conversation_count": conversations,
                "message_count": conversations * rng.randint(1, 9),
                "distinct_projects_created_count": rng.randint(0, 1),
                "distinct_projects_used_count": rng.randint(0, 3),
                "distinct_files_uploaded_count": rng.randint(0, 4),
                "distinct_artifacts_created_count": rng.randint(0, 3),
                "distinct_shared_artifacts_viewed_count": rng.randint(0, 2),
                "thinking_message_count": rng.randint(0, conversations),
                "distinct_skills_used_count": rng.randint(0, 2),
                "connectors_used_count": rng.randint(0, 3),
                "shared_conversations_viewed_count": rng.randint(0, 2),
                "commit_count": commits,
                "pull_request_count": rng.randint(0, commits),
                "added_count": added,
                "removed_count": int(added * rng.uniform(0.1, 0.6)),
                "distinct_session_count": sessions,
                "edit_tool_accepted": sessions * rng.randint(0, 6),
                "edit_tool_rejected": rng.randint(0, sessions),
                "multi_edit_tool_accepted": sessions * rng.randint(0, 3),
                "multi_edit_tool_rejected": rng.randint(0, sessions),
                "write_tool_accepted": sessions * rng.randint(0, 3),
                "write_tool_rejected": rng.randint(0, sessions),
                "notebook_edit_tool_accepted": rng.randint(0, sessions),
                "notebook_edit_tool_rejected": 0,
                "excel": rng.randint(0, 2),
                "powerpoint": rng.randint(0, 2),
                "word": rng.randint(0, 2),
                "outlook": rng.randint(0, 3),
                "cowork_sessions": rng.randint(1, 5) if user_id in cowork else 0,
                "web_search_count": rng.randint(0, 15),
            }
        return result

    # --- ground truth --------------------------------------------------------------------------

    def usage_truth(self, org_id: str, day: date) -> list[EnterpriseUsageTruth]:
        merged: dict[tuple[Any, ...], list[int]] = {}
        for key, counts in self.rows(org_id, day).items():
            _add(merged, key[1:], counts)
        return [EnterpriseUsageTruth(day, *dims, *counts) for dims, counts in merged.items()]

    def cost_truth(self, org_id: str, day: date) -> list[EnterpriseCostTruth]:
        merged: dict[tuple[Any, ...], list[Decimal]] = {}
        for key, amount, listed in self.cost_pieces(org_id, day):
            acc = merged.setdefault(key[1:], [Decimal(0), Decimal(0)])
            acc[0] += amount
            acc[1] += listed
        return [EnterpriseCostTruth(day, *dims, *money) for dims, money in merged.items()]

    def user_usage_truth(self, org_id: str, day: date) -> list[UserUsageTruth]:
        merged: dict[str, list[int]] = {}
        for key, counts in self.rows(org_id, day).items():
            if key[0] is not None:
                _add(merged, key[0], counts)
        return [UserUsageTruth(day, user, *counts) for user, counts in merged.items()]

    def user_cost_truth(self, org_id: str, day: date) -> list[UserCostTruth]:
        merged: dict[str, list[Decimal]] = {}
        for key, amount, listed in self.cost_pieces(org_id, day):
            if key[0] is not None:
                acc = merged.setdefault(key[0], [Decimal(0), Decimal(0)])
                acc[0] += amount
                acc[1] += listed
        return [UserCostTruth(day, user, *money) for user, money in merged.items()]


# --- generation ----------------------------------------------------------------------------------


def _activity(org: SimEnterpriseOrg, day: date) -> tuple[frozenset[str], frozenset[str]]:
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


def _add(rows: dict[Any, list[int]], key: Any, counts: tuple[int, ...] | list[int]) -> None:
    acc = rows.setdefault(key, [0] * len(USAGE_FIELDS))
    for i, value in enumerate(counts):
        acc[i] += value


def _day_rows(
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
                _add(rows, *_draw_row(rng, org, user, product))
        for _ in range(rng.randint(2, 8)):  # API-key and automation traffic: no seat user
            _add(
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
        product,
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
        _add(rows, *_draw_row(rng, org, user, _product(rng)))


def _cents(value: Decimal) -> Decimal:
    return value.quantize(CENTS_QUANTUM, rounding=ROUND_HALF_EVEN)


def _day_costs(org: SimEnterpriseOrg, rows: dict[UsageKey, tuple[int, ...]]) -> list[CostPiece]:
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


__all__ = [
    "ANALYTICS_SCOPE",
    "ANALYTICS_START",
    "COST_DIMENSIONS",
    "DIMENSIONS",
    "ID_ALPHABET",
    "EnterpriseCostTruth",
    "EnterpriseUsageTruth",
    "EnterpriseWorld",
    "SimEnterpriseOrg",
    "SimEnterpriseUser",
    "UserCostTruth",
    "UserUsageTruth",
    "build_enterprise_org",
]
