"""Drift statistics: each one against scipy on raw data, with the tolerance the bins cost."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon

from mlops_core.drift.statistics import (
    AUTO_LARGE_WINDOW,
    PSI_EPSILON,
    TESTS,
    CategoricalSample,
    NumericSample,
    TestResult,
    auto_method,
    binned_counts,
    chi2_sf,
    chi_square_cells,
    kolmogorov_sf,
    ks_p_value,
    run_test,
)
from mlops_core.drift.statistics import tests_for as registered_for  # not collected by pytest
from mlops_core.training.baseline import BINS, _numeric

# Tolerances stated in docs/drift.md.
EXACT = 1e-9
KS_STATISTIC_TOLERANCE = 0.005  # 200 quantile bins, n in the thousands
KS_P_VALUE_TOLERANCE = 0.01  # same statistic, n in the thousands: asymptotic vs scipy's kstwo(round(n_eff))
WASSERSTEIN_RELATIVE_TOLERANCE = 0.05  # 100 quantile bins
WASSERSTEIN_ABSOLUTE_TOLERANCE = 0.005

BASELINE_COUNTS = {"a": 500, "b": 300, "c": 150, "d": 50}
WINDOW_COUNTS = {"a": 230, "b": 180, "c": 60, "d": 30}


def _summary(values: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The baseline's own binning (training.baseline), with a chosen number of bins."""
    edges = np.unique(np.quantile(values, np.linspace(0.0, 1.0, bins + 1)))
    if edges.size == 1:  # a constant column: one closed bin
        edges = np.array([edges[0], edges[0]])
    counts = np.bincount(np.searchsorted(edges[1:-1], values, side="right"), minlength=edges.size - 1)
    return edges, counts, float(values.std())


def _sample(base: np.ndarray, window: np.ndarray, bins: int = BINS) -> NumericSample:
    edges, counts, std = _summary(base, bins)
    return NumericSample.of(edges, counts, std, window)


@pytest.fixture(scope="module")
def normal_pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return rng.normal(0.0, 1.0, 5000), rng.normal(0.1, 1.0, 3000)


def _proportions(counts: dict[str, int], keys: list[str]) -> np.ndarray:
    array = np.array([counts.get(k, 0) for k in keys], dtype=float)
    result: np.ndarray = array / array.sum()
    return result


# --- binning -----------------------------------------------------------------------------------


def test_binned_counts_reproduce_the_baselines_counts() -> None:
    values = np.random.default_rng(3).gamma(2.0, 3.0, 2000)
    values[::50] = np.nan
    summary = _numeric(values)
    assert binned_counts(values, summary.edges).tolist() == summary.counts


def test_binned_counts_put_values_outside_the_edges_in_the_outer_bins() -> None:
    assert binned_counts([-100.0, 0.0, 1.0, 1.5, 2.0, 100.0], [0.0, 1.0, 2.0]).tolist() == [2, 4]


def test_numeric_sample_drops_and_counts_nan() -> None:
    sample = NumericSample.of([0.0, 1.0], [3], 0.5, [0.2, math.nan, 0.4, math.nan])
    assert (sample.size, sample.nulls) == (2, 2)


# --- categorical statistics: exact against scipy ----------------------------------------------------


def test_categorical_psi_matches_scipy_entropies() -> None:
    keys = list(BASELINE_COUNTS)
    p, q = _proportions(BASELINE_COUNTS, keys), _proportions(WINDOW_COUNTS, keys)
    expected = stats.entropy(q, p) + stats.entropy(p, q)
    result = run_test("psi", CategoricalSample.of(BASELINE_COUNTS, WINDOW_COUNTS))
    assert result.statistic == pytest.approx(expected, abs=EXACT)


def test_categorical_psi_uses_epsilon_for_an_unseen_value() -> None:
    window = {**WINDOW_COUNTS, "new": 100}
    keys = [*BASELINE_COUNTS, "new"]
    p = np.maximum(_proportions(BASELINE_COUNTS, keys), PSI_EPSILON)
    q = _proportions(window, keys)
    result = run_test("psi", CategoricalSample.of(BASELINE_COUNTS, window))
    assert result.statistic == pytest.approx(float(np.sum((q - p) * np.log(q / p))), abs=EXACT)


def test_categorical_jensen_shannon_matches_scipy() -> None:
    window = {**WINDOW_COUNTS, "new": 20}
    keys = [*BASELINE_COUNTS, "new"]
    expected = jensenshannon(_proportions(BASELINE_COUNTS, keys), _proportions(window, keys), base=2)
    result = run_test("jensen_shannon", CategoricalSample.of(BASELINE_COUNTS, window))
    assert result.statistic == pytest.approx(expected, abs=EXACT)


