"""One drift check of a model: production baseline vs the capture window, with K-of-N confirmation."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_cli.sample_data import churn_table
from mlops_core.capture import CaptureRecord
from mlops_core.contracts import load_contract
from mlops_core.drift.state import DriftState, InMemoryDriftStateStore
from mlops_core.drift_check import check_model_drift, latest_key, report_key
from mlops_core.registry.entities import Lineage
from mlops_core.registry.memory import InMemoryModelRegistry
from mlops_core.training.baseline import compute_baseline
from mlops_core.training.spec import training_spec

from .fakes import InMemoryObjectStore

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")


def contract_text(drift: dict[str, Any]) -> str:
    document = yaml.safe_load(CHURN.read_text())
    document["drift"] = drift
    return yaml.safe_dump(document)


@pytest.fixture
def store() -> InMemoryObjectStore:
    return drift_bucket()


def drift_bucket() -> InMemoryObjectStore:
    """The churn contract (3-day window, 2 of 3 confirm, retrain) and v1's baseline."""
    store = InMemoryObjectStore("data")
    text = contract_text({"window_days": 3, "confirm": {"runs": 3, "drifted": 2}, "retrain": True})
    store.put("contracts/churn.yaml", text.encode())
    contract = load_contract(text)
    baseline = compute_baseline(churn_table(3000, seed=4).to_pandas(), contract, training_spec(contract))
    store.put("models/churn/run-1/baseline.json", baseline.model_dump_json().encode())
    return store


@pytest.fixture
def registry() -> InMemoryModelRegistry:
    return production_registry()


def production_registry() -> InMemoryModelRegistry:
    """churn v1, approved and in production, with the baseline drift_bucket() holds."""
    registry = InMemoryModelRegistry()
    registry.register(
        "churn",
        artifact_uri="s3://data/models/churn/run-1/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri="s3://data/models/churn/run-1/manifest.json",
        baseline_uri="s3://data/models/churn/run-1/baseline.json",
        metrics={"roc_auc": 0.8},
        primary_metric="roc_auc",
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        actor="test",
    )
    registry.approve("churn", 1, actor="test")
    registry.promote("churn", 1, actor="test")
    return registry


def capture(store: InMemoryObjectStore, day: str, rows: list[dict[str, Any]], version: int = 1) -> None:
    records = [
        CaptureRecord(
            model="churn",
            version=version,
            request_id=f"req-{i}",
            time=datetime.fromisoformat(f"{day}T09:00:00+00:00"),
            index=0,
            features={k: row[k] for k in FEATURES},
            prediction=False,
        )
        for i, row in enumerate(rows)
    ]
    body = gzip.compress(b"".join(r.to_line() for r in records))
    store.put(f"capture/churn/dt={day}/part-{len(store.keys(f'capture/churn/dt={day}/'))}.gz", body)


def shifted(rows: int, seed: int) -> list[dict[str, Any]]:
    table = churn_table(rows, seed=seed).to_pylist()
    for row in table:
        row["monthly_charges"] += 40.0
        row["plan"] = "pro"
        row["tenure_months"] = 70
    return table


def run(
    store: InMemoryObjectStore,
    registry: InMemoryModelRegistry,
    run_id: str,
    now: datetime = NOW,
    states: InMemoryDriftStateStore | None = None,
) -> Any:
    return check_model_drift(
        "churn",
        registry=registry,
        store=store,
        states=states if states is not None else _STATES,
        now=now,
        run_id=run_id,
    )


_STATES = InMemoryDriftStateStore()


@pytest.fixture(autouse=True)
def _fresh_states() -> None:
    _STATES.states.clear()


def test_traffic_like_the_training_data_is_stable_and_reported(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-19", churn_table(300, seed=21).to_pylist())
    capture(store, "2026-11-20", churn_table(300, seed=22).to_pylist())
    capture(store, "2026-11-10", shifted(300, seed=23))  # outside the 3-day window

    report = run(store, registry, "r1")

    assert (report.status, report.version, report.drifted_features) == ("ok", 1, [])
    assert report.window is not None and report.window.records == 600
    assert str(report.window.start) == "2026-11-18" and report.window.files == 2
    assert store.json(report_key("churn", "r1")) == store.json(latest_key("churn"))
    assert store.json(latest_key("churn"))["status"] == "ok"
    assert report.recent == [False] and not report.confirmed and not report.alert
    assert report.prediction is not None and report.prediction.kind == "categorical"


def test_a_drift_is_confirmed_by_k_of_n_runs_and_asks_for_retraining(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=31))

    first = run(store, registry, "r1")
    assert first.status == "drift" and first.dataset_drift
    assert first.drift_share is not None and first.drift_share >= 0.5
    assert {"monthly_charges", "plan", "tenure_months"} <= set(first.drifted_features)
    assert (first.recent, first.confirmed, first.alert, first.retrain) == ([True], False, False, False)

    second = run(store, registry, "r2")
    assert (second.recent, second.confirmed, second.alert, second.retrain) == ([True, True], True, True, True)

    third = run(store, registry, "r3")  # still confirmed: no second alert
    assert third.recent == [True, True, True]
    assert (third.confirmed, third.alert, third.retrain) == (True, False, False)


