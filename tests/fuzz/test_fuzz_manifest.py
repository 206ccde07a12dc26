"""Model manifests as users upload them: registered, or refused with the field named.

A bring-your-own model arrives as models/incoming/<model>/<id>/manifest.json beside its
model.skops; register_model verifies it as untrusted data. Whatever the manifest holds, the
outcome is a version or a refusal (ModelRejected) whose reason names the field, never an
exception; predict's loader refuses the same manifests as ModelUnavailable.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st
from pydantic import ValidationError

from mlops_core.approval import ApprovalPolicy
from mlops_core.events import InMemoryPublisher, ModelRejected
from mlops_core.model_registration import ModelSubmission, RegistrationOutcome, register_model
from mlops_core.prediction import ModelBinding, ModelUnavailable, load_bound_model
from mlops_core.registry import InMemoryModelRegistry
from mlops_core.training.manifest import ModelManifest

from ..unit.fakes import InMemoryObjectStore
from .conftest import CHURN_CONTRACT, ChurnModel, share_of_examples

FOLDER = "models/incoming/churn/upload-1"
POLICIES = [ApprovalPolicy(), ApprovalPolicy(metric_floor=0.5, min_improvement=0.01)]
#: Stands for an integer of 5,000 digits (json.dumps refuses to write one).
HUGE_INT = "<5,000-digit integer>"
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, HUGE_INT])
    | st.floats()
    | st.text(max_size=10)
    | st.sampled_from(["churn", "1", "roc_auc", "classification", "2026-11-05T09:15:00Z", "0" * 64]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=10,
)


def _text(document: Any) -> str:
    return json.dumps(document, allow_nan=True).replace(json.dumps(HUGE_INT), "9" * 5000)


def _register(manifest_text: str, churn_model: ChurnModel, policy: ApprovalPolicy) -> RegistrationOutcome:
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CHURN_CONTRACT.read_bytes())
    store.put(f"{FOLDER}/model.skops", churn_model.artifact)
    store.put(f"{FOLDER}/manifest.json", manifest_text.encode())
    publisher = InMemoryPublisher()
    submission = ModelSubmission(
        model="churn",
        artifact_key=f"{FOLDER}/model.skops",
        manifest_key=f"{FOLDER}/manifest.json",
        source="uploaded",
    )

    outcome = register_model(submission, store, InMemoryModelRegistry(), publisher, policy)

    if outcome.version is None:
        assert outcome.status == "Refused" and outcome.reason, outcome
        assert [type(e) for e in publisher.published] == [ModelRejected]
    else:
        assert outcome.status in {"Approved", "Rejected", "PendingManualApproval"}, outcome
    return outcome


def _loaded_by_predict(manifest_text: str, churn_model: ChurnModel) -> None:
    """predict's loader: the model, or ModelUnavailable with the reason."""
    store = InMemoryObjectStore()
    store.put(f"{FOLDER}/model.skops", churn_model.artifact)
    store.put(f"{FOLDER}/manifest.json", manifest_text.encode())
    binding = ModelBinding(
        artifact_uri=store.uri(f"{FOLDER}/model.skops"),
        artifact_sha256=churn_model.sha256,
        manifest_uri=store.uri(f"{FOLDER}/manifest.json"),
    )
    try:
        load_bound_model(binding, store)
    except ModelUnavailable as unavailable:  # the one error the loader raises; anything else fails
        reason = str(unavailable)
    else:
        return
    assert reason


@given(document=JSON_VALUES, policy=st.sampled_from(POLICIES))
@example(document=HUGE_INT, policy=POLICIES[0])
def test_any_json_document_is_registered_or_refused_with_a_reason(
    churn_model: ChurnModel, document: Any, policy: ApprovalPolicy
) -> None:
    _register(_text(document), churn_model, policy)
    _loaded_by_predict(_text(document), churn_model)


@given(text=st.text(max_size=200) | st.sampled_from(["[" * 50_000, "{" * 50_000, "", "null"]))
def test_any_text_is_registered_or_refused_with_a_reason(churn_model: ChurnModel, text: str) -> None:
    _register(text, churn_model, POLICIES[0])
    _loaded_by_predict(text, churn_model)


# -- mutations of a valid manifest ---------------------------------------------------------------


def _keys(churn_model: ChurnModel) -> list[tuple[str | int, ...]]:
    document = json.loads(churn_model.manifest)
    paths: list[tuple[str | int, ...]] = [(key,) for key in document]
    paths += [("feature_signature", 0, key) for key in document["feature_signature"][0]]
    paths += [("libraries", key) for key in document["libraries"]]
    paths += [("metrics", key) for key in document["metrics"]]
    return paths


@share_of_examples(0.5)
@given(data=st.data(), policy=st.sampled_from(POLICIES))
@example(data=None, policy=POLICIES[1]).via("metrics left out")
def test_a_mutated_manifest_is_registered_or_refused_naming_the_field(
    churn_model: ChurnModel, data: st.DataObject | None, policy: ApprovalPolicy
) -> None:
    document = json.loads(churn_model.manifest)
    if data is None:
        path: tuple[str | int, ...] = ("metrics",)
        operation = "drop"
    else:
        path = data.draw(st.sampled_from(_keys(churn_model)), label="path")
        operation = data.draw(st.sampled_from(["drop", "set", "add"]), label="operation")
    mutated = copy.deepcopy(document)
    parent: Any = mutated
    for part in path[:-1]:
        parent = parent[part]
    if operation == "drop":
        del parent[path[-1]]
    elif operation == "set":
        assert data is not None
        parent[path[-1]] = data.draw(JSON_VALUES, label="value")
    else:
        assert data is not None
        path = (*path[:-1], "colour")
        parent["colour"] = data.draw(JSON_VALUES, label="value")
    text = _text(mutated)

    outcome = _register(text, churn_model, policy)
    _loaded_by_predict(text, churn_model)

    invalid = _validation_error(text)
    if invalid is not None and "9" * 5000 not in text:
        assert outcome.version is None
        assert str(path[0]) in outcome.reason, (path, outcome.reason)


def _validation_error(text: str) -> ValidationError | None:
    try:
        ModelManifest.model_validate_json(text)
    except ValidationError as error:
        return error
    return None
