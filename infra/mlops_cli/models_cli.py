"""``mlops models``: the model registry from the terminal, on the local cloud or a deployed stack.

    mlops models list
    mlops models show churn:3
    mlops models approve churn:3 --reason "auc checked on the holdout"
    mlops models promote churn:3
    mlops models rollback churn --reason "error rate up"
    mlops models register ./my-model --model churn

Every command finds the registry table, the data bucket and the event bus from the
stack's outputs (``--stack``, ``--region``, ``--endpoint-url``). Exit codes: 0 done,
1 refused (an illegal transition, a refused upload, an AWS error), 2 usage error (wrong
arguments, a broken model folder, no such stack, no credentials). See docs/cli.md.

The command functions take a boto3 Session and a console, so tests call them on moto.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlops_core.deployment import ALL_AT_ONCE
from mlops_core.events import (
    DeploymentRequested,
    EventBridgePublisher,
    ModelApproved,
    ModelRejected,
    PublishError,
)
from mlops_core.registry import (
    DEFAULT_ALIAS,
    DynamoDBModelRegistry,
    HistoryEntry,
    InvalidName,
    ModelStatus,
    ModelVersion,
    RegistryError,
)
from mlops_core.registry.store import check_model_name, utc_now
from mlops_core.training.manifest import ARTIFACT_FILE, MANIFEST_FILE, ModelManifest

from .command_errors import AWS_ERRORS, aws_message, is_setup_problem, report_error
from .stack_outputs import StackError, require_outputs, stack_outputs

EXIT_OK, EXIT_REFUSED, EXIT_USAGE = 0, 1, 2
#: The stack `mlops local up` deploys, and the one samconfig.toml deploys by default.
LOCAL_STACK, DEFAULT_STACK = "mlops-local", "mlops-bundle-dev"
DEFAULT_REGION = "eu-west-1"
INCOMING = "models/incoming"
DEFAULT_TIMEOUT_SECONDS = 120.0
POLL_SECONDS = 1.0
#: Aliases always looked up, even before any history names them.
KNOWN_ALIASES = (DEFAULT_ALIAS, "staging")


class ModelsUsageError(Exception):
    """Wrong arguments or an unusable model folder: exit code 2."""


# --- where the commands work -------------------------------------------------------------


@dataclass(frozen=True)
class Stack:
    """The deployed (or local) stack's registry, bucket and bus, and how to reach them."""

    session: Any
    name: str
    endpoint_url: str | None
    registry_table: str
    bucket: str
    event_bus: str

    def client(self, service: str) -> Any:
        return self.session.client(service, endpoint_url=self.endpoint_url)

    def registry(self) -> DynamoDBModelRegistry:
        return DynamoDBModelRegistry(self.client("dynamodb"), self.registry_table)

    def publisher(self) -> EventBridgePublisher:
        return EventBridgePublisher(self.client("events"), self.event_bus)


def resolve_stack(session: Any, stack: str, endpoint_url: str | None = None) -> Stack:
    outputs = stack_outputs(session, stack, endpoint_url=endpoint_url)
    table, bucket, bus = require_outputs(
        outputs, stack, "RegistryTableName", "DataBucketName", "EventBusName"
    )
    return Stack(session, stack, endpoint_url, table, bucket, bus)


def default_stack(endpoint_url: str | None) -> str:
    return LOCAL_STACK if endpoint_url else DEFAULT_STACK


def make_session(region: str | None, endpoint_url: str | None) -> Any:
    """A boto3 Session with the default credentials; any credentials do for a local endpoint."""
    import boto3  # noqa: PLC0415 - only the models commands talk to AWS

    region = (
        region
        or os.environ.get("AWS_REGION")
        or os.environ.get("AWS_DEFAULT_REGION")
        or boto3.Session().region_name
        or DEFAULT_REGION
    )
    session = boto3.Session(region_name=region)
    if endpoint_url and session.get_credentials() is None:
        # The local cloud (moto) accepts any credentials; these keep boto3 from failing without.
        session = boto3.Session(
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 - not a secret
        )
    return session


def resolve_actor(session: Any, endpoint_url: str | None, actor: str | None) -> str:
    """``--actor``, else the AWS caller identity's ARN, else the OS user name."""
    if actor and actor.strip():
        return actor.strip()
    try:
        return str(session.client("sts", endpoint_url=endpoint_url).get_caller_identity()["Arn"])
    except (BotoCoreError, ClientError, KeyError):
        return getpass.getuser()


