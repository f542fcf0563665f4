"""Claude Code analytics of Console organizations (reference §6).

``GET /v1/organizations/usage_report/claude_code?starting_at=YYYY-MM-DD``: one UTC day of
records, one per actor (and, for some users, a separate record for their remote sessions),
paged by record with an opaque cursor. Records are generated per organization and day from
RNGs seeded by (org seed, day), so any day comes out the same alone or in any order.

Choices where the reference is silent:

- Days before the simulator's history or after ``today`` have no records (an empty page,
  not an error); today is served as far as it goes, like the usage report.
- Records are ordered by actor (users by e-mail, then API keys by name), local before remote.
- The cursor names the day it belongs to: using it with another ``starting_at`` is a 400.
"""

from __future__ import annotations

import copy
import random
import threading
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from app.simulator.common import ApiError, Params, offset_page, one, parse_date
from app.simulator.pricing import token_rate
from app.simulator.world import SimOrg, price_of

if TYPE_CHECKING:
    from app.simulator.world import World

DEFAULT_LIMIT, MAX_LIMIT = 20, 1000
# (model id, weight): dated and undated ids both occur, and one model no price table knows.
CC_MODELS = (
    ("claude-opus-4-8", 30),
    ("claude-sonnet-4-6", 30),
    ("claude-sonnet-4-5-20250929", 10),
    ("claude-haiku-4-5-20251001", 22),
    ("claude-nimbus-7-preview", 4),
)
TERMINALS = (
    "vscode",
    "iTerm.app",
    "Apple_Terminal",
    "cursor",
    "tmux",
    "ghostty",
    "WarpTerminal",
    "xterm-256color",
    "pycharm",
    "windows-terminal",
)
REMOTE_TERMINAL = "web"
KNOWN_TOOLS = ("edit_tool", "multi_edit_tool", "write_tool", "notebook_edit_tool")
UNKNOWN_TOOL = "apply_patch_tool"  # the key set is open: clients must keep unknown tools
# Claude Code token kinds and the cost-report token type whose price they use.
CC_TOKEN_PRICES = {
    "input": "uncached_input_tokens",
    "output": "output_tokens",
    "cache_read": "cache_read_input_tokens",
    "cache_creation": "cache_creation.ephemeral_5m_input_tokens",
}
_FIRST = (
    "Alex",
    "Sam",
    "Priya",
    "Wei",
    "Olu",
    "Marta",
    "Jonas",
    "Aiko",
    "Diego",
    "Lena",
    "Ravi",
    "Noor",
    "Tomas",
    "Ines",
    "Kofi",
    "Yara",
    "Pavel",
    "Mei",
    "Luca",
    "Zoe",
)
_LAST = (
    "Ng",
    "Okafor",
    "Schmidt",
    "Tanaka",
    "Garcia",
    "Kowalski",
    "Haddad",
    "Silva",
    "Novak",
    "Chen",
    "Dubois",
    "Moreau",
    "Rossi",
    "Berg",
    "Ali",
    "Kim",
)


@dataclass(frozen=True)
class _Actor:
    kind: str  # "user_actor" or "api_actor"
    name: str  # e-mail address or API key name
    customer_type: str
    subscription_type: str | None
    terminal: str
    remote_share: float  # how often this user also works in remote sessions
    api_key_id: str | None = None


def _actors(org: SimOrg) -> list[_Actor]:
    """Everyone who may use Claude Code in ``org``: its users, more developers, its API keys."""
    rng = random.Random(f"claude-code-actors:{org.seed}")
    domain = org.users[0]["email"].split("@", 1)[1]
    emails = [u["email"] for u in org.users]
    while len(emails) < 40:
        email = f"{rng.choice(_FIRST).lower()}.{rng.choice(_LAST).lower()}@{domain}"
        if email not in emails:
            emails.append(email)
    actors = []
    for email in emails:
        subscription = rng.random() < 0.25
        actors.append(
            _Actor(
                "user_actor",
                email,
                "subscription" if subscription else "api",
                rng.choice(("enterprise", "team")) if subscription else None,
                rng.choice(TERMINALS),
                rng.choice((0.0, 0.0, 0.2, 0.5)),
            )
        )
    for key in org.api_keys:
        actors.append(_Actor("api_actor", key.name, "api", None, "non-interactive", 0.0, key.id))
    return actors


class ClaudeCodeData:
    """Claude Code records of the Console organizations of a ``World`` (cached per day)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._actors: dict[str, list[_Actor]] = {}
        self._cache: dict[tuple[str, date], list[dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def records(self, org_id: str, day: date) -> list[dict[str, Any]]:
        """The day's records as the API serves them (shared: do not mutate)."""
        with self._lock:
            key = (org_id, day)
            if key not in self._cache:
                org = self.world.orgs[org_id]
                if org_id not in self._actors:
                    self._actors[org_id] = _actors(org)
                self._cache[key] = _day_records(org, self._actors[org_id], day, self.world)
            return self._cache[key]

    def truth(self, org_id: str, day: date) -> list[dict[str, Any]]:
        return copy.deepcopy(self.records(org_id, day))


