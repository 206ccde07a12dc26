"""samconfig.toml: one environment per stage, parameters the template knows, settings CI can run.

Also infra/scripts/samconfig_env.py, which CI uses to read a stage's stack name and region.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
import tomllib
from types import ModuleType
from typing import Any

import pytest

from .conftest import REPO_ROOT, Template

pytestmark = pytest.mark.template

SAMCONFIG: dict[str, Any] = tomllib.loads((REPO_ROOT / "samconfig.toml").read_text())
STAGES = {"default": "dev", "staging": "staging", "prod": "prod"}


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "samconfig_env", REPO_ROOT / "infra" / "scripts" / "samconfig_env.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


samconfig_env = _load_script()


def deploy_parameters(env: str) -> dict[str, Any]:
    parameters: dict[str, Any] = SAMCONFIG[env]["deploy"]["parameters"]
    return parameters


def overrides(env: str) -> dict[str, str]:
    given: dict[str, str] = {}
    for item in shlex.split(deploy_parameters(env)["parameter_overrides"]):
        name, _, value = item.partition("=")
        given[name] = value
    return given


def test_one_environment_per_stage_each_with_its_own_stack() -> None:
    environments = {name for name, value in SAMCONFIG.items() if isinstance(value, dict)}
    assert environments == set(STAGES)
    stacks = [deploy_parameters(env)["stack_name"] for env in STAGES]
    assert len(set(stacks)) == len(stacks)
    prefixes = [deploy_parameters(env)["s3_prefix"] for env in STAGES]
    assert prefixes == stacks


@pytest.mark.parametrize("env", STAGES)
def test_each_environment_deploys_its_own_stage_with_template_parameters(
    env: str, source_template: Template
) -> None:
    # Given the template's parameters and the environment's overrides
    parameters = source_template["Parameters"]
    given = overrides(env)

    # Then every override names a parameter of the template, with an allowed value, and the stage is its own
    assert set(given) <= set(parameters), set(given) - set(parameters)
    for name, value in given.items():
        allowed = parameters[name].get("AllowedValues")
        assert allowed is None or value in [str(v) for v in allowed], (name, value)
    assert given["StageName"] == STAGES[env]
    assert f"stage={STAGES[env]}" in deploy_parameters(env)["tags"]


@pytest.mark.parametrize("env", STAGES)
def test_each_environment_deploys_without_a_prompt(env: str) -> None:
    # CI runs staging and prod and cannot answer a prompt; an unchanged stack is not an error
    parameters = deploy_parameters(env)
    assert parameters["confirm_changeset"] is False
    assert parameters["fail_on_empty_changeset"] is False
    assert parameters["capabilities"] == "CAPABILITY_IAM"
    assert SAMCONFIG[env]["global"]["parameters"]["region"]


def test_production_rolls_models_out_as_a_canary() -> None:
    assert overrides("prod")["DeploymentStrategy"].startswith("Canary")
    assert overrides("staging")["DeploymentStrategy"].startswith("Canary")


def test_the_script_reads_a_stages_stack_and_region() -> None:
    settings = samconfig_env.stage_settings(SAMCONFIG, "staging")
    assert settings.as_output_lines() == "stack_name=mlops-bundle-staging\nregion=eu-west-1\n"


def test_a_region_in_the_deploy_parameters_wins() -> None:
    config = {"x": {"global": {"parameters": {"region": "eu-west-1"}}, "deploy": {"parameters": {}}}}
    config["x"]["deploy"]["parameters"] = {"stack_name": "s", "region": "us-east-2"}
    assert samconfig_env.stage_settings(config, "x").region == "us-east-2"


def test_an_unknown_environment_is_named_with_the_known_ones() -> None:
    with pytest.raises(
        samconfig_env.SamconfigError, match=r"no environment 'qa' \(it has: default, staging, prod\)"
    ):
        samconfig_env.stage_settings(SAMCONFIG, "qa")


def test_an_environment_without_a_stack_name_is_refused() -> None:
    config = {"x": {"global": {"parameters": {"region": "eu-west-1"}}}}
    with pytest.raises(samconfig_env.SamconfigError, match="'x' sets no stack_name"):
        samconfig_env.stage_settings(config, "x")


def test_the_script_prints_github_outputs_and_exits_2_on_an_unknown_environment(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert samconfig_env.main(["--config-env", "prod"]) == 0
    assert capsys.readouterr().out == "stack_name=mlops-bundle-prod\nregion=eu-west-1\n"
    assert samconfig_env.main(["--config-env", "qa"]) == 2
    assert "no environment 'qa'" in capsys.readouterr().err
