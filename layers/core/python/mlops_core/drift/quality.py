"""Model quality with ground truth: a version's metrics on labelled live traffic.

Users upload labels to ``ground-truth/<model>/`` (any key below it): CSV with a header naming
``request_id`` and ``label`` (and optionally ``index``, default 0), or JSON lines
``{"request_id": ..., "label": ..., "index": 0}``, GZIP-compressed or plain. The check

1. reads every object under the prefix (``read_ground_truth``): labels keyed by
   ``(request_id, index)``, at most ``max_labels`` of them (the last label of a key wins);
   a line that cannot be read is counted, with the first few as examples, never fatal;
2. joins them with the capture records of one version over the window's days
   (``join_predictions``), keeping each matched prediction and its probabilities;
3. computes the version's registered metrics on the joined rows, in numpy, as training
   computes them (``check_quality``), and compares the decisive metric with its registered
   value: worse by more than ``max_drop`` is a degraded run;
4. keeps the verdicts of the last runs of the version (``sk = QUALITY`` beside the drift
   state) for the same K-of-N confirmation as drift, and writes
   ``reports/quality/<model>/<run_id>.json`` and ``latest.json`` (``check_model_quality``).

Memory is bounded by ``max_labels``: the labels, the set of matched keys and the joined rows
each hold at most that many entries (about 0.5 KB per label with its joined prediction and
two probabilities, so about 500 MB at the default of 1,000,000; docs/drift.md). The
store's listing gives no modification times, so every object under the prefix is read;
the join with the window decides which labels count. Needs numpy and pydantic; neither
pandas, pyarrow nor scikit-learn.
"""

from __future__ import annotations

import csv
import json
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_core.contracts import contract_key
from mlops_core.drift.spec import DriftSpec, QualitySpec, drift_spec
from mlops_core.drift.state import DriftStateStore, record_verdict
from mlops_core.drift.window import capture_prefixes, object_lines
from mlops_core.drift_check import read_contract
from mlops_core.object_store import ObjectMissing, ObjectStore
from mlops_core.registry.entities import ModelVersion
from mlops_core.registry.store import DEFAULT_ALIAS, ModelRegistry
from mlops_core.training.baseline import DriftBaseline
from mlops_core.training.manifest import ModelManifest
from mlops_core.training.spec import METRICS, Task

__all__ = [
    "GroundTruth",
    "GroundTruthSummary",
    "JoinedWindow",
    "MalformedLine",
    "MetricQuality",
    "QualityReport",
    "QualitySpec",
    "QualityWindow",
    "check_model_quality",
    "check_quality",
    "join_predictions",
    "read_ground_truth",
]

GROUND_TRUTH_PREFIX = "ground-truth"
REPORT_PREFIX = "reports/quality"
#: Labels kept from the ground truth; more are counted in ``over_limit`` and left out.
DEFAULT_MAX_LABELS = 1_000_000
#: Malformed lines reported with their file, line and reason.
MALFORMED_EXAMPLES = 10
#: Metric name -> True when higher is better (the training metrics of both tasks).
HIGHER_IS_BETTER: dict[str, bool] = {name: up for metrics in METRICS.values() for name, up in metrics.items()}

Status = Literal["ok", "degraded", "insufficient_data", "skipped"]
Label = bool | int | float | str
LabelKey = tuple[str, int]

_GZIP_ERRORS = (OSError, EOFError, zlib.error)


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- ground truth ---------------------------------------------------------------------------


class MalformedLine(_Frozen):
    """A ground-truth line that could not be read: the object, its line (1-based) and why."""

    file: str
    line: int
    reason: str


class GroundTruthSummary(_Frozen):
    """What ``read_ground_truth`` read.

    ``rows`` counts non-empty lines other than CSV headers; ``malformed`` those that could not
    be read (a CSV file without a usable header: all its lines); ``duplicates`` rows whose key
    was already read (the last one wins); ``over_limit`` new keys left out past ``max_labels``.
    """

    prefix: str
    files: int = 0
    rows: int = 0
    labels: int = 0
    malformed: int = 0
    duplicates: int = 0
    over_limit: int = 0
    malformed_examples: list[MalformedLine] = Field(default_factory=list)


