"""`mlops local up`: the local cloud behind a moto server on 127.0.0.1, for any AWS client.

The stack is deployed into a moto server running in this process, so the AWS CLI, boto3
or any SDK can talk to it (``--endpoint-url http://127.0.0.1:4566``). The router polls
the taps and runs the functions here; their logs stream to the terminal. Lambda Invoke of
a stack function is answered by the same runtime (:mod:`lambda_invoke`), not by moto's
Docker. Ctrl-C (or
``stop``) shuts it all down.
"""

from __future__ import annotations

import logging
import threading
import urllib.request
import warnings
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TextIO

import boto3
from moto.server import ThreadedMotoServer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_cli.local.cloud import (
    LOCAL_CREDENTIALS,
    REGION,
    TEMPLATE,
    lambda_targets_left_to_the_router,
    schedule_runner,
)
from mlops_cli.local.environment import environment
from mlops_cli.local.event_router import EventRouter, taps_kept_in_memory
from mlops_cli.local.firehose import firehose_as_aws_delivers
from mlops_cli.local.function_urls import PATH_PREFIX, serve_function_urls, url_functions
from mlops_cli.local.lambda_invoke import PendingInvocations, invocations_run_here
from mlops_cli.local.runtime import FunctionRuntime
from mlops_cli.local.schedules import LocalClock
from mlops_cli.local.stack import DeployedStack, deploy

DEFAULT_PORT = 4566
POLL_SECONDS = 0.5
HOST = "127.0.0.1"


def local_up(
    console: Console,
    *,
    port: int = DEFAULT_PORT,
    urls_port: int | None = None,
    template: Path = TEMPLATE,
    stop: threading.Event | None = None,
    ready: threading.Event | None = None,
    log_stream: TextIO | None = None,
) -> int:
    """Serve the bundle until ``stop`` is set or Ctrl-C; returns the exit code."""
    stop = stop or threading.Event()
    # The server's request log and moto's notes on skipped resource types would drown the
    # function logs the user came for.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    endpoint = f"http://{HOST}:{port}"
    server = ThreadedMotoServer(ip_address=HOST, port=port, verbose=False)
    server.start()
    # moto keeps its state per process: start from an empty account, as a new AWS account would.
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")  # noqa: S310 - http, 127.0.0.1
    urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our own server on 127.0.0.1
    try:
        with (
            _pointed_at(endpoint),
            lambda_targets_left_to_the_router(),
            taps_kept_in_memory(),
            firehose_as_aws_delivers(),
            warnings.catch_warnings(),
        ):
            warnings.simplefilter("ignore", UserWarning)
            session = boto3.Session(region_name=REGION)
            stack = deploy(session, template)
            runtime = FunctionRuntime(stack, session, log_stream=log_stream)
            router = EventRouter(stack, session, runtime)
            router.install_taps()
            schedules = schedule_runner(session, router, runtime, LocalClock())  # real time
            urls_at = urls_port if urls_port is not None else port + 1
            urls = serve_function_urls(stack, runtime.invoke, HOST, urls_at)
            # Lambda Invoke of a stack function (mlops failures replay, aws lambda invoke) runs here.
            pending = PendingInvocations()
            _print_welcome(console, stack, endpoint, f"http://{HOST}:{urls_at}")
            if ready is not None:
                ready.set()
            try:
                with invocations_run_here(stack, runtime, pending):
                    while not stop.is_set():
                        schedules.tick()
                        pending.run(runtime)
                        router.pump()
                        stop.wait(POLL_SECONDS)
            except KeyboardInterrupt:
                console.print("\nstopping the local cloud")
            finally:
                urls.shutdown()
                urls.server_close()
    finally:
        server.stop()
    return 0


def _pointed_at(endpoint: str) -> AbstractContextManager[None]:
    """Every boto3 client made in this process, the functions' included, talks to the server."""
    return environment(LOCAL_CREDENTIALS | {"AWS_ENDPOINT_URL": endpoint})


def _print_welcome(console: Console, stack: DeployedStack, endpoint: str, urls: str) -> None:
    table = Table(title=f"stack {stack.name} on {endpoint}", header_style="bold")
    table.add_column("output")
    table.add_column("value", overflow="fold")
    for key, value in sorted(stack.outputs.items()):
        table.add_row(key, escape(value))
    console.print(table)
    bucket = stack.outputs.get("DataBucketName", "<bucket>")
    console.print("try, from another terminal (any credentials work):")
    console.print(
        f"  aws --endpoint-url {endpoint} --region {REGION} s3 cp infra/contracts/churn.yaml "
        f"s3://{bucket}/contracts/churn.yaml"
    )
    console.print(
        f"  aws --endpoint-url {endpoint} --region {REGION} s3 cp churn.csv s3://{bucket}/incoming/churn/"
    )
    console.print(
        f"  mlops failures list --endpoint-url {endpoint}   (what failed; replay it with failures replay)"
    )
    for name in sorted(url_functions(stack)):
        console.print(f"  curl {urls}{PATH_PREFIX}{name}/health   (function URL of {name})")
    console.print("function logs follow; Ctrl-C stops.")
