"""What a rule's target receives: the event itself, or its Input, InputPath or InputTransformer.

moto does not deliver events to Lambda, so the local cloud shapes each target's payload the
way EventBridge does ("Amazon EventBridge input transformation" in the AWS user guide):

* ``Input``: constant JSON text, sent as is (:func:`constant_input`);
* ``InputPath``: one JSONPath selecting part of the event (:func:`input_path`);
* ``InputTransformer``: ``InputPathsMap`` names values picked from the event by JSONPath and
  ``InputTemplate`` places them as ``<name>`` (:func:`transform`), with the predefined
  ``<aws.events.rule-arn>``, ``<aws.events.rule-name>``, ``<aws.events.event.ingestion-time>``,
  ``<aws.events.event>`` (the event without ``detail``) and ``<aws.events.event.json>``.

Quoting, as documented: in a JSON template (one that starts with ``{`` or ``[``) a value
placed outside a string literal is inserted as JSON, so a string gets its quotes; a value
placed inside a string literal, or anywhere in a plain-text template, is inserted raw and
unescaped (objects, arrays, numbers and booleans as their JSON text).

Semantic choices where the guide is not explicit:

* a path that selects nothing (or a ``null``) inserts ``null`` in a JSON value position and
  nothing inside a string or a plain-text template, so a JSON template stays valid JSON;
* ``<name>`` with a name neither defined nor predefined is left as is, like any other text;
* ``aws.events.event.ingestion-time`` is the event's ``time`` unless the caller gives one;
* ``InputPath`` selecting nothing gives ``None`` (an empty payload).

Only simple JSONPath is supported: ``$``, ``$.a.b`` and ``$.a[0].b``; the guide's wildcards and
any other syntax are refused with :class:`InvalidTargetInput` rather than evaluated wrongly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = ["PREDEFINED_VARIABLES", "InvalidTargetInput", "constant_input", "input_path", "transform"]

RULE_ARN: Final = "aws.events.rule-arn"
RULE_NAME: Final = "aws.events.rule-name"
INGESTION_TIME: Final = "aws.events.event.ingestion-time"
EVENT_WITHOUT_DETAIL: Final = "aws.events.event"
EVENT_JSON: Final = "aws.events.event.json"
PREDEFINED_VARIABLES: Final = frozenset(
    {RULE_ARN, RULE_NAME, INGESTION_TIME, EVENT_WITHOUT_DETAIL, EVENT_JSON}
)

_PLACEHOLDER: Final = re.compile(r"<([A-Za-z0-9_.\-]+)>")
_PATH_STEP: Final = re.compile(r"\.([^.\[\]*'\"\s]+)|\[(\d+)\]")
_JSON_TEMPLATE_START: Final = ("{", "[")


class InvalidTargetInput(ValueError):
    """A target's Input, InputPath or InputTransformer that EventBridge would refuse or we cannot evaluate."""


class _Missing:
    """What a path that selects nothing yields (distinct from a selected ``null``)."""


_MISSING: Final = _Missing()


# --- Input and InputPath ------------------------------------------------------------------


def constant_input(text: str) -> str:
    """The payload of a target with ``Input``: the constant JSON text, checked to be JSON.

    Raises:
        InvalidTargetInput: ``text`` is not valid JSON, which PutTargets would refuse.
    """
    try:
        json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidTargetInput(f"Input is not valid JSON ({error}): {text!r}") from None
    return text


def input_path(path: str, event: Mapping[str, Any]) -> Any:
    """The payload of a target with ``InputPath``: the part of ``event`` that ``path`` selects.

    Returns ``None`` when the path selects nothing.

    Raises:
        InvalidTargetInput: ``path`` is not a simple JSONPath.
    """
    value = _select(_parse_path(path), event)
    return None if isinstance(value, _Missing) else value


# --- InputTransformer ---------------------------------------------------------------------


def transform(
    input_transformer: Mapping[str, Any],
    event: Mapping[str, Any],
    *,
    rule_name: str | None = None,
    rule_arn: str | None = None,
    ingestion_time: str | None = None,
) -> str:
    """The payload text of a target with ``InputTransformer``, for ``event`` matched by the rule.

    ``rule_name`` and ``rule_arn`` fill the predefined variables of the same names; when one
    is not given its placeholder is treated as a path that selected nothing.

    Raises:
        InvalidTargetInput: no ``InputTemplate``, a variable named like a predefined one, or a
            path that is not simple JSONPath; the message names the variable.
    """
    template = input_transformer.get("InputTemplate")
    if not isinstance(template, str):
        raise InvalidTargetInput("InputTransformer needs an InputTemplate string")
    values = _predefined_values(event, rule_name=rule_name, rule_arn=rule_arn, ingestion_time=ingestion_time)
    values.update(_variable_values(input_transformer.get("InputPathsMap") or {}, event))
    return _render(template, values, json_template=template.lstrip().startswith(_JSON_TEMPLATE_START))


