"""`mlops local up` answers any boto3 client on its port and runs the pipeline behind it."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.server import local_up
from mlops_cli.sample_data import churn_table, write_csv

from ..conftest import REPO_ROOT


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, io.StringIO]]:
    port, stop, ready, screen = _free_port(), threading.Event(), threading.Event(), io.StringIO()
    console = Console(file=screen, width=200)
    server = threading.Thread(
        target=local_up,
        kwargs={"port": port, "stop": stop, "ready": ready, "console": console, "log_stream": io.StringIO()},
    )
    server.start()
    try:
        assert ready.wait(60), screen.getvalue()
        yield f"http://127.0.0.1:{port}", screen
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()


def test_a_client_on_the_port_uploads_and_the_pipeline_runs(
    served: tuple[str, io.StringIO], tmp_path: Path
) -> None:
    endpoint, screen = served
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="eu-west-1",
        aws_access_key_id="any",
        aws_secret_access_key="any",
    )
    [bucket] = [b["Name"] for b in s3.list_buckets()["Buckets"] if "databucket" in b["Name"]]
    assert bucket in screen.getvalue()

    push_contract(s3, bucket, REPO_ROOT / "infra" / "contracts" / "churn.yaml")
    s3.upload_file(str(write_csv(churn_table(150), tmp_path / "c.csv")), bucket, "incoming/churn/c.csv")

    deadline = time.monotonic() + 30
    copies: list[str] = []
    while not copies and time.monotonic() < deadline:
        copies = [
            o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="validated/").get("Contents", [])
        ]
        time.sleep(0.2)
    assert len(copies) == 1 and copies[0].endswith("/c.csv")
