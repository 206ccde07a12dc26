"""The GitHub workflows: make targets that exist, samconfig environments that exist, OIDC only,
production after staging and behind its environment, pinned actions, limits on every job, and
GitHub's own workflow schema (check-jsonschema's vendored copy, offline).

Each rule is shown to fail on a broken copy of the real workflow file, written to tmp_path.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import REPO_ROOT
from .workflow_rules import load_workflow, makefile_targets, workflow_problems

pytestmark = pytest.mark.template

WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"
TARGETS = makefile_targets((REPO_ROOT / "Makefile").read_text())
CONFIG_ENVS = {
    name
    for name, value in tomllib.loads((REPO_ROOT / "samconfig.toml").read_text()).items()
    if isinstance(value, dict)
}


def problems_of(path: Path) -> list[str]:
    return workflow_problems(path.read_text(), targets=TARGETS, config_envs=CONFIG_ENVS)


@pytest.fixture
def broken(tmp_path: Path) -> Callable[[str, str, str], Path]:
    """A copy of a workflow file with the first occurrence of a text (which must be in it) replaced."""

    def write(name: str, old: str, new: str) -> Path:
        text = (WORKFLOWS / name).read_text()
        assert old in text, f"{old!r} is not in {name}: update this test"
        path = tmp_path / name
        path.write_text(text.replace(old, new, 1))
        return path

    return write


def test_the_ci_and_deploy_workflows_exist() -> None:
    assert {path.name for path in WORKFLOW_FILES} >= {"ci.yml", "deploy.yml"}


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda path: path.name)
def test_a_workflow_follows_every_rule(path: Path) -> None:
    assert problems_of(path) == []


def test_the_makefile_targets_are_read_from_rules_not_variables() -> None:
    # Given the Makefile: rules such as `deploy-built:` and `$(STAMP): ...`, variables such as `VENV :=`
    # Then only the rule names are targets
    assert {"lint", "test", "build", "deploy", "deploy-built", "smoke"} <= TARGETS
    assert not {"VENV", "BIN", "PHONY", "SHELL"} & TARGETS


def test_ci_runs_lint_test_and_build_and_uploads_the_build() -> None:
    ci = load_workflow((WORKFLOWS / "ci.yml").read_text())
    runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in ci["jobs"].items()}
    assert "make lint" in runs["lint"]
    assert "make test" in runs["test"]
    assert "make build" in runs["build"]
    uploads = [step for step in ci["jobs"]["build"]["steps"] if "upload-artifact" in step.get("uses", "")]
    assert uploads[0]["with"]["name"] == "sam-build"


def test_deploy_runs_ci_first_and_deploys_its_build_without_rebuilding() -> None:
    deploy = load_workflow((WORKFLOWS / "deploy.yml").read_text())
    assert deploy["jobs"]["ci"]["uses"] == "./.github/workflows/ci.yml"
    assert deploy["jobs"]["staging"]["needs"] == "ci"
    for name in ("staging", "production"):
        steps = deploy["jobs"][name]["steps"]
        downloads = [step for step in steps if "download-artifact" in step.get("uses", "")]
        assert downloads[0]["with"]["name"] == "sam-build"
        runs = " ".join(step.get("run", "") for step in steps)
        assert "make deploy-built" in runs
        assert "make build" not in runs
        assert "make smoke" in runs


def test_a_make_target_that_does_not_exist_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "make deploy-built ENV=staging", "make deploy-prebuilt ENV=staging")
    assert problems_of(path) == ["job staging: `make deploy-prebuilt` names no Makefile target"]


def test_a_samconfig_environment_that_does_not_exist_is_reported(
    broken: Callable[[str, str, str], Path],
) -> None:
    path = broken("deploy.yml", "make deploy-built ENV=prod", "make deploy-built ENV=production")
    assert "job production: samconfig.toml has no environment 'production'" in problems_of(path)


def test_a_misnamed_config_env_option_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "--config-env staging >>", "--config-env stage >>")
    assert problems_of(path) == ["job staging: samconfig.toml has no environment 'stage'"]


def test_a_deploy_job_without_id_token_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken(
        "deploy.yml",
        "      contents: read\n      id-token: write\n    steps",
        "      contents: read\n    steps",
    )
    assert problems_of(path) == ["job staging: assumes a role without `id-token: write`"]


def test_an_access_key_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken(
        "deploy.yml",
        "          role-to-assume: ${{ vars.AWS_STAGING_ROLE_ARN }}\n",
        "          role-to-assume: ${{ vars.AWS_STAGING_ROLE_ARN }}\n"
        "          aws-access-key-id: ${{ secrets.AWS_ACCESS_KEY_ID }}\n",
    )
    assert problems_of(path) == [
        "long-lived AWS key named: aws-access-key-id",
        "long-lived AWS key named: aws_access_key_id",
    ]


def test_a_role_from_a_secret_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "${{ vars.AWS_PROD_ROLE_ARN }}", "${{ secrets.AWS_PROD_ROLE_ARN }}")
    assert problems_of(path) == [
        "job production: role-to-assume is not a repository variable: '${{ secrets.AWS_PROD_ROLE_ARN }}'"
    ]


def test_a_deploy_without_assuming_a_role_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "uses: aws-actions/configure-aws-credentials@", "uses: example/other-action@")
    assert "job staging: deploys without aws-actions/configure-aws-credentials" in problems_of(path)


def test_an_id_token_on_a_job_that_assumes_no_role_is_reported(
    broken: Callable[[str, str, str], Path],
) -> None:
    path = broken(
        "ci.yml",
        "    timeout-minutes: 15\n    permissions:\n",
        "    timeout-minutes: 15\n    permissions:\n      id-token: write\n",
    )
    assert problems_of(path) == ["job lint: has `id-token: write` but assumes no role"]


def test_production_without_needing_staging_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "    needs: staging\n", "    needs: ci\n")
    assert problems_of(path) == ["job production: deploys prod without `needs: staging`"]


def test_production_outside_its_environment_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("deploy.yml", "      name: production\n", "      name: prod-auto\n")
    assert problems_of(path) == ["job production: deploys prod without `environment: production`"]


@pytest.mark.parametrize("ref", ["main", "master", "v6"])
def test_an_action_on_a_branch_or_moving_tag_is_reported(
    broken: Callable[[str, str, str], Path], ref: str
) -> None:
    path = broken(
        "ci.yml",
        "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f",
        f"actions/upload-artifact@{ref}",
    )
    assert problems_of(path) == [
        f"job build: actions/upload-artifact@{ref} is not pinned to a commit SHA or an exact version"
    ]


def test_an_action_on_an_exact_version_passes(broken: Callable[[str, str, str], Path]) -> None:
    path = broken(
        "ci.yml",
        "actions/upload-artifact@b7c566a772e6b6bfb58ed0dc250532a479d7789f",
        "actions/upload-artifact@v6.0.0",
    )
    assert problems_of(path) == []


def test_a_job_without_a_timeout_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("ci.yml", "    timeout-minutes: 15\n", "")
    assert problems_of(path) == ["job lint: no `timeout-minutes`"]


def test_a_deploy_job_without_a_concurrency_group_is_reported(
    broken: Callable[[str, str, str], Path],
) -> None:
    path = broken("deploy.yml", "      group: deploy-prod\n", "")
    assert problems_of(path) == ["job production: deploys without a concurrency group"]


def test_a_workflow_without_default_permissions_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    path = broken("ci.yml", "permissions: {}\n", "")
    assert problems_of(path) == ["the workflow sets no default `permissions` (it would get the repository's)"]


def schema_errors(*paths: Path) -> subprocess.CompletedProcess[str]:
    """check-jsonschema against GitHub's workflow schema, as vendored in the pinned release."""
    command = [str(CHECK_JSONSCHEMA), "--builtin-schema", "vendor.github-workflows", *map(str, paths)]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)


def test_the_workflows_match_githubs_workflow_schema() -> None:
    result = schema_errors(*WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_workflow_that_breaks_the_schema_is_reported(broken: Callable[[str, str, str], Path]) -> None:
    # Given a permission GitHub does not know (a typo the rules above would not catch)
    path = broken("deploy.yml", "id-token: write", "id-token: writ")

    # Then the schema check fails on the job that has it
    result = schema_errors(path)
    assert result.returncode == 1
    assert "$.jobs.staging" in result.stdout
