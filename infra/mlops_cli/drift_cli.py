"""``mlops drift``: drift baselines and checks on local files, and the stack's drift reports.

    mlops drift baseline --contract churn.yaml --data train.csv -o baseline.json
    mlops drift check --baseline baseline.json --data window.csv [--contract churn.yaml] [--json]
    mlops drift check --model churn[:3] --data window.csv [--html report.html]
    mlops drift report churn [--run RUN_ID] [--html report.html] [--json]

``baseline`` computes what training stores next to a model; ``check`` compares a file's rows
with a baseline as the scheduled check compares captured traffic; ``report`` shows what the
scheduled check wrote. Exit codes: 0 no drift (also insufficient data, with a warning), 1 drift,
2 usage error: wrong arguments, a missing or unreadable file, a broken contract or baseline,
no such stack, model or report, no credentials, an AWS error. See docs/drift.md.

The command functions take a boto3 Session (when they reach a stack) and consoles, so tests
call them on moto.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_core.contracts import (
    NUMERIC_TYPES,
    ColumnSpec,
    ColumnType,
    ContractError,
    CsvOptions,
    DataContract,
    DataFormat,
    contract_key,
    load_contract,
)
from mlops_core.drift.compare import FeatureDrift
from mlops_core.drift.html import comparison_report, render_html
from mlops_core.drift.spec import DriftSpec, drift_spec
from mlops_core.drift_check import DriftReport, compare_by_spec, latest_key, report_key
from mlops_core.events import DriftCheckRequested, PublishError
from mlops_core.object_store import ObjectMissing, S3ObjectStore
from mlops_core.registry import DEFAULT_ALIAS, ModelVersion, RegistryError
from mlops_core.registry.store import check_model_name
from mlops_core.training.baseline import DriftBaseline, NumericSummary
from mlops_core.training.manifest import ModelManifest

from .command_errors import AWS_ERRORS, aws_message, report_error
from .models_cli import (
    DEFAULT_TIMEOUT_SECONDS,
    POLL_SECONDS,
    ModelsUsageError,
    Stack,
    default_stack,
    make_session,
    parse_reference,
    resolve_actor,
    resolve_stack,
    stack_options,
)
from .stack_outputs import StackError

EXIT_OK, EXIT_DRIFT, EXIT_USAGE = 0, 1, 2
#: The window's column holding the model's outputs, compared with the training target when present.
PREDICTION_COLUMN = "prediction"
#: Values shown per categorical column in the baseline summary.
TOP_VALUES = 4
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_COLOURS = {"ok": "green", "drift": "red", "insufficient_data": "yellow", "skipped": "bright_black"}


class DriftUsageError(Exception):
    """Wrong arguments, an unreadable file, or nothing to check or show: exit code 2."""


# --- reading local files ---------------------------------------------------------------------------


def read_contract(path: Path) -> DataContract:
    if not path.is_file():
        raise DriftUsageError(f"no contract file at {path}")
    return load_contract(path.read_text(encoding="utf-8"), source=str(path))


def read_baseline_file(path: Path) -> DriftBaseline:
    if not path.is_file():
        raise DriftUsageError(f"no baseline file at {path}: make one with `mlops drift baseline`")
    return parse_baseline(path.read_text(encoding="utf-8"), str(path))


def parse_baseline(text: str, where: str) -> DriftBaseline:
    try:
        return DriftBaseline.model_validate_json(text)
    except ValidationError as error:
        raise DriftUsageError(
            f"{where} is not a drift baseline ({_first_errors(error)}); write one with `mlops drift baseline`"
        ) from error


def data_format(path: Path, declared: DataFormat) -> DataFormat:
    """Parquet or CSV by the file's name (``.parquet``, ``.csv``, ``.csv.gz``), else as declared."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return DataFormat.PARQUET
    if name.endswith((".csv", ".csv.gz")):
        return DataFormat.CSV
    return declared


