"""Training-data drift: a newly validated file against the production model's baseline."""

from __future__ import annotations

import gzip
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlops_cli.sample_data import churn_table, shifted_churn_table, write_csv
from mlops_core.contracts import load_contract
from mlops_core.drift.training_data import check_training_data, read_rows
from mlops_core.drift_check import report_key
from mlops_core.drift_run import run_training_data_checks
from mlops_core.events import DriftChecked, InMemoryPublisher
from mlops_core.registry.memory import InMemoryModelRegistry
from mlops_core.training.baseline import DriftBaseline

from .fakes import InMemoryObjectStore
from .test_drift_check import CHURN, contract_text, drift_bucket, production_registry

NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
KEY = "validated/churn/20261120T060000Z-abc/churn.csv"


@pytest.fixture
def store() -> InMemoryObjectStore:
    return drift_bucket()


@pytest.fixture
def production() -> InMemoryModelRegistry:
    return production_registry()


def put_csv(
    store: InMemoryObjectStore, tmp_path: Path, table: object, key: str = KEY, zipped: bool = False
) -> str:
    data = write_csv(table, tmp_path / "file.csv").read_bytes()  # type: ignore[arg-type]
    store.put(key, gzip.compress(data) if zipped else data)
    return store.uri(key)


def check(store: InMemoryObjectStore, registry: InMemoryModelRegistry, uri: str) -> list:  # type: ignore[type-arg]
    return check_training_data(
        "churn", uri, registry=registry, store=store, now=NOW, run_id="20261120T060000Z-abc"
    )


def test_data_like_the_training_data_is_ok_and_reported_apart_from_traffic(
    store: InMemoryObjectStore,
    production: InMemoryModelRegistry,
    tmp_path: Path,
) -> None:
    [report] = check(store, production, put_csv(store, tmp_path, churn_table(600, seed=51)))
    assert (report.model, report.version, report.status) == ("churn", 1, "ok")
    assert report.run_id == "data-20261120T060000Z-abc" and report.source_uri == f"s3://data/{KEY}"
    assert store.json(report_key("churn", report.run_id))["status"] == "ok"
    assert "reports/drift/churn/latest.json" not in store.objects  # the traffic check's, untouched


def test_a_shifted_population_drifts_before_any_model_is_trained_on_it(
    store: InMemoryObjectStore,
    production: InMemoryModelRegistry,
    tmp_path: Path,
) -> None:
    uri = put_csv(store, tmp_path, shifted_churn_table(600, seed=52), zipped=True)
    publisher = InMemoryPublisher()
    [outcome] = run_training_data_checks(
        "churn", uri, registry=production, store=store, publisher=publisher, now=NOW, run_id="run-2"
    )
    assert outcome.status == "drift"
    assert {"tenure_months", "monthly_charges", "plan"} <= set(outcome.drifted_features)
    [event] = publisher.published
    assert isinstance(event, DriftChecked)
    assert (event.subject, event.status, event.confirmed) == ("training_data", "drift", False)


def test_rows_are_read_as_the_contract_spells_them(store: InMemoryObjectStore) -> None:
    baseline = DriftBaseline.model_validate_json(store.read_text("models/churn/run-1/baseline.json"))
    contract = load_contract(CHURN.read_text())
    header = "customer_id,tenure_months,monthly_charges,plan,support_tickets,autopay\n"
    lines = ['c1,12,49.5,"pro",1,True\n', "c2,,,basic,0,0\n", "c3,3,9.5,plus,2,1\n"]
    store.put("validated/churn/x/rows.csv", (header + "".join(lines)).encode())
    rows = list(read_rows(store, "validated/churn/x/rows.csv", baseline, contract, max_instances=10))
    assert rows[0] == {
        "tenure_months": "12",
        "monthly_charges": "49.5",
        "plan": "pro",
        "support_tickets": "1",
        "autopay": True,
    }
    assert (rows[1]["tenure_months"], rows[1]["autopay"]) == (None, False)
    assert rows[2]["autopay"] is True


def test_a_large_file_is_sampled_uniformly_to_max_instances(
    store: InMemoryObjectStore, tmp_path: Path
) -> None:
    baseline = DriftBaseline.model_validate_json(store.read_text("models/churn/run-1/baseline.json"))
    put_csv(store, tmp_path, churn_table(3000, seed=53))
    rows = list(read_rows(store, KEY, baseline, None, max_instances=500))
    assert len(rows) == 500
    tenures = [int(r["tenure_months"]) for r in rows]
    everything = [int(r) for r in churn_table(3000, seed=53).column("tenure_months").to_pylist()]
    # the sample's mean is the population's within a few standard errors
    mean, spread = (
        sum(everything) / 3000,
        (sum((t - sum(everything) / 3000) ** 2 for t in everything) / 3000) ** 0.5,
    )
    assert abs(sum(tenures) / 500 - mean) < 4 * spread / 500**0.5


def test_parquet_datasets_are_skipped_with_the_reason(
    store: InMemoryObjectStore,
    production: InMemoryModelRegistry,
) -> None:
    text = contract_text({}).replace("format: csv", "format: parquet")
    if "format: parquet" not in text:
        text = "format: parquet\n" + text
    store.put("contracts/churn.yaml", text.encode())
    store.put("validated/churn/x/data.parquet", b"PAR1")
    [report] = check(store, production, "s3://data/validated/churn/x/data.parquet")
    assert report.status == "skipped" and "Parquet" in (report.reason or "")


def test_datasets_without_a_production_model_are_not_checked(
    store: InMemoryObjectStore, tmp_path: Path
) -> None:
    assert check(store, InMemoryModelRegistry(), put_csv(store, tmp_path, churn_table(100, seed=54))) == []