def _predefined_values(
    event: Mapping[str, Any], *, rule_name: str | None, rule_arn: str | None, ingestion_time: str | None
) -> dict[str, Any]:
    return {
        RULE_ARN: _MISSING if rule_arn is None else rule_arn,
        RULE_NAME: _MISSING if rule_name is None else rule_name,
        INGESTION_TIME: ingestion_time if ingestion_time is not None else event.get("time", _MISSING),
        EVENT_WITHOUT_DETAIL: {key: value for key, value in event.items() if key != "detail"},
        EVENT_JSON: dict(event),
    }


def _variable_values(paths_map: Any, event: Mapping[str, Any]) -> dict[str, Any]:
    if not isinstance(paths_map, Mapping):
        raise InvalidTargetInput("InputPathsMap must map variable names to JSONPath strings")
    values: dict[str, Any] = {}
    for name, path in paths_map.items():
        if str(name).lower().startswith("aws."):
            # EventBridge reserves the aws. names, so a map cannot shadow a predefined variable.
            raise InvalidTargetInput(
                f"InputPathsMap variable {name!r}: names starting with 'aws.' are reserved"
            )
        if not isinstance(path, str):
            raise InvalidTargetInput(f"InputPathsMap variable {name!r}: the path must be a string")
        try:
            values[str(name)] = _select(_parse_path(path), event)
        except InvalidTargetInput as error:
            raise InvalidTargetInput(f"InputPathsMap variable {name!r}: {error}") from None
    return values


def _render(template: str, values: Mapping[str, Any], *, json_template: bool) -> str:
    """Replace each known ``<name>``, quoting it by where it stands in the template."""
    parts: list[str] = []
    position = 0
    in_string = False
    for placeholder in _PLACEHOLDER.finditer(template):
        name = placeholder.group(1)
        if name not in values:
            continue
        in_string = _in_string_after(template, position, placeholder.start(), in_string=in_string)
        parts.append(template[position : placeholder.start()])
        raw = in_string or not json_template
        parts.append(_raw_text(values[name]) if raw else _json_text(values[name]))
        position = placeholder.end()
    parts.append(template[position:])
    return "".join(parts)


def _in_string_after(text: str, start: int, end: int, *, in_string: bool) -> bool:
    """Whether ``text[end]`` is inside a JSON string literal, knowing the state at ``start``."""
    index = start
    while index < end:
        char = text[index]
        if in_string and char == "\\":
            index += 2  # an escaped character, \" included, neither opens nor closes a string
            continue
        if char == '"':
            in_string = not in_string
        index += 1
    return in_string


def _raw_text(value: Any) -> str:
    # EventBridge does not escape what it inserts inside a string: the template's author quotes.
    if isinstance(value, _Missing) or value is None:
        return ""
    if isinstance(value, str):
        return value
    return _json_text(value)


def _json_text(value: Any) -> str:
    if isinstance(value, _Missing):
        return "null"
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


# --- simple JSONPath ----------------------------------------------------------------------


def _parse_path(path: str) -> list[str | int]:
    """``$.a[0].b`` -> ``["a", 0, "b"]``; anything beyond dots and indices is refused."""
    if not path.startswith("$"):
        raise InvalidTargetInput(f"unsupported JSONPath {path!r}: it must start with '$'")
    steps: list[str | int] = []
    position = 1
    while position < len(path):
        step = _PATH_STEP.match(path, position)
        if step is None:
            raise InvalidTargetInput(
                f"unsupported JSONPath {path!r} at character {position}: "
                "only $, $.field and $.field[index] steps are supported"
            )
        key, index = step.groups()
        steps.append(key if key is not None else int(index))
        position = step.end()
    return steps


def _select(steps: list[str | int], document: Any) -> Any:
    value = document
    for step in steps:
        if not _has_step(value, step):
            return _MISSING
        value = value[step]
    return value


def _has_step(value: Any, step: str | int) -> bool:
    if isinstance(step, str):
        return isinstance(value, Mapping) and step in value
    return isinstance(value, list) and step < len(value)