def _reading(path: Path, reader: Callable[[], Any]) -> Any:
    """Run a reader; an unreadable file is a usage error naming it."""
    if not path.is_file():
        raise DriftUsageError(f"no data file at {path}")
    try:
        return reader()
    except (OSError, ValueError) as error:
        raise DriftUsageError(
            f"cannot read {path}: {error}; check it against its contract with `mlops validate`"
        ) from error


@dataclass(frozen=True)
class Window:
    """A file's rows as the drift check sees captured instances, and its predictions if any."""

    instances: list[dict[str, Any]]
    predictions: list[Any] | None


def read_window(path: Path, baseline: DriftBaseline, contract: DataContract | None) -> Window:
    """The baseline's feature columns of ``path`` (and ``prediction`` when the file has one).

    Read with the training reader, by the baseline's column types and the contract's CSV
    options (the defaults without a contract). Values are normalised as for the baseline:
    numbers as float, booleans as bool, categories as text, missing values as ``None``.
    """
    # Imported here: pandas and scikit-learn load only for the commands that read files.
    from mlops_core.training.features import feature_fields, prepare_features  # noqa: PLC0415
    from mlops_core.training.train import read_columns  # noqa: PLC0415

    names = [c.name for c in baseline.features]
    columns = [ColumnSpec(name=c.name, type=c.type, nullable=True) for c in baseline.features]
    predicted = PREDICTION_COLUMN not in names
    if predicted:
        kind = baseline.target.type
        usable = kind in NUMERIC_TYPES or kind in (ColumnType.BOOLEAN, ColumnType.CATEGORY)
        columns.append(
            ColumnSpec(name=PREDICTION_COLUMN, type=kind if usable else ColumnType.CATEGORY, nullable=True)
        )
    declared = contract.format if contract is not None else DataFormat.CSV
    reading = DataContract(
        dataset=baseline.dataset,
        format=data_format(path, declared),
        csv=contract.csv if contract is not None else CsvOptions(),
        columns=columns,
    )
    optional = [PREDICTION_COLUMN] if predicted else []
    frame = _reading(path, lambda: read_columns(path, reading, names, optional=optional))
    fields = [f for f in feature_fields(reading) if f.name in frame.columns]
    prepared = prepare_features(frame, fields)
    values = {f.name: [_plain(v, f.encoding) for v in prepared[f.name].tolist()] for f in fields}
    instances = [dict(zip(names, row, strict=True)) for row in zip(*(values[n] for n in names), strict=True)]
    predictions = values.get(PREDICTION_COLUMN) if predicted else None
    return Window(instances=instances, predictions=predictions)


def _plain(value: Any, encoding: str) -> Any:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if encoding == "boolean":
        return bool(value)
    if encoding == "numeric":
        return float(value)
    return str(value)


# --- mlops drift baseline ----------------------------------------------------------------------------


def make_baseline(console: Console, *, contract_path: Path, data: Path, output: Path) -> int:
    """Compute the baseline training would store for ``data`` and write it to ``output``."""
    # Imported here: pandas and scikit-learn load only for the commands that read files.
    from mlops_core.training.baseline import compute_baseline  # noqa: PLC0415
    from mlops_core.training.spec import training_spec  # noqa: PLC0415
    from mlops_core.training.train import read_training_frame  # noqa: PLC0415

    contract = read_contract(contract_path)
    spec = training_spec(contract, source=str(contract_path))
    reading = contract.model_copy(update={"format": data_format(data, contract.format)})
    frame = _reading(data, lambda: read_training_frame(data, reading, spec))
    baseline = compute_baseline(frame, contract, spec)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(baseline.model_dump_json(indent=2), encoding="utf-8")
    _baseline_table(console, baseline)
    console.print(
        f"wrote {escape(str(output))}: {baseline.rows} rows of {escape(baseline.dataset)} "
        f"(contract v{baseline.contract_version}), {len(baseline.features)} features and the target "
        f"{escape(baseline.target.name)}",
        soft_wrap=True,
    )
    return EXIT_OK