def parse_reference(text: str, *, version_required: bool) -> tuple[str, int | None]:
    """``MODEL[:VERSION]`` -> (model, version or None)."""
    model, sep, number = text.partition(":")
    if not model:
        raise ModelsUsageError(f"{text!r}: name a model, as MODEL or MODEL:VERSION")
    version: int | None = None
    if sep:
        if not number.isdigit() or int(number) < 1:
            raise ModelsUsageError(f"{text!r}: the version after ':' must be a number from 1, e.g. {model}:3")
        version = int(number)
    elif version_required:
        raise ModelsUsageError(
            f"{text!r}: name the version too, as {model}:VERSION (see `mlops models list`)"
        )
    return model, version


# --- error handling ----------------------------------------------------------------------


def _guarded(errors: Console, body: Callable[[], int]) -> int:
    """Run a command body, turning expected failures into a message and an exit code."""
    try:
        return body()
    except (ModelsUsageError, StackError, InvalidName) as problem:
        report_error(errors, str(problem))
        return EXIT_USAGE
    except RegistryError as problem:
        report_error(errors, str(problem))
        return EXIT_REFUSED
    except PublishError as problem:
        report_error(errors, f"AWS refused: {problem}")
        return EXIT_REFUSED
    except AWS_ERRORS as problem:
        report_error(errors, aws_message(problem))
        return EXIT_USAGE if is_setup_problem(problem) else EXIT_REFUSED


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _number(value: float) -> str:
    return f"{value:.6g}"


def _status(status: ModelStatus) -> str:
    colour = {
        ModelStatus.APPROVED: "green",
        ModelStatus.REJECTED: "red",
        ModelStatus.PENDING_MANUAL_APPROVAL: "yellow",
    }[status]
    return f"[{colour}]{status.value}[/]"


# --- list, show, history -----------------------------------------------------------------


def list_models(
    session: Any,
    console: Console,
    *,
    stack: str,
    endpoint_url: str | None = None,
    errors: Console | None = None,
) -> int:
    """One row per model: latest version, production version, how many versions per status."""

    def body() -> int:
        target = resolve_stack(session, stack, endpoint_url)
        registry = target.registry()
        names = registry.list_models()
        if not names:
            console.print(f"no models registered yet in {escape(target.registry_table)}")
            return EXIT_OK
        table = Table(title=f"models in stack {escape(target.name)}", header_style="bold")
        for heading in ("model", "latest", "latest status", DEFAULT_ALIAS, "versions by status"):
            table.add_column(heading, justify="right" if heading in ("latest", DEFAULT_ALIAS) else "left")
        for name in names:
            versions = registry.list_versions(name)
            latest = versions[-1] if versions else None
            production = registry.alias(name, DEFAULT_ALIAS)
            counts = Counter(v.status for v in versions)
            table.add_row(
                escape(name),
                f"v{latest.version}" if latest else "-",
                _status(latest.status) if latest else "-",
                f"v{production.version}" if production else "-",
                ", ".join(f"{status.value} {counts[status]}" for status in ModelStatus if counts[status]),
            )
        console.print(table)
        return EXIT_OK

    return _guarded(errors or console, body)


def show_model(
    session: Any,
    console: Console,
    reference: str,
    *,
    stack: str,
    endpoint_url: str | None = None,
    errors: Console | None = None,
) -> int:
    """One version (the latest when none is named): status, metrics, lineage, artifact, aliases."""

    def body() -> int:
        model, number = parse_reference(reference, version_required=False)
        check_model_name(model)
        registry = resolve_stack(session, stack, endpoint_url).registry()
        if number is None:
            latest = registry.latest(model)
            if latest is None:
                raise ModelsUsageError(f"model {model!r} has no versions: see `mlops models list`")
            version = latest
        else:
            version = registry.get(model, number)
        history = registry.history(model)
        aliases = _aliases_at(registry, model, version.version, history)
        render_version(console, version, aliases, history)
        return EXIT_OK

    return _guarded(errors or console, body)


def _aliases_at(
    registry: DynamoDBModelRegistry, model: str, version: int, history: list[HistoryEntry]
) -> list[str]:
    # The registry has no alias listing; every alias ever moved is in the history.
    names = dict.fromkeys([*KNOWN_ALIASES, *(e.alias for e in history if e.alias)])
    return [name for name in names if (p := registry.alias(model, name)) is not None and p.version == version]


