"""An allocation file (PRODUCT.md, "Allocation"), read into an ``AllocationSpec`` and written
back as YAML that reads back the same.

```yaml
allocation: Team
default: Unallocated
rules:
  - value: Search
    match: {workspace: [Production]}
  - split: {method: fixed, weights: {Search: 60, Support: 40}}
    match: {workspace: [Default workspace]}
    effective_from: 2026-10-01
```

A split's values are ``split: {method: even, values: [A, B]}`` (``values`` may also sit beside
``split``); ``fixed`` takes ``weights`` summing to 100. ``match`` may be left out (all spend).
Every refusal names the 1-based line of the rule and the reason (``RuleFileError``).
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Collection, Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

import yaml

from app.finops.allocation_compute import SPLIT_METHODS, AllocationSpec, Rule
from app.finops.match import parse_match
from app.finops.rule_files import RuleFileError, line_of, load_rule_file

DEFAULT_VALUE = "Unallocated"
MAX_NAME = 200
MAX_RULES = 2000
_TOP_KEYS = ("allocation", "default", "rules")
_RULE_KEYS = ("value", "split", "values", "match", "effective_from", "effective_to")
_SPLIT_KEYS = ("method", "values", "weights")


def parse_allocation(text: str, *, other_allocations: Collection[str] = ()) -> AllocationSpec:
    """Read an allocation file; ``RuleFileError`` (line and reason) when it is refused.
    ``other_allocations``: the names of the other stored allocations (a rule naming one gets a
    reason of its own)."""
    data = load_rule_file(text)
    if not isinstance(data, Mapping):
        raise RuleFileError(
            line_of(data, 1), "the file must be a mapping with allocation, default and rules"
        )
    _known_keys(data, _TOP_KEYS, "the file")
    name = _name(data, "allocation", line_of(data, 1) or 1, required=True) or ""
    default = _name(data, "default", line_of(data, 1) or 1, required=False) or DEFAULT_VALUE
    raw_rules = data.get("rules", [])
    rules_line = _key_line(data, "rules", 1)
    if raw_rules is None:
        raw_rules = []
    if not isinstance(raw_rules, list):
        raise RuleFileError(rules_line, "rules must be a list of rules")
    if len(raw_rules) > MAX_RULES:
        raise RuleFileError(rules_line, f"more than {MAX_RULES} rules")
    rules = tuple(
        _rule(raw, position, _item_line(raw_rules, position, rules_line), name, other_allocations)
        for position, raw in enumerate(raw_rules)
    )
    return AllocationSpec(name=name, default=default, rules=rules)


def _rule(raw: Any, position: int, line: int, allocation: str, others: Collection[str]) -> Rule:
    if not isinstance(raw, Mapping):
        raise RuleFileError(line, "a rule must be a mapping with value (or split) and match")
    _known_keys(raw, _RULE_KEYS, "a rule")
    has_value, has_split = "value" in raw, "split" in raw
    if has_value == has_split:
        raise RuleFileError(line, "a rule has either value or split (one of them)")
    raw_match = raw.get("match")
    match_line = _key_line(raw, "match", line)
    if isinstance(raw_match, Mapping):
        for key in raw_match:
            if key == allocation or key in others:
                raise RuleFileError(
                    _key_line(raw_match, key, match_line),
                    f"an allocation rule cannot match on an allocation ({key}); "
                    "match on workspaces, models and the other keys",
                )
    match = parse_match(raw_match, match_line)
    start = _day(raw, "effective_from", line)
    end = _day(raw, "effective_to", line)
    if start is not None and end is not None and end <= start:
        raise RuleFileError(
            _key_line(raw, "effective_to", line),
            "effective_to must be after effective_from (it is exclusive)",
        )
    if has_value:
        if "values" in raw:
            raise RuleFileError(_key_line(raw, "values", line), "values belongs to a split")
        value = _name(raw, "value", line, required=True)
        return Rule(position, line, match, value=value, effective_from=start, effective_to=end)
    method, targets = _split(raw, line)
    return Rule(
        position,
        line,
        match,
        method=method,
        targets=targets,
        effective_from=start,
        effective_to=end,
    )


def _split(raw: Mapping[str, Any], line: int) -> tuple[str, tuple[tuple[str, Decimal], ...]]:
    split = raw["split"]
    split_line = _key_line(raw, "split", line)
    if not isinstance(split, Mapping):
        raise RuleFileError(split_line, "split must be a mapping: {method: even, values: [...]}")
    _known_keys(split, _SPLIT_KEYS, "split")
    method = split.get("method")
    if method not in SPLIT_METHODS:
        raise RuleFileError(
            _key_line(split, "method", split_line),
            f"split method must be one of {', '.join(SPLIT_METHODS)} (not {method!r})",
        )
    if method == "fixed":
        if "values" in split or "values" in raw:
            raise RuleFileError(split_line, "a fixed split takes weights, not values")
        weights = split.get("weights")
        weights_line = _key_line(split, "weights", split_line)
        if not isinstance(weights, Mapping) or not weights:
            raise RuleFileError(weights_line, "a fixed split needs weights: {A: 60, B: 40}")
        targets: list[tuple[str, Decimal]] = []
        for value, weight in weights.items():
            value_line = _key_line(weights, value, weights_line)
            _check_name(value, value_line, "a split value")
            amount = _weight(weight, value_line, value)
            targets.append((value, amount))
        total = sum((w for _, w in targets), Decimal(0))
        if total != 100:
            raise RuleFileError(weights_line, f"the weights add up to {total}, not 100")
        return method, tuple(targets)
    if "weights" in split:
        raise RuleFileError(
            _key_line(split, "weights", split_line), f"an {method} split takes values, not weights"
        )
    if "values" in split and "values" in raw:
        raise RuleFileError(split_line, "values is given twice")
    holder = split if "values" in split else raw
    values = holder.get("values")
    values_line = _key_line(holder, "values", split_line)
    if not isinstance(values, list) or not values:
        raise RuleFileError(values_line, f"an {method} split needs values: [A, B]")
    for value in values:
        _check_name(value, values_line, "a split value")
    if len(set(values)) != len(values):
        raise RuleFileError(values_line, "a split value is listed twice")
    return method, tuple((value, Decimal(1)) for value in values)


def _weight(weight: Any, line: int, value: str) -> Decimal:
    if isinstance(weight, bool) or not isinstance(weight, int | float | str):
        raise RuleFileError(line, f"the weight of {value} must be a number")
    try:
        amount = Decimal(str(weight))
    except InvalidOperation:
        raise RuleFileError(line, f"the weight of {value} must be a number") from None
    if not amount.is_finite() or amount <= 0:
        raise RuleFileError(line, f"the weight of {value} must be above 0")
    return amount


def _day(raw: Mapping[str, Any], key: str, line: int) -> date | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    raise RuleFileError(_key_line(raw, key, line), f"{key} must be a date like 2026-10-01")


def _name(data: Mapping[str, Any], key: str, line: int, *, required: bool) -> str | None:
    value = data.get(key)
    if value is None and not required:
        return None
    key_line = _key_line(data, key, line)
    if value is None:
        raise RuleFileError(key_line, f"{key} is missing")
    _check_name(value, key_line, key)
    return str(value)


def _check_name(value: Any, line: int, what: str) -> None:
    if not isinstance(value, str):
        raise RuleFileError(line, f'{what} must be a name (quote numbers: "{value}")')
    if not value.strip():
        raise RuleFileError(line, f"{what} must not be empty")
    if len(value) > MAX_NAME:
        raise RuleFileError(line, f"{what} is longer than {MAX_NAME} characters")


def _known_keys(mapping: Mapping[Any, Any], known: tuple[str, ...], what: str) -> None:
    for key in mapping:
        if key not in known:
            raise RuleFileError(
                _key_line(mapping, key, line_of(mapping, 1) or 1),
                f"unknown key {key!r} in {what} (the keys are {', '.join(known)})",
            )


def _key_line(mapping: Any, key: Any, default: int) -> int:
    key_line = getattr(mapping, "key_line", None)
    return int(key_line(key)) if callable(key_line) and key in mapping else default


def _item_line(items: Any, index: int, default: int) -> int:
    line = line_of(items[index])
    if line is not None:
        return line
    item_line = getattr(items, "item_line", None)
    return int(item_line(index)) if callable(item_line) else default


# --- writing -----------------------------------------------------------------------------


def rule_mapping(rule: Rule) -> dict[str, Any]:
    """A rule as its file writes it."""
    out: dict[str, Any] = {}
    if rule.value is not None:
        out["value"] = rule.value
    elif rule.method == "fixed":
        out["split"] = {
            "method": "fixed",
            "weights": {value: _number(weight) for value, weight in rule.targets},
        }
    else:
        out["split"] = {"method": rule.method, "values": [value for value, _ in rule.targets]}
    out["match"] = rule.match.as_mapping()
    if rule.effective_from is not None:
        out["effective_from"] = rule.effective_from
    if rule.effective_to is not None:
        out["effective_to"] = rule.effective_to
    return out


def _number(weight: Decimal) -> int | float:
    return int(weight) if weight == weight.to_integral_value() else float(weight)


def spec_yaml(spec: AllocationSpec) -> str:
    """The allocation as a YAML file that ``parse_allocation`` reads back as the same."""
    document = {
        "allocation": spec.name,
        "default": spec.default,
        "rules": [rule_mapping(rule) for rule in spec.rules],
    }
    return yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)


def spec_key(spec: AllocationSpec) -> str:
    """A canonical text of what the allocation computes (lines aside): two specs with the
    same key allocate every day the same."""
    return json.dumps(
        [spec.default, [rule_key(rule) for rule in spec.rules]], sort_keys=True, default=str
    )


def rule_key(rule: Rule) -> str:
    return json.dumps(rule_mapping(rule), sort_keys=True, default=str)


def first_changed_day(old: AllocationSpec, new: AllocationSpec) -> date | None | bool:
    """From which day ``new`` may allocate differently from ``old``: False when it never does
    (the same rules), None when any day may change, else that day. The rules both have in the
    same place at the start keep their effect; a day before every other rule's
    ``effective_from`` (old or new) is allocated by those alone, so it keeps its allocation."""
    if old.default != new.default:
        return None
    old_keys = [rule_key(r) for r in old.rules]
    new_keys = [rule_key(r) for r in new.rules]
    same = 0
    while same < min(len(old_keys), len(new_keys)) and old_keys[same] == new_keys[same]:
        same += 1
    changed = [*old.rules[same:], *new.rules[same:]]
    if not changed:
        return False
    starts = [rule.effective_from for rule in changed]
    if any(start is None for start in starts):
        return None
    return min(start for start in starts if start is not None)


def describe_change(old: AllocationSpec | None, new: AllocationSpec) -> str:
    """What a new version changed, for the history and the audit log: "default Unallocated →
    Shared; rule 2 changed; rule 4 added" (rules numbered from 1, removed ones by their old
    number). ``old`` None: the allocation is new."""
    if old is None:
        return f"created with {_rules(len(new.rules))}"
    parts = []
    if old.default != new.default:
        parts.append(f"default {old.default} → {new.default}")
    old_keys = [rule_key(r) for r in old.rules]
    new_keys = [rule_key(r) for r in new.rules]
    matcher = difflib.SequenceMatcher(a=old_keys, b=new_keys, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "replace" and a1 - a0 == b1 - b0:
            parts.append(f"{_numbered(b0, b1)} changed")
            continue
        if op in ("delete", "replace"):
            parts.append(f"{_numbered(a0, a1)} removed")
        if op in ("insert", "replace"):
            parts.append(f"{_numbered(b0, b1)} added")
    return "; ".join(parts) or "no change"


def _rules(count: int) -> str:
    return f"{count} rule" + ("" if count == 1 else "s")


def _numbered(start: int, end: int) -> str:
    """Rules ``[start, end)`` (0-based) by their 1-based numbers: "rule 2", "rules 2-4"."""
    return f"rule {start + 1}" if end - start == 1 else f"rules {start + 1}-{end}"