def test_chi_square_matches_scipy_chisquare() -> None:
    keys = list(BASELINE_COUNTS)
    observed = np.array([WINDOW_COUNTS[k] for k in keys], dtype=float)
    f_exp = _proportions(BASELINE_COUNTS, keys) * observed.sum()
    expected = stats.chisquare(observed, f_exp)
    result = run_test("chi_square", CategoricalSample.of(BASELINE_COUNTS, WINDOW_COUNTS))
    assert result.statistic == pytest.approx(expected.statistic, abs=EXACT)
    assert result.p_value == pytest.approx(expected.pvalue, abs=EXACT)


def test_chi_square_pools_unseen_values_into_one_cell() -> None:
    baseline = {**BASELINE_COUNTS, "allowed_never_seen": 0}
    window = {**WINDOW_COUNTS, "x": 3, "y": 2, "allowed_never_seen": 1}
    observed, expected = chi_square_cells(baseline, window)
    assert observed.tolist() == [230, 180, 60, 30, 6]
    assert expected.sum() == pytest.approx(observed.sum())
    scipy_result = stats.chisquare(observed, expected)
    result = run_test("chi_square", CategoricalSample.of(baseline, window))
    assert result.p_value == pytest.approx(scipy_result.pvalue, abs=EXACT)


def test_chi_square_survival_matches_scipy_over_a_grid() -> None:
    grid = np.concatenate([[1e-6, 1e-3, 0.1, 0.5], np.linspace(1.0, 250.0, 120), [500.0, 1000.0]])
    worst = max(abs(chi2_sf(float(x), dof) - stats.chi2.sf(x, dof)) for dof in range(1, 80) for x in grid)
    assert worst <= EXACT


# --- numeric statistics: within stated tolerances of scipy on the raw data --------------------------


def test_kolmogorov_survival_matches_scipy_kstwobign() -> None:
    grid = np.linspace(0.02, 4.0, 300)
    assert max(abs(kolmogorov_sf(float(x)) - stats.kstwobign.sf(x)) for x in grid) <= EXACT


def test_ks_p_value_matches_scipy_asymptotic_for_the_same_statistic(
    normal_pair: tuple[np.ndarray, np.ndarray],
) -> None:
    base, window = normal_pair
    expected = stats.ks_2samp(base, window, method="asymp")
    p_value = ks_p_value(expected.statistic, base.size, window.size)
    assert p_value == pytest.approx(expected.pvalue, abs=KS_P_VALUE_TOLERANCE)


def test_binned_ks_statistic_is_a_close_lower_bound_of_scipy(
    normal_pair: tuple[np.ndarray, np.ndarray],
) -> None:
    base, window = normal_pair
    expected = stats.ks_2samp(base, window, method="asymp").statistic
    result = run_test("ks", _sample(base, window, bins=200))
    assert 0.0 <= expected - result.statistic <= KS_STATISTIC_TOLERANCE


def test_binned_ks_p_value_is_an_upper_bound_close_to_scipy(
    normal_pair: tuple[np.ndarray, np.ndarray],
) -> None:
    base, window = normal_pair
    expected = stats.ks_2samp(base, window, method="asymp").pvalue
    result = run_test("ks", _sample(base, window, bins=200))
    assert result.p_value is not None
    assert result.p_value >= expected - KS_P_VALUE_TOLERANCE
    assert result.p_value == pytest.approx(expected, abs=0.05)


def test_ks_is_exact_for_a_constant_baseline() -> None:
    base = np.full(1000, 3.0)
    window = np.array([2.0, 3.0, 3.0, 4.0, 5.0])
    expected = stats.ks_2samp(base, window, method="asymp").statistic
    assert run_test("ks", _sample(base, window)).statistic == pytest.approx(expected, abs=EXACT)


@pytest.mark.parametrize("shift", [0.0, 0.1, 0.5])
def test_normalised_wasserstein_is_close_to_scipy(shift: float) -> None:
    rng = np.random.default_rng(11)
    base, window = rng.normal(0.0, 1.0, 5000), rng.normal(shift, 1.0, 3000)
    expected = stats.wasserstein_distance(base, window) / base.std()
    result = run_test("wasserstein_norm", _sample(base, window, bins=100))
    tolerance = WASSERSTEIN_RELATIVE_TOLERANCE * expected + WASSERSTEIN_ABSOLUTE_TOLERANCE
    assert abs(result.statistic - expected) <= tolerance


def test_wasserstein_is_exact_for_a_constant_baseline() -> None:
    base = np.full(100, 2.0)
    window = np.array([1.0, 2.0, 2.0, 6.0])
    expected = stats.wasserstein_distance(base, window)  # std 0: left in the column's units
    assert run_test("wasserstein_norm", _sample(base, window)).statistic == pytest.approx(expected, abs=EXACT)


def test_numeric_jensen_shannon_matches_scipy_on_the_bins(normal_pair: tuple[np.ndarray, np.ndarray]) -> None:
    base, window = normal_pair
    sample = _sample(base, window)
    expected = jensenshannon(sample.counts, binned_counts(window, sample.edges), base=2)
    assert run_test("jensen_shannon", sample).statistic == pytest.approx(expected, abs=EXACT)


