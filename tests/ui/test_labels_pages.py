"""What every group and filter choice is called, as a person sees it on the Spend and Usage
pages (AppTest against the simulator): an empty value says why it is empty, a workspace or API
key is its organization's (never added to another's of the same name), and stored API values
read as words ("Cache write (1h)", "Batch", "Claude Sonnet 4.5"), each group to the cent."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.clock import today
from app.settings import Settings
from app.simulator import Simulator
from app.ui.format import md, money
from tests.utils.factories import connect_enterprise, connect_org, org_pk, sync_engine

SPEND, USAGE = "../pages/spend.py", "../pages/usage.py"
START, END = today() - timedelta(days=29), today() + timedelta(days=1)  # the default 30 days
OLD_NULL = "Web search & code execution"  # the label every empty value had before


def sync_console(sim: Simulator, engine: Engine, settings: Settings) -> None:
    for org in sim.orgs.values():
        connect_org(sim, org, engine=engine, settings=settings)
        assert sync_engine(sim, engine, settings).run(org_pk(engine, org.id)).outcome == "ok"


@pytest.fixture
def console_and_enterprise(engine: Engine, settings: Settings) -> dict[str, Any]:
    """One Console organization (Acme Corp) and one Claude Enterprise organization (Initech),
    synced; the simulator's truth of what each spent in the default 30 days."""
    sim = Simulator(history_days=200)
    acme = sim.add_org(name="Acme Corp", seed=11)
    sim.analytics_rpm = None
    ent = sim.add_enterprise_org(name="Initech Enterprise", seed=73)
    sync_console(sim, engine, settings)
    conn = connect_enterprise(sim, ent.key, engine=engine, settings=settings, name="Initech")
    outcome = sync_engine(sim, engine, settings).run(org_pk(engine, conn.organization_id))
    assert outcome.outcome == "ok"
    # Claude Enterprise reports no day before it is complete: nothing of today.
    enterprise = sum(
        (r.amount_cents for r in sim.truth_enterprise_cost(ent.id, START, today())), Decimal(0)
    )
    console: dict[str, Decimal] = defaultdict(Decimal)
    for row in sim.truth_cost(acme.id, START, END):
        console[row.cost_type] += row.amount_cents
    return {"enterprise": usd(enterprise), "console": {k: usd(v) for k, v in console.items()}}


def usd(cents: Decimal) -> Decimal:
    return cents.scaleb(-2)


