"""Property tests of the inputs users and clients control: CSV uploads, contracts, predict
requests and model manifests. The settings profile is registered in tests/conftest.py."""

from __future__ import annotations

import pytest
from hypothesis import settings
from pytest_socket import disable_socket
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import load_contract
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.spec import training_spec
from mlops_core.training.train import build_manifest, train

from ..conftest import REPO_ROOT

CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


def share_of_examples(fraction: float) -> settings:
    """The loaded profile with a fraction of its examples, for the slower properties."""
    return settings(max_examples=max(10, int(settings.default.max_examples * fraction)))


@pytest.fixture(autouse=True)
def _no_network() -> None:
    disable_socket()


class ChurnModel:
    """A trained model's bytes and manifest; shown by its hash alone in a failing example."""

    def __init__(self, artifact: bytes, sha256: str, manifest: str) -> None:
        self.artifact = artifact
        self.sha256 = sha256
        self.manifest = manifest

    def __repr__(self) -> str:
        return f"ChurnModel(sha256={self.sha256[:12]}…)"


@pytest.fixture(scope="session")
def churn_model() -> ChurnModel:
    """A logistic model of the example churn contract, trained once on generated rows."""
    contract = load_contract(CHURN_CONTRACT.read_text())
    spec = training_spec(contract).model_copy(update={"estimator": "logistic_regression", "params": {}})
    with threadpool_limits(1, "openmp"):
        result = train(churn_table(200, seed=3).to_pandas(), contract, spec)
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact))
    return ChurnModel(artifact, sha256_hex(artifact), manifest.model_dump_json(by_alias=True))
