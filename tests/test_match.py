"""The rule files' loader and the match keys (PRODUCT.md, "Match keys")."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.finops.match import Match, SpendRow, parse_match, pattern_matches
from app.finops.rule_files import RuleFileError, line_of, load_rule_file
from app.models import Provider
from app.reports import labels

# --- rule files ----------------------------------------------------------------------------


def test_bare_on_off_yes_no_are_the_strings_they_are() -> None:
    data = load_rule_file(
        "thresholds:\n"
        "  - {percent: 80, on: actual}\n"
        "  - percent: 100\n"
        "    on: forecast\n"
        "flags: [yes, no, off, true, false]\n"
    )
    assert data["thresholds"][0] == {"percent": 80, "on": "actual"}
    assert data["thresholds"][1]["on"] == "forecast"
    assert data["flags"] == ["yes", "no", "off", True, False]


def test_every_mapping_and_list_knows_its_line() -> None:
    data = load_rule_file(
        "allocation: Team\n"
        "rules:\n"
        "  - value: Search\n"
        "    match: {workspace: [Production]}\n"
        "\n"
        "  - value: Support\n"
        "    match:\n"
        "      model: claude-haiku-*\n"
    )
    rules = data["rules"]
    assert line_of(data) == 1
    assert [line_of(rule) for rule in rules] == [3, 6]
    assert line_of(rules[0]["match"]) == 4
    assert rules[1]["match"].key_line("model") == 8
    assert data.key_line("rules") == 2
    assert line_of("a string", 9) == 9


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rules:\n  - value: A\n    match: {workspace: [x}\n", 3, "flow sequence"),
        ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a'"),
        ("a: &x [1]\nb: *x\n", 2, "aliases"),
        ("rules:\n\t- value: A\n", 2, "'\\t'"),
        ('{"allocation": "Team",\n "rules": [\n}\n', 3, ""),
    ],
)
def test_a_syntax_error_names_its_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(RuleFileError) as caught:
        load_rule_file(text)
    assert caught.value.line == line
    assert str(caught.value).startswith(f"line {line}: ")
    assert reason in str(caught.value)


def test_a_json_file_is_read_too() -> None:
    data = load_rule_file('{"allocation": "Team", "rules": [{"value": "A", "match": {}}]}')
    assert data == {"allocation": "Team", "rules": [{"value": "A", "match": {}}]}


# --- match keys ----------------------------------------------------------------------------

ACME = SpendRow(
    organization_id="org-acme",
    organization_name="Acme Robotics",
    workspace_id="wrkspc_prod",
    workspace_name="Production",
    model="claude-haiku-4-5-20251001",
    service_tier="standard",
    cost_type="tokens",
    token_type="output_tokens",
)
DEFAULT_WS = SpendRow(
    organization_id="org-beta",
    organization_name="Beta Inc",
    workspace_id=None,
    workspace_name=labels.DEFAULT_WORKSPACE,
    model=None,
    cost_type="web_search",
)


def _match(text: str, **kwargs: object) -> Match:
    return parse_match(load_rule_file(text), 1, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("match", "row", "expected"),
    [
        ("{}", ACME, True),
        ("{workspace: Production}", ACME, True),
        ("{workspace: wrkspc_prod}", ACME, True),
        ("{workspace: production}", ACME, False),  # case-sensitive
        ("{workspace: Prod}", ACME, False),  # whole value
        ("{workspace: [Staging, Production]}", ACME, True),
        ('{workspace: "Default workspace"}', DEFAULT_WS, True),
        ('{workspace: "Default workspace"}', ACME, False),
        ("{organization: Acme Robotics}", ACME, True),
        ("{organization: org-acme}", ACME, True),
        ("{organization: Acme}", ACME, False),
        ('{model: "claude-haiku-*"}', ACME, True),
        ('{model: "Claude Haiku 4.5"}', ACME, True),  # the name the dashboard shows
        ('{model: "claude-sonnet-*"}', ACME, False),
        ('{model: "*"}', DEFAULT_WS, False),  # a null model matches no model pattern
        ("{cost_type: web_search}", DEFAULT_WS, True),
        ('{cost_type: "Web search"}', DEFAULT_WS, True),
        ("{service_tier: [batch, Standard]}", ACME, True),
        ("{token_type: Output}", ACME, True),
        ('{service_tier: "*"}', DEFAULT_WS, False),
        ("{provider: anthropic}", ACME, True),
        ("{provider: Anthropic}", ACME, True),
        ('{product: "Claude API (Console)"}', ACME, True),
        ("{workspace: Production, model: claude-sonnet-*}", ACME, False),  # every key
    ],
)
def test_match_keys(match: str, row: SpendRow, expected: bool) -> None:
    assert _match(match).matches(row) is expected


def test_an_enterprise_product_matches_by_id_or_label() -> None:
    row = SpendRow("org-e", "Ent", provider=Provider.ENTERPRISE, product="claude_code")
    assert _match("{product: Claude Code}").matches(row)
    assert _match("{product: claude_code}").matches(row)
    assert _match('{product: "Claude API (Console)"}').matches(row) is False


def test_a_workspace_name_matches_in_every_organization() -> None:
    rule = _match("{workspace: Production}")
    other = SpendRow("org-2", "Other", workspace_id="wrkspc_other", workspace_name="Production")
    assert rule.matches(ACME) and rule.matches(other)


def test_api_key_and_actor_rules_need_per_key_cost() -> None:
    rule = _match("{api_key: [prod-backend]}")
    assert rule.needs_per_key
    assert not _match("{workspace: Production}").needs_per_key
    assert not rule.matches(ACME)  # a cost report row has no key
    keyed = SpendRow("o", "O", per_key=True, api_key_id="apikey_1", api_key_name="prod-backend")
    assert rule.matches(keyed)
    workbench = SpendRow("o", "O", per_key=True, api_key_id=None)
    assert _match('{api_key: "Console / Workbench"}').matches(workbench)
    actor = SpendRow("o", "O", per_key=True, actor_id="user_1", actor_name="ada@example.com")
    assert _match("{actor: ada@example.com}").matches(actor)
    assert _match("{actor: ada@example.com}").needs_per_key


def test_an_allocation_name_is_a_key() -> None:
    rule = _match("{Team: Search}", allocation_names=["Team"])
    assert rule.allocation_keys == ("Team",)
    assert rule.matches(SpendRow("o", "O", allocations={"Team": "Search"}))
    assert not rule.matches(SpendRow("o", "O", allocations={"Team": "Support"}))
    assert not rule.matches(SpendRow("o", "O"))


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("rule:\n  match:\n    workspaces: [A]\n", 3, "unknown match key 'workspaces'"),
        ("rule:\n  match:\n    model: 4\n", 3, "model: 4 is not a name"),
        ("rule:\n  match:\n    model: []\n", 3, "empty list"),
        ("rule:\n  match:\n    model: ['']\n", 3, "empty name"),
        ("rule:\n  match:\n    model: [[a]]\n", 3, "a list is not a name"),
        ("rule:\n  match: [workspace]\n", 2, "must be a mapping"),
        (
            "rule:\n  match:\n    workspace: 2026-10-01\n",
            3,
            'quote numbers and dates: "2026-10-01"',
        ),
    ],
)
def test_a_bad_match_names_its_line(text: str, line: int, reason: str) -> None:
    rule = load_rule_file(text)["rule"]
    with pytest.raises(RuleFileError) as caught:
        parse_match(rule["match"], line_of(rule) or 1)
    assert str(caught.value).startswith(f"line {line}: ")
    assert reason in str(caught.value)


def test_as_mapping_gives_back_what_was_read() -> None:
    text = '{workspace: [A, B], model: "claude-*"}'
    assert _match(text).as_mapping() == {"workspace": ["A", "B"], "model": "claude-*"}


_names = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), max_size=12)


@given(value=_names)
def test_a_name_without_wildcard_matches_only_itself(value: str) -> None:
    assert pattern_matches(value, value)
    assert not pattern_matches(value, value + "x")
    assert not pattern_matches(value + "x", value)


@given(prefix=_names, middle=_names, suffix=_names)
def test_a_wildcard_is_a_whole_value_glob(prefix: str, middle: str, suffix: str) -> None:
    assert pattern_matches(f"{prefix}*{suffix}", prefix + middle + suffix)
    assert pattern_matches("*", middle)
    # Brackets and question marks are themselves, not glob syntax.
    assert pattern_matches(f"[{prefix}]?*", f"[{prefix}]?{middle}")
    expected = re.fullmatch(re.escape(prefix) + ".*", middle, re.DOTALL) is not None
    assert pattern_matches(f"{prefix}*", middle) is expected