def render_version(
    console: Console, version: ModelVersion, aliases: list[str], history: list[HistoryEntry]
) -> None:
    registered_by = next(
        (e.actor for e in history if e.version == version.version and e.action.value == "registered"), None
    )
    console.print(
        f"[bold]{escape(version.model)}[/] v{version.version}: {_status(version.status)}"
        + (f"  aliases: [bold]{escape(', '.join(aliases))}[/]" if aliases else "")
    )
    details = Table(show_header=False, box=None, pad_edge=False)
    details.add_column(style="bold")
    details.add_column(overflow="fold")
    details.add_row(
        "registered",
        f"{_when(version.registered_at)}" + (f" by {escape(registered_by)}" if registered_by else ""),
    )
    details.add_row("updated", _when(version.updated_at))
    details.add_row("approved by", escape(version.approved_by or "-"))
    details.add_row("reason", escape(version.status_reason or "-"))
    details.add_row("aliases", escape(", ".join(aliases) or "-"))
    details.add_row("artifact", escape(version.artifact_uri))
    details.add_row("sha256", version.artifact_sha256)
    details.add_row("manifest", escape(version.manifest_uri))
    details.add_row("baseline", escape(version.baseline_uri or "-"))
    console.print(details)

    metrics = Table(title="metrics", header_style="bold", title_justify="left")
    metrics.add_column("metric")
    metrics.add_column("value", justify="right")
    for name, value in sorted(version.metrics.items()):
        primary = " (primary)" if name == version.primary_metric else ""
        metrics.add_row(escape(name) + primary, _number(value))
    console.print(metrics)

    lineage = version.lineage
    table = Table(title="lineage", header_style="bold", title_justify="left")
    table.add_column("field")
    table.add_column("value", overflow="fold")
    table.add_row("dataset", escape(lineage.dataset_uri or "- (not named by the manifest)"))
    table.add_row("dataset sha256", lineage.dataset_sha256 or "-")
    table.add_row("contract", f"v{lineage.contract_version} sha256 {lineage.contract_sha256}")
    table.add_row("training run", escape(lineage.training_run_id or "-"))
    table.add_row("code version", escape(lineage.code_version or "-"))
    table.add_row(
        "libraries", escape(", ".join(f"{k} {v}" for k, v in sorted(lineage.libraries.items())) or "-")
    )
    console.print(table)


def show_history(
    session: Any,
    console: Console,
    model: str,
    *,
    stack: str,
    endpoint_url: str | None = None,
    errors: Console | None = None,
) -> int:
    """The model's append-only history, oldest first."""

    def body() -> int:
        check_model_name(model)
        entries = resolve_stack(session, stack, endpoint_url).registry().history(model)
        if not entries:
            raise ModelsUsageError(f"model {model!r} has no history: see `mlops models list`")
        table = Table(title=f"history of {escape(model)}", header_style="bold")
        for heading in ("at (UTC)", "action", "version", "alias", "move", "actor", "reason"):
            table.add_column(heading, overflow="fold")
        for entry in entries:
            move = (
                f"{f'v{entry.from_version}' if entry.from_version else 'unset'} -> v{entry.to_version}"
                if entry.alias and entry.to_version
                else ""
            )
            table.add_row(
                _when(entry.at),
                entry.action.value,
                f"v{entry.version}" if entry.version else "-",
                escape(entry.alias or ""),
                move,
                escape(entry.actor),
                escape(entry.reason or ""),
            )
        console.print(table)
        return EXIT_OK

    return _guarded(errors or console, body)


# --- decisions and aliases ----------------------------------------------------------------


#: The version as decided and the event that announces the decision.
Decision = tuple[ModelVersion, ModelApproved | ModelRejected]


def approve_version(
    session: Any,
    console: Console,
    reference: str,
    *,
    stack: str,
    endpoint_url: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    errors: Console | None = None,
) -> int:
    """Approve a pending version and publish ModelApproved, so deployment follows."""

    def decide(target: Stack, model: str, number: int, who: str) -> Decision:
        decided = target.registry().approve(model, number, actor=who, reason=reason)
        return decided, ModelApproved(
            model=decided.model,
            version=decided.version,
            approved_by=who,
            reason=reason or f"approved by {who}",
            approved_at=decided.updated_at,
        )

    return _decision(
        session,
        console,
        reference,
        decide=decide,
        stack=stack,
        endpoint_url=endpoint_url,
        actor=actor,
        errors=errors,
    )