def test_the_alert_re_arms_once_the_drift_is_no_longer_confirmed(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=32))
    assert [run(store, registry, f"r{n}").alert for n in (1, 2)] == [False, True]
    _STATES.states["churn"] = _STATES.states["churn"].model_copy(update={"recent": [False, False]})
    quiet = run(store, registry, "r3")
    assert quiet.recent == [False, False, True] and not quiet.confirmed
    again = run(store, registry, "r4")
    assert again.confirmed and again.alert


def test_a_new_production_version_starts_its_own_history(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=41))
    run(store, registry, "r1")
    # the state was of another version, confirmed
    _STATES.states["churn"] = _STATES.states["churn"].model_copy(
        update={"version": 7, "recent": [True, True], "confirmed": True}
    )
    report = run(store, registry, "r2")
    assert report.recent == [True] and not report.confirmed


def test_too_little_traffic_is_insufficient_data_and_keeps_the_history(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=51))
    run(store, registry, "r1")
    later = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # the window has moved past the traffic
    capture(store, "2026-11-30", churn_table(5, seed=52).to_pylist())

    report = run(store, registry, "r2", now=later)

    assert report.status == "insufficient_data"
    assert report.reason is not None and "min_samples=30" in report.reason and "5 captured" in report.reason
    assert report.recent == [True] and not report.confirmed


def test_only_the_production_versions_traffic_is_compared(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", churn_table(300, seed=61).to_pylist(), version=1)
    capture(store, "2026-11-20", shifted(300, seed=62), version=2)  # a canary's traffic
    report = run(store, registry, "r1")
    assert report.status == "ok" and report.window is not None and report.window.records == 300


def test_ignored_features_and_per_feature_methods_come_from_the_contract(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    store.put(
        "contracts/churn.yaml",
        contract_text(
            {"features": {"plan": {"ignore": True}, "monthly_charges": {"method": "psi", "threshold": 0.2}}}
        ).encode(),
    )
    capture(store, "2026-11-20", shifted(300, seed=71))
    report = run(store, registry, "r1")
    by_name = report.features
    assert "plan" not in by_name
    assert (by_name["monthly_charges"].method, by_name["monthly_charges"].threshold) == ("psi", 0.2)


def test_the_sections_method_applies_to_every_feature_without_its_own(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    store.put(
        "contracts/churn.yaml",
        contract_text({"method": "psi", "features": {"plan": {"method": "chi_square"}}}).encode(),
    )
    capture(store, "2026-11-20", churn_table(300, seed=81).to_pylist())
    methods = {name: f.method for name, f in run(store, registry, "r1").features.items()}
    assert methods == {
        "tenure_months": "psi",
        "monthly_charges": "psi",
        "plan": "chi_square",
        "support_tickets": "psi",
        "autopay": "psi",
    }


def test_a_model_without_a_production_version_is_skipped_with_the_reason(store: InMemoryObjectStore) -> None:
    report = check_model_drift(
        "churn", registry=InMemoryModelRegistry(), store=store, states=_STATES, now=NOW, run_id="r1"
    )
    assert (report.status, report.reason, report.version) == ("skipped", "no production version", None)
    assert store.json(report_key("churn", "r1"))["status"] == "skipped"


def test_a_verdict_written_by_a_concurrent_check_is_kept(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=91))

    class Racing(InMemoryDriftStateStore):
        """Another check of the model records its verdict between this one's read and write."""

        raced = False

        def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
            if not self.raced:
                self.raced = True
                other = DriftState(model="churn", version=1, recent=[True], run_id="other", updated_at=NOW)
                self.states["churn"] = other
            super().put(state, expected_run_id=expected_run_id)

    racing = Racing()
    report = run(store, registry, "r1", states=racing)
    assert report.recent == [True, True] and report.confirmed and report.alert
    assert racing.states["churn"].run_id == "r1"


def test_data_quality_against_the_contract_is_counted(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    rows = churn_table(300, seed=95).to_pylist()
    rows[0]["monthly_charges"] = "n/a"  # a type error
    rows[1]["plan"] = "platinum"  # not an allowed value
    rows[2]["tenure_months"] = -5  # below the contract's min
    capture(store, "2026-11-20", rows)
    features = run(store, registry, "r1").features
    assert features["monthly_charges"].quality.type_errors == 1
    assert features["plan"].quality.out_of_range == 1
    assert features["tenure_months"].quality.out_of_range == 1
    assert features["autopay"].quality.model_dump() == {
        "nulls": 0,
        "unexpected_nulls": 0,
        "type_errors": 0,
        "out_of_range": 0,
    }


def test_a_retried_run_records_its_verdict_once_and_alerts_again(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    capture(store, "2026-11-20", shifted(400, seed=97))
    run(store, registry, "r1")
    second = run(store, registry, "r2")
    retried = run(store, registry, "r2")  # the same scheduled run, invoked again after a failure
    assert second.recent == retried.recent == [True, True]
    assert second.alert and retried.alert
    assert run(store, registry, "r3").recent == [True, True, True]