def _baseline_table(console: Console, baseline: DriftBaseline) -> None:
    table = Table(title=f"drift baseline of {escape(baseline.dataset)}", header_style="bold")
    for heading in ("column", "role", "type", "rows", "null share", "summary"):
        table.add_column(heading, justify="right" if heading in ("rows", "null share") else "left")
    for column in [*baseline.features, baseline.target]:
        summary = column.summary
        if isinstance(summary, NumericSummary):
            text = (
                f"min {_number(summary.min)}, mean {_number(summary.mean)}, max {_number(summary.max)}, "
                f"std {_number(summary.std)}; {len(summary.counts)} bins"
            )
        else:
            ranked = sorted(summary.counts.items(), key=lambda kv: (-kv[1], kv[0]))
            text = ", ".join(f"{value} {count}" for value, count in ranked[:TOP_VALUES])
            if len(ranked) > TOP_VALUES:
                text += f" (+{len(ranked) - TOP_VALUES} more)"
        table.add_row(
            escape(column.name),
            column.role,
            column.type.value,
            str(column.rows),
            f"{column.null_share:.1%}",
            escape(text),
        )
    console.print(table)


# --- mlops drift check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckSource:
    """Where the baseline comes from: a file, or a registered version of a deployed stack."""

    baseline_path: Path | None = None
    model: str | None = None
    stack: str | None = None
    endpoint_url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class Reference:
    """A registered version's baseline, and what the stack knows about it."""

    baseline: DriftBaseline
    version: ModelVersion
    contract: DataContract | None
    importance: dict[str, float] | None


def check_window(
    console: Console,
    data: Path,
    *,
    source: CheckSource,
    contract_path: Path | None = None,
    drift_share: float | None = None,
    as_json: bool = False,
    html: Path | None = None,
    errors: Console | None = None,
    session: Any = None,
) -> int:
    """Compare the rows of ``data`` with a baseline, as the scheduled check compares captured traffic."""
    err = errors or console

    def body() -> int:
        if drift_share is not None and not 0.0 < drift_share <= 1.0:
            raise DriftUsageError(f"--drift-share must be above 0 and at most 1, got {drift_share:g}")
        if not data.is_file():
            raise DriftUsageError(f"no data file at {data}")
        contract = read_contract(contract_path) if contract_path is not None else None
        reference: Reference | None = None
        if source.model is not None:
            reference = _registered(session or make_session(source.region, source.endpoint_url), source)
            baseline = reference.baseline
            if contract is None and reference.contract is not None:
                contract = reference.contract
                err.print(f"contract: {escape(contract_key(contract.dataset))} from the stack's bucket")
        elif source.baseline_path is not None:
            baseline = read_baseline_file(source.baseline_path)
        else:
            raise DriftUsageError("name the baseline: --baseline FILE or --model MODEL[:VERSION]")
        where = str(contract_path) if contract_path is not None else contract_key(baseline.dataset)
        spec = drift_spec(contract, source=where) if contract is not None else DriftSpec()
        if contract is not None:
            _check_contract(contract, baseline, err)
        window = read_window(data, baseline, contract)
        comparison = compare_by_spec(
            baseline, window.instances, spec, predictions=window.predictions, contract=contract
        )
        share = drift_share if drift_share is not None else spec.drift_share
        verdict = comparison.verdict(share)
        model = reference.version.model if reference is not None else None
        version = reference.version.version if reference is not None else None
        report = comparison_report(comparison, baseline, drift_share=share, model=model, version=version)
        if as_json:
            console.file.write(json.dumps(comparison.summary(share), indent=2) + "\n")
        else:
            render_features(console, report)
            console.print(_verdict_line(report, data.name), soft_wrap=True)
        if verdict == "insufficient_data":
            err.print(
                f"[yellow]warning:[/] insufficient data: no feature of {escape(data.name)} has "
                f"min_samples={spec.min_samples} non-null values, so nothing was tested (exit 0)"
            )
        if html is not None:
            importance = reference.importance if reference is not None else None
            page = render_html(report, importance, source=f"{data.name}: {comparison.instances} rows")
            _write(html, page)
            err.print(f"HTML report: {escape(str(html))}", soft_wrap=True)
        return EXIT_DRIFT if verdict == "drift" else EXIT_OK

    return _guarded(err, body)


