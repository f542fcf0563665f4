"""Helpers the simulator's tests share: the fixed day, a client on the simulator, report paging
and the error envelope (one copy here instead of one per test file)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from typing import Any

import httpx

from app.simulator import Simulator

TODAY = date(2026, 11, 26)
API_VERSION = "2023-06-01"


@contextmanager
def client_for(simulator: Simulator, key: str) -> Iterator[httpx.Client]:
    """An httpx client on ``simulator``, in-process, sending ``key`` on every request."""
    headers = {"x-api-key": key, "anthropic-version": API_VERSION}
    with httpx.Client(
        transport=simulator.transport(), base_url="http://sim.test", headers=headers
    ) as http:
        yield http


def at(day: date) -> str:
    """Midnight UTC of ``day`` as the reports' ``starting_at``/``ending_at`` take it."""
    return f"{day.isoformat()}T00:00:00Z"


def walk(
    client: httpx.Client, path: str, params: list[tuple[str, str]], max_pages: int = 200
) -> list[dict[str, Any]]:
    """Every item (bucket or row) of a report, following next_page; fails on a loop."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(max_pages):
        response = client.get(path, params=params + ([("page", cursor)] if cursor else []))
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["data"]
        if not body["has_more"]:
            assert body["next_page"] is None
            return items
        assert body["next_page"] != cursor
        cursor = body["next_page"]
    raise AssertionError("pagination did not stop")


def error_of(response: httpx.Response) -> str:
    """The error type of an API error response, after checking its envelope and request id."""
    body = response.json()
    assert body["type"] == "error"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"].startswith("req_")
    assert response.headers["request-id"].startswith("req_")
    return str(body["error"]["type"])
