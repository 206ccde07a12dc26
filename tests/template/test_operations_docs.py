"""docs/operations.md and docs/security.md stay true to template.yaml and the ``mlops`` command.

Every alarm (the template's, and the two deploy_model creates per predict version) has its own
section; every failure and dead-letter queue, every function and every role that is not a
function's are named where operators look for them; every ``mlops`` command written in the two
pages exists with the options written; the cost table's arithmetic adds up. Each check is a
function returning what it finds missing, shown to fail on a broken copy at the end.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from mlops_cli.main import _parser
from mlops_core.deployment_adapters import CloudWatchAlarms

from .conftest import REPO_ROOT, Template, failure_queues, resources_of

pytestmark = pytest.mark.template

OPERATIONS = REPO_ROOT / "docs" / "operations.md"
SECURITY = REPO_ROOT / "docs" / "security.md"

ALARMS_SECTION = "Alarms"
QUEUES_SECTION = "Failure queues and replay"
IAM_SECTION = "IAM: who may do what, and why"
COST_SECTION = "The estimate"
# How the per-version alarms are named, from the code that names them.
RUNTIME_ALARMS = CloudWatchAlarms(None, "<PredictFunction>").names_for("<N>")

# The alarm on each failure queue, named after its queue.
QUEUE_ALARM = "<Queue>Alarm"
_QUEUE_ALARM = re.compile(r"\w+(DeadLetterQueue|FailureQueue)Alarm")
_FENCE = re.compile(r"^\s*```")
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*$")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_MLOPS = re.compile(r"(?<![\w./-])(?:\.venv/bin/)?mlops\s+(.*)$")
_COMMAND_END = frozenset({"|", "||", "&&", ";", ">", "2>", ")", "\\"})


# ------------------------------------------------------------------ the template
def alarm_names(template: Template) -> list[str]:
    """The template's alarms by logical id, and the per-version alarms deploy_model creates.

    The alarms on the failure queues (``<Queue>Alarm``) are one family with one section; the
    failure-queue test checks each queue is named.
    """
    names = {
        QUEUE_ALARM if _QUEUE_ALARM.fullmatch(n) else n
        for n in resources_of(template, "AWS::CloudWatch::Alarm")
    }
    return [*sorted(names), *RUNTIME_ALARMS]


def functions_and_roles(template: Template) -> set[str]:
    """Every function, and every role that is not a function's own (named <Function>Role)."""
    functions = set(resources_of(template, "AWS::Lambda::Function"))
    roles = {r for r in resources_of(template, "AWS::IAM::Role") if r.removesuffix("Role") not in functions}
    return functions | roles


# ------------------------------------------------------------------ the markdown
def _outside_code(markdown: str) -> Iterator[tuple[bool, str]]:
    """Each line, and whether it is inside a fenced code block."""
    fenced = False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
            continue
        yield fenced, line


def headings(markdown: str) -> list[tuple[int, str]]:
    return [
        (len(match.group(1)), match.group(2))
        for fenced, line in _outside_code(markdown)
        if not fenced and (match := _HEADING.match(line))
    ]


def section(markdown: str, title: str) -> str:
    """The text under the heading ``title`` up to the next heading of the same or a higher level."""
    lines: list[str] = []
    level: int | None = None
    for fenced, line in _outside_code(markdown):
        match = None if fenced else _HEADING.match(line)
        if match and level is not None and len(match.group(1)) <= level:
            break
        if level is not None:
            lines.append(line)
        elif match and match.group(2) == title:
            level = len(match.group(1))
    return "\n".join(lines)


def _named(name: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text) is not None


def missing_mentions(text: str, names: set[str] | list[str]) -> list[str]:
    return sorted(name for name in names if not _named(name, text))


def missing_alarm_sections(markdown: str, names: list[str]) -> list[str]:
    """Alarms without a heading of their own inside the alarms section."""
    titles = [title for _, title in headings(section(markdown, ALARMS_SECTION))]
    return [name for name in names if not any(_named(name, title) for title in titles)]


