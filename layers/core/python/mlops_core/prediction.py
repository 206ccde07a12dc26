"""Serving a model: read a request, check every instance against the model's inputs, predict.

The domain side of ``predict``. A request is JSON (``{"instances": [{feature: value}]}``)
or CSV (a header of feature names, then rows); each instance is checked against the
manifest's ``feature_signature`` (types, nulls, ranges, allowed values) and every problem
is reported per instance and field, so bad input is a 400 and never reaches the model.
The model a function version serves is bound by its environment (:class:`ModelBinding`)
and loaded once per container through the :class:`~mlops_core.object_store.ObjectStore`,
with the same checks as registration (SHA-256, skops allowlist, scikit-learn version).
Knows no boto3 and no HTTP: the function maps the exceptions here to status codes.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from mlops_core.contracts import NUMERIC_TYPES, ColumnType
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.training.artifacts import ArtifactError, load_model
from mlops_core.training.features import prepare_features
from mlops_core.training.manifest import FeatureField, ModelManifest

#: At most this many field errors are returned; the rest are counted.
MAX_ERRORS = 100
#: Models larger than this are not downloaded.
MAX_ARTIFACT_BYTES = 1 << 30
#: A model that failed to load is tried again after this many seconds, not on every request.
RELOAD_AFTER_SECONDS = 60.0

_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})
_MISSING = object()


# --- errors: each is one response status in the function -----------------------------------


class BadRequest(ValueError):
    """The body cannot be read as a request (not JSON, no instances, ...): 400."""


@dataclass(frozen=True)
class FieldError:
    """One problem with one instance: ``field`` is None when the whole instance is wrong."""

    instance: int
    field: str | None
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"instance": self.instance, "field": self.field, "error": self.error}


class InvalidInstances(ValueError):
    """Instances that do not meet the model's inputs: 400 with the per-field list."""

    def __init__(self, errors: Sequence[FieldError]) -> None:
        self.errors = list(errors)
        super().__init__(f"{len(self.errors)} problem(s) in the instances")

    @property
    def shown(self) -> list[dict[str, Any]]:
        return [e.as_dict() for e in self.errors[:MAX_ERRORS]]

    @property
    def not_shown(self) -> int:
        return max(len(self.errors) - MAX_ERRORS, 0)


class PayloadTooLarge(ValueError):
    """Over the body size or the instance count allowed: 413."""


class UnsupportedMediaType(ValueError):
    """Neither JSON nor CSV: 415."""


class ModelUnavailable(RuntimeError):
    """No model is bound to this version, or it could not be loaded: 503."""


class PredictionFailed(RuntimeError):
    """The model raised on instances that passed every check: a fault of the model, 500."""


# --- reading and checking a request ---------------------------------------------------------


@dataclass(frozen=True)
class RequestLimits:
    max_instances: int = 1000
    max_body_bytes: int = 5_000_000


def read_instances(
    body: bytes,
    content_type: str | None,
    fields: Sequence[FeatureField],
    limits: RequestLimits,
) -> list[dict[str, Any]]:
    """The checked instances of a request body: feature name -> value (None for null).

    Raises :class:`PayloadTooLarge`, :class:`UnsupportedMediaType`, :class:`BadRequest` or
    :class:`InvalidInstances`; anything else would be a bug.
    """
    signature = list(fields)
    if len(body) > limits.max_body_bytes:
        raise PayloadTooLarge(f"the body is {len(body)} bytes, over the {limits.max_body_bytes} allowed")
    media = media_type(content_type)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise BadRequest(f"the body is not UTF-8 text: {error}") from error
    if media == "text/csv":
        instances = parse_csv(text, signature)
    elif media == "application/json" or media.endswith("+json"):
        instances = parse_json(text)
    else:
        raise UnsupportedMediaType(
            f"content type {media!r} is not supported; send application/json or text/csv"
        )
    if len(instances) > limits.max_instances:
        raise PayloadTooLarge(
            f"the request has {len(instances)} instances, over the {limits.max_instances} allowed; "
            "split it into smaller batches"
        )
    return check_instances(instances, signature)


def media_type(content_type: str | None) -> str:
    """``text/csv; charset=utf-8`` -> ``text/csv``; no header means JSON."""
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media or "application/json"


