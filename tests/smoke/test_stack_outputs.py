"""The stack exists, finished deploying, and has the outputs the bundle's tools read."""

from __future__ import annotations

from typing import Any

import boto3

from .stack_checks import REQUIRED_OUTPUTS

SETTLED = {"CREATE_COMPLETE", "UPDATE_COMPLETE"}


def test_the_stack_is_deployed_and_settled(session: boto3.Session, stack_name: str) -> None:
    # Given the stack `sam deploy` just created or updated
    stacks: list[dict[str, Any]] = session.client("cloudformation").describe_stacks(StackName=stack_name)[
        "Stacks"
    ]

    # Then its last operation completed (not rolled back, not in progress)
    assert stacks[0]["StackStatus"] in SETTLED, f"{stack_name} is {stacks[0]['StackStatus']}"


def test_the_outputs_the_checks_read_are_present(outputs: dict[str, str]) -> None:
    # Then every output the checks and the mlops CLI need has a value, and the stage is a known one
    assert [key for key in REQUIRED_OUTPUTS if not outputs.get(key)] == []
    assert outputs["StageName"] in {"dev", "staging", "prod"}
    assert outputs["PredictFunctionUrl"].startswith("https://")
