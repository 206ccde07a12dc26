"""Rules the GitHub workflows must follow, as functions that return what is wrong (empty: nothing).

test_workflows.py runs them on .github/workflows/*.yml and on broken copies, to show each rule
finds what it is for. A workflow here is the mapping PyYAML reads from the file.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterator
from typing import Any

import yaml

Workflow = dict[str, Any]
Job = dict[str, Any]

#: A full commit SHA, or an exact release (v1.2.3): never a branch or a moving major tag.
_PINNED_REF = re.compile(r"^(?:[0-9a-f]{40}|v?\d+\.\d+\.\d+)$")
_MAKE_CALL = re.compile(r"(?:^|[\s;&|(])make\s+([^\n;&|)]*)")
_MAKEFILE_RULE = re.compile(r"^([A-Za-z0-9_.-]+(?:[ \t]+[A-Za-z0-9_.-]+)*)[ \t]*::?(?!=)", re.MULTILINE)
_CONFIG_ENV = re.compile(r"--config-env[ =]+[\"']?([A-Za-z0-9_-]+)")
_ENV_ASSIGNMENT = re.compile(r"(?:^|\s)ENV=[\"']?([A-Za-z0-9_-]+)")
_CREDENTIALS_ACTION = "aws-actions/configure-aws-credentials"
#: Inputs and variables that carry long-lived AWS keys; OIDC needs none of them.
_KEY_NAMES = ("aws-access-key-id", "aws-secret-access-key", "aws_access_key_id", "aws_secret_access_key")
_DEPLOY_COMMAND = re.compile(r"\bmake\s+(?:[^\n]*\s)?deploy(?:-built)?\b|\bsam(?:\.sh)?\s+deploy\b")


def makefile_targets(makefile_text: str) -> set[str]:
    """Targets the Makefile defines (rules, not variable assignments or special targets)."""
    targets: set[str] = set()
    for match in _MAKEFILE_RULE.finditer(makefile_text):
        targets.update(name for name in match.group(1).split() if not name.startswith("."))
    return targets


def jobs(workflow: Workflow) -> dict[str, Job]:
    found = workflow.get("jobs") or {}
    return {str(name): job for name, job in found.items() if isinstance(job, dict)}


def run_scripts(job: Job) -> Iterator[str]:
    for step in job.get("steps") or []:
        if isinstance(step, dict) and isinstance(step.get("run"), str):
            yield step["run"]


def make_calls(script: str) -> Iterator[list[str]]:
    """The targets of each `make` command in a shell script (options and VAR=value left out)."""
    for match in _MAKE_CALL.finditer(script):
        words = shlex.split(match.group(1), comments=True)
        yield [word for word in words if not word.startswith("-") and "=" not in word]


def unknown_make_targets(workflow: Workflow, targets: set[str]) -> list[str]:
    return [
        f"job {name}: `make {target}` names no Makefile target"
        for name, job in jobs(workflow).items()
        for script in run_scripts(job)
        for call in make_calls(script)
        for target in call
        if target not in targets
    ]


def unknown_config_envs(workflow: Workflow, config_envs: set[str]) -> list[str]:
    """``--config-env X`` and ``ENV=X`` must name an environment of samconfig.toml."""
    problems = []
    for name, job in jobs(workflow).items():
        for script in run_scripts(job):
            for env in _CONFIG_ENV.findall(script) + _ENV_ASSIGNMENT.findall(script):
                if env not in config_envs:
                    problems.append(f"job {name}: samconfig.toml has no environment {env!r}")
    return problems


def _credential_steps(job: Job) -> list[dict[str, Any]]:
    return [
        step
        for step in job.get("steps") or []
        if isinstance(step, dict) and str(step.get("uses", "")).startswith(f"{_CREDENTIALS_ACTION}@")
    ]


def _permissions(workflow: Workflow, job: Job) -> dict[str, str]:
    granted = job.get("permissions", workflow.get("permissions"))
    return {str(k): str(v) for k, v in granted.items()} if isinstance(granted, dict) else {}


def deploys(job: Job) -> bool:
    return any(_DEPLOY_COMMAND.search(script) for script in run_scripts(job))


def oidc_problems(workflow: Workflow, workflow_text: str) -> list[str]:
    """AWS credentials come from OIDC only: a role from a variable, the id-token only where used."""
    problems = [f"long-lived AWS key named: {key}" for key in _KEY_NAMES if key in workflow_text.lower()]
    for name, job in jobs(workflow).items():
        steps = _credential_steps(job)
        id_token = _permissions(workflow, job).get("id-token") == "write"
        if deploys(job) and not steps:
            problems.append(f"job {name}: deploys without {_CREDENTIALS_ACTION}")
        if steps and not id_token:
            problems.append(f"job {name}: assumes a role without `id-token: write`")
        if id_token and not steps:
            problems.append(f"job {name}: has `id-token: write` but assumes no role")
        for step in steps:
            role = str((step.get("with") or {}).get("role-to-assume", ""))
            if not re.fullmatch(r"\$\{\{\s*vars\.[A-Z0-9_]+\s*\}\}", role):
                problems.append(f"job {name}: role-to-assume is not a repository variable: {role!r}")
    return problems


def _deploy_env(job: Job) -> str | None:
    for script in run_scripts(job):
        if _DEPLOY_COMMAND.search(script):
            found = _CONFIG_ENV.findall(script) + _ENV_ASSIGNMENT.findall(script)
            if found:
                return str(found[0])
    return None


def _environment_name(job: Job) -> str | None:
    environment = job.get("environment")
    if isinstance(environment, dict):
        return str(environment.get("name")) if environment.get("name") else None
    return str(environment) if environment else None


def _needs(job: Job) -> list[str]:
    needs = job.get("needs") or []
    return [needs] if isinstance(needs, str) else [str(need) for need in needs]


def promotion_problems(workflow: Workflow) -> list[str]:
    """A production deploy waits for the staging deploy and for the `production` environment."""
    by_env = {env: name for name, job in jobs(workflow).items() if (env := _deploy_env(job))}
    problems = []
    prod_job = by_env.get("prod")
    if prod_job is None:
        return problems
    job = jobs(workflow)[prod_job]
    if _environment_name(job) != "production":
        problems.append(f"job {prod_job}: deploys prod without `environment: production`")
    staging_job = by_env.get("staging")
    if staging_job is None:
        problems.append(f"job {prod_job}: deploys prod, and no job deploys staging before it")
    elif staging_job not in _needs(job):
        problems.append(f"job {prod_job}: deploys prod without `needs: {staging_job}`")
    return problems


def unpinned_actions(workflow: Workflow) -> list[str]:
    """Every third-party `uses:` names a commit SHA or an exact version; local paths are the repo's own."""
    uses: list[tuple[str, str]] = []
    for name, job in jobs(workflow).items():
        if isinstance(job.get("uses"), str):
            uses.append((name, job["uses"]))
        uses += [(name, str(step["uses"])) for step in job.get("steps") or [] if "uses" in step]
    problems = []
    for name, action in uses:
        if action.startswith("./"):
            continue
        _, _, ref = action.partition("@")
        if not _PINNED_REF.fullmatch(ref):
            problems.append(f"job {name}: {action} is not pinned to a commit SHA or an exact version")
    return problems