def reject_version(
    session: Any,
    console: Console,
    reference: str,
    *,
    stack: str,
    reason: str,
    endpoint_url: str | None = None,
    actor: str | None = None,
    errors: Console | None = None,
) -> int:
    """Reject a pending version (or revoke an approved one) and publish ModelRejected."""

    def decide(target: Stack, model: str, number: int, who: str) -> Decision:
        decided = target.registry().reject(model, number, actor=who, reason=reason)
        return decided, ModelRejected(
            model=decided.model,
            version=decided.version,
            rejected_by=who,
            reason=reason,
            artifact_uri=decided.artifact_uri,
            rejected_at=decided.updated_at,
        )

    return _decision(
        session,
        console,
        reference,
        decide=decide,
        stack=stack,
        endpoint_url=endpoint_url,
        actor=actor,
        errors=errors,
    )


def _decision(
    session: Any,
    console: Console,
    reference: str,
    *,
    decide: Callable[[Stack, str, int, str], Decision],
    stack: str,
    endpoint_url: str | None,
    actor: str | None,
    errors: Console | None,
) -> int:
    """Approve or reject: resolve the version and the actor, decide, publish the decision's event."""

    def body() -> int:
        model, number = parse_reference(reference, version_required=True)
        assert number is not None
        target = resolve_stack(session, stack, endpoint_url)
        who = resolve_actor(session, endpoint_url, actor)
        decided, event = decide(target, model, number, who)
        _publish(target, errors or console, event)
        console.print(
            f"{escape(model)} v{number}: {_status(decided.status)} by {escape(who)}; "
            f"{type(event).__name__} published on {escape(target.event_bus)}"
        )
        return EXIT_OK

    return _guarded(errors or console, body)


def _publish(target: Stack, errors: Console, detail: ModelApproved | ModelRejected) -> None:
    try:
        target.publisher().publish([detail])
    except Exception:
        report_error(
            errors,
            f"the registry records the decision, but {detail.detail_type} could not be published on "
            f"{target.event_bus}; publish it again (aws events put-events) so deployment follows",
        )
        raise


def promote_version(
    session: Any,
    console: Console,
    reference: str,
    *,
    stack: str,
    alias: str = DEFAULT_ALIAS,
    endpoint_url: str | None = None,
    reason: str | None = None,
    actor: str | None = None,
    strategy: str | None = None,
    errors: Console | None = None,
) -> int:
    """Point an alias at an approved version; for production, request its deployment too."""

    def body() -> int:
        model, number = parse_reference(reference, version_required=True)
        assert number is not None
        target = resolve_stack(session, stack, endpoint_url)
        registry = target.registry()
        who = resolve_actor(session, endpoint_url, actor)
        before = registry.alias(model, alias)
        pointer = registry.promote(model, number, alias=alias, actor=who, reason=reason)
        if before is not None and before.version == pointer.version:
            console.print(
                f"{escape(model)} {escape(alias)} already points at v{pointer.version}: nothing changed"
            )
        else:
            was = f"v{before.version}" if before else "unset"
            console.print(f"{escape(model)} {escape(alias)}: {was} -> v{pointer.version} (by {escape(who)})")
        if alias == DEFAULT_ALIAS:
            _request_deployment(target, console, model, number, strategy=strategy, who=who)
        return EXIT_OK

    return _guarded(errors or console, body)


def _request_deployment(
    target: Stack, console: Console, model: str, version: int, *, strategy: str | None, who: str
) -> None:
    """Production is what the endpoint serves: deploy_model rolls the version out."""
    target.publisher().publish(
        [
            DeploymentRequested(
                model=model, version=version, strategy=strategy, requested_by=who, requested_at=utc_now()
            )
        ]
    )
    console.print(f"DeploymentRequested published on {escape(target.event_bus)}: deploy_model rolls it out")


