"""One run of the drift function: every production model checked, and what follows from each.

For each model (all models of the registry, or the ones asked for) ``run_drift_checks``
runs :func:`~mlops_core.drift_check.check_model_drift`, then:

- writes the HTML report beside the JSON one (``<run_id>.html`` and ``latest.html``);
- publishes ``DriftChecked`` (every check with a verdict, or too little data);
- on the run that confirms a drift (``alert``): publishes ``DriftDetected``, sends one alert
  to people, and, when the contract asks for it and the stack allows it, ``RetrainRequested``
  on the newest validated file of the model's dataset;
- when given a quality state store, checks the model on its ground-truth labels
  (:func:`~mlops_core.drift.quality.check_model_quality`) and, on the run that confirms a
  drop, publishes ``ModelQualityDegraded`` and alerts.

One model's failure never stops the others: it is reported in the outcome (the function logs
it with its traceback) and the caller raises after the loop, so the invocation is retried;
models already checked by the same run are not recorded twice (the run id names the
scheduled run).
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

from mlops_core.drift import quality
from mlops_core.drift.quality import QualityReport, check_model_quality
from mlops_core.drift.state import DriftStateStore
from mlops_core.drift.training_data import check_training_data
from mlops_core.drift_check import DriftReport, check_model_drift, report_key
from mlops_core.events import (
    DriftChecked,
    DriftDetected,
    EventDetail,
    EventPublisher,
    ModelQualityDegraded,
    RetrainRequested,
)
from mlops_core.object_store import ObjectStore
from mlops_core.registry.store import ModelRegistry

VALIDATED_PREFIX = "validated"
#: SNS subjects are at most 100 characters.
SUBJECT_LIMIT = 100


class AlertSink(Protocol):
    """Where alerts to people go (an SNS topic in the stack)."""

    def send(self, subject: str, message: str) -> None: ...


class SnsAlerts:
    def __init__(self, client: object, topic_arn: str) -> None:
        self._client = client
        self.topic_arn = topic_arn

    def send(self, subject: str, message: str) -> None:
        self._client.publish(  # type: ignore[attr-defined]
            TopicArn=self.topic_arn, Subject=subject[:SUBJECT_LIMIT], Message=message
        )


class InMemoryAlerts:
    """The alerts fake for tests and the local CLI."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    def send(self, subject: str, message: str) -> None:
        self.sent.append((subject, message))


class FeatureScore(BaseModel):
    """A tested feature's statistic and verdict (the function's metrics per feature)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    method: str
    statistic: float
    drifted: bool


class QualityCheck(BaseModel):
    """The model's quality on its ground-truth labels (``reports/quality/``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    status: Literal["ok", "degraded", "insufficient_data", "skipped"]
    metric: str | None = None
    value: float | None = None
    registered: float | None = None
    drop: float | None = None
    labels: int = 0
    confirmed: bool = False
    alert: bool = False
    report_uri: str
    reason: str | None = None


