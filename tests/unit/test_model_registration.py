"""register_model's domain: verification first, then a version, then the approval policy."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli.sample_data import churn_table
from mlops_core.approval import ApprovalPolicy
from mlops_core.contracts import DataContract, load_contract
from mlops_core.events import InMemoryPublisher, ModelRejected
from mlops_core.model_registration import ModelSubmission, RegistrationOutcome, register_model
from mlops_core.registry import InMemoryModelRegistry, ModelStatus
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.spec import training_spec
from mlops_core.training.train import build_manifest, train

from ..conftest import REPO_ROOT
from .fakes import InMemoryObjectStore

FLOOR = ApprovalPolicy(metric_floor=0.55, min_improvement=0.01)


@dataclass(frozen=True)
class TrainedModel:
    artifact: bytes
    manifest: str
    roc_auc: float


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_contract((REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_text())


@pytest.fixture(scope="module")
def trained(contract: DataContract) -> Callable[[int], TrainedModel]:
    """A logistic model of churn trained on generated data, one per seed."""
    cache: dict[int, TrainedModel] = {}

    def make(seed: int) -> TrainedModel:
        if seed not in cache:
            spec = training_spec(contract).model_copy(
                update={"estimator": "logistic_regression", "params": {}}
            )
            with threadpool_limits(1, "openmp"):
                result = train(churn_table(600, seed=seed).to_pandas(), contract, spec)
            artifact = save_model(result.pipeline)
            manifest = build_manifest(
                result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact)
            )
            cache[seed] = TrainedModel(
                artifact, manifest.model_dump_json(by_alias=True), result.primary_value
            )
        return cache[seed]

    return make


@dataclass
class World:
    store: InMemoryObjectStore
    registry: InMemoryModelRegistry
    publisher: InMemoryPublisher

    def submit(
        self, model: TrainedModel, folder: str = "models/churn/run-1", **changes: object
    ) -> RegistrationOutcome:
        self.store.put(f"{folder}/model.skops", model.artifact)
        self.store.put(f"{folder}/manifest.json", model.manifest.encode())
        submission = ModelSubmission(
            model="churn",
            artifact_key=f"{folder}/model.skops",
            manifest_key=f"{folder}/manifest.json",
            dataset="churn",
            source="trained",
        )
        return register_model(
            submission.model_copy(update=changes), self.store, self.registry, self.publisher, FLOOR
        )

    def events(self) -> list[str]:
        return [type(e).__name__ for e in self.publisher.published]


@pytest.fixture
def world() -> World:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", (REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_bytes())
    return World(store, InMemoryModelRegistry(), InMemoryPublisher())


def test_a_verified_model_above_the_floor_is_registered_and_approved_by_policy(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    outcome = world.submit(trained(1))

    version = world.registry.get("churn", 1)
    assert (version.status, version.approved_by) == (ModelStatus.APPROVED, "policy")
    assert world.events() == ["ModelRegistered", "ModelApproved"]
    assert outcome.status == "Approved"
    assert version.lineage.contract_version == 1


def test_without_a_floor_the_version_waits_for_a_person(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    world.store.put("contracts/churn.yaml", (REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_bytes())
    model = trained(1)
    world.store.put("models/churn/r/model.skops", model.artifact)
    world.store.put("models/churn/r/manifest.json", model.manifest.encode())
    submission = ModelSubmission(
        model="churn",
        artifact_key="models/churn/r/model.skops",
        manifest_key="models/churn/r/manifest.json",
        source="uploaded",
    )

    outcome = register_model(submission, world.store, world.registry, world.publisher, ApprovalPolicy())

    assert outcome.status == "PendingManualApproval"
    assert world.events() == ["ModelRegistered"]


def test_below_the_floor_the_policy_rejects_the_version(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    model = trained(1)
    world.store.put("models/churn/r/model.skops", model.artifact)
    world.store.put("models/churn/r/manifest.json", model.manifest.encode())
    submission = ModelSubmission(
        model="churn",
        artifact_key="models/churn/r/model.skops",
        manifest_key="models/churn/r/manifest.json",
        source="trained",
    )

    outcome = register_model(
        submission, world.store, world.registry, world.publisher, ApprovalPolicy(metric_floor=0.99)
    )

    assert outcome.status == "Rejected"
    [_, rejected] = world.publisher.published
    assert isinstance(rejected, ModelRejected)
    assert (rejected.version, rejected.rejected_by) == (1, "policy")
    assert "below the floor 0.99" in rejected.reason


def test_tampered_bytes_are_refused_before_any_version_is_allocated(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    model = trained(1)
    flipped = bytearray(model.artifact)
    flipped[len(flipped) // 2] ^= 0xFF
    tampered = TrainedModel(bytes(flipped), model.manifest, model.roc_auc)

    outcome = world.submit(tampered)

    assert outcome.version is None
    assert world.registry.list_models() == []
    [refused] = world.publisher.published
    assert isinstance(refused, ModelRejected)
    assert refused.version is None and refused.rejected_by == "verification"
    assert "SHA-256" in refused.reason


def test_a_pickle_is_refused_and_never_loaded(world: World, trained: Callable[[int], TrainedModel]) -> None:
    model = trained(1)
    payload = pickle.dumps({"not": "a model"})
    manifest = model.manifest.replace(sha256_hex(model.artifact), sha256_hex(payload))

    outcome = world.submit(TrainedModel(payload, manifest, model.roc_auc))

    assert outcome.version is None
    assert "pickle" in outcome.reason.lower()


def test_a_missing_manifest_or_one_for_another_model_is_refused(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    missing = register_model(
        ModelSubmission(
            model="churn",
            artifact_key="models/x/model.skops",
            manifest_key="models/x/manifest.json",
            source="uploaded",
        ),
        world.store,
        world.registry,
        world.publisher,
        FLOOR,
    )
    assert "no manifest at s3://data/models/x/manifest.json" in missing.reason

    model = trained(1)
    other = TrainedModel(
        model.artifact, model.manifest.replace('"model_name":"churn"', '"model_name":"fraud"'), model.roc_auc
    )
    outcome = world.submit(other)
    assert "names model 'fraud'" in outcome.reason


def _with_manifest(model: TrainedModel, change: Callable[[dict[str, Any]], object]) -> TrainedModel:
    document = json.loads(model.manifest)
    change(document)
    return TrainedModel(model.artifact, json.dumps(document), model.roc_auc)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        # Found by the property tests; each raised out of register_model before.
        (lambda d: d.pop("metrics"), "metrics must give the primary_metric 'roc_auc'"),  # InvalidRegistration
        (
            lambda d: d["metrics"].update(roc_auc=float("nan")),
            "metrics.roc_auc: Input should be a finite number",
        ),
        (lambda d: d["metrics"].update(f1=1e-200), "the registry cannot store the manifest's values"),
        # ValueError from the smoke test's row generator.
        (
            lambda d: d["feature_signature"][2].update(allowed=[]),
            "feature_signature.2.allowed: allowed must list",
        ),
        # Accepted before: predict would never have enforced the bound.
        (
            lambda d: d["feature_signature"][0].update(min=float("nan")),
            "feature_signature.0.min: a bound must be a finite number, not nan",
        ),
        (
            lambda d: d["feature_signature"][0].update(min=10, max=1),
            "feature_signature.0: max (1) is below min (10)",
        ),
    ],
    ids=[
        "metrics left out",
        "a NaN metric",
        "a metric past DynamoDB's range",
        "an empty allowed list",
        "a NaN bound",
        "bounds out of order",
    ],
)
def test_a_manifest_registration_cannot_use_is_refused_naming_the_field(
    world: World,
    trained: Callable[[int], TrainedModel],
    change: Callable[[dict[str, Any]], object],
    reason: str,
) -> None:
    outcome = world.submit(_with_manifest(trained(1), change))

    assert (outcome.status, outcome.version) == ("Refused", None)
    assert reason in outcome.reason
    assert world.events() == ["ModelRejected"]
    assert world.registry.list_versions("churn") == []


def test_a_manifest_without_the_optional_pandas_version_is_registered(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    # Found by the property tests: libraries.pandas left out (docs/training.md allows it)
    # reached the lineage as None, and building the lineage raised a ValidationError.
    outcome = world.submit(_with_manifest(trained(1), lambda d: d["libraries"].pop("pandas")))

    assert outcome.status == "Approved"
    assert "pandas" not in world.registry.get("churn", 1).lineage.libraries


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('{"contract_version": ' + "9" * 5000 + "}", "an integer of more than 4,300 digits"),  # ValueError
        ("[" * 50_000, "nested too deeply"),  # RecursionError
    ],
    ids=["a 5,000-digit integer", "50,000 nested lists"],
)
def test_a_manifest_json_cannot_read_is_refused(
    world: World, trained: Callable[[int], TrainedModel], text: str, reason: str
) -> None:
    outcome = world.submit(TrainedModel(trained(1).artifact, text, 0.0))

    assert outcome.status == "Refused"
    assert reason in outcome.reason


def test_the_same_artifact_twice_keeps_its_version_and_announces_nothing_new(
    world: World, trained: Callable[[int], TrainedModel]
) -> None:
    world.submit(trained(1))
    again = world.submit(trained(1), folder="models/churn/run-2")

    assert again.version == 1
    assert "already registered as v1" in again.reason
    assert world.events() == ["ModelRegistered", "ModelApproved"]


@pytest.mark.parametrize(
    ("better_second", "expected"), [(True, "Approved"), (False, "PendingManualApproval")]
)
def test_a_new_version_is_approved_only_if_it_beats_production_by_the_margin(
    world: World, trained: Callable[[int], TrainedModel], better_second: bool, expected: str
) -> None:
    worse, better = sorted((trained(1), trained(2)), key=lambda model: model.roc_auc)
    assert better.roc_auc - worse.roc_auc >= 0.01  # the seeds differ by more than FLOOR's margin
    first, second = (worse, better) if better_second else (better, worse)
    world.submit(first)
    world.registry.promote("churn", 1, actor="alice")
    published_before = len(world.publisher.published)

    outcome = world.submit(second, folder="models/churn/run-2")

    assert outcome.status == expected
    assert world.registry.get("churn", 2).status == expected
    assert ("ModelApproved" in world.events()[published_before:]) is better_second
