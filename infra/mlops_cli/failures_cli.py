"""``mlops failures``: the stack's failure queues, what ended in them, and replaying it.

    mlops failures list [--peek]
    mlops failures replay --queue ValidateDatasetFailureQueue [--dry-run] [--max N]

The queues are the stack's SQS queues (its resources), each described by its output's
Description: the OnFailure queues of the functions and the dead-letter queues of their
rules and schedules. ``list`` counts their messages and, with ``--peek``, reads them
without deleting any; ``replay`` hands each message back to its function (see
:mod:`mlops_cli.failures`). Exit codes: 0 done; 1 some message was not replayed (it stays
in the queue) or AWS refused; 2 usage error: no such stack or queue, no credentials, an
endpoint that does not answer.

The command functions take a boto3 Session and consoles (and, for replay, an invoker), so
tests call them on moto and on the local cloud.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from .command_errors import AWS_ERRORS, aws_message, is_setup_problem, report_error
from .failures import (
    Invoker,
    ReplayOutcome,
    ReplayStatus,
    SqsFailureQueue,
    lambda_invoker,
    peek_queue,
    replay_queue,
)
from .models_cli import default_stack, make_session, stack_options
from .stack_outputs import StackError, output_descriptions

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
#: Messages read per queue by ``list --peek`` unless ``--max`` says otherwise.
DEFAULT_PEEK = 10
_STATUS_COLOURS = {
    ReplayStatus.REPLAYED: "green",
    ReplayStatus.WOULD_REPLAY: "cyan",
    ReplayStatus.KEPT: "yellow",
    ReplayStatus.INVOKE_FAILED: "red",
    ReplayStatus.NOT_DELETED: "red",
}


class FailuresUsageError(Exception):
    """No such queue, or wrong arguments: exit code 2."""


@dataclass(frozen=True)
class StackQueue:
    """One SQS queue of the stack, and what ends in it (its output's Description)."""

    logical_id: str
    url: str
    holds: str

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]


def stack_queues(session: Any, stack: str, endpoint_url: str | None = None) -> list[StackQueue]:
    """The stack's SQS queues, by logical id; StackNotFound when there is no such stack."""
    descriptions = output_descriptions(session, stack, endpoint_url=endpoint_url)
    client = session.client("cloudformation", endpoint_url=endpoint_url)
    queues = []
    for page in client.get_paginator("list_stack_resources").paginate(StackName=stack):
        for resource in page.get("StackResourceSummaries", []):
            if resource.get("ResourceType") != "AWS::SQS::Queue" or not resource.get("PhysicalResourceId"):
                continue
            logical_id = str(resource["LogicalResourceId"])
            holds = descriptions.get(f"{logical_id}Url") or descriptions.get(f"{logical_id}Arn") or "-"
            queues.append(StackQueue(logical_id, str(resource["PhysicalResourceId"]), holds))
    return sorted(queues, key=lambda q: q.logical_id)


def find_queue(queues: list[StackQueue], wanted: str, stack: str) -> StackQueue:
    """The queue named by its logical id, its name or its URL."""
    for queue in queues:
        if wanted in (queue.logical_id, queue.name, queue.url):
            return queue
    known = ", ".join(q.logical_id for q in queues) or "none"
    raise FailuresUsageError(
        f"no queue {wanted!r} in stack {stack}: name one by its logical id or queue name ({known}); "
        "see `mlops failures list`"
    )


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    """(messages waiting, messages held by a consumer right now), both approximate as SQS counts them."""
    attributes = sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes.get("ApproximateNumberOfMessages", 0)), int(
        attributes.get("ApproximateNumberOfMessagesNotVisible", 0)
    )


# --- mlops failures list ----------------------------------------------------------------------------


