"""Target input, shaped as EventBridge does: Input, InputPath and InputTransformer with AWS's examples."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlops_cli.local.input_transformer import InvalidTargetInput, constant_input, input_path, transform

# The EC2 event of the AWS user guide's "Input transform examples".
EC2_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "7bf73129-1428-4cd3-a780-95db273d1602",
    "detail-type": "EC2 Instance State-change Notification",
    "source": "aws.ec2",
    "account": "123456789012",
    "time": "2015-11-11T21:29:54Z",
    "region": "us-east-1",
    "resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"],
    "detail": {"instance-id": "i-0123456789", "state": "RUNNING"},
}
PATHS = {"timestamp": "$.time", "instance": "$.detail.instance-id", "state": "$.detail.state"}
RULE_NAME = "example"
RULE_ARN = "arn:aws:events:us-east-2:123456789012:rule/example"


def render(template: str, paths: dict[str, str] = PATHS, event: dict[str, Any] = EC2_EVENT) -> str:
    """The text EventBridge sends for ``template``, the guide's rule name and ARN given."""
    transformer = {"InputPathsMap": paths, "InputTemplate": template}
    return transform(transformer, event, rule_name=RULE_NAME, rule_arn=RULE_ARN)


# --- the AWS user guide's examples --------------------------------------------------------

AWS_EXAMPLES = {
    "simple string": (
        '"instance <instance> is in <state>"',
        '"instance i-0123456789 is in RUNNING"',
    ),
    "string with escaped quotes": (
        '"instance \\"<instance>\\" is in <state>"',
        '"instance \\"i-0123456789\\" is in RUNNING"',
    ),
    "simple JSON": (
        '{\n  "instance" : <instance>,\n  "state": <state>\n}',
        '{\n  "instance" : "i-0123456789",\n  "state": "RUNNING"\n}',
    ),
    "JSON with strings and variables": (
        '{"instance" : <instance>, "state": "<state>", '
        '"instanceStatus": "instance \\"<instance>\\" is in <state>"}',
        '{"instance" : "i-0123456789", "state": "RUNNING", '
        '"instanceStatus": "instance \\"i-0123456789\\" is in RUNNING"}',
    ),
    "JSON with a mix of variables and static information": (
        '{"instance" : <instance>, "state": [ 9, <state>, true ], "Transformed" : "Yes"}',
        '{"instance" : "i-0123456789", "state": [ 9, "RUNNING", true ], "Transformed" : "Yes"}',
    ),
    "reserved variables in a string": (
        '"<aws.events.rule-name> triggered"',
        '"example triggered"',
    ),
    "plain text (the API reference's example)": (
        "<instance> is in state <state>",
        "i-0123456789 is in state RUNNING",
    ),
}


@pytest.mark.parametrize(("template", "expected"), AWS_EXAMPLES.values(), ids=AWS_EXAMPLES.keys())
def test_the_aws_guide_examples_give_the_documented_output(template: str, expected: str) -> None:
    # Given the guide's EC2 event and paths, When each documented template is filled, Then as documented
    assert render(template) == expected


def test_reserved_variables_in_json_are_inserted_as_json_values() -> None:
    # Given the guide's "Including reserved variables in JSON" template
    template = (
        '{"instance": <instance>, "state": <state>, "ruleArn": <aws.events.rule-arn>, '
        '"ruleName": <aws.events.rule-name>, "originalEvent": <aws.events.event>}'
    )
    # When filled
    payload = json.loads(render(template))
    # Then the rule's name and ARN are strings and the original event an object, without detail
    original = {key: value for key, value in EC2_EVENT.items() if key != "detail"}
    assert payload == {
        "instance": "i-0123456789",
        "state": "RUNNING",
        "ruleArn": RULE_ARN,
        "ruleName": RULE_NAME,
        "originalEvent": original,
    }


def test_the_event_json_variable_is_the_whole_event() -> None:
    assert json.loads(render('{"event": <aws.events.event.json>}')) == {"event": EC2_EVENT}


def test_the_ingestion_time_is_the_event_time_unless_given() -> None:
    # Given no ingestion time, Then the event's own time stands in for it
    assert render('"<aws.events.event.ingestion-time>"') == '"2015-11-11T21:29:54Z"'
    # Given one, Then it is used
    transformer = {"InputTemplate": "<aws.events.event.ingestion-time>"}
    assert transform(transformer, EC2_EVENT, ingestion_time="2015-11-11T21:30:00Z") == "2015-11-11T21:30:00Z"


# --- quoting ------------------------------------------------------------------------------


def test_objects_arrays_and_numbers_are_inserted_as_json_outside_quotes() -> None:
    # Given paths selecting an object, an array and a number, placed as JSON values
    event = EC2_EVENT | {"detail": {"limits": {"cpu": 2}, "tags": ["a", "b"], "size": 16384, "ok": True}}
    paths = {
        "limits": "$.detail.limits",
        "tags": "$.detail.tags",
        "size": "$.detail.size",
        "ok": "$.detail.ok",
    }
    # When filled, Then each keeps its JSON type
    text = render('{"l": <limits>, "t": <tags>, "s": <size>, "o": <ok>}', paths, event)
    assert json.loads(text) == {"l": {"cpu": 2}, "t": ["a", "b"], "s": 16384, "o": True}