class GroundTruth(BaseModel):
    """Labels keyed by ``(request_id, index)``, filled while reading, and the counts."""

    model_config = ConfigDict(extra="forbid")

    prefix: str
    labels: dict[LabelKey, Label] = Field(default_factory=dict, exclude=True, repr=False)
    files: int = 0
    rows: int = 0
    malformed: int = 0
    duplicates: int = 0
    over_limit: int = 0
    malformed_examples: list[MalformedLine] = Field(default_factory=list)

    def summary(self) -> GroundTruthSummary:
        return GroundTruthSummary(
            prefix=self.prefix,
            files=self.files,
            rows=self.rows,
            labels=len(self.labels),
            malformed=self.malformed,
            duplicates=self.duplicates,
            over_limit=self.over_limit,
            malformed_examples=list(self.malformed_examples),
        )

    def _bad(self, file: str, line: int, reason: str) -> None:
        self.malformed += 1
        if len(self.malformed_examples) < MALFORMED_EXAMPLES:
            self.malformed_examples.append(MalformedLine(file=file, line=line, reason=reason))

    def _add(self, key: LabelKey, label: Label, max_labels: int) -> None:
        if key in self.labels:
            self.duplicates += 1
        elif len(self.labels) >= max_labels:
            self.over_limit += 1
            return
        self.labels[key] = label


def ground_truth_prefix(model: str) -> str:
    if not model or "/" in model:
        raise ValueError(f"model name {model!r} cannot be a ground-truth prefix")
    return f"{GROUND_TRUTH_PREFIX}/{model}/"


def read_ground_truth(store: ObjectStore, model: str, *, max_labels: int = DEFAULT_MAX_LABELS) -> GroundTruth:
    """Every label under ``ground-truth/<model>/``, in key order then line order (the last wins).

    The format of each object is told by its first non-empty line: ``{`` starts JSON lines,
    anything else is a CSV header. Objects are streamed line by line, GZIP or plain.
    """
    if max_labels < 1:
        raise ValueError("max_labels must be at least 1")
    prefix = ground_truth_prefix(model)
    truth = GroundTruth(prefix=prefix)
    for key in store.list_keys(prefix):
        if key.endswith("/"):
            continue  # a folder marker
        try:
            body = store.open(key)
        except ObjectMissing:
            continue  # deleted since it was listed
        truth.files += 1
        number = 0
        try:
            lines = object_lines(body)
            parse = None
            for number, raw in enumerate(lines, start=1):
                parse = _read_line(truth, key, number, raw, parse=parse, max_labels=max_labels)
        except _GZIP_ERRORS as error:
            truth._bad(key, number + 1, f"the object cannot be read past this line: {error}")
    return truth


class _CsvHeader(BaseModel):
    model_config = ConfigDict(frozen=True)

    columns: int
    request_id: int | None
    label: int | None
    index: int | None

    @property
    def usable(self) -> bool:
        return self.request_id is not None and self.label is not None


def _read_line(
    truth: GroundTruth,
    file: str,
    number: int,
    raw: bytes,
    *,
    parse: _CsvHeader | Literal["json"] | None,
    max_labels: int,
) -> _CsvHeader | Literal["json"] | None:
    """Read one line into ``truth``; returns how the next lines of the object are read."""
    try:
        text = raw.decode("utf-8").rstrip("\r\n")
    except UnicodeDecodeError:
        truth.rows += 1
        truth._bad(file, number, "not UTF-8 text")
        return parse
    if parse is None:
        text = text.removeprefix("\ufeff")
    if not text.strip():
        return parse
    if parse is None:
        if text.lstrip().startswith("{"):
            parse = "json"
        else:
            header = _csv_header(text)
            if not header.usable:
                truth.rows += 1
                truth._bad(
                    file,
                    number,
                    "the CSV header must name request_id and label (and optionally index); "
                    f"found {text[:200]!r}",
                )
            return header
    truth.rows += 1
    if isinstance(parse, _CsvHeader) and not parse.usable:
        truth.malformed += 1  # the header's example says why
        return parse
    row = _json_row(text) if not isinstance(parse, _CsvHeader) else _csv_row(text, parse)
    if isinstance(row, str):
        truth._bad(file, number, row)
    else:
        truth._add(row[0], row[1], max_labels)
    return parse