def parse_json(text: str) -> list[Any]:
    """The ``instances`` list of a JSON body, unchecked."""
    if not text.strip():
        raise BadRequest('the body is empty; send {"instances": [{"feature": value, ...}]}')
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise BadRequest(f"the body is not valid JSON: {error}") from error
    except RecursionError as error:
        raise BadRequest("the body is nested too deeply") from error
    except ValueError as error:  # json reads no integer of more than 4,300 digits
        raise BadRequest(
            "the body holds an integer of more than 4,300 digits; no feature takes one"
        ) from error
    if not isinstance(document, dict):
        raise BadRequest(f'the body must be a JSON object {{"instances": [...]}}, not {_kind(document)}')
    if "instances" not in document:
        raise BadRequest('the body has no "instances" key; send {"instances": [{"feature": value, ...}]}')
    instances = document["instances"]
    if not isinstance(instances, list):
        raise BadRequest(f'"instances" must be a list of objects, not {_kind(instances)}')
    if not instances:
        raise BadRequest('"instances" is empty; send at least one instance')
    return instances


def parse_csv(text: str, fields: Sequence[FeatureField]) -> list[Any]:
    """Rows of a CSV body (header of feature names first) as instances, cells typed by field.

    An empty cell is null; a cell that does not convert is kept as text, so the checks
    report it with its field. A row with the wrong number of cells is an instance error.
    """
    by_name = {f.name: f for f in fields}
    try:
        rows = [row for row in csv.reader(io.StringIO(text, newline="")) if row]
    except csv.Error as error:
        raise BadRequest(f"the body is not valid CSV: {error}") from error
    if not rows:
        raise BadRequest("the CSV body is empty; send a header line of feature names, then rows")
    header = [name.strip() for name in rows[0]]
    if len(set(header)) != len(header):
        raise BadRequest("the CSV header names a column twice")
    if len(rows) == 1:
        raise BadRequest("the CSV body has a header but no rows")
    instances: list[Any] = []
    for row in rows[1:]:
        if len(row) != len(header):
            instances.append(_BadRow(f"the row has {len(row)} values, the header {len(header)}"))
            continue
        instances.append(
            {
                name: _from_csv(cell, by_name[name]) if name in by_name else cell
                for name, cell in zip(header, row, strict=True)
            }
        )
    return instances


@dataclass(frozen=True)
class _BadRow:
    reason: str


def check_instances(instances: Sequence[Any], fields: Sequence[FeatureField]) -> list[dict[str, Any]]:
    """Each instance reduced to the model's features, checked; raise with every problem found.

    Unknown keys are dropped (they never reach the model or the capture).
    """
    errors: list[FieldError] = []
    checked: list[dict[str, Any]] = []
    for index, instance in enumerate(instances):
        if isinstance(instance, _BadRow):
            errors.append(FieldError(index, None, instance.reason))
            continue
        if not isinstance(instance, dict):
            errors.append(
                FieldError(
                    index, None, f"an instance must be an object of feature values, not {_kind(instance)}"
                )
            )
            continue
        values: dict[str, Any] = {}
        for f in fields:
            value, problem = check_value(instance.get(f.name, _MISSING), f)
            if problem is not None:
                errors.append(FieldError(index, f.name, problem))
            values[f.name] = value
        checked.append(values)
    if errors:
        raise InvalidInstances(errors)
    return checked


def check_value(value: Any, f: FeatureField) -> tuple[Any, str | None]:
    """The value as the model takes it and None, or the value and what is wrong with it."""
    if value is _MISSING or value is None:
        if f.nullable:
            return None, None
        return None, "missing" if value is _MISSING else "null, but the feature is not nullable"
    if f.type in NUMERIC_TYPES:
        return _check_number(value, f)
    if f.type is ColumnType.BOOLEAN:
        if not isinstance(value, bool):
            return value, f"expected a boolean (true or false), got {_kind(value)}"
        return value, _not_allowed(value, f)
    # category (and any text-like type a hand-written manifest uses)
    if isinstance(value, bool) or not isinstance(value, str | int):
        return value, f"expected text, got {_kind(value)}"
    text = str(value)
    return text, _not_allowed(text, f)