def test_values_inside_quotes_are_inserted_raw_and_unescaped() -> None:
    # Given a string with a quote in it and an object, both placed inside a string literal
    event = EC2_EVENT | {"detail": {"name": 'say "hi"', "limits": {"cpu": 2}}}
    paths = {"name": "$.detail.name", "limits": "$.detail.limits"}
    # Then they are inserted as is: EventBridge does not escape what it inserts
    assert render('{"m": "<name> <limits>"}', paths, event) == '{"m": "say "hi" {"cpu":2}"}'


def test_a_path_that_selects_nothing_inserts_null_as_a_value_and_nothing_in_a_string() -> None:
    # Given a variable whose path the event does not have
    paths = {"gone": "$.detail.missing.deeper"}
    # Then the JSON stays valid: null as a value, empty inside a string
    assert render('{"a": <gone>, "b": "<gone>"}', paths) == '{"a": null, "b": ""}'


def test_a_placeholder_neither_defined_nor_predefined_is_left_as_text() -> None:
    assert render('"<instance> <unknown>"') == '"i-0123456789 <unknown>"'


def test_a_rule_arn_not_given_inserts_null() -> None:
    transformer = {"InputTemplate": '{"arn": <aws.events.rule-arn>}'}
    assert transform(transformer, EC2_EVENT) == '{"arn": null}'


def test_an_array_index_selects_one_element() -> None:
    assert render('{"r": <first>}', {"first": "$.resources[0]"}) == (
        '{"r": "arn:aws:ec2:us-east-1:123456789012:instance/i-abcd1111"}'
    )


# --- malformed transformers ---------------------------------------------------------------

INVALID_TRANSFORMERS: dict[str, tuple[dict[str, Any], str]] = {
    "no template": ({"InputPathsMap": PATHS}, "InputTransformer needs an InputTemplate string"),
    "a reserved variable name": (
        {"InputPathsMap": {"aws.events.rule-name": "$.source"}, "InputTemplate": "x"},
        "InputPathsMap variable 'aws.events.rule-name': names starting with 'aws.' are reserved",
    ),
    "a path that is not a string": (
        {"InputPathsMap": {"n": 1}, "InputTemplate": "x"},
        "InputPathsMap variable 'n': the path must be a string",
    ),
    "a wildcard path": (
        {"InputPathsMap": {"all": "$.detail.*"}, "InputTemplate": "x"},
        "InputPathsMap variable 'all': unsupported JSONPath '$.detail.*' at character 8: "
        "only $, $.field and $.field[index] steps are supported",
    ),
    "a bracket path": (
        {"InputPathsMap": {"d": "$['detail']"}, "InputTemplate": "x"},
        "InputPathsMap variable 'd': unsupported JSONPath \"$['detail']\" at character 1",
    ),
    "a path without $": (
        {"InputPathsMap": {"d": "detail.state"}, "InputTemplate": "x"},
        "InputPathsMap variable 'd': unsupported JSONPath 'detail.state': it must start with '$'",
    ),
    "a paths map that is not an object": (
        {"InputPathsMap": ["$.detail"], "InputTemplate": "x"},
        "InputPathsMap must map variable names to JSONPath strings",
    ),
}


@pytest.mark.parametrize(
    ("transformer", "message"), INVALID_TRANSFORMERS.values(), ids=INVALID_TRANSFORMERS.keys()
)
def test_a_malformed_transformer_is_refused_naming_the_variable(
    transformer: dict[str, Any], message: str
) -> None:
    with pytest.raises(InvalidTargetInput) as raised:
        transform(transformer, EC2_EVENT)
    assert str(raised.value).startswith(message)


# --- Input and InputPath ------------------------------------------------------------------


def test_constant_input_is_sent_as_written() -> None:
    text = '{"dataset": "churn", "dry_run": true}'
    assert constant_input(text) == text


def test_constant_input_that_is_not_json_is_refused() -> None:
    with pytest.raises(InvalidTargetInput, match=r"^Input is not valid JSON \(Expecting property name"):
        constant_input("{dataset: churn}")


def test_input_path_dollar_is_the_whole_event() -> None:
    assert input_path("$", EC2_EVENT) == EC2_EVENT


def test_input_path_selects_a_part_of_the_event() -> None:
    assert input_path("$.detail", EC2_EVENT) == {"instance-id": "i-0123456789", "state": "RUNNING"}


def test_input_path_that_selects_nothing_gives_none() -> None:
    assert input_path("$.detail.missing", EC2_EVENT) is None


def test_input_path_with_an_index_past_the_end_gives_none() -> None:
    assert input_path("$.resources[1]", EC2_EVENT) is None


def test_input_path_that_is_not_simple_jsonpath_is_refused() -> None:
    with pytest.raises(InvalidTargetInput, match=r"^unsupported JSONPath '\$\.\.state' at character 1"):
        input_path("$..state", EC2_EVENT)