def mlops_commands(markdown: str) -> list[list[str]]:
    """The words of every ``mlops …`` written in code: inline spans and fenced blocks."""
    fragments: list[str] = []
    for fenced, line in _outside_code(markdown):
        fragments += [line] if fenced else _INLINE_CODE.findall(line)
    commands: list[list[str]] = []
    for fragment in fragments:
        for match in _MLOPS.finditer(fragment):
            words: list[str] = []
            for word in match.group(1).split():
                if word in _COMMAND_END or word.startswith("#"):
                    break
                words.append(word)
            commands.append(words)
    return commands


# ------------------------------------------------------------------ the mlops parser
def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def unknown_commands(commands: list[list[str]], parser: argparse.ArgumentParser) -> list[str]:
    """Commands, subcommands and options the parser does not have."""
    problems: list[str] = []
    for words in commands:
        current, path = parser, ["mlops"]
        rest = list(words)
        while (choices := _subcommands(current)) and rest and not rest[0].startswith("-"):
            word = rest.pop(0)
            if word not in choices:
                problems.append(f"{' '.join(path)} has no command {word!r} ({' '.join(['mlops', *words])})")
                break
            current, path = choices[word], [*path, word]
        else:
            if choices:
                problems.append(f"{' '.join(path)} needs a command ({' '.join(['mlops', *words])})")
                continue
            options = set(current._option_string_actions)
            problems += [
                f"{' '.join(path)} has no option {word.split('=')[0]}"
                for word in rest
                if word.startswith("--") and word.split("=")[0] not in options
            ]
    return problems


# ------------------------------------------------------------------ the cost table
def _number(cell: str) -> float | None:
    text = cell.strip().strip("*").replace(",", "")
    try:
        return float(text)
    except ValueError:
        return None


def cost_errors(markdown: str) -> list[str]:
    """Rows whose quantity × price is not their cost (to the cent), and a total that is not their sum."""
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in section(markdown, COST_SECTION).splitlines()
        if line.startswith("|") and not line.startswith("|---")
    ][1:]
    if not rows:
        return [f"no table under '{COST_SECTION}'"]
    problems: list[str] = []
    summed = 0.0
    total: float | None = None
    for item, quantity, _, price, cost, *_ in rows:
        if item.strip("*") == "total":
            total = _number(cost)
            continue
        q, p, c = _number(quantity), _number(price), _number(cost)
        if q is None or p is None or c is None:
            problems.append(f"{item}: quantity, price and cost must be numbers")
            continue
        summed += c
        if abs(q * p - c) > 0.005 + 1e-9:
            problems.append(f"{item}: {q:g} × {p:g} = {q * p:.4f}, not {c:.2f}")
    if total is None:
        problems.append("no total row")
    elif abs(summed - total) > 0.005 + 1e-9:
        problems.append(f"the rows add up to {summed:.2f}, not {total:.2f}")
    return problems


# ------------------------------------------------------------------ the checks on the real pages
@pytest.fixture(scope="module")
def operations() -> str:
    return OPERATIONS.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def security() -> str:
    return SECURITY.read_text(encoding="utf-8")


def test_the_template_has_what_the_checks_look_for(cloudformation: Template) -> None:
    # A check that finds nothing to check would pass on anything.
    assert len(alarm_names(cloudformation)) >= 5
    assert len(failure_queues(cloudformation)) == 10
    assert {"DeploySchedulerRole", "CaptureStreamRole", "DriftSchedulerRole"} <= (
        functions_and_roles(cloudformation)
    )


def test_every_alarm_has_a_section_saying_what_to_do(cloudformation: Template, operations: str) -> None:
    assert missing_alarm_sections(operations, alarm_names(cloudformation)) == []


def test_every_failure_queue_is_in_the_replay_section(cloudformation: Template, operations: str) -> None:
    assert missing_mentions(section(operations, QUEUES_SECTION), failure_queues(cloudformation)) == []


