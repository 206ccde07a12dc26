"""The data gate on the deployed stack: a valid upload is validated, a bad one quarantined, both reported.

Uploads the example churn contract under its own dataset name (smoke-check, without training or
drift) and two files of the example data, then removes the files, copies and reports it made.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import uuid4

import boto3
import pytest
import yaml

from mlops_cli.sample_data import EXAMPLES
from mlops_core.contracts import contract_key

from .stack_checks import SMOKE_DATASET, GateResult, find_gate_result, poll, smoke_contract, upload_key

pytestmark = pytest.mark.uploads

REPO_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
GOOD = next(example for example in EXAMPLES if example.expect_valid)
BAD = next(example for example in EXAMPLES if example.name == "churn_bad_values.csv")
WAIT_SECONDS = 300  # a cold start of validate_dataset plus EventBridge delivery


def _listed(s3: Any, bucket: str, prefix: str) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return [
        item["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]


def _report(s3: Any, bucket: str, result: GateResult) -> dict[str, Any] | None:
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=result.report_key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


@pytest.fixture(scope="module")
def gate_runs(
    session: boto3.Session, data_bucket: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[GateResult, dict[str, Any]] | None]]:
    s3 = session.client("s3")
    bucket = data_bucket
    token = f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid4().hex[:8]}"
    folder = tmp_path_factory.mktemp("smoke-data")
    contract = yaml.safe_dump(smoke_contract(EXAMPLE_CONTRACT.read_text()), sort_keys=False)
    s3.put_object(Bucket=bucket, Key=contract_key(SMOKE_DATASET), Body=contract.encode())
    created: list[str] = []
    for example in (GOOD, BAD):
        key = upload_key(token, example.name)
        s3.upload_file(str(example.make(folder)), bucket, key)
        created.append(key)

    def gate_run(file_name: str) -> tuple[GateResult, dict[str, Any]] | None:
        keys = _listed(s3, bucket, f"validated/{SMOKE_DATASET}/") + _listed(
            s3, bucket, f"quarantine/{SMOKE_DATASET}/"
        )
        result = find_gate_result(keys, token, file_name)
        report = _report(s3, bucket, result) if result else None
        return (result, report) if result and report else None

    runs = {
        example.name: poll(lambda name=example.name: gate_run(name), timeout=WAIT_SECONDS)
        for example in (GOOD, BAD)
    }
    yield runs

    for run in runs.values():
        if run is not None:
            created += [run[0].copy_key, run[0].report_key]
    # The contract stays: every run writes the same one, and a run in flight may still read it.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key} for key in created], "Quiet": True})


def test_a_valid_upload_is_validated_and_reported(gate_runs: dict[str, Any]) -> None:
    # Given a clean file of the example data, uploaded under incoming/smoke-check/
    run = gate_runs[GOOD.name]

    # Then it is copied to validated/ and its report says valid, naming the upload as its source
    assert run is not None, f"no copy and report for {GOOD.name} within {WAIT_SECONDS} s"
    result, report = run
    assert result.area == "validated"
    assert report["valid"] is True
    assert report["violations"] == []
    assert report["source"]["uri"].endswith(f"/{GOOD.name}")


def test_a_bad_upload_is_quarantined_with_its_violations(gate_runs: dict[str, Any]) -> None:
    # Given a file with unknown plans, a negative tenure, a bad e-mail, a duplicate id and inf
    run = gate_runs[BAD.name]

    # Then it is copied to quarantine/ and its report names the violations
    assert run is not None, f"no copy and report for {BAD.name} within {WAIT_SECONDS} s"
    result, report = run
    assert result.area == "quarantine"
    assert report["valid"] is False
    assert {violation["column"] for violation in report["violations"]} >= {"plan", "tenure_months"}
