"""The drift baseline: compact statistics of the training data, so drift never rereads it.

Numeric columns keep 10 quantile bins (edges and counts) with min, max, mean, std and the
null share; boolean and category columns keep the count of each value and the null share.
The target gets the same treatment. The JSON is a few KB whatever the dataset's size.
Computing it needs numpy and pandas, not scikit-learn; reading it (the drift check) needs
neither pandas nor the feature code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts import NUMERIC_TYPES, ColumnType, DataContract
from mlops_core.training.manifest import FeatureField

if TYPE_CHECKING:
    import pandas as pd

    from mlops_core.training.spec import TrainingSpec

BINS = 10


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NumericSummary(_Frozen):
    """Bin i holds edges[i] <= v < edges[i+1] (the last bin includes its right edge).

    A drift check stretches the first and last bins to -inf and +inf.
    """

    kind: Literal["numeric"] = "numeric"
    edges: list[float]
    counts: list[int]
    min: float | None
    max: float | None
    mean: float | None
    std: float | None


class FrequencySummary(_Frozen):
    """Count of each value (as text: ``true``/``false`` for booleans); allowed values always listed."""

    kind: Literal["frequency"] = "frequency"
    counts: dict[str, int]


class ColumnBaseline(_Frozen):
    name: str
    type: ColumnType
    role: Literal["feature", "target"]
    rows: int
    null_count: int
    null_share: float
    summary: Annotated[NumericSummary | FrequencySummary, Field(discriminator="kind")]


class DriftBaseline(_Frozen):
    """``baseline.json``, stored next to the model and referenced by its manifest."""

    schema_version: Literal["1"] = "1"
    dataset: str
    contract_version: int
    contract_sha256: str
    rows: int
    features: list[ColumnBaseline]
    target: ColumnBaseline

    def column(self, name: str) -> ColumnBaseline:
        for column in [*self.features, self.target]:
            if column.name == name:
                return column
        raise KeyError(name)


def compute_baseline(frame: pd.DataFrame, contract: DataContract, spec: TrainingSpec) -> DriftBaseline:
    """Statistics of every feature and of the target over ``frame`` (the training data)."""
    # Imported here: reading a baseline (the drift check) needs neither pandas nor features.
    from mlops_core.training.features import feature_fields, prepare_features  # noqa: PLC0415

    target = spec.target_column
    fields = feature_fields(contract, target)
    prepared = prepare_features(frame, fields)
    features = [_column(f.name, f.type, "feature", prepared[f.name], f) for f in fields]
    column = contract.column(target)
    target_field = FeatureField(
        name=target,
        type=column.type,
        encoding="numeric" if column.type in NUMERIC_TYPES else "category",
        allowed=column.allowed,
    )
    if column.type is ColumnType.BOOLEAN:
        target_field = target_field.model_copy(update={"encoding": "boolean"})
    target_values = prepare_features(frame[[target]], [target_field])[target]
    return DriftBaseline(
        dataset=contract.dataset,
        contract_version=contract.version,
        contract_sha256=contract.fingerprint(),
        rows=len(frame),
        features=features,
        target=_column(target, column.type, "target", target_values, target_field),
    )


def _column(
    name: str, kind: ColumnType, role: Literal["feature", "target"], values: pd.Series, field: FeatureField
) -> ColumnBaseline:
    nulls = int(values.isna().sum())
    rows = len(values)
    summary: NumericSummary | FrequencySummary
    if field.encoding == "numeric":
        summary = _numeric(values.to_numpy(dtype="float64"))
    elif field.encoding == "boolean":
        present = values.dropna().to_numpy(dtype="float64")
        summary = FrequencySummary(
            counts={"false": int((present == 0).sum()), "true": int((present == 1).sum())}
        )
    else:
        counts = {str(k): int(v) for k, v in values.dropna().value_counts(sort=False).items()}
        allowed = [str(v).lower() if isinstance(v, bool) else str(v) for v in field.allowed or []]
        ordered = {v: counts.pop(v, 0) for v in allowed}
        summary = FrequencySummary(counts=ordered | dict(sorted(counts.items())))
    return ColumnBaseline(
        name=name,
        type=kind,
        role=role,
        rows=rows,
        null_count=nulls,
        null_share=nulls / rows if rows else 0.0,
        summary=summary,
    )


def _numeric(values: np.ndarray[Any, np.dtype[np.float64]]) -> NumericSummary:
    present = values[~np.isnan(values)]
    if present.size == 0:
        return NumericSummary(edges=[], counts=[], min=None, max=None, mean=None, std=None)
    edges = np.unique(np.quantile(present, np.linspace(0.0, 1.0, BINS + 1)))
    if edges.size == 1:  # a constant column: one closed bin
        edges = np.array([edges[0], edges[0]])
    bins = np.searchsorted(edges[1:-1], present, side="right")
    counts = np.bincount(bins, minlength=edges.size - 1)
    return NumericSummary(
        edges=[float(e) for e in edges],
        counts=[int(c) for c in counts],
        min=float(present.min()),
        max=float(present.max()),
        mean=float(present.mean()),
        std=float(present.std()),
    )
