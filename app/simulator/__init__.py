"""A faithful fake of the Anthropic Admin API, for the demo organization and for tests.

Usable in-process (``sim.transport()`` for httpx) and over real HTTP on loopback
(``serve_http``). It follows the reference notes (§11): paging by buckets, nulls, cents as
decimal strings, limits, 400/401/403 errors, and injectable faults (429 with retry-after,
5xx, 529, truncated bodies, broken cursors). ``truth_cost`` and ``truth_usage`` read the
generator's rows directly, so tests comparing the product against them mean something.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import httpx

from app.clock import today as utc_today
from app.simulator.api import Api, RecordedRequest
from app.simulator.http import SimServer, serve_http
from app.simulator.world import CostTruth, SimOrg, UsageTruth, World, build_org

# 93 characters between prefix and "AA", like a real key, but unmistakably a demo.
DEMO_ADMIN_KEY = "sk-ant-admin01-demo-key-of-the-simulated-organization-" + "0" * 54 + "AA"
DEMO_ORG_NAME = "Demo Org (simulated)"
DEMO_ORG_SEED = 424242


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
        """The organization's current key now gets 401 ``authentication_error``."""
        self.world.orgs[org_id].rejected = True

    def revise(self, org_id: str, days: int = 2) -> None:
        """Upstream revision of today and the days before it: rows change, vanish, appear."""
        self.world.revise(org_id, days)

    # --- ground truth ---------------------------------------------------------------------

    def truth_cost(self, org_id: str, start: date, end: date) -> list[CostTruth]:
        """Cost rows for ``[start, end)`` as the report gives them grouped by workspace and
        description."""
        return [row for day in _days(start, end) for row in self.world.cost(org_id, day)]

    def truth_usage(self, org_id: str, start: date, end: date) -> list[UsageTruth]:
        """Finest-grain usage rows (every dimension) for ``[start, end)``."""
        return [row for day in _days(start, end) for row in self.world.usage(org_id, day)]

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
    ) -> None:
        """The next ``count`` requests to ``route`` get the fault ``kind`` (count 0 clears).

        Kinds: "429", "500", "502", "503", "504", "529" (an error response, with
        ``retry-after`` when given), "truncated" (a 200 with half a JSON body),
        "repeat_cursor" (next_page comes back again) and "missing_cursor" (has_more without
        next_page). On list routes the cursor faults act on ``last_id`` instead. Routes: "*",
        "me", "workspaces", "api_keys", "users", "invites", "usage_report", "cost_report".
        A fault is spent by an authenticated request to a matching route, even if it has no
        effect there (a cursor fault on ``me``).
        """
        self.api.inject(kind, route, count, retry_after)

    def clear_faults(self) -> None:
        self.api.clear_faults()


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def demo_simulator(today: date | None = None) -> Simulator:
    """The demo organization's simulator: the same data on every call for a given day."""
    sim = Simulator(today=today, history_days=400, seed=2026)
    sim.add_org(name=DEMO_ORG_NAME, seed=DEMO_ORG_SEED, admin_key=DEMO_ADMIN_KEY)
    return sim


__all__ = [
    "DEMO_ADMIN_KEY",
    "DEMO_ORG_NAME",
    "CostTruth",
    "RecordedRequest",
    "SimOrg",
    "SimServer",
    "Simulator",
    "UsageTruth",
    "demo_simulator",
    "serve_http",
]