def _check_number(value: Any, f: FeatureField) -> tuple[Any, str | None]:
    expected = "an integer" if f.type is ColumnType.INTEGER else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value, f"expected {expected}, got {_kind(value)}"
    try:
        finite = math.isfinite(float(value))
    except OverflowError:
        finite = False
    if not finite:
        return value, "not a finite number (NaN or infinity)"
    if f.type is ColumnType.INTEGER and isinstance(value, float):
        if not value.is_integer():
            return value, f"expected an integer, got {value!r}"
        value = int(value)
    if f.min is not None and value < f.min:
        return value, f"{value!r} is below the minimum {f.min!r}"
    if f.max is not None and value > f.max:
        return value, f"{value!r} is above the maximum {f.max!r}"
    return value, _not_allowed(value, f)


def _not_allowed(value: str | int | float | bool, f: FeatureField) -> str | None:
    if f.allowed is None:
        return None
    if isinstance(value, str):
        ok = value in {_as_text(a) for a in f.allowed}
    elif isinstance(value, bool):
        ok = any(isinstance(a, bool) and a is value for a in f.allowed)
    else:
        ok = any(not isinstance(a, bool | str) and a == value for a in f.allowed)
    if ok:
        return None
    shown = ", ".join(_as_text(a) for a in f.allowed[:20])
    more = f" (and {len(f.allowed) - 20} more)" if len(f.allowed) > 20 else ""
    return f"{value!r} is not one of the allowed values: {shown}{more}"


