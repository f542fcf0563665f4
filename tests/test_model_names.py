"""Model ids read as Anthropic names them, by the rule the ids follow; an alias and its dated
ids are one model; an id the rule does not fit keeps its id."""

from __future__ import annotations

import pytest

from app.reports.model_names import model_key, model_name


@pytest.mark.parametrize(
    ("model", "name"),
    [
        # The 4 series on: claude-{family}-{major}[-{minor}][-{date}].
        ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
        ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5"),
        ("claude-opus-4-1", "Claude Opus 4.1"),
        ("claude-opus-4-1-20250805", "Claude Opus 4.1"),
        ("claude-sonnet-4-20250514", "Claude Sonnet 4"),
        ("claude-haiku-4-5-20251001", "Claude Haiku 4.5"),
        ("claude-opus-4-8", "Claude Opus 4.8"),
        ("claude-opus-5", "Claude Opus 5"),
        ("claude-fable-5", "Claude Fable 5"),
        # Before it: claude-{major}[-{minor}]-{family}[-{date}], and the -latest aliases.
        ("claude-3-5-haiku-20241022", "Claude Haiku 3.5"),
        ("claude-3-5-sonnet-latest", "Claude Sonnet 3.5"),
        ("claude-3-7-sonnet-20250219", "Claude Sonnet 3.7"),
        ("claude-3-haiku-20240307", "Claude Haiku 3"),
        ("claude-3-opus-20240229", "Claude Opus 3"),
        # Named before the rule: the small explicit table.
        ("claude-2.1", "Claude 2.1"),
        ("claude-instant-1.2", "Claude Instant 1.2"),
    ],
)
def test_names_follow_the_id_pattern(model: str, name: str) -> None:
    assert model_name(model) == name


@pytest.mark.parametrize(
    "model",
    ["claude-nimbus-7-preview", "gpt-4o", "claude-sonnet-4-5-20250929-v2", "", "Claude-Sonnet-4-5"],
)
def test_an_id_the_rule_does_not_fit_keeps_its_id(model: str) -> None:
    assert model_name(model) == model
    assert model_key(model) == model


def test_an_alias_and_its_dated_ids_are_one_model() -> None:
    assert model_key("claude-sonnet-4-5-20250929") == model_key("claude-sonnet-4-5")
    assert model_key("claude-3-5-sonnet-20241022") == model_key("claude-3-5-sonnet-latest")
    # Different versions are different models, whatever their family.
    assert model_key("claude-sonnet-4-5") != model_key("claude-sonnet-4-6")
    assert model_key("claude-opus-4-1-20250805") != model_key("claude-opus-4-20250514")
