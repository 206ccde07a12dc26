"""Fit, evaluate and (for ``auto``) choose a model from a validated dataset and its contract.

``train(frame, contract, spec)`` splits the data (stratified for classification), fits the
pipeline from :mod:`.features`, scores it on the held-out split, and measures permutation
importance there. With ``estimator: auto`` every allowlisted estimator is cross-validated
(3 folds) on the training split until the time budget is spent; the best by the primary
metric is refitted on the whole training split. Everything is deterministic given the seed.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.inspection import permutation_importance
from sklearn.model_selection import KFold, StratifiedKFold, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline

from mlops_core.contracts import ColumnType, DataContract, DataFormat
from mlops_core.training.features import build_pipeline, feature_fields, prepare_features
from mlops_core.training.manifest import (
    BASELINE_FILE,
    Candidate,
    FeatureField,
    FeatureImportance,
    ModelManifest,
    library_versions,
)
from mlops_core.training.spec import AUTO, EstimatorChoice, Task, TrainingSpec

CV_FOLDS = 3
IMPORTANCE_REPEATS = 5


class TrainingDataError(ValueError):
    """The data cannot train this spec (too few rows, one class, missing columns)."""


@dataclass(frozen=True)
class TrainingResult:
    pipeline: Pipeline
    task: Task
    target: str
    estimator: str
    params: dict[str, Any]
    metrics: dict[str, float]
    primary_metric: str
    primary_value: float
    candidates: list[Candidate]
    feature_importance: list[FeatureImportance]
    feature_signature: list[FeatureField]
    classes: list[Any] | None
    train_rows: int
    test_rows: int
    dropped_rows: int
    seconds: float


def train(frame: pd.DataFrame, contract: DataContract, spec: TrainingSpec) -> TrainingResult:
    """Train ``spec`` on ``frame`` (already validated against ``contract``)."""
    started = time.perf_counter()
    target = spec.target_column
    fields = feature_fields(contract, target)
    if target not in frame.columns:
        raise TrainingDataError(f"the data has no target column {target!r}")
    labelled = frame[frame[target].notna()]
    dropped = len(frame) - len(labelled)
    features = prepare_features(labelled, fields)
    y = _target_values(labelled[target], contract.column(target).type, spec.task)
    x_train, x_test, y_train, y_test = _split(features, y, spec)

    candidates: list[Candidate] = []
    choice = _select(x_train, y_train, fields, spec, candidates) if spec.estimator == AUTO else spec.choice()
    params = spec.estimator_params(choice)
    pipeline = build_pipeline(fields, choice.estimator_class()(**params), choice)
    pipeline.fit(x_train, y_train)

    classes = [_plain(c) for c in pipeline.classes_] if spec.task is Task.CLASSIFICATION else None
    scores = _held_out_metrics(pipeline, x_test, y_test, spec.task)
    importance = permutation_importance(
        pipeline,
        x_test,
        y_test,
        scoring=_scorer(spec.primary_metric, spec.task, classes),
        n_repeats=IMPORTANCE_REPEATS,
        random_state=spec.seed,
    )
    ranked = sorted(
        (
            FeatureImportance(feature=name, importance_mean=float(mean), importance_std=float(std))
            for name, mean, std in zip(
                x_test.columns, importance.importances_mean, importance.importances_std, strict=True
            )
        ),
        key=lambda f: (-f.importance_mean, f.feature),
    )
    return TrainingResult(
        pipeline=pipeline,
        task=spec.task,
        target=target,
        estimator=choice.name,
        params={k: _plain(v) for k, v in params.items()},
        metrics=scores,
        primary_metric=spec.primary_metric,
        primary_value=scores[spec.primary_metric],
        candidates=candidates,
        feature_importance=ranked,
        feature_signature=fields,
        classes=classes,
        train_rows=len(x_train),
        test_rows=len(x_test),
        dropped_rows=dropped,
        seconds=round(time.perf_counter() - started, 3),
    )


def build_manifest(
    result: TrainingResult,
    contract: DataContract,
    *,
    model_name: str,
    artifact_sha256: str,
    dataset_uri: str | None = None,
    dataset_sha256: str | None = None,
    baseline_file: str | None = BASELINE_FILE,
    trained_at: datetime | None = None,
) -> ModelManifest:
    """The manifest of a trained model, with the running library versions."""
    return ModelManifest(
        model_name=model_name,
        task=result.task.value,
        estimator=result.estimator,
        params=result.params,
        metrics=result.metrics,
        primary_metric=result.primary_metric,
        target=result.target,
        classes=result.classes,
        feature_signature=result.feature_signature,
        contract_version=contract.version,
        contract_sha256=contract.fingerprint(),
        dataset_uri=dataset_uri,
        dataset_sha256=dataset_sha256,
        libraries=library_versions(),
        artifact_sha256=artifact_sha256,
        baseline_file=baseline_file,
        trained_at=trained_at or datetime.now(UTC),
        training_seconds=result.seconds,
        train_rows=result.train_rows,
        test_rows=result.test_rows,
        candidates=result.candidates,
        feature_importance=result.feature_importance,
    )


def read_training_frame(path: str | Path, contract: DataContract, spec: TrainingSpec) -> pd.DataFrame:
    """The feature and target columns of a validated CSV (optionally .gz) or Parquet file.

    pandas' C parser reads CSV and fastparquet reads Parquet: the training function's layer
    has no room for pyarrow (docs/deployment.md). The file already met its contract, so
    values are read by the contract's types without further checks.
    """
    columns = [f.name for f in feature_fields(contract, spec.target_column)] + [spec.target_column]
    return read_columns(path, contract, columns)


def read_columns(
    path: str | Path, contract: DataContract, columns: Sequence[str], *, optional: Sequence[str] = ()
) -> pd.DataFrame:
    """``columns`` (and those of ``optional`` the file has) of a file in the contract's format.

    Every column read must be declared by the contract, whose types and CSV options say how
    its values are read. A missing column of ``columns`` is a ``ValueError`` naming it.
    """
    if contract.format is DataFormat.PARQUET:
        from fastparquet import ParquetFile  # noqa: PLC0415 - only Parquet datasets need it

        parquet = ParquetFile(str(path))
        present = set(parquet.columns)
        _require(path, columns, present)
        frame: pd.DataFrame = parquet.to_pandas(
            columns=[*columns, *(name for name in optional if name in present)]
        )
        return frame
    options = contract.csv
    kinds = {name: contract.column(name).type for name in [*columns, *optional]}
    frame = pd.read_csv(
        path,
        usecols=kinds.__contains__,  # every column named, absent ones too (checked below)
        dtype={name: _CSV_DTYPES[kind] for name, kind in kinds.items() if kind in _CSV_DTYPES},
        sep=options.delimiter,
        quotechar=options.quote_char,
        na_values=options.null_values,
        keep_default_na=False,
        true_values=options.true_values,
        false_values=options.false_values,
        engine="c",
    )
    _require(path, columns, set(frame.columns))
    return frame


def _require(path: str | Path, columns: Sequence[str], present: set[str]) -> None:
    missing = [name for name in columns if name not in present]
    if missing:
        raise ValueError(f"{path} has no column {', '.join(missing)}")


# Booleans are left to true_values/false_values; integers read as floats so nulls fit.
_CSV_DTYPES = {
    ColumnType.INTEGER: "float64",
    ColumnType.FLOAT: "float64",
    ColumnType.STRING: "object",
    ColumnType.CATEGORY: "object",
    ColumnType.DATETIME: "object",
}


def _target_values(series: pd.Series, kind: ColumnType, task: Task) -> np.ndarray[Any, Any]:
    values: np.ndarray[Any, Any]
    if task is Task.REGRESSION:
        values = series.to_numpy(dtype="float64")
    elif kind is ColumnType.BOOLEAN:
        values = series.astype(bool).to_numpy(dtype=bool)
    elif kind is ColumnType.INTEGER:
        values = series.to_numpy(dtype="int64")
    else:
        values = series.astype(str).to_numpy(dtype=object)
    return values


def _split(features: pd.DataFrame, y: np.ndarray[Any, Any], spec: TrainingSpec) -> list[Any]:
    n = len(y)
    n_test = int(np.ceil(n * spec.test_fraction))
    if n - n_test < CV_FOLDS * 2 or n_test < 2:
        raise TrainingDataError(
            f"{n} labelled rows are too few to hold out {spec.test_fraction:.0%} and train"
        )
    stratify = None
    if spec.task is Task.CLASSIFICATION:
        labels, counts = np.unique(y, return_counts=True)
        if labels.size < 2:
            raise TrainingDataError(
                f"the target has one class only ({_plain(labels[0])!r}); nothing to learn"
            )
        rare = [_plain(label) for label, count in zip(labels, counts, strict=True) if count < CV_FOLDS]
        if rare:
            raise TrainingDataError(
                f"classes {rare} have fewer than {CV_FOLDS} rows; a stratified split needs more of each"
            )
        if n_test < labels.size:
            raise TrainingDataError(
                f"the held-out split ({n_test} rows) cannot hold all {labels.size} classes"
            )
        stratify = y
    split: list[Any] = train_test_split(
        features, y, test_size=n_test, random_state=spec.seed, shuffle=True, stratify=stratify
    )
    return split


def _select(
    x: pd.DataFrame,
    y: np.ndarray[Any, Any],
    fields: list[FeatureField],
    spec: TrainingSpec,
    record: list[Candidate],
) -> EstimatorChoice:
    started = time.perf_counter()
    classes = sorted(_plain(c) for c in np.unique(y)) if spec.task is Task.CLASSIFICATION else None
    scorer = _scorer(spec.primary_metric, spec.task, classes)
    folds = (
        StratifiedKFold(CV_FOLDS, shuffle=True, random_state=spec.seed)
        if spec.task is Task.CLASSIFICATION
        else KFold(CV_FOLDS, shuffle=True, random_state=spec.seed)
    )
    sign = 1.0 if spec.higher_is_better else -1.0
    best: tuple[float, EstimatorChoice] | None = None
    for choice in spec.candidates():
        spent = time.perf_counter() - started
        if spent >= spec.time_budget_seconds:
            record.append(
                Candidate(
                    estimator=choice.name,
                    status="skipped",
                    reason=f"time budget of {spec.time_budget_seconds} s spent ({spent:.1f} s)",
                )
            )
            continue
        begun = time.perf_counter()
        pipeline = build_pipeline(fields, choice.estimator_class()(**spec.estimator_params(choice)), choice)
        try:
            scores = cross_val_score(pipeline, x, y, cv=folds, scoring=scorer, error_score="raise")
        except (ValueError, ArithmeticError) as exc:
            record.append(
                Candidate(
                    estimator=choice.name,
                    status="failed",
                    seconds=round(time.perf_counter() - begun, 3),
                    reason=f"{type(exc).__name__}: {exc}"[:500],
                )
            )
            continue
        # Scorers are "higher is better" (neg_rmse...): report the metric in its own sign.
        natural = sign * scores
        record.append(
            Candidate(
                estimator=choice.name,
                status="trained",
                cv_score=float(natural.mean()),
                cv_std=float(natural.std()),
                seconds=round(time.perf_counter() - begun, 3),
            )
        )
        if best is None or float(scores.mean()) > best[0]:
            best = (float(scores.mean()), choice)
    if best is None:
        reasons = "; ".join(f"{c.estimator}: {c.reason}" for c in record)
        raise TrainingDataError(f"auto could not train any candidate: {reasons}")
    return best[1]


def _scorer(metric: str, task: Task, classes: list[Any] | None) -> Any:
    if task is Task.REGRESSION:
        return {"rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2"}[metric]
    binary = classes is not None and len(classes) == 2
    if metric == "roc_auc":
        return "roc_auc" if binary else "roc_auc_ovr"
    if metric == "f1":
        if binary and classes is not None:
            return skm.make_scorer(skm.f1_score, pos_label=classes[1])
        return "f1_macro"
    return {"accuracy": "accuracy", "log_loss": "neg_log_loss"}[metric]


def _held_out_metrics(
    pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray[Any, Any], task: Task
) -> dict[str, float]:
    if task is Task.REGRESSION:
        predicted = pipeline.predict(x)
        return {
            "rmse": float(skm.root_mean_squared_error(y, predicted)),
            "mae": float(skm.mean_absolute_error(y, predicted)),
            "r2": float(skm.r2_score(y, predicted)),
        }
    classes = pipeline.classes_
    proba = pipeline.predict_proba(x)
    predicted = pipeline.predict(x)
    if len(classes) == 2:
        roc_auc = skm.roc_auc_score(y, proba[:, 1])
        f1 = skm.f1_score(y, predicted, pos_label=classes[1])
    else:
        roc_auc = skm.roc_auc_score(y, proba, multi_class="ovr", labels=classes)
        f1 = skm.f1_score(y, predicted, average="macro")
    return {
        "roc_auc": float(roc_auc),
        "f1": float(f1),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "log_loss": float(skm.log_loss(y, proba, labels=classes)),
    }


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, for JSON."""
    return value.item() if isinstance(value, np.generic) else value