def rollback_alias(
    session: Any,
    console: Console,
    model: str,
    *,
    stack: str,
    reason: str,
    alias: str = DEFAULT_ALIAS,
    endpoint_url: str | None = None,
    actor: str | None = None,
    errors: Console | None = None,
) -> int:
    """Point an alias back at the version it pointed at before (one level of undo); for
    production, request that version's deployment too, all at once."""

    def body() -> int:
        target = resolve_stack(session, stack, endpoint_url)
        registry = target.registry()
        who = resolve_actor(session, endpoint_url, actor)
        before = registry.alias(model, alias)
        pointer = registry.rollback(model, alias=alias, actor=who, reason=reason)
        was = f"v{before.version}" if before else "unset"
        console.print(
            f"{escape(model)} {escape(alias)} rolled back: {was} -> v{pointer.version} (by {escape(who)})"
        )
        if alias == DEFAULT_ALIAS:
            # The endpoint goes back too, at once: a rollback does not bake a canary.
            _request_deployment(target, console, model, pointer.version, strategy=ALL_AT_ONCE, who=who)
        return EXIT_OK

    return _guarded(errors or console, body)


# --- register a bring-your-own model --------------------------------------------------------


def read_model_folder(folder: Path, model: str) -> ModelManifest:
    """Check a bring-your-own folder before anything is uploaded; :class:`ModelsUsageError` if unusable."""
    check_model_name(model)
    if not folder.is_dir():
        raise ModelsUsageError(
            f"no folder at {folder}: pass the folder holding {ARTIFACT_FILE} and {MANIFEST_FILE}"
        )
    for name in (ARTIFACT_FILE, MANIFEST_FILE):
        if not (folder / name).is_file():
            raise ModelsUsageError(
                f"{folder} has no {name}: a model folder holds {ARTIFACT_FILE} and {MANIFEST_FILE}"
            )
    try:
        manifest = ModelManifest.model_validate(
            json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
        )
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelsUsageError(f"{folder / MANIFEST_FILE} is not JSON: {error}") from error
    except ValidationError as error:
        fields = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(manifest)'}: {e['msg']}" for e in error.errors()[:10]
        )
        raise ModelsUsageError(
            f"{folder / MANIFEST_FILE} is invalid ({fields}); see docs/training.md"
        ) from error
    if manifest.model_name != model:
        raise ModelsUsageError(
            f"{folder / MANIFEST_FILE} names model {manifest.model_name!r}, but --model is {model!r}"
        )
    return manifest


def new_upload_id() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"


class RejectionListener:
    """A temporary rule on the bus into a temporary queue, catching ModelRejected for one artifact."""

    def __init__(self, sqs: Any, queue_url: str, artifact_uri: str) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._artifact_uri = artifact_uri

    def rejection(self) -> str | None:
        """The refusal's reason if ModelRejected for the artifact has arrived, else None."""
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        for message in response.get("Messages", []):
            event = json.loads(message["Body"])
            detail = event.get("detail") or {}
            if (
                event.get("detail-type") == "ModelRejected"
                and detail.get("artifact_uri") == self._artifact_uri
            ):
                return str(detail.get("reason") or "no reason given")
        return None


@contextmanager
def rejection_listener(target: Stack, name: str, artifact_uri: str) -> Iterator[RejectionListener]:
    """Create the rule and queue, yield, then delete both whatever happened."""
    sqs, events = target.client("sqs"), target.client("events")
    queue_url: str = sqs.create_queue(QueueName=name, Attributes={"MessageRetentionPeriod": "3600"})[
        "QueueUrl"
    ]
    try:
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        pattern = {
            "source": ["mlops.bundle"],
            "detail-type": ["ModelRejected"],
            "detail": {"artifact_uri": [artifact_uri]},
        }
        rule_arn = events.put_rule(
            Name=name,
            EventBusName=target.event_bus,
            EventPattern=json.dumps(pattern),
            State="ENABLED",
            Description="temporary: mlops models register waits for the verdict on one upload",
        )["RuleArn"]
        try:
            policy = {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": queue_arn,
                        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
                    }
                ],
            }
            sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
            events.put_targets(
                Rule=name, EventBusName=target.event_bus, Targets=[{"Id": "verdict", "Arn": queue_arn}]
            )
            try:
                yield RejectionListener(sqs, queue_url, artifact_uri)
            finally:
                events.remove_targets(Rule=name, EventBusName=target.event_bus, Ids=["verdict"])
        finally:
            events.delete_rule(Name=name, EventBusName=target.event_bus)
    finally:
        sqs.delete_queue(QueueUrl=queue_url)


