"""Friendly names of Claude model ids, and the model an id belongs to.

Anthropic names its models by a rule the ids follow, so the names are derived from the id, not
listed: ``claude-{family}-{major}[-{minor}][-{date}]`` (``claude-sonnet-4-5-20250929`` is Claude
Sonnet 4.5) and, before the 4 series, ``claude-{major}[-{minor}]-{family}[-{date}]``
(``claude-3-5-haiku-20241022`` is Claude Haiku 3.5). An alias and its dated ids (and a
``-latest`` alias) are one model: ``model_key`` gives the id without its date, which the model
filter and the model groups use. Ids the rule does not fit keep their id as their name, so a
model nobody has heard of yet is still shown, never dropped or renamed wrongly.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The ids the rule does not fit (the first models were named before it).
EXPLICIT = {
    "claude-2.0": ("claude-2.0", "Claude 2.0"),
    "claude-2.1": ("claude-2.1", "Claude 2.1"),
    "claude-2": ("claude-2.0", "Claude 2.0"),
    "claude-instant-1.2": ("claude-instant-1.2", "Claude Instant 1.2"),
    "claude-instant-1": ("claude-instant-1.2", "Claude Instant 1.2"),
}
# A date suffix (``-20250929``) or the ``-latest`` alias: the same model as the id without it.
_VERSION = re.compile(r"-(?:\d{8}|latest)$")
# claude-sonnet-4-5, claude-opus-4, claude-fable-5: the family first (the 4 series on).
_FAMILY_FIRST = re.compile(r"claude-(?P<family>[a-z]+)-(?P<major>\d{1,2})(?:-(?P<minor>\d{1,2}))?")
# claude-3-5-haiku, claude-3-opus: the version first (before the 4 series).
_VERSION_FIRST = re.compile(r"claude-(?P<major>\d{1,2})(?:-(?P<minor>\d{1,2}))?-(?P<family>[a-z]+)")


@lru_cache(maxsize=4096)
def _parse(model: str) -> tuple[str, str]:
    """(the model's key, its friendly name); (id, id) when the rule does not fit."""
    if model in EXPLICIT:
        return EXPLICIT[model]
    alias = _VERSION.sub("", model)
    if alias in EXPLICIT:
        return EXPLICIT[alias]
    for pattern in (_FAMILY_FIRST, _VERSION_FIRST):
        match = pattern.fullmatch(alias)
        if match:
            version = match["major"] + (f".{match['minor']}" if match["minor"] else "")
            return alias, f"Claude {match['family'].capitalize()} {version}"
    return model, model


def model_key(model: str) -> str:
    """The model an id belongs to: the id without its date (``claude-sonnet-4-5`` for
    ``claude-sonnet-4-5-20250929`` and for itself); an unknown id is its own model."""
    return _parse(model)[0]


def model_name(model: str) -> str:
    """What a person reads for a model id: "Claude Sonnet 4.5"; an unknown id as it is."""
    return _parse(model)[1]
