"""Compare a window of captured instances with a model's drift baseline, feature by feature.

The window is what capture stores: one ``features`` mapping per instance (numbers, booleans,
text, or ``None``). Each feature of the baseline gets one test (``method`` per feature or
``auto``), run by ``statistics``; features whose window is too small are reported as
``skipped`` with the reason, never as "no drift". Needs numpy and pydantic, not pandas.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from operator import itemgetter, methodcaller
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts import ColumnSpec, DataContract
from mlops_core.drift.statistics import (
    TESTS,
    CategoricalSample,
    Kind,
    NumericSample,
    Sample,
    auto_method,
    binned_counts,
)
from mlops_core.training.baseline import ColumnBaseline, DriftBaseline, NumericSummary

#: A feature needs at least this many non-null values in the window to be tested.
DEFAULT_MIN_SAMPLES = 30
#: A run is a dataset drift when at least this share of the tested features drift.
DEFAULT_DRIFT_SHARE = 0.5
#: Categories shown one by one in a report's histogram; the rest are pooled as ``OTHER``.
HISTOGRAM_CATEGORIES = 20
OTHER = "(other)"
#: Instances turned into columns at a time (small enough to stay in the CPU cache).
_TRANSPOSE_ROWS = 128

Verdict = Literal["ok", "drift", "insufficient_data"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TestOutcome(_Frozen):
    """One test's result, as the report and ``mlops drift check --json`` show it."""

    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


class Histogram(_Frozen):
    """Baseline and window proportions over the same cells, for the report's pictures.

    Numeric: ``edges`` (one more than the cells; values outside fall in the first or last
    cell, as the tests bin them). Categorical: ``labels``, the most frequent categories of
    either side, then ``(other)`` pooling the rest when there are more.
    """

    edges: list[float] | None = None
    labels: list[str] | None = None
    baseline: list[float]
    window: list[float]


class DataQuality(_Frozen):
    """What the window's values break of the contract (counts over the window's records)."""

    nulls: int = 0
    #: nulls in a column the contract does not declare ``nullable``
    unexpected_nulls: int = 0
    #: a value that is not a number in a numeric feature
    type_errors: int = 0
    #: below the contract's ``min``, above its ``max``, or not one of its ``allowed`` values
    out_of_range: int = 0


class FeatureDrift(_Frozen):
    """One feature's result. ``status`` is ``drifted``, ``stable`` or ``skipped`` (see ``reason``).

    ``method`` is the test that decides; ``tests`` holds its outcome under its name (empty when
    skipped).
    """

    feature: str
    kind: Kind
    method: str
    status: Literal["drifted", "stable", "skipped"]
    drifted: bool = False
    statistic: float | None = None
    p_value: float | None = None
    threshold: float | None = None
    tests: dict[str, TestOutcome] = Field(default_factory=dict)
    window_size: int
    baseline_null_share: float
    window_null_share: float | None
    quality: DataQuality = Field(default_factory=DataQuality)
    histogram: Histogram | None = None
    reason: str | None = None


class WindowComparison(_Frozen):
    """Every feature of the baseline against one window; ``drift_share`` over tested features.

    ``prediction`` is the model's outputs against the training target's distribution (when
    predictions were given); it is reported apart and does not count in ``drift_share``.
    """

    instances: int
    features: list[FeatureDrift]
    prediction: FeatureDrift | None = None
    unknown_features: list[str] = Field(default_factory=list)

    @property
    def drifted(self) -> list[str]:
        return [f.feature for f in self.features if f.status == "drifted"]

    @property
    def tested(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.status != "skipped"]

    @property
    def drift_share(self) -> float:
        tested = self.tested
        return len(self.drifted) / len(tested) if tested else 0.0

    def verdict(self, drift_share: float = DEFAULT_DRIFT_SHARE) -> Verdict:
        """``insufficient_data`` when no feature was tested, else ``drift`` at ``drift_share``."""
        if not self.tested:
            return "insufficient_data"
        return "drift" if self.drift_share >= drift_share else "ok"

    def summary(self, drift_share: float = DEFAULT_DRIFT_SHARE) -> dict[str, Any]:
        """The documented JSON of ``mlops drift check --json`` (docs/drift.md)."""
        verdict = self.verdict(drift_share)
        return {
            "status": verdict,
            "drift_share": self.drift_share,
            "drift_share_threshold": drift_share,
            "dataset_drift": verdict == "drift",
            "instances": self.instances,
            "features": {f.feature: _feature_summary(f) for f in self.features},
            "prediction": _feature_summary(self.prediction) if self.prediction is not None else None,
            "unknown_features": self.unknown_features,
        }


