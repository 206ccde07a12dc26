"""The approval policy: approve a new model version automatically, leave it to a person, or reject it.

A version is approved by policy when its primary metric clears the floor and beats the
version the production alias points at by at least the margin; a version below the floor
is rejected; anything else waits for a person (PendingManualApproval). Metrics where lower
is better (rmse, mae, log_loss) are compared the other way round.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

LOWER_IS_BETTER = frozenset({"rmse", "mae", "log_loss"})


class Verdict(StrEnum):
    APPROVE = "approve"
    PENDING = "pending"
    REJECT = "reject"


class ApprovalPolicy(BaseModel):
    """Parameters of the stack: ApprovalMetricFloor and ApprovalMinImprovement."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    metric_floor: float | None = Field(
        default=None, description="the primary metric must be at least this (at most, for error metrics)"
    )
    min_improvement: float = Field(
        default=0.0, ge=0, description="margin over production to approve by policy"
    )


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    verdict: Verdict
    reason: str


def decide(
    metric: str,
    value: float,
    policy: ApprovalPolicy,
    *,
    production_version: int | None = None,
    production_value: float | None = None,
) -> Decision:
    """What the policy says of a candidate with ``metric`` = ``value``."""
    lower = metric in LOWER_IS_BETTER
    shown = f"{metric} {value:.4g}"
    if policy.metric_floor is not None and _worse(value, policy.metric_floor, lower):
        side = "above the ceiling" if lower else "below the floor"
        return Decision(verdict=Verdict.REJECT, reason=f"{shown} is {side} {policy.metric_floor:g}")
    if policy.metric_floor is None:
        return Decision(
            verdict=Verdict.PENDING, reason=f"{shown}: no metric floor is set, so a person decides"
        )
    if production_version is None:
        return Decision(
            verdict=Verdict.APPROVE,
            reason=f"{shown} clears the floor {policy.metric_floor:g} and nothing is in production yet",
        )
    if production_value is None:
        return Decision(
            verdict=Verdict.PENDING,
            reason=f"production v{production_version} has no {metric} to compare with, so a person decides",
        )
    gain = (production_value - value) if lower else (value - production_value)
    against = f"production v{production_version} ({production_value:.4g})"
    if gain >= policy.min_improvement:
        return Decision(
            verdict=Verdict.APPROVE,
            reason=f"{shown} beats {against} by {gain:.4g} >= {policy.min_improvement:g}",
        )
    return Decision(
        verdict=Verdict.PENDING,
        reason=f"{shown} does not beat {against} by {policy.min_improvement:g} "
        f"(gain {gain:.4g}): a person decides",
    )


def _worse(value: float, bound: float, lower_is_better: bool) -> bool:
    return value > bound if lower_is_better else value < bound
