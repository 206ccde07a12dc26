"""Training: the spec's field-named errors, feature selection, fitting, metrics and auto."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli.sample_data import churn_table, write_csv
from mlops_core.contracts import ContractError, DataContract, DataFormat, load_contract
from mlops_core.training.features import feature_columns, feature_signature, prepare_features
from mlops_core.training.spec import ESTIMATORS, Task, TrainingSpec, training_spec
from mlops_core.training.train import TrainingDataError, read_training_frame, train

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"


def churn_contract(**training: Any) -> DataContract:
    contract = load_contract(CHURN.read_text())
    section = {"task": "classification", "target": "churned", "seed": 7} | training
    return contract.model_copy(update={"training": section})


def regression_contract(**training: Any) -> DataContract:
    document = {
        "dataset": "houses",
        "columns": [
            {"name": "house_id", "type": "integer", "role": "id", "unique": True},
            {"name": "area", "type": "float", "min": 10, "max": 400},
            {"name": "rooms", "type": "integer", "min": 1, "max": 12, "nullable": True},
            {"name": "district", "type": "category", "allowed": ["north", "south", "east"]},
            {"name": "garden", "type": "boolean"},
            {"name": "price", "type": "float", "role": "target"},
        ],
        "training": {"task": "regression", "seed": 3} | training,
    }
    return DataContract.model_validate(document)


def house_frame(rows: int, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(20, 300, rows)
    rooms = rng.integers(1, 10, rows).astype(float)
    rooms[rng.random(rows) < 0.05] = np.nan
    district = rng.choice(["north", "south", "east"], rows)
    garden = rng.random(rows) < 0.4
    price = 1500 * area + 8000 * np.nan_to_num(rooms) + np.where(district == "south", 40_000, 0)
    price = price + 20_000 * garden + rng.normal(0, 15_000, rows)
    return pd.DataFrame(
        {
            "house_id": np.arange(rows),
            "area": area,
            "rooms": rooms,
            "district": district,
            "garden": garden,
            "price": price,
        }
    )


@pytest.fixture(autouse=True)
def _one_openmp_thread() -> Iterator[None]:
    # HistGradientBoosting's OpenMP threads spin when the 2 cores are shared with other
    # processes (a 1 s test took 14 s); one thread keeps the timings steady.
    with threadpool_limits(limits=1, user_api="openmp"):
        yield


def field_errors(error: pytest.ExceptionInfo[ContractError]) -> dict[str, str]:
    return {e.field: e.message for e in error.value.errors}


# --- spec ---------------------------------------------------------------------------


def test_churn_contract_training_section_is_valid() -> None:
    # Given the example contract's training section
    spec = training_spec(load_contract(CHURN.read_text()))

    # Then it is the documented one
    assert (spec.task, spec.target, spec.estimator, spec.metric) == (
        Task.CLASSIFICATION,
        "churned",
        "hist_gradient_boosting",
        "roc_auc",
    )
    assert spec.test_fraction == 0.2
    assert spec.seed == 7


def test_target_defaults_to_the_role_target_column() -> None:
    contract = churn_contract()
    contract = contract.model_copy(update={"training": {"task": "classification"}})

    assert training_spec(contract).target == "churned"


def test_unknown_estimator_is_named() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(estimator="xgboost"))

    assert (
        "'xgboost' is not an allowlisted classification estimator"
        in field_errors(error)["training.estimator"]
    )


def test_regression_estimator_refused_for_classification() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(estimator="ridge"))

    assert "training.estimator" in field_errors(error)


def test_param_the_estimator_does_not_accept_is_named() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(estimator="random_forest", params={"n_trees": 10}))

    message = field_errors(error)["training.params.n_trees"]
    assert "RandomForestClassifier has no parameter 'n_trees'" in message
    assert "n_estimators" in message


def test_param_value_out_of_range_is_a_contract_error() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(estimator="random_forest", params={"n_estimators": -1}))

    assert "n_estimators" in field_errors(error)["training.params"]


def test_metric_of_the_other_task_is_named() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(metric="rmse"))

    assert "'rmse' is not a classification metric" in field_errors(error)["training.metric"]


def test_target_not_in_the_contract_is_named() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(target="cancelled"))

    assert "'cancelled' is not a column of the contract" in field_errors(error)["training.target"]


def test_target_must_agree_with_the_role_target_column() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(target="autopay"))

    assert "disagrees with column 'churned'" in field_errors(error)["training.target"]


def test_unknown_key_and_bad_fraction_are_named() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(test_fraction=0.8, epochs=3))

    errors = field_errors(error)
    assert "training.test_fraction" in errors
    assert errors["training.epochs"].startswith("unknown key")


def test_params_with_auto_are_refused() -> None:
    with pytest.raises(ContractError) as error:
        training_spec(churn_contract(estimator="auto", params={"max_iter": 10}))

    assert "training.params" in field_errors(error)


# --- features -----------------------------------------------------------------------


def test_features_exclude_id_pii_timestamp_and_target() -> None:
    names = [c.name for c in feature_columns(churn_contract(), "churned")]

    assert names == ["tenure_months", "monthly_charges", "plan", "support_tickets", "autopay"]


def test_feature_signature_carries_types_ranges_and_allowed_values() -> None:
    signature = {f["name"]: f for f in feature_signature(churn_contract())}

    assert signature["plan"]["allowed"] == ["basic", "plus", "pro"]
    assert signature["plan"]["encoding"] == "category"
    assert signature["autopay"]["encoding"] == "boolean"
    assert (signature["tenure_months"]["min"], signature["tenure_months"]["max"]) == (0, 600)
    assert signature["support_tickets"]["nullable"] is True


def test_prepare_features_normalises_dtypes() -> None:
    from mlops_core.training.features import feature_fields

    frame = pd.DataFrame(
        {
            "tenure_months": pd.array([1, None], dtype="Int64"),
            "monthly_charges": [10.5, 20.0],
            "plan": ["basic", None],
            "support_tickets": [None, 2],
            "autopay": ["true", None],
        }
    )

    prepared = prepare_features(frame, feature_fields(churn_contract(), "churned"))

    assert prepared["tenure_months"].dtype == np.float64
    assert np.isnan(prepared["tenure_months"].iloc[1])
    assert prepared["plan"].dtype == object
    assert prepared["plan"].iloc[0] == "basic"
    assert pd.isna(prepared["plan"].iloc[1])
    assert prepared["autopay"].iloc[0] == 1.0


# --- training -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def churn_frame() -> pd.DataFrame:
    return churn_table(1200, seed=7).to_pandas()


def test_classifier_beats_chance_and_reports_all_metrics(churn_frame: pd.DataFrame) -> None:
    contract = churn_contract(estimator="hist_gradient_boosting", params={"max_iter": 40})

    result = train(churn_frame, contract, training_spec(contract))

    assert set(result.metrics) == {"roc_auc", "f1", "accuracy", "log_loss"}
    assert result.metrics["roc_auc"] > 0.6
    assert result.primary_metric == "roc_auc"
    assert result.primary_value == result.metrics["roc_auc"]
    assert (result.train_rows, result.test_rows) == (960, 240)
    assert result.classes == [False, True]


def test_training_is_deterministic_given_the_seed(churn_frame: pd.DataFrame) -> None:
    contract = churn_contract(estimator="random_forest", params={"n_estimators": 15})
    spec = training_spec(contract)

    first, second = train(churn_frame, contract, spec), train(churn_frame, contract, spec)

    assert first.metrics == second.metrics
    assert first.feature_importance == second.feature_importance


def test_importance_names_are_contract_columns_sorted(churn_frame: pd.DataFrame) -> None:
    contract = churn_contract(estimator="logistic_regression")

    result = train(churn_frame, contract, training_spec(contract))

    names = [f.feature for f in result.feature_importance]
    assert sorted(names) == sorted(c.name for c in feature_columns(contract, "churned"))
    means = [f.importance_mean for f in result.feature_importance]
    assert means == sorted(means, reverse=True)
    assert names[0] == "tenure_months"  # the strongest effect in the generator


def test_regressor_reports_rmse_mae_r2() -> None:
    contract = regression_contract(estimator="ridge", metric="mae")

    result = train(house_frame(600), contract, training_spec(contract))

    assert set(result.metrics) == {"rmse", "mae", "r2"}
    assert result.metrics["r2"] > 0.8
    assert result.primary_metric == "mae"
    assert result.classes is None


def test_auto_records_every_candidate_and_keeps_the_best() -> None:
    contract = regression_contract(estimator="auto", metric="rmse", time_budget_seconds=120)

    result = train(house_frame(400), contract, training_spec(contract))

    assert [c.estimator for c in result.candidates] == list(ESTIMATORS[Task.REGRESSION])
    assert all(c.status == "trained" and c.cv_score is not None for c in result.candidates)
    best = min(result.candidates, key=lambda c: c.cv_score or np.inf)  # rmse: lower is better
    assert result.estimator == best.estimator


def test_auto_stops_starting_candidates_when_the_budget_is_spent(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlops_core.training import train as train_module

    clock = iter(float(i) * 100 for i in range(1000))
    monkeypatch.setattr(train_module, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    contract = regression_contract(estimator="auto", time_budget_seconds=150)

    result = train(house_frame(200), contract, training_spec(contract))

    statuses = [c.status for c in result.candidates]
    assert statuses[0] == "trained"
    assert statuses[-1] == "skipped"
    assert len(statuses) == len(ESTIMATORS[Task.REGRESSION])
    assert "time budget of 150 s" in (result.candidates[-1].reason or "")


def test_one_class_target_is_a_training_data_error(churn_frame: pd.DataFrame) -> None:
    contract = churn_contract(estimator="logistic_regression")
    frame = churn_frame.assign(churned=False)

    with pytest.raises(TrainingDataError, match="one class only"):
        train(frame, contract, training_spec(contract))


def test_read_training_frame_from_csv(tmp_path: Path) -> None:
    contract = churn_contract()
    path = write_csv(churn_table(150, seed=2), tmp_path / "churn.csv")

    frame = read_training_frame(path, contract, training_spec(contract))

    assert list(frame.columns) == [
        "tenure_months",
        "monthly_charges",
        "plan",
        "support_tickets",
        "autopay",
        "churned",
    ]
    assert len(frame) == 150
    assert frame["churned"].dtype == bool


def test_spec_without_contract_has_no_target() -> None:
    with pytest.raises(ValueError, match="training_spec"):
        _ = TrainingSpec(task=Task.CLASSIFICATION).target_column


def test_read_training_frame_from_parquet_without_pyarrow_at_read_time(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    contract = churn_contract().model_copy(update={"format": DataFormat.PARQUET})
    path = tmp_path / "churn.parquet"
    pq.write_table(churn_table(120, seed=3), path)

    frame = read_training_frame(path, contract, training_spec(contract))

    assert len(frame) == 120
    assert set(frame.columns) == {
        "tenure_months",
        "monthly_charges",
        "plan",
        "support_tickets",
        "autopay",
        "churned",
    }