def _feature_summary(feature: FeatureDrift) -> dict[str, Any]:
    return {
        "drifted": feature.drifted,
        "status": feature.status,
        "kind": feature.kind,
        "method": feature.method,
        "tests": {name: outcome.model_dump() for name, outcome in feature.tests.items()},
        "window_size": feature.window_size,
        "window_null_share": feature.window_null_share,
        "baseline_null_share": feature.baseline_null_share,
        "quality": feature.quality.model_dump(),
        "reason": feature.reason,
    }


def column_kind(column: ColumnBaseline) -> Kind:
    return "numeric" if isinstance(column.summary, NumericSummary) else "categorical"


def compare_window(
    baseline: DriftBaseline,
    instances: Iterable[Mapping[str, Any]],
    *,
    methods: Mapping[str, str] | None = None,
    thresholds: Mapping[str, float] | None = None,
    min_samples: int | Mapping[str, int] = DEFAULT_MIN_SAMPLES,
    predictions: Iterable[Any] | None = None,
    contract: DataContract | None = None,
) -> WindowComparison:
    """Test each baseline feature on ``instances``.

    ``methods``, ``thresholds`` and ``min_samples`` (a number for every feature, or by feature
    name with ``DEFAULT_MIN_SAMPLES`` for the others) are keyed by feature name; a method is a
    registered test name or ``auto``. An unknown method, a method that does not accept the
    feature's kind or a feature name that the baseline does not have is a ``ValueError`` naming
    it. ``predictions`` (one per
    instance, or any sample of them) are tested against the baseline's target with ``auto``.
    ``contract`` adds the data-quality counts (its ``nullable``, ``min``, ``max``, ``allowed``).
    """
    methods = dict(methods or {})
    thresholds = dict(thresholds or {})
    minimum = dict(min_samples) if isinstance(min_samples, Mapping) else {}
    default_minimum = min_samples if isinstance(min_samples, int) else DEFAULT_MIN_SAMPLES
    names = {column.name for column in baseline.features}
    for label, given in (("methods", methods), ("thresholds", thresholds), ("min_samples", minimum)):
        unknown = sorted(set(given) - names)
        if unknown:
            raise ValueError(f"drift {label}: {', '.join(unknown)} is not a feature of the baseline")
    if min([default_minimum, *minimum.values()]) < 1:
        raise ValueError("min_samples must be at least 1")

    rows = instances if isinstance(instances, list) else list(instances)
    count = len(rows)
    fields = set(map(tuple, rows))  # the distinct field lists: usually one
    seen = {name for keys in fields for name in keys}
    columns = _columns(rows, [c.name for c in baseline.features], fields)

    specs = {c.name: c for c in contract.columns} if contract is not None else {}
    results = [
        _feature(
            column,
            columns[column.name],
            methods.get(column.name, "auto"),
            thresholds.get(column.name),
            minimum.get(column.name, default_minimum),
            specs.get(column.name),
        )
        for column in baseline.features
    ]
    prediction = None
    if predictions is not None:
        outputs = list(predictions)
        if outputs:
            prediction = _feature(baseline.target, outputs, "auto", None, default_minimum, None)
    return WindowComparison(
        instances=count,
        features=results,
        prediction=prediction,
        unknown_features=sorted(seen - names - {baseline.target.name}),
    )


