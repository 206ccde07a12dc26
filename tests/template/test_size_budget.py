"""infra/scripts/size_budget.py: sums a function's code and layers and fails over 250 MB."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.template

SCRIPT = Path(__file__).resolve().parents[2] / "infra" / "scripts" / "size_budget.py"
MB = 1024 * 1024


def _load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("size_budget", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the class is being made.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


size_budget = _load_script()


def _sparse_file(path: Path, size: int) -> None:
    # st_size counts, not blocks on disk: a sparse file stands in for a big library.
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        handle.truncate(size)


def _build_dir(tmp_path: Path, layer_mb: int) -> Path:
    (tmp_path / "template.yaml").write_text(
        "Resources:\n"
        "  DepsLayer:\n"
        "    Type: AWS::Serverless::LayerVersion\n"
        "    Properties: {ContentUri: DepsLayer}\n"
        "  Fn:\n"
        "    Type: AWS::Serverless::Function\n"
        "    Properties:\n"
        "      CodeUri: Fn\n"
        "      Layers: [!Ref DepsLayer]\n",
        encoding="utf-8",
    )
    _sparse_file(tmp_path / "Fn" / "app.py", 1 * MB)
    _sparse_file(tmp_path / "DepsLayer" / "python" / "lib.so", layer_mb * MB)
    return tmp_path


def test_function_within_budget_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a 1 MB function with a 200 MB layer
    build_dir = _build_dir(tmp_path, layer_mb=200)
    # When the budget is checked
    code = size_budget.main([str(build_dir)])
    # Then it passes and reports 201 MB in total
    assert code == 0
    assert "201.0" in capsys.readouterr().out


def test_function_over_budget_fails_and_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Given a 1 MB function with a 250 MB layer
    build_dir = _build_dir(tmp_path, layer_mb=250)
    # When the budget is checked
    code = size_budget.main([str(build_dir)])
    # Then it fails and names the function
    assert code == 1
    assert "over the 250 MB unzipped limit: Fn" in capsys.readouterr().err


def test_missing_build_output_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert size_budget.main([str(tmp_path / "nowhere")]) == 2
    assert "run `sam build` first" in capsys.readouterr().err


def test_symlinks_are_not_followed(tmp_path: Path) -> None:
    _sparse_file(tmp_path / "real" / "big.so", 10 * MB)
    (tmp_path / "layer").mkdir()
    os.symlink(tmp_path / "real" / "big.so", tmp_path / "layer" / "link.so")
    assert size_budget.directory_bytes(tmp_path / "layer") < MB
