"""EventBridge event patterns, matched as AWS would: each operator, $or, arrays and the bundle's own rule."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml

from mlops_cli.local.event_patterns import InvalidEventPattern, compile_pattern, matches, validate_pattern

from ..conftest import REPO_ROOT

S3_SAMPLE = REPO_ROOT / "infra" / "events" / "samples" / "validate_dataset.object-created.json"

EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "ddddd4-aaaa-7777-4444-345dd43cc333",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "012345679012",
    "time": "2017-10-02T16:24:49Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-000000aaaaaa00000"],
    "detail": {
        "c-count": 5,
        "count-text": "5",
        "d-count": 3,
        "x-limit": 301.8,
        "source-ip": "10.0.0.33",
        "source-ipv6": "2001:db8::1",
        "instance-id": "i-000000aaaaaa00000",
        "state": "running",
        "file": "photos/Cat.PNG",
        "flag": True,
        "nothing": None,
        "empty": "",
        "tags": ["blue", "green"],
        "limits": {"cpu": 2},
    },
}


def detail_field(name: str, *values: Any) -> dict[str, Any]:
    """A pattern constraining one field of ``detail``."""
    return {"detail": {name: list(values)}}


# --- exact values -------------------------------------------------------------------------

MATCHING_EXACT = {
    "one of the listed strings": {"source": ["aws.s3", "aws.ec2"]},
    "a number equal in value (5 and 5.0)": detail_field("c-count", 5.0),
    "a boolean": detail_field("flag", True),
    "a present null with [null]": detail_field("nothing", None),
    'an empty string with [""]': detail_field("empty", ""),
    "an array in the event by any element": detail_field("tags", "green"),
    "nested objects, recursively": {"detail": {"limits": {"cpu": [2]}}},
    "every key of the pattern (AND)": {"source": ["aws.ec2"], "detail": {"state": ["running"]}},
}


@pytest.mark.parametrize("pattern", MATCHING_EXACT.values(), ids=MATCHING_EXACT.keys())
def test_exact_values_match(pattern: dict[str, Any]) -> None:
    # Given a pattern of exact values the EC2 event has, When matched, Then it matches
    assert matches(pattern, EC2_EVENT)


NOT_MATCHING_EXACT = {
    "a string not listed": {"source": ["aws.s3"]},
    "the string '5' against the number 5": detail_field("c-count", "5"),
    "the number 5 against the string '5'": detail_field("count-text", 5),
    "the string 'true' against true": detail_field("flag", "true"),
    "the number 1 against true": detail_field("flag", 1),
    "true against the number 1": {"detail": {"d-count": [True]}},
    "[null] against an empty string": detail_field("empty", None),
    '[""] against a null': detail_field("nothing", ""),
    "[null] against an absent field": detail_field("absent", None),
    "an array in the event with no listed element": detail_field("tags", "red"),
    "one key of several (AND)": {"source": ["aws.ec2"], "detail": {"state": ["stopped"]}},
    "a key absent from the event": {"detail": {"absent": ["running"]}},
    "a nested pattern against a scalar": {"detail": {"state": {"name": ["running"]}}},
}


@pytest.mark.parametrize("pattern", NOT_MATCHING_EXACT.values(), ids=NOT_MATCHING_EXACT.keys())
def test_exact_values_do_not_match(pattern: dict[str, Any]) -> None:
    # Given a pattern whose exact values the event does not have (type included), Then no match
    assert not matches(pattern, EC2_EVENT)


def test_objects_in_an_event_array_are_matched_one_element_at_a_time() -> None:
    # Given employees as an array of objects (Event Ruler's own example)
    event = {
        "employees": [
            {"firstName": "John", "lastName": "Doe"},
            {"firstName": "Anna", "lastName": "Smith"},
            {"firstName": "Peter", "lastName": "Jones"},
        ]
    }
    # Then a pattern matches when one element satisfies all its keys, not several together
    assert matches({"employees": {"firstName": ["Anna"], "lastName": ["Smith"]}}, event)
    assert not matches({"employees": {"firstName": ["Anna"], "lastName": ["Jones"]}}, event)


def test_a_pattern_given_as_stored_json_text_matches_like_the_object() -> None:
    # Given the pattern as EventBridge stores it, When matched, Then the result is the object's
    text = json.dumps({"source": ["aws.ec2"], "detail": {"c-count": [{"numeric": [">", 4]}]}})
    assert matches(text, EC2_EVENT)
    assert not matches(text.replace("aws.ec2", "aws.s3"), EC2_EVENT)


def test_a_compiled_pattern_matches_many_events() -> None:
    # Given a compiled pattern, When it is applied to two events, Then each gets its own answer
    pattern = compile_pattern({"detail": {"state": ["running"]}})
    stopped = copy.deepcopy(EC2_EVENT)
    stopped["detail"]["state"] = "stopped"
    assert pattern.matches(EC2_EVENT)
    assert not pattern.matches(stopped)


# --- exists -------------------------------------------------------------------------------

EXISTS_CASES = {
    "true on a present field": (detail_field("state", {"exists": True}), True),
    "true on an absent field": (detail_field("c-counts", {"exists": True}), False),
    "true on a present null": (detail_field("nothing", {"exists": True}), True),
    "true on an object-valued field (not a leaf)": (detail_field("limits", {"exists": True}), False),
    "false on an absent field": (detail_field("c-counts", {"exists": False}), True),
    "false on a present field": (detail_field("state", {"exists": False}), False),
    "false on an object-valued field (AWS's example)": (detail_field("limits", {"exists": False}), True),
    "false below an absent parent": ({"missing": {"child": [{"exists": False}]}}, True),
    "true below an absent parent": ({"missing": {"child": [{"exists": True}]}}, False),
}


@pytest.mark.parametrize(("pattern", "expected"), EXISTS_CASES.values(), ids=EXISTS_CASES.keys())
def test_exists_matches_on_the_presence_of_a_leaf(pattern: dict[str, Any], expected: bool) -> None:
    # Given an exists pattern, When matched, Then only leaf presence decides
    assert matches(pattern, EC2_EVENT) is expected


# --- string operators ---------------------------------------------------------------------

STRING_OPERATOR_CASES = {
    "prefix": (detail_field("instance-id", {"prefix": "i-0000"}), True),
    "prefix, not matching": (detail_field("instance-id", {"prefix": "i-9"}), False),
    "prefix ignoring case": (detail_field("file", {"prefix": {"equals-ignore-case": "PHOTOS/"}}), True),
    "prefix ignoring case, not matching": (
        detail_field("file", {"prefix": {"equals-ignore-case": "videos/"}}),
        False,
    ),
    "prefix is case-sensitive": (detail_field("file", {"prefix": "Photos/"}), False),
    "prefix on a number": (detail_field("c-count", {"prefix": "5"}), False),
    "suffix": (detail_field("file", {"suffix": ".PNG"}), True),
    "suffix, not matching": (detail_field("file", {"suffix": ".png"}), False),
    "suffix ignoring case": (detail_field("file", {"suffix": {"equals-ignore-case": ".png"}}), True),
    "suffix ignoring case, not matching": (
        detail_field("file", {"suffix": {"equals-ignore-case": ".jpg"}}),
        False,
    ),
    "equals-ignore-case": (detail_field("state", {"equals-ignore-case": "RUNNING"}), True),
    "equals-ignore-case, not matching": (detail_field("state", {"equals-ignore-case": "RUN"}), False),
    "equals-ignore-case on a boolean": (detail_field("flag", {"equals-ignore-case": "true"}), False),
    "wildcard": (detail_field("file", {"wildcard": "photos/*.PNG"}), True),
    "wildcard with several stars": (detail_field("instance-id", {"wildcard": "i-*a*0"}), True),
    "wildcard, not matching": (detail_field("file", {"wildcard": "videos/*"}), False),
    "wildcard is case-sensitive": (detail_field("file", {"wildcard": "photos/*.png"}), False),
    "wildcard on a number": (detail_field("c-count", {"wildcard": "*"}), False),
}


@pytest.mark.parametrize(
    ("pattern", "expected"), STRING_OPERATOR_CASES.values(), ids=STRING_OPERATOR_CASES.keys()
)
def test_string_operators_match_only_strings(pattern: dict[str, Any], expected: bool) -> None:
    # Given a prefix/suffix/equals-ignore-case/wildcard pattern, When matched, Then as AWS documents
    assert matches(pattern, EC2_EVENT) is expected


def test_an_escaped_star_in_a_wildcard_matches_only_a_literal_star() -> None:
    # Given "dir/\*.png" (a literal star)
    pattern = {"key": [{"wildcard": "dir/\\*.png"}]}
    # Then it matches the key with a star in it and no other
    assert matches(pattern, {"key": "dir/*.png"})
    assert not matches(pattern, {"key": "dir/a.png"})


def test_an_escaped_backslash_in_a_wildcard_matches_a_backslash() -> None:
    assert matches({"path": [{"wildcard": "C:\\\\*"}]}, {"path": "C:\\temp"})


# --- anything-but -------------------------------------------------------------------------

ANYTHING_BUT_CASES = {
    "a string, other value": (detail_field("state", {"anything-but": "initializing"}), True),
    "a string, that value": (detail_field("state", {"anything-but": "running"}), False),
    "strings, other value": (detail_field("state", {"anything-but": ["stopped", "overloaded"]}), True),
    "strings, a listed value": (detail_field("state", {"anything-but": ["stopped", "running"]}), False),
    "a number, other value": (detail_field("c-count", {"anything-but": 123}), True),
    "a number, equal in value": (detail_field("c-count", {"anything-but": 5.0}), False),
    "numbers, a listed value": (detail_field("c-count", {"anything-but": [4, 5, 6]}), False),
    "a prefix, other prefix": (detail_field("state", {"anything-but": {"prefix": "init"}}), True),
    "a prefix, that prefix": (detail_field("state", {"anything-but": {"prefix": "run"}}), False),
    "a suffix, other suffix": (detail_field("file", {"anything-but": {"suffix": ".png"}}), True),
    "a suffix, that suffix": (detail_field("file", {"anything-but": {"suffix": ".PNG"}}), False),
    "equals-ignore-case, other value": (
        detail_field("state", {"anything-but": {"equals-ignore-case": "STOPPED"}}),
        True,
    ),
    "equals-ignore-case, that value in another case": (
        detail_field("state", {"anything-but": {"equals-ignore-case": "RUNNING"}}),
        False,
    ),
    "equals-ignore-case list, a listed value": (
        detail_field("state", {"anything-but": {"equals-ignore-case": ["Stopped", "Running"]}}),
        False,
    ),
    "a wildcard, not matching it": (detail_field("file", {"anything-but": {"wildcard": "*/lib/*"}}), True),
    "a wildcard, matching it": (detail_field("file", {"anything-but": {"wildcard": "photos/*"}}), False),
    "a string, against a number": (detail_field("c-count", {"anything-but": "5"}), True),
    "anything, against an absent field": (detail_field("absent", {"anything-but": "x"}), False),
}


@pytest.mark.parametrize(("pattern", "expected"), ANYTHING_BUT_CASES.values(), ids=ANYTHING_BUT_CASES.keys())
def test_anything_but_matches_present_values_it_does_not_exclude(
    pattern: dict[str, Any], expected: bool
) -> None:
    # Given each anything-but variant, When matched, Then it matches only values it does not exclude
    assert matches(pattern, EC2_EVENT) is expected


def test_anything_but_on_an_event_array_matches_if_any_element_is_not_excluded() -> None:
    assert matches(detail_field("tags", {"anything-but": "blue"}), EC2_EVENT)
    assert not matches(detail_field("tags", {"anything-but": ["blue", "green"]}), EC2_EVENT)


# --- numeric ------------------------------------------------------------------------------

NUMERIC_CASES = {
    "> 0 on 5": (detail_field("c-count", {"numeric": [">", 0]}), True),
    "> 5 on 5": (detail_field("c-count", {"numeric": [">", 5]}), False),
    ">= 5 on 5": (detail_field("c-count", {"numeric": [">=", 5]}), True),
    "< 10 on 3": (detail_field("d-count", {"numeric": ["<", 10]}), True),
    "<= 2 on 3": (detail_field("d-count", {"numeric": ["<=", 2]}), False),
    "= 3.018e2 on 301.8": (detail_field("x-limit", {"numeric": ["=", 3.018e2]}), True),
    "= 301 on 301.8": (detail_field("x-limit", {"numeric": ["=", 301]}), False),
    "range (0, 5] on its upper bound 5": (detail_field("c-count", {"numeric": [">", 0, "<=", 5]}), True),
    "range (0, 5) on its upper bound 5": (detail_field("c-count", {"numeric": [">", 0, "<", 5]}), False),
    "range [5, 9) on its lower bound 5": (detail_field("c-count", {"numeric": [">=", 5, "<", 9]}), True),
    "range (5, 9) on its lower bound 5": (detail_field("c-count", {"numeric": [">", 5, "<", 9]}), False),
    "range above the value": (detail_field("c-count", {"numeric": [">", 6, "<", 9]}), False),
    "a number in a string": (detail_field("count-text", {"numeric": [">", 0]}), False),
    "a boolean": (detail_field("flag", {"numeric": [">", 0]}), False),
}


@pytest.mark.parametrize(("pattern", "expected"), NUMERIC_CASES.values(), ids=NUMERIC_CASES.keys())
def test_numeric_compares_only_numbers(pattern: dict[str, Any], expected: bool) -> None:
    # Given a numeric comparison or range, When matched, Then bounds are honoured and only numbers match
    assert matches(pattern, EC2_EVENT) is expected


# --- cidr ---------------------------------------------------------------------------------

CIDR_CASES = {
    "IPv4 inside": (detail_field("source-ip", {"cidr": "10.0.0.0/24"}), True),
    "IPv4 outside": (detail_field("source-ip", {"cidr": "10.0.1.0/24"}), False),
    "IPv6 inside": (detail_field("source-ipv6", {"cidr": "2001:db8::/32"}), True),
    "IPv6 outside": (detail_field("source-ipv6", {"cidr": "2001:db9::/32"}), False),
    "IPv4 network, IPv6 address": (detail_field("source-ipv6", {"cidr": "0.0.0.0/0"}), False),
    "not an address": (detail_field("state", {"cidr": "0.0.0.0/0"}), False),
}


@pytest.mark.parametrize(("pattern", "expected"), CIDR_CASES.values(), ids=CIDR_CASES.keys())
def test_cidr_matches_addresses_in_the_block(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EC2_EVENT) is expected


# --- $or ----------------------------------------------------------------------------------


def test_or_matches_when_one_alternative_matches() -> None:
    # Given source AND (metricName OR namespace), and an event with only the namespace
    pattern = {
        "source": ["aws.cloudwatch"],
        "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}],
    }
    event = {"source": "aws.cloudwatch", "namespace": "AWS/EC2"}
    # Then it matches
    assert matches(pattern, event)


def test_or_does_not_match_when_no_alternative_matches() -> None:
    pattern = {"$or": [{"metricName": ["CPUUtilization"]}, {"namespace": ["AWS/EC2"]}]}
    assert not matches(pattern, {"metricName": "ReadLatency", "namespace": "AWS/ES"})


def test_or_does_not_match_when_a_sibling_key_fails() -> None:
    pattern = {"source": ["aws.cloudwatch"], "$or": [{"a": [1]}, {"b": [2]}]}
    assert not matches(pattern, {"source": "aws.ec2", "a": 1})


def test_or_works_inside_a_nested_object() -> None:
    pattern = {"detail": {"$or": [{"c-count": [{"numeric": [">", 10]}]}, {"state": ["running"]}]}}
    assert matches(pattern, EC2_EVENT)
    assert not matches({"detail": {"$or": [{"c-count": [9]}, {"state": ["stopped"]}]}}, EC2_EVENT)


def test_or_alternatives_can_hold_an_and_and_a_nested_or() -> None:
    # Given source AND (metricName OR (metricType AND namespace AND (metricId OR spaceId)))
    pattern = {
        "source": ["aws.cloudwatch"],
        "$or": [
            {"metricName": ["CPUUtilization"]},
            {
                "metricType": ["MetricType"],
                "namespace": ["AWS/EC2"],
                "$or": [{"metricId": [1234]}, {"spaceId": [1000]}],
            },
        ],
    }
    event = {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2", "spaceId": 1000}
    # Then the nested alternatives decide
    assert matches(pattern, event)
    assert not matches(pattern, event | {"spaceId": 1})


def test_an_or_alternative_is_merged_with_its_siblings_on_the_same_array_element() -> None:
    # Given an alternative constraining the same nested object as a sibling key
    pattern = {"item": {"kind": ["a"]}, "$or": [{"item": {"size": [1]}}, {"item": {"size": [2]}}]}
    # Then both constraints must hold on one element of the event's array
    assert matches(pattern, {"item": [{"kind": "b", "size": 1}, {"kind": "a", "size": 2}]})
    assert not matches(pattern, {"item": [{"kind": "a", "size": 3}, {"kind": "b", "size": 1}]})


# --- the bundle's own rule ----------------------------------------------------------------


class _CloudFormationLoader(yaml.SafeLoader):
    """Reads template.yaml, keeping short-form intrinsics like ``!Ref X`` as ``{"Ref": "X"}``."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        return {name: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {name: loader.construct_sequence(node, deep=True)}
    return {name: loader.construct_mapping(node, deep=True)}  # type: ignore[arg-type]


