"""The approval policy's three verdicts, for metrics where higher or lower is better."""

from __future__ import annotations

import pytest

from mlops_core.approval import ApprovalPolicy, Verdict, decide

POLICY = ApprovalPolicy(metric_floor=0.7, min_improvement=0.01)


def test_a_first_version_above_the_floor_is_approved() -> None:
    decision = decide("roc_auc", 0.82, POLICY)

    assert decision.verdict is Verdict.APPROVE
    assert decision.reason == "roc_auc 0.82 clears the floor 0.7 and nothing is in production yet"


def test_a_version_below_the_floor_is_rejected_even_without_production() -> None:
    decision = decide("roc_auc", 0.61, POLICY)

    assert decision.verdict is Verdict.REJECT
    assert decision.reason == "roc_auc 0.61 is below the floor 0.7"


def test_beating_production_by_the_margin_approves_and_by_less_waits_for_a_person() -> None:
    better = decide("roc_auc", 0.85, POLICY, production_version=2, production_value=0.83)
    barely = decide("roc_auc", 0.835, POLICY, production_version=2, production_value=0.83)

    assert better.verdict is Verdict.APPROVE
    assert "beats production v2 (0.83) by 0.02" in better.reason
    assert barely.verdict is Verdict.PENDING
    assert "does not beat production v2 (0.83) by 0.01" in barely.reason


@pytest.mark.parametrize(
    ("value", "verdict"), [(9.0, Verdict.APPROVE), (9.95, Verdict.PENDING), (12.5, Verdict.REJECT)]
)
def test_error_metrics_compare_the_other_way_round(value: float, verdict: Verdict) -> None:
    policy = ApprovalPolicy(metric_floor=12.0, min_improvement=0.5)

    decision = decide("rmse", value, policy, production_version=4, production_value=10.0)

    assert decision.verdict is verdict


def test_without_a_floor_every_version_waits_for_a_person() -> None:
    decision = decide("r2", 0.99, ApprovalPolicy(), production_version=1, production_value=0.5)

    assert decision.verdict is Verdict.PENDING
    assert "no metric floor is set" in decision.reason


def test_a_production_version_without_the_metric_waits_for_a_person() -> None:
    decision = decide("f1", 0.9, POLICY, production_version=3, production_value=None)

    assert decision.verdict is Verdict.PENDING
    assert "production v3 has no f1" in decision.reason
