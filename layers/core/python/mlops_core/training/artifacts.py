"""Model artifacts: skops bytes, checked before anything in them is trusted.

``load_model`` checks, in order: the SHA-256 the registry recorded (a corrupted skops
file can still load), the format (a skops file is a zip; pickle and joblib are refused
from their first bytes), the types inside against :data:`TRUSTED_TYPES`, the
scikit-learn version the model was trained with, and only then loads. ``smoke_predict``
runs a loaded model on rows made from the contract before anyone relies on it.
"""

from __future__ import annotations

import hashlib
import warnings
import zipfile
from typing import Any

import numpy as np
import pandas as pd
import sklearn
import skops.io as sio
from sklearn.exceptions import InconsistentVersionWarning
from sklearn.pipeline import Pipeline

from mlops_core.contracts import ColumnType, DataContract
from mlops_core.training.features import contract_target, feature_fields, prepare_features
from mlops_core.training.manifest import FeatureField

#: Types beyond skops' defaults that our allowlisted estimators and transformers need.
#: Found with ``skops.io.get_untrusted_types`` on a fitted pipeline of every estimator of
#: both tasks (tests/unit/test_artifacts.py keeps it exact).
TRUSTED_TYPES: frozenset[str] = frozenset(
    {
        "numpy.dtype",
        "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
        "sklearn.tree._tree.Tree",
    }
)

_ZIP = b"PK\x03\x04"
_REFUSED_MAGIC: tuple[tuple[bytes, str], ...] = (
    *((bytes([0x80, protocol]), f"a pickle (protocol {protocol})") for protocol in range(2, 6)),
    (b"\x78\x01", "zlib-compressed data (a joblib dump?)"),
    (b"\x78\x5e", "zlib-compressed data (a joblib dump?)"),
    (b"\x78\x9c", "zlib-compressed data (a joblib dump?)"),
    (b"\x78\xda", "zlib-compressed data (a joblib dump?)"),
    (b"\x1f\x8b", "gzip-compressed data (a joblib dump?)"),
    (b"BZh", "bz2-compressed data (a joblib dump?)"),
    (b"\xfd7zXZ\x00", "xz-compressed data (a joblib dump?)"),
    (b"\x04\x22\x4d\x18", "lz4-compressed data (a joblib dump?)"),
    (b"\x93NUMPY", "a numpy .npy file"),
)


class ArtifactError(Exception):
    """A model artifact that must not be loaded."""


class ArtifactTampered(ArtifactError):
    """The bytes are not the ones the registry recorded."""


class ArtifactFormatRefused(ArtifactError):
    """Not a skops file (pickle, joblib, anything else), or not a scikit-learn Pipeline."""


class UntrustedType(ArtifactError):
    """The skops file holds types outside the allowlist."""

    def __init__(self, types: list[str]) -> None:
        self.types = types
        super().__init__(
            f"the model contains type(s) outside the allowlist: {', '.join(types)}. Train it with an "
            "allowlisted estimator (docs/training.md), or review the code of these types and add them "
            "to TRUSTED_TYPES in a reviewed change"
        )


class IncompatibleVersion(ArtifactError):
    """Trained with a scikit-learn whose major.minor differs from the running one."""


class SmokeTestFailed(ArtifactError):
    """The model loaded but cannot predict on rows that meet its contract."""


def save_model(pipeline: Pipeline) -> bytes:
    """The pipeline as skops bytes (a zip of JSON and .npy files, no pickle)."""
    data: bytes = sio.dumps(pipeline)
    return data


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_sklearn_version(trained_with: str) -> None:
    """Raise :class:`IncompatibleVersion` unless major.minor equals the running scikit-learn's."""
    if _major_minor(trained_with) != _major_minor(sklearn.__version__):
        raise IncompatibleVersion(
            f"the model was trained with scikit-learn {trained_with} but {sklearn.__version__} is running; "
            f"retrain it with {sklearn.__version__} (scikit-learn does not promise that models load "
            "across versions)"
        )