def _from_csv(cell: str, f: FeatureField) -> Any:
    text = cell.strip()
    if text == "":
        return None
    if f.type in NUMERIC_TYPES:
        for convert in (int, float):
            try:
                return convert(text)
            except ValueError:
                continue
        return cell
    if f.type is ColumnType.BOOLEAN:
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        return cell
    return cell


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {shown!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _as_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


# --- the model ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelBinding:
    """The model a function version serves, as deploy_model set it in the environment."""

    artifact_uri: str | None
    artifact_sha256: str | None
    manifest_uri: str | None
    model_name: str | None = None
    version: int | None = None

    @property
    def bound(self) -> bool:
        return any((self.artifact_uri, self.artifact_sha256, self.manifest_uri))


@dataclass(frozen=True)
class PredictionResult:
    predictions: list[Any]
    #: Classifiers only: one {class label as text: probability} per instance.
    probabilities: list[dict[str, float]] | None = None


@dataclass(frozen=True)
class LoadedModel:
    """A verified pipeline with its manifest, kept in memory for the container's life."""

    name: str
    version: int | None
    manifest: ModelManifest
    pipeline: Any

    @property
    def fields(self) -> list[FeatureField]:
        return list(self.manifest.feature_signature)

    def predict(self, instances: Sequence[Mapping[str, Any]]) -> PredictionResult:
        """Predict checked instances (from :func:`read_instances`)."""
        fields = self.fields
        columns: dict[str, Any] = {}
        for f in fields:
            raw = [instance.get(f.name) for instance in instances]
            if f.encoding == "numeric":
                columns[f.name] = np.array([np.nan if v is None else float(v) for v in raw], dtype="float64")
            else:
                columns[f.name] = pd.Series(raw, dtype=object)
        frame = prepare_features(pd.DataFrame(columns), fields)
        try:
            predicted = np.asarray(self.pipeline.predict(frame))
            proba = None
            if self.manifest.task == "classification" and hasattr(self.pipeline, "predict_proba"):
                proba = np.asarray(self.pipeline.predict_proba(frame), dtype=float)
        except Exception as error:  # a foreign model failing on checked input is the model's fault
            raise PredictionFailed(f"the model failed: {type(error).__name__}: {error}") from error
        if proba is not None and not np.isfinite(proba).all():
            raise PredictionFailed("the model's predict_proba returned NaN or infinity")
        if self.manifest.task == "regression":
            return PredictionResult(predictions=[_number(v) for v in predicted.tolist()])
        classes = list(self.manifest.classes or [])
        by_text = {_as_text(c): c for c in classes}
        labels = [by_text.get(_as_text(v), _plain(v)) for v in predicted.tolist()]
        probabilities = None
        if proba is not None and classes and proba.shape == (len(instances), len(classes)):
            keys = [_as_text(c) for c in classes]
            probabilities = [{k: float(p) for k, p in zip(keys, row, strict=True)} for row in proba.tolist()]
        return PredictionResult(predictions=labels, probabilities=probabilities)


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _number(value: Any) -> float | None:
    number = float(value)
    return number if math.isfinite(number) else None


def load_bound_model(binding: ModelBinding, store: ObjectStore) -> LoadedModel:
    """Download and verify the bound model; every failure is :class:`ModelUnavailable`."""
    if not binding.bound:
        raise ModelUnavailable("no model is bound to this function version; deploy one with deploy_model")
    missing = [
        name
        for name, value in (
            ("ARTIFACT_URI", binding.artifact_uri),
            ("ARTIFACT_SHA256", binding.artifact_sha256),
            ("MANIFEST_URI", binding.manifest_uri),
        )
        if not value
    ]
    if missing:
        raise ModelUnavailable(f"the model binding is incomplete: {', '.join(missing)} not set")
    artifact_uri, sha256, manifest_uri = (
        str(binding.artifact_uri),
        str(binding.artifact_sha256).lower(),
        str(binding.manifest_uri),
    )
    manifest_key = _key(manifest_uri, store)
    artifact_key = _key(artifact_uri, store)
    try:
        manifest = ModelManifest.model_validate_json(store.read_text(manifest_key))
    except ObjectMissing as error:
        raise ModelUnavailable(f"no manifest at {manifest_uri}") from error
    except (ValidationError, UnicodeDecodeError) as error:
        raise ModelUnavailable(f"the manifest at {manifest_uri} is invalid: {error}") from error
    if manifest.artifact_sha256 != sha256:
        raise ModelUnavailable("the manifest and ARTIFACT_SHA256 name different artifacts")
    if binding.model_name and binding.model_name != manifest.model_name:
        raise ModelUnavailable(
            f"MODEL_NAME is {binding.model_name!r} but the manifest names {manifest.model_name!r}"
        )
    try:
        size = store.head(artifact_key).size
        if size > MAX_ARTIFACT_BYTES:
            raise ModelUnavailable(f"the artifact is {size} bytes, over the {MAX_ARTIFACT_BYTES} allowed")
        data = store.open(artifact_key).read()
    except ObjectMissing as error:
        raise ModelUnavailable(f"no artifact at {artifact_uri}") from error
    try:
        pipeline = load_model(data, expected_sha256=sha256, sklearn_version=manifest.sklearn_version)
    except ArtifactError as error:
        raise ModelUnavailable(f"the artifact was refused: {error}") from error
    return LoadedModel(
        name=binding.model_name or manifest.model_name,
        version=binding.version,
        manifest=manifest,
        pipeline=pipeline,
    )


def _key(uri: str, store: ObjectStore) -> str:
    prefix = f"s3://{store.bucket}/"
    if not uri.startswith(prefix) or len(uri) == len(prefix):
        raise ModelUnavailable(f"{uri} is not an object in the data bucket {store.bucket}")
    return uri.removeprefix(prefix)


@dataclass
class ModelHolder:
    """Loads the model on first use and keeps it; a failure is kept for ``retry_after`` seconds.

    So a container downloads its model once, and a model that cannot load (tampered,
    missing) costs one attempt a minute, not one per request.
    """

    load: Callable[[], LoadedModel]
    retry_after: float = RELOAD_AFTER_SECONDS
    clock: Callable[[], float] = time.monotonic
    _model: LoadedModel | None = field(default=None, init=False)
    _failure: ModelUnavailable | None = field(default=None, init=False)
    _failed_at: float = field(default=0.0, init=False)

    def get(self) -> LoadedModel:
        if self._model is not None:
            return self._model
        if self._failure is not None and self.clock() - self._failed_at < self.retry_after:
            raise self._failure
        try:
            self._model = self.load()
        except ModelUnavailable as failure:
            self._failure, self._failed_at = failure, self.clock()
            raise
        except Exception as error:  # S3 throttled, network: the reason, not a 500
            self._failure = ModelUnavailable(
                f"the model could not be loaded: {type(error).__name__}: {error}"
            )
            self._failed_at = self.clock()
            raise self._failure from error
        self._failure = None
        return self._model


def response_body(model: LoadedModel, request_id: str, result: PredictionResult) -> dict[str, Any]:
    """The 200 body of /predict."""
    body: dict[str, Any] = {
        "model": model.name,
        "version": model.version,
        "request_id": request_id,
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        body["probabilities"] = result.probabilities
    return body
