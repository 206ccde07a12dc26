"""Training and registration time on the demo data, and cold-start imports of the model stage.

``make bench`` runs it after the validation benchmark (not in CI). Each measurement runs in
a fresh ``python`` process so imports are cold, as on a Lambda cold start:

* ``train``: read the demo dataset (infra/mlops_cli/sample_data.py, churn) with the
  contract's training section, train, evaluate, explain, baseline, save the skops artifact;
* ``register``: verify that artifact as register_model does (SHA-256, skops allowlist,
  scikit-learn version, smoke prediction) and register it in the in-memory registry;
* ``import``: the imports train_model does at cold start, in this environment (the layer's
  own bytecode cannot be loaded here: it is built for arm64).

Rows default to the demo's 2,000 and 20,000; the seconds are medians of ``--repeat`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


def child_train(rows: int, folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    from mlops_cli.sample_data import churn_table, write_csv
    from mlops_core.contracts import load_contract
    from mlops_core.training.artifacts import save_model, sha256_hex
    from mlops_core.training.baseline import compute_baseline
    from mlops_core.training.spec import training_spec
    from mlops_core.training.train import build_manifest, read_training_frame, train

    imported = time.perf_counter()
    contract = load_contract(CONTRACT.read_text())
    spec = training_spec(contract)
    data = write_csv(churn_table(rows, seed=11), folder / "churn.csv")
    begin = time.perf_counter()
    frame = read_training_frame(data, contract, spec)
    result = train(frame, contract, spec)
    compute_baseline(frame, contract, spec)
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact))
    done = time.perf_counter()
    (folder / "model.skops").write_bytes(artifact)
    (folder / "manifest.json").write_text(manifest.model_dump_json(by_alias=True))
    return {
        "train_import_s": imported - started,
        "train_s": done - begin,
        "metric": result.primary_value,
        "artifact_mb": len(artifact) / 1e6,
    }


def child_register(folder: Path) -> dict[str, float]:
    started = time.perf_counter()
    from mlops_core.approval import ApprovalPolicy
    from mlops_core.events import InMemoryPublisher
    from mlops_core.model_registration import ModelSubmission, register_model
    from mlops_core.registry import InMemoryModelRegistry

    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from fakes import InMemoryObjectStore  # the unit tests' in-memory bucket

    imported = time.perf_counter()
    store = InMemoryObjectStore()
    store.put("contracts/churn.yaml", CONTRACT.read_bytes())
    store.put("models/churn/run/model.skops", (folder / "model.skops").read_bytes())
    store.put("models/churn/run/manifest.json", (folder / "manifest.json").read_bytes())
    submission = ModelSubmission(
        model="churn",
        artifact_key="models/churn/run/model.skops",
        manifest_key="models/churn/run/manifest.json",
        source="trained",
    )
    begin = time.perf_counter()
    outcome = register_model(
        submission, store, InMemoryModelRegistry(), InMemoryPublisher(), ApprovalPolicy(metric_floor=0.5)
    )
    done = time.perf_counter()
    assert outcome.version == 1, outcome
    return {"register_import_s": imported - started, "register_s": done - begin}


def _run_child(mode: str, *args: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", mode, *args], check=True, capture_output=True, text=True
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", default="2000,20000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["train", "register"])
    parser.add_argument("args", nargs="*")
    options = parser.parse_args()
    if options.child == "train":
        print(json.dumps(child_train(int(options.args[0]), Path(options.args[1]))))
        return 0
    if options.child == "register":
        print(json.dumps(child_register(Path(options.args[0]))))
        return 0
    print(
        f"{'rows':>7} {'train: import s':>16} {'train s':>8} {'register: import s':>19} {'register s':>11} "
        f"{'roc_auc':>8} {'model MB':>9}"
    )
    for rows in (int(r) for r in options.rows.split(",")):
        runs = []
        for _ in range(options.repeat):
            with tempfile.TemporaryDirectory() as folder:
                trained = _run_child("train", str(rows), folder)
                registered = _run_child("register", folder)
                runs.append(trained | registered)
        median = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        print(
            f"{rows:>7} {median['train_import_s']:>16.2f} {median['train_s']:>8.2f} "
            f"{median['register_import_s']:>19.2f} {median['register_s']:>11.2f} "
            f"{median['metric']:>8.3f} {median['artifact_mb']:>9.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
