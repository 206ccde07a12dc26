"""The ``mlops`` command: validate files locally, check contracts, run the demo.

Exit codes: 0 valid, 1 invalid, 2 usage error or broken contract (so scripts and CI can
tell "your data is bad" from "you called me wrong").
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn, TransferSpeedColumn

from mlops_core.contracts import ContractError, DataContract, load_contract
from mlops_core.validation import ValidationReport, validate_file

from .lambda_runtime import REPO_ROOT
from .report_view import render_contract, render_report, render_summary_table

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

    contract = commands.add_parser("contract", help="check a data contract and show what it enforces")
    contract.add_argument("contract", type=Path)
    contract.set_defaults(run=_contract)

    demo = commands.add_parser("demo", help="generate the example datasets, validate them, show the reports")
    demo.add_argument(
        "--out", type=Path, help="folder for the example files and reports (default: a temp dir)"
    )
    demo.set_defaults(run=_demo)
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
    render_contract(console, _read_contract(args.contract))
    return EXIT_VALID


def _demo(args: argparse.Namespace, console: Console) -> int:
    from .sample_data import write_examples  # noqa: PLC0415 - only the demo generates data

    contract_path = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
    contract = _read_contract(contract_path)
    out: Path = args.out or Path(tempfile.mkdtemp(prefix="mlops-demo-"))
    console.rule("[bold]mlops demo: the data gate")
    console.print(
        f"contract {contract_path.relative_to(REPO_ROOT)} -> dataset [bold]{contract.dataset}[/], "
        f"{len(contract.columns)} columns; example files in {out}"
    )
    results = []
    surprises = 0
    for example, path in write_examples(out / "incoming" / contract.dataset):
        report = validate_file(path, contract)
        report_path = out / "reports" / "validation" / contract.dataset / f"{path.stem}.json"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_text(report.model_dump_json(indent=2))
        if report.valid != example.expect_valid:
            surprises += 1
        results.append((example, path, report, report_path))
        console.print(
            f"  {'[green]valid  [/]' if report.valid else '[red]invalid[/]'} {path.name:<24} "
            f"{report.rows:>5} rows  {escape(example.story)}"
        )
    console.print()
    for _example, path, report, _report_path in results:
        if not report.valid:
            render_report(console, report, path.name)
    render_summary_table(console, [(p.name, r, rp) for _e, p, r, rp in results])
    if surprises:
        console.print(f"[bold red]{surprises} example(s) did not get the verdict they were made for[/]")
        return EXIT_INVALID
    console.print(
        "[bold green]every example got the verdict it was made for.[/] "
        f"Try: mlops validate {escape(str(results[1][1]))} --contract {escape(str(contract_path))}"
    )
    return EXIT_VALID


if __name__ == "__main__":
    sys.exit(main())
