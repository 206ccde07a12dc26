"""predict's domain: every instance checked against the model's inputs, then predictions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import ColumnType, DataContract, load_contract
from mlops_core.prediction import (
    MAX_ERRORS,
    BadRequest,
    InvalidInstances,
    LoadedModel,
    ModelBinding,
    ModelHolder,
    ModelUnavailable,
    PayloadTooLarge,
    RequestLimits,
    UnsupportedMediaType,
    check_instances,
    load_bound_model,
    read_instances,
    response_body,
)
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.manifest import FeatureField
from mlops_core.training.spec import training_spec
from mlops_core.training.train import build_manifest, train

from ..conftest import REPO_ROOT
from .fakes import InMemoryObjectStore
from .test_training import house_frame, regression_contract

LIMITS = RequestLimits(max_instances=50, max_body_bytes=20_000)
GOOD = {
    "tenure_months": 12,
    "monthly_charges": 29.5,
    "plan": "basic",
    "support_tickets": None,
    "autopay": True,
}


@dataclass(frozen=True)
class Stored:
    store: InMemoryObjectStore
    binding: ModelBinding


def _store(contract: DataContract, frame: Any, estimator: str, name: str) -> Stored:
    spec = training_spec(contract).model_copy(update={"estimator": estimator, "params": {}})
    with threadpool_limits(1, "openmp"):
        result = train(frame, contract, spec)
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name=name, artifact_sha256=sha256_hex(artifact))
    store = InMemoryObjectStore("data")
    store.put(f"models/{name}/run-1/model.skops", artifact)
    store.put(f"models/{name}/run-1/manifest.json", manifest.model_dump_json(by_alias=True).encode())
    binding = ModelBinding(
        artifact_uri=f"s3://data/models/{name}/run-1/model.skops",
        artifact_sha256=sha256_hex(artifact),
        manifest_uri=f"s3://data/models/{name}/run-1/manifest.json",
        model_name=name,
        version=3,
    )
    return Stored(store, binding)


@pytest.fixture(scope="module")
def churn_stored() -> Stored:
    contract = load_contract((REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_text())
    return _store(contract, churn_table(300, seed=1).to_pandas(), "logistic_regression", "churn")


@pytest.fixture(scope="module")
def classifier(churn_stored: Stored) -> LoadedModel:
    return load_bound_model(churn_stored.binding, churn_stored.store)


@pytest.fixture(scope="module")
def regressor() -> LoadedModel:
    stored = _store(regression_contract(), house_frame(200), "ridge", "houses")
    return load_bound_model(stored.binding, stored.store)


def _read(model: LoadedModel, document: Any, limits: RequestLimits = LIMITS) -> list[dict[str, Any]]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return read_instances(body, "application/json", model.fields, limits)


def _errors(model: LoadedModel, *instances: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(InvalidInstances) as raised:
        _read(model, {"instances": list(instances)})
    return raised.value.shown


# --- the response ---------------------------------------------------------------------------


def test_a_classifier_answers_labels_and_probabilities_per_class(classifier: LoadedModel) -> None:
    instances = _read(classifier, {"instances": [GOOD, GOOD | {"tenure_months": 70, "autopay": False}]})
    body = response_body(classifier, "req-1", classifier.predict(instances))

    assert (body["model"], body["version"], body["request_id"]) == ("churn", 3, "req-1")
    assert all(isinstance(label, bool) for label in body["predictions"])
    assert [set(p) for p in body["probabilities"]] == [{"false", "true"}] * 2
    for p in body["probabilities"]:
        assert sum(p.values()) == pytest.approx(1.0)
        assert all(type(v) is float for v in p.values())
    assert json.loads(json.dumps(body)) == body


def test_a_regressor_answers_floats_and_no_probabilities(regressor: LoadedModel) -> None:
    instance = {"area": 120.0, "rooms": 3, "district": "south", "garden": True}
    body = response_body(regressor, "req-2", regressor.predict(_read(regressor, {"instances": [instance]})))

    assert set(body) == {"model", "version", "request_id", "predictions"}
    [price] = body["predictions"]
    assert type(price) is float and price > 0


def test_unknown_fields_are_ignored_and_missing_nullable_is_null(classifier: LoadedModel) -> None:
    instance = {k: v for k, v in GOOD.items() if k != "support_tickets"} | {"email": "a@b.io", "x": [1]}
    [checked] = _read(classifier, {"instances": [instance]})
    assert set(checked) == {f.name for f in classifier.fields}
    assert checked["support_tickets"] is None
    assert "email" not in checked


def test_integral_floats_are_integers(classifier: LoadedModel) -> None:
    [checked] = _read(classifier, {"instances": [GOOD | {"tenure_months": 12.0}]})
    assert checked["tenure_months"] == 12 and type(checked["tenure_months"]) is int


# --- every kind of error ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"tenure_months": None}, "tenure_months", "not nullable"),
        ({"tenure_months": "12"}, "tenure_months", "expected an integer, got the text '12'"),
        ({"tenure_months": True}, "tenure_months", "expected an integer, got a boolean"),
        ({"tenure_months": 1.5}, "tenure_months", "expected an integer, got 1.5"),
        ({"tenure_months": -1}, "tenure_months", "below the minimum 0"),
        ({"tenure_months": 601}, "tenure_months", "above the maximum 600"),
        ({"monthly_charges": [1]}, "monthly_charges", "expected a number, got a list"),
        ({"monthly_charges": float("inf")}, "monthly_charges", "not a finite number"),
        ({"plan": "gold"}, "plan", "'gold' is not one of the allowed values: basic, plus, pro"),
        ({"plan": {"a": 1}}, "plan", "expected text, got an object"),
        ({"autopay": "yes"}, "autopay", "expected a boolean"),
        ({"autopay": 1}, "autopay", "expected a boolean"),
    ],
)
def test_each_bad_value_is_named_by_instance_and_field(
    classifier: LoadedModel, change: dict[str, Any], field: str, error: str
) -> None:
    errors = _errors(classifier, GOOD, GOOD | change)
    assert len(errors) == 1
    assert errors[0]["instance"] == 1 and errors[0]["field"] == field
    assert error in errors[0]["error"]


def test_missing_field_and_nan_literal(classifier: LoadedModel) -> None:
    body = b'{"instances": [{"tenure_months": 1, "monthly_charges": NaN, "plan": "pro"}]}'
    with pytest.raises(InvalidInstances) as raised:
        _read(classifier, body)
    by_field = {e["field"]: e["error"] for e in raised.value.shown}
    assert by_field == {"monthly_charges": "not a finite number (NaN or infinity)", "autopay": "missing"}


def test_an_instance_that_is_not_an_object(classifier: LoadedModel) -> None:
    [error] = _errors(classifier, GOOD, [1, 2])  # type: ignore[arg-type]
    assert error == {"instance": 1, "field": None, "error": error["error"]}
    assert "must be an object" in error["error"]


def test_errors_are_capped_and_the_rest_counted() -> None:
    fields = [FeatureField(name="x", type=ColumnType.FLOAT, encoding="numeric")]
    with pytest.raises(InvalidInstances) as raised:
        check_instances([{"x": "bad"}] * (MAX_ERRORS + 7), fields)
    assert len(raised.value.shown) == MAX_ERRORS and raised.value.not_shown == 7


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"rows": []}', 'no "instances"'),
        (b'{"instances": {}}', "must be a list"),
        (b'{"instances": []}', "is empty"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[" * 19_000, "nested too deeply"),
        # Found by the property tests: json's own ValueError for such an integer was a 500.
        (b'{"instances": [{"tenure_months": ' + b"9" * 5000 + b"}]}", "more than 4,300 digits"),
    ],
)
def test_a_body_that_is_not_a_request_is_a_bad_request(
    classifier: LoadedModel, body: bytes, problem: str
) -> None:
    with pytest.raises(BadRequest, match=problem):
        _read(classifier, body)


def test_too_many_instances_or_bytes_is_too_large(classifier: LoadedModel) -> None:
    with pytest.raises(PayloadTooLarge, match="51 instances, over the 50"):
        _read(classifier, {"instances": [GOOD] * 51})
    with pytest.raises(PayloadTooLarge, match="over the 100 allowed"):
        _read(classifier, {"instances": [GOOD]}, RequestLimits(max_body_bytes=100))


def test_other_content_types_are_unsupported(classifier: LoadedModel) -> None:
    with pytest.raises(UnsupportedMediaType, match="text/plain"):
        read_instances(b"x", "text/plain; charset=utf-8", classifier.fields, LIMITS)


# --- CSV ----------------------------------------------------------------------------------------


def test_csv_rows_are_typed_by_field_and_predict_like_json(classifier: LoadedModel) -> None:
    csv_body = (
        b"email,tenure_months,monthly_charges,plan,support_tickets,autopay\r\n"
        b"a@b.io,12,29.5,basic,,true\r\n"
        b'x@y.io,70,80,"pro",2,no\r\n'
    )
    checked = read_instances(csv_body, "text/csv; charset=utf-8", classifier.fields, LIMITS)
    assert checked[0] == GOOD
    assert checked[1] == {
        "tenure_months": 70,
        "monthly_charges": 80,
        "plan": "pro",
        "support_tickets": 2,
        "autopay": False,
    }
    as_json = _read(classifier, {"instances": checked})
    assert classifier.predict(checked) == classifier.predict(as_json)


def test_csv_bad_cells_and_short_rows_are_instance_errors(classifier: LoadedModel) -> None:
    csv_body = b"tenure_months,monthly_charges,plan,autopay\nabc,1,basic,maybe\n1,2\n"
    with pytest.raises(InvalidInstances) as raised:
        read_instances(csv_body, "text/csv", classifier.fields, LIMITS)
    assert raised.value.shown == [
        {"instance": 0, "field": "tenure_months", "error": "expected an integer, got the text 'abc'"},
        {
            "instance": 0,
            "field": "autopay",
            "error": "expected a boolean (true or false), got the text 'maybe'",
        },
        {"instance": 1, "field": None, "error": "the row has 2 values, the header 4"},
    ]


def test_csv_without_rows_is_a_bad_request(classifier: LoadedModel) -> None:
    with pytest.raises(BadRequest, match="no rows"):
        read_instances(b"tenure_months,plan\n", "text/csv", classifier.fields, LIMITS)


# --- loading the bound model ------------------------------------------------------------------


def test_no_binding_is_unavailable(churn_stored: Stored) -> None:
    with pytest.raises(ModelUnavailable, match="no model is bound"):
        load_bound_model(ModelBinding(None, None, None), churn_stored.store)
    partial = ModelBinding(churn_stored.binding.artifact_uri, None, None)
    with pytest.raises(ModelUnavailable, match="ARTIFACT_SHA256, MANIFEST_URI not set"):
        load_bound_model(partial, churn_stored.store)


def test_a_tampered_artifact_is_unavailable_with_the_reason(churn_stored: Stored) -> None:
    store = InMemoryObjectStore("data")
    store.objects = {k: list(v) for k, v in churn_stored.store.objects.items()}
    key = "models/churn/run-1/model.skops"
    store.put(key, store.objects[key][-1] + b"\0")
    with pytest.raises(ModelUnavailable, match="SHA-256"):
        load_bound_model(churn_stored.binding, store)


def test_a_binding_outside_the_bucket_or_for_another_model_is_unavailable(churn_stored: Stored) -> None:
    b = churn_stored.binding
    elsewhere = ModelBinding("s3://other/model.skops", b.artifact_sha256, b.manifest_uri, "churn", 3)
    with pytest.raises(ModelUnavailable, match="not an object in the data bucket"):
        load_bound_model(elsewhere, churn_stored.store)
    renamed = ModelBinding(b.artifact_uri, b.artifact_sha256, b.manifest_uri, "other", 3)
    with pytest.raises(ModelUnavailable, match="manifest names 'churn'"):
        load_bound_model(renamed, churn_stored.store)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> _Clock:
    return _Clock()


def test_the_holder_loads_once_and_retries_a_failure_only_after_a_while(
    classifier: LoadedModel, clock: _Clock
) -> None:
    calls: list[int] = []
    outcomes: list[Exception | LoadedModel] = [RuntimeError("throttled"), classifier]

    def load() -> LoadedModel:
        calls.append(1)
        outcome = outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    holder = ModelHolder(load, retry_after=60, clock=clock)
    with pytest.raises(ModelUnavailable, match="RuntimeError: throttled"):
        holder.get()
    clock.now = 30
    with pytest.raises(ModelUnavailable):
        holder.get()
    assert len(calls) == 1
    clock.now = 61
    assert holder.get() is classifier
    assert holder.get() is classifier
    assert len(calls) == 2