_CloudFormationLoader.add_multi_constructor("!", _intrinsic)


def _resolve(node: Any, refs: dict[str, str]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"}:
            return refs[node["Ref"]]
        return {key: _resolve(value, refs) for key, value in node.items()}
    if isinstance(node, list):
        return [_resolve(value, refs) for value in node]
    return node


@pytest.fixture(scope="module")
def s3_event() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(S3_SAMPLE.read_text(encoding="utf-8"))
    return event


@pytest.fixture(scope="module")
def object_created_pattern(s3_event: dict[str, Any]) -> dict[str, Any]:
    """The validate_dataset rule's pattern from template.yaml, the bucket resolved to the sample's."""
    template = yaml.load(
        (REPO_ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=_CloudFormationLoader
    )
    rule = template["Resources"]["ValidateDatasetFunction"]["Properties"]["Events"]["ObjectCreated"]
    pattern: dict[str, Any] = _resolve(
        rule["Properties"]["Pattern"], {"DataBucket": s3_event["detail"]["bucket"]["name"]}
    )
    validate_pattern(pattern)
    return pattern


def _with_object(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["detail"]["object"].update(changes)
    return changed


def test_the_object_created_rule_matches_an_upload_under_incoming(
    object_created_pattern: dict[str, Any], s3_event: dict[str, Any]
) -> None:
    # Given the real S3 "Object Created" event of a CSV uploaded to incoming/
    # When the template's rule pattern is matched against it, Then the function is triggered
    assert matches(object_created_pattern, s3_event)


def test_the_object_created_rule_ignores_an_empty_object(
    object_created_pattern: dict[str, Any], s3_event: dict[str, Any]
) -> None:
    # Given a 0-byte object (a console "folder" marker) under incoming/, Then no trigger
    assert not matches(object_created_pattern, _with_object(s3_event, size=0))


def test_the_object_created_rule_ignores_the_functions_own_outputs(
    object_created_pattern: dict[str, Any], s3_event: dict[str, Any]
) -> None:
    # Given the copy the function itself writes under validated/, Then no trigger (no loop)
    assert not matches(object_created_pattern, _with_object(s3_event, key="validated/churn/run-1/churn.csv"))


def test_the_object_created_rule_ignores_another_bucket(
    object_created_pattern: dict[str, Any], s3_event: dict[str, Any]
) -> None:
    other = copy.deepcopy(s3_event)
    other["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert not matches(object_created_pattern, other)


def test_the_object_created_rule_ignores_a_deletion(
    object_created_pattern: dict[str, Any], s3_event: dict[str, Any]
) -> None:
    assert not matches(object_created_pattern, s3_event | {"detail-type": "Object Deleted"})


# --- malformed patterns -------------------------------------------------------------------

INVALID_PATTERNS: dict[str, tuple[Any, str]] = {
    "not JSON": ("{source: [aws.s3]}", "$: the pattern is not valid JSON"),
    "not an object": ('["aws.s3"]', "$: the pattern must be a JSON object, not an array"),
    "an empty object": ({}, "$: empty objects are not allowed"),
    "an empty nested object": ({"detail": {}}, "$.detail: empty objects are not allowed"),
    "a leaf that is not a list": (
        {"source": "aws.s3"},
        "$.source: must be an object or an array of match values, not a string",
    ),
    "an empty leaf": ({"detail": {"state": []}}, "$.detail.state: empty arrays are not allowed"),
    "an array inside a leaf": (
        {"resources": [["a"]]},
        "$.resources[0]: a match value must be a string, number, boolean, null or operator object, not an",
    ),
    "an unknown operator": ({"source": [{"contains": "s3"}]}, "$.source[0]: unknown operator 'contains'"),
    "two operators in one object": (
        {"key": [{"prefix": "a", "suffix": "b"}]},
        "$.key[0]: a match expression takes exactly one operator, got 'prefix', 'suffix'",
    ),
    "a prefix that is not a string": (
        {"key": [{"prefix": 1}]},
        "$.key[0].prefix: must be a string, not a number",
    ),
    "an unknown prefix modifier": (
        {"key": [{"prefix": {"wildcard": "a"}}]},
        "$.key[0].prefix: unknown prefix modifier 'wildcard'",
    ),
    "exists that is not a boolean": ({"key": [{"exists": "yes"}]}, "$.key[0].exists: must be true or false"),
    "numeric with a bad operator": (
        {"size": [{"numeric": ["!=", 0]}]},
        '$.size[0].numeric[0]: unknown numeric operator "!="; use one of = < <= > >=',
    ),
    "numeric with a bad arity": (
        {"size": [{"numeric": [">", 0, "<"]}]},
        "$.size[0].numeric: must be [operator, number] or [lower operator, number, upper operator, number]",
    ),
    "numeric that is not an array": (
        {"size": [{"numeric": 5}]},
        "$.size[0].numeric: must be [operator, number] or [lower operator, number, upper operator, number]",
    ),
    "numeric with a string bound": (
        {"size": [{"numeric": [">", "0"]}]},
        "$.size[0].numeric[0]: the value of '>' must be a finite number, not a string",
    ),
    "a numeric range upper bound first": (
        {"size": [{"numeric": ["<", 5, ">", 0]}]},
        "$.size[0].numeric: a range must be a '>' or '>=' bound followed by a '<' or '<=' bound",
    ),
    "a numeric range with = ": (
        {"size": [{"numeric": ["=", 5, "<", 9]}]},
        "$.size[0].numeric: a range must be a '>' or '>=' bound followed by a '<' or '<=' bound",
    ),
    "an empty numeric range": (
        {"size": [{"numeric": [">", 5, "<", 5]}]},
        "$.size[0].numeric: the lower bound 5 must be less than the upper bound 5",
    ),
    "anything-but of mixed types": (
        {"state": [{"anything-but": ["a", 1]}]},
        "$.state[0].anything-but: must be a string, a number, an array of only strings or of only numbers,",
    ),
    "anything-but of a boolean": (
        {"state": [{"anything-but": True}]},
        "$.state[0].anything-but: must be a string, a number, an array of only strings or of only numbers,",
    ),
    "anything-but numeric": (
        {"size": [{"anything-but": {"numeric": [">", 0]}}]},
        "$.size[0].anything-but: unsupported anything-but operator 'numeric'",
    ),
    "anything-but an empty prefix": (
        {"key": [{"anything-but": {"prefix": ""}}]},
        "$.key[0].anything-but.prefix: must not be empty",
    ),
    "consecutive wildcards": (
        {"key": [{"wildcard": "a**b"}]},
        "$.key[0].wildcard: consecutive wildcard characters are not allowed",
    ),
    "a backslash escaping a letter": (
        {"key": [{"wildcard": "a\\b"}]},
        "$.key[0].wildcard: a backslash may only escape '*' or '\\'",
    ),
    "an invalid cidr": (
        {"ip": [{"cidr": "10.0.0.300/24"}]},
        "$.ip[0].cidr: '10.0.0.300/24' is not an IPv4 or IPv6 CIDR block",
    ),
    "$or that is not an array": ({"$or": {"a": [1]}}, "$.$or: must be an array of objects, not an object"),
    "$or with one alternative": ({"$or": [{"a": [1]}]}, "$.$or: must list at least 2 alternatives"),
    "$or with a value alternative": ({"$or": [{"a": [1]}, "b"]}, "$.$or[1]: must be an object, not a string"),
    "an operator as a field inside $or": (
        {"key": {"$or": [{"prefix": ["a"]}, {"suffix": ["b"]}]}},
        "$.key.$or[0].prefix: 'prefix' is an operator and cannot be a field name inside $or",
    ),
}


@pytest.mark.parametrize(("pattern", "message"), INVALID_PATTERNS.values(), ids=INVALID_PATTERNS.keys())
def test_a_malformed_pattern_is_refused_naming_its_path(pattern: Any, message: str) -> None:
    # Given a pattern EventBridge would refuse, When validated, Then the error names where and why
    with pytest.raises(InvalidEventPattern) as raised:
        validate_pattern(pattern)
    assert str(raised.value).startswith(message)


def test_matching_with_a_malformed_pattern_raises_rather_than_answering() -> None:
    with pytest.raises(InvalidEventPattern, match=r"^\$\.source: must be an object or an array"):
        matches({"source": "aws.ec2"}, EC2_EVENT)


def test_the_error_is_a_value_error_with_its_path_and_reason() -> None:
    with pytest.raises(ValueError, match="unknown operator") as raised:
        validate_pattern({"a": [{"nope": 1}]})
    assert isinstance(raised.value, InvalidEventPattern)
    assert (raised.value.path, raised.value.reason) == ("$.a[0]", "unknown operator 'nope'")
