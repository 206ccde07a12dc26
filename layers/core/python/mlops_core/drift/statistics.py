"""Per-feature drift statistics against the training baseline, in pure numpy.

A numeric feature's baseline is its quantile bins (``edges``/``counts``, bin i holds
``edges[i] <= v < edges[i+1]``, the last bin closed) and its std; a categorical feature's
baseline is the count of each value. The window is raw: a numpy array of numbers (NaN dropped
and counted apart) or a ``{value: count}`` mapping. No raw training data is needed.

Every test is a pure function of a ``NumericSample`` or ``CategoricalSample`` registered with
its name, the column kinds it accepts, its default threshold and its direction; see
``TESTS``, ``tests_for`` and ``auto_method``. The maths and tolerances are in docs/drift.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

if TYPE_CHECKING:
    from mlops_core.training.baseline import FrequencySummary, NumericSummary

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
Kind = Literal["numeric", "categorical"]

#: Proportion that stands in for an empty bin or category in PSI (so the log stays finite).
PSI_EPSILON = 1e-4
#: Windows with at least this many non-null values are "large" for ``auto_method``.
AUTO_LARGE_WINDOW = 1000
#: Pseudo-count of the pooled "unseen" cell in the chi-square test (half an observation).
CHI_SQUARE_UNSEEN_PSEUDO_COUNT = 0.5
#: Significance level of the tests decided on their p-value (ks, chi_square).
SIGNIFICANCE = 0.05

_GAMMA_EPS = 1e-16
_GAMMA_MAX_ITER = 10_000
_GAMMA_TINY = 1e-300


# ---------------------------------------------------------------------------------------------
# Inputs and results
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NumericSample:
    """A numeric feature: the baseline's bins and std, and the window's non-null values."""

    edges: FloatArray
    counts: IntArray
    std: float
    window: FloatArray
    nulls: int = 0
    kind: Literal["numeric"] = "numeric"

    @classmethod
    def of(
        cls, edges: npt.ArrayLike, counts: npt.ArrayLike, std: float | None, window: npt.ArrayLike
    ) -> NumericSample:
        """Build from plain values; NaN in ``window`` is dropped and counted in ``nulls``."""
        edge_array = np.asarray(edges, dtype=np.float64)
        count_array = np.asarray(counts, dtype=np.int64)
        if edge_array.size < 2 or count_array.size != edge_array.size - 1:
            raise ValueError("a numeric baseline needs at least two edges and one count per bin")
        if int(count_array.sum()) <= 0:
            raise ValueError("the numeric baseline holds no values")
        values = np.asarray(window, dtype=np.float64).ravel()
        missing = np.isnan(values)
        return cls(
            edges=edge_array,
            counts=count_array,
            std=float(std) if std is not None else 0.0,
            window=values[~missing],
            nulls=int(missing.sum()),
        )

    @classmethod
    def from_summary(cls, summary: NumericSummary, window: npt.ArrayLike) -> NumericSample:
        return cls.of(summary.edges, summary.counts, summary.std, window)

    @property
    def size(self) -> int:
        return int(self.window.size)


@dataclass(frozen=True)
class CategoricalSample:
    """A categorical (category or boolean) feature: ``{value: count}`` of baseline and window."""

    baseline: Mapping[str, int]
    window: Mapping[str, int]
    kind: Literal["categorical"] = "categorical"

    @classmethod
    def of(cls, baseline: Mapping[str, int], window: Mapping[str, int]) -> CategoricalSample:
        if sum(baseline.values()) <= 0:
            raise ValueError("the categorical baseline holds no values")
        if any(c < 0 for c in [*baseline.values(), *window.values()]):
            raise ValueError("counts cannot be negative")
        return cls(baseline=dict(baseline), window=dict(window))

    @classmethod
    def from_summary(cls, summary: FrequencySummary, window: Mapping[str, int]) -> CategoricalSample:
        return cls.of(summary.counts, window)

    @property
    def size(self) -> int:
        return int(sum(self.window.values()))


Sample = NumericSample | CategoricalSample


@dataclass(frozen=True)
class TestResult:
    """One test on one feature. ``drifted`` compares the statistic (or the p-value) with ``threshold``."""

    __test__ = False  # not a pytest test class

    name: str
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool


Compute = Callable[[Sample], tuple[float, float | None]]


@dataclass(frozen=True)
class DriftTest:
    """A registered test.

    ``higher_is_drift=True``: drifted when ``statistic > threshold``.
    ``higher_is_drift=False``: the threshold is a significance level, drifted when
    ``p_value < threshold``.
    """

    name: str
    kinds: frozenset[Kind]
    default_threshold: float
    higher_is_drift: bool
    compute: Compute

    def run(self, sample: Sample, threshold: float | None = None) -> TestResult:
        if sample.kind not in self.kinds:
            raise TypeError(f"{self.name} does not accept {sample.kind} columns")
        if sample.size == 0:
            raise ValueError(f"{self.name}: the window holds no non-null values")
        limit = self.default_threshold if threshold is None else float(threshold)
        statistic, p_value = self.compute(sample)
        if self.higher_is_drift:
            drifted = statistic > limit
        else:
            if p_value is None:  # pragma: no cover - registration guarantees a p-value
                raise RuntimeError(f"{self.name} has no p-value")
            drifted = p_value < limit
        return TestResult(
            name=self.name, statistic=statistic, p_value=p_value, threshold=limit, drifted=bool(drifted)
        )


TESTS: dict[str, DriftTest] = {}


def register(
    name: str, *, kinds: set[Kind] | frozenset[Kind], default_threshold: float, higher_is_drift: bool = True
) -> Callable[[Compute], Compute]:
    """Register ``compute(sample) -> (statistic, p_value)`` under ``name``."""

    def decorate(compute: Compute) -> Compute:
        if name in TESTS:
            raise ValueError(f"drift test {name!r} is already registered")
        if not kinds:
            raise ValueError("a drift test accepts at least one kind of column")
        TESTS[name] = DriftTest(
            name=name,
            kinds=frozenset(kinds),
            default_threshold=float(default_threshold),
            higher_is_drift=higher_is_drift,
            compute=compute,
        )
        return compute

    return decorate


def tests_for(kind: Kind) -> list[DriftTest]:
    """The registered tests that accept ``kind`` columns, in registration order."""
    return [test for test in TESTS.values() if kind in test.kinds]


def auto_method(kind: Kind, window_size: int) -> str:
    """``method: auto``: KS / chi-square on small windows, Wasserstein / Jensen-Shannon on large."""
    large = window_size >= AUTO_LARGE_WINDOW
    if kind == "numeric":
        return "wasserstein_norm" if large else "ks"
    if kind == "categorical":
        return "jensen_shannon" if large else "chi_square"
    raise ValueError(f"unknown column kind {kind!r}")


def run_test(name: str, sample: Sample, threshold: float | None = None) -> TestResult:
    return TESTS[name].run(sample, threshold)


# ---------------------------------------------------------------------------------------------
# Building blocks
# ---------------------------------------------------------------------------------------------


def binned_counts(values: npt.ArrayLike, edges: Sequence[float] | FloatArray) -> IntArray:
    """Count ``values`` in the baseline's bins, as ``training.baseline`` does.

    Bin i holds ``edges[i] <= v < edges[i+1]``; values below the first edge fall in the first
    bin and values at or above the last inner edge in the last one (the outer bins are open).
    NaN is ignored.
    """
    edge_array = np.asarray(edges, dtype=np.float64)
    if edge_array.size < 2:
        raise ValueError("at least two edges are needed")
    array = np.asarray(values, dtype=np.float64).ravel()
    present = array[~np.isnan(array)]
    bins = np.searchsorted(edge_array[1:-1], present, side="right")
    return np.bincount(bins, minlength=edge_array.size - 1).astype(np.int64)


def _proportions(counts: npt.ArrayLike) -> FloatArray:
    array = np.asarray(counts, dtype=np.float64)
    total = array.sum()
    if total <= 0:
        raise ValueError("no values to compare")
    result: FloatArray = array / total
    return result


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Population stability index of aligned counts: sum (q - p) ln(q / p).

    ``p`` (baseline) and ``q`` (window) are proportions; an empty cell counts as ``PSI_EPSILON``.
    """
    p = np.maximum(_proportions(expected), PSI_EPSILON)
    q = np.maximum(_proportions(actual), PSI_EPSILON)
    return float(np.sum((q - p) * np.log(q / p)))