def _check_contract(contract: DataContract, baseline: DriftBaseline, err: Console) -> None:
    if contract.dataset != baseline.dataset:
        raise DriftUsageError(
            f"the contract is for dataset {contract.dataset!r} but the baseline for {baseline.dataset!r}: "
            "pass the contract the model was trained with"
        )
    if contract.fingerprint() != baseline.contract_sha256:
        err.print(
            f"[yellow]warning:[/] the baseline was computed with contract v{baseline.contract_version}; "
            f"this is v{contract.version} with other rules: its drift section and quality rules apply"
        )


def _registered(session: Any, source: CheckSource) -> Reference:
    """The baseline, contract and feature importance of ``MODEL[:VERSION]`` (default: production)."""
    assert source.model is not None
    model, number = parse_reference(source.model, version_required=False)
    check_model_name(model)
    target = resolve_stack(session, source.stack or default_stack(source.endpoint_url), source.endpoint_url)
    registry = target.registry()
    if number is None:
        pointer = registry.alias(model, DEFAULT_ALIAS)
        if pointer is None:
            raise DriftUsageError(
                f"model {model!r} has no {DEFAULT_ALIAS} version: name one as {model}:VERSION "
                "(see `mlops models list`)"
            )
        number = pointer.version
    version = registry.get(model, number)
    if not version.baseline_uri:
        raise DriftUsageError(
            f"{model} v{number} has no drift baseline (its upload had no baseline.json): make one with "
            "`mlops drift baseline` and pass it as --baseline"
        )
    baseline = parse_baseline(_read_uri(target, version.baseline_uri), version.baseline_uri)
    store, key = _store(target), contract_key(baseline.dataset)
    contract: DataContract | None
    try:
        contract = load_contract(store.read_text(key), source=store.uri(key))
    except ObjectMissing:
        contract = None  # removed from the bucket: checked with the defaults, as the scheduled check does
    return Reference(baseline, version, contract, _importance(target, version))


def _importance(target: Stack, version: ModelVersion) -> dict[str, float] | None:
    """Permutation importance from the version's manifest; None when it cannot be read."""
    try:
        manifest = ModelManifest.model_validate_json(_read_uri(target, version.manifest_uri))
    except (ObjectMissing, ValidationError, DriftUsageError):
        return None
    return {f.feature: f.importance_mean for f in manifest.feature_importance} or None


def _store(target: Stack, bucket: str | None = None) -> S3ObjectStore:
    return S3ObjectStore(target.client("s3"), bucket or target.bucket)


def _read_uri(target: Stack, uri: str) -> str:
    bucket, sep, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not sep or not key:
        raise DriftUsageError(f"{uri} is not an s3:// URI of an object")
    return _store(target, bucket).read_text(key)


# --- mlops drift report ----------------------------------------------------------------------------


