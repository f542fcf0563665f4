"""The Overview shows each allocation's values ("Team": Search, Support, Unallocated) month to
date beside the top models and workspaces, and an allocation's name is plain text there."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.finops.allocation import import_allocation
from tests.test_allocation_store import EXAMPLE, day_rows, seed_orgs
from tests.ui.apptest import array_values

TODAY = date(2026, 10, 6)  # the seeded days run Sep 25 - Oct 6: six days of October


@pytest.fixture(autouse=True)
def pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    """Today is Oct 6, 2026 for the pages and the allocation (``app`` is tests/ui/conftest.py's)."""
    monkeypatch.setattr("app.clock.today", lambda: TODAY)
    monkeypatch.setattr(
        "app.finops.allocation.utcnow", lambda: datetime(2026, 10, 6, 12, tzinfo=UTC)
    )


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    specs = [json.loads(e.proto.spec) for e in at.get("plotly_chart")]
    return {spec["layout"]["title"]["text"]: spec for spec in specs}


def by_team_in_october() -> dict[str, Decimal]:
    """EXAMPLE's rules applied here to the seeded rows of Oct 1-6 (two organizations)."""
    out: dict[str, Decimal] = defaultdict(Decimal)
    for n in range((TODAY - date(2026, 10, 1)).days + 1):
        for seed in (1, 2):
            for row in day_rows(date(2026, 10, 1) + timedelta(days=n), seed):
                workspace, model = row.dims["workspace_id"], row.dims["model"] or ""
                if workspace == "wrkspc_prod":
                    out["Search"] += row.amount_cents
                elif workspace == "wrkspc_bot" and model.startswith("claude-haiku-"):
                    out["Support"] += row.amount_cents
                elif workspace is None:  # the Default workspace: 60 / 40
                    out["Search"] += row.amount_cents * Decimal("0.6")
                    out["Support"] += row.amount_cents * Decimal("0.4")
                else:
                    out["Unallocated"] += row.amount_cents
    return out


def test_the_overview_shows_spend_by_team_month_to_date(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine)
    import_allocation(engine, EXAMPLE, actor="test")
    at = app.run()
    assert not at.exception
    shown = charts(at)
    assert {"Top models, month to date", "Top workspaces, month to date"} <= set(shown)
    team = shown["Spend by team, month to date"]["data"][0]
    bars = dict(zip(array_values(team["y"]), array_values(team["x"]), strict=True))
    expected = by_team_in_october()
    assert set(bars) == set(expected)
    for value, cents in expected.items():
        assert abs(Decimal(str(bars[value])) - cents / 100) < Decimal("0.01"), value


def test_an_allocation_named_like_markup_is_shown_as_text(app: AppTest, engine: Engine) -> None:
    seed_orgs(engine)
    hostile = '<a href="https://evil.example">Team</a>'
    import_allocation(
        engine, EXAMPLE.replace("allocation: Team", f"allocation: '{hostile}'"), actor="t"
    )
    at = app.run()
    assert not at.exception
    titles = list(charts(at))
    assert f"Spend by {hostile}, month to date".replace("<", "&lt;").replace(">", "&gt;") in titles
    assert not any("<a " in t for t in titles)