def register_model_folder(
    session: Any,
    console: Console,
    folder: Path,
    *,
    model: str,
    stack: str,
    endpoint_url: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    wait: Callable[[], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    errors: Console | None = None,
) -> int:
    """Upload a bring-your-own model and wait for register_model's verdict.

    0: registered (the version and its status are printed); 1: refused, with the reason,
    or no verdict within ``timeout``; 2: the folder is unusable (nothing is uploaded).
    ``wait`` runs between polls (1 s by default; tests pass the local cloud's ``settle``).
    """
    pause: Callable[[], object] = wait or (lambda: time.sleep(POLL_SECONDS))
    err = errors or console

    def body() -> int:
        manifest = read_model_folder(folder, model)
        target = resolve_stack(session, stack, endpoint_url)
        registry = target.registry()
        known = next(
            (v for v in registry.list_versions(model) if v.artifact_sha256 == manifest.artifact_sha256), None
        )
        if known is not None:
            console.print(
                f"{escape(model)} v{known.version}: this artifact is already registered "
                f"({_status(known.status)}); nothing uploaded"
            )
            return EXIT_OK
        upload_id = new_upload_id()
        prefix = f"{INCOMING}/{model}/{upload_id}"
        artifact_uri = f"s3://{target.bucket}/{prefix}/{ARTIFACT_FILE}"
        with rejection_listener(target, f"mlops-cli-register-{upload_id}", artifact_uri) as listener:
            s3 = target.client("s3")
            # The manifest goes last: its upload is what triggers register_model.
            for name in (ARTIFACT_FILE, MANIFEST_FILE):
                s3.put_object(Bucket=target.bucket, Key=f"{prefix}/{name}", Body=(folder / name).read_bytes())
            console.print(
                f"uploaded to s3://{escape(target.bucket)}/{escape(prefix)}/; "
                f"waiting up to {timeout:g} s for the verdict"
            )
            deadline = clock() + timeout
            settled = False
            while True:
                version = _version_of(registry, model, artifact_uri)
                if version is not None:
                    if version.status == ModelStatus.PENDING_MANUAL_APPROVAL and not settled:
                        # register_model applies the approval policy right after registering.
                        settled = True
                        pause()
                        continue
                    return _report_registered(console, err, version)
                reason = listener.rejection()
                if reason is not None:
                    report_error(err, f"{model}: the upload was refused: {reason}")
                    return EXIT_REFUSED
                if clock() >= deadline:
                    report_error(err, _no_verdict(f"s3://{target.bucket}/{prefix}/", timeout))
                    return EXIT_REFUSED
                pause()

    return _guarded(err, body)


def _no_verdict(where: str, timeout: float) -> str:
    return (
        f"no verdict on {where} within {timeout:g} s; it may still come: see `mlops models list`, "
        "the RegisterModel log group and its dead-letter queues (in the stack outputs), "
        "or retry with a longer --timeout"
    )


def _version_of(registry: DynamoDBModelRegistry, model: str, artifact_uri: str) -> ModelVersion | None:
    return next((v for v in reversed(registry.list_versions(model)) if v.artifact_uri == artifact_uri), None)


def _report_registered(console: Console, errors: Console, version: ModelVersion) -> int:
    primary = version.metrics.get(version.primary_metric)
    metric = f", {escape(version.primary_metric)} {_number(primary)}" if primary is not None else ""
    if version.status == ModelStatus.REJECTED:
        report_error(
            errors,
            f"{version.model} v{version.version} was registered and rejected by the approval policy: "
            f"{version.status_reason or 'no reason given'}",
        )
        return EXIT_REFUSED
    console.print(f"registered {escape(version.model)} v{version.version}: {_status(version.status)}{metric}")
    if version.status == ModelStatus.APPROVED:
        console.print(
            f"  approved by {escape(version.approved_by or '-')}: {escape(version.status_reason or '')}"
        )
    else:
        console.print(f"  a person decides: mlops models approve {escape(version.model)}:{version.version}")
    return EXIT_OK


# --- argparse wiring ------------------------------------------------------------------------


def stack_options() -> argparse.ArgumentParser:
    """``--stack``, ``--endpoint-url`` and ``--region``: a parent parser for commands that reach a stack."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--stack",
        help=f"the stack whose outputs name the registry, bucket and bus (default: {LOCAL_STACK} with "
        f"--endpoint-url, else {DEFAULT_STACK})",
    )
    common.add_argument("--endpoint-url", help="the local cloud's endpoint, as `mlops local up` prints it")
    common.add_argument(
        "--region",
        help=f"AWS region (default: AWS_REGION / AWS_DEFAULT_REGION / profile, else {DEFAULT_REGION})",
    )
    return common


def add_models_parser(commands: Any) -> None:
    """Add ``models`` and its subcommands to the ``mlops`` parser's subparsers."""
    common = stack_options()
    acting = argparse.ArgumentParser(add_help=False)
    acting.add_argument("--actor", help="who acts, for the history (default: the AWS caller identity)")

    models = commands.add_parser("models", help="the model registry: list, show, approve, promote, register")
    sub = models.add_subparsers(required=True, metavar="COMMAND")

    listing = sub.add_parser("list", parents=[common], help="every model: latest, production, statuses")
    listing.set_defaults(run=run, models_command="list")

    show = sub.add_parser("show", parents=[common], help="one version (default: the latest)")
    show.add_argument("reference", metavar="MODEL[:VERSION]")
    show.set_defaults(run=run, models_command="show")

    approve = sub.add_parser(
        "approve", parents=[common, acting], help="approve a version; deployment follows"
    )
    approve.add_argument("reference", metavar="MODEL:VERSION")
    approve.add_argument("--reason")
    approve.set_defaults(run=run, models_command="approve")

    reject = sub.add_parser("reject", parents=[common, acting], help="reject (or revoke) a version")
    reject.add_argument("reference", metavar="MODEL:VERSION")
    reject.add_argument("--reason", required=True)
    reject.set_defaults(run=run, models_command="reject")

    promote = sub.add_parser(
        "promote", parents=[common, acting], help="point an alias at an approved version"
    )
    promote.add_argument("reference", metavar="MODEL:VERSION")
    promote.add_argument("--alias", default=DEFAULT_ALIAS)
    promote.add_argument("--reason")
    promote.add_argument(
        "--strategy", help="for production: the rollout (default: the stack's DeploymentStrategy)"
    )
    promote.set_defaults(run=run, models_command="promote")

    rollback = sub.add_parser("rollback", parents=[common, acting], help="point an alias back one step")
    rollback.add_argument("model", metavar="MODEL")
    rollback.add_argument("--alias", default=DEFAULT_ALIAS)
    rollback.add_argument("--reason", required=True)
    rollback.set_defaults(run=run, models_command="rollback")

    history = sub.add_parser("history", parents=[common], help="the model's append-only history")
    history.add_argument("model", metavar="MODEL")
    history.set_defaults(run=run, models_command="history")

    register = sub.add_parser(
        "register", parents=[common], help="upload a bring-your-own model folder and wait for the verdict"
    )
    register.add_argument("path", type=Path, help=f"a folder with {ARTIFACT_FILE} and {MANIFEST_FILE}")
    register.add_argument("--model", required=True, help="the model name (as the manifest's model_name)")
    register.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT_SECONDS, help="seconds (default 120)"
    )
    register.set_defaults(run=run, models_command="register")


