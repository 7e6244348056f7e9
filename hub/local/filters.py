"""Event source mapping filters (``FilterCriteria``), matched as Lambda matches them.

A record is delivered when it matches any of the mapping's patterns; a record that matches none is
dropped, as Lambda drops it (never delivered, never retried). A pattern is a JSON object whose leaves
are lists of allowed values: the record matches when, for every leaf, the record's value at that path
is one of them (a list value matches when any of its elements does). The operators are the ones Lambda
documents for event filtering:

- a string, number or ``null``: equals;
- ``{"prefix": "..."}``, ``{"suffix": "..."}``: begins with, ends with;
- ``{"equals-ignore-case": "..."}``;
- ``{"exists": true|false}``: the path has a value (or not);
- ``{"anything-but": value or [values]}``: not equal to any of them (exact values only: Lambda has no
  ``anything-but`` with ``prefix``, which EventBridge has);
- ``{"numeric": [">", 0, "<=", 5]}``.

Anything else is refused when the pattern is loaded, as Lambda refuses it when the mapping is created,
so a pattern that would not deploy does not quietly work here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

_MISSING = object()
_NUMERIC_OPS = {
    "=": lambda a, b: a == b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class FilterPatternError(ValueError):
    """A pattern Lambda would refuse (an operator it does not have, a leaf that is not a list)."""


def _check(node: Any, path: str) -> None:
    if not isinstance(node, Mapping):
        raise FilterPatternError(f"{path or 'pattern'}: must be an object")
    for key, value in node.items():
        where = f"{path}.{key}" if path else str(key)
        if isinstance(value, Mapping):
            _check(value, where)
        elif isinstance(value, list):
            if not value:
                raise FilterPatternError(f"{where}: an empty list matches nothing")
            for rule in value:
                _check_rule(rule, where)
        else:
            raise FilterPatternError(f"{where}: a leaf must be a list of values or rules")


def _check_rule(rule: Any, where: str) -> None:
    if rule is None or (isinstance(rule, str | int | float) and not isinstance(rule, bool)):
        return
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise FilterPatternError(f"{where}: {json.dumps(rule)} is not a value or one rule")
    ((name, arg),) = rule.items()
    if name in ("prefix", "suffix", "equals-ignore-case") and isinstance(arg, str):
        return
    if name == "exists" and isinstance(arg, bool):
        return
    if name == "anything-but":
        values = arg if isinstance(arg, list) else [arg]
        if values and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values):
            return
        raise FilterPatternError(f"{where}: anything-but takes values only (no prefix or suffix in Lambda)")
    if name == "numeric" and isinstance(arg, list) and len(arg) in (2, 4):
        ops = arg[0::2]
        if all(op in _NUMERIC_OPS for op in ops) and all(isinstance(n, int | float) for n in arg[1::2]):
            return
    raise FilterPatternError(f"{where}: {json.dumps(rule)} is not a Lambda filter rule")


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _rule_matches(rule: Any, value: Any) -> bool:
    if not isinstance(rule, Mapping):
        if value is _MISSING:
            return False
        if isinstance(rule, int | float) and _number(value) is not None:
            return float(rule) == _number(value)
        return bool(rule == value)
    ((name, arg),) = rule.items()
    if name == "exists":
        return (value is not _MISSING) == arg
    if value is _MISSING:
        return False
    if name == "anything-but":
        values = arg if isinstance(arg, list) else [arg]
        return not any(_rule_matches(v, value) for v in values)
    if name == "prefix":
        return isinstance(value, str) and value.startswith(arg)
    if name == "suffix":
        return isinstance(value, str) and value.endswith(arg)
    if name == "equals-ignore-case":
        return isinstance(value, str) and value.casefold() == arg.casefold()
    number = _number(value)
    if number is None:
        return False
    pairs = list(zip(arg[0::2], arg[1::2], strict=True))
    return all(_NUMERIC_OPS[op](number, float(bound)) for op, bound in pairs)


def _matches(node: Mapping[str, Any], record: Any) -> bool:
    for key, expected in node.items():
        value = record.get(key, _MISSING) if isinstance(record, Mapping) else _MISSING
        if isinstance(expected, Mapping):
            if not _matches(expected, value if isinstance(value, Mapping) else {}):
                return False
            continue
        candidates = value if isinstance(value, list) and value else [value]
        if not any(_rule_matches(rule, candidate) for rule in expected for candidate in candidates):
            return False
    return True


class FilterPattern:
    """One pattern of a mapping's ``FilterCriteria``."""

    def __init__(self, pattern: Mapping[str, Any]) -> None:
        _check(pattern, "")
        self.pattern = pattern

    @classmethod
    def load(cls, text: str | Mapping[str, Any]) -> FilterPattern:
        return cls(json.loads(text) if isinstance(text, str) else text)

    def matches(self, record: Mapping[str, Any]) -> bool:
        return _matches(self.pattern, record)


def matches_any(patterns: list[FilterPattern], record: Mapping[str, Any]) -> bool:
    """Lambda's rule: no filters delivers everything; else a record matching any one pattern."""
    return not patterns or any(p.matches(record) for p in patterns)
