"""The Claude Code and Claude Enterprise pages through AppTest, on rows written straight into the
tables: headline numbers equal the rows' sums exactly, CSV downloads hold the same numbers, the
estimate is labelled as not billed, untrusted names stay literal, and the empty states explain
what to do."""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import streamlit as st
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today, utcnow
from app.db import write_session
from app.models import (
    ClaudeCodeDay,
    CostLine,
    EngagementDay,
    Organization,
    OrgStatus,
    Provider,
    UsageBucket,
    UserCost,
)
from app.reports.claude_code import claude_code_report
from app.reports.enterprise import enterprise_report
from app.reports.filters import CodeFilters, EnterpriseFilters
from app.reports.frames import to_csv
from app.reports.labels import ESTIMATE_LABEL
from app.services.users import create_first_admin, open_session
from app.settings import Settings
from app.ui.format import money

MAIN = str(Path(__file__).resolve().parents[2] / "app" / "main.py")
CC_PAGE, ENT_PAGE = "../pages/claude_code.py", "../pages/enterprise.py"
HOSTILE = "<b>x</b>"  # a name that must never render as HTML or Markdown
FORMULA = "=cmd|' /C calc'!A0"  # a name that must never run as a spreadsheet formula


# --- Fixtures and row factories -----------------------------------------------------------------


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """The exact bytes every download button of the last run was given, by widget key."""
    seen: dict[str, bytes] = {}
    original = st.download_button

    def recording(label: str, data: Any, *args: Any, **kwargs: Any) -> Any:
        seen[str(kwargs.get("key"))] = data if isinstance(data, bytes) else str(data).encode()
        return original(label, data, *args, **kwargs)

    monkeypatch.setattr(st, "download_button", recording)
    return seen


@pytest.fixture
def app(settings: Settings, engine: Engine) -> Iterator[AppTest]:
    """The app, signed in as an admin, with nothing cached from another test's database."""
    st.cache_data.clear()
    admin = create_first_admin(engine, email="admin@example.com", password="correct horse battery")
    at = AppTest.from_file(MAIN, default_timeout=60)
    at.session_state["auth_token"] = open_session(engine, admin, hours=1)
    yield at


def add_org(engine: Engine, name: str, provider: str) -> int:
    """An organization as `connect` leaves it (its id is "org-" + the name in lower case)."""
    with write_session(engine) as session:
        org = Organization(
            organization_id=f"org-{name.lower().replace(' ', '-')}",
            name=name,
            provider=provider,
            key_ciphertext="not-a-key",
            key_hint="sk-ant-…test",
            status=OrgStatus.HEALTHY,
            backfill_start=today() - timedelta(days=180),
            created_at=utcnow(),
            last_synced_at=utcnow(),
        )
        session.add(org)
        session.flush()
        assert org.id is not None
        return org.id


def add(engine: Engine, *rows: Any) -> None:
    with write_session(engine) as session:
        session.add_all(rows)


def key() -> str:
    return uuid.uuid4().hex


def code_day(pk: int, day: date, actor: str | None, **values: Any) -> ClaudeCodeDay:
    tools = values.pop("tools", {})
    models = values.pop("models", [])
    return ClaudeCodeDay(
        organization_pk=pk,
        date=day,
        actor_type="user_actor" if actor and "@" in actor else "api_actor",
        actor=actor,
        tool_accepted=sum(t["accepted"] for t in tools.values()),
        tool_rejected=sum(t["rejected"] for t in tools.values()),
        tool_actions=json.dumps(tools) if tools else None,
        models=json.dumps(models) if models else None,
        estimated_cost_cents=sum((Decimal(m["estimated_cost_cents"]) for m in models), Decimal(0)),
        dims_key=key(),
        **values,
    )


