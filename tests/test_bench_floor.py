"""The backfill floor of `make bench`: the critical path of what the simulator received, each
request costing the latency plus the simulator's own time answering it, Claude Code days
spread over the worker's fetchers, everything else in series."""

from __future__ import annotations

import pytest

from app.simulator import RecordedRequest
from bench.backfill import critical_path


def request(route: str, seconds: float, day: str = "") -> RecordedRequest:
    params = [("starting_at", day)] if day else []
    return RecordedRequest(route, "GET", f"/{route}", params, 200, seconds)


def test_serial_routes_add_up_and_claude_code_days_overlap() -> None:
    recorded = [
        request("usage_report", 0.5),
        request("usage_report", 0.5),
        request("analytics_cost", 0.25),
        # Three days of one request each and one day of three, on two fetchers.
        *[request("claude_code", 0.0, day) for day in ("2026-06-01", "2026-06-02")],
        *[request("claude_code", 0.1, "2026-06-03") for _ in range(3)],
        request("claude_code", 0.0, "2026-06-04"),
    ]
    floor = critical_path(recorded, concurrency=2, latency=1.0)
    assert floor.per_route == {"usage_report": 2, "analytics_cost": 1, "claude_code": 6}
    assert floor.days == 4
    # Fetcher A: 06-01 (1 s), then 06-03 (3 x 1.1 s) = 4.3 s; fetcher B: 06-02, 06-04 = 2 s.
    assert floor.concurrent_path == 4
    assert floor.path == 3 + 4
    assert floor.answer_seconds == pytest.approx(1.25 + 0.3)
    assert floor.seconds(1.0) == pytest.approx(7 + 1.55)
    said = floor.derivation(1.0)
    assert "-> 7 requests x 1 s = 7.0 s" in said and said.endswith("= 8.6 s")


def test_the_simulator_answering_slowly_raises_the_floor_not_the_request_count() -> None:
    fast = critical_path([request("cost_report", 0.0)] * 4, concurrency=6, latency=0.2)
    slow = critical_path([request("cost_report", 0.6)] * 4, concurrency=6, latency=0.2)
    assert fast.path == slow.path == 4
    assert fast.seconds(0.2) == pytest.approx(0.8)
    assert slow.seconds(0.2) == pytest.approx(0.8 + 2.4)