def job_limits_problems(workflow: Workflow) -> list[str]:
    """Each job states its permissions and a timeout; each deploying job has a concurrency group."""
    problems = []
    if "permissions" not in workflow:
        problems.append("the workflow sets no default `permissions` (it would get the repository's)")
    for name, job in jobs(workflow).items():
        if "permissions" not in job:
            problems.append(f"job {name}: no `permissions`")
        if "uses" not in job and "timeout-minutes" not in job:  # a called workflow sets its own
            problems.append(f"job {name}: no `timeout-minutes`")
        if deploys(job) and not (job.get("concurrency") or {}).get("group"):
            problems.append(f"job {name}: deploys without a concurrency group")
    return problems


def load_workflow(text: str) -> Workflow:
    loaded = yaml.safe_load(text)
    if not isinstance(loaded, dict):
        raise ValueError("a workflow file holds a mapping")
    return loaded


def workflow_problems(text: str, *, targets: set[str], config_envs: set[str]) -> list[str]:
    """Every rule above, on the text of one workflow file."""
    workflow = load_workflow(text)
    return (
        unknown_make_targets(workflow, targets)
        + unknown_config_envs(workflow, config_envs)
        + oidc_problems(workflow, text)
        + promotion_problems(workflow)
        + unpinned_actions(workflow)
        + job_limits_problems(workflow)
    )
