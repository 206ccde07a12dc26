"""Find a deployed stack's resources from its CloudFormation outputs.

The CLI never asks for bucket, table or bus names: it reads them from the stack that
`sam deploy` (or `mlops local up`) created, so one ``--stack`` option says where to work.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class StackError(Exception):
    """The stack cannot be used: it does not exist, or lacks an output the CLI needs."""


class StackNotFound(StackError):
    def __init__(self, stack_name: str, region: str | None, endpoint_url: str | None = None) -> None:
        where = f"region {region or '(none set)'}" + (f" at {endpoint_url}" if endpoint_url else "")
        if endpoint_url:
            fix = (
                "start the local cloud with `mlops local up` (its stack is mlops-local) or pass --stack NAME"
            )
        else:
            fix = (
                "deploy it with `sam deploy` (the stack name is in samconfig.toml), "
                "or pass --stack NAME and --region REGION"
            )
        super().__init__(f"no CloudFormation stack {stack_name!r} in {where}: {fix}")
        self.stack_name = stack_name
        self.region = region


class MissingOutput(StackError):
    def __init__(self, stack_name: str, missing: list[str]) -> None:
        super().__init__(
            f"stack {stack_name!r} has no output {', '.join(missing)}: it was deployed from an older "
            "template.yaml, or its last deployment failed; deploy this version of the bundle"
        )
        self.stack_name = stack_name
        self.missing = missing


def stack_outputs(session: Any, stack_name: str, *, endpoint_url: str | None = None) -> dict[str, str]:
    """``{OutputKey: OutputValue}`` of ``stack_name``, or :class:`StackNotFound` naming it and the region."""
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in _describe(session, stack_name, endpoint_url)}


def output_descriptions(session: Any, stack_name: str, *, endpoint_url: str | None = None) -> dict[str, str]:
    """``{OutputKey: Description}`` of the outputs that have one (what an output's resource is for)."""
    return {
        str(o["OutputKey"]): str(o["Description"])
        for o in _describe(session, stack_name, endpoint_url)
        if o.get("Description")
    }


def _describe(session: Any, stack_name: str, endpoint_url: str | None) -> list[dict[str, Any]]:
    client = session.client("cloudformation", endpoint_url=endpoint_url)
    region = client.meta.region_name
    try:
        response = client.describe_stacks(StackName=stack_name)
    except ClientError as error:
        details = error.response.get("Error", {})
        if details.get("Code") == "ValidationError" and "does not exist" in str(details.get("Message", "")):
            raise StackNotFound(stack_name, region, endpoint_url) from error
        raise
    stacks = response.get("Stacks") or []
    if not stacks:
        raise StackNotFound(stack_name, region, endpoint_url)
    outputs: list[dict[str, Any]] = stacks[0].get("Outputs", [])
    return outputs


def require_outputs(outputs: dict[str, str], stack_name: str, *keys: str) -> list[str]:
    """The values of ``keys``, in order, or :class:`MissingOutput` naming every absent one."""
    missing = [key for key in keys if not outputs.get(key)]
    if missing:
        raise MissingOutput(stack_name, missing)
    return [outputs[key] for key in keys]
