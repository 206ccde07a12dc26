"""How the `mlops` commands report trouble with AWS: one message for each kind, in one style."""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError
from rich.console import Console
from rich.markup import escape

#: What the commands catch from boto3; :func:`aws_message` words each.
AWS_ERRORS = (BotoCoreError, ClientError)


def aws_message(problem: BotoCoreError | ClientError) -> str:
    """What to tell the user about an AWS error, with the fix when there is one."""
    if isinstance(problem, NoCredentialsError):
        return "no AWS credentials found: configure them (aws configure, AWS_PROFILE) or pass --endpoint-url"
    if isinstance(problem, EndpointConnectionError):
        return f"{problem}: is the endpoint right (for the local cloud: is `mlops local up` running)?"
    return f"AWS refused: {problem}"


def is_setup_problem(problem: BaseException) -> bool:
    """No credentials or no endpoint: the command never reached AWS (a usage error, exit 2)."""
    return isinstance(problem, NoCredentialsError | EndpointConnectionError)


def report_error(errors: Console, message: str) -> None:
    errors.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
