"""Comparing a window of captured instances with the baseline: one result per feature."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import load_contract
from mlops_core.drift.compare import DEFAULT_MIN_SAMPLES, compare_window
from mlops_core.training.baseline import DriftBaseline, compute_baseline
from mlops_core.training.spec import training_spec

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"


@pytest.fixture(scope="module")
def baseline() -> DriftBaseline:
    contract = load_contract(CHURN.read_text())
    return compute_baseline(churn_table(5000, seed=4).to_pandas(), contract, training_spec(contract))


def window(rows: int, seed: int) -> list[dict[str, Any]]:
    return churn_table(rows, seed=seed).to_pylist()


def test_a_window_from_the_same_population_is_stable(baseline: DriftBaseline) -> None:
    result = compare_window(baseline, window(500, seed=11))
    assert result.instances == 500
    assert {f.feature for f in result.features} == {c.name for c in baseline.features}
    assert result.drifted == []
    assert all(f.status == "stable" for f in result.features)
    assert result.drift_share == 0.0


def test_shifted_features_drift_and_the_others_do_not(baseline: DriftBaseline) -> None:
    rows = window(500, seed=12)
    for row in rows:
        row["monthly_charges"] = row["monthly_charges"] + 30.0
        row["plan"] = "pro"
    result = compare_window(baseline, rows)
    assert set(result.drifted) == {"monthly_charges", "plan"}
    by_name = {f.feature: f for f in result.features}
    assert by_name["monthly_charges"].method == "ks"  # auto on a small window
    assert by_name["plan"].method == "chi_square"
    assert by_name["plan"].p_value is not None and by_name["plan"].p_value < 0.05
    assert result.drift_share == pytest.approx(2 / len(result.tested))


def test_auto_picks_distance_tests_on_large_windows(baseline: DriftBaseline) -> None:
    result = compare_window(baseline, window(1500, seed=13))
    by_name = {f.feature: f for f in result.features}
    assert by_name["tenure_months"].method == "wasserstein_norm"
    assert by_name["autopay"].method == "jensen_shannon"
    assert by_name["autopay"].p_value is None


def test_booleans_are_compared_with_the_baselines_spelling(baseline: DriftBaseline) -> None:
    rows = window(400, seed=14)
    for row in rows:
        row["autopay"] = True
    result = compare_window(baseline, rows, methods={"autopay": "unseen_share"})
    autopay = next(f for f in result.features if f.feature == "autopay")
    assert autopay.statistic == 0.0  # True is "true", a value the baseline has seen
    assert compare_window(baseline, rows).drifted == ["autopay"]


def test_methods_and_thresholds_per_feature(baseline: DriftBaseline) -> None:
    rows = window(300, seed=15)
    lax = compare_window(baseline, rows, methods={"tenure_months": "psi"}, thresholds={"tenure_months": 10.0})
    tenure = next(f for f in lax.features if f.feature == "tenure_months")
    assert (tenure.method, tenure.threshold, tenure.status) == ("psi", 10.0, "stable")
    strict = compare_window(
        baseline, rows, methods={"tenure_months": "psi"}, thresholds={"tenure_months": 0.0}
    )
    assert "tenure_months" in strict.drifted


def test_small_windows_are_skipped_with_the_reason(baseline: DriftBaseline) -> None:
    rows = window(DEFAULT_MIN_SAMPLES - 1, seed=16)
    result = compare_window(baseline, rows)
    assert all(f.status == "skipped" for f in result.features)
    assert all("min_samples=30" in (f.reason or "") for f in result.features)
    assert result.tested == [] and result.drift_share == 0.0


def test_nulls_count_apart_from_the_window(baseline: DriftBaseline) -> None:
    rows = window(200, seed=17)
    for row in rows[:100]:
        row["support_tickets"] = None
    tickets = next(f for f in compare_window(baseline, rows).features if f.feature == "support_tickets")
    assert tickets.window_size <= 100
    assert tickets.window_null_share is not None and tickets.window_null_share >= 0.5
    assert tickets.baseline_null_share == pytest.approx(baseline.column("support_tickets").null_share)


def test_missing_features_and_unknown_fields_are_reported(baseline: DriftBaseline) -> None:
    rows = [{k: v for k, v in row.items() if k != "plan"} | {"coupon": "x"} for row in window(100, seed=18)]
    result = compare_window(baseline, rows)
    plan = next(f for f in result.features if f.feature == "plan")
    assert (plan.status, plan.window_size, plan.window_null_share) == ("skipped", 0, 1.0)
    assert "coupon" in result.unknown_features
    assert "churned" not in result.unknown_features  # the target is not unknown


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"methods": {"nope": "psi"}}, "nope is not a feature"),
        ({"thresholds": {"nope": 0.1}}, "nope is not a feature"),
        ({"methods": {"plan": "ks"}}, "ks does not accept categorical"),
        ({"methods": {"plan": "magic"}}, "unknown test 'magic'"),
        ({"min_samples": 0}, "min_samples"),
    ],
)
def test_bad_settings_are_named(baseline: DriftBaseline, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        compare_window(baseline, window(50, seed=19), **kwargs)


def test_the_summary_has_the_documented_json_shape(baseline: DriftBaseline) -> None:
    rows = window(500, seed=17)
    for row in rows:
        row["monthly_charges"] += 30.0
        row["plan"] = "pro"
        row["tenure_months"] = 70
    summary = compare_window(baseline, rows, predictions=[False] * 500).summary(drift_share=0.5)
    assert summary["status"] == "drift" and summary["dataset_drift"] is True
    assert summary["drift_share"] == pytest.approx(3 / 5)
    plan = summary["features"]["plan"]
    assert plan["drifted"] is True
    assert set(plan["tests"]) == {"chi_square"}
    assert set(plan["tests"]["chi_square"]) == {"statistic", "p_value", "threshold", "drifted"}
    assert summary["features"]["autopay"]["drifted"] is False
    assert summary["prediction"]["kind"] == "categorical"
    assert summary["prediction"]["drifted"] is True  # the training target was not all False
    assert json.loads(json.dumps(summary)) == summary
    calm = compare_window(baseline, window(500, seed=18)).summary(drift_share=0.5)
    assert (calm["status"], calm["dataset_drift"], calm["prediction"]) == ("ok", False, None)
    assert compare_window(baseline, window(5, seed=19)).summary()["status"] == "insufficient_data"


def test_histograms_hold_both_sides_over_the_same_cells(baseline: DriftBaseline) -> None:
    rows = window(400, seed=20)
    for row in rows:
        row["plan"] = "pro"
    by_name = {f.feature: f for f in compare_window(baseline, rows).features}
    charges = by_name["monthly_charges"].histogram
    assert charges is not None and charges.edges is not None
    assert len(charges.edges) == len(charges.baseline) + 1 == len(charges.window) + 1
    assert sum(charges.window) == pytest.approx(1.0) and sum(charges.baseline) == pytest.approx(1.0)
    plan = by_name["plan"].histogram
    assert plan is not None and plan.labels is not None
    assert plan.window[plan.labels.index("pro")] == 1.0
    assert set(plan.labels) == {"basic", "plus", "pro"}


def test_many_categories_are_pooled_in_the_histogram() -> None:
    from mlops_core.drift.compare import HISTOGRAM_CATEGORIES, OTHER, _category_histogram

    baseline = {f"c{i}": 10 for i in range(30)}
    histogram = _category_histogram(baseline, {"c0": 5, "new": 5})
    assert histogram.labels is not None and len(histogram.labels) == HISTOGRAM_CATEGORIES + 1
    assert histogram.labels[-1] == OTHER
    assert sum(histogram.baseline) == pytest.approx(1.0) and sum(histogram.window) == pytest.approx(1.0)
    assert histogram.labels[:2] == ["c0", "new"]


def reference_counts(raw: list[Any], numeric: bool) -> tuple[int, int, dict[str, int]]:
    """What compare_window counted value by value before its vectorised paths: the oracle."""

    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v))

    def number(v: Any) -> float:
        if missing(v) or isinstance(v, bool):
            return math.nan
        try:
            return float(v)
        except (TypeError, ValueError):
            return math.nan

    def spelled(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    nulls = sum(1 for v in raw if missing(v))
    if numeric:
        return nulls, sum(1 for v in raw if math.isnan(number(v))) - nulls, {}
    return nulls, 0, dict(Counter(spelled(v) for v in raw if not missing(v)))


MIXED_NUMBERS = [1, 2.5, None, float("nan"), True, False, "3.5", "abc", "nan", 10**30, -0.0, 7]
MIXED_CATEGORIES = ["pro", True, 1, 1.0, "true", None, float("nan"), 0.0, -0.0, False, 0, "1", ["x"]]


@pytest.mark.parametrize(
    "values",
    [
        MIXED_NUMBERS,
        [1.5, None, 2, 3],  # the vectorised path: int, float and None only
        [None, None],
        [float("nan"), 1.0],
    ],
)
def test_numbers_of_any_type_count_as_they_did_value_by_value(
    baseline: DriftBaseline, values: list[Any]
) -> None:
    rows = [{"monthly_charges": values[i % len(values)]} for i in range(60)]
    feature = next(f for f in compare_window(baseline, rows).features if f.feature == "monthly_charges")
    nulls, type_errors, _ = reference_counts([r["monthly_charges"] for r in rows], numeric=True)
    assert (feature.quality.nulls, feature.quality.type_errors) == (nulls, type_errors)
    assert feature.window_size == 60 - nulls - type_errors


@pytest.mark.parametrize(
    "values",
    [
        MIXED_CATEGORIES,  # True == 1 == 1.0 and 0.0 == -0.0 must not be merged: value by value
        ["basic", "pro", None, "plus"],  # the vectorised path
        [True, False, None],
        [1, 2, 2, None],
    ],
)
def test_categories_of_any_type_count_as_they_did_value_by_value(
    baseline: DriftBaseline, values: list[Any]
) -> None:
    rows = [{"plan": values[i % len(values)]} for i in range(65)]
    feature = next(f for f in compare_window(baseline, rows).features if f.feature == "plan")
    nulls, _, counts = reference_counts([r["plan"] for r in rows], numeric=False)
    assert feature.quality.nulls == nulls
    assert feature.window_size == sum(counts.values())
    assert feature.histogram is not None and feature.histogram.labels is not None
    shown = dict(zip(feature.histogram.labels, feature.histogram.window, strict=True))
    total = sum(counts.values())
    for label, count in counts.items():
        if label in shown:
            assert shown[label] == pytest.approx(count / total)


def test_instances_with_other_fields_or_orders_give_the_same_result(baseline: DriftBaseline) -> None:
    rows = window(600, seed=21)
    same = compare_window(baseline, rows)
    shuffled = [dict(reversed(list(row.items()))) if i % 2 else row for i, row in enumerate(rows)]
    for i, row in enumerate(shuffled):
        if i % 3 == 0:
            row.pop("support_tickets", None)  # a missing field is a null
        if i % 7 == 0:
            row["extra"] = 1
    other = compare_window(baseline, iter(shuffled))  # any iterable, not only a list
    assert other.unknown_features == sorted([*same.unknown_features, "extra"])
    for a, b in zip(same.features, other.features, strict=True):
        if a.feature != "support_tickets":
            assert a.model_dump() == b.model_dump()
    tickets = next(f for f in other.features if f.feature == "support_tickets")
    assert tickets.quality.nulls >= 200


def test_min_samples_per_feature(baseline: DriftBaseline) -> None:
    rows = window(100, seed=21)
    result = compare_window(baseline, rows, min_samples={"monthly_charges": 500})
    by_name = {f.feature: f for f in result.features}
    assert by_name["monthly_charges"].status == "skipped"
    assert "min_samples=500" in (by_name["monthly_charges"].reason or "")
    assert by_name["tenure_months"].status == "stable"  # the default, 30, for the others
    with pytest.raises(ValueError, match="min_samples: nope is not a feature"):
        compare_window(baseline, rows, min_samples={"nope": 5})
    with pytest.raises(ValueError, match="at least 1"):
        compare_window(baseline, rows, min_samples={"plan": 0})
