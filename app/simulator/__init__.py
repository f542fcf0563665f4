"""A faithful fake of the Anthropic Admin API, for the demo organization and for tests.

Usable in-process (``sim.transport()`` for httpx) and over real HTTP on loopback
(``serve_http``). It follows the reference notes (§11): paging by buckets, nulls, cents as
decimal strings, limits, 400/401/403 errors, and injectable faults (429 with retry-after,
5xx, 529, truncated bodies, broken cursors). ``truth_cost`` and ``truth_usage`` read the
generator's rows directly, so tests comparing the product against them mean something.

Also simulated: Claude Code analytics of Console organizations (``truth_claude_code``) and
Claude Enterprise organizations (``add_enterprise_org``) with the Enterprise Analytics API
(reference §7), served by the same API: one served simulator answers both kinds of key.

The product imports only ``app.simulator.demo`` (the demo organizations); tests and the bench
use everything here.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

import httpx

from app.clock import today as utc_today
from app.simulator.api import Api, RecordedRequest
from app.simulator.enterprise import (
    EnterpriseCostTruth,
    EnterpriseUsageTruth,
    SimEnterpriseOrg,
    SimEnterpriseUser,
    UserCostTruth,
    UserUsageTruth,
    build_enterprise_org,
)
from app.simulator.http import SimServer, serve_http
from app.simulator.world import CostTruth, SimOrg, UsageTruth, World, build_org

if TYPE_CHECKING:  # not re-exported: app.simulator's names are the product's banned list
    from app.simulator.usage_cost_analytics import KeyCostOptions, KeyCostTruth


class Simulator:
    """Simulated organizations, their data, and the API that serves it."""

    def __init__(self, today: date | None = None, history_days: int = 200, seed: int = 7) -> None:
        self.world = World(today or utc_today(), history_days)
        self.api = Api(self.world)
        self._org_seeds = random.Random(f"simulator:{seed}")

    @property
    def today(self) -> date:
        return self.world.today

    # --- organizations ---------------------------------------------------------------------

    @property
    def orgs(self) -> dict[str, SimOrg]:
        """Organizations by id, in the order they were added."""
        return self.world.orgs

    def add_org(
        self, name: str = "Acme Corp", seed: int | None = None, admin_key: str | None = None
    ) -> SimOrg:
        """Add an organization; the same seeds (and ``today``) give the same ids, keys, data."""
        org_seed = seed if seed is not None else self._org_seeds.randrange(1, 10**9)
        org = build_org(
            name,
            org_seed,
            today=self.world.today,
            history_days=self.world.history_days,
            admin_key=admin_key,
        )
        if org.id in self.world.orgs:
            raise ValueError(f"an organization with seed {org_seed} was already added")
        self.world.orgs[org.id] = org
        return org

    def reject_key(self, org_id: str) -> None:
        """The organization's current key now gets 401 ``authentication_error`` (for an
        Enterprise organization: 401 on cost/usage endpoints, 404 on engagement ones)."""
        if org_id in self.world.enterprise.orgs:
            self.world.enterprise.orgs[org_id].rejected = True
            return
        self.world.orgs[org_id].rejected = True

    def revise(self, org_id: str, days: int = 2) -> None:
        """Upstream revision of today and the days before it: rows change, vanish, appear."""
        self.world.revise(org_id, days)

    @property
    def legacy_fields(self) -> bool:
        """Whether deprecated forms are sent next to the new ones (``summaries`` beside
        ``data``, a key's top-level ``workspace_id`` beside ``scope``, an actor's ``email``
        beside ``email_address``); default True, as the API does for a while."""
        return self.world.legacy_fields

    @legacy_fields.setter
    def legacy_fields(self, on: bool) -> None:
        self.world.legacy_fields = on

    @property
    def key_cost(self) -> KeyCostOptions:
        """The knobs of the Usage and Cost Analytics API's ``/analytics/cost`` (per-key cost):
        ``discount``, ``refuse``, ``amounts_as_numbers``, ``omit_has_more``, limits
        (``app.simulator.usage_cost_analytics``)."""
        return self.world.key_cost.options

    # --- Claude Enterprise organizations ------------------------------------------------------

    @property
    def enterprise_orgs(self) -> dict[str, SimEnterpriseOrg]:
        """Claude Enterprise organizations by id, in the order they were added."""
        return self.world.enterprise.orgs

    def add_enterprise_org(
        self,
        name: str = "Globex Enterprise",
        seed: int | None = None,
        key: str | None = None,
        scopes: tuple[str, ...] = ("read:analytics",),
    ) -> SimEnterpriseOrg:
        """Add a Claude Enterprise organization with an ``sk-ant-api01-`` key of ``scopes``;
        the same seeds (and ``today``) give the same ids, key, users and data.

        Set ``.rejected`` (revoked key) or ``.api_enabled = False`` (API access switched off)
        on the result to simulate those states.
        """
        org_seed = seed if seed is not None else self._org_seeds.randrange(1, 10**9)
        org = build_enterprise_org(
            name,
            org_seed,
            today=self.world.today,
            history_days=self.world.history_days,
            key=key,
            scopes=scopes,
        )
        if org.id in self.world.enterprise.orgs:
            raise ValueError(f"an enterprise organization with seed {org_seed} was already added")
        self.world.enterprise.orgs[org.id] = org
        return org

    def revise_enterprise(self, org_id: str, days: int = 30) -> None:
        """Upstream revision of the ``days`` most recent complete days (yesterday and before)
        of an Enterprise organization's cost and usage: rows change, vanish, appear. Counts as
        a data refresh: ``data_refreshed_at`` moves and older cursors get 410."""
        self.world.enterprise.revise(org_id, days)

    @property
    def analytics_rpm(self) -> int | None:
        """Enterprise Analytics requests allowed per rolling minute per organization (default
        60, as documented); None disables the limit."""
        return self.api.analytics_rpm

    @analytics_rpm.setter
    def analytics_rpm(self, rpm: int | None) -> None:
        self.api.analytics_rpm = rpm

    # --- ground truth ---------------------------------------------------------------------

    def truth_cost(self, org_id: str, start: date, end: date) -> list[CostTruth]:
        """Cost rows for ``[start, end)`` as the report gives them grouped by workspace and
        description."""
        return [row for day in _days(start, end) for row in self.world.cost(org_id, day)]

    def truth_usage(self, org_id: str, start: date, end: date) -> list[UsageTruth]:
        """Finest-grain usage rows (every dimension) for ``[start, end)``."""
        return [row for day in _days(start, end) for row in self.world.usage(org_id, day)]

    def truth_claude_code(self, org_id: str, day: date) -> list[dict[str, Any]]:
        """The Claude Code records of a Console organization's ``day``, exactly as
        ``usage_report/claude_code`` serves them, in order (copies: safe to mutate)."""
        return self.world.claude_code.truth(org_id, day)

    def truth_key_cost(self, org_id: str, start: date, end: date) -> list[KeyCostTruth]:
        """Per-key cost pieces of a Console organization for ``[start, end)``: by default each
        workspace-day adds up exactly to the cost report's (``amount`` below ``list_amount``
        by ``key_cost.discount``)."""
        data = self.world.key_cost
        return [row for day in _days(start, end) for row in data.pieces(org_id, day)]

    def truth_enterprise_cost(
        self, org_id: str, start: date, end: date
    ) -> list[EnterpriseCostTruth]:
        """Enterprise cost for ``[start, end)`` at the finest grain of every ``group_by[]``
        dimension (product, model, context window, geo, speed, RBAC group, Slack channel,
        cost type, token type); cents as ``Decimal``."""
        ent = self.world.enterprise
        return [row for day in _days(start, end) for row in ent.cost_truth(org_id, day)]

    def truth_enterprise_usage(
        self, org_id: str, start: date, end: date
    ) -> list[EnterpriseUsageTruth]:
        """Enterprise usage for ``[start, end)`` at the finest grain of the report's
        dimensions, with token counts, web searches and requests."""
        ent = self.world.enterprise
        return [row for day in _days(start, end) for row in ent.usage_truth(org_id, day)]

    def truth_user_cost(self, org_id: str, start: date, end: date) -> list[UserCostTruth]:
        """Cost per day and seat user for ``[start, end)`` (API-key traffic excluded)."""
        ent = self.world.enterprise
        return [row for day in _days(start, end) for row in ent.user_cost_truth(org_id, day)]

    def truth_user_usage(self, org_id: str, start: date, end: date) -> list[UserUsageTruth]:
        """Usage per day and seat user for ``[start, end)`` (API-key traffic excluded)."""
        ent = self.world.enterprise
        return [row for day in _days(start, end) for row in ent.user_usage_truth(org_id, day)]

    def truth_summaries(self, org_id: str, start: date, end: date) -> list[dict[str, Any]]:
        """The ``/analytics/summaries`` objects of every day in ``[start, end)``, whatever the
        API's availability rules (no validation here)."""
        ent = self.world.enterprise
        return [ent.summary(org_id, day) for day in _days(start, end)]

    # --- HTTP ------------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as the Admin API would (thread-safe)."""
        return self.api.handle(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def latency(self) -> float:
        """Seconds every request sleeps before it is answered."""
        return self.api.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.api.latency = seconds

    @property
    def regular_key_status(self) -> int:
        """Status for ``sk-ant-api03-`` keys on admin routes (the real one is unconfirmed)."""
        return self.api.regular_key_status

    @regular_key_status.setter
    def regular_key_status(self, status: int) -> None:
        self.api.regular_key_status = status

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request answered so far (route, method, path, params, status; never a key)."""
        return self.api.requests

    def reset_requests(self) -> None:
        self.api.requests.clear()

    def inject(
        self,
        kind: str,
        *,
        route: str = "*",
        count: int = 1,
        retry_after: float | str | None = None,
        day: date | None = None,
    ) -> None:
        """The next ``count`` requests to ``route`` get the fault ``kind`` (count 0 clears).

        Kinds: "429", "500", "502", "503", "504", "529" (an error response, with
        ``retry-after`` when given), "truncated" (a 200 with half a JSON body),
        "repeat_cursor" (next_page comes back again), "missing_cursor" (has_more without
        next_page), "cursor_cycle" (a later page points back at the first), "reset" (the
        connection drops), "hang" (an answer long after any timeout) and "expire_cursor" (a
        410 for the next request that carries a ``page`` cursor; requests without one pass
        and leave it armed). On list routes the cursor faults act on ``last_id`` instead.

        Slow and oversized answers: "trickle" (a 200 whose body comes one byte every
        ``faults.TRICKLE_SECONDS``, a slow-loris upstream), "trickle_headers" (the same with the
        status line and headers, over real HTTP only), "huge_page" (a valid page padded with
        whitespace to ``faults.HUGE_PAGE_BYTES``, streamed without a Content-Length) and
        "huge_length" (the same, declared in Content-Length); ``api.streamed_bytes`` counts
        what clients pulled of these bodies.

        Poison values in report pages, on the bucket of ``day`` (default: the page's first):
        "poison_amount" (a cost amount of "1e30"), "poison_tokens" (output_tokens of 2**64),
        "negative_tokens" (uncached_input_tokens of -5) and "repeat_bucket" (the bucket sent
        twice in the page). Each is spent only by a page it changed, so a large ``count`` keeps
        the bad day bad until ``clear_faults``.

        Routes: "*", "me", "workspaces", "api_keys", "users", "invites", "usage_report",
        "cost_report", "claude_code" (``usage_report/claude_code``), and the Enterprise
        Analytics routes "analytics_usage_report", "analytics_cost_report",
        "analytics_user_usage_report", "analytics_user_cost_report", "analytics_summaries",
        "analytics_users", and the Usage and Cost Analytics routes "analytics_cost" and
        "analytics_usage" (Console keys). A fault is spent by an authenticated request to a
        matching route, even if it has no effect there (a cursor fault on ``me``); on
        Enterprise routes, by one that also got past the rate limit.
        """
        self.api.inject(kind, route, count, retry_after, day)

    def clear_faults(self) -> None:
        self.api.clear_faults()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


__all__ = [
    "CostTruth",
    "EnterpriseCostTruth",
    "EnterpriseUsageTruth",
    "RecordedRequest",
    "SimEnterpriseOrg",
    "SimEnterpriseUser",
    "SimOrg",
    "SimServer",
    "Simulator",
    "UsageTruth",
    "UserCostTruth",
    "UserUsageTruth",
    "serve_http",
]
