"""Print the stack name and region that samconfig.toml gives one environment.

CI reads a stage's stack and region from here, so samconfig.toml stays the one place that
names them: `python3 infra/scripts/samconfig_env.py --config-env staging >> "$GITHUB_OUTPUT"`
prints ``stack_name=...`` and ``region=...``. Standard library only: it runs before any venv.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SAMCONFIG = Path(__file__).resolve().parents[2] / "samconfig.toml"


class SamconfigError(Exception):
    """samconfig.toml lacks the environment, or the environment lacks a stack name or region."""


@dataclass(frozen=True)
class StageSettings:
    config_env: str
    stack_name: str
    region: str

    def as_output_lines(self) -> str:
        """GitHub Actions step outputs (``key=value`` lines for ``$GITHUB_OUTPUT``)."""
        return f"stack_name={self.stack_name}\nregion={self.region}\n"


def stage_settings(samconfig: dict[str, Any], config_env: str) -> StageSettings:
    """The stack name and region of ``config_env``; the region may come from its global parameters."""
    environment = samconfig.get(config_env)
    if not isinstance(environment, dict):
        known = ", ".join(name for name, value in samconfig.items() if isinstance(value, dict))
        raise SamconfigError(f"samconfig.toml has no environment {config_env!r} (it has: {known})")
    deploy = environment.get("deploy", {}).get("parameters", {})
    shared = environment.get("global", {}).get("parameters", {})
    stack_name = deploy.get("stack_name")
    region = deploy.get("region") or shared.get("region")
    missing = [name for name, value in (("stack_name", stack_name), ("region", region)) if not value]
    if missing:
        raise SamconfigError(
            f"samconfig.toml environment {config_env!r} sets no {' or '.join(missing)} "
            f"([{config_env}.deploy.parameters] or [{config_env}.global.parameters])"
        )
    return StageSettings(config_env=config_env, stack_name=str(stack_name), region=str(region))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config-env", required=True, help="an environment of samconfig.toml")
    parser.add_argument("--samconfig", type=Path, default=SAMCONFIG)
    args = parser.parse_args(argv)
    try:
        settings = stage_settings(tomllib.loads(args.samconfig.read_text()), args.config_env)
    except SamconfigError as error:
        print(f"samconfig_env: {error}", file=sys.stderr)
        return 2
    sys.stdout.write(settings.as_output_lines())
    return 0


if __name__ == "__main__":
    sys.exit(main())
