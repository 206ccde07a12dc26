"""The pure parts of the post-deploy checks: what to upload, where its results land, what is wrong.

No boto3 calls here, so tests/unit runs these on canned responses; tests/smoke/ calls AWS.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

import yaml
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

#: The dataset the checks upload under. Its own name, so a stack's real contracts are never touched.
SMOKE_DATASET = "smoke-check"
#: Outputs the checks read; a stack without one was deployed from another template or failed.
REQUIRED_OUTPUTS = ("DataBucketName", "PredictFunctionUrl", "StageName")

T = TypeVar("T")


def smoke_contract(contract_text: str) -> dict[str, Any]:
    """An example contract renamed to :data:`SMOKE_DATASET`, without training or drift sections.

    The columns and rules stay as they are, so the example's sample data checks against it; with
    no ``training:`` section, a validated upload trains nothing, and with no ``drift:`` nothing
    is monitored.
    """
    document = yaml.safe_load(contract_text)
    if not isinstance(document, dict) or "columns" not in document:
        raise ValueError("the example contract is not a mapping with columns")
    document = {key: value for key, value in document.items() if key not in {"training", "drift"}}
    document["dataset"] = SMOKE_DATASET
    document["description"] = "Post-deploy check data (tests/smoke); safe to delete."
    return document


def upload_key(token: str, file_name: str) -> str:
    """``incoming/smoke-check/<token>/<file>``: the token keeps each run's files apart."""
    return f"incoming/{SMOKE_DATASET}/{token}/{file_name}"


@dataclass(frozen=True)
class GateResult:
    """Where the data gate put one upload: ``<area>/<dataset>/<run id>/<token>/<file>``."""

    area: str
    run_id: str
    copy_key: str

    @property
    def report_key(self) -> str:
        return f"reports/validation/{SMOKE_DATASET}/{self.run_id}.json"


def find_gate_result(keys: Iterable[str], token: str, file_name: str) -> GateResult | None:
    """The copy of ``<token>/<file>`` among ``keys`` (listed under validated/ or quarantine/), if any."""
    for key in keys:
        parts = PurePosixPath(key).parts
        if len(parts) == 5 and parts[1] == SMOKE_DATASET and parts[3:] == (token, file_name):
            return GateResult(area=parts[0], run_id=parts[2], copy_key=key)
    return None


def stack_alarm_names(resources: Iterable[Mapping[str, Any]]) -> list[str]:
    """The names of the alarms a stack created, from ``ListStackResources`` summaries."""
    return sorted(
        str(resource["PhysicalResourceId"])
        for resource in resources
        if resource.get("ResourceType") == "AWS::CloudWatch::Alarm" and resource.get("PhysicalResourceId")
    )


def alarm_problems(expected: Iterable[str], metric_alarms: Iterable[Mapping[str, Any]]) -> list[str]:
    """Alarms that are missing or firing. INSUFFICIENT_DATA passes: a new alarm starts there."""
    found = {str(alarm["AlarmName"]): str(alarm.get("StateValue", "")) for alarm in metric_alarms}
    problems = [f"{name}: not found in CloudWatch" for name in expected if name not in found]
    problems += [f"{name}: in ALARM" for name, state in sorted(found.items()) if state == "ALARM"]
    return problems


def signed_request(
    method: str,
    url: str,
    credentials: Credentials,
    region: str,
    *,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> AWSRequest:
    """A SigV4-signed request for a function URL with ``AuthType: AWS_IAM`` (service ``lambda``)."""
    request = AWSRequest(method=method, url=url, data=body or b"", headers=dict(headers or {}))
    SigV4Auth(credentials, "lambda", region).add_auth(request)
    return request


def poll(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 5.0,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> T | None:
    """Call ``probe`` until it returns something or ``timeout`` seconds pass; the last answer or None."""
    deadline = clock() + timeout
    while True:
        found = probe()
        if found is not None or clock() >= deadline:
            return found
        sleep(interval)