def show_report(
    console: Console,
    model: str,
    *,
    run_id: str | None = None,
    stack: str,
    endpoint_url: str | None = None,
    session: Any,
    as_json: bool = False,
    html: Path | None = None,
    errors: Console | None = None,
) -> int:
    """The report the scheduled check wrote (``latest.json``, or one run's); 1 when it says drift."""
    err = errors or console

    def body() -> int:
        check_model_name(model)
        if run_id is not None and not _RUN_ID.match(run_id):
            raise DriftUsageError(f"--run {run_id!r} is not a run id (letters, digits, '.', '_', '-')")
        target = resolve_stack(session, stack, endpoint_url)
        key = report_key(model, run_id) if run_id is not None else latest_key(model)
        try:
            text = _store(target).read_text(key)
        except ObjectMissing as missing:
            raise DriftUsageError(
                f"no drift report at s3://{target.bucket}/{key}: "
                + (
                    f"list the runs under s3://{target.bucket}/reports/drift/{model}/"
                    if run_id is not None
                    else f"{model} has not been checked yet (or is not a model of this stack)"
                )
            ) from missing
        try:
            report = DriftReport.model_validate_json(text)
        except ValidationError as error:
            raise DriftUsageError(
                f"s3://{target.bucket}/{key} is not a drift report ({_first_errors(error)})"
            ) from error
        if as_json:
            console.file.write(report.model_dump_json(indent=2) + "\n")
        else:
            console.print(_report_header(report))
            if report.features:
                render_features(console, report)
            console.print(_verdict_line(report, None), soft_wrap=True)
        if html is not None:
            importance = None
            if report.version is not None:
                try:
                    importance = _importance(target, target.registry().get(model, report.version))
                except RegistryError:
                    importance = None
            _write(html, render_html(report, importance))
            err.print(f"HTML report: {escape(str(html))}", soft_wrap=True)
        return EXIT_DRIFT if report.status == "drift" else EXIT_OK

    return _guarded(err, body)


def request_run(
    console: Console,
    models: list[str],
    *,
    stack: str,
    session: Any,
    endpoint_url: str | None = None,
    actor: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    wait: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    errors: Console | None = None,
) -> int:
    """Publish ``DriftCheckRequested`` and wait for each model's report of that run.

    0: every model checked and none drifted; 1: a model drifted, or a report did not come
    within ``timeout``; 2: usage or AWS errors. ``timeout`` 0 only requests the run.
    ``wait`` runs between polls (1 s by default; tests pass the local cloud's ``settle``).
    """
    pause: Callable[[], object] = wait or (lambda: time.sleep(POLL_SECONDS))
    err = errors or console

    def body() -> int:
        for model in models:
            check_model_name(model)
        target = resolve_stack(session, stack, endpoint_url)
        moment = now()
        run_id = f"{moment:%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"
        requested = DriftCheckRequested(
            models=sorted(set(models)) or None,
            run_id=run_id,
            requested_by=resolve_actor(session, endpoint_url, actor),
            requested_at=moment,
        )
        target.publisher().publish([requested])
        names = requested.models or target.registry().list_models()
        console.print(
            f"drift check {run_id} requested for {', '.join(names) or 'every model (none registered yet)'}",
            soft_wrap=True,
        )
        if timeout <= 0 or not names:
            return EXIT_OK
        store = _store(target)
        reports: dict[str, DriftReport] = {}
        deadline = clock() + timeout
        while True:
            for model in names:
                if model not in reports:
                    try:
                        reports[model] = DriftReport.model_validate_json(
                            store.read_text(report_key(model, run_id))
                        )
                    except ObjectMissing:
                        continue
            if len(reports) == len(names) or clock() >= deadline:
                break
            pause()
        _run_table(console, run_id, [reports[m] for m in names if m in reports])
        missing = [m for m in names if m not in reports]
        if missing:
            report_error(
                err,
                f"no report of run {run_id} for {', '.join(missing)} within {timeout:g} s; it may still "
                f"come: `mlops drift report MODEL --run {run_id}`, or see check_drift's logs",
            )
            return EXIT_DRIFT
        return EXIT_DRIFT if any(r.status == "drift" for r in reports.values()) else EXIT_OK

    return _guarded(err, body)


def _run_table(console: Console, run_id: str, reports: list[DriftReport]) -> None:
    table = Table(title=f"drift check {run_id}", header_style="bold")
    for column in ("model", "version", "status", "drift share", "drifted features", "K of N", "alert"):
        table.add_column(column)
    for report in reports:
        colour = _COLOURS.get(report.status, "white")
        share = (
            "-"
            if report.drift_share is None
            else f"{report.drift_share:.2f} / {report.drift_share_threshold}"
        )
        history = f"{sum(report.recent)} of {len(report.recent)} (needs {report.confirm_drifted})"
        table.add_row(
            escape(report.model),
            "-" if report.version is None else str(report.version),
            f"[{colour}]{report.status}[/]" + (f" ({escape(report.reason)})" if report.reason else ""),
            share,
            escape(", ".join(report.drifted_features)) or "-",
            history if report.recent else "-",
            "[bold red]yes[/]" if report.alert else "no",
        )
    console.print(table)


