"""The contract's drift section: defaults, per-feature overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mlops_core.contracts import ContractError, DataContract, load_contract
from mlops_core.drift.spec import DriftSpec, drift_spec

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"


def contract_with(drift: dict[str, Any] | None) -> DataContract:
    document = yaml.safe_load(CHURN.read_text())
    document.pop("drift", None)
    if drift is not None:
        document["drift"] = drift
    return load_contract(yaml.safe_dump(document))


def fields_of(drift: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(ContractError) as caught:
        drift_spec(contract_with(drift))
    return {error.field: error.message for error in caught.value.errors}


def test_a_contract_without_the_section_gets_the_defaults() -> None:
    spec = drift_spec(contract_with(None))
    assert spec == DriftSpec()
    assert (spec.window_days, spec.min_samples, spec.method, spec.drift_share) == (7, 30, "auto", 0.5)
    assert (spec.confirm.runs, spec.confirm.drifted, spec.retrain) == (3, 2, False)
    assert spec.methods(["plan"]) == {"plan": "auto"} and spec.thresholds() == {} and spec.ignored == set()


def test_per_feature_overrides_feed_the_comparison() -> None:
    spec = drift_spec(
        contract_with(
            {
                "method": "psi",
                "features": {
                    "monthly_charges": {"method": "ks", "threshold": 0.01},
                    "plan": {"threshold": 0.5},
                    "support_tickets": {"ignore": True},
                },
                "confirm": {"runs": 3, "drifted": 2},
            }
        )
    )
    every = ["tenure_months", "monthly_charges", "plan", "support_tickets"]
    assert spec.methods(every) == {"tenure_months": "psi", "monthly_charges": "ks", "plan": "psi"}
    assert spec.thresholds() == {"monthly_charges": 0.01, "plan": 0.5}
    assert spec.ignored == {"support_tickets"}
    assert spec.method_of("tenure_months") == "psi"


@pytest.mark.parametrize(
    ("drift", "field", "words"),
    [
        ({"window_dayz": 3}, "drift.window_dayz", "unknown key"),
        ({"window_days": 0}, "drift.window_days", "greater than or equal to 1"),
        ({"drift_share": 1.5}, "drift.drift_share", "less than or equal to 1"),
        ({"confirm": {"runs": 2, "drifted": 3}}, "drift.confirm", "cannot exceed runs"),
        ({"method": "magic"}, "drift.method", "unknown test 'magic'"),
        ({"method": "ks"}, "drift.method", "ks does not accept categorical features"),
        ({"features": {"email": {}}}, "drift.features.email", "not a feature of the contract"),
        ({"features": {"churned": {}}}, "drift.features.churned", "not a feature of the contract"),
        ({"features": {"plan": {"method": "wasserstein_norm"}}}, "drift.features.plan.method", "chi_square"),
        ({"features": {"plan": {"method": "nope"}}}, "drift.features.plan.method", "unknown test"),
        ({"features": {"plan": {"ignored": True}}}, "drift.features.plan.ignored", "unknown key"),
    ],
)
def test_errors_name_the_key_and_the_fix(drift: dict[str, Any], field: str, words: str) -> None:
    errors = fields_of(drift)
    assert field in errors, errors
    assert words in errors[field]


def test_min_samples_can_be_set_per_feature() -> None:
    spec = DriftSpec.model_validate({"min_samples": 50, "features": {"plan": {"min_samples": 500}}})
    assert spec.min_samples_of(["plan", "autopay"]) == {"plan": 500, "autopay": 50}