def js_distance(expected: npt.ArrayLike, actual: npt.ArrayLike) -> float:
    """Jensen-Shannon distance of aligned counts: sqrt of the divergence in base 2, in [0, 1]."""
    p = _proportions(expected)
    q = _proportions(actual)
    m = (p + q) / 2.0

    def kl(a: FloatArray) -> float:
        mask = a > 0
        return float(np.sum(a[mask] * np.log2(a[mask] / m[mask])))

    divergence = (kl(p) + kl(q)) / 2.0
    return float(min(1.0, math.sqrt(max(0.0, divergence))))


def _aligned(baseline: Mapping[str, int], window: Mapping[str, int]) -> tuple[FloatArray, FloatArray]:
    """Baseline and window counts over every value seen in either (baseline order first)."""
    keys = list(baseline) + [k for k in window if k not in baseline]
    return (
        np.array([baseline.get(k, 0) for k in keys], dtype=np.float64),
        np.array([window.get(k, 0) for k in keys], dtype=np.float64),
    )


def ks_statistic(edges: FloatArray, counts: IntArray, window: FloatArray) -> float:
    """sup |F_baseline - F_window| over the points where the binned baseline's CDF is known.

    Those are the left limits at every edge (``#{v < edges[i]}``) and the last edge itself,
    where the baseline's CDF is 1. Every evaluated difference is a difference of the exact
    ECDFs, so this is a lower bound of the raw two-sample KS statistic.
    """
    values = np.sort(np.asarray(window, dtype=np.float64))
    n = values.size
    cum_base = np.concatenate(([0.0], np.cumsum(counts, dtype=np.float64))) / float(np.sum(counts))
    # left limits at each edge: baseline has cum_base[i] below edges[i]
    below = np.searchsorted(values, edges, side="left") / n
    left = np.abs(cum_base[:-1] - below[:-1])
    at_last = abs(1.0 - np.searchsorted(values, edges[-1], side="right") / n)
    return float(max(float(left.max(initial=0.0)), at_last))


