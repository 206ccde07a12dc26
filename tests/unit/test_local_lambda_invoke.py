"""Which stack function an Invoke names, in every form Lambda accepts a FunctionName."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_cli.local.lambda_invoke import stack_function
from mlops_cli.local.stack import DeployedStack, LocalFunction

NAME = "mlops-local-ValidateDatasetFunction-CX3TU6QI3KGO"
ARN = f"arn:aws:lambda:eu-west-1:123456789012:function:{NAME}"


@pytest.fixture
def stack() -> DeployedStack:
    function = LocalFunction(
        logical_id="ValidateDatasetFunction",
        name=NAME,
        arn=ARN,
        code_dir=Path("functions/validate_dataset"),
        handler="app.lambda_handler",
        layer_dirs=(),
        environment={},
        timeout_seconds=60,
        memory_mb=1024,
    )
    return DeployedStack("mlops-local", "eu-west-1", {}, {}, {}, {"ValidateDatasetFunction": function})


@pytest.mark.parametrize(
    ("function_name", "qualifier", "expected"),
    [
        (NAME, None, None),
        (ARN, None, None),
        (f"{ARN}:$LATEST", None, None),
        (f"{ARN}:7", None, "7"),
        (ARN, "live", "live"),
        (f"{NAME}:3", None, "3"),
        (f"123456789012:function:{NAME}", "2", "2"),
    ],
)
def test_every_form_of_function_name_finds_the_function_and_its_qualifier(
    stack: DeployedStack, function_name: str, qualifier: str | None, expected: str | None
) -> None:
    function, version = stack_function(stack, function_name, qualifier)

    assert (function.logical_id, version) == ("ValidateDatasetFunction", expected)


def test_a_function_outside_the_stack_is_not_found(stack: DeployedStack) -> None:
    with pytest.raises(LookupError, match="no function 'other' in stack mlops-local"):
        stack_function(stack, "other", None)
