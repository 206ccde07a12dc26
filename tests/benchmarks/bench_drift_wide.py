"""The drift check on 1,000,000 captured rows x 50 features, beside Evidently's data drift preset.

``make bench`` runs it (not in CI). The parent generates, once, under
``bench-data/drift-wide/``:

* a data contract of 50 features (35 numeric: 10 integer, 25 float of 2, 4 or 17 significant
  decimals; 15 categorical: 10 categories of 3 to 40 values, 5 booleans; a few nullable) and a
  boolean target;
* a training frame of ``--train-rows`` rows and the model's ``DriftBaseline`` computed from it
  with ``compute_baseline`` (the training stage's own code);
* the capture window: ``--rows`` records as ``CaptureRecord.to_line()`` writes them, GZIP
  (level 6), ``RECORDS_PER_OBJECT`` records per object, in
  ``capture/wide/dt=<day>/part-<n>.gz`` over the 7 days of the contract's window. The window
  drifts on purpose in 5 numeric and 2 categorical features (``DRIFTED``).

Then each measurement runs in a fresh child process, so that imports are cold and the peak RSS
(VmHWM) is the child's own:

* ``mlops``: ``check_model_drift`` end to end (registry alias, baseline, contract, list the
  prefixes, read and sample the window, compare 50 features and the prediction, write the
  report) on the unit tests' in-memory bucket holding the GZIP objects; the first ``n`` rows
  are the first ``n / RECORDS_PER_OBJECT`` objects;
* ``evidently``: ``tests/benchmarks/bench_drift_evidently.py`` in ``.venv-evidently`` (Evidently
  0.7 with pandas 2.3; it does not import with pandas 3): the same objects read with gzip +
  json into a DataFrame, then ``Report([DataDriftPreset()])`` on the training frame as
  reference and those rows as current, the same 50 columns declared numerical or categorical.

Evidently is measured at ``--evidently-rows`` (by default 100,000, 200,000 and 1,000,000: about
6 minutes and 10 GB at the largest, ``--evidently-timeout`` caps each run). When the largest
size is not measured, its time is extrapolated linearly through the two smallest sizes
(``t(n) = a + b n``), and the extrapolation is printed beside a measurement for comparison;
peak memory is only ever reported as measured. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_DIR = REPO_ROOT / "bench-data" / "drift-wide"
EVIDENTLY_PYTHON = REPO_ROOT / ".venv-evidently" / "bin" / "python"
EVIDENTLY_SCRIPT = Path(__file__).with_name("bench_drift_evidently.py")
MODEL = "wide"
DATASET = "wide"
RECORDS_PER_OBJECT = 20_000
WINDOW_END = date(2026, 11, 20)
WINDOW_DAYS = 7
GENERATOR_VERSION = 1
RESULT_PREFIX = "BENCH-RESULT "

GOAL_SECONDS = 5.0
GOAL_VS_EVIDENTLY = 50.0
GOAL_RSS_MB = 1024.0

NUMERIC_STEMS = (
    "account_age_days",
    "monthly_spend",
    "sessions_last_30d",
    "avg_session_minutes",
    "support_calls",
    "balance",
    "credit_utilisation",
    "days_since_login",
    "page_views",
    "basket_value",
    "discount_rate",
    "latency_ms",
)
CATEGORY_STEMS = ("country", "device", "plan", "channel", "browser", "segment", "region", "payment")
BOOLEAN_STEMS = ("autopay", "newsletter", "mobile_app", "promo_opt_in", "two_factor")
#: Features whose window distribution is shifted on purpose.
DRIFTED = ("n03_avg_session_minutes", "n07_days_since_login", "n12_monthly_spend", "n21_credit_utilisation")
DRIFTED += ("n30_latency_ms", "c02_plan", "c07_payment")


def schema() -> list[dict[str, Any]]:
    """The 50 features: name, contract type, and how the values are drawn."""
    columns: list[dict[str, Any]] = []
    for i in range(35):
        stem = NUMERIC_STEMS[i % len(NUMERIC_STEMS)]
        if i < 10:
            kind, decimals = "integer", 0
        elif i < 25:
            kind, decimals = "float", 2 if i % 2 else 4
        elif i < 30:
            kind, decimals = "float", 4
        else:
            kind, decimals = "float", None  # full precision (17 significant digits)
        columns.append(
            {"name": f"n{i:02d}_{stem}", "type": kind, "decimals": decimals, "nullable": i % 7 == 3}
        )
    sizes = (3, 5, 8, 12, 20, 40, 4, 6, 10, 25)
    for i, size in enumerate(sizes):
        stem = CATEGORY_STEMS[i % len(CATEGORY_STEMS)]
        values = [f"{stem}_{v:02d}" for v in range(size)]
        columns.append(
            {"name": f"c{i:02d}_{stem}", "type": "category", "allowed": values, "nullable": i == 4}
        )
    for i, stem in enumerate(BOOLEAN_STEMS):
        columns.append({"name": f"b{i:02d}_{stem}", "type": "boolean", "nullable": False})
    return columns


def contract_text() -> str:
    lines = [
        f"dataset: {DATASET}",
        "version: 1",
        "description: Generated 50-feature dataset for the wide drift benchmark.",
        "format: csv",
        "columns:",
    ]
    for column in schema():
        lines.append(f"  - name: {column['name']}")
        lines.append(f"    type: {column['type']}")
        if column["type"] in ("integer", "float"):
            lines.append("    min: 0")
        if column.get("allowed"):
            lines.append(f"    allowed: [{', '.join(column['allowed'])}]")
        if column["nullable"]:
            lines.append("    nullable: true")
    lines += [
        "  - name: label",
        "    type: boolean",
        "    role: target",
        "training:",
        "  task: classification",
        "  target: label",
        "  estimator: hist_gradient_boosting",
        "  metric: roc_auc",
        "drift:",
        f"  window_days: {WINDOW_DAYS}",
    ]
    return "\n".join(lines) + "\n"


def draw(rows: int, seed: int, *, drifted: bool) -> dict[str, list[Any]]:
    """Column-wise values (Python objects, ``None`` for nulls) of ``rows`` rows."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out: dict[str, list[Any]] = {}
    for number, column in enumerate(schema()):
        name = column["name"]
        shift = drifted and name in DRIFTED
        if column["type"] in ("integer", "float"):
            scale = 10.0 ** (number % 4)
            values = rng.lognormal(mean=1.0, sigma=0.6, size=rows) * scale
            if shift:
                values *= 1.35
            if column["type"] == "integer":
                cells: list[Any] = np.rint(values).astype(np.int64).tolist()
            elif column["decimals"] is None:
                cells = values.tolist()
            else:
                cells = np.round(values, column["decimals"]).tolist()
            if column["nullable"]:
                for i in np.flatnonzero(rng.random(rows) < 0.02).tolist():
                    cells[i] = None
        elif column["type"] == "category":
            allowed = column["allowed"]
            weights = np.linspace(1.0, 3.0, len(allowed))
            if shift:
                weights = weights[::-1] ** 2
            picks = rng.choice(len(allowed), size=rows, p=weights / weights.sum())
            cells = [allowed[p] for p in picks.tolist()]
            if column["nullable"]:
                for i in np.flatnonzero(rng.random(rows) < 0.02).tolist():
                    cells[i] = None
        else:
            cells = (rng.random(rows) < 0.3 + 0.05 * (number % 5)).tolist()
        out[name] = cells
    out["label"] = (rng.random(rows) < 0.2).tolist()
    return out


