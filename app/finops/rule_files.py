"""Reading the FinOps layer's rule files (allocations, budgets): YAML, or JSON (valid YAML).

Every refused file names the 1-based line of what is wrong (PRODUCT.md: "A refused file's
message names the 1-based line of the offending rule and the reason"), so the loader keeps the
line of each mapping, list and mapping key it builds. It reads YAML 1.2 booleans only: PyYAML
follows YAML 1.1, where a bare ``on`` (a budget threshold's ``on: actual``), ``off``, ``yes``
and ``no`` are booleans; here they are the strings they are written as.

Anchors and aliases are refused: a rule file has no use for them, and refusing them bounds
what a small file can expand to.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

# A rule file is a few kilobytes; far more than that is not a rule file.
MAX_BYTES = 1_000_000


class RuleFileError(ValueError):
    """A refused rule file: the 1-based line (None when no line applies) and the reason."""

    def __init__(self, line: int | None, reason: str) -> None:
        super().__init__(line, reason)
        self.line = line
        self.reason = reason

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}" if self.line is not None else self.reason


class LineDict(dict[Any, Any]):
    """A mapping of the file, with the line it starts on and the line of each of its keys."""

    line: int
    key_lines: dict[Any, int]

    def key_line(self, key: Any) -> int:
        """The line of ``key`` (the mapping's own line when the key is not in it)."""
        return self.key_lines.get(key, self.line)


class LineList(list[Any]):
    """A list of the file, with the line it starts on and the line of each item."""

    line: int
    item_lines: list[int]

    def item_line(self, index: int) -> int:
        return self.item_lines[index] if 0 <= index < len(self.item_lines) else self.line


def line_of(item: Any, default: int | None = None) -> int | None:
    """The 1-based line a mapping or list of a loaded file starts on (``default`` otherwise)."""
    line = getattr(item, "line", None)
    return line if isinstance(line, int) else default


class _RuleLoader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, line numbers, no duplicate keys and no aliases."""

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise RuleFileError(
                event.start_mark.line + 1, "anchors and aliases (*name) are not supported"
            )
        return super().compose_node(parent, index)

    def construct_line_mapping(self, node: MappingNode) -> LineDict:
        self.flatten_mapping(node)
        result = LineDict()
        result.line = node.start_mark.line + 1
        result.key_lines = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            key_line = key_node.start_mark.line + 1
            try:
                hash(key)
            except TypeError:
                raise RuleFileError(key_line, "a key must be a plain value") from None
            if key in result:
                raise RuleFileError(key_line, f"duplicate key {key!r}")
            result[key] = self.construct_object(value_node, deep=True)
            result.key_lines[key] = key_line
        return result

    def construct_line_sequence(self, node: SequenceNode) -> LineList:
        result = LineList(self.construct_object(child, deep=True) for child in node.value)
        result.line = node.start_mark.line + 1
        result.item_lines = [child.start_mark.line + 1 for child in node.value]
        return result


# YAML 1.2 booleans only: drop PyYAML's YAML 1.1 bool resolver (on/off/yes/no/y/n) and add
# back true/false.
_RuleLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_RuleLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)
_RuleLoader.add_constructor(
    "tag:yaml.org,2002:map",
    _RuleLoader.construct_line_mapping,
)
_RuleLoader.add_constructor(
    "tag:yaml.org,2002:seq",
    _RuleLoader.construct_line_sequence,
)


def load_rule_file(text: str) -> Any:
    """The content of a rule file: mappings are ``LineDict``, lists ``LineList`` (both know
    their line). A file that is not valid YAML raises ``RuleFileError`` with its line."""
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise RuleFileError(None, f"the file is larger than {MAX_BYTES // 1000} kB")
    loader = _RuleLoader(text)
    try:
        return loader.get_single_data()
    except RuleFileError:
        raise
    except (ComposerError, ConstructorError, yaml.MarkedYAMLError) as error:
        mark = error.problem_mark or error.context_mark
        reason = " ".join(part for part in (error.context, error.problem) if part)
        raise RuleFileError(
            mark.line + 1 if mark is not None else None, reason or "not valid YAML"
        ) from None
    except yaml.YAMLError as error:
        raise RuleFileError(None, f"not valid YAML: {error}") from None
    finally:
        loader.dispose()
