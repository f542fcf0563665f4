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
cursors handed out before it. The day-by-day generation lives in ``enterprise_data``; here
are the organizations, the cache of their days, and the ground truth tests compare with.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from app.simulator.enterprise_data import (
    USAGE_FIELDS,
    CostPiece,
    UsageKey,
    add_counts,
    day_activity,
    day_costs,
    day_rows,
)
from app.simulator.world import ID_ALPHABET, KEY_ALPHABET, _fmt, _random_id

if TYPE_CHECKING:
    from app.simulator.world import World

ANALYTICS_START = date(2026, 1, 1)  # no Enterprise analytics data before this day
ANALYTICS_SCOPE = "read:analytics"
# Organization-report dimensions (group_by[] values) and the cost-only ones.
DIMENSIONS = (
    "product",
    "model",
    "context_window",
    "inference_geo",
    "speed",
    "rbac_group_id",
    "slack_channel_id",
)
COST_DIMENSIONS = (*DIMENSIONS, "cost_type", "token_type")
TOKEN_FIELDS = USAGE_FIELDS[:5]  # the ones that add up to total_tokens, in TOKEN_TYPES order
_RBAC_GROUPS = ("Engineering", "Sales", "Legal", "Research", "Operations")
_FIRST = (
    "Ada",
    "Ben",
    "Chloe",
    "Dmitri",
    "Elif",
    "Farah",
    "Goran",
    "Hana",
    "Ivan",
    "Jade",
    "Kenji",
    "Lucia",
    "Mateo",
    "Nadia",
    "Omar",
    "Petra",
    "Quinn",
    "Rosa",
    "Sven",
    "Tara",
    "Umar",
    "Vera",
)
_LAST = (
    "Abe",
    "Brandt",
    "Costa",
    "Diaz",
    "Eze",
    "Fischer",
    "Gupta",
    "Horvat",
    "Ito",
    "Jensen",
    "Khan",
    "Lopez",
    "Meyer",
    "Nakamura",
    "Osei",
    "Park",
)
_SLACK_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


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
                self._activity[key] = day_activity(self.orgs[org_id], day)
            return self._activity[key]

    def rows(self, org_id: str, day: date) -> dict[UsageKey, tuple[int, ...]]:
        """Finest-grain usage of one day, keyed by (user_id, *DIMENSIONS) (do not mutate)."""
        with self._lock:
            key = (org_id, day, self._revisions[(org_id, day)])
            if key not in self._rows:
                self._rows[key] = (
                    day_rows(self.orgs[org_id], day, key[2], self.activity(org_id, day))
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
                self._costs[key] = day_costs(self.orgs[org_id], self.rows(org_id, day))
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
            add_counts(merged, key[1:], counts)
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
                add_counts(merged, key[0], counts)
        return [UserUsageTruth(day, user, *counts) for user, counts in merged.items()]

    def user_cost_truth(self, org_id: str, day: date) -> list[UserCostTruth]:
        merged: dict[str, list[Decimal]] = {}
        for key, amount, listed in self.cost_pieces(org_id, day):
            if key[0] is not None:
                acc = merged.setdefault(key[0], [Decimal(0), Decimal(0)])
                acc[0] += amount
                acc[1] += listed
        return [UserCostTruth(day, user, *money) for user, money in merged.items()]


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


# Request counts of the per-user cost rows (reference §14.9): from the usage rows of the same
# user and group; left out (null) when grouped by cost or token type (no per-component count).
def add_requests(
    ent: EnterpriseWorld,
    org_id: str,
    days: list[tuple[date, datetime | None]],
    sums: dict[tuple[Any, ...], list[Any]],
    groups: list[str],
    filters: dict[str, set[str]],
) -> None:
    """Append each cost row's request count to its sums ([amount, list amount, requests])."""
    if {"cost_type", "token_type"} & set(groups):
        return
    usage_filters = {d: f for d, f in filters.items() if d in DIMENSIONS}
    for day, bucket in days:
        for key, values in ent.rows(org_id, day).items():
            if key[0] is None:
                continue
            if any(key[1 + DIMENSIONS.index(d)] not in f for d, f in usage_filters.items()):
                continue
            if "user_id" in filters and key[0] not in filters["user_id"]:
                continue
            wanted = (bucket, key[0], tuple(key[1 + DIMENSIONS.index(g)] for g in groups))
            acc = sums.get(wanted)
            if acc is None:
                continue
            if len(acc) == 2:
                acc.append(0)
            acc[2] += values[6]
