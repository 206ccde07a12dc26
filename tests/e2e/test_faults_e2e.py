"""AWS faults injected under the running bundle: retried by the SDK, then by Lambda, then OnFailure.

Each test arms a fault on one AWS call of one function (``cloud.faults``), lets the events
flow through the template's rules, and checks what a user of the stack would check: the
work is done once or it is in the OnFailure queue with its original event; the upload is
untouched; the registry and the live alias are whole; after the fault clears, replaying
the failure record finishes the work exactly once.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.faults import Fault, FaultKind
from mlops_cli.local.runtime import Invocation
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.deployment import DeploymentStatus
from mlops_core.deployment_adapters import DynamoDBDeploymentStore
from mlops_core.registry import DynamoDBModelRegistry

from ..conftest import REPO_ROOT
from .conftest import drain, listen, live_alias, predict_live

CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
KEY = "incoming/churn/2026-11.csv"


@pytest.fixture
def function_logs() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def cloud(function_logs: io.StringIO) -> Iterator[LocalCloud]:
    with local_cloud(parameters={"ApprovalMetricFloor": "0.55"}, log_stream=function_logs) as running:
        yield running


@pytest.fixture
def attempts(cloud: LocalCloud) -> list[Invocation]:
    seen: list[Invocation] = []
    cloud.runtime.on_invocation = seen.append
    return seen


@pytest.fixture
def bus_events(cloud: LocalCloud) -> str:
    return listen(cloud)


def _types(events: list[dict[str, Any]]) -> list[str]:
    return sorted(e["detail-type"] for e in events)


def _keys(cloud: LocalCloud, prefix: str) -> list[str]:
    listing = cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix=prefix)
    return sorted(item["Key"] for item in listing.get("Contents", []))


def _upload(cloud: LocalCloud, tmp_path: Path, rows: int = 200) -> bytes:
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    body = write_csv(churn_table(rows), tmp_path / "churn.csv").read_bytes()
    cloud.s3.put_object(Bucket=cloud.bucket, Key=KEY, Body=body)
    return body


def _replay(cloud: LocalCloud, output: str) -> list[bool]:
    """Replay every record of a failure queue: its original payload, invoked again."""
    records = drain(cloud, cloud.stack.outputs[output])
    results = [
        cloud.runtime.invoke_async(
            cloud.stack.function_by_arn(r["requestContext"]["functionArn"].rsplit(":", 1)[0]),  # type: ignore[arg-type]
            r["requestPayload"],
        )
        for r in records
    ]
    cloud.settle()
    return results


def _attempts_of(attempts: list[Invocation], function: str) -> list[bool]:
    return [a.ok for a in attempts if a.function == function]


def test_throttled_s3_reads_are_retried_by_the_sdk_and_the_upload_validated_once(
    cloud: LocalCloud, tmp_path: Path, attempts: list[Invocation], bus_events: str
) -> None:
    # Given S3 throttles validate_dataset's first two reads
    throttle = cloud.faults.inject(
        Fault("s3", "GetObject", FaultKind.THROTTLING, function="ValidateDatasetFunction", times=2)
    )

    # When a file is uploaded
    _upload(cloud, tmp_path, rows=150)
    cloud.settle()

    # Then the SDK retried the reads within one invocation, and the file was validated once
    assert throttle.injected == 2
    assert len(cloud.faults.backoffs) >= 2
    assert _attempts_of(attempts, "ValidateDatasetFunction") == [True]
    assert len(_keys(cloud, "validated/churn/")) == 1
    assert _types(drain(cloud, bus_events)).count("DatasetValidated") == 1


@pytest.mark.parametrize(
    ("service", "operation", "kind"),
    [
        ("eventbridge", "PutEvents", FaultKind.SERVER_ERROR),
        ("eventbridge", "PutEvents", FaultKind.ACCESS_DENIED),
        ("s3", "PutObject", FaultKind.READ_TIMEOUT),
        ("dynamodb", "PutItem", FaultKind.THROTTLING),
    ],
)
def test_a_lasting_fault_ends_in_the_on_failure_queue_and_a_replay_validates_once(
    cloud: LocalCloud,
    tmp_path: Path,
    attempts: list[Invocation],
    bus_events: str,
    service: str,
    operation: str,
    kind: FaultKind,
) -> None:
    # Given an AWS call validate_dataset needs fails until further notice
    cloud.faults.inject(Fault(service, operation, kind, function="ValidateDatasetFunction"))

    # When a file is uploaded
    body = _upload(cloud, tmp_path, rows=150)
    cloud.settle()

    # Then Lambda tried three times, and the event is in the OnFailure queue; nothing was announced
    assert _attempts_of(attempts, "ValidateDatasetFunction") == [False, False, False]
    assert _types(drain(cloud, bus_events)) == []
    assert cloud.s3.get_object(Bucket=cloud.bucket, Key=KEY)["Body"].read() == body

    # When the fault clears and the failure record is replayed
    cloud.faults.clear()
    assert _replay(cloud, "ValidateDatasetFailureQueueUrl") == [True]

    # Then the upload is validated once: one copy, one report, one event
    assert len(_keys(cloud, "validated/churn/")) == 1
    assert len(_keys(cloud, "reports/validation/churn/")) == 1
    assert _types(drain(cloud, bus_events)).count("DatasetValidated") == 1


def _registry(cloud: LocalCloud) -> DynamoDBModelRegistry:
    return DynamoDBModelRegistry(cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"])


def test_a_registry_write_that_fails_leaves_no_half_registered_version(
    cloud: LocalCloud, tmp_path: Path, attempts: list[Invocation], bus_events: str
) -> None:
    # Given the registry's transactions fail with 5xx while register_model runs
    cloud.faults.inject(
        Fault("dynamodb", "TransactWriteItems", FaultKind.SERVER_ERROR, function="RegisterModelFunction")
    )
    live_before = live_alias(cloud)

    # When a dataset is validated and trained
    _upload(cloud, tmp_path, rows=800)
    cloud.settle()

    # Then registration failed whole: no version, no alias, no event, the live alias untouched
    assert _attempts_of(attempts, "RegisterModelFunction") == [False, False, False]
    assert _registry(cloud).list_versions("churn") == []
    assert _registry(cloud).alias("churn", "production") is None
    published = _types(drain(cloud, bus_events))
    assert "ModelRegistered" not in published
    assert "ModelApproved" not in published
    assert live_alias(cloud) == live_before

    # When the fault clears and the failure record is replayed
    cloud.faults.clear()
    assert _replay(cloud, "RegisterModelFailureQueueUrl") == [True]

    # Then the model is registered once, approved and deployed
    [version] = _registry(cloud).list_versions("churn")
    assert version.version == 1
    published = _types(drain(cloud, bus_events))
    assert published.count("ModelRegistered") == 1
    assert published.count("ModelDeployed") == 1
    production = _registry(cloud).alias("churn", "production")
    assert production is not None
    assert production.version == 1


@pytest.mark.parametrize(
    ("operation", "skip", "kind"),
    [
        ("PutItem", 0, FaultKind.SERVER_ERROR),  # the record of success
        ("PutItem", 0, FaultKind.CUT_OFF),  # Lambda's timeout at that call
        ("TransactWriteItems", 1, FaultKind.ACCESS_DENIED),  # the registry's production alias
    ],
)
def test_a_rollout_stopped_half_way_is_finished_by_the_retry(
    cloud: LocalCloud, tmp_path: Path, bus_events: str, operation: str, skip: int, kind: FaultKind
) -> None:
    # Given deploy_model's run fails at a DynamoDB write after the live alias moved (the
    # deployment record, or the registry's production alias), on its first attempt only
    fault = cloud.faults.inject(Fault("dynamodb", operation, kind, function="DeployModelFunction", skip=skip))
    attempts: list[bool] = []

    def lift_after_the_first_failure(invocation: Invocation) -> None:
        if invocation.function == "DeployModelFunction":
            attempts.append(invocation.ok)
            cloud.faults.clear()

    cloud.runtime.on_invocation = lift_after_the_first_failure

    # When the first model is trained, registered and approved by policy
    _upload(cloud, tmp_path, rows=800)
    cloud.settle()

    # Then Lambda's retry finished the rollout, and every record agrees with the alias
    assert fault.injected >= 1
    assert attempts == [False, True]
    version, weights = live_alias(cloud)
    assert weights == {}
    store = DynamoDBDeploymentStore(
        cloud.session.client("dynamodb"), cloud.stack.outputs["DeploymentsTableName"]
    )
    record = store.current("live")
    assert record is not None
    assert (record.status, record.function_version) == (DeploymentStatus.SUCCEEDED, version)
    production = _registry(cloud).alias("churn", "production")
    assert production is not None
    assert production.version == 1
    # ModelDeployed is sent at least once (a retry after it was sent sends it again), each
    # copy naming the same deployment, which is what consumers deduplicate on
    deployed = [e for e in drain(cloud, bus_events) if e["detail-type"] == "ModelDeployed"]
    assert {e["detail"]["deployment_id"] for e in deployed} == {"churn-v1"}


def test_a_capture_stream_that_refuses_records_never_fails_a_prediction(
    cloud: LocalCloud, tmp_path: Path, function_logs: io.StringIO
) -> None:
    # Given a live model, and Firehose throttling every capture predict sends
    _upload(cloud, tmp_path, rows=800)
    cloud.settle()
    throttle = cloud.faults.inject(
        Fault("firehose", "PutRecordBatch", FaultKind.THROTTLING, function="PredictFunction")
    )

    # When a client asks for a prediction
    response = predict_live(cloud)

    # Then it is answered; the SDK retried the capture, then the failure was counted, not raised
    assert response["statusCode"] == 200, response
    assert throttle.injected > 1
    assert '"CaptureFailures":[1.0]' in function_logs.getvalue()
    assert "CapturedRecords" not in function_logs.getvalue()

    # and once Firehose accepts again, the next request is captured
    cloud.faults.clear()
    seen = len(function_logs.getvalue())
    assert predict_live(cloud)["statusCode"] == 200
    assert "CapturedRecords" in function_logs.getvalue()[seen:]
