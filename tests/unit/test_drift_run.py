"""A run of the drift function: every model checked, events, one alert per confirmation, retraining."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.sample_data import churn_table
from mlops_core.drift.state import QUALITY_STATE_KEY, InMemoryDriftStateStore
from mlops_core.drift_check import DriftReport
from mlops_core.drift_run import InMemoryAlerts, html_key, latest_validated, run_drift_checks
from mlops_core.events import (
    DriftChecked,
    DriftDetected,
    InMemoryPublisher,
    ModelQualityDegraded,
    RetrainRequested,
)
from mlops_core.registry.entities import Lineage
from mlops_core.registry.memory import InMemoryModelRegistry

from .fakes import InMemoryObjectStore
from .test_drift_check import capture, contract_text, drift_bucket, shifted

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
TRAINED_ON = "validated/churn/20261101T000000Z-aaaaaaaaaa/churn.csv"
NEWER = "validated/churn/20261115T000000Z-bbbbbbbbbb/churn.csv"


@pytest.fixture
def store() -> InMemoryObjectStore:
    return drift_bucket()


@pytest.fixture
def registry() -> InMemoryModelRegistry:
    registry = InMemoryModelRegistry()
    registry.register(
        "churn",
        artifact_uri="s3://data/models/churn/run-1/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri="s3://data/models/churn/run-1/manifest.json",
        baseline_uri="s3://data/models/churn/run-1/baseline.json",
        metrics={"roc_auc": 0.8, "accuracy": 0.9},
        primary_metric="roc_auc",
        lineage=Lineage(dataset_uri=f"s3://data/{TRAINED_ON}", contract_version=1, contract_sha256="b" * 64),
        actor="test",
    )
    registry.approve("churn", 1, actor="test")
    registry.promote("churn", 1, actor="test")
    return registry


class Run:
    def __init__(self, store: InMemoryObjectStore, registry: InMemoryModelRegistry) -> None:
        self.store, self.registry = store, registry
        self.states = InMemoryDriftStateStore()
        self.publisher = InMemoryPublisher()
        self.alerts = InMemoryAlerts()

    def __call__(self, run_id: str, models: list[str] | None = None, **options: Any) -> Any:
        return run_drift_checks(
            models,
            registry=self.registry,
            store=self.store,
            states=self.states,
            publisher=self.publisher,
            alerts=self.alerts,
            now=NOW,
            run_id=run_id,
            **options,
        )

    def events(self, kind: type) -> list[Any]:
        return [e for e in self.publisher.published if isinstance(e, kind)]


@pytest.fixture
def run(store: InMemoryObjectStore, registry: InMemoryModelRegistry) -> Run:
    return Run(store, registry)


def test_stable_traffic_is_checked_and_evented_without_an_alert(run: Run) -> None:
    capture(run.store, "2026-11-20", churn_table(300, seed=2).to_pylist())
    outcome = run("r1")
    [check] = outcome.models
    assert (check.model, check.status, check.version, check.confirmed) == ("churn", "ok", 1, False)
    assert check.report_uri == "s3://data/reports/drift/churn/r1.json"
    assert set(check.features) == {"tenure_months", "monthly_charges", "plan", "support_tickets", "autopay"}
    [checked] = run.events(DriftChecked)
    assert (checked.status, checked.run_id, checked.report_uri) == ("ok", "r1", check.report_uri)
    assert run.events(DriftDetected) == [] and run.alerts.sent == []
    assert outcome.failed == [] and outcome.drifting == []


def test_a_confirmed_drift_alerts_once_and_retrains_on_newer_validated_data(run: Run) -> None:
    capture(run.store, "2026-11-20", shifted(400, seed=3))
    run.store.put(TRAINED_ON, b"a,b\n")
    run.store.put(NEWER, b"a,b\n")

    first, second, third = run("r1"), run("r2"), run("r3")

    assert [o.models[0].alert for o in (first, second, third)] == [False, True, False]
    assert [o.drifting for o in (first, second, third)] == [[], ["churn"], ["churn"]]
    [detected] = run.events(DriftDetected)
    assert (detected.run_id, detected.recent, detected.retrain_requested) == ("r2", [True, True], True)
    [retrain] = run.events(RetrainRequested)
    assert (retrain.dataset, retrain.dataset_uri) == ("churn", f"s3://data/{NEWER}")
    assert "monthly_charges" in retrain.reason
    [(subject, message)] = run.alerts.sent
    assert subject == "[mlops] drift confirmed: churn v1"
    assert "2 of its last 2 checks drifted" in message
    assert f"Retraining was requested on s3://data/{NEWER}" in message
    assert len(run.events(DriftChecked)) == 3


def test_no_retraining_on_the_data_the_version_was_trained_on(run: Run) -> None:
    capture(run.store, "2026-11-20", shifted(400, seed=4))
    run.store.put(TRAINED_ON, b"a,b\n")
    run("r1")
    outcome = run("r2")
    assert run.events(RetrainRequested) == [] and run.events(DriftDetected)[0].retrain_requested is False
    reason = outcome.models[0].reason
    assert reason is not None and "trained on the newest validated data" in reason
    assert "upload fresh labelled data to incoming/churn/" in run.alerts.sent[0][1]


def test_the_stack_can_forbid_retraining(run: Run) -> None:
    capture(run.store, "2026-11-20", shifted(400, seed=5))
    run.store.put(NEWER, b"a,b\n")
    run("r1", retrain_allowed=False)
    run("r2", retrain_allowed=False)
    assert run.events(RetrainRequested) == [] and len(run.alerts.sent) == 1


def test_one_models_failure_does_not_stop_the_others(run: Run) -> None:
    capture(run.store, "2026-11-20", churn_table(300, seed=6).to_pylist())
    run.registry.register(
        "broken",
        artifact_uri="s3://data/models/broken/m.skops",
        artifact_sha256="c" * 64,
        manifest_uri="s3://data/models/broken/manifest.json",
        baseline_uri="s3://data/models/broken/missing-baseline.json",
        metrics={"roc_auc": 0.8},
        primary_metric="roc_auc",
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        actor="test",
    )
    run.registry.approve("broken", 1, actor="test")
    run.registry.promote("broken", 1, actor="test")

    outcome = run("r1")

    statuses = {m.model: m.status for m in outcome.models}
    assert statuses == {"broken": "failed", "churn": "ok"}
    assert outcome.failed == ["broken"]
    broken = next(m for m in outcome.models if m.model == "broken")
    assert broken.reason is not None and "missing-baseline.json" in broken.reason
    assert broken.error is not None and "Traceback" in broken.error


def test_models_without_a_production_version_are_skipped_quietly(run: Run) -> None:
    outcome = run("r1", models=["nobody"])
    assert [(m.model, m.status, m.reason) for m in outcome.models] == [
        ("nobody", "skipped", "no production version")
    ]
    assert run.publisher.published == []


def test_the_html_report_is_written_beside_the_json(run: Run) -> None:
    capture(run.store, "2026-11-20", churn_table(300, seed=7).to_pylist())

    def page(report: DriftReport) -> str:
        return f"<html>{report.model} {report.status}</html>"

    run("r1", render_html=page)
    assert run.store.objects[html_key("churn", "r1")][-1] == b"<html>churn ok</html>"
    assert run.store.objects[html_key("churn", "latest")][-1] == b"<html>churn ok</html>"


def test_latest_validated_is_the_newest_run(store: InMemoryObjectStore) -> None:
    assert latest_validated(store, "churn") is None
    store.put(NEWER, b"x")
    store.put(TRAINED_ON, b"x")
    assert latest_validated(store, "churn") == f"s3://data/{NEWER}"


def test_the_functions_handler_loads_only_what_its_layers_hold() -> None:
    """check_drift ships with the core, runtime and numpy layers: no pandas, pyarrow, sklearn or scipy.

    The handler imports every drift module it runs (the window reader, the comparison, the
    HTML renderer, the quality and training-data checks), so this covers them all.
    """
    root = Path(__file__).resolve().parents[2]
    handler = str(root / "functions" / "check_drift" / "app.py")
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('app', {handler!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "print(sorted(m for m in ('pandas', 'pyarrow', 'sklearn', 'scipy', 'jinja2', 'matplotlib') "
        "if m in sys.modules))\n"
    )
    environment = {
        **os.environ,
        "PYTHONPATH": str(root / "layers" / "core" / "python"),
        "AWS_DEFAULT_REGION": "eu-west-1",
        "DATA_BUCKET": "data-bucket",
        "EVENT_BUS_NAME": "bus",
        "REGISTRY_TABLE": "registry",
        "ALERT_TOPIC_ARN": "arn:aws:sns:eu-west-1:123456789012:alerts",
        "POWERTOOLS_SERVICE_NAME": "check_drift",
    }
    result = subprocess.run(
        [sys.executable, "-c", code], env=environment, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]", result.stderr


def test_a_confirmed_quality_drop_on_ground_truth_is_evented_and_alerted_once(run: Run) -> None:
    drift = {"window_days": 3, "quality": {"metric": "accuracy", "min_labels": 50, "max_drop": 0.1}}
    run.store.put("contracts/churn.yaml", contract_text(drift).encode())
    capture(run.store, "2026-11-20", churn_table(200, seed=8).to_pylist())  # every prediction is False
    labels = "request_id,label\n" + "".join(f"req-{i},true\n" for i in range(200))
    run.store.put("ground-truth/churn/labels.csv", labels.encode())
    quality_states = InMemoryDriftStateStore(key=QUALITY_STATE_KEY)

    first = run("r1", quality_states=quality_states).models[0].quality
    second = run("r2", quality_states=quality_states).models[0].quality
    third = run("r3", quality_states=quality_states).models[0].quality

    assert first is not None and second is not None and third is not None
    assert (first.status, first.metric, first.value, first.labels) == ("degraded", "accuracy", 0.0, 200)
    assert first.drop == pytest.approx(0.9)
    assert [q.alert for q in (first, second, third)] == [False, True, False]
    [degraded] = run.events(ModelQualityDegraded)
    assert (degraded.metric, degraded.value, degraded.registered, degraded.run_id) == (
        "accuracy",
        0.0,
        0.9,
        "r2",
    )
    assert degraded.report_uri == "s3://data/reports/quality/churn/r2.json"
    [(subject, message)] = run.alerts.sent
    assert subject == "[mlops] quality dropped: churn v1"
    assert "accuracy 0 against 0.9" in message
    assert run.store.json("reports/quality/churn/latest.json")["status"] == "degraded"


def test_without_labels_the_quality_check_waits_and_says_why(run: Run) -> None:
    capture(run.store, "2026-11-20", churn_table(200, seed=9).to_pylist())
    outcome = run("r1", quality_states=InMemoryDriftStateStore(key=QUALITY_STATE_KEY))
    measured = outcome.models[0].quality
    assert measured is not None and measured.status == "skipped" and not measured.alert
    assert measured.reason == "no ground-truth files under ground-truth/churn/"
    assert run.events(ModelQualityDegraded) == []
