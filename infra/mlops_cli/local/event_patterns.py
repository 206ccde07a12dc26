"""EventBridge event patterns: decide, as AWS would, whether a rule's pattern matches an event.

moto stores rules but neither delivers events to Lambda nor implements TestEventPattern, so
the local cloud decides which rules match each event itself. The semantics follow the AWS
user guide ("Amazon EventBridge event patterns", "Content filtering") and, where the guide
is silent, Event Ruler, the open-source matcher EventBridge is built on:

* a pattern is an object; each key names an event field; all keys must match (AND);
* a leaf is a non-empty array of match values; the field matches if any of them does (OR);
* an event field that is an array matches if any of its elements does;
* ``"$or": [pattern, pattern, ...]`` at any level matches if one alternative, merged with
  its sibling keys, matches;
* values compare by JSON type: the string ``"5"`` never matches the number ``5``, and
  numbers compare by value, so ``5`` matches ``5.0``.

Semantic choices where the AWS guide is not explicit (each follows Event Ruler, which
flattens an event into its leaf values, i.e. strings, numbers, booleans and nulls):

* ``{"exists": true}`` matches a field with at least one leaf value, a present ``null``
  included; a field whose value is an object or an empty array has no leaf value at that
  path, so ``exists: true`` does not match it and ``exists: false`` does (the guide's own
  example: ``exists: false`` matches ``"c-count": {"c1": 100}``).
* ``anything-but`` requires the field to be present: it matches a present leaf value that
  the excluded values or operator do not match. The string operators never match a
  non-string, so ``{"anything-but": {"prefix": "init"}}`` matches the number ``5``.
* ``equals-ignore-case`` compares with Unicode case folding (``str.casefold``).
* ``cidr`` accepts a network with host bits set (``10.0.0.1/24`` means ``10.0.0.0/24``).
* Event Ruler's numeric range limit (±5e9, six decimals) is not enforced: larger numbers
  compare exactly instead of being refused.
"""

from __future__ import annotations

import ipaddress
import json
import math
import operator
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final

__all__ = ["EventPattern", "InvalidEventPattern", "compile_pattern", "matches", "validate_pattern"]

OR_KEY: Final = "$or"
_STRING_OPERATORS: Final = ("prefix", "suffix", "equals-ignore-case", "wildcard")
OPERATORS: Final = frozenset({*_STRING_OPERATORS, "anything-but", "numeric", "cidr", "exists"})

_COMPARISONS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_LOWER_BOUNDS: Final = (">", ">=")
_UPPER_BOUNDS: Final = ("<", "<=")

ValueTest = Callable[[Any], bool]
"""Tests one leaf value of the event (a string, number, boolean or null)."""
LeafCondition = Callable[[Sequence[Any]], bool]
"""Tests all the leaf values an event has at one path (none when the field is absent)."""


