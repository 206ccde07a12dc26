"""The model manifest: what a trained (or uploaded) model is, how it was made, what it expects.

One ``manifest.json`` sits next to each ``model.skops``. Training writes it; a
bring-your-own upload (``models/incoming/<model>/<id>/``) supplies it by hand with the
same schema, the dataset fields left out. Importing this module loads no scikit-learn.
"""

from __future__ import annotations

import math
import platform
from datetime import datetime
from importlib import metadata
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    StringConstraints,
    field_validator,
    model_validator,
)

from mlops_core.contracts import ColumnType

ModelName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
Sha256 = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]

ARTIFACT_FILE: Literal["model.skops"] = "model.skops"
MANIFEST_FILE = "manifest.json"
BASELINE_FILE = "baseline.json"


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureField(_Frozen):
    """One model input, as the contract declares it; predict and drift check requests with it."""

    name: str
    type: ColumnType
    #: How the pipeline encodes it: numeric (median-imputed), boolean (0/1), category (one-hot).
    encoding: Literal["numeric", "boolean", "category"]
    nullable: bool = False
    allowed: list[str | int | float | bool] | None = None
    min: int | float | None = None
    max: int | float | None = None

    @field_validator("min", "max")
    @classmethod
    def _finite(cls, bound: float | None) -> float | None:
        # predict enforces these bounds, and no value is ever below NaN or above infinity.
        if bound is not None and not math.isfinite(bound):
            raise ValueError(f"a bound must be a finite number, not {bound}")
        return bound

    @model_validator(mode="after")
    def _bounds_in_order(self) -> FeatureField:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"max ({self.max}) is below min ({self.min}): no value could be sent")
        return self

    @field_validator("allowed")
    @classmethod
    def _allowed_not_empty(
        cls, allowed: list[str | int | float | bool] | None
    ) -> list[str | int | float | bool] | None:
        # An empty list would allow nothing: every request refused, no smoke rows to make.
        if allowed is not None and not allowed:
            raise ValueError("allowed must list at least one value (or be left out)")
        return allowed


class Candidate(_Frozen):
    """One estimator tried by ``auto``: its cross-validated score on the training split."""

    estimator: str
    status: Literal["trained", "failed", "skipped"]
    cv_score: float | None = None
    cv_std: float | None = None
    seconds: float = 0.0
    reason: str | None = None


class FeatureImportance(_Frozen):
    """Permutation importance on the held-out split, in units of the primary metric."""

    feature: str
    importance_mean: float
    importance_std: float


class LibraryVersions(_Frozen):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, serialize_by_alias=True)

    python: str
    scikit_learn: str = Field(alias="scikit-learn")
    skops: str
    numpy: str
    pandas: str | None = None


def library_versions() -> LibraryVersions:
    """The versions of the running interpreter and libraries, read without importing them."""
    return LibraryVersions(
        python=platform.python_version(),
        scikit_learn=metadata.version("scikit-learn"),
        skops=metadata.version("skops"),
        numpy=metadata.version("numpy"),
        pandas=metadata.version("pandas"),
    )


class ModelManifest(_Frozen):
    """``manifest.json``: written by training, hand-written for bring-your-own models."""

    schema_version: Literal["1"] = "1"
    model_name: ModelName
    task: Literal["classification", "regression"]
    #: An allowlisted estimator name, or a free label for a bring-your-own model.
    estimator: str
    params: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, FiniteFloat] = Field(default_factory=dict)
    primary_metric: str
    target: str
    #: Classification only: the labels predict_proba's columns stand for, in order.
    classes: list[str | int | float | bool] | None = None
    feature_signature: Annotated[list[FeatureField], Field(min_length=1)]
    contract_version: int
    contract_sha256: Sha256
    dataset_uri: str | None = None
    dataset_sha256: Sha256 | None = None
    libraries: LibraryVersions
    artifact_file: Literal["model.skops"] = ARTIFACT_FILE
    artifact_sha256: Sha256
    baseline_file: str | None = BASELINE_FILE
    trained_at: datetime
    training_seconds: float | None = None
    train_rows: int | None = None
    test_rows: int | None = None
    candidates: list[Candidate] = Field(default_factory=list)
    feature_importance: list[FeatureImportance] = Field(default_factory=list)

    @model_validator(mode="after")
    def _consistent(self) -> ModelManifest:
        # The registry and the approval policy judge a version by this value.
        if self.primary_metric not in self.metrics:
            raise ValueError(
                f"metrics must give the primary_metric {self.primary_metric!r}; "
                f"it gives {sorted(self.metrics) or 'none'}"
            )
        names = [f.name for f in self.feature_signature]
        if len(set(names)) != len(names):
            raise ValueError("feature_signature names a feature twice")
        if self.target in names:
            raise ValueError(f"the target {self.target!r} cannot also be a feature")
        return self

    @property
    def sklearn_version(self) -> str:
        return self.libraries.scikit_learn

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.feature_signature]
