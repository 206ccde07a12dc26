"""Events delivered late or again, as EventBridge may: a stale approval never takes the endpoint back."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.event_router import as_aws_sends_it
from mlops_cli.local.runtime import Invocation
from mlops_cli.models_cli import approve_version, rollback_alias
from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.registry import DynamoDBModelRegistry

from ..conftest import REPO_ROOT
from .conftest import drain, listen, live_alias


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    parameters = {"ApprovalMetricFloor": "0.55", "DeploymentStrategy": "AllAtOnce"}
    with local_cloud(parameters=parameters, log_stream=io.StringIO()) as running:
        yield running


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
    consumer = listen(cloud)
    _model_live(cloud, tmp_path, seed=5)
    _model_live(cloud, tmp_path, seed=6)
    published = drain(cloud, consumer)
    [v1_approved] = [
        e for e in published if e["detail-type"] == "ModelApproved" and e["detail"]["version"] == 1
    ]
    live = live_alias(cloud)
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
    assert live_alias(cloud) == live
    assert drain(cloud, consumer) == []


def _serving(cloud: LocalCloud) -> str:
    """The model version predict's live alias serves (its bound MODEL_VERSION)."""
    version, weights = live_alias(cloud)
    assert weights == {}
    configuration = cloud.session.client("lambda").get_function_configuration(
        FunctionName=cloud.stack.outputs["PredictFunctionName"], Qualifier=version
    )
    return str(configuration["Environment"]["Variables"]["MODEL_VERSION"])


def test_mlops_models_rollback_of_production_rolls_the_endpoint_back_at_once(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given v1 then v2 went live
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    _model_live(cloud, tmp_path, seed=5)
    _model_live(cloud, tmp_path, seed=6)
    assert _serving(cloud) == "2"
    consumer = listen(cloud)

    # When an operator rolls production back
    screen = io.StringIO()
    code = rollback_alias(
        cloud.session,
        Console(file=screen),
        "churn",
        stack="mlops-local",
        actor="oncall",
        reason="error rate up",
    )
    cloud.settle()

    # Then the registry and the endpoint are both back on v1, announced once
    assert code == 0, screen.getvalue()
    assert "DeploymentRequested published" in screen.getvalue()
    assert _serving(cloud) == "1"
    deployed = [e["detail"] for e in drain(cloud, consumer) if e["detail-type"] == "ModelDeployed"]
    assert [(d["version"], d["strategy"]) for d in deployed] == [(1, "AllAtOnce")]