def kolmogorov_sf(x: float) -> float:
    """Q(x) = P(K > x) of the Kolmogorov distribution.

    For x >= 1.18 the series Q(x) = 2 sum_{k>=1} (-1)^(k-1) exp(-2 k^2 x^2); below, where that
    series converges slowly, its Jacobi-transformed form
    1 - sqrt(2 pi) / x * sum_{k>=1} exp(-(2k-1)^2 pi^2 / (8 x^2)).
    """
    if x <= 0.0:
        return 1.0
    if x < 1.18:
        y = math.pi**2 / (8.0 * x * x)
        total = sum(math.exp(-((2 * k - 1) ** 2) * y) for k in range(1, 8))
        return float(min(1.0, max(0.0, 1.0 - math.sqrt(2.0 * math.pi) / x * total)))
    total = 0.0
    for k in range(1, 101):
        term = math.exp(-2.0 * k * k * x * x)
        total += term if k % 2 else -term
        if term < 1e-18:
            break
    return float(min(1.0, max(0.0, 2.0 * total)))


def ks_p_value(statistic: float, n_baseline: int, n_window: int) -> float:
    """Asymptotic two-sample p-value: Q(sqrt(n_eff) * D) with n_eff = n1 n2 / (n1 + n2)."""
    effective = n_baseline * n_window / (n_baseline + n_window)
    return kolmogorov_sf(math.sqrt(effective) * statistic)


def wasserstein_binned(edges: FloatArray, counts: IntArray, window: FloatArray) -> float:
    """W1 between the baseline and the window, both seen through the baseline's bins.

    Baseline mass is spread uniformly within each bin. Window values inside
    ``[edges[0], edges[-1]]`` are binned on the same edges and spread the same way; window values
    outside that range (where the baseline has no mass) are kept exact. Inside the range both CDFs
    are linear on every bin, so the integral of |F_b - F_w| is exact per bin.
    """
    values = np.asarray(window, dtype=np.float64)
    n = values.size
    low, high = float(edges[0]), float(edges[-1])
    under = values[values < low]
    over = values[values > high]
    inside = values[(values >= low) & (values <= high)]
    cum_base = np.concatenate(([0.0], np.cumsum(counts, dtype=np.float64))) / float(np.sum(counts))
    inner = np.concatenate(([0.0], np.cumsum(binned_counts(inside, edges), dtype=np.float64)))
    cum_window = (under.size + inner) / n
    d = cum_base - cum_window
    d1, d2 = d[:-1], d[1:]
    widths = np.diff(edges)
    same_sign = d1 * d2 >= 0
    spread = np.abs(d1) + np.abs(d2)
    safe = np.where(spread > 0, spread, 1.0)
    area = np.where(same_sign, spread / 2.0, (d1 * d1 + d2 * d2) / (2.0 * safe)) * widths
    tails = (float(np.sum(low - under)) + float(np.sum(over - high))) / n
    return float(np.sum(area)) + tails


def gamma_q(a: float, x: float) -> float:
    """Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a).

    As in Numerical Recipes (gser / gcf): the series of P(a, x) when x < a + 1, else the
    continued fraction of Q(a, x) evaluated with the modified Lentz method.
    """
    if a <= 0:
        raise ValueError("a must be positive")
    if x < 0:
        raise ValueError("x must be non-negative")
    if x == 0:
        return 1.0
    if math.isinf(x):
        return 0.0
    log_prefix = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        term = total = 1.0 / a
        ap = a
        for _ in range(_GAMMA_MAX_ITER):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * _GAMMA_EPS:
                break
        return float(max(0.0, 1.0 - total * math.exp(log_prefix)))
    b = x + 1.0 - a
    c = 1.0 / _GAMMA_TINY
    d = 1.0 / b
    h = d
    for i in range(1, _GAMMA_MAX_ITER):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        if abs(d) < _GAMMA_TINY:
            d = _GAMMA_TINY
        c = b + an / c
        if abs(c) < _GAMMA_TINY:
            c = _GAMMA_TINY
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < _GAMMA_EPS:
            break
    return float(min(1.0, math.exp(log_prefix) * h))


