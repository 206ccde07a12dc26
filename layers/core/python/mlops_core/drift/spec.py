"""The contract's ``drift:`` section as a typed model, checked against the contract.

Every key has a default, so a contract without the section is checked with the defaults:

    drift:
      window_days: 7            # the check reads capture/<model>/dt=<day>/ of the last 7 days
      min_samples: 30           # fewer non-null values: the feature is skipped, not "stable"
      max_instances: 100000     # a larger window is sampled down (uniform reservoir)
      method: auto              # default test of every feature (docs/drift.md)
      features:                 # per feature: a test, a threshold, min_samples, or ignore
        monthly_charges: {method: psi, threshold: 0.25, min_samples: 200}
        support_tickets: {ignore: true}
      drift_share: 0.5          # the run drifts when at least this share of tested features do
      confirm: {runs: 3, drifted: 2}   # alert after 2 drifted runs among the last 3 (default)
      retrain: false            # on a confirmed drift, also request retraining
      quality:                  # model quality against uploaded ground truth (drift/quality.py)
        max_drop: 0.05          # degraded when the metric is worse than registered by more than this
        min_labels: 100         # fewer joined labels: insufficient_data
        metric: null            # default: the version's primary metric
        window_days: null       # default: window_days above

``drift_spec(contract)`` raises a :class:`~mlops_core.contracts.ContractError` whose fields
read ``drift.<key>``. Needs pydantic only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlops_core.contracts import (
    NUMERIC_TYPES,
    ColumnRole,
    ColumnType,
    ContractError,
    ContractFieldError,
    DataContract,
    contract_key,
)
from mlops_core.drift.statistics import TESTS, Kind, tests_for
from mlops_core.training.spec import METRICS

AUTO = "auto"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureDriftSpec(_Strict):
    method: str = AUTO
    threshold: float | None = None
    #: Overrides the section's ``min_samples`` for this feature.
    min_samples: Annotated[int, Field(ge=1)] | None = None
    ignore: bool = False


class ConfirmSpec(_Strict):
    """K-of-N: a drift is confirmed when ``drifted`` of the last ``runs`` runs drifted."""

    runs: Annotated[int, Field(ge=1, le=30)] = 3
    drifted: Annotated[int, Field(ge=1)] = 2

    @model_validator(mode="after")
    def _k_within_n(self) -> ConfirmSpec:
        if self.drifted > self.runs:
            raise ValueError(f"drifted ({self.drifted}) cannot exceed runs ({self.runs})")
        return self


class QualitySpec(_Strict):
    """``drift.quality``: how a version's metrics on labelled traffic are judged (docs/drift.md)."""

    #: Degraded when the metric is worse than registered by more than this (absolute, in its units).
    max_drop: Annotated[float, Field(ge=0.0)] = 0.05
    #: Fewer labels joined with predictions: ``insufficient_data``, never degraded.
    min_labels: Annotated[int, Field(ge=1)] = 100
    #: The metric that decides; default: the version's primary metric.
    metric: str | None = None
    #: Days of capture joined with the labels; default: the section's ``window_days``.
    window_days: Annotated[int, Field(ge=1, le=366)] | None = None

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str | None) -> str | None:
        known = [name for metrics in METRICS.values() for name in metrics]
        if metric is not None and metric not in known:
            raise ValueError(f"{metric!r} is not a training metric; use one of {', '.join(known)}")
        return metric


