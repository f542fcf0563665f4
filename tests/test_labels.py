"""The labels of stored values: empty ones by why they are empty, workspaces and API keys one
label each (never two of them one), API values as words."""

from __future__ import annotations

from app.reports.labels import (
    cost_type_label,
    null_label,
    service_tier_label,
    token_type_label,
    value_label,
)
from app.reports.names import Namer

ACME, GLOBEX, INITECH = 1, 2, 3


def namer(group: str, directory: dict[tuple[int, str], str]) -> Namer:
    return Namer(
        group=group,
        enterprise=frozenset({INITECH}),
        organization_ids={ACME: "org-acme", GLOBEX: "org-globex", INITECH: "claude-enterprise-1"},
        organization_names={ACME: "Acme Corp", GLOBEX: "Globex", INITECH: "Initech"},
        directory=directory,
    )


def test_an_empty_value_says_why_it_is_empty() -> None:
    # Claude Enterprise does not report the dimension.
    assert null_label("token_type", enterprise=True) == "Claude Enterprise (not by token type)"
    assert null_label("service_tier", enterprise=True) == "Claude Enterprise (not by service tier)"
    assert null_label("api_key", enterprise=True) == "Claude Enterprise (not by API key)"
    assert null_label("model", enterprise=True) == "No model (web search and other)"
    # A Console cost that is not tokens has no token type, tier or model: its cost type.
    for group in ("token_type", "service_tier", "model"):
        assert null_label(group, enterprise=False, cost_type="web_search") == "Web search"
        assert null_label(group, enterprise=False, cost_type="code_execution") == "Code execution"
        assert null_label(group, enterprise=False, cost_type="session_usage") == "Session usage"
    assert null_label("workspace", enterprise=False) == "Default workspace"
    assert null_label("api_key", enterprise=False) == "Console / Workbench"
    assert null_label("product", enterprise=False) == "Claude API (Console)"
    assert null_label("product", enterprise=True) == "(no product reported)"


def test_api_values_read_as_words_and_unknown_ones_as_they_are() -> None:
    assert token_type_label("cache_creation.ephemeral_1h_input_tokens") == "Cache write (1h)"
    assert token_type_label("cache_creation_5m_input_tokens") == "Cache write (5m)"
    assert token_type_label("audio_tokens") == "audio_tokens"
    assert service_tier_label("batch") == "Batch" and service_tier_label("flex") == "Flex"
    assert service_tier_label("turbo") == "turbo"
    assert cost_type_label("web_search") == "Web search" and cost_type_label("x") == "x"
    assert value_label("product", "claude_code") == "Claude Code"
    assert value_label("model", "claude-sonnet-4-5-20250929") == "Claude Sonnet 4.5"
    assert value_label("provider", "anthropic_enterprise") == "Anthropic (Analytics API)"


def test_workspaces_of_one_name_are_told_apart_by_organization_and_id() -> None:
    names = namer(
        "workspace",
        {(ACME, "wrk_a"): "Production", (GLOBEX, "wrk_g"): "Production"},
    )
    keys = [
        (ACME, "wrk_a", None),
        (GLOBEX, "wrk_g", None),
        (ACME, None, None),
        (INITECH, None, None),
    ]
    assert names.labels(keys) == {
        (ACME, "wrk_a", None): "Production · Acme Corp",
        (GLOBEX, "wrk_g", None): "Production · Globex",
        (ACME, None, None): "Default workspace · Acme Corp",
        (INITECH, None, None): "Claude Enterprise (no workspaces) · Initech",
    }
    # One organization in view: names as they are.
    assert names.labels([(ACME, "wrk_a", None), (ACME, None, None)]) == {
        (ACME, "wrk_a", None): "Production",
        (ACME, None, None): "Default workspace",
    }


def test_two_keys_of_one_name_in_one_organization_stay_two() -> None:
    names = namer(
        "api_key",
        {(ACME, "apikey_01AAAA1234"): "prod-backend", (ACME, "apikey_01BBBB5678"): "prod-backend"},
    )
    labels = names.labels([(ACME, "apikey_01AAAA1234", None), (ACME, "apikey_01BBBB5678", None)])
    assert sorted(labels.values()) == ["prod-backend (…1234)", "prod-backend (…5678)"]
    # Two organizations of one name: their ids tell them apart.
    twins = Namer(
        group="workspace",
        enterprise=frozenset(),
        organization_ids={ACME: "org-1", GLOBEX: "org-2"},
        organization_names={ACME: "Acme", GLOBEX: "Acme"},
        directory={(ACME, "w1"): "Production", (GLOBEX, "w2"): "Production"},
    )
    shown = twins.labels([(ACME, "w1", None), (GLOBEX, "w2", None)])
    assert len(set(shown.values())) == 2