def load_model(
    data: bytes,
    *,
    expected_sha256: str,
    trusted: frozenset[str] = TRUSTED_TYPES,
    sklearn_version: str | None = None,
) -> Pipeline:
    """Load a skops artifact after checking hash, format, types and version (in that order).

    ``sklearn_version`` is the manifest's ``libraries.scikit-learn``; pass it whenever known.
    """
    actual = sha256_hex(data)
    if actual != expected_sha256.lower():
        raise ArtifactTampered(
            f"the artifact's SHA-256 is {actual}, the registry recorded {expected_sha256}: the file "
            "was changed or corrupted after registration; re-upload or retrain it, never load it"
        )
    _check_format(data)
    try:
        found = sio.get_untrusted_types(data=data)
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise ArtifactFormatRefused(f"not a readable skops file ({exc}); save it with skops.io.dump") from exc
    untrusted = sorted(set(found) - trusted)
    if untrusted:
        raise UntrustedType(untrusted)
    if sklearn_version is not None:
        check_sklearn_version(sklearn_version)
    with warnings.catch_warnings():
        warnings.simplefilter("error", InconsistentVersionWarning)
        try:
            model = sio.loads(data, trusted=sorted(found))
        except InconsistentVersionWarning as exc:
            raise IncompatibleVersion(
                f"{exc}; retrain the model with scikit-learn {sklearn.__version__}"
            ) from exc
    if not isinstance(model, Pipeline):
        raise ArtifactFormatRefused(
            f"the artifact holds a {type(model).__name__}, not a scikit-learn Pipeline; wrap the "
            "estimator in a Pipeline that takes the prepared feature frame (docs/training.md)"
        )
    return model


def smoke_predict(
    pipeline: Pipeline,
    contract: DataContract,
    rows: int = 20,
    seed: int = 0,
    *,
    signature: list[FeatureField] | None = None,
) -> None:
    """Predict on ``rows`` synthetic rows that meet the contract; raise :class:`SmokeTestFailed` if not."""
    fields = signature if signature is not None else feature_fields(contract, contract_target(contract))
    frame = synthetic_rows(fields, rows, seed)
    try:
        prepared = prepare_features(frame, fields)
        predicted = np.asarray(pipeline.predict(prepared))
        _expect(
            predicted.shape[:1] == (rows,), f"predict returned {predicted.shape[0]} values for {rows} rows"
        )
        if hasattr(pipeline, "predict_proba"):
            proba = np.asarray(pipeline.predict_proba(prepared), dtype=float)
            _expect(proba.ndim == 2 and proba.shape[0] == rows, f"predict_proba returned shape {proba.shape}")
            _expect(bool(np.isfinite(proba).all()), "predict_proba returned NaN or infinity")
            _expect(bool(np.allclose(proba.sum(axis=1), 1.0, atol=1e-6)), "probabilities do not sum to 1")
        elif np.issubdtype(predicted.dtype, np.number):
            _expect(bool(np.isfinite(predicted).all()), "predict returned NaN or infinity")
    except SmokeTestFailed:
        raise
    except Exception as exc:  # any failure of a foreign model is a failed smoke test
        raise SmokeTestFailed(
            f"the model failed on {rows} rows that meet the contract: {type(exc).__name__}: {exc}; "
            "check that it was trained on this contract's features"
        ) from exc


def synthetic_rows(fields: list[FeatureField], rows: int, seed: int = 0) -> pd.DataFrame:
    """Rows within each feature's range and allowed values, with some nulls where allowed."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    for f in fields:
        values: np.ndarray[Any, Any]
        if f.allowed is not None:
            values = np.array(f.allowed, dtype=object)[rng.integers(0, len(f.allowed), rows)]
        elif f.encoding == "boolean":
            values = (rng.random(rows) < 0.5).astype(object)
        elif f.encoding == "category":
            values = np.array([f"value_{i}" for i in rng.integers(0, 5, rows)], dtype=object)
        else:
            low = float(f.min) if f.min is not None else 0.0
            high = float(f.max) if f.max is not None else low + 100.0
            numbers = rng.uniform(low, high, rows)
            values = (np.round(numbers) if f.type is ColumnType.INTEGER else numbers).astype(object)
        if f.nullable:
            values[rng.random(rows) < 0.1] = None
        columns[f.name] = values
    return pd.DataFrame(columns)


def _check_format(data: bytes) -> None:
    if data.startswith(_ZIP):
        return
    for magic, what in _REFUSED_MAGIC:
        if data.startswith(magic):
            raise ArtifactFormatRefused(
                f"the artifact is {what}, which runs code when loaded; save the model with "
                "skops.io.dump(pipeline, 'model.skops') instead"
            )
    raise ArtifactFormatRefused(
        f"the artifact is not a skops file (it starts with {data[:8]!r}, a skops file is a zip); "
        "save the model with skops.io.dump(pipeline, 'model.skops')"
    )


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise SmokeTestFailed(message)


def _major_minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])