def model(name: str, cents: str, tokens: int = 1000) -> dict[str, Any]:
    return {
        "model": name,
        "input": tokens,
        "output": tokens // 2,
        "cache_read": tokens * 3,
        "cache_creation": tokens // 4,
        "estimated_cost_cents": cents,
    }


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info]
    parts += [c.value for c in at.caption] + [h.value for h in at.subheader]
    parts += [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def csv_rows(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8"))))


def plotly_specs(at: AppTest) -> str:
    """The charts' figures as plain JSON text (Streamlit's own encoding escapes < and &)."""
    return "\n".join(json.dumps(json.loads(e.proto.spec)) for e in at.get("plotly_chart"))


# --- Claude Code --------------------------------------------------------------------------------


@pytest.fixture
def code_rows(engine: Engine) -> dict[str, Any]:
    """Two Console organizations' Claude Code records in the last 30 days, one outside, and an
    Enterprise organization (which has no Claude Code report)."""
    acme = add_org(engine, "Acme", Provider.CONSOLE)
    globex = add_org(engine, "Globex", Provider.CONSOLE)
    add_org(engine, "Initech Enterprise", Provider.ENTERPRISE)
    d0, d1 = today() - timedelta(days=3), today() - timedelta(days=1)
    rows = [
        code_day(
            acme,
            d0,
            "ada@acme.example",
            sessions=7,
            lines_added=120,
            lines_removed=30,
            commits=3,
            pull_requests=1,
            tools={
                "edit_tool": {"accepted": 20, "rejected": 5},
                "write_tool": {"accepted": 4, "rejected": 0},
            },
            models=[model("claude-opus-4-8", "186"), model("claude-sonnet-4-6", "42.5")],
        ),
        code_day(
            acme,
            d1,
            "ada@acme.example",
            sessions=2,
            lines_added=10,
            lines_removed=1,
            commits=1,
            pull_requests=0,
            is_remote=True,
            tools={"edit_tool": {"accepted": 3, "rejected": 1}},
            models=[model("claude-opus-4-8", "17")],
        ),
        code_day(
            acme,
            d1,
            HOSTILE,
            sessions=4,
            lines_added=55,
            lines_removed=5,
            commits=0,
            pull_requests=2,
            tools={"apply_patch_tool": {"accepted": 6, "rejected": 6}},
            models=[model("claude-haiku-4-5", "3.25")],
        ),
        code_day(
            globex,
            d1,
            FORMULA,
            sessions=11,
            lines_added=400,
            lines_removed=100,
            commits=5,
            pull_requests=3,
            tools={"multi_edit_tool": {"accepted": 9, "rejected": 1}},
            models=[model("claude-sonnet-4-6", "250")],
        ),
        # Outside the default 30 days: in no figure.
        code_day(
            acme,
            today() - timedelta(days=45),
            "ada@acme.example",
            sessions=1000,
            lines_added=1,
            lines_removed=1,
            commits=1,
            pull_requests=1,
            models=[model("claude-opus-4-8", "99999")],
        ),
    ]
    add(engine, *rows)
    # Billed spend of the same organization: never mixed into the estimate.
    add(
        engine,
        CostLine(
            organization_pk=acme,
            date=d1,
            model="claude-opus-4-8",
            amount_cents=Decimal("777.5"),
            dims_key=key(),
        ),
    )
    return {"in_range": rows[:4], "acme": acme}


def test_claude_code_headline_numbers_equal_the_rows(
    app: AppTest, engine: Engine, code_rows: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    app.switch_page(CC_PAGE).run()
    assert not app.exception
    rows: list[ClaudeCodeDay] = code_rows["in_range"]
    shown = metrics(app)
    for label, column in (
        ("Sessions", "sessions"),
        ("Lines added", "lines_added"),
        ("Lines removed", "lines_removed"),
        ("Commits", "commits"),
        ("Pull requests", "pull_requests"),
    ):
        assert shown[label] == f"{sum(getattr(r, column) for r in rows):,}"
    accepted = sum(r.tool_accepted for r in rows)
    rejected = sum(r.tool_rejected for r in rows)
    assert (accepted, rejected) == (42, 13)
    assert shown["Tool acceptance rate"] == f"{accepted / (accepted + rejected):.1%}"
    estimate = sum((r.estimated_cost_cents for r in rows), Decimal(0)).scaleb(-2)
    assert estimate == Decimal("4.9875")
    # Labelled as an estimate, with the caption that it is never billed spend.
    assert shown[ESTIMATE_LABEL] == money(estimate)
    assert "never added to billed spend" in texts(app)
    assert ESTIMATE_LABEL in texts(app)  # the model section's heading
    assert "777" not in shown[ESTIMATE_LABEL]

    # The downloads hold the same numbers as the headline metrics, to the last digit.
    sessions = csv_rows(downloads["csv_cc_sessions"])
    assert sum(int(r["sessions"]) for r in sessions) == sum(r.sessions for r in rows)
    lines = csv_rows(downloads["csv_cc_lines"])
    assert sum(int(r["lines_added"]) for r in lines) == sum(r.lines_added for r in rows)
    by_model = csv_rows(downloads["csv_cc_models"])
    assert sum(Decimal(r["estimated_cost_usd"]) for r in by_model) == estimate
    assert {r["Model"] for r in by_model} == {
        "claude-opus-4-8",
        "claude-sonnet-4-6",
        "claude-haiku-4-5",
    }
    tools = {r["tool"]: r for r in csv_rows(downloads["csv_cc_tools"])}
    assert (tools["Edit"]["accepted"], tools["Edit"]["rejected"]) == ("23", "6")
    assert "apply_patch_tool" in tools  # an unknown tool is kept under its own name
    actors = csv_rows(downloads["csv_cc_actors"])
    assert sum(Decimal(r["estimated_cost_usd"]) for r in actors) == estimate
    # And the services behind them agree with the page.
    f = CodeFilters(today() - timedelta(days=29), today() + timedelta(days=1))
    report = claude_code_report(engine, f, "day")
    assert downloads["csv_cc_sessions"] == to_csv(report.activity[["period", "sessions"]])
    assert report.summary().estimated_cost_usd == estimate
    assert report.summary().sessions == sum(r.sessions for r in rows)


def test_claude_code_names_are_shown_literally(
    app: AppTest, code_rows: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    app.switch_page(CC_PAGE).run()
    assert not app.exception
    table = app.dataframe[0].value
    # The table shows a formula-looking name inert, as its toolbar's CSV download exports it.
    assert HOSTILE in list(table["actor"]) and "'" + FORMULA in list(table["actor"])
    # Charts get the escaped label, never the raw tag.
    specs = plotly_specs(app)
    assert "&lt;b&gt;x&lt;/b&gt;" in specs and HOSTILE not in specs
    assert HOSTILE not in texts(app)
    # The filter offers the names as plain text.
    assert HOSTILE in app.multiselect(key="cc_actors").options
    # In a CSV, a formula-looking name is neutralised.
    actors = [r["actor"] for r in csv_rows(downloads["csv_cc_actors"])]
    assert "'" + FORMULA in actors and HOSTILE in actors


def test_claude_code_actor_and_organization_filters(
    app: AppTest, code_rows: dict[str, Any]
) -> None:
    app.switch_page(CC_PAGE).run()
    app.multiselect(key="cc_actors").select(FORMULA).run()
    assert not app.exception
    shown = metrics(app)
    assert shown["Sessions"] == "11" and shown[ESTIMATE_LABEL] == money(Decimal("2.50"))
    app.multiselect(key="cc_actors").unselect(FORMULA).run()
    # Two Console organizations: the organization filter appears (the Enterprise one is not in it).
    orgs = app.multiselect(key="cc_orgs")
    assert set(orgs.options) == {"Acme", "Globex"}
    orgs.select("org-acme").run()
    assert not app.exception
    assert metrics(app)["Sessions"] == f"{7 + 2 + 4:,}"
    app.segmented_control(key="cc_grain").set_value("month").run()
    assert not app.exception
    assert metrics(app)["Sessions"] == f"{7 + 2 + 4:,}"


def test_claude_code_empty_state(app: AppTest, engine: Engine) -> None:
    app.switch_page(CC_PAGE).run()
    assert not app.exception
    said = texts(app)
    assert "No Claude Code data is stored yet" in said
    assert "next sync" in said and "Claude Enterprise" in said
    assert [p.label for p in app.page_link] == ["Connect a Console organization"]
    # A Console organization that has not synced Claude Code yet: the same explanation.
    add_org(engine, "Acme", Provider.CONSOLE)
    st.cache_data.clear()
    app.run()
    assert not app.exception
    assert "No Claude Code data is stored yet" in texts(app)
    assert not app.metric


# --- Claude Enterprise --------------------------------------------------------------------------


@pytest.fixture
def enterprise_rows(engine: Engine) -> dict[str, Any]:
    ent = add_org(engine, "Globex AI", Provider.ENTERPRISE)
    console = add_org(engine, "Acme", Provider.CONSOLE)
    d0, d1 = today() - timedelta(days=5), today() - timedelta(days=4)
    cost = [
        CostLine(
            organization_pk=ent,
            date=d0,
            product="chat",
            model="claude-opus-4-8",
            amount_cents=Decimal("12345.678901"),
            list_amount_cents=Decimal("15000"),
            dims_key=key(),
        ),
        CostLine(
            organization_pk=ent,
            date=d1,
            product="claude_code",
            model="claude-sonnet-4-6",
            amount_cents=Decimal("500.000001"),
            list_amount_cents=Decimal("600"),
            dims_key=key(),
        ),
        CostLine(
            organization_pk=ent,
            date=d1,
            product="chat",
            model=None,
            amount_cents=Decimal("7.5"),
            list_amount_cents=Decimal("7.5"),
            dims_key=key(),
        ),
    ]
    users = [
        UserCost(
            organization_pk=ent,
            date=d0,
            user_id="u1",
            user_name="Ada Lovelace",
            user_email="ada@globex.example",
            deleted=False,
            amount_cents=Decimal("9000"),
            dims_key=key(),
        ),
        UserCost(
            organization_pk=ent,
            date=d1,
            user_id="u1",
            user_name="Ada Lovelace",
            user_email="ada@globex.example",
            deleted=False,
            amount_cents=Decimal("100.25"),
            dims_key=key(),
        ),
        UserCost(
            organization_pk=ent,
            date=d1,
            user_id="u2",
            user_name=HOSTILE,
            user_email="x@globex.example",
            deleted=False,
            amount_cents=Decimal("250"),
            dims_key=key(),
        ),
        UserCost(
            organization_pk=ent,
            date=d0,
            user_id="u3",
            user_name=FORMULA,
            user_email="gone@globex.example",
            deleted=True,
            amount_cents=Decimal("1.5"),
            dims_key=key(),
        ),
    ]
    usage = [
        UsageBucket(
            organization_pk=ent,
            date=d0,
            product="chat",
            model="claude-opus-4-8",
            uncached_input_tokens=1000,
            output_tokens=500,
            cache_read_input_tokens=3000,
            dims_key=key(),
        ),
        UsageBucket(
            organization_pk=ent,
            date=d1,
            product="claude_code",
            model="claude-sonnet-4-6",
            uncached_input_tokens=20000,
            output_tokens=4000,
            cache_creation_5m_input_tokens=700,
            dims_key=key(),
        ),
    ]
    engagement = [
        EngagementDay(
            organization_pk=ent,
            date=d0,
            daily_active_users=20,
            weekly_active_users=40,
            monthly_active_users=55,
            daily_adoption_rate=0.3,
            weekly_adoption_rate=0.6,
            monthly_adoption_rate=0.82,
            assigned_seats=67,
            pending_invites=2,
            dims_key=key(),
        ),
        EngagementDay(
            organization_pk=ent,
            date=d1,
            daily_active_users=27,
            weekly_active_users=47,
            monthly_active_users=62,
            daily_adoption_rate=0.403,
            weekly_adoption_rate=0.7015,
            monthly_adoption_rate=0.9254,
            assigned_seats=70,
            pending_invites=1,
            dims_key=key(),
        ),
    ]
    # A Console organization's spend and usage: never on the Enterprise page.
    console_rows = [
        CostLine(
            organization_pk=console,
            date=d1,
            model="claude-opus-4-8",
            amount_cents=Decimal("99999"),
            dims_key=key(),
        ),
        UsageBucket(
            organization_pk=console,
            date=d1,
            model="claude-opus-4-8",
            uncached_input_tokens=10**9,
            dims_key=key(),
        ),
    ]
    add(engine, *cost, *users, *usage, *engagement, *console_rows)
    return {"cost": cost, "users": users, "usage": usage}


def test_enterprise_headline_numbers_equal_the_rows(
    app: AppTest, engine: Engine, enterprise_rows: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    cost: list[CostLine] = enterprise_rows["cost"]
    spend = sum((c.amount_cents for c in cost), Decimal(0)).scaleb(-2)
    listed = sum((c.list_amount_cents or Decimal(0) for c in cost), Decimal(0)).scaleb(-2)
    tokens = sum(
        u.uncached_input_tokens
        + u.output_tokens
        + u.cache_read_input_tokens
        + u.cache_creation_5m_input_tokens
        + u.cache_creation_1h_input_tokens
        for u in enterprise_rows["usage"]
    )
    shown = metrics(app)
    assert shown["Spend"] == money(spend) == "$128.53"
    assert shown["At list price"] == money(listed)
    assert tokens == 29200
    assert shown["Tokens"] == "29.2K"
    assert shown["Monthly active users"] == "62" and shown["Assigned seats"] == "70"

    # Each spend chart's CSV adds up to the headline spend, exactly (to the micro-cent).
    for key_ in (
        "csv_ent_spend_product",
        "csv_ent_spend_model",
        "csv_ent_spend_product_totals",
        "csv_ent_spend_model_totals",
    ):
        assert sum(Decimal(r["amount_usd"]) for r in csv_rows(downloads[key_])) == spend
    products = {r["Product"] for r in csv_rows(downloads["csv_ent_spend_product"])}
    assert products == {"Chat", "Claude Code"}
    models = {r["Model"] for r in csv_rows(downloads["csv_ent_spend_model"])}
    assert "No model (web search and other)" in models
    by_product = csv_rows(downloads["csv_ent_tokens"])
    assert sum(int(r["tokens"]) for r in by_product) == tokens
    active = csv_rows(downloads["csv_ent_active"])
    assert [r["monthly_active_users"] for r in active] == ["55", "62"]
    adoption = csv_rows(downloads["csv_ent_adoption"])
    assert adoption[-1]["monthly_adoption_rate"] == "0.9254"
    users = csv_rows(downloads["csv_ent_users"])
    user_cost = sum((u.amount_cents for u in enterprise_rows["users"]), Decimal(0)).scaleb(-2)
    assert sum(Decimal(r["amount_usd"]) for r in users) == user_cost
    # The service behind the page agrees.
    f = EnterpriseFilters(today() - timedelta(days=29), today() + timedelta(days=1))
    assert enterprise_report(engine, f, "day").spend.amount_usd == spend


def test_enterprise_users_are_literal_and_deleted_ones_marked(
    app: AppTest, enterprise_rows: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    table = next(d.value for d in app.dataframe if "user" in d.value.columns)
    names = list(table["user"])
    assert names[0] == "Ada Lovelace"  # the largest spender first
    # A formula-looking name is shown inert, as the table's own CSV download exports it.
    assert HOSTILE in names and f"'{FORMULA} (deleted user)" in names
    assert list(table.loc[table["user"] == f"'{FORMULA} (deleted user)", "deleted"]) == [True]
    specs = plotly_specs(app)
    assert "&lt;b&gt;x&lt;/b&gt;" in specs and HOSTILE not in specs
    assert HOSTILE not in texts(app)
    shown = [r["user"] for r in csv_rows(downloads["csv_ent_users"])]
    assert f"'{FORMULA} (deleted user)" in shown


def test_enterprise_empty_state_explains_the_key(app: AppTest, engine: Engine) -> None:
    add_org(engine, "Acme", Provider.CONSOLE)  # a Console organization is not enough
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    said = texts(app)
    assert "No Claude Enterprise organization is connected" in said
    for needed in ("sk-ant-api01-", "read:analytics", "Primary Owner", "Organization settings"):
        assert needed in said
    [link] = app.page_link
    assert link.label == "Connect a Claude Enterprise organization"
    assert not app.metric


def test_enterprise_with_no_data_in_range(app: AppTest, engine: Engine) -> None:
    add_org(engine, "Globex AI", Provider.ENTERPRISE)
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    assert "No Claude Enterprise data in this range yet" in texts(app)
