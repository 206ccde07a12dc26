"""Predict's cold start and latency, measured in fresh processes (``make bench``; not in CI).

* ``cold``: what a predict container does before its first answer: import the prediction
  module and load the bound model (SHA-256, skops allowlist, manifest), against
  ``floor``: importing only the modules the model's own pipeline needs and loading it with
  skops directly. The goal is cold within 1.2x of floor.
* ``latency``: read_instances + predict + the response body for 1 row and for 1,000 rows,
  p50 and p99 over repeated calls in one warm process.

The model is the demo's (churn, hist gradient boosting), trained once into a temporary
folder; the bound model is read from an in-memory bucket, as the unit tests do.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"
FEATURES = ("tenure_months", "monthly_charges", "plan", "support_tickets", "autopay")


def prepare(folder: Path) -> None:
    from mlops_cli.sample_data import churn_table
    from mlops_core.contracts import load_contract
    from mlops_core.training.artifacts import save_model, sha256_hex
    from mlops_core.training.spec import training_spec
    from mlops_core.training.train import build_manifest, train

    contract = load_contract(CONTRACT.read_text())
    result = train(churn_table(2000, seed=11).to_pandas(), contract, training_spec(contract))
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact))
    (folder / "model.skops").write_bytes(artifact)
    (folder / "manifest.json").write_text(manifest.model_dump_json(by_alias=True))
    rows = churn_table(1000, seed=99).to_pylist()
    (folder / "rows.json").write_text(json.dumps([{k: r[k] for k in FEATURES} for r in rows]))


def child_cold(folder: Path) -> float:
    started = time.perf_counter()
    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from fakes import InMemoryObjectStore

    from mlops_core.prediction import ModelBinding, load_bound_model

    store = InMemoryObjectStore("data")
    store.put("models/churn/run/model.skops", (folder / "model.skops").read_bytes())
    store.put("models/churn/run/manifest.json", (folder / "manifest.json").read_bytes())
    manifest = json.loads((folder / "manifest.json").read_text())
    binding = ModelBinding(
        artifact_uri="s3://data/models/churn/run/model.skops",
        artifact_sha256=manifest["artifact_sha256"],
        manifest_uri="s3://data/models/churn/run/manifest.json",
        model_name="churn",
        version=1,
    )
    load_bound_model(binding, store)
    return time.perf_counter() - started


def child_floor(folder: Path) -> float:
    started = time.perf_counter()
    import sklearn.compose
    import sklearn.ensemble
    import sklearn.impute
    import sklearn.preprocessing  # noqa: F401
    import skops.io as sio

    data = (folder / "model.skops").read_bytes()
    sio.loads(data, trusted=sio.get_untrusted_types(data=data))
    return time.perf_counter() - started


def child_latency(folder: Path, repeat: int) -> dict[str, float]:
    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from fakes import InMemoryObjectStore

    from mlops_core.prediction import (
        ModelBinding,
        RequestLimits,
        load_bound_model,
        read_instances,
        response_body,
    )

    store = InMemoryObjectStore("data")
    store.put("m/model.skops", (folder / "model.skops").read_bytes())
    store.put("m/manifest.json", (folder / "manifest.json").read_bytes())
    manifest = json.loads((folder / "manifest.json").read_text())
    model = load_bound_model(
        ModelBinding(
            artifact_uri="s3://data/m/model.skops",
            artifact_sha256=manifest["artifact_sha256"],
            manifest_uri="s3://data/m/manifest.json",
            model_name="churn",
            version=1,
        ),
        store,
    )
    rows = json.loads((folder / "rows.json").read_text())
    limits = RequestLimits(max_instances=1000, max_body_bytes=5_000_000)
    result: dict[str, float] = {}
    for size in (1, 1000):
        body = json.dumps({"instances": rows[:size]}).encode()
        timings = []
        for _ in range(repeat if size == 1 else max(repeat // 10, 20)):
            begin = time.perf_counter()
            instances = read_instances(body, "application/json", model.fields, limits)
            response_body(model, "bench", model.predict(instances))
            timings.append((time.perf_counter() - begin) * 1000)
        timings.sort()
        result[f"p50_{size}"] = statistics.median(timings)
        result[f"p99_{size}"] = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return result


def _child(*args: str) -> object:
    out = subprocess.run([sys.executable, __file__, *args], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1].startswith("--child-"):
        mode, folder = sys.argv[1], Path(sys.argv[2])
        if mode == "--child-cold":
            print(json.dumps(child_cold(folder)))
        elif mode == "--child-floor":
            print(json.dumps(child_floor(folder)))
        else:
            print(json.dumps(child_latency(folder, int(sys.argv[3]))))
        return 0
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        prepare(folder)
        cold, floor = [], []
        for _ in range(5):  # interleaved: noise hits both alike
            cold.append(float(_child("--child-cold", str(folder))))  # type: ignore[arg-type]
            floor.append(float(_child("--child-floor", str(folder))))  # type: ignore[arg-type]
        latency = _child("--child-latency", str(folder), "300")
    cold_s, floor_s = statistics.median(cold), statistics.median(floor)
    print(f"cold start (imports + bound model load)   {cold_s:6.2f} s   median of 5 fresh processes")
    print(
        f"floor (the pipeline's modules + skops.load) {floor_s:6.2f} s   "
        f"ratio {cold_s / floor_s:.2f}x (goal <= 1.2x)"
    )
    assert isinstance(latency, dict)
    print(f"latency 1 row      p50 {latency['p50_1']:7.2f} ms   p99 {latency['p99_1']:7.2f} ms")
    print(f"latency 1000 rows  p50 {latency['p50_1000']:7.2f} ms   p99 {latency['p99_1000']:7.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