def list_failures(
    session: Any,
    console: Console,
    *,
    stack: str,
    endpoint_url: str | None = None,
    peek: bool = False,
    limit: int = DEFAULT_PEEK,
    errors: Console | None = None,
) -> int:
    """Every failure queue of the stack with its message count; with ``peek``, what is in each."""

    def body() -> int:
        queues = stack_queues(session, stack, endpoint_url)
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        table = Table(title=f"failure queues of stack {escape(stack)}", header_style="bold")
        table.add_column("queue")
        table.add_column("messages", justify="right")
        table.add_column("in flight", justify="right")
        table.add_column("what ends here", overflow="fold")
        waiting: list[StackQueue] = []
        for queue in queues:
            visible, in_flight = _depth(sqs, queue.url)
            if visible:
                waiting.append(queue)
            colour = "red" if visible or in_flight else "green"
            table.add_row(
                escape(queue.logical_id), f"[{colour}]{visible}[/]", str(in_flight), escape(queue.holds)
            )
        console.print(table)
        if not queues:
            console.print(f"stack {escape(stack)} has no SQS queues")
        if peek:
            for queue in waiting:
                outcomes = peek_queue(SqsFailureQueue(sqs, queue.url), limit)
                console.print(_peek_table(queue, outcomes))
        elif waiting:
            console.print(
                "see the messages: mlops failures list --peek; replay a queue: "
                "mlops failures replay --queue <queue> [--dry-run]"
            )
        return EXIT_OK

    return _guarded(errors or console, body)


def _peek_table(queue: StackQueue, outcomes: list[ReplayOutcome]) -> Table:
    table = Table(title=f"{escape(queue.logical_id)} (first {len(outcomes)})", header_style="bold")
    for heading in ("message", "failed at (UTC)", "kind", "target", "via", "condition", "attempts", "error"):
        table.add_column(heading, overflow="fold")
    table.add_column("payload", overflow="fold")
    for outcome in outcomes:
        delivery = outcome.delivery
        if delivery is None:
            reason = escape(outcome.detail.removeprefix("unreadable: "))
            table.add_row(
                outcome.message_id[:8], "-", "[yellow]unreadable[/]", "-", "-", "-", "-", reason, "-"
            )
            continue
        error = ": ".join(part for part in (delivery.error_type, delivery.error_message) if part)
        table.add_row(
            outcome.message_id[:8],
            _when(delivery.failed_at),
            delivery.kind.value,
            escape(delivery.target_name),
            escape(delivery.origin_name),
            escape(delivery.condition or "-"),
            str(delivery.attempts) if delivery.attempts is not None else "-",
            escape(error or "-"),
            escape(delivery.what()),
        )
    return table


# --- mlops failures replay ----------------------------------------------------------------------------


def replay_failures(
    session: Any,
    console: Console,
    *,
    queue: str,
    stack: str,
    endpoint_url: str | None = None,
    limit: int | None = None,
    dry_run: bool = False,
    invoke: Invoker | None = None,
    errors: Console | None = None,
) -> int:
    """Replay the messages of one failure queue; exit 1 when any stays in it.

    ``invoke`` hands a delivery to its function (default: Lambda's Invoke API, asynchronous).
    """
    err = errors or console

    def body() -> int:
        if limit is not None and limit < 1:
            raise FailuresUsageError(f"--max {limit}: replay at least one message")
        target = find_queue(stack_queues(session, stack, endpoint_url), queue, stack)
        sqs = session.client("sqs", endpoint_url=endpoint_url)
        port = SqsFailureQueue(sqs, target.url)
        if dry_run:
            outcomes = peek_queue(port, limit)
        else:
            invoker = invoke or lambda_invoker(session.client("lambda", endpoint_url=endpoint_url))
            outcomes = replay_queue(port, invoker, limit=limit)
        if not outcomes:
            console.print(f"{escape(target.logical_id)} is empty: nothing to replay")
            return EXIT_OK
        console.print(_replay_table(target, outcomes, dry_run))
        bad = [o for o in outcomes if not o.status.ok]
        done = len(outcomes) - len(bad)
        verb = "would be replayed" if dry_run else "replayed"
        console.print(f"{done} of {len(outcomes)} {verb}; {len(bad)} stay in {escape(target.logical_id)}")
        if bad:
            err.print(
                f"[bold red]error:[/] {len(bad)} message(s) of {escape(target.logical_id)} not replayed "
                "(see the table); they stay in the queue"
            )
            return EXIT_FAILED
        return EXIT_OK

    return _guarded(err, body)


