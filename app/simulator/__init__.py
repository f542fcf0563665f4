"""A faithful fake of the Anthropic Admin API: the demo organization and the tests use it.

Usable in-process (``sim.transport()`` for httpx) and over HTTP on loopback (``serve_http``).
It follows the reference notes: paging by buckets, nulls, cents as decimal strings, limits,
400/401/403 errors, and injectable faults (429 with retry-after, 5xx, 529, truncated bodies,
broken cursors).
"""

from __future__ import annotations

import random
from datetime import date

import httpx

from app.clock import today as utc_today
from app.simulator.api import Api, RecordedRequest
from app.simulator.http import SimServer, serve_http
from app.simulator.world import CostTruth, SimOrg, UsageTruth, World, build_org

DEMO_ADMIN_KEY = "sk-ant-admin01-demo-" + "0" * 88 + "AA"
DEMO_ORG_NAME = "Demo Org (simulated)"


class Simulator:
    """Simulated organizations, their data, and the API that serves it."""

    def __init__(self, today: date | None = None, history_days: int = 200, seed: int = 7) -> None:
        self.world = World(today or utc_today(), history_days)
        self.api = Api(self.world)
        self._seed_rng = random.Random(seed)

    # --- organizations --------------------------------------------------------------------

    @property
    def orgs(self) -> dict[str, SimOrg]:
        return self.world.orgs

    def add_org(self, name: str = "Acme Corp", seed: int | None = None,
                admin_key: str | None = None) -> SimOrg:  # fmt: skip
        org = build_org(name, seed if seed is not None else self._seed_rng.randint(1, 10**9),
                        admin_key)  # fmt: skip
        self.world.orgs[org.id] = org
        return org

    def reject_key(self, org_id: str) -> None:
        """The organization's key now gets 401 (revoked or expired)."""
        self.world.orgs[org_id].rejected = True

    def revise(self, org_id: str, days: int = 2) -> None:
        """Upstream revision of the last ``days`` days (today included)."""
        self.world.revise(org_id, days)

    # --- ground truth ---------------------------------------------------------------------

    def truth_cost(self, org_id: str, start: date, end: date) -> list[CostTruth]:
        return [row for day in _days(start, end) for row in self.world.cost(org_id, day)]

    def truth_usage(self, org_id: str, start: date, end: date) -> list[UsageTruth]:
        return [row for day in _days(start, end) for row in self.world.usage(org_id, day)]

    # --- HTTP ------------------------------------------------------------------------------

    def handler(self, request: httpx.Request) -> httpx.Response:
        return self.api.handle(request)

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    @property
    def latency(self) -> float:
        return self.api.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self.api.latency = seconds

    @property
    def regular_key_status(self) -> int:
        return self.api.regular_key_status

    @regular_key_status.setter
    def regular_key_status(self, status: int) -> None:
        self.api.regular_key_status = status

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.api.requests

    def reset_requests(self) -> None:
        self.api.requests.clear()

    def inject(self, kind: str, *, route: str = "*", count: int = 1,
               retry_after: float | str | None = None) -> None:  # fmt: skip
        """The next ``count`` requests to ``route`` get the fault ``kind`` (count 0 clears)."""
        self.api.inject(kind, route, count, retry_after)

    def clear_faults(self) -> None:
        self.api.faults.clear()


def _days(start: date, end: date) -> list[date]:
    return [date.fromordinal(n) for n in range(start.toordinal(), end.toordinal())]


def demo_simulator() -> Simulator:
    """The demo organization's simulator: the same data on every call (for a given day)."""
    sim = Simulator(history_days=400, seed=2026)
    sim.add_org(name=DEMO_ORG_NAME, seed=424242, admin_key=DEMO_ADMIN_KEY)
    return sim


__all__ = [
    "DEMO_ADMIN_KEY",
    "CostTruth",
    "SimOrg",
    "SimServer",
    "Simulator",
    "UsageTruth",
    "demo_simulator",
    "serve_http",
]