def run(args: argparse.Namespace, console: Console) -> int:
    """Build the session from the options and run the chosen ``models`` command."""
    errors = Console(stderr=True, highlight=False)
    endpoint_url: str | None = args.endpoint_url
    stack: str = args.stack or default_stack(endpoint_url)
    session = make_session(args.region, endpoint_url)
    where: dict[str, Any] = {"stack": stack, "endpoint_url": endpoint_url, "errors": errors}
    command: str = args.models_command
    if command == "list":
        return list_models(session, console, **where)
    if command == "show":
        return show_model(session, console, args.reference, **where)
    if command == "history":
        return show_history(session, console, args.model, **where)
    if command == "approve":
        return approve_version(
            session, console, args.reference, reason=args.reason, actor=args.actor, **where
        )
    if command == "reject":
        return reject_version(session, console, args.reference, reason=args.reason, actor=args.actor, **where)
    if command == "promote":
        return promote_version(
            session,
            console,
            args.reference,
            alias=args.alias,
            reason=args.reason,
            actor=args.actor,
            strategy=args.strategy,
            **where,
        )
    if command == "rollback":
        return rollback_alias(
            session, console, args.model, alias=args.alias, reason=args.reason, actor=args.actor, **where
        )
    return register_model_folder(session, console, args.path, model=args.model, timeout=args.timeout, **where)