def _replay_table(queue: StackQueue, outcomes: list[ReplayOutcome], dry_run: bool) -> Table:
    title = f"{'dry run: ' if dry_run else ''}replay of {escape(queue.logical_id)}"
    table = Table(title=title, header_style="bold")
    for heading in ("message", "kind", "target", "payload", "status", "detail"):
        table.add_column(heading, overflow="fold")
    for outcome in outcomes:
        delivery = outcome.delivery
        colour = _STATUS_COLOURS[outcome.status]
        table.add_row(
            outcome.message_id[:8],
            delivery.kind.value if delivery else "-",
            escape(delivery.target_name) if delivery else "-",
            escape(delivery.what()) if delivery else "-",
            f"[{colour}]{outcome.status.value}[/]",
            escape(outcome.detail),
        )
    return table


# --- shared ---------------------------------------------------------------------------------------------


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _guarded(errors: Console, body: Callable[[], int]) -> int:
    """Run a command body, turning expected failures into a message and an exit code."""
    try:
        return body()
    except (FailuresUsageError, StackError) as problem:
        report_error(errors, str(problem))
        return EXIT_USAGE
    except AWS_ERRORS as problem:
        report_error(errors, aws_message(problem))
        return EXIT_USAGE if is_setup_problem(problem) else EXIT_FAILED


# --- argparse wiring --------------------------------------------------------------------------------------


def add_failures_parser(commands: Any) -> None:
    """Add ``failures`` and its subcommands to the ``mlops`` parser's subparsers."""
    common = stack_options()
    failures = commands.add_parser(
        "failures", help="the stack's failure and dead-letter queues: list, peek, replay"
    )
    sub = failures.add_subparsers(required=True, metavar="COMMAND")

    listing = sub.add_parser("list", parents=[common], help="every failure queue and its message count")
    listing.add_argument(
        "--peek", action="store_true", help="also show each waiting message (read, not deleted)"
    )
    listing.add_argument(
        "--max",
        type=int,
        default=DEFAULT_PEEK,
        metavar="N",
        help=f"messages per queue with --peek ({DEFAULT_PEEK})",
    )
    listing.set_defaults(run=run, failures_command="list")

    replay = sub.add_parser(
        "replay", parents=[common], help="hand a queue's messages back to their functions, then delete them"
    )
    replay.add_argument("--queue", required=True, help="the queue's logical id or name (see failures list)")
    replay.add_argument("--max", type=int, metavar="N", help="replay at most N messages (default: all)")
    replay.add_argument("--dry-run", action="store_true", help="show what would be replayed; change nothing")
    replay.set_defaults(run=run, failures_command="replay")


def run(args: argparse.Namespace, console: Console) -> int:
    """Build the session from the options and run the chosen ``failures`` command."""
    errors = Console(stderr=True, highlight=False)
    endpoint_url: str | None = args.endpoint_url
    stack: str = args.stack or default_stack(endpoint_url)
    session = make_session(args.region, endpoint_url)
    if args.failures_command == "list":
        return list_failures(
            session,
            console,
            stack=stack,
            endpoint_url=endpoint_url,
            peek=args.peek,
            limit=args.max,
            errors=errors,
        )
    return replay_failures(
        session,
        console,
        queue=args.queue,
        stack=stack,
        endpoint_url=endpoint_url,
        limit=args.max,
        dry_run=args.dry_run,
        errors=errors,
    )
