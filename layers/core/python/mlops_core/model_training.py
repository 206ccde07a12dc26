"""Training a validated dataset: the model, its evaluation, its drift baseline, under models/.

The domain side of ``train_model``. For a dataset whose contract has a ``training:``
section, the validated copy is read, a pipeline trained and evaluated on a held-out split,
the drift baseline summarised, and ``model.skops``, ``manifest.json`` and ``baseline.json``
written to ``models/<dataset>/<run>/``; then ModelTrained is published. A dataset without
a training section is skipped; a training section or data that cannot be trained on is
reported (not retried): neither gets better by trying again.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path, PurePosixPath
from typing import Literal

from pydantic import BaseModel, ConfigDict

from mlops_core.contracts import ContractError, contract_key, load_contract
from mlops_core.events import EventPublisher, ModelTrained
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.baseline import compute_baseline
from mlops_core.training.manifest import ARTIFACT_FILE, BASELINE_FILE, MANIFEST_FILE
from mlops_core.training.spec import training_spec
from mlops_core.training.train import TrainingDataError, build_manifest, read_training_frame, train

MODELS = "models"


class TrainingRequest(BaseModel):
    """A validated dataset to train on (from DatasetValidated or RetrainRequested)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    dataset: str
    dataset_key: str
    dataset_sha256: str | None = None
    reason: str
    #: What asked for the run (the validation run id, or the retrain request's time):
    #: the same request always trains into the same folder, so a retry writes nothing twice.
    requested_by: str

    @property
    def run_id(self) -> str:
        digest = hashlib.sha256(f"{self.dataset_key}/{self.requested_by}".encode()).hexdigest()[:10]
        return f"{self.requested_by[:16]}-{digest}"


class TrainingOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dataset: str
    status: Literal["trained", "skipped", "failed"]
    reason: str
    model_prefix: str | None = None
    primary_metric: str | None = None
    primary_value: float | None = None
    seconds: float | None = None


def train_dataset(
    request: TrainingRequest,
    store: ObjectStore,
    publisher: EventPublisher,
    *,
    scratch_dir: Path | None = None,
) -> TrainingOutcome:
    key = contract_key(request.dataset)
    try:
        contract = load_contract(store.read_text(key), source=store.uri(key))
        if contract.training is None:
            return TrainingOutcome(
                dataset=request.dataset, status="skipped", reason="the contract has no training section"
            )
        spec = training_spec(contract, source=store.uri(key))
    except ObjectMissing:
        return TrainingOutcome(dataset=request.dataset, status="failed", reason=f"no contract at {key}")
    except ContractError as error:
        return TrainingOutcome(dataset=request.dataset, status="failed", reason=str(error))
    run_id = request.run_id
    with tempfile.TemporaryDirectory(dir=scratch_dir) as folder:
        local = Path(folder) / PurePosixPath(request.dataset_key).name
        try:
            store.download(request.dataset_key, None, local)
        except ObjectMissing:
            return TrainingOutcome(
                dataset=request.dataset,
                status="failed",
                reason=f"the validated data {store.uri(request.dataset_key)} is gone",
            )
        frame = read_training_frame(local, contract, spec)
    try:
        result = train(frame, contract, spec)
    except TrainingDataError as error:
        return TrainingOutcome(dataset=request.dataset, status="failed", reason=str(error))
    baseline = compute_baseline(frame, contract, spec)
    artifact = save_model(result.pipeline)
    digest = sha256_hex(artifact)
    prefix = f"{MODELS}/{request.dataset}/{run_id}"
    dataset_uri = store.uri(request.dataset_key)
    manifest = build_manifest(
        result,
        contract,
        model_name=request.dataset,
        artifact_sha256=digest,
        dataset_uri=dataset_uri,
        dataset_sha256=request.dataset_sha256,
    )
    store.put_bytes(f"{prefix}/{ARTIFACT_FILE}", artifact)
    store.put_json(f"{prefix}/{BASELINE_FILE}", baseline.model_dump_json(indent=2))
    store.put_json(f"{prefix}/{MANIFEST_FILE}", manifest.model_dump_json(indent=2, by_alias=True))
    publisher.publish(
        [
            ModelTrained(
                model=request.dataset,
                training_run_id=run_id,
                dataset=request.dataset,
                dataset_uri=dataset_uri,
                dataset_sha256=request.dataset_sha256,
                artifact_uri=store.uri(f"{prefix}/{ARTIFACT_FILE}"),
                artifact_sha256=digest,
                manifest_uri=store.uri(f"{prefix}/{MANIFEST_FILE}"),
                baseline_uri=store.uri(f"{prefix}/{BASELINE_FILE}"),
                primary_metric=result.primary_metric,
                metrics=dict(result.metrics),
                trained_at=manifest.trained_at,
            )
        ]
    )
    return TrainingOutcome(
        dataset=request.dataset,
        status="trained",
        reason=f"{result.primary_metric} {result.primary_value:.4g} on {result.test_rows} held-out rows",
        model_prefix=store.uri(prefix),
        primary_metric=result.primary_metric,
        primary_value=result.primary_value,
        seconds=result.seconds,
    )
