"""The AWS calls each function makes in the local cloud, as the IAM actions AWS would authorise.

moto does not enforce IAM, so a policy that misses an action the code calls only fails on
AWS. :func:`calls_recorded` watches every boto3 call made while a function of the local
cloud runs; :func:`iam_actions` names the IAM actions each call needs (one call may need
several: a TransactWriteItems needs the action of each item, a read of an object version
needs ``s3:GetObjectVersion``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest.mock import patch

from botocore.client import BaseClient

from mlops_cli.local.runtime import RUNNING_FUNCTION


@dataclass(frozen=True)
class AwsCall:
    function: str
    service: str  # the IAM prefix: s3, dynamodb, events, lambda, cloudwatch, scheduler, ...
    operation: str
    params: dict[str, Any]


@contextmanager
def calls_recorded() -> Iterator[list[AwsCall]]:
    """Every boto3 call made while a local cloud function runs, in order."""
    calls: list[AwsCall] = []
    original = BaseClient._make_api_call

    def recorded(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        function = RUNNING_FUNCTION.get()
        if function is not None:
            calls.append(AwsCall(function, client.meta.service_model.service_name, operation, dict(params)))
        return original(client, operation, params)

    with patch.object(BaseClient, "_make_api_call", recorded):
        yield calls


_S3_WRITES = {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "PutObject"}
_S3_READS = {"GetObject", "HeadObject"}
_S3_LISTS = {"ListObjectsV2": "s3:ListBucket", "ListObjects": "s3:ListBucket"}
_TRANSACT_ITEM_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


def iam_requests(call: AwsCall) -> set[tuple[str, str]]:
    """Each IAM action the call needs, with the resource it is asked on.

    S3 calls name their object or bucket ARN; other calls "*" (their resources are not compared).
    """
    if call.service != "s3" or "Bucket" not in call.params:
        return {(action, "*") for action in iam_actions(call)}
    bucket = f"arn:aws:s3:::{call.params['Bucket']}"
    target = f"{bucket}/{call.params['Key']}" if "Key" in call.params else bucket
    read = target  # a copy reads its source and writes its destination
    if call.operation == "CopyObject":
        source = call.params["CopySource"]
        named = (
            f"{source['Bucket']}/{source['Key']}" if isinstance(source, dict) else str(source).split("?")[0]
        )
        read = f"arn:aws:s3:::{named}"
    return {(action, read if action.startswith("s3:GetObject") else target) for action in iam_actions(call)}


def iam_actions(call: AwsCall) -> set[str]:
    """The IAM actions AWS checks for this call (as the service authorization reference names them)."""
    if call.service == "s3":
        return _s3_actions(call)
    if call.service == "dynamodb" and call.operation == "TransactWriteItems":
        return {
            f"dynamodb:{_TRANSACT_ITEM_ACTIONS[kind]}"
            for item in call.params["TransactItems"]
            for kind in item
        }
    if call.service == "dynamodb" and call.operation == "TransactGetItems":
        return {"dynamodb:GetItem"}
    actions = {f"{call.service}:{call.operation}"}
    if call.service == "scheduler" and "RoleArn" in call.params.get("Target", {}):
        actions.add("iam:PassRole")  # a schedule's target role is passed to Scheduler
    return actions


def _s3_actions(call: AwsCall) -> set[str]:
    versioned = bool(call.params.get("VersionId"))
    if call.operation in _S3_READS:
        return {"s3:GetObjectVersion" if versioned else "s3:GetObject"}
    if call.operation in _S3_WRITES:
        return {"s3:PutObject"}
    if call.operation == "CopyObject":
        source = call.params["CopySource"]
        source_versioned = isinstance(source, dict) and bool(source.get("VersionId"))
        source_versioned = source_versioned or (isinstance(source, str) and "versionId=" in source)
        return {"s3:PutObject", "s3:GetObjectVersion" if source_versioned else "s3:GetObject"}
    if call.operation in _S3_LISTS:
        return {_S3_LISTS[call.operation]}
    if call.operation == "ListObjectVersions":
        return {"s3:ListBucketVersions"}
    return {f"s3:{call.operation}"}
