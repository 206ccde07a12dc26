"""Drift in the local cloud: the scheduled check on captured traffic, alerts, events and retraining."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.demo import read_alert_inbox, subscribe_alert_inbox
from mlops_cli.drift_cli import request_run
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.function_urls import url_event
from mlops_cli.sample_data import churn_table, shifted_churn_table, write_csv
from mlops_core.registry import DynamoDBModelRegistry

from ..conftest import REPO_ROOT

FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")
HOUR = 3600


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    parameters = {
        "ApprovalMetricFloor": "0.55",
        "ApprovalMinImprovement": "0",
        "DeploymentStrategy": "AllAtOnce",
    }
    with local_cloud(parameters=parameters, log_stream=io.StringIO()) as running:
        yield running


def _live_model(cloud: LocalCloud, tmp_path: Path) -> None:
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    data = write_csv(churn_table(800, seed=5), tmp_path / "churn-5.csv")
    cloud.s3.upload_file(str(data), cloud.bucket, "incoming/churn/churn-5.csv")
    cloud.settle()
    production = _registry(cloud).alias("churn", "production")
    assert production is not None and production.version == 1


def _registry(cloud: LocalCloud) -> DynamoDBModelRegistry:
    return DynamoDBModelRegistry(cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"])


def _traffic(cloud: LocalCloud, rows: list[dict[str, Any]]) -> None:
    predict = cloud.stack.function("PredictFunction")
    instances = [{k: row[k] for k in FEATURES} for row in rows]
    body = json.dumps({"instances": instances}).encode()
    event = url_event("POST", "/predict", {"content-type": "application/json"}, body, predict)
    response = cloud.runtime.invoke(predict, event, "live")
    assert response["statusCode"] == 200, response


def _latest(cloud: LocalCloud) -> dict[str, Any]:
    body = cloud.s3.get_object(Bucket=cloud.bucket, Key="reports/drift/churn/latest.json")["Body"].read()
    document: dict[str, Any] = json.loads(body)
    return document


def test_drifted_traffic_is_confirmed_alerted_once_and_retrained(cloud: LocalCloud, tmp_path: Path) -> None:
    _live_model(cloud, tmp_path)
    inbox = subscribe_alert_inbox(cloud)

    # Traffic like the training data: the hourly check finds nothing
    _traffic(cloud, churn_table(300, seed=30).to_pylist())
    cloud.advance(HOUR)
    first = _latest(cloud)
    assert (first["status"], first["version"], first["recent"]) == ("ok", 1, [False])
    assert first["run_id"].endswith("-scheduled")
    page = cloud.s3.get_object(Bucket=cloud.bucket, Key="reports/drift/churn/latest.html")["Body"].read()
    assert page.count(b"<svg") >= len(FEATURES) and b"churn" in page
    assert set(first["importance"]) == set(FEATURES)  # from v1's manifest, shown beside the drift

    # Then the population shifts: one drifted check is not yet an alert (2 of 3 confirm)
    _traffic(cloud, shifted_churn_table(600, seed=31).to_pylist())
    cloud.advance(HOUR)
    second = _latest(cloud)
    assert second["status"] == "drift" and not second["confirmed"] and read_alert_inbox(cloud, inbox) == []
    assert {"monthly_charges", "plan"} <= set(second["drifted_features"])

    # Newer validated data than v1 was trained on is there (its own model was not promoted)
    newer = write_csv(churn_table(800, seed=7), tmp_path / "churn-7.csv")
    cloud.s3.upload_file(str(newer), cloud.bucket, "validated/churn/29991231T000000Z-0000000000/churn-7.csv")

    # The next check confirms the drift: one alert, DriftDetected, and retraining on that data
    cloud.advance(HOUR)
    third = _latest(cloud)
    assert (third["recent"], third["confirmed"], third["alert"]) == ([False, True, True], True, True)
    [(subject, message)] = read_alert_inbox(cloud, inbox)
    assert subject == "[mlops] drift confirmed: churn v1"
    assert "monthly_charges" in message
    assert "Retraining was requested on s3://" in message and "churn-7.csv" in message
    [retrained] = [v for v in _registry(cloud).list_versions("churn") if v.version == 2]
    assert retrained.lineage.dataset_uri is not None and retrained.lineage.dataset_uri.endswith("churn-7.csv")

    # Still drifting an hour later (v2 is not promoted): confirmed, but nobody is paged again
    if _registry(cloud).get("churn", 2).status.value == "PendingManualApproval":
        _registry(cloud).reject("churn", 2, actor="test", reason="keep v1 live for the test")
    production = _registry(cloud).alias("churn", "production")
    assert production is not None
    cloud.advance(HOUR)
    fourth = _latest(cloud)
    if production.version == 1:
        assert (fourth["confirmed"], fourth["alert"]) == (True, False)
        assert read_alert_inbox(cloud, inbox) == []
    else:  # v2 went live: its history starts afresh
        assert (fourth["version"], fourth["recent"]) == (2, [fourth["status"] == "drift"])


def test_mlops_drift_run_checks_now_and_prints_each_models_verdict(cloud: LocalCloud, tmp_path: Path) -> None:
    _live_model(cloud, tmp_path)
    _traffic(cloud, shifted_churn_table(300, seed=40).to_pylist())
    screen = io.StringIO()

    code = request_run(
        Console(file=screen, width=200),
        ["churn", "nobody"],
        stack="mlops-local",
        session=cloud.session,
        actor="alice",
        wait=cloud.settle,
    )

    output = screen.getvalue()
    assert code == 1, output  # churn drifted
    assert "drift check" in output and "churn" in output and "monthly_charges" in output
    assert "skipped (no production version)" in output
    run_id = output.split("drift check ")[1].split()[0]
    stored = cloud.s3.get_object(Bucket=cloud.bucket, Key=f"reports/drift/churn/{run_id}.json")["Body"].read()
    assert json.loads(stored)["status"] == "drift"


def test_mlops_drift_run_times_out_with_a_named_error_when_no_check_answers(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    _live_model(cloud, tmp_path)
    screen = io.StringIO()
    code = request_run(
        Console(file=screen, width=200),
        ["churn"],
        stack="mlops-local",
        session=cloud.session,
        actor="alice",
        timeout=0.01,
        wait=lambda: None,  # nothing delivers the event: no report can come
    )
    assert code == 1
    assert "no report of run" in screen.getvalue() and "mlops drift report MODEL --run" in screen.getvalue()


def test_a_validated_upload_is_compared_with_the_production_models_baseline(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    _live_model(cloud, tmp_path)
    shifted = write_csv(shifted_churn_table(800, seed=60), tmp_path / "churn-next.csv")

    cloud.s3.upload_file(str(shifted), cloud.bucket, "incoming/churn/churn-next.csv")
    cloud.settle()

    listing = cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix="reports/drift/churn/data-")
    [key] = [item["Key"] for item in listing.get("Contents", [])]
    report = json.loads(cloud.s3.get_object(Bucket=cloud.bucket, Key=key)["Body"].read())
    assert (report["status"], report["version"]) == ("drift", 1)
    assert report["source_uri"].endswith("churn-next.csv") and "plan" in report["drifted_features"]