def chi2_sf(statistic: float, dof: int) -> float:
    """Survival function of the chi-square distribution: Q(dof / 2, statistic / 2)."""
    if dof <= 0:
        raise ValueError("dof must be positive")
    if statistic <= 0:
        return 1.0
    return gamma_q(dof / 2.0, statistic / 2.0)


def chi_square_cells(baseline: Mapping[str, int], window: Mapping[str, int]) -> tuple[FloatArray, FloatArray]:
    """Observed window counts and expected counts (baseline proportions times the window size).

    One cell per category the baseline has seen (count > 0); every other window value is pooled
    into one "unseen" cell, present only when the window has such values, whose baseline weight
    is ``CHI_SQUARE_UNSEEN_PSEUDO_COUNT``.
    """
    seen = [k for k, c in baseline.items() if c > 0]
    base = [float(baseline[k]) for k in seen]
    observed = [float(window.get(k, 0)) for k in seen]
    unseen = float(sum(c for k, c in window.items() if baseline.get(k, 0) <= 0))
    if unseen > 0:
        base.append(CHI_SQUARE_UNSEEN_PSEUDO_COUNT)
        observed.append(unseen)
    obs = np.array(observed, dtype=np.float64)
    expected = _proportions(base) * obs.sum()
    return obs, expected


def chi_square(baseline: Mapping[str, int], window: Mapping[str, int]) -> tuple[float, float, int]:
    """Pearson chi-square of the window against the baseline: (statistic, p-value, dof)."""
    observed, expected = chi_square_cells(baseline, window)
    dof = observed.size - 1
    if dof < 1:
        return 0.0, 1.0, 0
    statistic = float(np.sum((observed - expected) ** 2 / expected))
    return statistic, chi2_sf(statistic, dof), dof


def unseen_share(baseline: Mapping[str, int], window: Mapping[str, int]) -> float:
    """Share of window values whose category has no count in the baseline."""
    total = sum(window.values())
    if total <= 0:
        raise ValueError("the window holds no values")
    return sum(c for k, c in window.items() if baseline.get(k, 0) <= 0) / total


# ---------------------------------------------------------------------------------------------
# Registered tests
# ---------------------------------------------------------------------------------------------


def _numeric(sample: Sample, name: str) -> NumericSample:
    if not isinstance(sample, NumericSample):
        raise TypeError(f"{name} needs a NumericSample")
    return sample


def _categorical(sample: Sample, name: str) -> CategoricalSample:
    if not isinstance(sample, CategoricalSample):
        raise TypeError(f"{name} needs a CategoricalSample")
    return sample


def _cells(sample: Sample) -> tuple[Any, Any]:
    if isinstance(sample, NumericSample):
        return sample.counts, binned_counts(sample.window, sample.edges)
    return _aligned(sample.baseline, sample.window)


@register("psi", kinds={"numeric", "categorical"}, default_threshold=0.2)
def _psi(sample: Sample) -> tuple[float, float | None]:
    expected, actual = _cells(sample)
    return psi(expected, actual), None


@register("jensen_shannon", kinds={"numeric", "categorical"}, default_threshold=0.1)
def _jensen_shannon(sample: Sample) -> tuple[float, float | None]:
    expected, actual = _cells(sample)
    return js_distance(expected, actual), None


@register("wasserstein_norm", kinds={"numeric"}, default_threshold=0.1)
def _wasserstein_norm(sample: Sample) -> tuple[float, float | None]:
    s = _numeric(sample, "wasserstein_norm")
    distance = wasserstein_binned(s.edges, s.counts, s.window)
    scale = s.std if s.std > 0 else 1.0  # a constant baseline: left in the column's units
    return distance / scale, None


@register("ks", kinds={"numeric"}, default_threshold=SIGNIFICANCE, higher_is_drift=False)
def _ks(sample: Sample) -> tuple[float, float | None]:
    s = _numeric(sample, "ks")
    statistic = ks_statistic(s.edges, s.counts, s.window)
    return statistic, ks_p_value(statistic, int(s.counts.sum()), s.size)


@register("chi_square", kinds={"categorical"}, default_threshold=SIGNIFICANCE, higher_is_drift=False)
def _chi_square(sample: Sample) -> tuple[float, float | None]:
    s = _categorical(sample, "chi_square")
    statistic, p_value, _ = chi_square(s.baseline, s.window)
    return statistic, p_value


@register("unseen_share", kinds={"categorical"}, default_threshold=0.05)
def _unseen_share(sample: Sample) -> tuple[float, float | None]:
    s = _categorical(sample, "unseen_share")
    return unseen_share(s.baseline, s.window), None
