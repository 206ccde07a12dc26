"""Registering a model: verify it as untrusted data, give it a version, let the policy decide.

The domain side of ``register_model``, for models trained here (ModelTrained) and models
brought by users (``models/incoming/<model>/<id>/manifest.json`` next to ``model.skops``).
Verification comes before anything is written: the manifest parses, the artifact's SHA-256
matches, it is a skops file with only allowlisted types, made with this scikit-learn, and
it predicts on rows that meet the contract. A model that fails is refused with the reason
(ModelRejected, no version); one that passes gets the next version, and the approval
policy approves it, rejects it or leaves it to a person.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from mlops_core.approval import ApprovalPolicy, Verdict, decide
from mlops_core.contracts import ContractError, DataContract, contract_key, load_contract
from mlops_core.events import EventPublisher, ModelApproved, ModelRegistered, ModelRejected
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.registry import DEFAULT_ALIAS, InvalidRegistration, Lineage, ModelRegistry, ModelVersion
from mlops_core.registry.store import utc_now
from mlops_core.training.artifacts import ArtifactError, load_model, smoke_predict
from mlops_core.training.manifest import ModelManifest

ACTOR = "register_model"
POLICY_ACTOR = "policy"
VERIFICATION_ACTOR = "verification"
#: Models larger than this are refused before they are read into memory.
MAX_ARTIFACT_BYTES = 1 << 30


class ModelSubmission(BaseModel):
    """Where a model to register lies in the data bucket."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    model: str
    artifact_key: str
    manifest_key: str
    baseline_key: str | None = None
    dataset: str | None = None
    expected_sha256: str | None = None
    training_run_id: str | None = None
    source: Literal["trained", "uploaded"]


class RegistrationOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str
    version: int | None
    status: str
    reason: str


class ModelRefused(Exception):
    """Verification failed; the message says why and what to do."""


def register_model(
    submission: ModelSubmission,
    store: ObjectStore,
    registry: ModelRegistry,
    publisher: EventPublisher,
    policy: ApprovalPolicy,
) -> RegistrationOutcome:
    """Verify, register and decide; a refused model is reported, never raised."""
    try:
        manifest = _verified(submission, store)
    except ModelRefused as refusal:
        return _refused(submission, store, publisher, str(refusal))
    existing = _registered(registry, submission.model, manifest.artifact_sha256)
    if existing is not None:
        # The same artifact again: its version and any decision stand as they are.
        return RegistrationOutcome(
            model=existing.model,
            version=existing.version,
            status=existing.status.value,
            reason=f"already registered as v{existing.version}",
        )
    try:
        version = _register(submission, manifest, store, registry)
    except InvalidRegistration as invalid:
        # Values the manifest model lets through but the registry cannot store (a metric
        # past DynamoDB's range, say): the manifest is at fault, so it is refused the same way.
        return _refused(
            submission, store, publisher, f"the registry cannot store the manifest's values: {invalid}"
        )
    publisher.publish(
        [
            ModelRegistered(
                model=version.model,
                version=version.version,
                artifact_uri=version.artifact_uri,
                artifact_sha256=version.artifact_sha256,
                primary_metric=version.primary_metric,
                metrics=dict(version.metrics),
                source=submission.source,
                registered_at=version.registered_at,
            )
        ]
    )
    return _apply_policy(version, registry, publisher, policy)


def _refused(
    submission: ModelSubmission, store: ObjectStore, publisher: EventPublisher, reason: str
) -> RegistrationOutcome:
    publisher.publish(
        [
            ModelRejected(
                model=submission.model,
                version=None,
                rejected_by=VERIFICATION_ACTOR,
                reason=reason,
                artifact_uri=store.uri(submission.artifact_key),
                rejected_at=utc_now(),
            )
        ]
    )
    return RegistrationOutcome(model=submission.model, version=None, status="Refused", reason=reason)


def _register(
    submission: ModelSubmission, manifest: ModelManifest, store: ObjectStore, registry: ModelRegistry
) -> ModelVersion:
    return registry.register(
        submission.model,
        artifact_uri=store.uri(submission.artifact_key),
        artifact_sha256=manifest.artifact_sha256,
        manifest_uri=store.uri(submission.manifest_key),
        baseline_uri=store.uri(submission.baseline_key) if submission.baseline_key else None,
        metrics=manifest.metrics,
        primary_metric=manifest.primary_metric,
        lineage=Lineage(
            dataset_uri=manifest.dataset_uri,
            dataset_sha256=manifest.dataset_sha256,
            contract_version=manifest.contract_version,
            contract_sha256=manifest.contract_sha256,
            training_run_id=submission.training_run_id,
            code_version=None,
            libraries=manifest.libraries.model_dump(by_alias=True, exclude_none=True),
        ),
        actor=ACTOR,
    )


