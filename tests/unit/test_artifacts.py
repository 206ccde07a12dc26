"""Artifacts: skops round trip, and every reason to refuse to load one."""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
import skops.io as sio
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import DataContract, load_contract
from mlops_core.training.artifacts import (
    TRUSTED_TYPES,
    ArtifactError,
    ArtifactFormatRefused,
    ArtifactTampered,
    IncompatibleVersion,
    SmokeTestFailed,
    UntrustedType,
    load_model,
    save_model,
    sha256_hex,
    smoke_predict,
    synthetic_rows,
)
from mlops_core.training.features import build_pipeline, feature_fields, prepare_features
from mlops_core.training.spec import ESTIMATORS, Task, training_spec
from mlops_core.training.train import train

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"


@pytest.fixture(scope="module")
def contract() -> DataContract:
    contract = load_contract(CHURN.read_text())
    section = dict(contract.training or {}) | {"estimator": "random_forest", "params": {"n_estimators": 10}}
    return contract.model_copy(update={"training": section})


@pytest.fixture(scope="module")
def model(contract: DataContract) -> Pipeline:
    return train(churn_table(400, seed=5).to_pandas(), contract, training_spec(contract)).pipeline


@pytest.fixture(scope="module")
def artifact(model: Pipeline) -> bytes:
    return save_model(model)


def test_round_trip_with_the_right_hash(model: Pipeline, artifact: bytes, contract: DataContract) -> None:
    loaded = load_model(artifact, expected_sha256=sha256_hex(artifact), sklearn_version=sklearn.__version__)

    rows = prepare_features(churn_table(30, seed=1).to_pandas(), feature_fields(contract, "churned"))
    np.testing.assert_array_equal(loaded.predict_proba(rows), model.predict_proba(rows))


def test_one_flipped_byte_is_tampering(artifact: bytes) -> None:
    expected = sha256_hex(artifact)
    corrupted = bytearray(artifact)
    corrupted[len(corrupted) // 2] ^= 0x01

    with pytest.raises(ArtifactTampered, match="changed or corrupted after registration"):
        load_model(bytes(corrupted), expected_sha256=expected)


def test_a_pickle_is_refused_before_it_is_read(model: Pipeline) -> None:
    data = pickle.dumps(model, protocol=5)

    with pytest.raises(ArtifactFormatRefused, match=r"a pickle \(protocol 5\).*skops\.io\.dump"):
        load_model(data, expected_sha256=sha256_hex(data))


def test_a_joblib_zlib_dump_is_refused() -> None:
    data = b"\x78\x9c" + b"\x00" * 32

    with pytest.raises(ArtifactFormatRefused, match="zlib"):
        load_model(data, expected_sha256=sha256_hex(data))


def test_an_untrusted_type_is_named() -> None:
    # Given a skops file of a pipeline whose estimator is not allowlisted
    x = np.random.default_rng(0).random((20, 2))
    data = sio.dumps(Pipeline([("model", KNeighborsRegressor(3))]).fit(x, x[:, 0]))

    # Then loading it names the type outside the allowlist
    with pytest.raises(UntrustedType, match=r"sklearn\.neighbors\._kd_tree\.KDTree") as error:
        load_model(data, expected_sha256=sha256_hex(data))
    assert "sklearn.neighbors._kd_tree.KDTree" in error.value.types


def test_manifest_with_another_sklearn_minor_is_incompatible(artifact: bytes) -> None:
    major, minor = sklearn.__version__.split(".")[:2]
    other = f"{major}.{int(minor) + 1}.0"

    with pytest.raises(IncompatibleVersion, match=f"trained with scikit-learn {other}"):
        load_model(artifact, expected_sha256=sha256_hex(artifact), sklearn_version=other)


def test_inconsistent_version_warning_while_loading_is_incompatible(artifact: bytes) -> None:
    # Given a skops file whose estimators say another scikit-learn pickled them
    source = zipfile.ZipFile(io.BytesIO(artifact))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as target:
        for name in source.namelist():
            content = source.read(name)
            if name == "schema.json":
                content = content.replace(sklearn.__version__.encode(), b"1.0.2")
            target.writestr(name, content)
    data = buffer.getvalue()

    # Then the warning becomes the error
    with pytest.raises(IncompatibleVersion, match="retrain the model"):
        load_model(data, expected_sha256=sha256_hex(data))


def test_every_error_is_an_artifact_error() -> None:
    for kind in (
        ArtifactTampered,
        ArtifactFormatRefused,
        UntrustedType,
        IncompatibleVersion,
        SmokeTestFailed,
    ):
        assert issubclass(kind, ArtifactError)


def test_trusted_types_are_exactly_what_allowlisted_pipelines_need(contract: DataContract) -> None:
    # Given every allowlisted estimator of both tasks, fitted in our pipeline
    frame = churn_table(120, seed=3).to_pandas()
    fields = feature_fields(contract, "churned")
    x = prepare_features(frame, fields)
    needed: set[str] = set()
    for task, y in ((Task.CLASSIFICATION, frame["churned"]), (Task.REGRESSION, frame["monthly_charges"])):
        for choice in ESTIMATORS[task].values():
            params = choice.defaults | ({"n_estimators": 3} if "n_estimators" in choice.defaults else {})
            params |= {"max_iter": 5} if choice.name == "hist_gradient_boosting" else {}
            pipeline = build_pipeline(fields, choice.estimator_class()(**params), choice).fit(x, y)
            needed |= set(sio.get_untrusted_types(data=sio.dumps(pipeline)))

    # Then the allowlist is exactly that set
    assert needed == TRUSTED_TYPES


def test_smoke_predict_passes_on_a_trained_model(model: Pipeline, contract: DataContract) -> None:
    smoke_predict(model, contract, rows=20, seed=0)


def test_smoke_predict_fails_on_a_model_expecting_other_columns(contract: DataContract) -> None:
    # Given a model trained on columns this contract does not have
    frame = pd.DataFrame({"x1": np.arange(40.0), "x2": np.arange(40.0) % 3, "y": np.arange(40) % 2 == 0})
    other = load_contract(
        "dataset: other\ncolumns:\n"
        "  - {name: x1, type: float}\n"
        "  - {name: x2, type: float}\n"
        "  - {name: y, type: boolean, role: target}\n"
    )
    choice = ESTIMATORS[Task.CLASSIFICATION]["logistic_regression"]
    fields = feature_fields(other, "y")
    foreign = build_pipeline(fields, choice.estimator_class()(), choice).fit(
        prepare_features(frame, fields), frame["y"]
    )

    # Then the smoke test on the churn contract fails, saying why
    with pytest.raises(SmokeTestFailed, match="trained on this contract's features"):
        smoke_predict(foreign, contract)


def test_synthetic_rows_meet_the_contract(contract: DataContract) -> None:
    rows = synthetic_rows(feature_fields(contract, "churned"), 200, seed=1)

    assert set(rows["plan"]) <= {"basic", "plus", "pro"}
    assert rows["tenure_months"].dropna().between(0, 600).all()
    assert rows["monthly_charges"].between(0, 10_000).all()
    assert rows["support_tickets"].isna().any()  # nullable: some nulls
    assert not rows["autopay"].isna().any()