class InvalidEventPattern(ValueError):
    """The pattern is not one EventBridge would accept; the message names the offending path."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason


# --- the compiled form --------------------------------------------------------------------


@dataclass(frozen=True)
class _ObjectPattern:
    """One ``$or``-free branch of a pattern object.

    Leaves may repeat a key (two alternatives constraining the same field both apply), while
    nested objects are merged per key so that, against an array of objects in the event,
    all their constraints hold on the same element.
    """

    leaves: tuple[tuple[str, tuple[LeafCondition, ...]], ...] = ()
    children: tuple[tuple[str, _ObjectPattern], ...] = ()

    def merged(self, other: _ObjectPattern) -> _ObjectPattern:
        children = dict(self.children)
        for key, child in other.children:
            children[key] = children[key].merged(child) if key in children else child
        return _ObjectPattern(self.leaves + other.leaves, tuple(children.items()))

    def matches(self, event_object: Mapping[str, Any]) -> bool:
        for key, conditions in self.leaves:
            leaf_values = list(_leaf_values(event_object.get(key, _ABSENT)))
            if not any(condition(leaf_values) for condition in conditions):
                return False
        return all(
            any(child.matches(candidate) for candidate in _objects_at(event_object.get(key, _ABSENT)))
            for key, child in self.children
        )


@dataclass(frozen=True)
class EventPattern:
    """A validated pattern, compiled once so matching many events does not re-parse it."""

    source: Mapping[str, Any]
    branches: tuple[_ObjectPattern, ...] = field(repr=False)

    def matches(self, event: Mapping[str, Any]) -> bool:
        return any(branch.matches(event) for branch in self.branches)


class _Absent:
    """The value of a field the event does not have (distinct from a present ``null``)."""


_ABSENT: Final = _Absent()


def _leaf_values(value: Any) -> Iterator[Any]:
    """The leaf values at a path, as Event Ruler sees them: arrays flattened, objects skipped."""
    if isinstance(value, _Absent | Mapping):
        return
    if isinstance(value, list | tuple):
        for element in value:
            yield from _leaf_values(element)
        return
    yield value


def _objects_at(value: Any) -> list[Mapping[str, Any]]:
    """The objects a nested pattern is tried against; an empty one when there are none.

    The empty object lets ``{"exists": false}`` below an absent or scalar field match, since
    the event has no leaf at that path.
    """
    found: list[Mapping[str, Any]] = []

    def collect(item: Any) -> None:
        if isinstance(item, Mapping):
            found.append(item)
        elif isinstance(item, list | tuple):
            for element in item:
                collect(element)

    collect(value)
    return found or [{}]


# --- public API ---------------------------------------------------------------------------


def compile_pattern(pattern: Mapping[str, Any] | str) -> EventPattern:
    """Validate ``pattern`` (an object, or the JSON text EventBridge stores) and compile it.

    Raises:
        InvalidEventPattern: the pattern is malformed; the message names the path.
    """
    if isinstance(pattern, str):
        return _compile_text(pattern)
    return _compile_mapping(pattern)


def validate_pattern(pattern: Mapping[str, Any] | str) -> None:
    """Raise :class:`InvalidEventPattern` if EventBridge would refuse ``pattern``."""
    compile_pattern(pattern)


def matches(pattern: Mapping[str, Any] | str, event: Mapping[str, Any]) -> bool:
    """Whether EventBridge would deliver ``event`` to a rule with ``pattern``.

    Raises:
        InvalidEventPattern: the pattern is malformed.
    """
    return compile_pattern(pattern).matches(event)


@lru_cache(maxsize=256)
def _compile_text(text: str) -> EventPattern:
    # Rules come back from moto as JSON text, the same few for every event: cache them.
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidEventPattern("$", f"the pattern is not valid JSON ({error})") from None
    return _compile_mapping(loaded)


def _compile_mapping(pattern: Any) -> EventPattern:
    if not isinstance(pattern, Mapping):
        raise InvalidEventPattern("$", f"the pattern must be a JSON object, not {_json_type(pattern)}")
    return EventPattern(pattern, tuple(_compile_object(pattern, "$", inside_or=False)))


# --- compiling objects and $or ------------------------------------------------------------


def _compile_object(pattern: Mapping[str, Any], path: str, *, inside_or: bool) -> list[_ObjectPattern]:
    """Compile an object into its branches: ``$or`` is expanded, each option merged with its siblings."""
    if not pattern:
        raise InvalidEventPattern(path, "empty objects are not allowed")
    branches = [_ObjectPattern()]
    for key, value in pattern.items():
        options = _compile_member(str(key), value, path, inside_or=inside_or)
        branches = [branch.merged(option) for branch in branches for option in options]
    return branches


def _compile_member(key: str, value: Any, path: str, *, inside_or: bool) -> list[_ObjectPattern]:
    if key == OR_KEY:
        return _compile_or(value, f"{path}.{OR_KEY}")
    member_path = f"{path}.{key}"
    if inside_or and key in OPERATORS:
        # Event Ruler refuses this: it is almost always a leaf operator put one level too high.
        raise InvalidEventPattern(
            member_path, f"'{key}' is an operator and cannot be a field name inside $or"
        )
    if isinstance(value, Mapping):
        return [
            _ObjectPattern(children=((key, child),))
            for child in _compile_object(value, member_path, inside_or=inside_or)
        ]
    if isinstance(value, list):
        return [_ObjectPattern(leaves=((key, _compile_leaf(value, member_path)),))]
    raise InvalidEventPattern(
        member_path, f"must be an object or an array of match values, not {_json_type(value)}"
    )


def _compile_or(alternatives: Any, path: str) -> list[_ObjectPattern]:
    if not isinstance(alternatives, list):
        raise InvalidEventPattern(path, f"must be an array of objects, not {_json_type(alternatives)}")
    if len(alternatives) < 2:
        raise InvalidEventPattern(path, "must list at least 2 alternatives")
    branches: list[_ObjectPattern] = []
    for index, alternative in enumerate(alternatives):
        alternative_path = f"{path}[{index}]"
        if not isinstance(alternative, Mapping):
            raise InvalidEventPattern(alternative_path, f"must be an object, not {_json_type(alternative)}")
        branches.extend(_compile_object(alternative, alternative_path, inside_or=True))
    return branches


# --- compiling leaves ---------------------------------------------------------------------


def _compile_leaf(values: list[Any], path: str) -> tuple[LeafCondition, ...]:
    if not values:
        raise InvalidEventPattern(path, "empty arrays are not allowed")
    return tuple(_compile_match_value(value, f"{path}[{index}]") for index, value in enumerate(values))


def _compile_match_value(value: Any, path: str) -> LeafCondition:
    if _is_literal(value):
        return _any_leaf(_equals(value))
    if isinstance(value, Mapping):
        return _compile_operator(value, path)
    raise InvalidEventPattern(
        path,
        f"a match value must be a string, number, boolean, null or operator object, not {_json_type(value)}",
    )


def _compile_operator(expression: Mapping[str, Any], path: str) -> LeafCondition:
    name, argument = _single_entry(expression, path)
    operator_path = f"{path}.{name}"
    if name == "exists":
        if not isinstance(argument, bool):
            raise InvalidEventPattern(operator_path, "must be true or false")
        return _field_present if argument else _field_absent
    if name == "anything-but":
        excluded = _compile_anything_but(argument, operator_path)
        return _any_leaf(lambda leaf: not excluded(leaf))
    if name == "numeric":
        return _any_leaf(_compile_numeric(argument, operator_path))
    if name == "cidr":
        return _any_leaf(_compile_cidr(argument, operator_path))
    if name in _STRING_OPERATORS:
        return _any_leaf(_compile_string_operator(name, argument, operator_path))
    raise InvalidEventPattern(path, f"unknown operator '{name}'")


def _compile_string_operator(name: str, argument: Any, path: str) -> ValueTest:
    if name in ("prefix", "suffix") and isinstance(argument, Mapping):
        modifier, text = _single_entry(argument, path)
        if modifier != "equals-ignore-case":
            raise InvalidEventPattern(path, f"unknown {name} modifier '{modifier}'")
        folded = _require_string(text, f"{path}.{modifier}").casefold()
        if name == "prefix":
            return lambda leaf: isinstance(leaf, str) and leaf.casefold().startswith(folded)
        return lambda leaf: isinstance(leaf, str) and leaf.casefold().endswith(folded)
    text = _require_string(argument, path)
    if name == "prefix":
        return lambda leaf: isinstance(leaf, str) and leaf.startswith(text)
    if name == "suffix":
        return lambda leaf: isinstance(leaf, str) and leaf.endswith(text)
    if name == "equals-ignore-case":
        folded = text.casefold()
        return lambda leaf: isinstance(leaf, str) and leaf.casefold() == folded
    regex = _wildcard_regex(text, path)
    return lambda leaf: isinstance(leaf, str) and regex.fullmatch(leaf) is not None


def _compile_anything_but(argument: Any, path: str) -> ValueTest:
    """The test for the values anything-but excludes; the caller negates it."""
    if isinstance(argument, Mapping):
        name, inner = _single_entry(argument, path)
        inner_path = f"{path}.{name}"
        if name in ("prefix", "suffix"):
            if _require_string(inner, inner_path) == "":
                raise InvalidEventPattern(inner_path, "must not be empty")
            return _compile_string_operator(name, inner, inner_path)
        if name in ("equals-ignore-case", "wildcard"):
            texts = inner if isinstance(inner, list) else [inner]
            if not texts:
                raise InvalidEventPattern(inner_path, "empty arrays are not allowed")
            tests = [
                _compile_string_operator(name, _require_string(text, f"{inner_path}[{index}]"), inner_path)
                for index, text in enumerate(texts)
            ]
            return lambda leaf: any(test(leaf) for test in tests)
        raise InvalidEventPattern(path, f"unsupported anything-but operator '{name}'")
    excluded = argument if isinstance(argument, list) else [argument]
    _require_uniform_strings_or_numbers(excluded, path)
    tests = [_equals(value) for value in excluded]
    return lambda leaf: any(test(leaf) for test in tests)


def _require_uniform_strings_or_numbers(values: list[Any], path: str) -> None:
    if not values:
        raise InvalidEventPattern(path, "empty arrays are not allowed")
    if all(isinstance(value, str) for value in values) or all(_is_number(value) for value in values):
        return
    raise InvalidEventPattern(
        path, "must be a string, a number, an array of only strings or of only numbers, or an operator object"
    )


def _compile_numeric(argument: Any, path: str) -> ValueTest:
    """``["=", 5]``, ``["<", 10]``, or a range ``[">", 0, "<=", 5]`` (lower bound first)."""
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise InvalidEventPattern(
            path, "must be [operator, number] or [lower operator, number, upper operator, number]"
        )
    comparisons = [
        _numeric_comparison(argument[index], argument[index + 1], f"{path}[{index}]")
        for index in range(0, len(argument), 2)
    ]
    if len(comparisons) == 2:
        (lower_op, lower), (upper_op, upper) = comparisons
        if lower_op not in _LOWER_BOUNDS or upper_op not in _UPPER_BOUNDS:
            raise InvalidEventPattern(
                path, "a range must be a '>' or '>=' bound followed by a '<' or '<=' bound"
            )
        if lower >= upper:
            raise InvalidEventPattern(
                path, f"the lower bound {lower} must be less than the upper bound {upper}"
            )
    tests = [(_COMPARISONS[op], bound) for op, bound in comparisons]
    return lambda leaf: _is_number(leaf) and all(compare(leaf, bound) for compare, bound in tests)


def _numeric_comparison(op: Any, bound: Any, path: str) -> tuple[str, float]:
    if not isinstance(op, str) or op not in _COMPARISONS:
        raise InvalidEventPattern(path, f"unknown numeric operator {json.dumps(op)}; use one of = < <= > >=")
    if not _is_finite_number(bound):
        raise InvalidEventPattern(
            path, f"the value of '{op}' must be a finite number, not {_json_type(bound)}"
        )
    return str(op), bound


def _compile_cidr(argument: Any, path: str) -> ValueTest:
    try:
        network = ipaddress.ip_network(_require_string(argument, path), strict=False)
    except ValueError:
        raise InvalidEventPattern(path, f"{argument!r} is not an IPv4 or IPv6 CIDR block") from None

    def in_network(leaf: Any) -> bool:
        if not isinstance(leaf, str):
            return False
        try:
            address = ipaddress.ip_address(leaf)
        except ValueError:
            return False
        return address.version == network.version and address in network

    return in_network


def _wildcard_regex(text: str, path: str) -> re.Pattern[str]:
    """``*`` matches any run of characters; ``\\*`` is a literal star and ``\\\\`` a backslash."""
    parts: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in ("*", "\\"):
                raise InvalidEventPattern(path, "a backslash may only escape '*' or '\\'")
            parts.append(re.escape(escaped))
            index += 2
            continue
        if char == "*":
            if parts and parts[-1] == ".*":
                raise InvalidEventPattern(path, "consecutive wildcard characters are not allowed")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL)


# --- leaf conditions and value tests ------------------------------------------------------


def _any_leaf(test: ValueTest) -> LeafCondition:
    return lambda leaves: any(test(leaf) for leaf in leaves)


def _field_present(leaves: Sequence[Any]) -> bool:
    return len(leaves) > 0


def _field_absent(leaves: Sequence[Any]) -> bool:
    return len(leaves) == 0


def _equals(expected: Any) -> ValueTest:
    """Equality by JSON type: numbers by value (``5 == 5.0``), and ``True`` is not ``1``."""
    if _is_number(expected):
        return lambda leaf: _is_number(leaf) and leaf == expected
    return lambda leaf: type(leaf) is type(expected) and leaf == expected


def _is_number(value: Any) -> bool:
    # bool is an int subclass in Python, but true is not a number in JSON.
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_literal(value: Any) -> bool:
    return value is None or isinstance(value, str | bool) or _is_finite_number(value)


def _is_finite_number(value: Any) -> bool:
    # NaN and infinity cannot come from JSON, only from a pattern built in Python.
    return _is_number(value) and not (isinstance(value, float) and not math.isfinite(value))


def _require_string(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidEventPattern(path, f"must be a string, not {_json_type(value)}")
    return value


def _single_entry(expression: Mapping[str, Any], path: str) -> tuple[str, Any]:
    if len(expression) != 1:
        names = ", ".join(f"'{name}'" for name in expression) or "none"
        raise InvalidEventPattern(path, f"a match expression takes exactly one operator, got {names}")
    ((name, argument),) = expression.items()
    return str(name), argument


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if _is_number(value):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, list | tuple):
        return "an array"
    return type(value).__name__
