"""upload -> validated -> trained -> registered -> approved, all through the template's rules."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.registry import DynamoDBModelRegistry, ModelStatus

from ..conftest import REPO_ROOT

CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with local_cloud(parameters={"ApprovalMetricFloor": "0.55"}, log_stream=io.StringIO()) as running:
        yield running


def _bus_events(cloud: LocalCloud) -> str:
    sqs, events = cloud.session.client("sqs"), cloud.session.client("events")
    url: str = sqs.create_queue(QueueName="everything")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = cloud.stack.outputs["EventBusName"]
    events.put_rule(
        Name="everything", EventBusName=bus, EventPattern=json.dumps({"source": ["mlops.bundle"]})
    )
    events.put_targets(Rule="everything", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _drain(cloud: LocalCloud, url: str) -> list[dict[str, object]]:
    sqs, found = cloud.session.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return found


def test_a_validated_upload_is_trained_registered_and_approved_by_policy(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    bus = _bus_events(cloud)
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)
    data = write_csv(churn_table(800, seed=5), tmp_path / "churn.csv")

    cloud.s3.upload_file(str(data), cloud.bucket, "incoming/churn/churn.csv")
    cloud.settle()

    events = _drain(cloud, bus)
    assert [e["detail-type"] for e in events] == [
        "DatasetValidated",
        "ModelTrained",
        "ModelRegistered",
        "ModelApproved",
        "ModelDeployed",
    ]
    trained = events[1]["detail"]
    assert isinstance(trained, dict)
    prefix = str(trained["artifact_uri"]).removeprefix(f"s3://{cloud.bucket}/").rsplit("/", 1)[0]
    listing = cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix=prefix)["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listing) == [
        "baseline.json",
        "manifest.json",
        "model.skops",
    ]
    registry = DynamoDBModelRegistry(
        cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"]
    )
    version = registry.get("churn", 1)
    assert version.status is ModelStatus.APPROVED
    assert version.lineage.dataset_uri == events[0]["detail"]["validated_uri"]  # type: ignore[index]
    assert version.metrics["roc_auc"] >= 0.55


def test_a_dataset_without_a_training_section_is_validated_and_not_trained(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    bus = _bus_events(cloud)
    no_training = tmp_path / "churn.yaml"
    no_training.write_text(CHURN_CONTRACT.read_text().split("\ntraining:")[0] + "\n")
    push_contract(cloud.s3, cloud.bucket, no_training)

    cloud.s3.upload_file(
        str(write_csv(churn_table(300), tmp_path / "c.csv")), cloud.bucket, "incoming/churn/c.csv"
    )
    cloud.settle()

    assert [e["detail-type"] for e in _drain(cloud, bus)] == ["DatasetValidated"]
    assert cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix="models/").get("KeyCount") == 0


def test_predictions_are_captured_under_the_model_and_day_as_firehose_partitions_them(
    cloud: LocalCloud,
) -> None:
    import gzip
    from datetime import UTC, datetime

    from mlops_core.capture import FirehoseCaptureSink, capture_records
    from mlops_core.prediction import PredictionResult

    records = capture_records(
        model="churn",
        version=3,
        request_id="req-1",
        time=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        instances=[{"tenure_months": 3}],
        result=PredictionResult(predictions=[True], probabilities=None),
    )
    sink = FirehoseCaptureSink(cloud.session.client("firehose"), cloud.stack.outputs["CaptureStreamName"])

    outcome = sink.put(records)

    assert outcome.failed == 0
    [key] = [o["Key"] for o in cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix="capture/")["Contents"]]
    assert key.startswith("capture/churn/dt=2026-11-27/") and key.endswith(".gz")
    body = gzip.decompress(cloud.s3.get_object(Bucket=cloud.bucket, Key=key)["Body"].read())
    assert json.loads(body.splitlines()[0])["request_id"] == "req-1"