class DriftSpec(_Strict):
    """The ``drift:`` section of a contract (docs/drift.md)."""

    window_days: Annotated[int, Field(ge=1, le=366)] = 7
    min_samples: Annotated[int, Field(ge=1)] = 30
    max_instances: Annotated[int, Field(ge=100, le=5_000_000)] = 100_000
    method: str = AUTO
    features: dict[str, FeatureDriftSpec] = Field(default_factory=dict)
    drift_share: Annotated[float, Field(gt=0.0, le=1.0)] = 0.5
    confirm: ConfirmSpec = Field(default_factory=ConfirmSpec)
    retrain: bool = False
    quality: QualitySpec = Field(default_factory=QualitySpec)

    def method_of(self, feature: str) -> str:
        override = self.features.get(feature)
        return override.method if override is not None and override.method != AUTO else self.method

    def methods(self, features: Iterable[str]) -> dict[str, str]:
        """The method of each of ``features`` not ignored (``auto`` included), for ``compare_window``."""
        return {name: self.method_of(name) for name in features if name not in self.ignored}

    def thresholds(self) -> dict[str, float]:
        return {
            name: spec.threshold
            for name, spec in self.features.items()
            if spec.threshold is not None and not spec.ignore
        }

    def min_samples_of(self, features: Iterable[str]) -> dict[str, int]:
        """``min_samples`` of each of ``features``: its own, else the section's."""
        return {
            name: override.min_samples
            if (override := self.features.get(name)) is not None and override.min_samples is not None
            else self.min_samples
            for name in features
        }

    @property
    def ignored(self) -> set[str]:
        return {name for name, spec in self.features.items() if spec.ignore}


def column_kind(kind: ColumnType) -> Kind | None:
    """The drift kind of a contract column type; ``None`` for types drift does not test."""
    if kind in NUMERIC_TYPES:
        return "numeric"
    if kind in (ColumnType.BOOLEAN, ColumnType.CATEGORY):
        return "categorical"
    return None


def drift_spec(contract: DataContract, source: str | None = None) -> DriftSpec:
    """The contract's drift section (defaults when absent), checked against its columns."""
    where = source or contract_key(contract.dataset)
    try:
        spec = DriftSpec.model_validate(contract.drift or {})
    except ValidationError as exc:
        raise ContractError(where, [_field_error(e) for e in exc.errors(include_url=False)]) from exc
    errors: list[ContractFieldError] = []
    if spec.method != AUTO and spec.method not in TESTS:
        errors.append(ContractFieldError(field="drift.method", message=_unknown(spec.method)))
    elif spec.method != AUTO:
        kinds = {column_kind(c.type) for c in _features(contract)} - {None}
        for kind in sorted(k for k in kinds if k is not None and k not in TESTS[spec.method].kinds):
            errors.append(
                ContractFieldError(
                    field="drift.method",
                    message=f"{spec.method} does not accept {kind} features; use auto, or set "
                    "the method of those features under drift.features",
                )
            )
    features = {c.name: c for c in _features(contract)}
    for name, override in spec.features.items():
        field = f"drift.features.{name}"
        column = features.get(name)
        if column is None:
            errors.append(
                ContractFieldError(
                    field=field,
                    message=f"{name!r} is not a feature of the contract; features are "
                    f"{', '.join(features) or 'none'}",
                )
            )
            continue
        if override.method == AUTO:
            continue
        if override.method not in TESTS:
            errors.append(ContractFieldError(field=f"{field}.method", message=_unknown(override.method)))
            continue
        column_drift_kind = column_kind(column.type)
        if column_drift_kind is not None and column_drift_kind not in TESTS[override.method].kinds:
            errors.append(
                ContractFieldError(
                    field=f"{field}.method",
                    message=f"{override.method} does not accept {column_drift_kind} features; use one "
                    f"of {', '.join(t.name for t in tests_for(column_drift_kind))} or auto",
                )
            )
    if errors:
        raise ContractError(where, errors)
    return spec


def _features(contract: DataContract) -> list[Any]:
    """Columns the model sees: role feature, not the target, not pii, a type drift can test."""
    target = (contract.training or {}).get("target")
    return [
        c
        for c in contract.columns
        if c.role is ColumnRole.FEATURE and c.name != target and not c.pii and column_kind(c.type) is not None
    ]


def _unknown(method: str) -> str:
    return f"unknown test {method!r}; use auto or one of {', '.join(TESTS)}"


def _field_error(error: Any) -> ContractFieldError:
    loc = ".".join(str(part) for part in error["loc"])
    field_name = f"drift.{loc}" if loc else "drift"
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key; check its spelling against docs/drift.md"
    elif kind == "missing":
        message = "required key is missing"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return ContractFieldError(field=field_name, message=message)
