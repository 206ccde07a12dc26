"""One drift check of the demo model on captured windows of growing size.

``make bench`` runs it (not in CI). Each size runs in a fresh ``python`` process, so imports
are cold and the peak RSS is the check's own:

* ``import``: what ``mlops_core.drift_check`` loads (no pandas, no pyarrow);
* ``check``: ``check_model_drift`` end to end on an in-memory bucket holding the window as
  GZIP JSON-lines objects of 10,000 records each (as Firehose writes them): list, stream,
  parse, reservoir-sample to ``max_instances`` (100,000), compare every feature, write the
  report;
* ``floor``: in the same process, ``gzip`` + ``json.loads`` of every line of the same objects,
  what reading every record costs. Up to ``max_instances`` the check parses every line too;
  past it, it parses only the sample, so ``check / floor`` falls below 1.

The baseline and the objects are made by the parent; the child holds the compressed objects
in its fake bucket. "RSS before" is the child's peak before the check starts, "peak RSS"
after it: the difference is the check's own memory.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")
PER_OBJECT = 10_000


def peak_rss_mb() -> float:
    """VmHWM: reset by exec, unlike ru_maxrss, which keeps the forking parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def prepare(records: int, folder: Path) -> None:
    """The baseline and the window's GZIP objects, made here so the child never loads pandas."""
    from mlops_cli.sample_data import churn_table
    from mlops_core.capture import CaptureRecord
    from mlops_core.contracts import load_contract
    from mlops_core.training.baseline import compute_baseline
    from mlops_core.training.spec import training_spec

    contract = load_contract(CONTRACT.read_text())
    baseline = compute_baseline(churn_table(5000, seed=4).to_pandas(), contract, training_spec(contract))
    (folder / "baseline.json").write_text(baseline.model_dump_json())
    when = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    rows = churn_table(PER_OBJECT, seed=9).to_pylist()
    for number, start in enumerate(range(0, records, PER_OBJECT)):
        lines = b"".join(
            CaptureRecord(
                model="churn",
                version=1,
                request_id=f"r{start + i}",
                time=when,
                index=0,
                features={k: row[k] for k in FEATURES},
                prediction=False,
            ).to_line()
            for i, row in enumerate(rows[: min(PER_OBJECT, records - start)])
        )
        (folder / f"part-{number:05d}.gz").write_bytes(gzip.compress(lines))


def child(records: int, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    from mlops_core.drift_check import check_model_drift

    imported = time.perf_counter()
    from mlops_core.drift.state import InMemoryDriftStateStore
    from mlops_core.registry import InMemoryModelRegistry
    from mlops_core.registry.entities import Lineage

    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from fakes import InMemoryObjectStore  # the unit tests' in-memory bucket

    store = InMemoryObjectStore("data")
    store.put("contracts/churn.yaml", CONTRACT.read_bytes())
    store.put("models/churn/run/baseline.json", (folder / "baseline.json").read_bytes())
    for part in sorted(folder.glob("part-*.gz")):
        store.put(f"capture/churn/dt=2026-11-20/{part.name}", part.read_bytes())
    stored_mb = sum(len(v[-1]) for k, v in store.objects.items() if k.startswith("capture/")) / 1e6
    registry = InMemoryModelRegistry()
    registry.register(
        "churn",
        artifact_uri="s3://data/models/churn/run/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri="s3://data/models/churn/run/manifest.json",
        baseline_uri="s3://data/models/churn/run/baseline.json",
        metrics={"roc_auc": 0.8},
        primary_metric="roc_auc",
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        actor="bench",
    )
    registry.approve("churn", 1, actor="bench")
    registry.promote("churn", 1, actor="bench")
    when = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    loaded_mb = peak_rss_mb()

    begin = time.perf_counter()
    report = check_model_drift(
        "churn", registry=registry, store=store, states=InMemoryDriftStateStore(), now=when, run_id="bench"
    )
    checked = time.perf_counter()
    checked_mb = peak_rss_mb()
    parsed = 0
    for key in store.keys("capture/"):
        for line in gzip.decompress(store.objects[key][-1]).splitlines():
            json.loads(line)
            parsed += 1
    floor = time.perf_counter()
    assert report.window is not None and report.window.records == records == parsed, report
    return {
        "import_s": imported - started,
        "check_s": checked - begin,
        "floor_s": floor - checked,
        "stored_mb": stored_mb,
        "before_mb": loaded_mb,
        "peak_rss_mb": checked_mb,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", default="10000,100000,1000000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", type=int)
    parser.add_argument("--folder", type=Path)
    options = parser.parse_args()
    if options.child is not None:
        print(json.dumps(child(options.child, options.folder)))
        return 0
    print(
        f"{'records':>8} {'import s':>9} {'check s':>8} {'floor s':>8} {'check/floor':>12} "
        f"{'records/s':>10} {'gzip MB':>8} {'RSS before MB':>14} {'peak RSS MB':>12}"
    )
    for records in (int(r) for r in options.records.split(",")):
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            prepare(records, Path(folder))
            for _ in range(options.repeat):
                output = subprocess.run(
                    [sys.executable, __file__, "--child", str(records), "--folder", folder],
                    check=True,
                    capture_output=True,
                    text=True,
                ).stdout
                runs.append(json.loads(output.strip().splitlines()[-1]))
        m = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{records:>8} {m['import_s']:>9.2f} {m['check_s']:>8.2f} {m['floor_s']:>8.2f} "
            f"{m['check_s'] / m['floor_s']:>11.2f}x {records / m['check_s']:>10,.0f} "
            f"{m['stored_mb']:>8.1f} {m['before_mb']:>14.0f} {m['peak_rss_mb']:>12.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
