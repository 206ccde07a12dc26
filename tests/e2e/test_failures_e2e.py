"""A real failure ends in its OnFailure queue; once its cause is fixed, `mlops failures replay` finishes it.

The failure: the idempotency table validate_dataset needs is missing, so every attempt
fails on AWS's error, Lambda retries twice and sends its record to the OnFailure queue.
The fix: the table is back. The replay hands the recorded event to the function again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from mlops_cli.contract_store import push_contract
from mlops_cli.failures import FailedDelivery, Invoker
from mlops_cli.failures_cli import list_failures, replay_failures
from mlops_cli.local.cloud import LocalCloud
from mlops_cli.main import main
from mlops_cli.sample_data import churn_table, write_csv

from ..conftest import REPO_ROOT
from .conftest import Terminal
from .test_local_up import _serving

STACK = "mlops-local"
QUEUE = "ValidateDatasetFailureQueue"
CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


@pytest.fixture
def term() -> Terminal:
    return Terminal()


def local_invoker(cloud: LocalCloud) -> Invoker:
    """The replay's invoker in the in-process local cloud: the runtime's asynchronous invoke."""

    def invoke(delivery: FailedDelivery) -> None:
        function = cloud.stack.function_by_arn(delivery.function_arn)
        if function is None:
            raise LookupError(f"no function {delivery.function_arn} in the local stack")
        cloud.runtime.invoke_async(function, delivery.payload)

    return invoke


def drop_table(dynamodb: Any, name: str) -> None:
    dynamodb.delete_table(TableName=name)


def restore_table(dynamodb: Any, name: str) -> None:
    """The idempotency table as template.yaml declares it."""
    dynamodb.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def consumer(cloud: LocalCloud) -> str:
    """A consumer of the bundle's bus: a rule into a queue."""
    sqs, events = cloud.session.client("sqs"), cloud.session.client("events")
    url: str = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = cloud.stack.outputs["EventBusName"]
    events.put_rule(Name="consumer", EventBusName=bus, EventPattern=json.dumps({"source": ["mlops.bundle"]}))
    events.put_targets(Rule="consumer", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def detail_types(sqs: Any, url: str) -> list[str]:
    types: list[str] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        types.extend(json.loads(m["Body"])["detail-type"] for m in messages)
        for m in messages:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return types


def depth(sqs: Any, url: str) -> tuple[int, int]:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def fail_an_upload(cloud: LocalCloud, tmp_path: Path) -> None:
    """An upload whose validation fails on every attempt: the idempotency table is gone."""
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    drop_table(cloud.session.client("dynamodb"), cloud.stack.outputs["IdempotencyTableName"])
    csv = write_csv(churn_table(120), tmp_path / "churn.csv")
    cloud.s3.upload_file(str(csv), cloud.bucket, "incoming/churn/2026-11.csv")
    cloud.settle()


def test_a_failed_upload_is_replayed_once_its_cause_is_fixed_and_done_exactly_once(
    cloud: LocalCloud, tmp_path: Path, term: Terminal
) -> None:
    sqs = cloud.session.client("sqs")
    events = consumer(cloud)
    failure_queue = cloud.stack.outputs["ValidateDatasetFailureQueueUrl"]
    fail_an_upload(cloud, tmp_path)
    assert depth(sqs, failure_queue) == (1, 0)
    assert keys(cloud.s3, cloud.bucket, "validated/") == []
    assert detail_types(sqs, events) == []

    restore_table(cloud.session.client("dynamodb"), cloud.stack.outputs["IdempotencyTableName"])
    code = replay_failures(cloud.session, term.console, queue=QUEUE, stack=STACK, invoke=local_invoker(cloud))
    cloud.settle()

    assert code == 0, term.text
    assert "1 of 1 replayed; 0 stay in ValidateDatasetFailureQueue" in term.text
    assert depth(sqs, failure_queue) == (0, 0)
    [copy] = keys(cloud.s3, cloud.bucket, "validated/churn/")
    assert copy.endswith("/2026-11.csv")
    assert len(keys(cloud.s3, cloud.bucket, "reports/validation/churn/")) == 1
    assert detail_types(sqs, events).count("DatasetValidated") == 1

    again = Terminal()
    assert (
        replay_failures(cloud.session, again.console, queue=QUEUE, stack=STACK, invoke=local_invoker(cloud))
        == 0
    )
    assert "ValidateDatasetFailureQueue is empty: nothing to replay" in again.text


def test_list_peeks_without_deleting_and_an_unknown_message_is_kept_and_reported(
    cloud: LocalCloud, tmp_path: Path, term: Terminal
) -> None:
    sqs = cloud.session.client("sqs")
    failure_queue = cloud.stack.outputs["ValidateDatasetFailureQueueUrl"]
    fail_an_upload(cloud, tmp_path)
    sqs.send_message(QueueUrl=failure_queue, MessageBody='{"hello": "not a failure record"}')

    assert list_failures(cloud.session, term.console, stack=STACK, peek=True) == 0
    lines = term.text.splitlines()
    [row] = [line for line in lines if "│ ValidateDatasetFailureQueue " in line]
    assert "│        2 │" in row and "Invocations of ValidateDatasetFunction that failed after retries" in row
    [record] = [line for line in lines if "Lambda OnFailure" in line]
    assert "RetriesExhausted" in record and "IdempotencyPersistenceLayerError" in record
    assert "Object Created incoming/churn/2026-11.csv" in record and "│ 3 " in record
    assert "unreadable" in term.text and "neither a Lambda invocation record" in term.text
    assert depth(sqs, failure_queue) == (2, 0)  # read, not deleted, visible again

    dry = Terminal()
    code = replay_failures(cloud.session, dry.console, queue=QUEUE, stack=STACK, dry_run=True)
    assert code == 1, dry.text
    assert "would replay" in dry.text and "kept" in dry.text
    assert "1 of 2 would be replayed; 1 stay in ValidateDatasetFailureQueue" in dry.text
    assert depth(sqs, failure_queue) == (2, 0)

    restore_table(cloud.session.client("dynamodb"), cloud.stack.outputs["IdempotencyTableName"])
    real = Terminal()
    code = replay_failures(cloud.session, real.console, queue=QUEUE, stack=STACK, invoke=local_invoker(cloud))
    assert code == 1  # the unknown message was not replayed
    [left] = sqs.receive_message(QueueUrl=failure_queue).get("Messages", [])
    assert json.loads(left["Body"]) == {"hello": "not a failure record"}


def test_an_unknown_queue_is_a_usage_error_naming_the_queues(cloud: LocalCloud, term: Terminal) -> None:
    code = replay_failures(cloud.session, term.console, queue="NoSuchQueue", stack=STACK)

    assert code == 2
    assert "no queue 'NoSuchQueue' in stack mlops-local" in term.text
    assert "ValidateDatasetFailureQueue" in term.text


def test_replay_through_lambdas_api_against_mlops_local_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with _serving() as (endpoint, _urls, _screen):
        session = boto3.Session(region_name="eu-west-1", aws_access_key_id="any", aws_secret_access_key="any")
        s3, sqs, dynamodb = (session.client(s, endpoint_url=endpoint) for s in ("s3", "sqs", "dynamodb"))
        outputs = {
            o["OutputKey"]: o["OutputValue"]
            for o in session.client("cloudformation", endpoint_url=endpoint).describe_stacks(StackName=STACK)[
                "Stacks"
            ][0]["Outputs"]
        }
        bucket, table = outputs["DataBucketName"], outputs["IdempotencyTableName"]
        failure_queue = outputs["ValidateDatasetFailureQueueUrl"]
        push_contract(s3, bucket, CHURN_CONTRACT)
        drop_table(dynamodb, table)
        s3.upload_file(str(write_csv(churn_table(120), tmp_path / "c.csv")), bucket, "incoming/churn/c.csv")
        assert _eventually(lambda: depth(sqs, failure_queue) == (1, 0))

        restore_table(dynamodb, table)
        code = main(
            ["failures", "replay", "--queue", QUEUE, "--endpoint-url", endpoint, "--region", "eu-west-1"]
        )

        assert code == 0, capsys.readouterr()
        assert _eventually(lambda: len(keys(s3, bucket, "validated/churn/")) == 1)
        assert depth(sqs, failure_queue) == (0, 0)

        # The same API answers synchronous invocations and dry runs of the stack's functions.
        lambdas = session.client("lambda", endpoint_url=endpoint)
        function = outputs["ValidateDatasetFunctionName"]
        sample = (REPO_ROOT / "infra/events/samples/validate_dataset.object-created.json").read_bytes()
        answer = lambdas.invoke(FunctionName=function, Payload=sample)
        assert answer["StatusCode"] == 200 and "FunctionError" not in answer
        assert json.loads(answer["Payload"].read())["ignored"] is True  # the sample's bucket is not ours
        failed = lambdas.invoke(FunctionName=function, Payload=b"{}")
        assert failed["FunctionError"] == "Unhandled"
        assert json.loads(failed["Payload"].read())["errorType"] == "ValidationError"
        assert lambdas.invoke(FunctionName=function, InvocationType="DryRun")["StatusCode"] == 204


def _eventually(check: Any, seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.2)
    return bool(check())
