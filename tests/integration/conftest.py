"""Integration fixtures: the data gate's resources in moto, and the handler loaded against them.

Clients are made after the mock starts (moto's advice); events the function publishes are
caught the way a consumer would see them, through a rule on the project bus into SQS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import boto3
import pytest
from moto import mock_aws

from mlops_cli.lambda_runtime import LocalLambdaContext, load_function

REGION = "eu-west-1"
BUCKET = "mlops-data-test"
BUS = "mlops-bus-test"
TABLE = "mlops-idempotency-test"
SAMPLES = Path(__file__).resolve().parents[2] / "infra" / "events" / "samples"


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)


@dataclass
class GateStack:
    s3: Any
    events: Any
    sqs: Any
    dynamodb: Any
    bus_queue_url: str
    s3_queue_url: str
    tmp: Path

    def put_object(self, key: str, body: bytes) -> dict[str, Any]:
        response: dict[str, Any] = self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return response

    def put_contract(self, dataset: str, text: str) -> None:
        self.s3.put_object(Bucket=BUCKET, Key=f"contracts/{dataset}.yaml", Body=text.encode())

    def keys(self, prefix: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))

    def read_json(self, key: str) -> Any:
        return json.loads(self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())

    def published(self) -> list[dict[str, Any]]:
        """Events that reached the project bus, drained from the capture queue."""
        return _drain(self.sqs, self.bus_queue_url)

    def s3_notifications(self) -> list[dict[str, Any]]:
        """The S3 -> EventBridge notifications moto emitted, in AWS's event shape.

        moto hands each S3 notification to the rules once per bus, so a rule on the default
        bus sees it as often as there are buses: callers de-duplicate by event id.
        """
        return _drain(self.sqs, self.s3_queue_url)


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return events
        for message in batch:
            events.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def stack(aws_credentials: None, tmp_path: Path) -> Iterator[GateStack]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        s3.put_bucket_notification_configuration(
            Bucket=BUCKET, NotificationConfiguration={"EventBridgeConfiguration": {}}
        )
        events.create_event_bus(Name=BUS)
        dynamodb.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        )
        bus_queue = _capture(events, sqs, "bus-capture", BUS, {"source": ["mlops.bundle"]})
        s3_queue = _capture(
            events,
            sqs,
            "s3-capture",
            "default",
            {"source": ["aws.s3"], "detail": {"bucket": {"name": [BUCKET]}}},
        )
        yield GateStack(s3, events, sqs, dynamodb, bus_queue, s3_queue, tmp_path)


def _capture(events: Any, sqs: Any, name: str, bus: str, pattern: dict[str, Any]) -> str:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "capture", "Arn": arn}])
    return url


@pytest.fixture
def function_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name, value in {
        "DATA_BUCKET": BUCKET,
        "EVENT_BUS_NAME": BUS,
        "IDEMPOTENCY_TABLE": TABLE,
        "SCRATCH_DIR": str(tmp_path),
        "POWERTOOLS_SERVICE_NAME": "validate_dataset",
        "POWERTOOLS_METRICS_NAMESPACE": "MLOpsBundle",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_DEV": "false",
    }.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def validate_dataset(stack: GateStack, function_env: None) -> ModuleType:
    """The handler module, imported as a cold start inside the mock."""
    return load_function("validate_dataset")


@pytest.fixture
def context() -> LocalLambdaContext:
    return LocalLambdaContext(function_name="validate_dataset")


def sample_event(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return loaded