def _report_header(report: DriftReport) -> str:
    version = f" v{report.version}" if report.version is not None else ""
    when = report.checked_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    text = f"[bold]{escape(report.model)}[/]{version}, run {escape(report.run_id)} at {when}"
    if report.window is not None:
        w = report.window
        text += (
            f"\n  window {w.start} to {w.end}: {w.records} records in {w.files} files, "
            f"{w.instances} compared{' (sampled)' if w.sampled else ''}"
        )
    if report.recent:
        marks = "".join("x" if drifted else "." for drifted in report.recent)
        text += (
            f"\n  last runs [{marks}] (x drifted): "
            f"{'confirmed' if report.confirmed else 'not confirmed'} at {report.confirm_drifted} of "
            f"{report.confirm_runs}{', alert raised by this run' if report.alert else ''}"
        )
    return text


# --- terminal views ---------------------------------------------------------------------------------


def render_features(console: Console, report: DriftReport) -> None:
    """One row per feature (and the predictions): method, statistic, p-value, threshold, verdict."""
    table = Table(header_style="bold")
    for heading in ("feature", "method", "statistic", "p-value", "threshold", "verdict"):
        table.add_column(
            heading, justify="right" if heading in ("statistic", "p-value", "threshold") else "left"
        )
    rows: list[tuple[str, FeatureDrift]] = [(f.feature, f) for f in report.features.values()]
    if report.prediction is not None:
        rows.append((f"prediction ({report.prediction.feature})", report.prediction))
    for label, feature in rows:
        table.add_row(
            escape(label),
            escape(feature.method),
            _number(feature.statistic),
            _number(feature.p_value),
            _number(feature.threshold),
            _feature_verdict(feature),
        )
    console.print(table)


def _feature_verdict(feature: FeatureDrift) -> str:
    if feature.status == "drifted":
        return "[bold red]drifted[/]"
    if feature.status == "stable":
        return "[green]stable[/]"
    return f"[bright_black]skipped: {escape(feature.reason or '')}[/]"


def _verdict_line(report: DriftReport, name: str | None) -> str:
    colour = _COLOURS[report.status]
    what = escape(name) if name is not None else escape(report.model)
    line = f"[bold {colour}]{report.status.upper().replace('_', ' ')}[/] {what}"
    tested = sum(1 for f in report.features.values() if f.status != "skipped")
    if report.drift_share is not None and report.drift_share_threshold is not None:
        line += (
            f": {len(report.drifted_features)} of {tested} tested features drifted "
            f"({report.drift_share:.1%}; the run drifts at {report.drift_share_threshold:.1%})"
        )
        if report.drifted_features:
            line += ": " + escape(", ".join(report.drifted_features))
    elif report.reason:
        line += f": {escape(report.reason)}"
    return line


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if value != 0 and abs(value) < 1e-3:
        return f"{value:.2e}"
    return f"{value:.4g}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


def _first_errors(error: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(document)'}: {e['msg']}" for e in error.errors()[:3]
    )


# --- error handling and argparse wiring -------------------------------------------------------------


def _guarded(errors: Console, body: Callable[[], int]) -> int:
    """Run a command body; every expected failure is a message and exit code 2 (1 means drift)."""
    try:
        return body()
    except (DriftUsageError, ContractError, ModelsUsageError, StackError, RegistryError) as problem:
        report_error(errors, str(problem))
    except ObjectMissing as missing:
        report_error(errors, f"no object at {missing}")
    except PublishError as problem:
        report_error(errors, f"AWS refused: {problem}")
    except AWS_ERRORS as problem:
        report_error(errors, aws_message(problem))
    return EXIT_USAGE


