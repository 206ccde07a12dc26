"""`mlops status` shows a stack's datasets, models and endpoint on one screen."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud, local_cloud
from mlops_cli.sample_data import churn_table, write_csv
from mlops_cli.status_cli import show_status

from ..conftest import REPO_ROOT


@pytest.fixture
def cloud() -> Iterator[LocalCloud]:
    with local_cloud(parameters={"ApprovalMetricFloor": "0.55"}, log_stream=io.StringIO()) as running:
        yield running


def test_status_shows_datasets_models_and_the_endpoint(cloud: LocalCloud, tmp_path: Path) -> None:
    push_contract(cloud.s3, cloud.bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    cloud.s3.upload_file(
        str(write_csv(churn_table(800, seed=5), tmp_path / "a.csv")), cloud.bucket, "incoming/churn/a.csv"
    )
    cloud.s3.put_object(Bucket=cloud.bucket, Key="incoming/churn/bad.csv", Body=b"customer_id\nC1\n")
    cloud.settle()
    screen = io.StringIO()

    code = show_status(cloud.session, Console(file=screen, width=200), stack="mlops-local")

    out = screen.getvalue()
    assert code == 0
    churn_row = next(
        line for line in out.splitlines() if line.startswith("│ churn") and "Approved" not in line
    )
    assert [cell.strip() for cell in churn_row.strip("│ ").split("│")][:3] == ["churn", "1", "1"]
    assert "v1 Approved" in out
    assert "churn v1 on 100%" in out  # the first approved model went live at once
    models_row = next(line for line in out.splitlines() if "v1 Approved" in line)
    assert models_row.rstrip(" │").endswith("-")  # not checked for drift yet

    cloud.advance(3600)  # the hourly drift check (no traffic yet: too little data)
    screen = io.StringIO()
    show_status(cloud.session, Console(file=screen, width=200), stack="mlops-local")
    models_row = next(line for line in screen.getvalue().splitlines() if "v1 Approved" in line)
    assert "insufficient_data v1" in models_row


def test_status_of_a_stack_that_does_not_exist_is_a_usage_error(cloud: LocalCloud) -> None:
    screen = io.StringIO()

    assert show_status(cloud.session, Console(file=screen, width=200), stack="nope") == 2
    assert "nope" in screen.getvalue()
