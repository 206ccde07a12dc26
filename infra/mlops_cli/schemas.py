"""JSON Schemas of the bundle's events, generated from their pydantic models.

``python -m mlops_cli.schemas --write`` (or ``make schemas``) writes one file per event and
version into infra/events/schemas/; ``--check`` exits 1 when a file is stale, which the
test suite runs so a model change cannot ship with an old schema.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlops_core.events import EVENT_DETAILS, EVENT_SOURCE, EventDetail

from .lambda_runtime import REPO_ROOT

SCHEMA_DIR = REPO_ROOT / "infra" / "events" / "schemas"


def schema_file(detail: type[EventDetail]) -> Path:
    version = detail.model_fields["schema_version"].default
    return SCHEMA_DIR / f"{detail.detail_type}.v{version}.json"


def render(detail: type[EventDetail]) -> str:
    schema: dict[str, Any] = detail.model_json_schema(mode="serialization")
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{EVENT_SOURCE}/{detail.detail_type}/v{detail.model_fields['schema_version'].default}",
        "x-event-source": EVENT_SOURCE,
        "x-detail-type": detail.detail_type,
        **schema,
    }
    return json.dumps(schema, indent=2, sort_keys=False) + "\n"


def stale_files() -> list[Path]:
    return [
        schema_file(d)
        for d in EVENT_DETAILS
        if not schema_file(d).is_file() or schema_file(d).read_text() != render(d)
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true")
    action.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)
    if args.write:
        SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
        for detail in EVENT_DETAILS:
            schema_file(detail).write_text(render(detail))
            print(f"wrote {schema_file(detail).relative_to(REPO_ROOT)}")
        return 0
    stale = stale_files()
    for path in stale:
        print(f"stale: {path.relative_to(REPO_ROOT)} (run make schemas)")
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