def _write_object(task: tuple[int, int, Path]) -> int:
    from mlops_core.capture import CaptureRecord

    number, rows, folder = task
    columns = draw(rows, seed=1000 + number, drifted=True)
    names = [c["name"] for c in schema()]
    day = WINDOW_END - timedelta(days=WINDOW_DAYS - 1 - number % WINDOW_DAYS)
    when = datetime(day.year, day.month, day.day, 9, 0, tzinfo=UTC)
    lines = []
    for i, (label, *values) in enumerate(zip(columns["label"], *(columns[n] for n in names), strict=True)):
        record = CaptureRecord(
            model=MODEL,
            version=1,
            request_id=f"req-{number:05d}-{i:06d}",
            time=when + timedelta(milliseconds=i),
            index=0,
            features=dict(zip(names, values, strict=True)),
            prediction=label,
            probabilities={"false": 0.8, "true": 0.2},
        )
        lines.append(record.to_line())
    target = folder / "capture" / f"dt={day.isoformat()}" / f"part-{number:05d}.gz"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(b"".join(lines), compresslevel=6, mtime=0))
    return rows


def prepare(rows: int, train_rows: int) -> Path:
    """Generate (once) the contract, training frame, baseline and capture objects; returns the folder."""
    folder = DATA_DIR / f"v{GENERATOR_VERSION}-{rows}-{train_rows}"
    done = folder / "done.json"
    if done.exists():
        return folder
    import pandas as pd

    from mlops_core.contracts import load_contract
    from mlops_core.training.baseline import compute_baseline
    from mlops_core.training.spec import training_spec

    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    (folder / "contract.yaml").write_text(contract_text())
    contract = load_contract(contract_text())
    frame = pd.DataFrame(draw(train_rows, seed=7, drifted=False))
    baseline = compute_baseline(frame, contract, training_spec(contract))
    (folder / "baseline.json").write_text(baseline.model_dump_json())
    frame.to_csv(folder / "train.csv", index=False)
    columns = schema()
    (folder / "columns.json").write_text(
        json.dumps(
            {
                "numerical": [c["name"] for c in columns if c["type"] in ("integer", "float")],
                "categorical": [c["name"] for c in columns if c["type"] in ("category", "boolean")],
                "drifted": list(DRIFTED),
            }
        )
    )
    objects = math.ceil(rows / RECORDS_PER_OBJECT)
    tasks = [(n, min(RECORDS_PER_OBJECT, rows - n * RECORDS_PER_OBJECT), folder) for n in range(objects)]
    with multiprocessing.get_context("spawn").Pool(os.cpu_count() or 1) as pool:
        written = sum(pool.imap(_write_object, tasks))
    size = sum(p.stat().st_size for p in (folder / "capture").rglob("*.gz"))
    done.write_text(json.dumps({"rows": written, "gzip_bytes": size}))
    print(
        f"generated {written:,} records in {objects} objects ({size / 1e6:.0f} MB GZIP) and a "
        f"{train_rows:,}-row training frame in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    return folder


def objects_for(folder: Path, rows: int) -> list[Path]:
    parts = sorted((folder / "capture").rglob("part-*.gz"), key=lambda p: p.name)
    wanted = math.ceil(rows / RECORDS_PER_OBJECT)
    if wanted > len(parts):
        raise SystemExit(f"{rows} rows asked; the data holds {len(parts) * RECORDS_PER_OBJECT}")
    return parts[:wanted]


def peak_rss_mb() -> float:
    """VmHWM: reset by exec, unlike ru_maxrss, which keeps the forking parent's high-water mark."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


# --------------------------------------------------------------------------------------
# The child that runs our check
# --------------------------------------------------------------------------------------


def child_mlops(folder: Path, rows: int, profile: Path | None) -> dict[str, Any]:
    started = time.perf_counter()
    from mlops_core.drift_check import check_model_drift

    imported = time.perf_counter()
    from mlops_core.drift.state import InMemoryDriftStateStore
    from mlops_core.registry import InMemoryModelRegistry
    from mlops_core.registry.entities import Lineage

    sys.path.insert(0, str(REPO_ROOT / "tests" / "unit"))
    from fakes import InMemoryObjectStore  # the unit tests' in-memory bucket

    store = InMemoryObjectStore("data")
    store.put(f"contracts/{DATASET}.yaml", (folder / "contract.yaml").read_bytes())
    store.put(f"models/{MODEL}/run/baseline.json", (folder / "baseline.json").read_bytes())
    stored = 0
    for part in objects_for(folder, rows):
        body = part.read_bytes()
        stored += len(body)
        store.put(f"capture/{MODEL}/{part.parent.name}/{part.name}", body)
    registry = InMemoryModelRegistry()
    registry.register(
        MODEL,
        artifact_uri=f"s3://data/models/{MODEL}/run/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri=f"s3://data/models/{MODEL}/run/manifest.json",
        baseline_uri=f"s3://data/models/{MODEL}/run/baseline.json",
        metrics={"roc_auc": 0.8},
        primary_metric="roc_auc",
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        actor="bench",
    )
    registry.approve(MODEL, 1, actor="bench")
    registry.promote(MODEL, 1, actor="bench")
    now = datetime(WINDOW_END.year, WINDOW_END.month, WINDOW_END.day, 23, 0, tzinfo=UTC)
    before_mb = peak_rss_mb()

    def run() -> Any:
        return check_model_drift(
            MODEL, registry=registry, store=store, states=InMemoryDriftStateStore(), now=now, run_id="bench"
        )

    begin = time.perf_counter()
    cpu = time.process_time()
    if profile is not None:
        import cProfile

        profiler = cProfile.Profile()
        report = profiler.runcall(run)
        profiler.dump_stats(str(profile))
    else:
        report = run()
    elapsed = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    peak_mb = peak_rss_mb()
    assert report.window is not None and report.window.records == rows, report.window
    assert report.window.malformed == 0, report.window
    return {
        "import_s": imported - started,
        "seconds": elapsed,
        "cpu_s": cpu,
        "before_mb": before_mb,
        "peak_rss_mb": peak_mb,
        "gzip_mb": stored / 1e6,
        "instances": report.window.instances,
        "status": report.status,
        "drift_share": report.drift_share,
        "drifted": sorted(report.drifted_features),
        "tested": sum(1 for f in report.features.values() if f.status != "skipped"),
        "isal": sys.modules.get("isal") is not None,
    }


# --------------------------------------------------------------------------------------
# The parent
# --------------------------------------------------------------------------------------


def run_child(command: list[str], timeout: float | None = None) -> dict[str, Any]:
    completed = subprocess.run(command, check=False, capture_output=True, text=True, timeout=timeout)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stderr[-4000:]}")
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            result: dict[str, Any] = json.loads(line.removeprefix(RESULT_PREFIX))
            return result
    raise RuntimeError(f"no result from {' '.join(command)}:\n{completed.stdout[-2000:]}")


def mlops(folder: Path, rows: int, *, isal: bool = True) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", "mlops", "--folder", str(folder), "--rows", str(rows)]
    return run_child(command + ([] if isal else ["--no-isal"]))


def evidently(folder: Path, rows: int, timeout: float) -> dict[str, Any] | None:
    command = [str(EVIDENTLY_PYTHON), str(EVIDENTLY_SCRIPT), "--folder", str(folder), "--rows", str(rows)]
    try:
        return run_child(command, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None


def cores_available() -> float:
    """How many cores two busy threads get right now (zlib releases the GIL): 2.0 on an idle machine."""
    import threading
    import zlib

    data = zlib.compress(bytes(64 << 20), 1)

    def work() -> None:
        for _ in range(4):
            zlib.decompress(data)

    begin = time.perf_counter()
    work()
    alone = time.perf_counter() - begin
    threads = [threading.Thread(target=work) for _ in range(2)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 2 * alone / (time.perf_counter() - begin)


def machine() -> dict[str, Any]:
    from importlib import metadata

    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        int(line.split()[1]) / 1024 / 1024
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal:")
    )
    versions = {}
    for package in ("numpy", "pydantic", "isal"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "cpus": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(memory, 1),
        "python": platform.python_version(),
        **versions,
    }


def fit(points: list[tuple[int, float]]) -> tuple[float, float]:
    """Least-squares ``t = a + b n`` through the points (exact through two)."""
    mean_n = statistics.fmean(n for n, _ in points)
    mean_t = statistics.fmean(t for _, t in points)
    spread = sum((n - mean_n) ** 2 for n, _ in points)
    slope = sum((n - mean_n) * (t - mean_t) for n, t in points) / spread if spread else 0.0
    return mean_t - slope * mean_n, slope


def median_of(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(run[key] for run in runs))


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of the full-size check")
    parser.add_argument("--train-rows", type=int, default=200_000)
    parser.add_argument("--linearity", default="100000,300000,1000000", help="rows of the linearity runs")
    parser.add_argument(
        "--evidently-rows", default="100000,200000,1000000", help="rows Evidently is measured at"
    )
    parser.add_argument("--evidently-timeout", type=float, default=1800.0, help="seconds per Evidently run")
    parser.add_argument("--repeat", type=int, default=3, help="runs of our check per size (median)")
    parser.add_argument("--no-evidently", action="store_true")
    parser.add_argument("--output", type=Path, default=DATA_DIR / "results.json")
    parser.add_argument("--child", choices=("mlops",), help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--no-isal", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--profile", type=Path, help="child: write cProfile stats here")
    options = parser.parse_args()
    if options.child == "mlops":
        if options.no_isal:
            sys.modules["isal"] = None  # type: ignore[assignment]  # the standard library's zlib instead
        result = child_mlops(options.folder, options.rows, options.profile)
        print(RESULT_PREFIX + json.dumps(result))
        return 0

    sizes = sorted({int(n) for n in options.linearity.split(",")} | {options.rows})
    evidently_sizes = (
        [] if options.no_evidently else sorted(int(n) for n in options.evidently_rows.split(","))
    )
    if evidently_sizes and not EVIDENTLY_PYTHON.exists():
        print(f"{EVIDENTLY_PYTHON} is missing (make bench installs it); Evidently skipped", file=sys.stderr)
        evidently_sizes = []
    sizes = sorted(set(sizes) | set(evidently_sizes))
    folder = prepare(max(sizes), options.train_rows)
    host = machine()
    host["cores_available_before"] = round(cores_available(), 2)
    print(f"data: {folder}\nmachine: {host}", file=sys.stderr)

    ours: dict[int, list[dict[str, Any]]] = {n: [] for n in sizes}
    zlib_only: list[dict[str, Any]] = []
    theirs: dict[int, dict[str, Any] | None] = {}
    for round_number in range(options.repeat):
        # Interleaved, so that a noisy neighbour hits every size alike.
        for n in sizes if round_number % 2 == 0 else reversed(sizes):
            ours[n].append(mlops(folder, n))
            print(f"mlops {n:>9,} rows: {ours[n][-1]['seconds']:.2f} s", file=sys.stderr)
        zlib_only.append(mlops(folder, options.rows, isal=False))
        print(f"mlops {options.rows:>9,} rows, zlib: {zlib_only[-1]['seconds']:.2f} s", file=sys.stderr)
        if round_number == 0:
            for n in evidently_sizes:
                theirs[n] = evidently(folder, n, options.evidently_timeout)
                seconds = "timed out" if theirs[n] is None else f"{theirs[n]['seconds']:.1f} s"  # type: ignore[index]
                print(f"evidently {n:>9,} rows: {seconds}", file=sys.stderr)
    host["cores_available_after"] = round(cores_available(), 2)
    report(options, host, ours, zlib_only, theirs)
    return 0


def report(
    options: argparse.Namespace,
    host: dict[str, Any],
    ours: dict[int, list[dict[str, Any]]],
    zlib_only: list[dict[str, Any]],
    theirs: dict[int, dict[str, Any] | None],
) -> None:
    full = options.rows
    measured = {n: r for n, r in theirs.items() if r is not None}
    estimate: dict[str, Any] | None = None
    smaller = sorted(n for n in measured if n < full)[:2]
    if len(smaller) == 2:  # linear through the two smallest sizes (shown even when full was measured)
        a, b = fit([(n, measured[n]["seconds"]) for n in smaller])
        estimate = {
            "seconds": a + b * full,
            "fit": f"t = {a:.1f} s + {b * 1e5:.1f} s per 100,000 rows, "
            f"through {smaller[0]:,} and {smaller[1]:,}",
        }
    print()
    print(
        "| rows | mlops s | mlops CPU s | mlops peak RSS MB | Evidently s | Evidently peak RSS MB | ratio |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for n, runs in ours.items():
        seconds = median_of(runs, "seconds")
        theirs_n = measured.get(n)
        their_s, their_rss, ratio = "", "", ""
        if theirs_n is not None:
            their_s, their_rss = f"{theirs_n['seconds']:.1f}", f"{theirs_n['peak_rss_mb']:.0f}"
            ratio = f"{theirs_n['seconds'] / seconds:.0f}x"
        elif n == full and estimate is not None:
            their_s, their_rss = f"~{estimate['seconds']:.0f} (extrapolated)", "not measured"
            ratio = f"{estimate['seconds'] / seconds:.0f}x"
        rss = max(r["peak_rss_mb"] for r in runs)
        print(
            f"| {n:,} | {seconds:.2f} | {median_of(runs, 'cpu_s'):.2f} | {rss:.0f} "
            f"| {their_s} | {their_rss} | {ratio} |"
        )
    if zlib_only:
        print(
            f"\n{full:,} rows without isal (the standard library's zlib): "
            f"{median_of(zlib_only, 'seconds'):.2f} s, CPU {median_of(zlib_only, 'cpu_s'):.2f} s"
        )
    if estimate is not None:
        print(
            f"Evidently at {full:,} rows extrapolated linearly: "
            f"~{estimate['seconds']:.0f} s ({estimate['fit']})"
        )
    for n, r in measured.items():
        print(
            f"Evidently {n:,} rows: read {r['read_s']:.1f} s + report {r['report_s']:.1f} s; "
            f"drifted {r['drifted']} (share {r['drift_share']})"
        )
    top = ours[full][0]
    print(f"mlops drifted {top['drifted']} (share {top['drift_share']}), {top['tested']} features tested")

    times = {n: median_of(runs, "seconds") for n, runs in ours.items()}
    linear = sorted(int(n) for n in options.linearity.split(","))
    print("\nlinearity: " + ", ".join(f"{n:,} rows {times[n]:.2f} s" for n in linear))
    seconds = times[full]
    rss = max(r["peak_rss_mb"] for r in ours[full])
    goals = [
        (f"under {GOAL_SECONDS:.0f} s for {full:,} x 50", seconds < GOAL_SECONDS, f"{seconds:.2f} s"),
        (f"peak RSS under {GOAL_RSS_MB:.0f} MB", rss < GOAL_RSS_MB, f"{rss:.0f} MB"),
    ]
    their_full = measured.get(full, estimate)
    if their_full is not None:
        ratio_full = their_full["seconds"] / seconds
        goals.append(
            (
                f"at least {GOAL_VS_EVIDENTLY:.0f}x faster than Evidently",
                ratio_full >= GOAL_VS_EVIDENTLY,
                f"{ratio_full:.0f}x" + ("" if full in measured else " (Evidently extrapolated)"),
            )
        )
    if len(linear) >= 3:
        # Linear: each added row costs no more at the large end than at the small end (the
        # marginal cost; 20 % for noise). A fixed part (parsing and comparing the sample) is allowed.
        first = (times[linear[1]] - times[linear[0]]) / (linear[1] - linear[0]) * 1e6
        last = (times[linear[-1]] - times[linear[-2]]) / (linear[-1] - linear[-2]) * 1e6
        goals.append(
            (
                "time linear in rows",
                last <= 1.2 * max(first, 0.0),
                f"{first:.2f} us per added row from {linear[0]:,} to {linear[1]:,}, "
                f"{last:.2f} from {linear[-2]:,} to {linear[-1]:,}",
            )
        )
    print()
    for name, ok, value in goals:
        print(f"{verdict(ok)}  {name}: {value}")
    print(f"\nmachine: {host}")
    options.output.parent.mkdir(parents=True, exist_ok=True)
    options.output.write_text(
        json.dumps(
            {
                "machine": host,
                "mlops": {str(n): runs for n, runs in ours.items()},
                "mlops_zlib": zlib_only,
                "evidently": {str(n): r for n, r in theirs.items()},
                "evidently_estimate": estimate,
                "goals": [{"goal": g, "pass": ok, "value": v} for g, ok, v in goals],
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    sys.exit(main())
