"""Approved models go live through the template's rules: all at once first, then by canary, with rollback."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.models_cli import approve_version
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.registry import DynamoDBModelRegistry

from ..conftest import REPO_ROOT
from .conftest import live_alias, predict_live


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    parameters = {
        "ApprovalMetricFloor": "0.55",
        "ApprovalMinImprovement": "0",
        "DeploymentStrategy": "Canary10Percent5Minutes",
    }
    with local_cloud(parameters=parameters, log_stream=io.StringIO()) as running:
        yield running


def _upload(cloud: LocalCloud, tmp_path: Path, seed: int) -> None:
    data = write_csv(churn_table(800, seed=seed), tmp_path / f"churn-{seed}.csv")
    cloud.s3.upload_file(str(data), cloud.bucket, f"incoming/churn/churn-{seed}.csv")
    cloud.settle()


def _predict(cloud: LocalCloud) -> dict[str, object]:
    response = predict_live(cloud)
    assert response["statusCode"] == 200, response
    body: dict[str, object] = json.loads(response["body"])
    return body


def _second_model_approved(cloud: LocalCloud, tmp_path: Path) -> None:
    """Upload more data; approve v2 as a person would if the policy left it pending."""
    _upload(cloud, tmp_path, seed=6)
    if _registry(cloud).get("churn", 2).status.value == "PendingManualApproval":
        screen = io.StringIO()
        code = approve_version(
            cloud.session, Console(file=screen), "churn:2", stack="mlops-local", actor="alice"
        )
        assert code == 0, screen.getvalue()
        cloud.settle()


def _registry(cloud: LocalCloud) -> DynamoDBModelRegistry:
    return DynamoDBModelRegistry(cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"])


def test_the_first_approved_model_goes_live_at_once_and_serves_predictions(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")

    _upload(cloud, tmp_path, seed=5)

    version, weights = live_alias(cloud)
    assert version != "1" and weights == {}  # 1 is the bootstrap version that serves no model
    answer = _predict(cloud)
    assert (answer["model"], answer["version"]) == ("churn", 1)
    production = _registry(cloud).alias("churn", "production")
    assert production is not None and production.version == 1


def test_a_second_model_bakes_as_a_canary_then_takes_all_traffic(cloud: LocalCloud, tmp_path: Path) -> None:
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    _upload(cloud, tmp_path, seed=5)
    first, _ = live_alias(cloud)

    _second_model_approved(cloud, tmp_path)

    stable, weights = live_alias(cloud)
    assert stable == first
    [(canary, weight)] = weights.items()
    assert weight == pytest.approx(0.1)

    cloud.advance(6 * 60)

    assert live_alias(cloud) == (canary, {})
    production = _registry(cloud).alias("churn", "production")
    assert production is not None and production.version == 2


def test_an_alarm_during_the_bake_rolls_the_canary_back(cloud: LocalCloud, tmp_path: Path) -> None:
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    _upload(cloud, tmp_path, seed=5)
    first, _ = live_alias(cloud)
    _second_model_approved(cloud, tmp_path)
    [canary] = live_alias(cloud)[1]
    cloudwatch = cloud.session.client("cloudwatch")
    names = [
        a["AlarmName"]
        for a in cloudwatch.describe_alarms()["MetricAlarms"]
        if a["AlarmName"].endswith(f"-v{canary}-errors") or f"v{canary}" in a["AlarmName"]
    ]
    assert names
    cloudwatch.set_alarm_state(AlarmName=names[0], StateValue="ALARM", StateReason="test: errors")

    cloud.advance(6 * 60)

    assert live_alias(cloud) == (first, {})
    production = _registry(cloud).alias("churn", "production")
    assert production is not None and production.version == 1
