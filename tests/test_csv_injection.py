"""Hostile names from the API through every CSV path: `finops export` (cost and usage), every
chart download, and the audit log. Parsed back with Python's csv module, each file has the
right rows, no cell starts a formula on any of its lines, and the money is still exact."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from app import cli
from app.clock import months_back, today
from app.db import write_session
from app.reports.claude_code import claude_code_report
from app.reports.filters import CodeFilters, Filters
from app.reports.frames import to_csv
from app.reports.labels import SPEND_GROUPS, USAGE_GROUPS
from app.reports.spend import spend_over_time, spend_totals
from app.reports.usage import usage_over_time
from app.services import audit, users
from app.services.access import OPERATOR, Actor, PermissionDenied
from app.settings import Settings
from app.simulator import SimOrg, Simulator
from tests.utils.factories import connect_org, org_pk, row_counts, sync_engine

HOSTILE = [
    "\r=1+1",
    'ok\n=HYPERLINK("http://evil.example")',
    "@SUM(A1)",
    "\t=cmd",
    "+1",
    "-2",
    "a\r\n-3\r+4",
    "=cmd|' /C calc'!A0",
]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Numbers this product computes itself: written as plain decimals, a credit keeps its minus.
NUMERIC = {
    "amount_usd",
    "list_amount_usd",
    "estimated_cost_usd",
    "uncached_input_tokens",
    "cache_creation_5m_input_tokens",
    "cache_creation_1h_input_tokens",
    "cache_read_input_tokens",
    "output_tokens",
    "web_search_requests",
    "tokens",
    "sessions",
    "lines_added",
    "lines_removed",
    "commits",
    "pull_requests",
    "tool_accepted",
    "tool_rejected",
    "acceptance_rate",
    "input_tokens",
    "cache_creation_tokens",
}


def parse(text: str) -> list[dict[str, str]]:
    """Rows as a spreadsheet would read them (csv with newline='' semantics)."""
    return list(csv.DictReader(io.StringIO(text, newline="")))


def assert_inert(rows: list[dict[str, str]]) -> None:
    """No text cell, nor any line inside one, starts like a formula; numbers are numbers."""
    for row in rows:
        for column, cell in row.items():
            assert column is not None, f"a row has more fields than the header: {row}"
            if column in NUMERIC:
                if cell:
                    Decimal(cell)  # a plain number, not neutralised text
                continue
            assert not cell.startswith(FORMULA_STARTS), (column, cell)
            for line in re.split(r"\r\n|\r|\n", cell):
                assert not line.startswith(FORMULA_STARTS), (column, cell)


def restored(cell: str) -> str:
    """The original text: the neutralising quote taken off again."""
    return re.sub(r"(^|\r\n|\r|\n)'(?=[ ]*[=+\-@\t\r])", r"\1", cell)


@pytest.fixture
def hostile_sim() -> Simulator:
    """One organization whose names (organization, workspaces, API keys) are hostile."""
    sim = Simulator(history_days=40)
    org = sim.add_org(name="=2+3 Corp", seed=11)
    for i, ws in enumerate(org.workspaces):
        ws.name = HOSTILE[i % len(HOSTILE)]
    for i, key in enumerate(org.api_keys):
        key.name = HOSTILE[(i + 3) % len(HOSTILE)]
    return sim


@pytest.fixture
def synced(
    hostile_sim: Simulator, engine: Engine, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SimOrg]:
    monkeypatch.setenv("FINOPS_BACKFILL_MONTHS", "1")
    settings = Settings()
    [org] = hostile_sim.orgs.values()
    connect_org(hostile_sim, org, engine=engine, settings=settings)
    assert sync_engine(hostile_sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"
    yield org


@pytest.mark.parametrize("dataset", ["cost", "usage"])
def test_finops_export_neutralises_hostile_names_and_keeps_money_exact(
    synced: SimOrg,
    hostile_sim: Simulator,
    engine: Engine,
    tmp_path: Path,
    dataset: str,
) -> None:
    target = tmp_path / f"{dataset}.csv"
    assert cli.main(["export", "--dataset", dataset, "-o", str(target)]) == 0
    text = target.read_bytes().decode("utf-8")
    rows = parse(text)
    cost_rows, usage_rows = row_counts(engine)
    assert len(rows) == (cost_rows if dataset == "cost" else usage_rows) > 0
    assert_inert(rows)
    assert {restored(r["organization_name"]) for r in rows} == {"=2+3 Corp"}
    shown = {restored(r["workspace_name"]) for r in rows}
    assert shown & set(HOSTILE), shown  # the names survive, readable, in the file
    start = months_back(today(), 1)
    end = today() + timedelta(days=1)
    if dataset == "cost":
        exported = sum((Decimal(r["amount_usd"]) for r in rows), Decimal(0))
        truth = sum(
            (t.amount_cents for t in hostile_sim.truth_cost(synced.id, start, end)), Decimal(0)
        )
        assert exported * 100 == truth  # to the cent (and below)
    else:
        keys = {restored(r["api_key_name"]) for r in rows}
        assert keys & set(HOSTILE), keys
        exported_out = sum(int(r["output_tokens"]) for r in rows)
        truth_out = sum(t.output_tokens for t in hostile_sim.truth_usage(synced.id, start, end))
        assert exported_out == truth_out


def test_every_chart_csv_neutralises_hostile_names(synced: SimOrg, engine: Engine) -> None:
    f = Filters(start=today() - timedelta(days=29), end=today() + timedelta(days=1))
    frames: list[pd.DataFrame] = []
    for group in SPEND_GROUPS:
        over_time = spend_over_time(engine, f, group, "day", top=12)
        frames += [over_time.frame, spend_totals(over_time).frame]
    for group in USAGE_GROUPS:
        frames.append(usage_over_time(engine, f, group, "day", top=12).frame)
    report = claude_code_report(engine, CodeFilters(f.start, f.end, (), ()), "day")
    frames += [report.actors, report.tools, report.activity]
    seen: set[str] = set()
    for frame in frames:
        rows = parse(to_csv(frame).decode("utf-8"))
        assert len(rows) == len(frame)
        assert_inert(rows)
        seen |= {restored(v) for r in rows for v in r.values()}
    # The hostile names were really in the charts (by workspace and by API key).
    assert set(HOSTILE) <= seen


def test_chart_csv_keeps_a_credit_numeric() -> None:
    frame = pd.DataFrame(
        [
            {"period": today(), "Workspace": "-2", "amount_usd": Decimal("-1.50")},
            {"period": today(), "Workspace": "\r=1+1", "amount_usd": Decimal(0)},
        ]
    )
    rows = parse(to_csv(frame).decode("utf-8"))
    assert [r["amount_usd"] for r in rows] == ["-1.5", "0"]
    assert [r["Workspace"] for r in rows] == ["'-2", "'\r'=1+1"]


def test_audit_csv_of_a_formula_sign_in_is_inert(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(users, "FAILURE_DELAY_SECONDS", 0, raising=False)
    for email in ("=1+1@x.com", "-2@x.com", "@SUM(A1)@x.com"):
        with pytest.raises(users.SignInError):
            users.sign_in(engine, email=email, password="wrong password")
    with write_session(engine) as session:
        audit.record(
            session,
            actor="ok",
            action="organization_connected",
            target='ok\n=HYPERLINK("http://evil.example")',
            detail="\r=1+1",
        )
    events = audit.recent_events(engine, actor=OPERATOR)
    rows = parse(audit.events_csv(events).decode("utf-8"))
    assert len(rows) == len(events) == 4
    assert_inert(rows)
    actors = {restored(r["actor"]) for r in rows}
    assert {"=1+1@x.com", "-2@x.com", "@sum(a1)@x.com"} <= actors


def test_audit_events_are_for_admins_only(engine: Engine) -> None:
    with pytest.raises(PermissionDenied):
        audit.recent_events(engine, actor=Actor(email="v@example.com", role="viewer"))
