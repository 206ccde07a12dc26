"""tests/smoke/stack_checks.py: the pure parts of the post-deploy checks, on canned AWS answers."""

from __future__ import annotations

import pytest
from botocore.credentials import Credentials

from mlops_core.contracts import contract_from_mapping

from ..conftest import REPO_ROOT
from ..smoke.stack_checks import (
    SMOKE_DATASET,
    GateResult,
    alarm_problems,
    find_gate_result,
    poll,
    signed_request,
    smoke_contract,
    stack_alarm_names,
    upload_key,
)

CHURN_CONTRACT = (REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_text()
TOKEN = "20261127T120000Z-abcd1234"


def test_the_smoke_contract_is_the_example_renamed_without_training_or_drift() -> None:
    # When the example churn contract is turned into the smoke check's contract
    document = smoke_contract(CHURN_CONTRACT)

    # Then it is a valid contract for the smoke dataset, with the example's columns and no later stages
    contract = contract_from_mapping(document)
    assert contract.dataset == SMOKE_DATASET
    assert contract.training is None
    assert "drift" not in document
    assert [column.name for column in contract.columns][:2] == ["customer_id", "email"]


def test_a_contract_without_columns_is_refused() -> None:
    with pytest.raises(ValueError, match="not a mapping with columns"):
        smoke_contract("dataset: churn\n")


def test_uploads_go_under_the_smoke_dataset_and_the_runs_token() -> None:
    assert upload_key(TOKEN, "good.csv") == f"incoming/smoke-check/{TOKEN}/good.csv"


def test_the_gate_result_is_found_by_token_and_file_name() -> None:
    # Given copies of this run's files and of another run's, as ListObjectsV2 returns them
    keys = [
        "validated/smoke-check/20261127T115900Z-0000000000/20261127T115900Z-other/good.csv",
        f"quarantine/smoke-check/20261127T120001Z-1111111111/{TOKEN}/bad.csv",
        f"validated/smoke-check/20261127T120001Z-2222222222/{TOKEN}/good.csv",
    ]

    # Then each of this run's files is found with its area and run id, and the report key follows
    good = find_gate_result(keys, TOKEN, "good.csv")
    assert good == GateResult("validated", "20261127T120001Z-2222222222", keys[2])
    assert good.report_key == "reports/validation/smoke-check/20261127T120001Z-2222222222.json"
    bad = find_gate_result(keys, TOKEN, "bad.csv")
    assert bad is not None
    assert (bad.area, bad.run_id) == ("quarantine", "20261127T120001Z-1111111111")


def test_no_gate_result_until_the_copy_exists() -> None:
    keys = [
        f"validated/other-dataset/run/{TOKEN}/good.csv",
        f"validated/smoke-check/run/{TOKEN}/nested/good.csv",
    ]
    assert find_gate_result(keys, TOKEN, "good.csv") is None


def test_the_stacks_alarms_are_read_from_its_resources() -> None:
    resources = [
        {"ResourceType": "AWS::CloudWatch::Alarm", "PhysicalResourceId": "stack-QualityAlarm-B"},
        {"ResourceType": "AWS::SNS::Topic", "PhysicalResourceId": "arn:aws:sns:eu-west-1:1:topic"},
        {"ResourceType": "AWS::CloudWatch::Alarm", "PhysicalResourceId": "stack-DriftAlarm-A"},
        {"ResourceType": "AWS::CloudWatch::Alarm"},  # still being created: no name yet
    ]
    assert stack_alarm_names(resources) == ["stack-DriftAlarm-A", "stack-QualityAlarm-B"]


def test_alarms_that_are_missing_or_firing_are_problems() -> None:
    # Given three expected alarms: one OK, one new (INSUFFICIENT_DATA), one firing, and one missing
    described = [
        {"AlarmName": "a", "StateValue": "OK"},
        {"AlarmName": "b", "StateValue": "INSUFFICIENT_DATA"},
        {"AlarmName": "c", "StateValue": "ALARM"},
    ]

    # Then the missing and the firing ones are named; a new alarm is not a problem
    assert alarm_problems(["a", "b", "c", "d"], described) == ["d: not found in CloudWatch", "c: in ALARM"]
    assert alarm_problems(["a", "b"], described[:2]) == []


def test_a_function_url_request_is_signed_for_lambda_in_the_region() -> None:
    # Given temporary credentials, as the OIDC role gives
    credentials = Credentials("AKIDEXAMPLE", "secret", token="session-token")

    # When a POST to a function URL is signed
    request = signed_request(
        "POST",
        "https://abc.lambda-url.eu-west-1.on.aws/predict",
        credentials,
        "eu-west-1",
        body=b'{"instances": [{}]}',
        headers={"content-type": "application/json"},
    )

    # Then it carries a SigV4 signature for the lambda service in that region, and the session token
    authorization = request.headers["Authorization"]
    assert authorization.startswith("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
    assert "/eu-west-1/lambda/aws4_request" in authorization
    assert "content-type" in authorization.split("SignedHeaders=")[1]
    assert request.headers["X-Amz-Security-Token"] == "session-token"


def test_poll_returns_the_first_answer() -> None:
    answers = iter([None, None, "found"])
    slept: list[float] = []
    assert (
        poll(lambda: next(answers), timeout=60, interval=5, clock=lambda: 0.0, sleep=slept.append) == "found"
    )
    assert slept == [5, 5]


def test_poll_gives_up_after_the_timeout() -> None:
    # Given a probe that never finds anything and a clock that advances 10 s per sleep
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 10

    calls: list[int] = []

    def probe() -> str | None:
        calls.append(1)
        return None

    # Then poll returns None once the 30 s are up, having probed at 0, 10, 20 and 30 s
    assert poll(probe, timeout=30, interval=10, clock=lambda: now[0], sleep=sleep) is None
    assert len(calls) == 4