# --- drift decisions ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["psi", "jensen_shannon", "wasserstein_norm", "ks"])
def test_identical_numeric_distributions_do_not_drift(name: str) -> None:
    rng = np.random.default_rng(5)
    result = run_test(name, _sample(rng.normal(0, 1, 20_000), rng.normal(0, 1, 5000)))
    assert not result.drifted


@pytest.mark.parametrize("name", ["psi", "jensen_shannon", "wasserstein_norm", "ks"])
def test_a_shifted_numeric_distribution_drifts(name: str) -> None:
    rng = np.random.default_rng(5)
    result = run_test(name, _sample(rng.normal(0, 1, 20_000), rng.normal(1.0, 1, 5000)))
    assert result.drifted


@pytest.mark.parametrize("name", ["psi", "jensen_shannon", "chi_square", "unseen_share"])
def test_identical_categorical_distributions_do_not_drift(name: str) -> None:
    window = {k: v * 3 for k, v in BASELINE_COUNTS.items()}
    assert not run_test(name, CategoricalSample.of(BASELINE_COUNTS, window)).drifted


def test_a_new_category_drifts_on_unseen_share() -> None:
    window = {**BASELINE_COUNTS, "new": 100}
    result = run_test("unseen_share", CategoricalSample.of(BASELINE_COUNTS, window))
    assert result.statistic == pytest.approx(100 / 1100)
    assert result.drifted


def test_an_allowed_value_with_no_training_count_is_unseen() -> None:
    baseline = {**BASELINE_COUNTS, "allowed": 0}
    result = run_test("unseen_share", CategoricalSample.of(baseline, {"a": 90, "allowed": 10}))
    assert result.statistic == pytest.approx(0.1)


def test_p_value_tests_drift_below_the_significance_level() -> None:
    window = {"a": 100, "b": 300, "c": 150, "d": 50}
    result = run_test("chi_square", CategoricalSample.of(BASELINE_COUNTS, window))
    assert result.p_value is not None
    assert result.p_value < 0.05
    assert result.drifted


def test_a_threshold_overrides_the_default() -> None:
    sample = CategoricalSample.of(BASELINE_COUNTS, {**BASELINE_COUNTS, "new": 20})
    assert run_test("unseen_share", sample).drifted is False
    assert run_test("unseen_share", sample, threshold=0.01).drifted is True


def test_a_test_refuses_the_wrong_kind_of_column() -> None:
    with pytest.raises(TypeError, match="does not accept categorical"):
        run_test("ks", CategoricalSample.of(BASELINE_COUNTS, WINDOW_COUNTS))


def test_an_empty_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="no non-null values"):
        run_test("ks", NumericSample.of([0.0, 1.0], [5], 0.3, [math.nan]))


# --- registry and auto ---------------------------------------------------------------------------------


def test_the_registry_lists_the_tests_per_kind_with_thresholds() -> None:
    numeric = {t.name: t.default_threshold for t in registered_for("numeric")}
    categorical = {t.name: t.default_threshold for t in registered_for("categorical")}
    assert numeric == {"psi": 0.2, "jensen_shannon": 0.1, "wasserstein_norm": 0.1, "ks": 0.05}
    assert categorical == {"psi": 0.2, "jensen_shannon": 0.1, "chi_square": 0.05, "unseen_share": 0.05}
    assert {n for n, t in TESTS.items() if not t.higher_is_drift} == {"ks", "chi_square"}


@pytest.mark.parametrize(
    ("kind", "size", "method"),
    [
        ("numeric", AUTO_LARGE_WINDOW - 1, "ks"),
        ("numeric", AUTO_LARGE_WINDOW, "wasserstein_norm"),
        ("categorical", AUTO_LARGE_WINDOW - 1, "chi_square"),
        ("categorical", AUTO_LARGE_WINDOW, "jensen_shannon"),
    ],
)
def test_auto_method_picks_by_window_size(kind: str, size: int, method: str) -> None:
    assert auto_method(kind, size) == method  # type: ignore[arg-type]


def test_results_are_plain_values() -> None:
    result = run_test("psi", CategoricalSample.of(BASELINE_COUNTS, BASELINE_COUNTS))
    assert result == TestResult(name="psi", statistic=0.0, p_value=None, threshold=0.2, drifted=False)


def test_the_baselines_summary_feeds_a_sample() -> None:
    from mlops_core.training.baseline import NumericSummary

    values = pd.Series(np.arange(100, dtype=float))
    summary = _numeric(values.to_numpy())
    assert isinstance(summary, NumericSummary)
    sample = NumericSample.from_summary(summary, values.to_numpy())
    assert run_test("psi", sample).statistic == pytest.approx(0.0)
