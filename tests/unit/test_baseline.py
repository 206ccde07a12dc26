"""The drift baseline: bins and frequencies that account for every row, and round-trip as JSON."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlops_cli.sample_data import churn_table
from mlops_core.contracts import DataContract, load_contract
from mlops_core.training.baseline import DriftBaseline, FrequencySummary, NumericSummary, compute_baseline
from mlops_core.training.spec import training_spec

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"


@pytest.fixture(scope="module")
def contract() -> DataContract:
    return load_contract(CHURN.read_text())


@pytest.fixture(scope="module")
def baseline(contract: DataContract) -> DriftBaseline:
    return compute_baseline(churn_table(1000, seed=4).to_pandas(), contract, training_spec(contract))


def test_numeric_bins_and_nulls_sum_to_the_rows(baseline: DriftBaseline) -> None:
    for name in ("tenure_months", "monthly_charges", "support_tickets"):
        column = baseline.column(name)
        assert isinstance(column.summary, NumericSummary)
        assert sum(column.summary.counts) + column.null_count == baseline.rows == 1000
        assert len(column.summary.edges) == len(column.summary.counts) + 1
        assert column.summary.edges == sorted(column.summary.edges)


def test_numeric_summary_has_ten_quantile_bins_and_moments(baseline: DriftBaseline) -> None:
    summary = baseline.column("monthly_charges").summary
    assert isinstance(summary, NumericSummary)

    assert len(summary.counts) == 10
    assert summary.edges[0] == summary.min
    assert summary.edges[-1] == summary.max
    assert summary.mean is not None
    assert summary.std is not None
    # Quantile bins hold about a tenth of the rows each.
    assert max(summary.counts) < 150


def test_null_share_of_a_nullable_feature(baseline: DriftBaseline) -> None:
    column = baseline.column("support_tickets")

    assert column.null_count > 0
    assert column.null_share == pytest.approx(column.null_count / 1000)


def test_category_and_boolean_frequencies_sum_to_the_rows(baseline: DriftBaseline) -> None:
    plan = baseline.column("plan").summary
    autopay = baseline.column("autopay").summary
    assert isinstance(plan, FrequencySummary)
    assert isinstance(autopay, FrequencySummary)

    assert list(plan.counts) == ["basic", "plus", "pro"]
    assert sum(plan.counts.values()) == 1000
    assert set(autopay.counts) == {"false", "true"}
    assert sum(autopay.counts.values()) == 1000


def test_target_is_summarised_like_a_feature(baseline: DriftBaseline) -> None:
    assert baseline.target.name == "churned"
    assert baseline.target.role == "target"
    assert isinstance(baseline.target.summary, FrequencySummary)
    assert sum(baseline.target.summary.counts.values()) == 1000


def test_only_features_are_summarised(baseline: DriftBaseline) -> None:
    assert [c.name for c in baseline.features] == [
        "tenure_months",
        "monthly_charges",
        "plan",
        "support_tickets",
        "autopay",
    ]


def test_baseline_records_rows_and_the_contract(baseline: DriftBaseline, contract: DataContract) -> None:
    assert baseline.rows == 1000
    assert baseline.contract_sha256 == contract.fingerprint()
    assert baseline.contract_version == contract.version


def test_json_round_trips_and_stays_small(baseline: DriftBaseline) -> None:
    text = baseline.model_dump_json()

    assert DriftBaseline.model_validate_json(text) == baseline
    assert len(text) < 5_000


def test_a_constant_column_gets_one_closed_bin(contract: DataContract) -> None:
    frame = churn_table(200, seed=4).to_pandas().assign(tenure_months=12)

    summary = compute_baseline(frame, contract, training_spec(contract)).column("tenure_months").summary

    assert isinstance(summary, NumericSummary)
    assert summary.edges == [12.0, 12.0]
    assert summary.counts == [200]
    assert np.isclose(summary.std or 0.0, 0.0)
