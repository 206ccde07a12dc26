"""The ``mlops`` command: validate files locally, check contracts, run the demo.

Exit codes: 0 valid, 1 invalid, 2 usage error or broken contract (so scripts and CI can
tell "your data is bad" from "you called me wrong").
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from mlops_core.contracts import ContractError, DataContract, load_contract
from mlops_core.validation import ValidationReport, validate_file

from .drift_cli import add_drift_parser
from .failures_cli import add_failures_parser
from .models_cli import add_models_parser
from .report_view import render_contract, render_report
from .status_cli import add_status_parser

EXIT_VALID, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
#: Files above this size get a progress bar on an interactive terminal.
PROGRESS_FROM_BYTES = 32 << 20


class UsageError(Exception):
    """Wrong arguments or an unusable contract: exit code 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    console = Console(stderr=False, highlight=False)
    errors = Console(stderr=True, highlight=False)
    try:
        code: int = args.run(args, console)
    except UsageError as problem:
        errors.print(f"[bold red]error:[/] {escape(str(problem))}")
        return EXIT_USAGE
    except ContractError as problem:
        errors.print(f"[bold red]error:[/] {escape(str(problem))}")
        return EXIT_USAGE
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlops", description="Serverless MLOps bundle: local tools.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    validate = commands.add_parser("validate", help="validate a CSV or Parquet file against a data contract")
    validate.add_argument("file", type=Path, help="the CSV (.csv, .csv.gz) or Parquet file")
    validate.add_argument("--contract", type=Path, required=True, help="the contract YAML")
    validate.add_argument("--report", type=Path, help="write the full report here as JSON")
    validate.add_argument("--quiet", action="store_true", help="print only the verdict line")
    validate.set_defaults(run=_validate)

    contract = commands.add_parser(
        "contract", help="check a data contract, show its rules, optionally upload it"
    )
    contract.add_argument("contract", type=Path)
    contract.add_argument(
        "--push", metavar="BUCKET", help="upload it to s3://BUCKET/contracts/<dataset>.yaml"
    )
    contract.add_argument(
        "--endpoint-url", help="S3 endpoint (for the local cloud started by mlops local up)"
    )
    contract.set_defaults(run=_contract)

    local = commands.add_parser("local", help="the bundle in a local cloud (moto, no AWS account, no Docker)")
    local_commands = local.add_subparsers(required=True, metavar="COMMAND")
    invoke = local_commands.add_parser(
        "invoke", help="run one function with an event file, like sam local invoke"
    )
    invoke.add_argument("function", help="logical id (ValidateDatasetFunction) or function name")
    invoke.add_argument(
        "--event", type=Path, required=True, help="the event JSON (see infra/events/samples/)"
    )
    invoke.set_defaults(run=_local_invoke)
    up = local_commands.add_parser(
        "up", help="serve the stack on a local moto endpoint and run its functions"
    )
    up.add_argument("--port", type=int, default=4566)
    up.add_argument("--urls-port", type=int, help="where function URLs are served (default: PORT + 1)")
    up.set_defaults(run=_local_up)

    demo = commands.add_parser("demo", help="run the bundle in the local cloud on generated example datasets")
    demo.add_argument(
        "--out", type=Path, help="folder for the example files and reports (default: a temp dir)"
    )
    demo.set_defaults(run=_demo)

    add_models_parser(commands)  # mlops models list | show | approve | ... (models_cli.py)
    add_status_parser(commands)  # mlops status (status_cli.py)
    add_drift_parser(commands)  # mlops drift baseline | check | report (drift_cli.py)
    add_failures_parser(commands)  # mlops failures list | replay (failures_cli.py)
    return parser


def _read_contract(path: Path) -> DataContract:
    if not path.is_file():
        raise UsageError(f"no contract file at {path}")
    return load_contract(path.read_text(encoding="utf-8"), source=str(path))


def _validate(args: argparse.Namespace, console: Console) -> int:
    contract = _read_contract(args.contract)
    path: Path = args.file
    if not path.is_file():
        raise UsageError(f"no file at {path}")
    report = _run_with_progress(path, contract, console)
    if args.report is not None:
        args.report.parent.mkdir(parents=True, exist_ok=True)
        args.report.write_text(report.model_dump_json(indent=2))
    if args.quiet:
        console.print(_verdict(report, path))
    else:
        render_report(console, report, path.name)
        if args.report is not None:
            console.print(f"full report: {args.report}")
    return EXIT_VALID if report.valid else EXIT_INVALID


def _run_with_progress(path: Path, contract: DataContract, console: Console) -> ValidationReport:
    size = path.stat().st_size
    if size < PROGRESS_FROM_BYTES or not console.is_terminal:
        return validate_file(path, contract)
    columns = (
        *Progress.get_default_columns()[:1],
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        task = progress.add_task(f"validating {path.name}", total=size)
        return validate_file(
            path, contract, progress=lambda done, total: progress.update(task, completed=done)
        )


def _verdict(report: ValidationReport, path: Path) -> str:
    if report.valid:
        return f"VALID {path} ({report.rows} rows)"
    return f"INVALID {path} ({report.violation_count} violations: {report.counts_by_kind()})"


def _contract(args: argparse.Namespace, console: Console) -> int:
    contract = _read_contract(args.contract)
    if contract.drift is not None:
        from mlops_core.drift.spec import drift_spec  # noqa: PLC0415 - only contracts with the section

        drift_spec(contract, source=str(args.contract))
    render_contract(console, contract)
    if args.push:
        import boto3  # noqa: PLC0415 - only pushing talks to AWS

        from .contract_store import push_contract  # noqa: PLC0415

        uri = push_contract(boto3.client("s3", endpoint_url=args.endpoint_url), args.push, args.contract)
        console.print(f"uploaded to {escape(uri)}")
    return EXIT_VALID


def _demo(args: argparse.Namespace, console: Console) -> int:
    from .demo import run_demo  # noqa: PLC0415 - moto and the SAM translator load only for the demo

    return run_demo(console, out=args.out)


def _local_up(args: argparse.Namespace, console: Console) -> int:
    from .local.server import local_up  # noqa: PLC0415 - the server loads only for this command

    return local_up(console, port=args.port, urls_port=args.urls_port)


def _local_invoke(args: argparse.Namespace, console: Console) -> int:
    from .local.cloud import local_cloud  # noqa: PLC0415 - moto loads only for the local cloud

    if not args.event.is_file():
        raise UsageError(f"no event file at {args.event}")
    event = json.loads(args.event.read_text(encoding="utf-8"))
    with local_cloud() as cloud:
        try:
            function = cloud.stack.function(args.function)
        except LookupError as problem:
            raise UsageError(str(problem)) from problem
        result = cloud.runtime.invoke(function, event)
    console.print_json(json.dumps(result, default=str))
    return EXIT_VALID


if __name__ == "__main__":
    sys.exit(main())