def _verified(submission: ModelSubmission, store: ObjectStore) -> ModelManifest:
    try:
        manifest = ModelManifest.model_validate(json.loads(store.read_text(submission.manifest_key)))
    except ObjectMissing as missing:
        raise ModelRefused(f"no manifest at {store.uri(submission.manifest_key)}") from missing
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelRefused(f"the manifest is not JSON: {error}") from error
    except RecursionError as error:
        raise ModelRefused("the manifest is not JSON of its schema: it is nested too deeply") from error
    except ValidationError as error:
        fields = "; ".join(_field_problem(e) for e in error.errors(include_url=False)[:10])
        raise ModelRefused(f"the manifest is invalid ({fields}); see docs/training.md") from error
    except ValueError as error:  # json reads no integer of more than 4,300 digits
        raise ModelRefused(
            "the manifest holds an integer of more than 4,300 digits; no field takes one"
        ) from error
    if manifest.model_name != submission.model:
        raise ModelRefused(
            f"the manifest names model {manifest.model_name!r}, the upload is under {submission.model!r}"
        )
    if submission.expected_sha256 and submission.expected_sha256 != manifest.artifact_sha256:
        raise ModelRefused("the event and the manifest disagree on the artifact's SHA-256")
    try:
        size = store.head(submission.artifact_key).size
        if size > MAX_ARTIFACT_BYTES:
            raise ModelRefused(f"the artifact is {size} bytes, over the {MAX_ARTIFACT_BYTES} bytes allowed")
        data = store.open(submission.artifact_key).read()
    except ObjectMissing as missing:
        raise ModelRefused(f"no artifact at {store.uri(submission.artifact_key)}") from missing
    contract = _contract(store, submission.dataset or submission.model)
    try:
        pipeline = load_model(
            data, expected_sha256=manifest.artifact_sha256, sklearn_version=manifest.sklearn_version
        )
        if contract is not None:
            smoke_predict(pipeline, contract, signature=list(manifest.feature_signature))
    except ArtifactError as error:
        raise ModelRefused(str(error)) from error
    return manifest


def _field_problem(error: Any) -> str:
    field = ".".join(str(part) for part in error["loc"]) or "(manifest)"
    return f"{field}: {str(error['msg']).removeprefix('Value error, ')}"


def _contract(store: ObjectStore, dataset: str) -> DataContract | None:
    key = contract_key(dataset)
    try:
        return load_contract(store.read_text(key), source=store.uri(key))
    except ObjectMissing:
        return None
    except ContractError as error:
        raise ModelRefused(f"the contract the model is checked against is invalid: {error}") from error


def _registered(registry: ModelRegistry, model: str, sha256: str) -> ModelVersion | None:
    return next((v for v in registry.list_versions(model) if v.artifact_sha256 == sha256), None)


def _apply_policy(
    version: ModelVersion, registry: ModelRegistry, publisher: EventPublisher, policy: ApprovalPolicy
) -> RegistrationOutcome:
    production = registry.alias(version.model, DEFAULT_ALIAS)
    production_value = None
    if production is not None:
        production_value = registry.get(version.model, production.version).metrics.get(version.primary_metric)
    decision = decide(
        version.primary_metric,
        version.metrics[version.primary_metric],
        policy,
        production_version=production.version if production is not None else None,
        production_value=production_value,
    )
    now = utc_now()
    if decision.verdict is Verdict.APPROVE:
        decided = registry.approve(version.model, version.version, actor=POLICY_ACTOR, reason=decision.reason)
        publisher.publish(
            [
                ModelApproved(
                    model=decided.model,
                    version=decided.version,
                    approved_by=POLICY_ACTOR,
                    reason=decision.reason,
                    approved_at=now,
                )
            ]
        )
    elif decision.verdict is Verdict.REJECT:
        decided = registry.reject(version.model, version.version, actor=POLICY_ACTOR, reason=decision.reason)
        publisher.publish(
            [
                ModelRejected(
                    model=decided.model,
                    version=decided.version,
                    rejected_by=POLICY_ACTOR,
                    reason=decision.reason,
                    artifact_uri=decided.artifact_uri,
                    rejected_at=now,
                )
            ]
        )
    else:
        decided = version
    return RegistrationOutcome(
        model=decided.model, version=decided.version, status=decided.status.value, reason=decision.reason
    )
