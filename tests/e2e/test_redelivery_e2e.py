"""Events delivered late or again, as EventBridge may: a stale approval never takes the endpoint back."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.event_router import as_aws_sends_it
from mlops_cli.local.runtime import Invocation
from mlops_cli.models_cli import approve_version
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.registry import DynamoDBModelRegistry

from ..conftest import REPO_ROOT


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    parameters = {"ApprovalMetricFloor": "0.55", "DeploymentStrategy": "AllAtOnce"}
    with local_cloud(parameters=parameters, log_stream=io.StringIO()) as running:
        yield running


def _listen(cloud: LocalCloud) -> str:
    sqs, events = cloud.session.client("sqs"), cloud.session.client("events")
    url: str = sqs.create_queue(QueueName="consumer")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = cloud.stack.outputs["EventBusName"]
    events.put_rule(Name="consumer", EventBusName=bus, EventPattern=json.dumps({"source": ["mlops.bundle"]}))
    events.put_targets(Rule="consumer", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
    return url


def _drain(cloud: LocalCloud, url: str) -> list[dict[str, Any]]:
    sqs = cloud.session.client("sqs")
    bodies: list[dict[str, Any]] = []
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _live(cloud: LocalCloud) -> tuple[str, dict[str, float]]:
    alias = cloud.session.client("lambda").get_alias(
        FunctionName=cloud.stack.outputs["PredictFunctionName"], Name="live"
    )
    return alias["FunctionVersion"], alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {})


def _model_live(cloud: LocalCloud, tmp_path: Path, seed: int) -> None:
    data = write_csv(churn_table(800, seed=seed), tmp_path / f"churn-{seed}.csv")
    cloud.s3.upload_file(str(data), cloud.bucket, f"incoming/churn/churn-{seed}.csv")
    cloud.settle()
    registry = DynamoDBModelRegistry(
        cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"]
    )
    latest = registry.latest("churn")
    assert latest is not None
    if latest.status.value == "PendingManualApproval":
        screen = io.StringIO()
        code = approve_version(
            cloud.session, Console(file=screen), f"churn:{latest.version}", stack="mlops-local", actor="alice"
        )
        assert code == 0, screen.getvalue()
        cloud.settle()


def test_an_approval_delivered_after_a_newer_version_went_live_changes_nothing(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given v1 then v2 went live, and the bus's events were kept
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    consumer = _listen(cloud)
    _model_live(cloud, tmp_path, seed=5)
    _model_live(cloud, tmp_path, seed=6)
    published = _drain(cloud, consumer)
    [v1_approved] = [
        e for e in published if e["detail-type"] == "ModelApproved" and e["detail"]["version"] == 1
    ]
    live = _live(cloud)
    deployed = [e["detail"]["version"] for e in published if e["detail-type"] == "ModelDeployed"]
    assert deployed == [1, 2]

    seen: list[Invocation] = []
    cloud.runtime.on_invocation = seen.append
    # When v1's approval is delivered again, late
    cloud.router.route(cloud.stack.outputs["EventBusName"], as_aws_sends_it(v1_approved, cloud.stack.region))
    cloud.settle()

    # Then the endpoint stays on v2 and nothing is announced
    [delivery] = [d for d in cloud.router.deliveries[-1:] if d.detail_type == "ModelApproved"]
    assert delivery.ok
    [invocation] = seen
    assert invocation.result["status"] == "Stale"
    assert _live(cloud) == live
    assert _drain(cloud, consumer) == []
