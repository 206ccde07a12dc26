"""Compare a window of captured instances with a model's drift baseline, feature by feature.

The window is what capture stores: one ``features`` mapping per instance (numbers, booleans,
text, or ``None``). Each feature of the baseline gets one test (``method`` per feature or
``auto``), run by ``statistics``; features whose window is too small are reported as
``skipped`` with the reason, never as "no drift". Needs numpy and pydantic, not pandas.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.drift.statistics import (
    TESTS,
    CategoricalSample,
    Kind,
    NumericSample,
    Sample,
    auto_method,
)
from mlops_core.training.baseline import ColumnBaseline, DriftBaseline, NumericSummary

#: A feature needs at least this many non-null values in the window to be tested.
DEFAULT_MIN_WINDOW = 30


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureDrift(_Frozen):
    """One feature's result. ``status`` is ``drifted``, ``stable`` or ``skipped`` (see ``reason``)."""

    feature: str
    kind: Kind
    method: str
    status: Literal["drifted", "stable", "skipped"]
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    window_size: int
    baseline_null_share: float
    window_null_share: float | None
    reason: str | None = None


class WindowComparison(_Frozen):
    """Every feature of the baseline against one window; ``drifted_share`` over tested features."""

    instances: int
    features: list[FeatureDrift]
    unknown_features: list[str] = Field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.status == "drifted"]

    @property
    def tested(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.status != "skipped"]

    @property
    def drifted_share(self) -> float:
        tested = self.tested
        return len(self.drifted) / len(tested) if tested else 0.0


def column_kind(column: ColumnBaseline) -> Kind:
    return "numeric" if isinstance(column.summary, NumericSummary) else "categorical"


def compare_window(
    baseline: DriftBaseline,
    instances: Iterable[Mapping[str, Any]],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_window: int = DEFAULT_MIN_WINDOW,
) -> WindowComparison:
    """Test each baseline feature on ``instances``.

    ``methods`` and ``thresholds`` are keyed by feature name; a method is a registered test name
    or ``auto``. An unknown method, a method that does not accept the feature's kind or a feature
    name that the baseline does not have is a ``ValueError`` naming it.
    """
    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    names = {column.name for column in baseline.features}
    for label, given in (("methods", methods), ("thresholds", thresholds)):
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"drift {label}: {', '.join(unknown)} is not a feature of the baseline")
    if min_window < 1:
        raise ValueError("min_window must be at least 1")

    columns: dict[str, list[Any]] = {name: [] for name in names}
    seen: set[str] = set()
    count = 0
    for instance in instances:
        count += 1
        seen.update(instance)
        for name, values in columns.items():
            values.append(instance.get(name))

    results = [
        _feature(
            column,
            columns[column.name],
            methods.get(column.name, "auto"),
            thresholds.get(column.name),
            min_window,
        )
        for column in baseline.features
    ]
    return WindowComparison(
        instances=count,
        features=results,
        unknown_features=sorted(seen - names - {baseline.target.name}),
    )


def _feature(
    column: ColumnBaseline, raw: list[Any], method: str, threshold: float | None, min_window: int
) -> FeatureDrift:
    kind = column_kind(column)
    if method != "auto":
        if method not in TESTS:
            raise ValueError(
                f"drift method of {column.name!r}: unknown test {method!r}; use auto or one of "
                f"{', '.join(TESTS)}"
            )
        if kind not in TESTS[method].kinds:
            raise ValueError(f"drift method of {column.name!r}: {method} does not accept {kind} features")
    sample: Sample | None
    nulls: int
    if isinstance(column.summary, NumericSummary):
        values = np.array([_number(v) for v in raw], dtype=np.float64)
        nulls = int(np.isnan(values).sum())
        sample = (
            NumericSample.of(column.summary.edges, column.summary.counts, column.summary.std, values)
            if column.summary.edges
            else None
        )
    else:
        present = [_category(v) for v in raw if not _missing(v)]
        nulls = len(raw) - len(present)
        sample = (
            CategoricalSample.of(column.summary.counts, Counter(present))
            if sum(column.summary.counts.values()) > 0
            else None
        )
    size = len(raw) - nulls
    chosen = auto_method(kind, size) if method == "auto" else method
    skipped = FeatureDrift(
        feature=column.name,
        kind=kind,
        method=chosen,
        status="skipped",
        window_size=size,
        baseline_null_share=column.null_share,
        window_null_share=nulls / len(raw) if raw else None,
    )
    if sample is None:
        return skipped.model_copy(update={"reason": "the baseline holds no values"})
    if size < min_window:
        reason = f"{size} non-null values in the window, fewer than min_window={min_window}"
        return skipped.model_copy(update={"reason": reason})
    result = TESTS[chosen].run(sample, threshold)
    return skipped.model_copy(
        update={
            "status": "drifted" if result.drifted else "stable",
            "statistic": result.statistic,
            "p_value": result.p_value,
            "threshold": result.threshold,
        }
    )


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _number(value: Any) -> float:
    """A captured number as float; ``None``, NaN and anything not a number count as null."""
    if _missing(value) or isinstance(value, bool):
        return math.nan
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _category(value: Any) -> str:
    """The baseline's spelling: booleans as ``true``/``false``, everything else as text."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