def _day_records(
    org: SimOrg, actors: list[_Actor], day: date, world: World
) -> list[dict[str, Any]]:
    if day < world.first_day or day > world.today:
        return []
    rng = random.Random(f"claude-code:{org.seed}:{day.isoformat()}")
    if rng.random() < 0.08:  # some days nobody uses Claude Code
        return []
    keys = {k.id: k for k in org.api_keys}
    candidates = [a for a in actors if a.api_key_id is None or keys[a.api_key_id].used_on(day)]
    count = rng.randint(5, 12) if day.weekday() >= 5 else rng.randint(5, 30)
    chosen = rng.sample(candidates, k=min(count, len(candidates)))
    records = []
    for actor in chosen:
        roll = rng.random()
        if actor.kind == "api_actor" or roll >= actor.remote_share:
            modes = [False]
        elif roll < actor.remote_share / 3:
            modes = [True]  # only remote sessions that day
        else:
            modes = [False, True]  # local and remote: two records for one actor
        for remote in modes:
            records.append(_record(rng, org, actor, day, remote))
    records.sort(key=lambda r: (r["actor"]["type"] != "user_actor", _actor_name(r), r["is_remote"]))
    return records


def _actor_name(record: dict[str, Any]) -> str:
    actor = record["actor"]
    return str(actor.get("email_address") or actor.get("api_key_name"))


def _record(
    rng: random.Random, org: SimOrg, actor: _Actor, day: date, remote: bool
) -> dict[str, Any]:
    sessions = rng.randint(1, 4 if actor.kind == "api_actor" else 20)
    added = sessions * rng.randint(3, 160)
    commits = rng.randint(0, sessions)
    tools: dict[str, dict[str, int]] = {}
    for name in KNOWN_TOOLS:
        accepted = rng.randint(0, sessions * (1 if name == "notebook_edit_tool" else 6))
        tools[name] = {"accepted": accepted, "rejected": rng.randint(0, accepted // 4 + 1)}
    if rng.random() < 0.06:
        tools[UNKNOWN_TOOL] = {"accepted": rng.randint(1, 9), "rejected": rng.randint(0, 2)}
    models = rng.sample([m for m, _ in CC_MODELS], k=rng.choices((1, 2, 3), (60, 30, 10))[0])
    if "claude-nimbus-7-preview" in models and rng.random() < 0.7:
        models.remove("claude-nimbus-7-preview")  # rarer than its weight in a sample
    breakdown = []
    weights = dict(CC_MODELS)
    for model in sorted(models, key=lambda m: -weights[m]) or ["claude-sonnet-4-6"]:
        tokens = {"input": sessions * rng.randint(2_000, 60_000)}
        tokens["output"] = int(tokens["input"] * rng.uniform(0.05, 0.4))
        tokens["cache_read"] = int(tokens["input"] * rng.uniform(0.5, 9.0))
        tokens["cache_creation"] = int(tokens["input"] * rng.uniform(0.0, 0.6))
        breakdown.append(
            {
                "model": model,
                "tokens": tokens,
                "estimated_cost": {"amount": _estimated_cents(model, tokens), "currency": "USD"},
            }
        )
    actor_json = (
        {"type": "user_actor", "email_address": actor.name}
        if actor.kind == "user_actor"
        else {"type": "api_actor", "api_key_name": actor.name}
    )
    return {
        "date": f"{day.isoformat()}T00:00:00Z",
        "actor": actor_json,
        "organization_id": org.id,
        "customer_type": actor.customer_type,
        "subscription_type": actor.subscription_type,
        "terminal_type": REMOTE_TERMINAL if remote else actor.terminal,
        "is_remote": remote,
        "core_metrics": {
            "num_sessions": sessions,
            "lines_of_code": {"added": added, "removed": int(added * rng.uniform(0.05, 0.7))},
            "commits_by_claude_code": commits,
            "pull_requests_by_claude_code": rng.randint(0, commits // 2 + (commits > 0)),
        },
        "tool_actions": tools,
        "model_breakdown": breakdown,
    }


def _estimated_cents(model: str, tokens: dict[str, int]) -> int:
    """Integer cents at list price (standard tier), as Claude Code's estimate."""
    price = price_of(model)
    usd = (
        sum(
            (
                Decimal(count) * token_rate(price, CC_TOKEN_PRICES[kind])
                for kind, count in tokens.items()
            ),
            Decimal(0),
        )
        / 1_000_000
    )
    return int((usd * 100).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


# --- HTTP ----------------------------------------------------------------------------------------


def claude_code_report(
    data: ClaudeCodeData, org: SimOrg, params: Params, fault: str | None
) -> dict[str, Any]:
    """The body of ``GET /v1/organizations/usage_report/claude_code``."""
    text = one(params, "starting_at", "")
    if not text:
        raise ApiError(400, "starting_at: Field required")
    day = parse_date(text, "starting_at")
    records = data.records(org.id, day)
    return offset_page(
        records,
        params,
        fault,
        default_limit=DEFAULT_LIMIT,
        max_limit=MAX_LIMIT,
        scope={"d": day.isoformat()},
    )