class ModelCheck(BaseModel):
    """What the run did for one model (the function returns these)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str
    status: Literal["ok", "drift", "insufficient_data", "skipped", "failed"]
    version: int | None = None
    drift_share: float | None = None
    drifted_features: list[str] = Field(default_factory=list)
    features: dict[str, FeatureScore] = Field(default_factory=dict)
    confirmed: bool = False
    alert: bool = False
    retrain_uri: str | None = None
    report_uri: str | None = None
    quality: QualityCheck | None = None
    reason: str | None = None
    #: The traceback of a failed check, for the function's log.
    error: str | None = None


class DriftRunOutcome(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    run_id: str
    checked_at: datetime
    models: list[ModelCheck]

    @property
    def failed(self) -> list[str]:
        return [m.model for m in self.models if m.status == "failed"]

    @property
    def drifting(self) -> list[str]:
        """Models whose drift is confirmed (an alarm counts them)."""
        return [m.model for m in self.models if m.confirmed]

    @property
    def degraded(self) -> list[str]:
        """Models whose quality drop is confirmed (an alarm counts them)."""
        return [m.model for m in self.models if m.quality is not None and m.quality.confirmed]


def run_drift_checks(
    models: Iterable[str] | None,
    *,
    registry: ModelRegistry,
    store: ObjectStore,
    states: DriftStateStore,
    publisher: EventPublisher,
    alerts: AlertSink,
    now: datetime,
    run_id: str,
    retrain_allowed: bool = True,
    render_html: Callable[[DriftReport], str] | None = None,
    quality_states: DriftStateStore | None = None,
) -> DriftRunOutcome:
    """Check ``models`` (``None``: every model in the registry) and act on each verdict.

    ``quality_states`` (a store made with ``key=QUALITY_STATE_KEY``) turns on the quality check.
    """
    names = sorted(set(models)) if models is not None else registry.list_models()
    checks: list[ModelCheck] = []
    for name in names:
        try:
            report = check_model_drift(
                name, registry=registry, store=store, states=states, now=now, run_id=run_id
            )
            check = _follow_up(
                report,
                store=store,
                publisher=publisher,
                alerts=alerts,
                retrain_allowed=retrain_allowed,
                render_html=render_html,
            )
            if quality_states is not None and check.status != "skipped":
                measured = check_model_quality(
                    name, registry=registry, store=store, states=quality_states, now=now, run_id=run_id
                )
                check = check.model_copy(
                    update={
                        "quality": _quality_follow_up(
                            measured, store=store, publisher=publisher, alerts=alerts
                        )
                    }
                )
            checks.append(check)
        except Exception as error:
            checks.append(
                ModelCheck(
                    model=name,
                    status="failed",
                    reason=f"{type(error).__name__}: {error}",
                    error=traceback.format_exc(),
                )
            )
    return DriftRunOutcome(run_id=run_id, checked_at=now, models=checks)


def _follow_up(
    report: DriftReport,
    *,
    store: ObjectStore,
    publisher: EventPublisher,
    alerts: AlertSink,
    retrain_allowed: bool,
    render_html: Callable[[DriftReport], str] | None,
) -> ModelCheck:
    report_uri = store.uri(report_key(report.model, report.run_id))
    html_uri = None
    if render_html is not None and report.status != "skipped":
        page = render_html(report).encode()
        for key in (html_key(report.model, report.run_id), html_key(report.model, "latest")):
            store.put_bytes(key, page, content_type="text/html; charset=utf-8")
        html_uri = store.uri(html_key(report.model, report.run_id))
    check = _model_check(report, report_uri)
    if report.status == "skipped" or report.version is None:
        return check
    events: list[EventDetail] = [_checked(report, report_uri)]
    retrain_uri = why_not = None
    if report.alert:
        if report.retrain and retrain_allowed and report.dataset:
            retrain_uri, why_not = _retrain_data(store, report)
            if why_not is not None:
                check = check.model_copy(update={"reason": f"retraining not requested: {why_not}"})
        events.append(
            DriftDetected(
                model=report.model,
                version=report.version,
                dataset=report.dataset or "",
                run_id=report.run_id,
                drift_share=report.drift_share or 0.0,
                drifted_features=report.drifted_features,
                recent=report.recent,
                report_uri=report_uri,
                html_report_uri=html_uri,
                retrain_requested=retrain_uri is not None,
                detected_at=report.checked_at,
            )
        )
        if retrain_uri is not None and report.dataset:
            events.append(
                RetrainRequested(
                    dataset=report.dataset,
                    dataset_uri=retrain_uri,
                    reason=f"drift of {report.model} v{report.version} confirmed: "
                    f"{', '.join(report.drifted_features)}",
                    requested_at=report.checked_at,
                )
            )
    publisher.publish(events)
    if report.alert:
        alerts.send(
            *alert_text(
                report, report_uri=report_uri, html_uri=html_uri, retrain_uri=retrain_uri, why_not=why_not
            )
        )
    return check.model_copy(update={"retrain_uri": retrain_uri})


def _model_check(report: DriftReport, report_uri: str) -> ModelCheck:
    return ModelCheck(
        model=report.model,
        status=report.status,
        version=report.version,
        drift_share=report.drift_share,
        drifted_features=report.drifted_features,
        features={
            name: FeatureScore(method=f.method, statistic=f.statistic, drifted=f.drifted)
            for name, f in report.features.items()
            if f.statistic is not None
        },
        confirmed=report.confirmed,
        alert=report.alert,
        report_uri=report_uri,
        reason=report.reason,
    )


def _checked(
    report: DriftReport, report_uri: str, subject: Literal["traffic", "training_data"] = "traffic"
) -> DriftChecked:
    """``DriftChecked`` of a report with a verdict (not ``skipped``, a version)."""
    assert report.version is not None
    assert report.status != "skipped"
    return DriftChecked(
        model=report.model,
        version=report.version,
        run_id=report.run_id,
        subject=subject,
        status=report.status,
        drift_share=report.drift_share,
        drifted_features=report.drifted_features,
        confirmed=report.confirmed,
        report_uri=report_uri,
        checked_at=report.checked_at,
    )


def _retrain_data(store: ObjectStore, report: DriftReport) -> tuple[str | None, str | None]:
    """The newest validated file, unless the version was trained on it (retraining would repeat it)."""
    dataset = report.dataset or ""
    newest = latest_validated(store, dataset)
    if newest is None:
        return None, f"nothing under {VALIDATED_PREFIX}/{dataset}/"
    if newest == report.trained_on:
        return None, (
            f"v{report.version} was trained on the newest validated data ({newest}); "
            f"upload fresh labelled data to incoming/{dataset}/"
        )
    return newest, None


def run_training_data_checks(
    dataset: str,
    validated_uri: str,
    *,
    registry: ModelRegistry,
    store: ObjectStore,
    publisher: EventPublisher,
    now: datetime,
    run_id: str,
) -> list[ModelCheck]:
    """A newly validated file against the baseline of each production model of its dataset.

    Reports and ``DriftChecked`` (subject ``training_data``) only: no K-of-N state, no alert.
    """
    reports = check_training_data(
        dataset, validated_uri, registry=registry, store=store, now=now, run_id=run_id
    )
    events: list[EventDetail] = []
    checks: list[ModelCheck] = []
    for report in reports:
        report_uri = store.uri(report_key(report.model, report.run_id))
        checks.append(_model_check(report, report_uri))
        if report.status != "skipped" and report.version is not None:
            events.append(_checked(report, report_uri, subject="training_data"))
    if events:
        publisher.publish(events)
    return checks


def _quality_follow_up(
    report: QualityReport, *, store: ObjectStore, publisher: EventPublisher, alerts: AlertSink
) -> QualityCheck:
    report_uri = store.uri(quality.report_key(report.model, report.run_id or "latest"))
    check = QualityCheck(
        status=report.status,
        metric=report.metric,
        value=report.value,
        registered=report.registered,
        drop=report.drop,
        labels=report.joined,
        confirmed=report.confirmed,
        alert=report.alert,
        report_uri=report_uri,
        reason=report.reason,
    )
    metric, value, registered = report.metric, report.value, report.registered
    if (
        report.alert
        and report.version is not None
        and metric
        and value is not None
        and registered is not None
    ):
        publisher.publish(
            [
                ModelQualityDegraded(
                    model=report.model,
                    version=report.version,
                    dataset=report.dataset,
                    run_id=report.run_id or "",
                    metric=metric,
                    value=value,
                    registered=registered,
                    drop=report.drop or 0.0,
                    max_drop=report.max_drop,
                    labels=report.joined,
                    recent=report.recent,
                    report_uri=report_uri,
                    detected_at=report.checked_at or datetime.now().astimezone(),
                )
            ]
        )
        alerts.send(
            f"[mlops] quality dropped: {report.model} v{report.version}",
            "\n".join(
                [
                    f"On {report.joined} labelled predictions, {report.model} v{report.version} scores "
                    f"{metric} {value:.4g} against {registered:.4g} at training "
                    f"(worse by {report.drop or 0.0:.4g}; the threshold is {report.max_drop}).",
                    f"{sum(report.recent)} of its last {len(report.recent)} checks were degraded.",
                    "",
                    f"Report: {report_uri}",
                ]
            ),
        )
    return check


def html_key(model: str, run_id: str) -> str:
    return report_key(model, run_id).removesuffix(".json") + ".html"


def latest_validated(store: ObjectStore, dataset: str) -> str | None:
    """The newest file under ``validated/<dataset>/``: run ids start with their UTC time, so it sorts last."""
    keys = list(store.list_keys(f"{VALIDATED_PREFIX}/{dataset}/"))
    return store.uri(max(keys)) if keys else None


def alert_text(
    report: DriftReport,
    *,
    report_uri: str,
    html_uri: str | None,
    retrain_uri: str | None,
    why_not: str | None = None,
) -> tuple[str, str]:
    """The alert's subject and body: what drifted, how much, where to look, what happens next."""
    subject = f"[mlops] drift confirmed: {report.model} v{report.version}"
    tested = [f for f in report.features.values() if f.status != "skipped"]
    lines = [
        f"The production model {report.model} v{report.version} sees traffic unlike its training data "
        f"({sum(report.recent)} of its last {len(report.recent)} checks drifted).",
        "",
        f"Drifted features: {len(report.drifted_features)} of {len(tested)} tested "
        f"(drift share {report.drift_share or 0.0:.2f}, threshold {report.drift_share_threshold}).",
    ]
    for name in report.drifted_features:
        feature = report.features[name]
        p_value = f", p={feature.p_value:.3g}" if feature.p_value is not None else ""
        lines.append(
            f"  - {name}: {feature.method} {feature.statistic:.3g}{p_value} (threshold {feature.threshold})"
        )
    if report.prediction is not None and report.prediction.drifted:
        lines.append(f"The model's predictions drifted too ({report.prediction.method}).")
    if report.window is not None:
        lines.append(
            f"Window: {report.window.start} to {report.window.end}, {report.window.records} captured records."
        )
    lines += ["", f"Report: {html_uri or report_uri}"]
    if retrain_uri is not None:
        lines.append(f"Retraining was requested on {retrain_uri}.")
    elif why_not is not None:
        lines.append(f"No retraining was requested: {why_not}.")
    else:
        lines.append(
            "No retraining was requested (drift.retrain in the contract, RetrainOnDrift in the stack)."
        )
    return subject, "\n".join(lines)
