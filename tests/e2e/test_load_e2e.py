"""Many uploads at once, delivered again and out of order: each file validated once, nothing lost.

200 files land in incoming/ together (20 of them broken in four ways) and the events flow
through the template's rules. Then every S3 event is delivered a second time, newest
first, as EventBridge may (at least once, in no promised order).
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.local.event_router import as_aws_sends_it
from mlops_cli.local.runtime import Invocation
from mlops_cli.sample_data import churn_table, write_csv

from ..conftest import REPO_ROOT
from .conftest import drain, listen

UPLOADS = 200
BAD = 20
# Four ways a file breaks its contract; each is quarantined with a report.
BREAKAGES = {
    "bad_values": lambda text: text.replace(",plus,", ",platinum,", 3),
    "ragged": lambda text: text + "C999999,extra\n",
    "header_only": lambda text: text.splitlines()[0] + "\n",
    "missing_column": lambda text: "\n".join(",".join(line.split(",")[:-1]) for line in text.splitlines()),
}


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with local_cloud(log_stream=io.StringIO()) as running:
        yield running


def _contract_without_training(tmp_path: Path) -> Path:
    """churn's contract without its training: section, so that validation is all that runs."""
    text = (REPO_ROOT / "infra/contracts/churn.yaml").read_text()
    start, end = text.index("training:"), text.index("drift:")
    path = tmp_path / "churn.yaml"
    path.write_text(text[:start] + text[end:])
    return path


def _files(tmp_path: Path) -> dict[str, bytes]:
    clean = write_csv(churn_table(120), tmp_path / "clean.csv").read_text()
    files: dict[str, bytes] = {}
    for n in range(UPLOADS - BAD):
        files[f"incoming/churn/good-{n:03d}.csv"] = clean.encode()
    for n in range(BAD):
        kind = list(BREAKAGES)[n % len(BREAKAGES)]
        files[f"incoming/churn/bad-{kind}-{n:03d}.csv"] = BREAKAGES[kind](clean).encode()
    return files


def _keys(cloud: LocalCloud, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in cloud.s3.get_paginator("list_objects_v2").paginate(Bucket=cloud.bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _failure_queues_are_empty(cloud: LocalCloud) -> dict[str, int]:
    sqs = cloud.session.client("sqs")
    counts: dict[str, int] = {}
    for name, url in cloud.stack.outputs.items():
        if name.endswith(("FailureQueueUrl", "DeadLetterQueueUrl")):
            attributes = sqs.get_queue_attributes(
                QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
            )
            counts[name] = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    return counts


def test_200_uploads_at_once_are_each_validated_once_and_redeliveries_change_nothing(
    cloud: LocalCloud, tmp_path: Path
) -> None:
    # Given a contract, listeners on the bundle's bus and on S3's events, and 200 files (20 bad)
    push_contract(cloud.s3, cloud.bucket, _contract_without_training(tmp_path))
    bundle_events = listen(
        cloud, "consumer", cloud.stack.outputs["EventBusName"], {"source": ["mlops.bundle"]}
    )
    s3_events = listen(
        cloud,
        "s3-events",
        "default",
        {
            "source": ["aws.s3"],
            "detail-type": ["Object Created"],
            "detail": {"object": {"key": [{"prefix": "incoming/"}]}},
        },
    )
    files = _files(tmp_path)
    attempts: list[Invocation] = []
    cloud.runtime.on_invocation = attempts.append

    # When they are all uploaded at once, then the events flow
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda item: cloud.s3.put_object(Bucket=cloud.bucket, Key=item[0], Body=item[1]),
                files.items(),
            )
        )
    cloud.settle()

    # Then each file was validated by one successful invocation, and announced once
    validations = [a for a in attempts if a.function == "ValidateDatasetFunction"]
    assert [a.ok for a in validations] == [True] * UPLOADS
    announced = drain(cloud, bundle_events)
    by_kind = Counter(e["detail-type"] for e in announced if e["detail-type"].startswith("Dataset"))
    assert by_kind == {"DatasetValidated": UPLOADS - BAD, "DatasetRejected": BAD}
    sources = Counter(
        e["detail"]["source"]["key"] for e in announced if e["detail-type"].startswith("Dataset")
    )
    assert set(sources) == set(files)
    assert set(sources.values()) == {1}
    rejected = {e["detail"]["source"]["key"] for e in announced if e["detail-type"] == "DatasetRejected"}
    assert rejected == {key for key in files if "/bad-" in key}
    # every bad file is in quarantine, every good one in validated/, each with one report
    assert len(_keys(cloud, "quarantine/churn/")) == BAD
    assert len(_keys(cloud, "validated/churn/")) == UPLOADS - BAD
    assert len(_keys(cloud, "reports/validation/churn/")) == UPLOADS
    # nothing lost: every upload is still there, byte for byte, and no failure is waiting
    for key, body in files.items():
        assert cloud.s3.get_object(Bucket=cloud.bucket, Key=key)["Body"].read() == body
    assert set(_failure_queues_are_empty(cloud).values()) == {0}

    # When EventBridge delivers every S3 event again, newest first
    deliveries = drain(cloud, s3_events)
    assert len(deliveries) == UPLOADS
    for event in reversed(deliveries):
        cloud.router.route("default", as_aws_sends_it(event, cloud.stack.region))
    cloud.settle()

    # Then nothing new is written or announced
    assert drain(cloud, bundle_events) == []
    assert len(_keys(cloud, "quarantine/churn/")) == BAD
    assert len(_keys(cloud, "validated/churn/")) == UPLOADS - BAD
    assert len(_keys(cloud, "reports/validation/churn/")) == UPLOADS
    assert set(_failure_queues_are_empty(cloud).values()) == {0}
