"""Evidently's data drift preset on the wide drift benchmark's data, for bench_drift_wide.py.

Runs in ``.venv-evidently`` (requirements/bench-evidently.txt: Evidently 0.7 with pandas 2.3;
it does not import with pandas 3), never in the dev venv, and imports nothing of the bundle:

* ``read``: the first ``--rows`` capture records from the same GZIP JSON-lines objects,
  ``gzip`` + ``json.loads``, their ``features`` into a DataFrame; the training frame (the
  reference, ``train.csv``) with ``pandas.read_csv``;
* ``report``: ``Report([DataDriftPreset()]).run(current, reference)`` with the 50 features
  declared numerical or categorical (``columns.json``), Evidently's defaults otherwise (for
  more than 1,000 rows: normed Wasserstein distance for numerical columns and Jensen-Shannon
  distance for categorical ones, threshold 0.1, dataset drift at half the columns), then the
  result as a dict (what a caller reads).

Prints one ``BENCH-RESULT {json}`` line: seconds of each step, peak RSS (VmHWM) and the
columns Evidently calls drifted.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

RESULT_PREFIX = "BENCH-RESULT "
RECORDS_PER_OBJECT = 20_000


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def drifted_columns(result: dict[str, Any]) -> list[str]:
    """Column names whose ValueDrift metric crossed its threshold, from ``Snapshot.dict()``."""
    drifted = []
    for metric in result.get("metrics", []):
        config = metric.get("config", {})
        if config.get("type", "").endswith("ValueDrift") and isinstance(metric.get("value"), int | float):
            threshold = config.get("threshold")
            value = float(metric["value"])
            method = str(config.get("method") or "")
            # p-value tests drift below the threshold, distances above it
            is_p_value = "p_value" in method or "ks" in method.lower() or "chi" in method.lower()
            if threshold is not None and (value < threshold if is_p_value else value >= threshold):
                drifted.append(config["column"])
    return sorted(drifted)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--rows", type=int, required=True)
    options = parser.parse_args()

    started = time.perf_counter()
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    imported = time.perf_counter()
    columns = json.loads((options.folder / "columns.json").read_text())
    names = columns["numerical"] + columns["categorical"]
    parts = sorted((options.folder / "capture").rglob("part-*.gz"), key=lambda p: p.name)
    parts = parts[: math.ceil(options.rows / RECORDS_PER_OBJECT)]
    begin = time.perf_counter()
    rows = []
    for part in parts:
        with gzip.open(part, "rb") as lines:
            rows.extend(json.loads(line)["features"] for line in lines)
    current = pd.DataFrame.from_records(rows[: options.rows], columns=names)
    del rows
    reference = pd.read_csv(options.folder / "train.csv", usecols=names)
    read = time.perf_counter()
    definition = DataDefinition(
        numerical_columns=columns["numerical"], categorical_columns=columns["categorical"]
    )
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(current, data_definition=definition),
        Dataset.from_pandas(reference, data_definition=definition),
    )
    result = snapshot.dict()
    done = time.perf_counter()
    output = {
        "rows": len(current),
        "import_s": imported - started,
        "read_s": read - begin,
        "report_s": done - read,
        "seconds": done - begin,
        "peak_rss_mb": peak_rss_mb(),
        "drifted": drifted_columns(result),
        "drift_share": next(
            (m["value"]["share"] for m in result["metrics"] if "DriftedColumnsCount" in m["metric_name"]),
            None,
        ),
    }
    print(RESULT_PREFIX + json.dumps(output))
    return 0


if __name__ == "__main__":
    sys.exit(main())