def _feature(  # noqa: PLR0917 - one private call site per argument order
    column: ColumnBaseline,
    raw: list[Any],
    method: str,
    threshold: float | None,
    min_samples: int,
    spec: ColumnSpec | None,
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
    histogram: Histogram | None
    if isinstance(column.summary, NumericSummary):
        values, nulls, type_errors = _numbers(raw)
        present = values[~np.isnan(values)]
        edges = column.summary.edges
        sample = NumericSample.of(edges, column.summary.counts, column.summary.std, values) if edges else None
        histogram = (
            Histogram(
                edges=list(edges),
                baseline=_shares(column.summary.counts),
                window=_shares(binned_counts(present, edges).tolist()),
            )
            if edges
            else None
        )
        out_of_range = _out_of_range_numbers(present, spec)
        categories: Counter[str] = Counter()
    else:
        categories, nulls = _categories(raw)
        type_errors = 0
        sample = (
            CategoricalSample.of(column.summary.counts, categories)
            if sum(column.summary.counts.values()) > 0
            else None
        )
        histogram = _category_histogram(column.summary.counts, categories)
        out_of_range = _out_of_range_categories(categories, spec)
    absent = nulls + type_errors
    size = len(raw) - absent
    chosen = auto_method(kind, size) if method == "auto" else method
    quality = DataQuality(
        nulls=nulls,
        unexpected_nulls=nulls if spec is not None and not spec.nullable else 0,
        type_errors=type_errors,
        out_of_range=out_of_range,
    )
    skipped = FeatureDrift(
        feature=column.name,
        kind=kind,
        method=chosen,
        status="skipped",
        window_size=size,
        baseline_null_share=column.null_share,
        window_null_share=absent / len(raw) if raw else None,
        quality=quality,
        histogram=histogram,
    )
    if sample is None:
        return skipped.model_copy(update={"reason": "the baseline holds no values"})
    if size < min_samples:
        reason = f"{size} non-null values in the window, fewer than min_samples={min_samples}"
        return skipped.model_copy(update={"reason": reason})
    result = TESTS[chosen].run(sample, threshold)
    return skipped.model_copy(
        update={
            "status": "drifted" if result.drifted else "stable",
            "drifted": result.drifted,
            "statistic": result.statistic,
            "p_value": result.p_value,
            "threshold": result.threshold,
            "tests": {
                chosen: TestOutcome(
                    statistic=result.statistic,
                    p_value=result.p_value,
                    threshold=result.threshold,
                    drifted=result.drifted,
                )
            },
        }
    )


def _shares(counts: Sequence[int] | Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total if total else 0.0 for c in counts]


def _category_histogram(baseline: Mapping[str, int], window: Mapping[str, int]) -> Histogram:
    """The ``HISTOGRAM_CATEGORIES`` most frequent categories of either side, the rest pooled."""
    base_total = sum(baseline.values()) or 1
    window_total = sum(window.values()) or 1
    weight = {
        k: baseline.get(k, 0) / base_total + window.get(k, 0) / window_total for k in {*baseline, *window}
    }
    ranked = sorted(weight, key=lambda k: (-weight[k], k))
    shown = ranked[:HISTOGRAM_CATEGORIES]
    base = [baseline.get(k, 0) / base_total for k in shown]
    live = [window.get(k, 0) / window_total for k in shown]
    if len(ranked) > len(shown):
        shown = [*shown, OTHER]
        base.append(max(0.0, 1.0 - sum(base)) if sum(baseline.values()) else 0.0)
        live.append(max(0.0, 1.0 - sum(live)) if sum(window.values()) else 0.0)
    return Histogram(labels=shown, baseline=base, window=live)


def _out_of_range_numbers(present: npt.NDArray[np.float64], spec: ColumnSpec | None) -> int:
    if spec is None:
        return 0
    outside = np.zeros(present.shape, dtype=bool)
    if isinstance(spec.min, int | float) and not isinstance(spec.min, bool):
        outside |= present < spec.min
    if isinstance(spec.max, int | float) and not isinstance(spec.max, bool):
        outside |= present > spec.max
    return int(outside.sum())


def _out_of_range_categories(categories: Mapping[str, int], spec: ColumnSpec | None) -> int:
    allowed = spec.allowed_text if spec is not None else None
    if allowed is None:
        return 0
    permitted = set(allowed)
    return sum(n for value, n in categories.items() if value not in permitted)


def _columns(
    rows: list[Mapping[str, Any]], names: list[str], fields: set[tuple[str, ...]]
) -> dict[str, list[Any]]:
    """Each field's values (``None`` where an instance lacks it), one list per name."""
    columns: dict[str, list[Any]] = {}
    if len(fields) == 1:  # every instance has the same fields in the same order
        (keys,) = fields
        wanted = set(names)
        lists = _transpose(rows, methodcaller("values"), len(keys))
        columns = {name: values for name, values in zip(keys, lists, strict=True) if name in wanted}
    elif fields:
        everywhere = [n for n in names if all(n in keys for keys in fields)]
        if everywhere:
            get = itemgetter(*everywhere) if len(everywhere) > 1 else lambda row: (row[everywhere[0]],)
            columns = dict(zip(everywhere, _transpose(rows, get, len(everywhere)), strict=True))
    for name in names:
        if name not in columns:
            columns[name] = [row.get(name) for row in rows]
    return columns


def _transpose(
    rows: list[Mapping[str, Any]], get: Callable[[Mapping[str, Any]], Iterable[Any]], width: int
) -> list[list[Any]]:
    """``width`` columns of ``get(row)`` for every row.

    Row by row, a few rows at a time: column by column over all the rows would fetch every
    instance from memory once per feature.
    """
    columns: list[list[Any]] = [[] for _ in range(width)]
    for begin in range(0, len(rows), _TRANSPOSE_ROWS):
        pieces = zip(*map(get, rows[begin : begin + _TRANSPOSE_ROWS]), strict=True)
        for values, piece in zip(columns, pieces, strict=True):
            values.extend(piece)
    return columns


#: Types whose values convert to float64 in one numpy call (``None`` to NaN) exactly as ``_number`` does.
_PLAIN_NUMBERS = frozenset({float, int, type(None)})


def _numbers(raw: list[Any]) -> tuple[npt.NDArray[np.float64], int, int]:
    """The values as float64 (NaN for nulls and non-numbers), the null count and the type-error count."""
    if set(map(type, raw)) <= _PLAIN_NUMBERS:
        values = np.array(raw, dtype=np.float64)
        return values, int(np.isnan(values).sum()), 0
    values = np.array([_number(v) for v in raw], dtype=np.float64)
    nulls = sum(1 for v in raw if _missing(v))
    return values, nulls, int(np.isnan(values).sum()) - nulls


#: Sets of value types that ``Counter`` can count as they are: no two values of different
#: spellings compare equal (``True == 1``, ``1 == 1.0`` and ``0.0 == -0.0`` would merge).
_PLAIN_CATEGORIES = (
    frozenset({str, bool, type(None)}),
    frozenset({str, int, type(None)}),
)


def _categories(raw: list[Any]) -> tuple[Counter[str], int]:
    """The count of each non-null value in the baseline's spelling, and the null count."""
    try:
        counts = Counter(raw)
    except TypeError:  # an unhashable value (a list or an object): spelled one by one
        counts = None
    if counts is not None and any(set(map(type, counts)) <= plain for plain in _PLAIN_CATEGORIES):
        nulls = counts.pop(None, 0)
        spelled: Counter[str] = Counter()
        for value, n in counts.items():
            spelled[_category(value)] += n
        return spelled, nulls
    return Counter(_category(v) for v in raw if not _missing(v)), sum(1 for v in raw if _missing(v))


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