def _csv_header(text: str) -> _CsvHeader:
    names = [name.strip().lower() for name in _csv_fields(text) or []]
    return _CsvHeader(
        columns=len(names),
        request_id=names.index("request_id") if "request_id" in names else None,
        label=names.index("label") if "label" in names else None,
        index=names.index("index") if "index" in names else None,
    )


def _csv_fields(text: str) -> list[str] | None:
    try:
        return next(csv.reader([text]), [])
    except csv.Error:
        return None


def _csv_row(text: str, header: _CsvHeader) -> tuple[LabelKey, Label] | str:
    if header.request_id is None or header.label is None:
        return "the file has no CSV header naming request_id and label"
    fields = _csv_fields(text)
    if fields is None:
        return "not a CSV line"
    if len(fields) != header.columns:
        return f"{len(fields)} fields where the header has {header.columns}"
    request_id = fields[header.request_id].strip()
    label = fields[header.label].strip()
    index_text = fields[header.index].strip() if header.index is not None else ""
    if not request_id:
        return "request_id is empty"
    if not label:
        return "label is empty"
    index: Any = 0
    if index_text:
        try:
            index = int(index_text)
        except ValueError:
            return f"index {index_text[:40]!r} is not an integer"
    return _checked((request_id, index), label)


def _json_row(text: str) -> tuple[LabelKey, Label] | str:
    try:
        row = json.loads(text)
    except (ValueError, RecursionError):
        return "not JSON"
    if not isinstance(row, dict):
        return "not a JSON object"
    request_id = row.get("request_id")
    if isinstance(request_id, int) and not isinstance(request_id, bool):
        request_id = str(request_id)
    if not isinstance(request_id, str) or not request_id.strip():
        return "request_id must be non-empty text"
    label = row.get("label")
    if label is None:
        return "label is missing or null"
    if not isinstance(label, bool | int | float | str):
        return "label must be a number, a boolean or text"
    if isinstance(label, float) and not math.isfinite(label):
        return "label is not a finite number"
    if isinstance(label, str):
        label = label.strip()
        if not label:
            return "label is empty"
    index = row.get("index", 0)
    return _checked((request_id.strip(), 0 if index is None else index), label)


def _checked(key: tuple[str, Any], label: Label) -> tuple[LabelKey, Label] | str:
    index = key[1]
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        return f"index {index!r} is not a non-negative integer"
    return (key[0], index), label


# --- the join -------------------------------------------------------------------------------


class QualityWindow(_Frozen):
    """The capture read for the join: days, objects, records of the version, unreadable lines.

    ``other_versions``: records of a labelled request served by another version (a canary's);
    ``duplicates``: records of an already joined request (the first is kept).
    """

    start: date
    end: date
    files: int = 0
    records: int = 0
    malformed: int = 0
    other_versions: int = 0
    duplicates: int = 0


class JoinedWindow(BaseModel):
    """The labelled predictions of one version: ``labels[i]`` is the truth of ``predictions[i]``."""

    model_config = ConfigDict(extra="forbid")

    model: str
    version: int
    window: QualityWindow
    ground_truth: GroundTruthSummary
    labels: list[Label] = Field(default_factory=list, exclude=True, repr=False)
    predictions: list[Any] = Field(default_factory=list, exclude=True, repr=False)
    probabilities: list[dict[str, float] | None] = Field(default_factory=list, exclude=True, repr=False)
    #: Labels without a capture record of the version in the window.
    unmatched_labels: int = 0

    @property
    def joined(self) -> int:
        return len(self.labels)


