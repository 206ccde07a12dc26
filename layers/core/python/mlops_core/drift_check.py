"""One drift check of one model: its production version's baseline against the last days of capture.

``check_model_drift`` reads the registry's ``production`` alias, that version's
``baseline.json``, the dataset's contract (its ``drift:`` section) and the capture window;
compares them feature by feature; and writes ``reports/drift/<model>/<run_id>.json`` and
``reports/drift/<model>/latest.json``. The K-of-N confirmation is carried from run to run in
``latest.json`` (the last ``confirm.runs`` verdicts of the same version); a new version
starts afresh. What to do about a confirmed drift (metrics, alerts, retraining) is the
caller's: the result says ``confirmed`` and ``retrain``.

A model with no production version, no baseline or too little traffic gets a report with
status ``skipped`` or ``insufficient_data`` and the reason; nothing here raises for them.
Needs numpy and pydantic; neither pandas nor pyarrow.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.contracts import contract_key, load_contract
from mlops_core.drift.compare import FeatureDrift, compare_window
from mlops_core.drift.spec import DriftSpec, drift_spec
from mlops_core.drift.window import read_capture_window
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.registry.store import DEFAULT_ALIAS, ModelRegistry
from mlops_core.training.baseline import DriftBaseline

REPORT_PREFIX = "reports/drift"

Status = Literal["drifted", "stable", "insufficient_data", "skipped"]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class WindowSummary(_Frozen):
    start: date
    end: date
    files: int
    records: int
    malformed: int
    instances: int
    sampled: bool


class DriftReport(_Frozen):
    """``reports/drift/<model>/<run_id>.json``; ``latest.json`` is the same document."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int | None
    run_id: str
    checked_at: datetime
    status: Status
    reason: str | None = None
    window: WindowSummary | None = None
    drifted_share: float | None = None
    drifted_share_threshold: float | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: list[FeatureDrift] = Field(default_factory=list)
    unknown_features: list[str] = Field(default_factory=list)
    #: Verdicts of this version's last runs, oldest first (True: the run drifted).
    recent: list[bool] = Field(default_factory=list)
    confirm_runs: int = 1
    confirm_drifted: int = 1
    confirmed: bool = False
    retrain: bool = False


def report_key(model: str, run_id: str) -> str:
    return f"{REPORT_PREFIX}/{model}/{run_id}.json"


def latest_key(model: str) -> str:
    return f"{REPORT_PREFIX}/{model}/latest.json"


def check_model_drift(
    model: str,
    *,
    registry: ModelRegistry,
    store: ObjectStore,
    now: datetime,
    run_id: str,
    alias: str = DEFAULT_ALIAS,
) -> DriftReport:
    """Check ``model`` and store its report; returns the report (also for skipped checks)."""
    pointer = registry.alias(model, alias)
    report = DriftReport(model=model, version=None, run_id=run_id, checked_at=now, status="skipped")
    if pointer is None:
        return _store(store, report.model_copy(update={"reason": f"no {alias} version"}))
    version = registry.get(model, pointer.version)
    report = report.model_copy(update={"version": version.version})
    if not version.baseline_uri:
        return _store(store, report.model_copy(update={"reason": "the version has no baseline"}))
    baseline = DriftBaseline.model_validate_json(store.read_text(_key(store, version.baseline_uri)))
    spec = _spec(store, baseline.dataset)
    end = now.date()
    start = end - timedelta(days=spec.window_days - 1)
    window = read_capture_window(
        store, model, start, end, version=version.version, max_instances=spec.max_instances
    )
    tested = [f for f in baseline.features if f.name not in spec.ignored]
    names = {f.name for f in tested}
    comparison = compare_window(
        baseline.model_copy(update={"features": tested}),
        window.instances,
        methods=spec.methods(names),
        thresholds={k: v for k, v in spec.thresholds().items() if k in names},
        min_window=spec.min_window,
    )
    previous = _previous(store, model, version.version)
    report = report.model_copy(
        update={
            "window": WindowSummary(
                start=start,
                end=end,
                files=window.files,
                records=window.records,
                malformed=window.malformed,
                instances=len(window.instances),
                sampled=window.sampled,
            ),
            "features": comparison.features,
            "unknown_features": comparison.unknown_features,
            "drifted_share_threshold": spec.drifted_share,
            "confirm_runs": spec.confirm.runs,
            "confirm_drifted": spec.confirm.drifted,
            "recent": previous[-spec.confirm.runs :],  # a run without a verdict keeps the history
        }
    )
    if not comparison.tested:
        reason = (
            f"{window.records} captured records from {start} to {end}; a feature needs at least "
            f"min_window={spec.min_window} non-null values"
        )
        return _store(store, report.model_copy(update={"status": "insufficient_data", "reason": reason}))
    run_drifted = comparison.drifted_share >= spec.drifted_share
    recent = [*previous, run_drifted][-spec.confirm.runs :]
    confirmed = sum(recent) >= spec.confirm.drifted
    return _store(
        store,
        report.model_copy(
            update={
                "status": "drifted" if run_drifted else "stable",
                "drifted_share": comparison.drifted_share,
                "drifted_features": comparison.drifted,
                "recent": recent,
                "confirmed": confirmed,
                "retrain": confirmed and spec.retrain,
            }
        ),
    )


def _spec(store: ObjectStore, dataset: str) -> DriftSpec:
    key = contract_key(dataset)
    try:
        text = store.read_text(key)
    except ObjectMissing:
        return DriftSpec()  # the contract was removed: check with the defaults
    return drift_spec(load_contract(text, source=store.uri(key)), source=store.uri(key))


def _previous(store: ObjectStore, model: str, version: int) -> list[bool]:
    """The verdicts carried by the last report, if it was of the same version and had one."""
    try:
        document = json.loads(store.read_text(latest_key(model)))
    except (ObjectMissing, ValueError):
        return []
    if not isinstance(document, dict) or document.get("version") != version:
        return []
    recent = document.get("recent")
    return [bool(v) for v in recent] if isinstance(recent, list) else []


def _key(store: ObjectStore, uri: str) -> str:
    prefix = f"s3://{store.bucket}/"
    if not uri.startswith(prefix):
        raise ValueError(f"the baseline {uri} is not in the bucket {store.bucket}")
    return uri.removeprefix(prefix)


def _store(store: ObjectStore, report: DriftReport) -> DriftReport:
    document = report.model_dump_json(indent=2)
    store.put_json(report_key(report.model, report.run_id), document)
    store.put_json(latest_key(report.model), document)
    return report
