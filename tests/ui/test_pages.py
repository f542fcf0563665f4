"""Every page through Streamlit's AppTest: empty, populated and error states."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import streamlit as st
from sqlalchemy import Engine, update
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.db import write_session
from app.models import Organization, OrgStatus
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import compact, md, money
from tests.ui.apptest import ADMIN_EMAIL, MAIN, synced, texts


def test_empty_state_offers_connect_and_demo(app: AppTest) -> None:
    app.run()
    assert not app.exception
    assert "No organization connected yet" in texts(app)
    labels = [b.label for b in app.button]
    assert "Connect +" in labels and "Explore with demo data" in labels


def test_demo_button_connects_the_demo_org(
    app: AppTest, engine: Engine, settings: Settings
) -> None:
    app.run()
    next(b for b in app.button if b.label == "Explore with demo data").click().run()
    assert not app.exception
    from app.services.organizations import list_organizations

    console, enterprise = list_organizations(engine)
    assert console.is_demo and console.status == "backfilling"
    assert console.provider_label == "Anthropic"
    assert enterprise.is_demo and enterprise.provider_label == "Anthropic (Analytics API)"
    assert any(p.text and "Demo Org" in p.text for p in app.get("progress"))


def test_overview_shows_month_to_date_equal_to_the_data(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    app.run()
    assert not app.exception
    first, tomorrow = today().replace(day=1), today() + timedelta(days=1)

    def truth(start: date, end: date) -> str:
        """Spend of every organization in ``[start, end)`` as the page formats dollars."""
        cents = sum(
            (r.amount_cents for i in ids for r in sim.truth_cost(i, start, end)), Decimal(0)
        )
        return money(cents.scaleb(-2))

    metrics = {m.label: m.value for m in app.metric}
    assert metrics["Month to date"] == truth(first, tomorrow)
    assert metrics["Last month"] == truth((first - timedelta(days=1)).replace(day=1), first)
    assert metrics["Today so far (UTC)"] == truth(today(), tomorrow)
    assert "updated just now" in texts(app)


def test_rejected_key_shows_a_banner_not_an_empty_chart(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    with write_session(engine) as session:
        session.execute(
            update(Organization)
            .where(Organization.organization_id == ids[0])
            .values(status=OrgStatus.KEY_REJECTED, status_message="Anthropic rejected the key.")
        )
    app.run()
    assert not app.exception
    assert any(
        "is not being updated" in e.value and "Replace its key" in e.value for e in app.error
    )


def test_spend_page_total_matches_truth_and_filters_from_url(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    app.switch_page("../pages/spend.py").run()
    assert not app.exception
    start, end = today() - timedelta(days=29), today() + timedelta(days=1)
    truth = sum((r.amount_cents for i in ids for r in sim.truth_cost(i, start, end)), Decimal(0))
    [metric] = app.metric
    assert metric.value == money(truth.scaleb(-2))
    # Group by workspace: the null workspace reads "Default workspace", one per organization.
    app.selectbox(key="spend_group").select("workspace").run()
    assert not app.exception
    assert app.query_params["group"] == "workspace"
    shown = [str(v) for v in app.dataframe[0].value.iloc[:, 0]]
    assert {"Default workspace · Acme Corp", "Default workspace · Globex"} <= set(shown)


def test_usage_page_headline_figures_equal_the_data(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    ids = synced(sim, engine, settings)
    app.switch_page("../pages/usage.py").run()
    assert not app.exception
    # The default window: the last 30 days, today included.
    start, end = today() - timedelta(days=29), today() + timedelta(days=1)
    rows = [r for i in ids for r in sim.truth_usage(i, start, end)]
    reads = sum(r.cache_read_input_tokens for r in rows)
    input_side = reads + sum(
        r.uncached_input_tokens
        + r.cache_creation_5m_input_tokens
        + r.cache_creation_1h_input_tokens
        for r in rows
    )
    output = sum(r.output_tokens for r in rows)
    assert input_side and reads  # the window has data, so the figures below mean something
    metrics = {m.label: m for m in app.metric}
    assert metrics["Tokens"].value == compact(input_side + output)
    assert metrics["Tokens"].help == f"{input_side + output:,} tokens of every type"
    assert metrics["Output tokens"].value == compact(output)
    assert metrics["Cache-read share of input"].value == f"{reads / input_side:.1%}"
    assert metrics["Web search requests"].value == f"{sum(r.web_search_requests for r in rows):,}"


def test_many_api_keys_show_the_largest_and_one_other_group(
    app: AppTest,
    sim: Simulator,
    engine: Engine,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    synced(sim, engine, settings)
    app.switch_page("../pages/usage.py").run()
    [tokens] = [m for m in app.metric if m.label == "Tokens"]
    # Two groups by name, as hundreds of keys would be cut to a dozen.
    monkeypatch.setattr("app.ui.state.TOP_GROUPS", 2)
    st.cache_data.clear()
    app.selectbox(key="usage_group").select("api_key").run()
    assert not app.exception
    table = app.dataframe[0].value
    names = [str(v) for v in table.iloc[:, 0]]
    [other] = [n for n in names if n.startswith("Other (")]
    assert len(names) == 3 and other.endswith(" API keys)")
    assert f"{md(other)} are added up as one" in texts(app)  # as Markdown-escaped text
    # Nothing is lost in the fold: the headline total is the same as before.
    assert [m.value for m in app.metric if m.label == "Tokens"] == [tokens.value]
    assert int(table["All tokens"].sum()) == int(tokens.help.split(" ")[0].replace(",", ""))


def test_usage_and_spend_empty_states(app: AppTest) -> None:
    for page in ("../pages/spend.py", "../pages/usage.py"):
        app.switch_page(page).run()
        assert not app.exception
        assert "Connect an organization first" in texts(app)


def test_organizations_lists_status_and_hint(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page("../pages/organizations.py").run()
    assert not app.exception
    names = [t.value for t in app.text]
    # Ids, providers and key hints are the row's smaller lines (word joiners keep a hint whole).
    details = [c.value.replace("\\", "").replace("\u2060", "") for c in app.caption]
    for org in sim.orgs.values():
        assert org.name in names and org.id in details
        assert org.admin_key not in names + details
    assert any(v.startswith("sk-ant-admin01-…") for v in details)


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("sk-ant-api03-" + "R" * 95, "regular Claude API key"),
        ("sk-ant-api01-" + "E" * 95, "Claude Enterprise"),
        ("sk-ant-admin01-" + "Z" * 95, "rejected the key"),
    ],
)
def test_wizard_explains_a_wrong_key_and_keeps_save_disabled(
    app: AppTest, http_sim: Simulator, key: str, says: str
) -> None:
    app.switch_page("../pages/connect.py").run()
    app.text_input(key="connect_key").input(key)  # in a form: sent with the submit
    next(b for b in app.button if b.label == "Test connection").click().run()
    assert not app.exception
    assert any(says in e.value for e in app.error)
    assert next(b for b in app.button if b.label == "Save").disabled


def test_wizard_tests_saves_and_forgets_the_key(
    app: AppTest, http_sim: Simulator, engine: Engine
) -> None:
    org = next(iter(http_sim.orgs.values()))
    app.switch_page("../pages/connect.py").run()
    app.text_input(key="connect_key").input(org.admin_key)
    next(b for b in app.button if b.label == "Test connection").click().run()
    assert any(org.name in s.value for s in app.success)
    save = next(b for b in app.button if b.label == "Save")
    assert not save.disabled
    save.click().run()
    assert not app.exception
    from app.services.organizations import list_organizations

    [stored] = list_organizations(engine)
    assert stored.organization_id == org.id and stored.status == "backfilling"
    # The key is gone from the session the moment it is stored.
    state = app.session_state.to_dict()
    assert "connect_key" in state  # the field exists, and it is empty
    assert org.admin_key[15:] not in repr(state)
    assert any("is connected" in s.value for s in app.success)


def test_unreachable_database_is_explained_on_the_page(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from app.runtime import dispose_engines

    dispose_engines()
    monkeypatch.setenv(
        "FINOPS_DATABASE_URL", "postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2"
    )
    monkeypatch.setenv("FINOPS_DATA_DIR", str(tmp_path))
    at = AppTest.from_file(MAIN, default_timeout=60).run()
    assert not at.exception
    assert any("cannot start" in e.value and "FINOPS_DATABASE_URL" in e.value for e in at.error)


def test_users_and_audit_pages_for_admins(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings
) -> None:
    synced(sim, engine, settings)
    app.switch_page("../pages/users.py").run()
    assert not app.exception
    assert ADMIN_EMAIL in list(app.dataframe[0].value["Email"])
    app.switch_page("../pages/audit.py").run()
    assert not app.exception
    actions = list(app.dataframe[0].value["Action"])
    assert "organization connected" in actions and "setup first admin" in actions
    assert all(org.admin_key[15:] not in str(app.dataframe[0].value) for org in sim.orgs.values())