def join_predictions(
    store: ObjectStore,
    model: str,
    version: int,
    truth: GroundTruth,
    *,
    start: date,
    end: date,
) -> JoinedWindow:
    """Match the capture records of ``version`` from ``start`` to ``end`` with the labels.

    Without labels nothing can match, and the capture is not read at all: most models have no
    ground truth, and the hourly drift check has just read their window.
    """
    labels = truth.labels
    matched: set[LabelKey] = set()
    joined = JoinedWindow(
        model=model,
        version=version,
        window=QualityWindow(start=start, end=end),
        ground_truth=truth.summary(),
    )
    if not labels:
        return joined
    counts = {"files": 0, "records": 0, "malformed": 0, "other_versions": 0, "duplicates": 0}
    for prefix in capture_prefixes(model, start, end):
        for key in store.list_keys(prefix):
            try:
                body = store.open(key)
            except ObjectMissing:
                continue  # deleted since it was listed
            counts["files"] += 1
            try:
                for line in object_lines(body):
                    record = _capture_record(line, model)
                    if record is None:
                        counts["malformed"] += 1 if line.strip() else 0
                        continue
                    request = (record["request_id"], record["index"])
                    if record["version"] != version:
                        counts["other_versions"] += 1 if request in labels else 0
                        continue
                    counts["records"] += 1
                    label = labels.get(request)
                    if label is None:
                        continue
                    if request in matched:
                        counts["duplicates"] += 1
                        continue
                    matched.add(request)
                    joined.labels.append(label)
                    joined.predictions.append(record["prediction"])
                    joined.probabilities.append(record["probabilities"])
            except _GZIP_ERRORS:
                counts["malformed"] += 1  # the rest of a broken object
    joined.window = QualityWindow(start=start, end=end, **counts)
    joined.unmatched_labels = len(labels) - len(matched)
    return joined


