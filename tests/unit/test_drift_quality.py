"""Model quality with ground truth: labels read and joined with captured predictions, metrics
computed in numpy as training computes them (checked against scikit-learn), and the K-of-N verdict."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sklearn import metrics as skm

from mlops_core.capture import CaptureRecord
from mlops_core.contracts import ContractError, load_contract
from mlops_core.drift import quality
from mlops_core.drift.quality import (
    MALFORMED_EXAMPLES,
    GroundTruth,
    JoinedWindow,
    QualitySpec,
    QualityWindow,
    check_model_quality,
    check_quality,
    join_predictions,
    latest_key,
    read_ground_truth,
    report_key,
)
from mlops_core.drift.spec import drift_spec
from mlops_core.drift.state import (
    QUALITY_STATE_KEY,
    DriftState,
    InMemoryDriftStateStore,
    StateConflict,
    record_verdict,
)
from mlops_core.registry.entities import Lineage, ModelVersion
from mlops_core.registry.memory import InMemoryModelRegistry
from mlops_core.training.manifest import FeatureField, ModelManifest, library_versions

from .fakes import InMemoryObjectStore

CHURN = Path(__file__).parents[2] / "infra" / "contracts" / "churn.yaml"
NOW = datetime(2026, 11, 20, 6, 0, tzinfo=UTC)
DAY = "2026-11-20"


# --- metrics against scikit-learn ------------------------------------------------------------


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(11)


def test_accuracy_precision_recall_and_f1_match_scikit_learn(rng: np.random.Generator) -> None:
    truth = rng.choice(["false", "true"], size=500).tolist()
    predicted = rng.choice(["false", "true"], size=500, p=[0.3, 0.7]).tolist()
    assert quality.accuracy(truth, predicted) == pytest.approx(
        skm.accuracy_score(truth, predicted), abs=1e-12
    )
    precision, recall, f1 = quality.binary_precision_recall_f1(truth, predicted, "true")
    assert precision == pytest.approx(skm.precision_score(truth, predicted, pos_label="true"), abs=1e-12)
    assert recall == pytest.approx(skm.recall_score(truth, predicted, pos_label="true"), abs=1e-12)
    assert f1 == pytest.approx(skm.f1_score(truth, predicted, pos_label="true"), abs=1e-12)
    # never predicted, never true: 0, as scikit-learn's zero_division
    assert quality.binary_precision_recall_f1(["a", "a"], ["a", "a"], "b") == (0.0, 0.0, 0.0)

    three = rng.choice(["basic", "plus", "pro"], size=400).tolist()
    guessed = rng.choice(["basic", "plus", "pro", "gold"], size=400).tolist()  # a label never true
    assert quality.macro_f1(three, guessed) == pytest.approx(
        skm.f1_score(three, guessed, average="macro"), abs=1e-12
    )


def test_roc_auc_by_ranks_matches_scikit_learn_with_ties(rng: np.random.Generator) -> None:
    positive = rng.random(800) < 0.35
    scores = np.round(np.clip(0.4 + 0.2 * positive + rng.normal(0, 0.2, 800), 0, 1), 1)  # many ties
    assert quality.roc_auc_binary(positive, scores) == pytest.approx(
        skm.roc_auc_score(positive, scores), abs=1e-12
    )
    with pytest.raises(ValueError, match="both a positive and a negative"):
        quality.roc_auc_binary([True, True], [0.2, 0.3])

    labels = rng.integers(0, 3, 600)
    proba = rng.dirichlet([1.0, 1.0, 1.0], 600)
    proba[np.arange(600), labels] += 0.5
    proba /= proba.sum(axis=1, keepdims=True)
    assert quality.roc_auc_ovr(labels, proba) == pytest.approx(
        skm.roc_auc_score(labels, proba, multi_class="ovr", labels=[0, 1, 2]), abs=1e-12
    )


def test_log_loss_matches_scikit_learn_including_certain_wrong_answers(rng: np.random.Generator) -> None:
    labels = rng.integers(0, 2, 300)
    proba = np.column_stack([1 - (p := rng.random(300)), p])
    proba[:5] = [[1.0, 0.0]] * 5  # certain, and wrong when the label is 1: clipped, not infinite
    labels[:5] = 1
    assert quality.log_loss(labels, proba) == pytest.approx(
        skm.log_loss(labels, proba, labels=[0, 1]), rel=1e-12
    )
    three = rng.integers(0, 3, 300)
    proba3 = rng.dirichlet([2.0, 1.0, 1.0], 300)
    assert quality.log_loss(three, proba3) == pytest.approx(
        skm.log_loss(three, proba3, labels=[0, 1, 2]), rel=1e-12
    )


def test_regression_metrics_match_scikit_learn(rng: np.random.Generator) -> None:
    truth = rng.normal(100, 20, 400)
    predicted = truth + rng.normal(3, 10, 400)
    assert quality.rmse(truth, predicted) == pytest.approx(skm.root_mean_squared_error(truth, predicted))
    assert quality.mae(truth, predicted) == pytest.approx(skm.mean_absolute_error(truth, predicted))
    assert quality.r2(truth, predicted) == pytest.approx(skm.r2_score(truth, predicted), abs=1e-12)
    constant = np.full(10, 5.0)
    assert quality.r2(constant, constant) == skm.r2_score(constant, constant) == 1.0
    assert quality.r2(constant, constant + 1) == skm.r2_score(constant, constant + 1) == 0.0


# --- reading ground truth --------------------------------------------------------------------


def test_csv_and_json_lines_plain_and_gzip_are_read_with_their_index() -> None:
    store = InMemoryObjectStore()
    store.put(
        "ground-truth/churn/2026/11/a.csv",
        b'\xef\xbb\xbfrequest_id,label,index,note\r\nr1,true,0,x\r\nr1,false,1,"a, b"\r\n\r\nr2,True,,\r\n',
    )
    store.put("ground-truth/churn/b.csv.gz", gzip.compress(b"label,request_id\nbasic,r3\n"))
    store.put(
        "ground-truth/churn/c.jsonl.gz",
        gzip.compress(
            b'{"request_id": "r4", "label": 1.5, "index": 2}\n{"request_id": 77, "label": false}\n'
        ),
    )
    store.put("ground-truth/churn/d.json", b'{"request_id": "r5", "label": "pro", "index": null}')
    store.put("ground-truth/churn-eu/e.csv", b"request_id,label\nother,true\n")  # another model

    truth = read_ground_truth(store, "churn")

    assert truth.labels == {
        ("r1", 0): "true",
        ("r1", 1): "false",
        ("r2", 0): "True",
        ("r3", 0): "basic",
        ("r4", 2): 1.5,
        ("77", 0): False,
        ("r5", 0): "pro",
    }
    summary = truth.summary()
    assert (summary.files, summary.rows, summary.labels, summary.malformed, summary.duplicates) == (
        4,
        7,
        7,
        0,
        0,
    )


def test_malformed_lines_are_counted_with_the_first_examples_and_never_fatal() -> None:
    store = InMemoryObjectStore()
    store.put(
        "ground-truth/churn/bad.csv",
        b"request_id,label,index\n"
        b"r1,true,0\n"
        b"r2,true\n"  # a field short
        b",true,0\n"  # no request id
        b"r3,,0\n"  # no label
        b"r4,true,first\n"  # index not an integer
        b"r5,true,-1\n"  # negative index
        b"r6,\xff\xfe,0\n",  # not UTF-8
    )
    store.put(
        "ground-truth/churn/bad.jsonl",
        b'{"request_id": "r7", "label": true}\n'
        b"not json\n"
        b'["r8", true]\n'
        b'{"request_id": "r9", "label": null}\n'
        b'{"request_id": "r10", "label": {"a": 1}}\n'
        b'{"request_id": "r11", "label": NaN}\n'
        b'{"request_id": "r12", "label": true, "index": true}\n'
        b'{"label": true}\n',
    )
    store.put("ground-truth/churn/broken.gz", truncated_gzip(b"request_id,label\n", 500))

    truth = read_ground_truth(store, "churn")

    assert {k for k in truth.labels if k[0].startswith("r")} == {("r1", 0), ("r7", 0)}
    summary = truth.summary()
    assert summary.malformed == 14 and summary.files == 3
    assert len(summary.malformed_examples) == MALFORMED_EXAMPLES
    first = summary.malformed_examples[0]
    assert (first.file, first.line) == ("ground-truth/churn/bad.csv", 3)
    assert "2 fields where the header has 3" in first.reason
    reasons = [e.reason for e in summary.malformed_examples]
    assert reasons[1:6] == [
        "request_id is empty",
        "label is empty",
        "index 'first' is not an integer",
        "index -1 is not a non-negative integer",
        "not UTF-8 text",
    ]
    assert reasons[6:] == [
        "not JSON",
        "not a JSON object",
        "label is missing or null",
        "label must be a number, a boolean or text",
    ]


def truncated_gzip(header: bytes, rows: int) -> bytes:
    """A GZIP object cut in the middle of its data (random ids, so that it does not compress away)."""
    ids = np.random.default_rng(0).integers(0, 10**12, rows)
    body = gzip.compress(header + b"".join(b"%d,true\n" % i for i in ids))
    return body[: len(body) // 2]


def test_a_broken_gzip_object_is_reported_and_the_others_still_read() -> None:
    store = InMemoryObjectStore()
    store.put("ground-truth/churn/a.csv.gz", truncated_gzip(b"request_id,label\n", 500))
    store.put("ground-truth/churn/b.csv", b"request_id,label\nr2,false\n")
    truth = read_ground_truth(store, "churn")
    assert truth.labels[("r2", 0)] == "false"
    assert len(truth.labels) > 1  # the lines before the break are kept
    assert truth.malformed == 1
    assert truth.malformed_examples[0].file == "ground-truth/churn/a.csv.gz"
    assert "cannot be read" in truth.malformed_examples[0].reason


def test_a_csv_without_a_usable_header_is_malformed_whole_with_one_example() -> None:
    store = InMemoryObjectStore()
    store.put("ground-truth/churn/a.csv", b"r1,true\nr2,false\nr3,true\n")
    truth = read_ground_truth(store, "churn")
    assert truth.labels == {} and (truth.rows, truth.malformed) == (3, 3)
    assert len(truth.malformed_examples) == 1
    assert truth.malformed_examples[0].line == 1
    assert "header must name request_id and label" in truth.malformed_examples[0].reason


def test_duplicates_keep_the_last_label_and_the_limit_counts_what_it_leaves_out() -> None:
    store = InMemoryObjectStore()
    store.put("ground-truth/churn/1.csv", b"request_id,label\nr1,true\nr2,true\nr1,false\n")
    store.put("ground-truth/churn/2.csv", b"request_id,label\nr2,false\nr3,true\nr4,true\n")

    truth = read_ground_truth(store, "churn")
    assert truth.labels == {("r1", 0): "false", ("r2", 0): "false", ("r3", 0): "true", ("r4", 0): "true"}
    assert truth.duplicates == 2

    limited = read_ground_truth(store, "churn", max_labels=2)
    assert limited.labels == {("r1", 0): "false", ("r2", 0): "false"}  # a kept key is still updated
    assert (limited.over_limit, limited.duplicates) == (2, 2)
    with pytest.raises(ValueError, match="max_labels"):
        read_ground_truth(store, "churn", max_labels=0)


# --- the join --------------------------------------------------------------------------------


def put_capture(
    store: InMemoryObjectStore,
    day: str,
    rows: list[tuple[str, int, Any, dict[str, float] | None]],
    version: int | None = 1,
    extra: bytes = b"",
) -> None:
    records = [
        CaptureRecord(
            model="churn",
            version=version,
            request_id=request_id,
            time=datetime.fromisoformat(f"{day}T09:00:00+00:00"),
            index=index,
            features={"plan": "basic"},
            prediction=prediction,
            probabilities=proba,
        )
        for request_id, index, prediction, proba in rows
    ]
    prefix = f"capture/churn/dt={day}/"
    body = gzip.compress(b"".join(r.to_line() for r in records) + extra)
    store.put(f"{prefix}part-{len(store.keys(prefix))}.gz", body)


def test_the_join_matches_request_and_index_of_the_version_in_the_window() -> None:
    store = InMemoryObjectStore()
    store.put(
        "ground-truth/churn/a.csv",
        b"request_id,label,index\nr1,true,0\nr1,false,1\nr2,true,0\nr3,true,0\nr4,true,0\nr9,true,0\n",
    )
    proba = {"false": 0.2, "true": 0.8}
    put_capture(store, DAY, [("r1", 0, True, proba), ("r1", 1, True, proba), ("r5", 0, False, None)])
    put_capture(store, DAY, [("r1", 0, True, proba)], extra=b"not json\n")  # a delivery retried
    put_capture(store, DAY, [("r2", 0, False, None)], version=2)  # the canary's request
    put_capture(store, "2026-11-01", [("r3", 0, True, proba)])  # outside the window

    joined = join_predictions(
        store, "churn", 1, read_ground_truth(store, "churn"), start=date(2026, 11, 18), end=date(2026, 11, 20)
    )

    assert joined.labels == ["true", "false"] and joined.predictions == [True, True]
    assert joined.probabilities == [proba, proba]
    assert (joined.joined, joined.unmatched_labels) == (2, 4)
    assert joined.window == QualityWindow(
        start=date(2026, 11, 18),
        end=date(2026, 11, 20),
        files=3,
        records=4,
        malformed=1,
        other_versions=1,
        duplicates=1,
    )
    assert joined.ground_truth.labels == 6


def test_a_broken_or_vanished_capture_object_does_not_stop_the_join() -> None:
    class Vanishing(InMemoryObjectStore):
        def open(self, key: str, version_id: str | None = None) -> Any:
            if key.endswith("gone.gz"):
                raise quality.ObjectMissing(key)  # deleted between the listing and the read
            return super().open(key, version_id)

    store = Vanishing()
    store.put("ground-truth/churn/a.csv", b"request_id,label\nr1,true\n")
    unlabelled = b"".join(
        CaptureRecord(
            model="churn", version=1, request_id=f"u{i}", time=NOW, index=0, features={"n": i}, prediction=i
        ).to_line()
        for i in np.random.default_rng(1).integers(0, 10**12, 500).tolist()
    )
    broken = gzip.compress(unlabelled)
    store.put(f"capture/churn/dt={DAY}/a-broken.gz", broken[: len(broken) // 2])
    store.put(f"capture/churn/dt={DAY}/gone.gz", b"")
    put_capture(store, DAY, [("r1", 0, True, None)])

    joined = join_predictions(
        store, "churn", 1, read_ground_truth(store, "churn"), start=date(2026, 11, 20), end=date(2026, 11, 20)
    )
    assert joined.labels == ["true"] and joined.predictions == [True]
    assert (joined.window.files, joined.window.malformed) == (2, 1)
    assert 1 < joined.window.records < 501  # the records before the break, and r1


# --- the verdict on a joined window ----------------------------------------------------------


def version_with(metrics: dict[str, float], primary: str, number: int = 1) -> ModelVersion:
    return ModelVersion(
        model="churn",
        version=number,
        status="Approved",
        artifact_uri="s3://data/models/churn/run-1/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri="s3://data/models/churn/run-1/manifest.json",
        metrics=metrics,
        primary_metric=primary,
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        registered_at=NOW,
        updated_at=NOW,
    )


def joined_of(
    labels: list[Any], predictions: list[Any], probabilities: list[Any] | None = None
) -> JoinedWindow:
    truth = GroundTruth(prefix="ground-truth/churn/", files=1, rows=len(labels))
    joined = JoinedWindow(
        model="churn",
        version=1,
        window=QualityWindow(start=date(2026, 11, 14), end=date(2026, 11, 20)),
        ground_truth=truth.summary(),
    )
    joined.labels.extend(labels)
    joined.predictions.extend(predictions)
    joined.probabilities.extend(probabilities or [None] * len(labels))
    return joined


def classifier_traffic(
    n: int, seed: int, *, flipped: bool = False
) -> tuple[list[bool], list[bool], list[Any]]:
    """Labels, predictions and probabilities of a fair binary classifier (flipped: labels disagree)."""
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    score = np.clip(0.5 + np.where(y, 0.2, -0.2) + rng.normal(0, 0.2, n), 0.01, 0.99)
    truth = (~y if flipped else y).tolist()
    return truth, (score >= 0.5).tolist(), [{"false": 1 - s, "true": s} for s in score.tolist()]


def registered_metrics() -> dict[str, float]:
    """What training would have recorded: scikit-learn on a large held-out sample."""
    y, predicted, proba = classifier_traffic(5000, seed=100)
    scores = np.array([p["true"] for p in proba])
    return {
        "roc_auc": float(skm.roc_auc_score(y, scores)),
        "f1": float(skm.f1_score(y, predicted, pos_label=True)),
        "accuracy": float(skm.accuracy_score(y, predicted)),
        "log_loss": float(skm.log_loss(y, np.column_stack([1 - scores, scores]), labels=[False, True])),
    }


def test_a_healthy_window_has_the_registered_metrics_within_the_threshold() -> None:
    y, predicted, proba = classifier_traffic(1000, seed=1)
    # labels as users upload them: text in any case, from CSV
    labels = ["TRUE" if v else "False" for v in y]
    report = check_quality(
        version_with(registered_metrics(), "roc_auc"), joined_of(labels, predicted, proba), QualitySpec()
    )

    assert report.status == "ok" and not report.degraded and report.task == "classification"
    assert set(report.metrics) == {"roc_auc", "f1", "accuracy", "log_loss"}
    scores = np.array([p["true"] for p in proba])
    assert report.metrics["roc_auc"].value == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert report.metrics["f1"].value == pytest.approx(skm.f1_score(y, predicted), abs=1e-12)
    assert report.metrics["log_loss"].value == pytest.approx(
        skm.log_loss(y, np.column_stack([1 - scores, scores])), rel=1e-9
    )
    assert report.drop is not None and abs(report.drop) < 0.05
    assert report.metric == "roc_auc" and report.registered == registered_metrics()["roc_auc"]
    assert (report.joined, report.unknown_classes, report.unusable) == (1000, 0, 0)


def test_labels_that_disagree_with_the_predictions_degrade_every_metric_in_its_direction() -> None:
    y, predicted, proba = classifier_traffic(1000, seed=2, flipped=True)
    report = check_quality(
        version_with(registered_metrics(), "log_loss"), joined_of(y, predicted, proba), QualitySpec()
    )

    assert report.status == "degraded" and report.degraded and report.metric == "log_loss"
    by_name = report.metrics
    # lower is better for log_loss: its rise is a positive drop
    assert by_name["log_loss"].higher_is_better is False
    assert (
        by_name["log_loss"].value is not None and by_name["log_loss"].value > by_name["log_loss"].registered
    )
    assert all(m.drop is not None and m.drop > 0.05 for m in by_name.values())
    assert by_name["roc_auc"].higher_is_better is True and by_name["roc_auc"].rows == 1000


def test_fewer_labels_than_min_labels_is_insufficient_data_never_degraded() -> None:
    y, predicted, proba = classifier_traffic(60, seed=3, flipped=True)
    report = check_quality(
        version_with(registered_metrics(), "roc_auc"), joined_of(y, predicted, proba), QualitySpec()
    )
    assert report.status == "insufficient_data" and not report.degraded
    assert report.reason is not None and "60 labelled predictions" in report.reason
    assert "min_labels=100" in report.reason
    assert report.metrics["roc_auc"].value is not None  # computed, reported, not judged

    smaller = check_quality(
        version_with(registered_metrics(), "roc_auc"),
        joined_of(y, predicted, proba),
        QualitySpec(min_labels=50),
    )
    assert smaller.status == "degraded"


def test_roc_auc_with_one_class_in_the_labels_is_insufficient_data_with_the_reason() -> None:
    _, predicted, proba = classifier_traffic(200, seed=4)
    report = check_quality(
        version_with(registered_metrics(), "roc_auc"),
        joined_of([True] * 200, predicted, proba),
        QualitySpec(),
    )
    assert report.status == "insufficient_data"
    assert report.reason == "roc_auc needs labels of every class; none of false in the window"
    assert report.metrics["accuracy"].value is not None


def test_classes_come_from_the_manifest_and_unknown_labels_count_as_errors() -> None:
    # integer classes: 10 sorts after 2 only as a number; labels spelled 2.0 or "10"
    labels = [2.0, "10", 2, "7", 10] * 40
    predictions = [2, 10, 10, 2, 10] * 40
    probabilities = [
        {"2": 0.9, "10": 0.1},
        {"2": 0.2, "10": 0.8},
        {"2": 0.4, "10": 0.6},
        {"2": 0.7, "10": 0.3},
        {"2": 0.1, "10": 0.9},
    ] * 40
    version = version_with({"f1": 0.9, "accuracy": 0.9, "roc_auc": 0.9}, "f1")
    report = check_quality(
        version, joined_of(labels, predictions, probabilities), QualitySpec(), classes=[2, 10]
    )

    assert report.unknown_classes == 40  # "7" is not a class
    assert report.metrics["accuracy"].value == pytest.approx(0.6)
    # the f1 of class 10 (scikit-learn's "binary" refuses a third label, so ask for that class's)
    expected_f1 = skm.f1_score(
        ["2", "10", "2", "7", "10"] * 40, ["2", "10", "10", "2", "10"] * 40, labels=["10"], average=None
    )[0]
    assert report.metrics["f1"].value == pytest.approx(expected_f1)
    assert report.metrics["roc_auc"].rows == 160 and report.metrics["roc_auc"].value == pytest.approx(1.0)

    inferred = check_quality(version, joined_of(labels, predictions, probabilities), QualitySpec())
    assert inferred.metrics == report.metrics  # 2 before 10, as scikit-learn sorts integers


def test_regression_losses_rise_as_drops_and_r2_falls() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(300, 50, 500)
    predicted = truth + rng.normal(0, 30, 500)
    version = version_with({"rmse": 20.0, "mae": 16.0, "r2": 0.85}, "rmse")
    labels: list[Any] = [str(v) for v in truth.tolist()]  # CSV text
    labels[0] = "n/a"
    report = check_quality(version, joined_of(labels, predicted.tolist()), QualitySpec(max_drop=5.0))

    assert report.task == "regression" and report.unusable == 1
    value = skm.root_mean_squared_error(truth[1:], predicted[1:])
    assert report.metrics["rmse"].value == pytest.approx(value)
    assert report.drop == pytest.approx(value - 20.0) and report.drop is not None and report.drop > 5.0
    assert report.status == "degraded"
    assert report.metrics["r2"].drop == pytest.approx(0.85 - skm.r2_score(truth[1:], predicted[1:]))

    judged_by_r2 = check_quality(
        version, joined_of(labels, predicted.tolist()), QualitySpec(metric="r2", max_drop=0.5)
    )
    assert judged_by_r2.metric == "r2" and judged_by_r2.status == "ok"


def test_a_metric_the_version_never_registered_or_no_ground_truth_is_skipped() -> None:
    version = version_with({"roc_auc": 0.8}, "roc_auc")
    y, predicted, proba = classifier_traffic(200, seed=6)
    report = check_quality(version, joined_of(y, predicted, proba), QualitySpec(metric="accuracy"))
    assert report.status == "skipped"
    assert report.reason == "version 1 has no registered accuracy; set drift.quality.metric to one of roc_auc"

    empty = joined_of([], [], [])
    empty.ground_truth = empty.ground_truth.model_copy(update={"files": 0})
    nothing = check_quality(version, empty, QualitySpec())
    assert (nothing.status, nothing.reason) == ("skipped", "no ground-truth files under ground-truth/churn/")


# --- the contract's drift.quality ------------------------------------------------------------


def contract_text(drift: dict[str, Any]) -> str:
    document = yaml.safe_load(CHURN.read_text())
    document["drift"] = drift
    return yaml.safe_dump(document)


def test_the_quality_section_is_read_and_its_errors_name_the_key() -> None:
    spec = drift_spec(
        load_contract(contract_text({"quality": {"max_drop": 0.1, "min_labels": 20, "window_days": 30}}))
    )
    assert spec.quality == QualitySpec(max_drop=0.1, min_labels=20, window_days=30)
    assert drift_spec(load_contract(contract_text({}))).quality == QualitySpec()

    bad = {"quality": {"max_drop": -0.1, "min_labels": 0, "metric": "auc", "window": 3}}
    with pytest.raises(ContractError) as caught:
        drift_spec(load_contract(contract_text(bad)))
    errors = {e.field: e.message for e in caught.value.errors}
    assert set(errors) == {
        "drift.quality.max_drop",
        "drift.quality.min_labels",
        "drift.quality.metric",
        "drift.quality.window",
    }
    assert errors["drift.quality.metric"].startswith("'auc' is not a training metric; use one of roc_auc")
    assert "unknown key" in errors["drift.quality.window"]


# --- the K-of-N state ------------------------------------------------------------------------


def test_a_state_store_writes_only_the_drift_or_the_quality_item() -> None:
    assert InMemoryDriftStateStore().key == "DRIFT"
    assert InMemoryDriftStateStore(QUALITY_STATE_KEY).key == "QUALITY"
    with pytest.raises(ValueError, match="'META' is not one of DRIFT, QUALITY"):
        InMemoryDriftStateStore("META")


def test_record_verdict_confirms_k_of_n_alerts_once_and_re_arms() -> None:
    states = InMemoryDriftStateStore(QUALITY_STATE_KEY)

    def verdict(flagged: bool, run: str, version: int = 1) -> tuple[list[bool], bool, bool]:
        v = record_verdict(states, "churn", version, flagged, runs=3, required=2, run_id=run, now=NOW)
        return v.recent, v.confirmed, v.alerted

    assert verdict(True, "r1") == ([True], False, False)
    assert verdict(True, "r2") == ([True, True], True, True)
    assert verdict(False, "r3") == ([True, True, False], True, False)
    assert verdict(False, "r4") == ([True, False, False], False, False)
    assert verdict(True, "r5") == ([False, False, True], False, False)
    assert verdict(True, "r6") == ([False, True, True], True, True)
    assert verdict(True, "r7", version=2) == ([True], False, False)  # a new version starts afresh

    class AlwaysLosing(InMemoryDriftStateStore):
        def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
            raise StateConflict(state.model)

    with pytest.raises(StateConflict, match="kept changing"):
        record_verdict(AlwaysLosing(), "churn", 1, True, runs=3, required=2, run_id="r", now=NOW)


# --- one check of one model ------------------------------------------------------------------


@pytest.fixture
def store() -> InMemoryObjectStore:
    store = InMemoryObjectStore("data")
    text = contract_text(
        {"window_days": 3, "confirm": {"runs": 3, "drifted": 2}, "quality": {"min_labels": 100}}
    )
    store.put("contracts/churn.yaml", text.encode())
    manifest = ModelManifest(
        model_name="churn",
        task="classification",
        estimator="hist_gradient_boosting",
        metrics=registered_metrics(),
        primary_metric="roc_auc",
        target="churned",
        classes=[False, True],
        feature_signature=[FeatureField(name="plan", type="category", encoding="category")],
        contract_version=1,
        contract_sha256="b" * 64,
        libraries=library_versions(),
        artifact_sha256="a" * 64,
        trained_at=NOW,
    )
    store.put("models/churn/run-1/manifest.json", manifest.model_dump_json(by_alias=True).encode())
    return store


@pytest.fixture
def registry() -> InMemoryModelRegistry:
    registry = InMemoryModelRegistry()
    registry.register(
        "churn",
        artifact_uri="s3://data/models/churn/run-1/model.skops",
        artifact_sha256="a" * 64,
        manifest_uri="s3://data/models/churn/run-1/manifest.json",
        metrics=registered_metrics(),
        primary_metric="roc_auc",
        lineage=Lineage(contract_version=1, contract_sha256="b" * 64),
        actor="test",
    )
    registry.approve("churn", 1, actor="test")
    registry.promote("churn", 1, actor="test")
    return registry


def labelled_traffic(
    store: InMemoryObjectStore, n: int, seed: int, *, flipped: bool = False, day: str = DAY
) -> None:
    """Captured predictions of ``n`` requests and their ground truth, as JSON lines."""
    y, predicted, proba = classifier_traffic(n, seed, flipped=flipped)
    ids = [f"{seed}-{i}" for i in range(n)]
    put_capture(store, day, [(r, 0, p, q) for r, p, q in zip(ids, predicted, proba, strict=True)])
    lines = "".join(json.dumps({"request_id": r, "label": v}) + "\n" for r, v in zip(ids, y, strict=True))
    store.put(f"ground-truth/churn/{day}/labels-{seed}.jsonl.gz", gzip.compress(lines.encode()))


def run(
    store: InMemoryObjectStore,
    registry: InMemoryModelRegistry,
    states: InMemoryDriftStateStore,
    run_id: str,
    now: datetime = NOW,
) -> Any:
    return check_model_quality("churn", registry=registry, store=store, states=states, now=now, run_id=run_id)


def test_a_degraded_model_is_confirmed_by_two_of_three_runs_and_alerts_once(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    labelled_traffic(store, 400, seed=7, flipped=True)
    states = InMemoryDriftStateStore(QUALITY_STATE_KEY)

    first = run(store, registry, states, "r1")
    assert first.status == "degraded" and first.joined == 400 and first.dataset == "churn"
    assert (first.recent, first.confirmed, first.alert) == ([True], False, False)
    assert (first.confirm_runs, first.confirm_degraded) == (3, 2)

    second = run(store, registry, states, "r2")
    assert (second.recent, second.confirmed, second.alert) == ([True, True], True, True)

    third = run(store, registry, states, "r3")
    assert (third.recent, third.confirmed, third.alert) == ([True, True, True], True, False)

    assert store.json(report_key("churn", "r3")) == store.json(latest_key("churn"))
    document = store.json(latest_key("churn"))
    assert document["status"] == "degraded" and document["metric"] == "roc_auc"
    assert document["metrics"]["roc_auc"]["drop"] > 0.05
    assert document["ground_truth"]["labels"] == 400
    assert states.states["churn"].recent == [True, True, True]


def test_a_healthy_model_is_ok_and_does_not_alert(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    labelled_traffic(store, 600, seed=8)
    states = InMemoryDriftStateStore(QUALITY_STATE_KEY)
    reports = [run(store, registry, states, f"r{n}") for n in (1, 2, 3)]
    assert [r.status for r in reports] == ["ok", "ok", "ok"]
    assert reports[-1].recent == [False, False, False] and not any(r.alert for r in reports)


def test_too_few_labels_is_insufficient_data_and_keeps_the_history(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    labelled_traffic(store, 400, seed=9, flipped=True)
    states = InMemoryDriftStateStore(QUALITY_STATE_KEY)
    run(store, registry, states, "r1")
    later = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # the window moved past the labelled traffic
    labelled_traffic(store, 30, seed=10, flipped=True, day="2026-11-30")

    report = run(store, registry, states, "r2", now=later)

    assert report.status == "insufficient_data" and not report.degraded
    assert report.joined == 30 and report.unmatched_labels == 400
    assert report.recent == [True] and not report.confirmed and not report.alert
    assert states.states["churn"].run_id == "r1"


def test_a_new_production_version_starts_its_own_history(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    labelled_traffic(store, 400, seed=11, flipped=True)
    states = InMemoryDriftStateStore(QUALITY_STATE_KEY)
    states.states["churn"] = DriftState(
        model="churn", version=7, recent=[True, True], confirmed=True, run_id="old", updated_at=NOW
    )
    report = run(store, registry, states, "r1")
    assert report.recent == [True] and not report.confirmed and not report.alert


def test_the_contracts_quality_section_decides_and_the_manifest_is_optional(
    store: InMemoryObjectStore, registry: InMemoryModelRegistry
) -> None:
    labelled_traffic(store, 400, seed=12, flipped=True)
    store.put("contracts/churn.yaml", contract_text({"quality": {"max_drop": 1.0}}).encode())
    store.objects.pop("models/churn/run-1/manifest.json")  # classes and task are inferred
    report = run(store, registry, InMemoryDriftStateStore(QUALITY_STATE_KEY), "r1")
    assert report.status == "ok" and report.max_drop == 1.0 and report.task == "classification"
    assert report.drop is not None and report.drop > 0.05


def test_a_model_without_a_production_version_is_skipped(store: InMemoryObjectStore) -> None:
    report = check_model_quality(
        "churn",
        registry=InMemoryModelRegistry(),
        store=store,
        states=InMemoryDriftStateStore(QUALITY_STATE_KEY),
        now=NOW,
        run_id="r1",
    )
    assert (report.status, report.reason, report.version) == ("skipped", "no production version", None)
    assert store.json(report_key("churn", "r1"))["status"] == "skipped"


def test_without_labels_the_capture_is_not_read() -> None:
    store = InMemoryObjectStore()
    put_capture(store, DAY, [("r1", 0, True, None), ("r2", 0, False, None)])
    opened: list[str] = []
    original = store.open

    def counting_open(key: str, version_id: str | None = None) -> Any:
        opened.append(key)
        return original(key, version_id)

    store.open = counting_open  # type: ignore[method-assign]
    joined = join_predictions(
        store, "churn", 1, read_ground_truth(store, "churn"), start=date(2026, 11, 18), end=date(2026, 11, 20)
    )
    assert opened == [] and joined.window.files == 0 and joined.joined == 0
