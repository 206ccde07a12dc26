"""Property tests: any predict body and any manifest get a named error or a result, never a crash."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mlops_core.contracts import ColumnType
from mlops_core.prediction import (
    BadRequest,
    InvalidInstances,
    PayloadTooLarge,
    RequestLimits,
    UnsupportedMediaType,
    read_instances,
)
from mlops_core.training.manifest import FeatureField, ModelManifest

FIELDS = [
    FeatureField(name="tenure", type=ColumnType.INTEGER, encoding="numeric", min=0, max=600),
    FeatureField(name="charges", type=ColumnType.FLOAT, encoding="numeric", nullable=True),
    FeatureField(name="plan", type=ColumnType.CATEGORY, encoding="category", allowed=["basic", "pro"]),
    FeatureField(name="autopay", type=ColumnType.BOOLEAN, encoding="boolean"),
]
LIMITS = RequestLimits(max_instances=50, max_body_bytes=20_000)
NAMED = (BadRequest, InvalidInstances, PayloadTooLarge, UnsupportedMediaType)

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
INSTANCE = st.dictionaries(
    st.sampled_from(["tenure", "charges", "plan", "autopay", "email", ""]), JSON_VALUES
)
CONTENT_TYPES = st.sampled_from(["application/json", "text/csv", "text/plain", None, "application/vnd+json"])


def _read(body: bytes, content_type: str | None) -> None:
    outcome = _outcome(body, content_type)
    if isinstance(outcome, Exception):
        assert str(outcome), type(outcome)
    else:
        assert all(set(instance) == {f.name for f in FIELDS} for instance in outcome)


def _outcome(body: bytes, content_type: str | None) -> list[dict[str, object]] | Exception:
    try:
        return read_instances(body, content_type, FIELDS, LIMITS)
    except NAMED as error:  # the named errors; anything else fails the test
        return error


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(instances=st.lists(INSTANCE, max_size=5), wrap=st.booleans(), content_type=CONTENT_TYPES)
def test_json_shaped_bodies_get_instances_or_a_named_error(
    instances: list[dict[str, object]], wrap: bool, content_type: str | None
) -> None:
    document: object = {"instances": instances} if wrap else instances
    _read(json.dumps(document, allow_nan=True).encode(), content_type)


@settings(max_examples=300, deadline=None)
@given(body=st.binary(max_size=600), content_type=CONTENT_TYPES)
def test_arbitrary_bytes_get_instances_or_a_named_error(body: bytes, content_type: str | None) -> None:
    _read(body, content_type)


@settings(max_examples=200, deadline=None)
@given(
    document=st.dictionaries(
        st.sampled_from(
            [
                "schema_version",
                "model_name",
                "task",
                "estimator",
                "primary_metric",
                "target",
                "feature_signature",
                "contract_version",
                "contract_sha256",
                "libraries",
                "artifact_sha256",
                "trained_at",
                "metrics",
                "extra",
            ]
        ),
        JSON_VALUES,
        max_size=14,
    )
)
def test_any_manifest_json_loads_or_fails_validation_with_field_names(document: dict[str, object]) -> None:
    error = _manifest_error(document)

    if error is not None:
        assert all(e["loc"] or e["type"] for e in error.errors())


def _manifest_error(document: dict[str, object]) -> ValidationError | None:
    try:
        ModelManifest.model_validate(document)
    except ValidationError as error:
        return error
    return None
