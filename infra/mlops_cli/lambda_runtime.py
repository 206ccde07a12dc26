"""Running a function's handler in this process, as Lambda would: its module and a context.

Each function lives in ``functions/<name>/app.py``; every one is a module named ``app``, so
they are loaded by path under a unique module name, after the caller has set the
function's environment (handlers build their clients and settings at import, as on a
cold start).
"""

from __future__ import annotations

import importlib.util
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS_DIR = REPO_ROOT / "functions"


def load_function(name: str, *, functions_dir: Path = FUNCTIONS_DIR, fresh: bool = True) -> ModuleType:
    """Import functions/<name>/app.py as a cold start would; ``fresh`` re-imports it."""
    path = functions_dir / name / "app.py"
    if not path.is_file():
        known = sorted(p.name for p in functions_dir.iterdir() if (p / "app.py").is_file())
        raise LookupError(f"no function {name!r} in {functions_dir}; known: {known}")
    module_name = f"mlops_functions.{name}.app"
    if not fresh and module_name in sys.modules:
        return sys.modules[module_name]
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module


@dataclass
class LocalLambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    memory_limit_in_mb: int = 1024
    timeout_seconds: float = 900.0
    function_version: str = "$LATEST"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "eu-west-1"
    account_id: str = "123456789012"
    log_group_name: str = ""
    log_stream_name: str = "local"
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{self.account_id}:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        elapsed = time.monotonic() - self._started
        return max(int((self.timeout_seconds - elapsed) * 1000), 0)