def test_every_function_and_role_is_in_the_iam_section(cloudformation: Template, operations: str) -> None:
    assert missing_mentions(section(operations, IAM_SECTION), functions_and_roles(cloudformation)) == []


def test_every_mlops_command_in_the_pages_exists(operations: str, security: str) -> None:
    commands = mlops_commands(operations) + mlops_commands(security)
    assert len(commands) > 10
    assert unknown_commands(commands, _parser()) == []


def test_the_cost_table_adds_up(operations: str) -> None:
    assert cost_errors(operations) == []


def test_readme_and_architecture_link_both_pages() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    architecture = (REPO_ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for page in ("operations.md", "security.md"):
        assert f"(docs/{page}" in readme, page
        assert f"({page}" in architecture, page


# ------------------------------------------------------------------ each check can fail
def test_an_alarm_without_its_section_is_reported(cloudformation: Template, operations: str) -> None:
    # Given the page without DriftAlarm's section
    start = operations.index("### DriftAlarm")
    broken = operations[:start] + operations[operations.index("### QualityAlarm") :]
    # Then the check names it, and only it
    assert missing_alarm_sections(broken, alarm_names(cloudformation)) == ["DriftAlarm"]


def test_a_runtime_alarm_without_its_section_is_reported(cloudformation: Template, operations: str) -> None:
    heading = "### `<PredictFunction>-v<N>-errors` and `<PredictFunction>-v<N>-p99-duration`"
    broken = operations.replace(heading, "### `<PredictFunction>-v<N>-errors`")
    assert broken != operations
    assert missing_alarm_sections(broken, alarm_names(cloudformation)) == [
        "<PredictFunction>-v<N>-p99-duration"
    ]


def test_a_queue_left_out_is_reported(cloudformation: Template, operations: str) -> None:
    queues = section(operations, QUEUES_SECTION).replace("TrainModelFailureQueue", "the training queue")
    assert missing_mentions(queues, failure_queues(cloudformation)) == ["TrainModelFailureQueue"]


def test_a_function_left_out_of_the_iam_section_is_reported(
    cloudformation: Template, operations: str
) -> None:
    iam = section(operations, IAM_SECTION).replace("PredictFunction", "the endpoint")
    assert missing_mentions(iam, functions_and_roles(cloudformation)) == ["PredictFunction"]


def test_commands_and_options_the_parser_lacks_are_reported() -> None:
    # Given a page with one real command and three made-up ones
    page = "\n".join(
        [
            "Run `mlops models promote churn:2 --strategy AllAtOnce --stack s` first.",
            "```sh",
            'mlops models undo churn --reason "x"     # no such subcommand',
            "mlops models promote churn:2 --fast | tee log",
            "mlops nosuch",
            "mlops failures replay --queue Q --dry-run",
            "mlops failures replay --queue Q --all",
            "```",
            "Not code: mlops models undo.",
        ]
    )
    # When the commands are checked against the parser
    problems = unknown_commands(mlops_commands(page), _parser())
    # Then each made-up one is named; the real ones pass, prose is not read
    assert problems == [
        "mlops models has no command 'undo' (mlops models undo churn --reason \"x\")",
        "mlops models promote has no option --fast",
        "mlops has no command 'nosuch' (mlops nosuch)",
        "mlops failures replay has no option --all",
    ]


def test_a_cost_row_that_does_not_add_up_is_reported(operations: str) -> None:
    broken = operations.replace("| 0.0000133334 | 10.37 |", "| 0.0000133334 | 11.37 |", 1)
    assert broken != operations
    total = float(re.findall(r"\| \*\*total\*\* \|[ |]*\*\*([0-9.]+)\*\*", operations)[0])
    assert cost_errors(broken) == [
        "Lambda predict compute: 777600 × 1.33334e-05 = 10.3681, not 11.37",
        f"the rows add up to {total + 1:.2f}, not {total:.2f}",
    ]