def _capture_record(line: bytes, model: str) -> dict[str, Any] | None:
    """The fields the join needs, or None for a line that is not a record of ``model``."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(record, dict) or record.get("model") != model:
        return None
    request_id, index, version = record.get("request_id"), record.get("index"), record.get("version")
    if not isinstance(request_id, str) or not _integer(index):
        return None
    if version is not None and not _integer(version):
        return None
    probabilities = record.get("probabilities")
    if not isinstance(probabilities, dict) or not all(
        isinstance(p, int | float) and not isinstance(p, bool) for p in probabilities.values()
    ):
        probabilities = None
    return {
        "request_id": request_id,
        "index": index,
        "version": version,
        "prediction": record.get("prediction"),
        "probabilities": probabilities,
    }


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# --- metrics (numpy; checked against scikit-learn in the tests) ------------------------------

Floats = npt.NDArray[np.float64]


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    return float(np.mean(np.asarray(y_true, dtype=object) == np.asarray(y_pred, dtype=object)))


def binary_precision_recall_f1(
    y_true: Sequence[str], y_pred: Sequence[str], positive: str
) -> tuple[float, float, float]:
    """Precision, recall and F1 of ``positive``; 0 where undefined (scikit-learn's zero_division)."""
    truth = np.asarray(y_true, dtype=object) == positive
    predicted = np.asarray(y_pred, dtype=object) == positive
    tp = int(np.sum(truth & predicted))
    fp = int(np.sum(~truth & predicted))
    fn = int(np.sum(truth & ~predicted))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0
    return precision, recall, f1


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """The mean F1 over every label in the truth or the predictions."""
    labels = sorted(set(y_true) | set(y_pred))
    return float(np.mean([binary_precision_recall_f1(y_true, y_pred, label)[2] for label in labels]))


def roc_auc_binary(positive: npt.ArrayLike, scores: npt.ArrayLike) -> float:
    """The area under the ROC curve as the Mann-Whitney U statistic (average ranks for ties)."""
    is_positive = np.asarray(positive, dtype=bool)
    ranks = _average_ranks(np.asarray(scores, dtype=np.float64))
    n_pos = int(is_positive.sum())
    n_neg = is_positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both a positive and a negative label")
    return float((ranks[is_positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def roc_auc_ovr(label_index: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Multiclass: the mean of each class's one-vs-rest area (``proba[:, k]`` for class ``k``)."""
    labels = np.asarray(label_index, dtype=np.int64)
    scores = np.asarray(proba, dtype=np.float64)
    return float(np.mean([roc_auc_binary(labels == k, scores[:, k]) for k in range(scores.shape[1])]))


def log_loss(label_index: npt.ArrayLike, proba: npt.ArrayLike) -> float:
    """Mean negative log of the true class's probability, clipped to [eps, 1 - eps]."""
    scores = np.asarray(proba, dtype=np.float64)
    labels = np.asarray(label_index, dtype=np.int64)
    eps = float(np.finfo(np.float64).eps)
    chosen = np.clip(scores[np.arange(labels.size), labels], eps, 1 - eps)
    return float(-np.mean(np.log(chosen)))


def rmse(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    error = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.sqrt(np.mean(error**2)))


def mae(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    error = np.asarray(y_true, dtype=np.float64) - np.asarray(y_pred, dtype=np.float64)
    return float(np.mean(np.abs(error)))


def r2(y_true: npt.ArrayLike, y_pred: npt.ArrayLike) -> float:
    """1 - SS_res / SS_tot; a constant truth gives 1 when predicted exactly, else 0 (as scikit-learn)."""
    truth = np.asarray(y_true, dtype=np.float64)
    residual = float(np.sum((truth - np.asarray(y_pred, dtype=np.float64)) ** 2))
    total = float(np.sum((truth - truth.mean()) ** 2))
    if total == 0.0:
        return 1.0 if residual == 0.0 else 0.0
    return 1.0 - residual / total


def _average_ranks(values: Floats) -> Floats:
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    bounds = np.flatnonzero(np.concatenate(([True], ordered[1:] != ordered[:-1], [True])))
    average = (bounds[:-1] + 1 + bounds[1:]) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(average, np.diff(bounds))
    return ranks


# --- the verdict ----------------------------------------------------------------------------


class MetricQuality(_Frozen):
    """One registered metric on the window: its value, the registered one and how much worse.

    ``drop`` is positive when the window is worse (lower for higher-is-better metrics, higher
    for ``rmse``, ``mae`` and ``log_loss``); ``value`` is None with a ``reason`` when the
    window cannot give it.
    """

    value: float | None = None
    registered: float
    drop: float | None = None
    higher_is_better: bool | None = None
    rows: int = 0
    reason: str | None = None


class QualityReport(_Frozen):
    """``reports/quality/<model>/<run_id>.json``; ``latest.json`` is the same document."""

    schema_version: Literal["1"] = "1"
    model: str
    version: int | None
    dataset: str | None = None
    run_id: str | None = None
    checked_at: datetime | None = None
    status: Status
    reason: str | None = None
    task: Literal["classification", "regression"] | None = None
    window: QualityWindow | None = None
    ground_truth: GroundTruthSummary | None = None
    #: Labels matched with a capture record of the version in the window.
    joined: int = 0
    unmatched_labels: int = 0
    #: Joined rows no metric can use: no prediction, or (regression) a label that is not a number.
    unusable: int = 0
    #: Classification: joined labels that are none of the model's classes (errors for accuracy
    #: and f1; left out of roc_auc and log_loss).
    unknown_classes: int = 0
    #: The metric that decides (the primary metric unless ``drift.quality.metric`` names another).
    metric: str | None = None
    value: float | None = None
    registered: float | None = None
    drop: float | None = None
    max_drop: float = 0.05
    min_labels: int = 100
    degraded: bool = False
    metrics: dict[str, MetricQuality] = Field(default_factory=dict)
    #: Verdicts of this version's last runs, oldest first (True: the run was degraded).
    recent: list[bool] = Field(default_factory=list)
    confirm_runs: int = 1
    confirm_degraded: int = 1
    confirmed: bool = False
    #: Confirmed by this run (the previous run of the version was not): alert now.
    alert: bool = False


def check_quality(
    version: ModelVersion,
    joined: JoinedWindow,
    spec: QualitySpec,
    *,
    task: Literal["classification", "regression"] | None = None,
    classes: Sequence[Any] | None = None,
) -> QualityReport:
    """The version's metrics on ``joined`` against the registered ones.

    ``task`` and ``classes`` (the manifest's, in ``predict_proba`` order) are inferred when not
    given: the task from the registered metrics' names, the classes from the captured
    probabilities' keys and the predictions, sorted as scikit-learn sorts labels.
    """
    metric = spec.metric or version.primary_metric
    report = QualityReport(
        model=version.model,
        version=version.version,
        status="skipped",
        window=joined.window,
        ground_truth=joined.ground_truth,
        joined=joined.joined,
        unmatched_labels=joined.unmatched_labels,
        metric=metric,
        max_drop=spec.max_drop,
        min_labels=spec.min_labels,
    )
    task = task or _task(version.metrics)
    if task is None:
        reason = f"none of the registered metrics ({', '.join(sorted(version.metrics))}) is a training metric"
        return report.model_copy(update={"reason": reason})
    report = report.model_copy(update={"task": task})
    if metric not in version.metrics:
        reason = (
            f"version {version.version} has no registered {metric}; set drift.quality.metric to one of "
            f"{', '.join(sorted(version.metrics))}"
        )
        return report.model_copy(update={"reason": reason})
    if metric not in METRICS[Task(task)]:
        allowed = ", ".join(METRICS[Task(task)])
        reason = f"{metric} is not a {task} metric; set drift.quality.metric to one of {allowed}"
        return report.model_copy(update={"reason": reason})
    if joined.ground_truth.files == 0:
        return report.model_copy(
            update={"reason": f"no ground-truth files under {joined.ground_truth.prefix}"}
        )

    if task == "regression":
        values, unusable, unknown = _regression(version.metrics, joined)
    else:
        values, unusable, unknown = _classification(version.metrics, joined, classes)
    report = report.model_copy(
        update={
            "metrics": values,
            "unusable": unusable,
            "unknown_classes": unknown,
            "registered": version.metrics[metric],
        }
    )
    decisive = values[metric]
    if decisive.rows < spec.min_labels or decisive.value is None:
        why = decisive.reason or (
            f"{decisive.rows} labelled predictions ({joined.joined} joined, {joined.unmatched_labels} labels "
            f"unmatched in {joined.window.start} to {joined.window.end}); {metric} needs at least "
            f"min_labels={spec.min_labels}"
        )
        return report.model_copy(update={"status": "insufficient_data", "reason": why})
    degraded = decisive.drop is not None and decisive.drop > spec.max_drop
    return report.model_copy(
        update={
            "status": "degraded" if degraded else "ok",
            "value": decisive.value,
            "drop": decisive.drop,
            "degraded": degraded,
        }
    )


def _task(metrics: Mapping[str, float]) -> Literal["classification", "regression"] | None:
    for task in Task:
        if any(name in METRICS[task] for name in metrics):
            return "classification" if task is Task.CLASSIFICATION else "regression"
    return None


def _measured(
    name: str, registered: float, value: float | None, rows: int, reason: str | None
) -> MetricQuality:
    up = HIGHER_IS_BETTER.get(name)
    drop = None
    if value is not None and up is not None:
        drop = registered - value if up else value - registered
    return MetricQuality(
        value=value, registered=registered, drop=drop, higher_is_better=up, rows=rows, reason=reason
    )


def _regression(
    registered: Mapping[str, float], joined: JoinedWindow
) -> tuple[dict[str, MetricQuality], int, int]:
    """The metrics, the joined rows without a number on both sides, and 0 unknown classes."""
    truth: list[float] = []
    predicted: list[float] = []
    for label, prediction in zip(joined.labels, joined.predictions, strict=True):
        y, p = _number(label), _number(prediction)
        if y is not None and p is not None:
            truth.append(y)
            predicted.append(p)
    rows = len(truth)
    results: dict[str, MetricQuality] = {}
    for name, value in registered.items():
        computed: float | None = None
        reason: str | None = None
        if name not in METRICS[Task.REGRESSION]:
            reason = f"{name} is not a regression metric computed on the window"
        elif rows == 0 or (name == "r2" and rows < 2):
            reason = f"{rows} labelled predictions with numbers; {name} needs {'2' if name == 'r2' else '1'}"
        else:
            computed = {"rmse": rmse, "mae": mae, "r2": r2}[name](truth, predicted)
        results[name] = _measured(name, value, computed, rows, reason)
    return results, joined.joined - rows, 0


def _classification(
    registered: Mapping[str, float], joined: JoinedWindow, classes: Sequence[Any] | None
) -> tuple[dict[str, MetricQuality], int, int]:
    """The metrics, the joined rows without a prediction, and the labels that are no class."""
    pairs = [
        (label, prediction, proba)
        for label, prediction, proba in zip(
            joined.labels, joined.predictions, joined.probabilities, strict=True
        )
        if prediction is not None
    ]
    names = [_text(c) for c in classes] if classes else _infer_classes(pairs)
    lookup = _spellings(names)
    truth = [_resolve(label, lookup) for label, _, _ in pairs]
    predicted = [_resolve(prediction, lookup) for _, prediction, _ in pairs]
    known = set(names)
    unknown = sum(1 for t in truth if t not in known)
    # Rows for roc_auc and log_loss: a known class and a probability for every class.
    scored = [
        (names.index(t), [float(proba[c]) for c in names])
        for t, (_, _, proba) in zip(truth, pairs, strict=True)
        if t in known and proba is not None and all(c in proba for c in names)
    ]
    label_index = np.asarray([i for i, _ in scored], dtype=np.int64)
    proba_rows = np.asarray([p for _, p in scored], dtype=np.float64).reshape(len(scored), len(names))
    results: dict[str, MetricQuality] = {}
    for name, value in registered.items():
        computed: float | None = None
        reason: str | None = None
        rows = len(truth)
        if name not in METRICS[Task.CLASSIFICATION]:
            reason = f"{name} is not a classification metric computed on the window"
        elif name in ("accuracy", "f1"):
            if not rows:
                reason = "no labelled predictions"
            elif name == "accuracy":
                computed = accuracy(truth, predicted)
            elif len(names) == 2:
                computed = binary_precision_recall_f1(truth, predicted, names[1])[2]
            else:
                computed = macro_f1(truth, predicted)
        else:
            rows = len(scored)
            computed, reason = _scored_metric(name, label_index, proba_rows, names)
        results[name] = _measured(name, value, computed, rows, reason)
    return results, joined.joined - len(pairs), unknown


def _scored_metric(
    name: str, label_index: npt.NDArray[np.int64], proba: Floats, names: Sequence[str]
) -> tuple[float | None, str | None]:
    if label_index.size == 0:
        return None, f"no labelled prediction with a probability for each class ({', '.join(names)})"
    if name == "log_loss":
        return log_loss(label_index, proba), None
    present = set(label_index.tolist())
    absent = [names[k] for k in range(len(names)) if k not in present]
    if absent:
        return None, f"roc_auc needs labels of every class; none of {', '.join(absent)} in the window"
    if len(names) == 2:
        return roc_auc_binary(label_index == 1, proba[:, 1]), None
    return roc_auc_ovr(label_index, proba), None


def _text(value: Any) -> str:
    """A label as the capture spells classes: booleans ``true``/``false``, the rest as text."""
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _numeric_spelling(text: str) -> str | None:
    try:
        number = float(text)
    except ValueError:
        return None
    return repr(number) if math.isfinite(number) else None


def _spellings(classes: Sequence[str]) -> dict[str, str]:
    """Each class's text, and its lower-case and numeric spellings where they are unambiguous."""
    lookup = {c: c for c in classes}
    for spelling in (str.lower, _numeric_spelling):
        variants: dict[str, list[str]] = {}
        for c in classes:
            variant = spelling(c)
            if variant is not None:
                variants.setdefault(variant, []).append(c)
        for variant, owners in variants.items():
            if len(owners) == 1:
                lookup.setdefault(variant, owners[0])
    return lookup


def _resolve(value: Any, lookup: Mapping[str, str]) -> str:
    """The class a label or prediction names (``True``, ``"TRUE"``, ``1.0`` for ``1``), else its text."""
    text = _text(value)
    for candidate in (text, text.lower(), _numeric_spelling(text)):
        if candidate is not None and candidate in lookup:
            return lookup[candidate]
    return text


def _infer_classes(pairs: Iterable[tuple[Any, Any, Mapping[str, float] | None]]) -> list[str]:
    seen: set[str] = set()
    for _, prediction, proba in pairs:
        seen.add(_text(prediction))
        if proba is not None:
            seen.update(proba)
    if seen <= {"false", "true"}:
        return sorted(seen)
    if all(_numeric_spelling(c) is not None for c in seen):
        return sorted(seen, key=float)
    return sorted(seen)


def _number(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


# --- one check of one model ------------------------------------------------------------------


def report_key(model: str, run_id: str) -> str:
    return f"{REPORT_PREFIX}/{model}/{run_id}.json"


def latest_key(model: str) -> str:
    return f"{REPORT_PREFIX}/{model}/latest.json"


def check_model_quality(
    model: str,
    *,
    registry: ModelRegistry,
    store: ObjectStore,
    states: DriftStateStore,
    now: datetime,
    run_id: str,
    alias: str = DEFAULT_ALIAS,
    max_labels: int = DEFAULT_MAX_LABELS,
) -> QualityReport:
    """Check the quality of ``model``'s ``alias`` version on labelled traffic and store the report.

    ``states`` keeps the quality verdicts (a store made with ``key=QUALITY_STATE_KEY``). The
    window is the last ``drift.quality.window_days`` (else ``drift.window_days``) days up to
    ``now``, that version's records only.
    """
    pointer = registry.alias(model, alias)
    report = QualityReport(model=model, version=None, run_id=run_id, checked_at=now, status="skipped")
    if pointer is None:
        return _store(store, report.model_copy(update={"reason": f"no {alias} version"}), run_id)
    version = registry.get(model, pointer.version)
    manifest = _manifest(store, version.manifest_uri)
    dataset = _dataset(store, version) or model
    contract = read_contract(store, dataset)
    spec = drift_spec(contract, source=store.uri(contract_key(dataset))) if contract else DriftSpec()
    end = now.date()
    start = end - timedelta(days=(spec.quality.window_days or spec.window_days) - 1)
    truth = read_ground_truth(store, model, max_labels=max_labels)
    joined = join_predictions(store, model, version.version, truth, start=start, end=end)
    result = check_quality(
        version,
        joined,
        spec.quality,
        task=manifest.task if manifest is not None else None,
        classes=manifest.classes if manifest is not None else None,
    )
    result = result.model_copy(
        update={
            "dataset": dataset,
            "run_id": run_id,
            "checked_at": now,
            "confirm_runs": spec.confirm.runs,
            "confirm_degraded": spec.confirm.drifted,
        }
    )
    if result.status == "skipped":
        return _store(store, result, run_id)
    if result.status == "insufficient_data":
        previous = states.get(model)
        kept = previous.recent if previous is not None and previous.version == version.version else []
        # A run without a verdict leaves the history as it was.
        return _store(store, result.model_copy(update={"recent": kept}), run_id)
    verdict = record_verdict(
        states,
        model,
        version.version,
        result.degraded,
        runs=spec.confirm.runs,
        required=spec.confirm.drifted,
        run_id=run_id,
        now=now,
    )
    return _store(
        store,
        result.model_copy(
            update={"recent": verdict.recent, "confirmed": verdict.confirmed, "alert": verdict.alerted}
        ),
        run_id,
    )


def _read(store: ObjectStore, key: str) -> str | None:
    try:
        return store.read_text(key)
    except ObjectMissing:
        return None


def _key(store: ObjectStore, uri: str) -> str | None:
    prefix = f"s3://{store.bucket}/"
    return uri.removeprefix(prefix) if uri.startswith(prefix) else None


def _manifest(store: ObjectStore, uri: str) -> ModelManifest | None:
    """The version's manifest (task and classes), or None when it cannot be read: then inferred."""
    key = _key(store, uri)
    text = _read(store, key) if key else None
    if text is None:
        return None
    try:
        return ModelManifest.model_validate_json(text)
    except ValidationError:
        return None


def _dataset(store: ObjectStore, version: ModelVersion) -> str | None:
    """The dataset named by the version's baseline; trained models are named after their dataset."""
    key = _key(store, version.baseline_uri) if version.baseline_uri else None
    text = _read(store, key) if key else None
    if text is None:
        return None
    try:
        return DriftBaseline.model_validate_json(text).dataset
    except ValidationError:
        return None


def _store(store: ObjectStore, report: QualityReport, run_id: str) -> QualityReport:
    document = report.model_dump_json(indent=2)
    store.put_json(report_key(report.model, run_id), document)
    store.put_json(latest_key(report.model), document)
    return report