def add_drift_parser(commands: Any) -> None:
    """Add ``drift`` and its subcommands to the ``mlops`` parser's subparsers."""
    common = stack_options()
    drift = commands.add_parser(
        "drift", help="drift baselines, local drift checks, the stack's drift reports"
    )
    sub = drift.add_subparsers(required=True, metavar="COMMAND")

    baseline = sub.add_parser("baseline", help="compute a training file's drift baseline, as training does")
    baseline.add_argument("--contract", type=Path, required=True, help="the dataset's contract YAML")
    baseline.add_argument(
        "--data", type=Path, required=True, help="the training CSV (.csv, .csv.gz) or Parquet"
    )
    baseline.add_argument("-o", "--output", type=Path, required=True, help="where to write baseline.json")
    baseline.set_defaults(run=run, drift_command="baseline")

    check = sub.add_parser(
        "check", parents=[common], help="compare a file's rows with a baseline; exit 1 on drift"
    )
    origin = check.add_mutually_exclusive_group(required=True)
    origin.add_argument("--baseline", type=Path, help="a baseline.json file")
    origin.add_argument(
        "--model",
        metavar="MODEL[:VERSION]",
        help=f"a registered version's baseline from the stack (default version: the {DEFAULT_ALIAS} alias)",
    )
    check.add_argument(
        "--data", type=Path, required=True, help="the window: a CSV (.csv, .csv.gz) or Parquet"
    )
    check.add_argument(
        "--contract", type=Path, help="its drift: section and quality rules (with --model: the stack's)"
    )
    check.add_argument("--json", action="store_true", help="print the JSON summary (docs/drift.md)")
    check.add_argument("--html", type=Path, help="write the HTML report here")
    check.add_argument(
        "--drift-share", type=float, help="the run drifts when this share of tested features do (0-1]"
    )
    check.set_defaults(run=run, drift_command="check")

    run_parser = sub.add_parser(
        "run", parents=[common], help="check the stack's production models now and wait for the reports"
    )
    run_parser.add_argument("models", nargs="*", metavar="MODEL", help="default: every model in the registry")
    run_parser.add_argument("--actor", help="who asks (default: your AWS identity)")
    run_parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT_SECONDS,
        help="seconds to wait for the reports (default 120; 0: only request the run)",
    )
    run_parser.set_defaults(run=run, drift_command="run")

    report = sub.add_parser("report", parents=[common], help="the stack's latest drift report of a model")
    report.add_argument("model", metavar="MODEL")
    report.add_argument("--run", dest="run_id", metavar="RUN_ID", help="one run's report (default: latest)")
    report.add_argument("--json", action="store_true", help="print the stored report as JSON")
    report.add_argument("--html", type=Path, help="write the HTML report here")
    report.set_defaults(run=run, drift_command="report")


def run(args: argparse.Namespace, console: Console) -> int:
    """Run the chosen ``drift`` command."""
    errors = Console(stderr=True, highlight=False)
    command: str = args.drift_command
    if command == "baseline":
        return _guarded(
            errors,
            lambda: make_baseline(console, contract_path=args.contract, data=args.data, output=args.output),
        )
    endpoint_url: str | None = args.endpoint_url
    stack: str = args.stack or default_stack(endpoint_url)
    if command == "check":
        source = CheckSource(
            baseline_path=args.baseline,
            model=args.model,
            stack=stack,
            endpoint_url=endpoint_url,
            region=args.region,
        )
        return check_window(
            console,
            args.data,
            source=source,
            contract_path=args.contract,
            drift_share=args.drift_share,
            as_json=args.json,
            html=args.html,
            errors=errors,
        )
    if command == "run":
        return request_run(
            console,
            args.models,
            stack=stack,
            session=make_session(args.region, endpoint_url),
            endpoint_url=endpoint_url,
            actor=args.actor,
            timeout=args.timeout,
            errors=errors,
        )
    return show_report(
        console,
        args.model,
        run_id=args.run_id,
        stack=stack,
        endpoint_url=endpoint_url,
        session=make_session(args.region, endpoint_url),
        as_json=args.json,
        html=args.html,
        errors=errors,
    )
