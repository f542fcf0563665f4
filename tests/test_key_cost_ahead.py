"""Per-key cost queries are fetched one ahead: the next week's pages are on their way while
this week is stored (they are most of a backfill's requests), in week order, and a failure
on a week leaves the weeks before it stored and nothing after."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from app.anthropic.admin import AdminClient
from app.anthropic.errors import RateLimited
from app.models import SyncState
from ingest.sources.console import KEY_COST_DAYS, key_cost_chunks

START = date(2026, 6, 1)


def row(day: date) -> dict[str, Any]:
    return {
        "starting_at": f"{day.isoformat()}T00:00:00Z",
        "ending_at": f"{(day + timedelta(days=1)).isoformat()}T00:00:00Z",
        "group": {"api_key_id": "apikey_01A", "model": "claude-sonnet-4-5"},
        "cost": {"amount": "12.5", "currency": "USD"},
    }


class Client:
    """Answers a week with one row per day; records when each week was asked for."""

    def __init__(self, fail_on: date | None = None) -> None:
        self.asked: list[date] = []
        self.second_asked = threading.Event()
        self.fail_on = fail_on

    def iter_key_cost(self, start: date, end: date) -> list[dict[str, Any]]:
        self.asked.append(start)
        if len(self.asked) == 2:
            self.second_asked.set()
        if start == self.fail_on:
            raise RateLimited("Anthropic rate-limited the per-key cost query.")
        return [row(start + timedelta(days=n)) for n in range((end - start).days)]


def state_at(position: date) -> SyncState:
    return SyncState(organization_pk=1, dataset="key_cost", position=position)


def test_the_next_week_is_asked_for_while_this_one_is_stored() -> None:
    client = Client()
    state = state_at(START)
    end = START + timedelta(days=3 * KEY_COST_DAYS - 2)  # the last week is short
    chunks = key_cost_chunks(cast(AdminClient, client), state, end)
    first = next(chunks)
    # The caller stores the first week now; the second is already being fetched.
    assert client.second_asked.wait(5), "the second week was not asked for until the first was"
    assert first.covered == START + timedelta(days=KEY_COST_DAYS)
    assert sorted({r.day for r in first.rows}) == [
        START + timedelta(days=n) for n in range(KEY_COST_DAYS)
    ]
    state.position = first.covered  # what the syncer does once the week is stored
    rest = list(chunks)
    assert [c.covered for c in rest] == [START + timedelta(days=2 * KEY_COST_DAYS), end]
    assert client.asked == [START + timedelta(days=n * KEY_COST_DAYS) for n in range(3)]
    assert len(rest[-1].rows) == KEY_COST_DAYS - 2
    amounts = [r.measures["amount_cents"] for c in [first, *rest] for r in c.rows]
    assert sum(amounts) == Decimal("12.5") * (3 * KEY_COST_DAYS - 2)


def test_a_failed_week_is_raised_in_its_turn_after_the_week_before_it() -> None:
    second = START + timedelta(days=KEY_COST_DAYS)
    client = Client(fail_on=second)
    chunks = key_cost_chunks(
        cast(AdminClient, client), state_at(START), START + timedelta(days=3 * KEY_COST_DAYS)
    )
    first = next(chunks)  # handed out although the week after it already failed
    assert first.covered == second
    with pytest.raises(RateLimited):
        next(chunks)
    assert START + timedelta(days=2 * KEY_COST_DAYS) not in client.asked  # nothing after it
