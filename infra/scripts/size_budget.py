"""Checks every built function against Lambda's 250 MB unzipped limit (code + all layers).

Run after `sam build`:  .venv/bin/python infra/scripts/size_budget.py [.aws-sam/build]
Exits 1 when a function is over budget, 2 when the build output is missing or unreadable.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# Lambda counts 250 MB as 262,144,000 bytes of unzipped function code plus layers.
BUDGET_BYTES = 250 * 1024 * 1024
MB = 1024 * 1024

SERVERLESS_FUNCTION = "AWS::Serverless::Function"
SERVERLESS_LAYER = "AWS::Serverless::LayerVersion"


class BuildOutputError(Exception):
    """The built template or an artifact directory it names is missing or malformed."""


@dataclass(frozen=True)
class FunctionSize:
    name: str
    code_bytes: int
    layer_bytes: dict[str, int]
    external_layers: tuple[str, ...]

    @property
    def layers_total(self) -> int:
        return sum(self.layer_bytes.values())

    @property
    def total(self) -> int:
        return self.code_bytes + self.layers_total

    @property
    def over_budget(self) -> bool:
        return self.total > BUDGET_BYTES


class _IntrinsicLoader(yaml.SafeLoader):
    """Reads CloudFormation short-form tags (!Ref, !GetAtt, ...) as their long form."""


def _construct_intrinsic(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if tag_suffix == "Ref" else f"Fn::{tag_suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if tag_suffix == "GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_IntrinsicLoader.add_multi_constructor("!", _construct_intrinsic)


def load_template(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise BuildOutputError(f"{path} not found: run `sam build` first")
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=_IntrinsicLoader)  # noqa: S506
    if not isinstance(document, dict) or not isinstance(document.get("Resources"), dict):
        raise BuildOutputError(f"{path} has no Resources section")
    return document


def directory_bytes(path: Path) -> int:
    """Sum of file sizes as Lambda unzips them; symlinks are not followed."""
    if not path.is_dir():
        raise BuildOutputError(f"artifact directory {path} not found")
    total = 0
    for root, _dirs, files in os.walk(path):
        for file_name in files:
            total += os.lstat(os.path.join(root, file_name)).st_size
    return total


def _function_layers(properties: dict[str, Any], globals_function: dict[str, Any]) -> list[Any]:
    # SAM puts the Globals layers before the function's own.
    return [*globals_function.get("Layers", []), *properties.get("Layers", [])]


def measure(build_dir: Path) -> list[FunctionSize]:
    template = load_template(build_dir / "template.yaml")
    resources: dict[str, Any] = template["Resources"]
    globals_function: dict[str, Any] = template.get("Globals", {}).get("Function", {})
    layer_dirs = {
        logical_id: build_dir / resource["Properties"]["ContentUri"]
        for logical_id, resource in resources.items()
        if resource.get("Type") == SERVERLESS_LAYER
        and isinstance(resource["Properties"].get("ContentUri"), str)
    }
    layer_sizes = {logical_id: directory_bytes(path) for logical_id, path in layer_dirs.items()}

    sizes = []
    for logical_id, resource in sorted(resources.items()):
        if resource.get("Type") != SERVERLESS_FUNCTION:
            continue
        properties: dict[str, Any] = resource.get("Properties", {})
        code_uri = properties.get("CodeUri")
        if not isinstance(code_uri, str):
            raise BuildOutputError(f"{logical_id}: CodeUri is not a local build directory")
        own_layers: dict[str, int] = {}
        external: list[str] = []
        for layer in _function_layers(properties, globals_function):
            ref = layer.get("Ref") if isinstance(layer, dict) else None
            if ref in layer_sizes:
                own_layers[ref] = layer_sizes[ref]
            else:
                external.append(str(layer))
        sizes.append(
            FunctionSize(
                name=logical_id,
                code_bytes=directory_bytes(build_dir / code_uri),
                layer_bytes=own_layers,
                external_layers=tuple(external),
            )
        )
    return sizes


def _mb(size: int) -> str:
    return f"{size / MB:8.1f}"


def render(sizes: list[FunctionSize]) -> str:
    header = f"{'function':<32} {'code MB':>8} {'layers MB':>9} {'total MB':>8} {'budget MB':>9}  status"
    lines = [header, "-" * len(header)]
    for size in sizes:
        status = "OVER" if size.over_budget else "ok"
        lines.append(
            f"{size.name:<32} {_mb(size.code_bytes)} {_mb(size.layers_total):>9} {_mb(size.total)}"
            f" {BUDGET_BYTES // MB:>9}  {status}"
        )
        for layer_id, layer_size in size.layer_bytes.items():
            lines.append(f"  + {layer_id:<28} {'':>8} {_mb(layer_size):>9}")
        for external in size.external_layers:
            lines.append(f"  ! {external} is not built here and is NOT counted")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("build_dir", nargs="?", type=Path, default=Path(".aws-sam/build"))
    args = parser.parse_args(argv)
    try:
        sizes = measure(args.build_dir)
    except BuildOutputError as error:
        print(f"size_budget: {error}", file=sys.stderr)
        return 2
    print(render(sizes))
    over = [size.name for size in sizes if size.over_budget]
    if over:
        print(f"\nover the {BUDGET_BYTES // MB} MB unzipped limit: {', '.join(over)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
