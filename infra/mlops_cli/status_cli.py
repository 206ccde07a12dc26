"""`mlops status`: one screen on a stack: its datasets, models and endpoint.

Works against a deployed stack (its CloudFormation outputs, default credentials) or the
local cloud (``--endpoint-url`` as ``mlops local up`` prints it).
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from typing import Any

from botocore.exceptions import ClientError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_core.registry import DEFAULT_ALIAS, DynamoDBModelRegistry

from .models_cli import default_stack, make_session
from .stack_outputs import StackNotFound, stack_outputs

EXIT_OK, EXIT_USAGE = 0, 2


def show_status(session: Any, console: Console, *, stack: str, endpoint_url: str | None = None) -> int:
    try:
        outputs = stack_outputs(session, stack, endpoint_url=endpoint_url)
    except StackNotFound as missing:
        console.print(f"[bold red]error:[/] {escape(str(missing))}")
        return EXIT_USAGE
    s3 = session.client("s3", endpoint_url=endpoint_url)
    bucket = outputs.get("DataBucketName", "")
    console.print(f"[bold]{escape(stack)}[/] in {session.region_name}: data bucket s3://{escape(bucket)}/")
    console.print(_datasets(s3, bucket))
    registry = DynamoDBModelRegistry(
        session.client("dynamodb", endpoint_url=endpoint_url), outputs["RegistryTableName"]
    )
    console.print(_models(registry, s3, bucket))
    console.print(_endpoint(session.client("lambda", endpoint_url=endpoint_url), outputs))
    return EXIT_OK


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(item["Key"] for item in page.get("Contents", []))
    return keys


def _datasets(s3: Any, bucket: str) -> Table:
    table = Table(title="datasets", header_style="bold")
    for heading in ("dataset", "validated runs", "quarantined runs", "last report"):
        table.add_column(heading)
    contracts = [k.removeprefix("contracts/").removesuffix(".yaml") for k in _keys(s3, bucket, "contracts/")]
    runs = {
        area: Counter(
            k.split("/")[1] for k in {"/".join(k.split("/")[:3]) for k in _keys(s3, bucket, f"{area}/")}
        )
        for area in ("validated", "quarantine")
    }
    reports = _keys(s3, bucket, "reports/validation/")
    for dataset in sorted(set(contracts) | set(runs["validated"]) | set(runs["quarantine"])):
        mine = sorted(k for k in reports if k.split("/")[2] == dataset)
        last = mine[-1].rsplit("/", 1)[-1].removesuffix(".json") if mine else "-"
        name = escape(dataset) if dataset in contracts else f"{escape(dataset)} [red](no contract)[/]"
        table.add_row(name, str(runs["validated"][dataset]), str(runs["quarantine"][dataset]), escape(last))
    return table


def _models(registry: DynamoDBModelRegistry, s3: Any, bucket: str) -> Table:
    table = Table(title="models", header_style="bold")
    for heading in ("model", "versions", "latest", "production", "drift (last check)"):
        table.add_column(heading)
    for model in registry.list_models():
        versions = registry.list_versions(model)
        latest = versions[-1] if versions else None
        production = registry.alias(model, DEFAULT_ALIAS)
        table.add_row(
            escape(model),
            str(len(versions)),
            f"v{latest.version} {latest.status.value}" if latest else "-",
            f"v{production.version}" if production else "-",
            _drift(s3, bucket, model),
        )
    return table


def _drift(s3: Any, bucket: str, model: str) -> str:
    """The last scheduled check's verdict, from reports/drift/<model>/latest.json."""
    try:
        body = s3.get_object(Bucket=bucket, Key=f"reports/drift/{model}/latest.json")["Body"].read()
        report = json.loads(body)
    except (ClientError, ValueError):
        return "-"
    status = str(report.get("status"))
    colour = {"ok": "green", "drift": "red", "insufficient_data": "yellow"}.get(status, "bright_black")
    when = str(report.get("checked_at", ""))[:16].replace("T", " ")
    text = f"[{colour}]{escape(status)}[/] v{report.get('version')} {escape(when)}"
    if report.get("confirmed"):
        text += " [bold red]confirmed[/]"
    return text


def _endpoint(lambda_client: Any, outputs: dict[str, str]) -> Table:
    table = Table(title="endpoint (the live alias)", header_style="bold")
    for heading in ("function", "url", "serving"):
        table.add_column(heading, overflow="fold")
    function = outputs.get("PredictFunctionName")
    if function:
        table.add_row(
            escape(function),
            escape(outputs.get("PredictFunctionUrl", "-")),
            escape(_serving(lambda_client, function)),
        )
    return table


def _serving(lambda_client: Any, function: str) -> str:
    """What each version behind the live alias serves, with its share of the traffic."""
    try:
        alias = lambda_client.get_alias(FunctionName=function, Name="live")
    except lambda_client.exceptions.ResourceNotFoundException:
        return "no live alias"
    extra = {
        str(k): float(v)
        for k, v in alias.get("RoutingConfig", {}).get("AdditionalVersionWeights", {}).items()
    }
    shares = {str(alias["FunctionVersion"]): 1.0 - sum(extra.values()), **extra}
    parts = []
    for version, share in shares.items():
        variables = lambda_client.get_function_configuration(FunctionName=function, Qualifier=version)
        bound = variables.get("Environment", {}).get("Variables", {})
        what = (
            f"{bound['MODEL_NAME']} v{bound.get('MODEL_VERSION', '?')}"
            if bound.get("MODEL_NAME")
            else "no model"
        )
        parts.append(f"{what} on {share:.0%} (function version {version})")
    return "; ".join(parts)


def add_status_parser(commands: Any) -> None:
    status = commands.add_parser("status", help="one screen on a stack: datasets, models, endpoint")
    status.add_argument("--stack", help="default: mlops-local with --endpoint-url, else mlops-bundle-dev")
    status.add_argument("--endpoint-url", help="the local cloud's endpoint, as `mlops local up` prints it")
    status.add_argument("--region")
    status.set_defaults(run=_run)


def _run(args: argparse.Namespace, console: Console) -> int:
    session = make_session(args.region, args.endpoint_url)
    return show_status(
        session, console, stack=args.stack or default_stack(args.endpoint_url), endpoint_url=args.endpoint_url
    )
