"""`mlops local up` answers any boto3 client on its port and runs the pipeline behind it."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import boto3
import pytest
from rich.console import Console

from mlops_cli.contract_store import push_contract
from mlops_cli.local.server import local_up
from mlops_cli.sample_data import churn_table, write_csv

from ..conftest import REPO_ROOT
from .conftest import extended_template


def _free_ports(count: int) -> list[int]:
    """Ports free now, distinct: all are held open together while they are picked."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


@contextmanager
def _serving(template: Path | None = None) -> Iterator[tuple[str, str, io.StringIO]]:
    """`mlops local up` in a thread: (moto endpoint, function URL base, screen)."""
    port, urls_port = _free_ports(2)
    stop, ready, screen = threading.Event(), threading.Event(), io.StringIO()
    options: dict[str, object] = {
        "port": port,
        "urls_port": urls_port,
        "stop": stop,
        "ready": ready,
        "console": Console(file=screen, width=200),
        "log_stream": io.StringIO(),
    }
    if template is not None:
        options["template"] = template
    server = threading.Thread(target=local_up, kwargs=options)
    server.start()
    try:
        assert ready.wait(60), screen.getvalue()
        yield f"http://127.0.0.1:{port}", f"http://127.0.0.1:{urls_port}", screen
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()


@pytest.fixture
def served() -> Iterator[tuple[str, io.StringIO]]:
    with _serving() as (endpoint, _urls, screen):
        yield endpoint, screen


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


ECHO = """
import json

def lambda_handler(event, context):
    answer = {"path": event["rawPath"], "query": event["rawQueryString"], "body": event["body"],
              "method": event["requestContext"]["http"]["method"]}
    return {"statusCode": 201, "headers": {"content-type": "application/json"}, "body": json.dumps(answer)}
"""


def test_function_urls_are_served_over_http_as_lambda_url_events(tmp_path: Path) -> None:
    template = extended_template(
        tmp_path,
        {"echo": ECHO},
        {
            "EchoFunction": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "CodeUri": "functions/echo/",
                    "Handler": "app.lambda_handler",
                    "FunctionUrlConfig": {"AuthType": "AWS_IAM"},
                },
            }
        },
    )

    with _serving(template) as (_endpoint, urls, screen):
        [name] = [
            line.split("/function-url/")[1].split("/")[0]
            for line in screen.getvalue().splitlines()
            if "/function-url/" in line and "Echo" in line
        ]
        request = urllib.request.Request(
            f"{urls}/function-url/{name}/predict?x=1",
            data=b'{"a": 1}',
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            status, body = response.status, json.loads(response.read())

    assert status == 201
    assert body == {"path": "/predict", "query": "x=1", "body": '{"a": 1}', "method": "POST"}
