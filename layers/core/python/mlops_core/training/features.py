"""Which contract columns are model inputs, how each is encoded, and the pipeline around them.

Features are columns with role feature that are not pii and have type integer, float,
boolean or category. id, timestamp, target and pii columns never are; string columns
(free text) and datetime columns are left out in this version. ``prepare_features`` turns
any frame (a training file, a predict request) into the frame every pipeline takes:
numbers as float64, booleans as 0.0/1.0, categories as text, missing values as NaN.
Only ``build_pipeline`` imports scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlops_core.contracts import NUMERIC_TYPES, ColumnRole, ColumnSpec, ColumnType, DataContract
from mlops_core.training.manifest import FeatureField
from mlops_core.training.spec import EstimatorChoice

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

_ENCODING = {
    ColumnType.INTEGER: "numeric",
    ColumnType.FLOAT: "numeric",
    ColumnType.BOOLEAN: "boolean",
    ColumnType.CATEGORY: "category",
}


class MissingFeatures(ValueError):
    """A frame lacks columns the model needs."""

    def __init__(self, missing: list[str]) -> None:
        self.missing = missing
        super().__init__(f"missing feature column(s): {', '.join(missing)}")


def contract_target(contract: DataContract) -> str | None:
    """The target named by the training section, else the column with role target."""
    if contract.training is not None and isinstance(contract.training.get("target"), str):
        return str(contract.training["target"])
    return next((c.name for c in contract.columns if c.role is ColumnRole.TARGET), None)


def exclusion_reason(column: ColumnSpec, target: str | None) -> str | None:
    """Why a column is not a feature, or None when it is one."""
    if column.name == target or column.role is ColumnRole.TARGET:
        return "target"
    if column.role is not ColumnRole.FEATURE:
        return f"role {column.role}"
    if column.pii:
        return "pii"
    if column.type is ColumnType.STRING:
        return "free text (use type category for a column with a few values)"
    if column.type is ColumnType.DATETIME:
        return "datetime features are not supported yet"
    return None


def feature_columns(contract: DataContract, target: str | None = None) -> list[ColumnSpec]:
    """The contract's feature columns, in contract order."""
    target = target if target is not None else contract_target(contract)
    return [c for c in contract.columns if exclusion_reason(c, target) is None]


def feature_fields(contract: DataContract, target: str | None = None) -> list[FeatureField]:
    fields = []
    for column in feature_columns(contract, target):
        numeric = column.type in NUMERIC_TYPES
        fields.append(
            FeatureField(
                name=column.name,
                type=column.type,
                encoding=_ENCODING[column.type],  # type: ignore[arg-type]
                nullable=column.nullable,
                allowed=column.allowed,
                min=column.min if numeric and not isinstance(column.min, str) else None,
                max=column.max if numeric and not isinstance(column.max, str) else None,
            )
        )
    return fields


def feature_signature(contract: DataContract, target: str | None = None) -> list[dict[str, Any]]:
    """The model's inputs as JSON-ready mappings (name, type, encoding, nullable, allowed, min, max)."""
    return [f.model_dump(mode="json") for f in feature_fields(contract, target)]


def prepare_features(frame: pd.DataFrame, fields: list[FeatureField]) -> pd.DataFrame:
    """The frame a pipeline takes: feature columns in signature order, normalised dtypes."""
    missing = [f.name for f in fields if f.name not in frame.columns]
    if missing:
        raise MissingFeatures(missing)
    prepared: dict[str, Any] = {}
    for f in fields:
        series = frame[f.name]
        if f.encoding == "numeric":
            prepared[f.name] = pd.to_numeric(series, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan
            )
        elif f.encoding == "boolean":
            prepared[f.name] = _booleans(series)
        else:
            # object, not pandas' str dtype: the same dtype whatever pandas infers.
            prepared[f.name] = pd.Series(_categories(series), index=frame.index, dtype=object)
    return pd.DataFrame(prepared, index=frame.index)


def build_pipeline(fields: list[FeatureField], estimator: Any, choice: EstimatorChoice) -> Pipeline:
    """ColumnTransformer (per-encoding imputers and encoders) followed by the estimator."""
    # Imported here so that prepare_features (predict, drift) does not load scikit-learn.
    from sklearn.compose import ColumnTransformer  # noqa: PLC0415
    from sklearn.impute import SimpleImputer  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415
    from sklearn.preprocessing import OneHotEncoder, StandardScaler  # noqa: PLC0415

    numeric_steps: list[tuple[str, Any]] = [("impute", SimpleImputer(strategy="median"))]
    if choice.linear:
        numeric_steps.append(("scale", StandardScaler()))
    branches: list[tuple[str, Any, list[str]]] = []
    by_encoding = {
        "numeric": [f.name for f in fields if f.encoding == "numeric"],
        "boolean": [f.name for f in fields if f.encoding == "boolean"],
        "category": [f.name for f in fields if f.encoding == "category"],
    }
    if by_encoding["numeric"]:
        branches.append(("numeric", Pipeline(numeric_steps), by_encoding["numeric"]))
    if by_encoding["boolean"]:
        branches.append(("boolean", SimpleImputer(strategy="most_frequent"), by_encoding["boolean"]))
    if by_encoding["category"]:
        category = Pipeline(
            [
                ("impute", SimpleImputer(strategy="most_frequent")),
                ("encode", OneHotEncoder(handle_unknown="ignore", sparse_output=False)),
            ]
        )
        branches.append(("category", category, by_encoding["category"]))
    # Dense output: HistGradientBoosting refuses sparse input.
    features = ColumnTransformer(branches, remainder="drop", sparse_threshold=0.0)
    return Pipeline([("features", features), ("model", estimator)])


_TRUE = frozenset({"true", "1", "yes", "t", "y"})
_FALSE = frozenset({"false", "0", "no", "f", "n"})


def _booleans(series: pd.Series) -> np.ndarray[Any, np.dtype[np.float64]]:
    if pd.api.types.is_bool_dtype(series.dtype) and not series.hasnans:
        as_float: np.ndarray[Any, np.dtype[np.float64]] = series.to_numpy(dtype="float64")
        return as_float
    out = np.full(len(series), np.nan)
    for i, value in enumerate(series.to_numpy(dtype=object)):
        if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
            continue
        if isinstance(value, bool | np.bool_ | int | np.integer | float | np.floating):
            out[i] = 1.0 if value else 0.0
        elif (text := str(value).strip().lower()) in _TRUE:
            out[i] = 1.0
        elif text in _FALSE:
            out[i] = 0.0
    return out


def _categories(series: pd.Series) -> np.ndarray[Any, np.dtype[np.object_]]:
    values = series.to_numpy(dtype=object, na_value=np.nan)
    missing = pd.isna(values)
    out = np.empty(len(values), dtype=object)
    out[missing] = np.nan
    out[~missing] = [_as_text(v) for v in values[~missing]]
    return out


def _as_text(value: Any) -> str:
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)
