"""The Claude Code and Claude Enterprise pages through AppTest, on rows written straight into the
tables: headline numbers equal the rows' sums exactly, CSV downloads hold the same numbers, the
estimate is labelled as not billed, untrusted names stay literal, and the empty states explain
what to do."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import streamlit as st
from sqlalchemy import Engine, update
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.db import write_session
from app.models import ClaudeCodeDay, CostLine, Provider, UserCost
from app.reports.claude_code import claude_code_report
from app.reports.enterprise import enterprise_report
from app.reports.filters import CodeFilters, EnterpriseFilters
from app.reports.frames import to_csv
from app.reports.labels import ESTIMATE_LABEL
from app.ui.format import money
from tests.ui.apptest import csv_rows, metrics
from tests.ui.records import CC_PAGE, ENT_PAGE, FORMULA, HOSTILE, add_org

# The fixtures app, downloads, code_rows and enterprise_rows are in tests/ui/conftest.py.


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [i.value for i in at.info]
    parts += [c.value for c in at.caption] + [h.value for h in at.subheader]
    parts += [e.value for e in at.error] + [w.value for w in at.warning]
    return "\n".join(str(p) for p in parts)


def plotly_specs(at: AppTest) -> str:
    """The charts' figures as plain JSON text (Streamlit's own encoding escapes < and &)."""
    return "\n".join(json.dumps(json.loads(e.proto.spec)) for e in at.get("plotly_chart"))


# --- Claude Code --------------------------------------------------------------------------------


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


def test_enterprise_per_user_figures_say_anthropics_data_as_of(
    app: AppTest, engine: Engine, enterprise_rows: dict[str, Any]
) -> None:
    """Per-user cost lags the spend and is revised: the page says as of when (the latest
    ``data_refreshed_at`` of the rows in view), and says nothing when Anthropic never did."""
    app.switch_page(ENT_PAGE).run()
    assert not app.exception
    assert "as of" not in texts(app)
    older, newer = (
        datetime(2026, 11, 30, 6, 0, tzinfo=UTC),
        datetime(2026, 12, 1, 7, 30, tzinfo=UTC),
    )
    with write_session(engine) as session:
        session.execute(update(UserCost).values(data_refreshed_at=older))
        session.execute(
            update(UserCost).where(UserCost.user_id == "u2").values(data_refreshed_at=newer)
        )
    st.cache_data.clear()  # the page's reads are cached for a minute
    app.run()
    assert not app.exception
    assert "Per-user figures as of Dec 01, 2026 07:30 UTC (Anthropic)." in texts(app)
