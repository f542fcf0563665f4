"""Stored rows for the Claude Code and Claude Enterprise pages' tests, written straight to the
database (no simulator, no sync), so each figure on a page can be checked against them."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine

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

CC_PAGE, ENT_PAGE = "../pages/claude_code.py", "../pages/enterprise.py"
HOSTILE = "<b>x</b>"  # a name that must never render as HTML or Markdown
FORMULA = "=cmd|' /C calc'!A0"  # a name that must never run as a spreadsheet formula


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


def add_code_rows(engine: Engine) -> dict[str, Any]:
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


def add_enterprise_rows(engine: Engine) -> dict[str, Any]:
    """A Claude Enterprise organization's spend, spend by user, usage and engagement on two
    days in the last 30 (with a hostile and a formula user name), and a Console organization
    whose rows never belong on the Enterprise page."""
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