def csv_totals(data: bytes, value: str = "amount_usd") -> dict[str, Decimal]:
    """A totals CSV as {group label: amount}; every label once."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    labels = [r[0] for r in rows[1:]]
    assert len(labels) == len(set(labels)), labels
    return {r[0]: Decimal(r[rows[0].index(value)]) for r in rows[1:]}


def grouped(app: AppTest, page: str, group: str) -> None:
    app.switch_page(page).run()
    app.selectbox(key=f"{page.split('/')[-1][:-3]}_group").select(group).run()
    assert not app.exception


def shown_text(app: AppTest, downloads: dict[str, bytes]) -> str:
    """Everything a person can read of the charts, tables and CSVs."""
    specs = [json.dumps(json.loads(e.proto.spec)) for e in app.get("plotly_chart")]
    tables = [d.value.to_csv() for d in app.dataframe]
    return "\n".join(specs + tables + [b.decode() for b in downloads.values()])


# --- Defect 1: an empty value is labelled by why it is empty ----------------------------------


def test_enterprise_spend_is_not_labelled_web_search(
    app: AppTest, console_and_enterprise: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    truth = console_and_enterprise
    grouped(app, SPEND, "token_type")
    totals = csv_totals(downloads["csv_totals"])
    assert OLD_NULL not in totals
    # Enterprise spend (no token type reported) under its own name, to the cent.
    assert totals["Claude Enterprise (not by token type)"] == truth["enterprise"]
    # The Console's costs that are not tokens, each under its cost type.
    assert totals["Web search"] == truth["console"]["web_search"]
    assert totals["Code execution"] == truth["console"]["code_execution"]
    [metric] = app.metric
    assert metric.value == money(sum(totals.values(), start=Decimal(0)))

    grouped(app, SPEND, "service_tier")
    totals = csv_totals(downloads["csv_totals"])
    assert OLD_NULL not in totals
    assert totals["Claude Enterprise (not by service tier)"] == truth["enterprise"]
    assert totals["Web search"] == truth["console"]["web_search"]

    grouped(app, SPEND, "cost_type")
    totals = csv_totals(downloads["csv_totals"])
    assert "(none)" not in totals
    assert totals["Claude Enterprise (not by cost type)"] == truth["enterprise"]
    assert totals["Tokens"] == truth["console"]["tokens"]

    grouped(app, SPEND, "model")
    totals = csv_totals(downloads["csv_totals"])
    assert OLD_NULL not in totals
    assert totals["Web search"] == truth["console"]["web_search"]
    assert "No model (web search and other)" in totals  # as on the Enterprise page


def test_usage_by_api_key_names_the_enterprise_null_key_for_what_it_is(
    app: AppTest, console_and_enterprise: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    grouped(app, USAGE, "api_key")
    totals = csv_totals(downloads["csv_totals"], "tokens")
    assert not [label for label in totals if "no workspaces" in label]
    assert "Claude Enterprise (not by API key) · Initech" in totals
    assert "Console / Workbench · Acme Corp" in totals
    grouped(app, USAGE, "service_tier")
    totals = csv_totals(downloads["csv_totals"], "tokens")
    assert OLD_NULL not in totals and "Claude Enterprise (not by service tier)" in totals


# --- Defect 2: a workspace and an API key are their organization's ---------------------------


def test_same_named_workspaces_of_two_organizations_stay_two_groups(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings, downloads: dict[str, bytes]
) -> None:
    sync_console(sim, engine, settings)
    acme, globex = sim.orgs.values()
    production = {
        org.name: next(w.id for w in org.workspaces if w.name == "Production")
        for org in (acme, globex)
    }
    truth = {
        org.name: usd(
            sum(
                (
                    r.amount_cents
                    for r in sim.truth_cost(org.id, START, END)
                    if r.workspace_id == production[org.name]
                ),
                Decimal(0),
            )
        )
        for org in (acme, globex)
    }
    grouped(app, SPEND, "workspace")
    totals = csv_totals(downloads["csv_totals"])
    assert "Production" not in totals
    assert totals["Production · Acme Corp"] == truth["Acme Corp"]
    assert totals["Production · Globex"] == truth["Globex"]
    # The chart's CSV per day holds the two apart too, adding up to the same.
    per_day: dict[str, Decimal] = defaultdict(Decimal)
    for row in csv.DictReader(io.StringIO(downloads["csv_over_time"].decode("utf-8"))):
        per_day[row["Workspace"]] += Decimal(row["amount_usd"])
    assert per_day["Production · Acme Corp"] == truth["Acme Corp"]
    assert per_day["Production · Globex"] == truth["Globex"]

    # Usage by API key: two organizations' "prod-backend" keys are two groups.
    grouped(app, USAGE, "api_key")
    keys = csv_totals(downloads["csv_totals"], "tokens")
    assert "prod-backend · Acme Corp" in keys and "prod-backend · Globex" in keys
    assert "prod-backend" not in keys

    app.switch_page(SPEND).run()
    # The workspace filter lists each organization's Production once, and filters to it.
    choices = app.multiselect(key="spend_workspaces")
    assert "Production · Acme Corp" in choices.options
    assert "Production · Globex" in choices.options
    assert len(choices.options) == len(set(choices.options))
    choices.select(production["Globex"]).run()
    assert not app.exception
    [metric] = app.metric
    assert metric.value == money(truth["Globex"])


def test_a_click_on_a_workspace_of_the_one_organization_in_view_picks_its_own(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings, downloads: dict[str, bytes]
) -> None:
    """With one organization in view its workspaces are named without it ("Production"); a
    click on one filters to that organization's workspace alone: one chip, not Globex's
    "Production" beside it. (The click itself is the browser test's: here, what it sets.)"""
    sync_console(sim, engine, settings)
    acme, globex = sim.orgs.values()
    production = {
        org.id: next(w.id for w in org.workspaces if w.name == "Production")
        for org in (acme, globex)
    }
    for org, other in ((acme, globex), (globex, acme)):
        app.session_state["spend_organizations"] = [org.id]
        grouped(app, SPEND, "workspace")
        names = list(csv_totals(downloads["csv_totals"]))
        assert "Production" in names  # one organization in view: named without it
        view = app.session_state["_chart_view"]
        assert view.drill is not None and view.drill.widget == "spend_workspaces"
        assert view.drill.values_of("Production") == [production[org.id]], org.name
        assert production[other.id] not in view.drill.values_of("Production", names)
        # The filter it sets reads as one chip, of that organization's workspace.
        app.session_state["spend_workspaces"] = view.drill.values_of("Production")
        app.run()
        assert not app.exception
        chips = [b.label for b in app.button if b.label.startswith("Workspace")]
        assert chips == [md(f"Workspace: Production · {org.name}")]
        app.session_state["spend_workspaces"] = []


def test_one_organization_s_default_workspace_can_be_chosen(
    app: AppTest, sim: Simulator, engine: Engine, settings: Settings, downloads: dict[str, bytes]
) -> None:
    """With two organizations, "Default workspace · Acme Corp" is a choice of its own beside
    "Default workspace (every organization)", and filters to Acme's default workspace alone,
    to the cent; a click on a bar of it (named bare with Globex alone in view) picks Globex's."""
    sync_console(sim, engine, settings)
    acme, globex = sim.orgs.values()

    def default_spend(*orgs: Any) -> str:
        rows = [r for o in orgs for r in sim.truth_cost(o.id, START, END)]
        return money(usd(sum((r.amount_cents for r in rows if r.workspace_id is None), Decimal(0))))

    assert default_spend(acme) != default_spend(acme, globex) != money(Decimal(0))
    app.switch_page(SPEND).run()
    choices = app.multiselect(key="spend_workspaces")
    assert {
        "Default workspace (every organization)",
        "Default workspace · Acme Corp",
        "Default workspace · Globex",
    } <= set(choices.options)
    choices.select(f"default:{acme.id}").run()
    assert not app.exception
    [metric] = app.metric
    assert metric.value == default_spend(acme)
    chips = [b.label for b in app.button if b.label.startswith("Workspace")]
    assert chips == [md("Workspace: Default workspace · Acme Corp")]
    assert app.query_params["workspaces"] == f"default:{acme.id}"  # a link keeps it

    app.multiselect(key="spend_workspaces").set_value([""]).run()
    [metric] = app.metric
    assert metric.value == default_spend(acme, globex)

    app.multiselect(key="spend_workspaces").set_value([]).run()
    app.session_state["spend_organizations"] = [globex.id]
    grouped(app, SPEND, "workspace")
    names = list(csv_totals(downloads["csv_totals"]))
    assert "Default workspace" in names
    view = app.session_state["_chart_view"]
    assert view.drill.values_of("Default workspace", names) == [f"default:{globex.id}"]


# --- Defect 6: stored values as words, one model per name ------------------------------------


def test_token_types_tiers_and_products_read_as_words(
    app: AppTest, console_and_enterprise: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    grouped(app, SPEND, "token_type")
    totals = csv_totals(downloads["csv_totals"])
    assert {
        "Uncached input",
        "Cache write (5m)",
        "Cache write (1h)",
        "Cache read",
        "Output",
    } <= set(totals)
    said = shown_text(app, downloads)
    assert "cache_creation.ephemeral_1h_input_tokens" not in said
    assert "uncached_input_tokens" not in said

    grouped(app, SPEND, "service_tier")
    assert {"Standard", "Batch"} <= set(csv_totals(downloads["csv_totals"]))
    assert "standard" not in csv_totals(downloads["csv_totals"])

    grouped(app, SPEND, "product")
    products = csv_totals(downloads["csv_totals"])
    assert "Claude Code" in products and "claude_code" not in products
    assert products["Claude API (Console)"] == sum(
        console_and_enterprise["console"].values(), start=Decimal(0)
    )
    # The filter choices read the same.
    assert "Batch" in app.multiselect(key="spend_service_tiers").options
    assert "Web search" in app.multiselect(key="spend_cost_types").options


def test_a_model_alias_and_its_dated_id_are_one_model_unless_ids_are_asked_for(
    app: AppTest, console_and_enterprise: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    # The Console reports claude-sonnet-4-5-20250929, Claude Enterprise the alias.
    grouped(app, SPEND, "model")
    models = csv_totals(downloads["csv_totals"])
    assert "Claude Sonnet 4.5" in models
    assert not [m for m in models if m.startswith("claude-sonnet-4-5")]
    assert "claude-nimbus-7-preview" in models  # an unknown model keeps its id
    sonnet = models["Claude Sonnet 4.5"]

    # The model filter offers it once and filters every id of it.
    choices = app.multiselect(key="spend_models")
    assert choices.options.count("Claude Sonnet 4.5") == 1
    choices.select("claude-sonnet-4-5").run()
    assert not app.exception
    [metric] = app.metric
    assert metric.value == money(sonnet)

    # "Show model ids": the ids apart, adding up to the same; the choice kept, in the URL.
    app.toggle(key="spend_model_ids").set_value(True).run()
    assert not app.exception
    assert app.query_params["ids"] == "1"
    assert set(app.multiselect(key="spend_models").value) == {
        "claude-sonnet-4-5",
        "claude-sonnet-4-5-20250929",
    }
    by_id = csv_totals(downloads["csv_totals"])
    assert set(by_id) == {"claude-sonnet-4-5", "claude-sonnet-4-5-20250929"}
    assert sum(by_id.values(), start=Decimal(0)) == sonnet
    [metric] = app.metric
    assert metric.value == money(sonnet)
    # And back: the two ids are one model again.
    app.toggle(key="spend_model_ids").set_value(False).run()
    assert not app.exception
    assert "ids" not in app.query_params
    assert app.multiselect(key="spend_models").value == ["claude-sonnet-4-5"]
    assert set(csv_totals(downloads["csv_totals"])) == {"Claude Sonnet 4.5"}


def test_the_enterprise_page_names_models_as_spend_does(
    app: AppTest, console_and_enterprise: dict[str, Any], downloads: dict[str, bytes]
) -> None:
    app.switch_page("../pages/enterprise.py").run()
    assert not app.exception
    models = csv_totals(downloads["csv_ent_spend_model_totals"])
    assert "Claude Sonnet 4.5" in models and "claude-sonnet-4-5" not in models
    assert "No model (web search and other)" in models
    app.toggle(key="ent_model_ids").set_value(True).run()
    assert not app.exception
    by_id = csv_totals(downloads["csv_ent_spend_model_totals"])
    assert "claude-sonnet-4-5" in by_id and "Claude Sonnet 4.5" not in by_id
    assert sum(by_id.values(), start=Decimal(0)) == sum(models.values(), start=Decimal(0))
