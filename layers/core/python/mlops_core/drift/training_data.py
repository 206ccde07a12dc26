"""Training-data drift: a newly validated file of a dataset against its production model's baseline.

When a dataset is validated, the model in production was trained on older data of the same
dataset. Comparing the new file with that model's baseline says, before any model is trained
on it, whether the next version will learn a different population (and which features moved).
The check reads the validated CSV copy with the standard library (streamed, a seeded
reservoir sample of ``max_instances`` rows, GZIP or plain), spelled as the contract says
(its delimiter, quote character, null and boolean spellings); Parquet is reported as
skipped, since the drift function ships without pyarrow. The comparison and the report are
the traffic check's (``compare_by_spec``, ``DriftReport``), under
``reports/drift/<model>/data-<run_id>.json``; it keeps no K-of-N state and never alerts.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import random
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from mlops_core.contracts import ColumnType, DataContract, DataFormat, contract_key
from mlops_core.drift.spec import DriftSpec, drift_spec
from mlops_core.drift.window import PrefixedStream
from mlops_core.drift_check import DriftReport, bucket_key, compare_by_spec, read_contract, report_key
from mlops_core.object_store import ObjectStore
from mlops_core.registry.store import DEFAULT_ALIAS, ModelRegistry
from mlops_core.training.baseline import DriftBaseline

_GZIP_MAGIC = b"\x1f\x8b"


def training_data_run_id(run_id: str) -> str:
    """The report of a validated file's check: ``data-<the validation run id>``."""
    return f"data-{run_id}"


def check_training_data(
    dataset: str,
    validated_uri: str,
    *,
    registry: ModelRegistry,
    store: ObjectStore,
    now: datetime,
    run_id: str,
) -> list[DriftReport]:
    """Compare ``validated_uri`` with the baseline of every production model trained on ``dataset``."""
    reports: list[DriftReport] = []
    for model in registry.list_models():
        pointer = registry.alias(model, DEFAULT_ALIAS)
        if pointer is None:
            continue
        version = registry.get(model, pointer.version)
        if not version.baseline_uri:
            continue
        baseline = DriftBaseline.model_validate_json(store.read_text(bucket_key(store, version.baseline_uri)))
        if baseline.dataset != dataset:
            continue
        reports.append(
            _check(model, version.version, baseline, validated_uri, store=store, now=now, run_id=run_id)
        )
    return reports


def _check(
    model: str,
    version: int,
    baseline: DriftBaseline,
    validated_uri: str,
    *,
    store: ObjectStore,
    now: datetime,
    run_id: str,
) -> DriftReport:
    contract = read_contract(store, baseline.dataset)
    spec = drift_spec(contract, source=store.uri(contract_key(baseline.dataset))) if contract else DriftSpec()
    report = DriftReport(
        model=model,
        version=version,
        dataset=baseline.dataset,
        run_id=training_data_run_id(run_id),
        checked_at=now,
        status="skipped",
        source_uri=validated_uri,
        drift_share_threshold=spec.drift_share,
    )
    if contract is not None and contract.format is DataFormat.PARQUET:
        reason = "Parquet is not read by the drift function (it ships without pyarrow)"
        return _store(store, report.model_copy(update={"reason": reason}))
    rows = list(
        read_rows(
            store, bucket_key(store, validated_uri), baseline, contract, max_instances=spec.max_instances
        )
    )
    comparison = compare_by_spec(baseline, rows, spec, contract=contract)
    verdict = comparison.verdict(spec.drift_share)
    return _store(
        store,
        report.model_copy(
            update={
                "status": verdict,
                "reason": None
                if verdict != "insufficient_data"
                else f"{len(rows)} rows; a feature needs at least min_samples={spec.min_samples} values",
                "drift_share": comparison.drift_share if comparison.tested else None,
                "dataset_drift": verdict == "drift",
                "drifted_features": comparison.drifted,
                "features": {f.feature: f for f in comparison.features},
                "unknown_features": comparison.unknown_features,
            }
        ),
    )


def read_rows(
    store: ObjectStore,
    key: str,
    baseline: DriftBaseline,
    contract: DataContract | None,
    *,
    max_instances: int,
    seed: int = 0,
) -> Iterator[dict[str, Any]]:
    """A uniform sample of at most ``max_instances`` rows, with only the baseline's features.

    Numbers stay text (the comparison parses them); the contract's null spellings become
    ``None`` and its boolean spellings ``True``/``False``.
    """
    options = contract.csv if contract is not None else None
    nulls = set(options.null_values) if options is not None else {""}
    trues = set(options.true_values) if options is not None else {"true", "True", "TRUE", "1"}
    falses = set(options.false_values) if options is not None else {"false", "False", "FALSE", "0"}
    booleans = {f.name for f in baseline.features if f.type is ColumnType.BOOLEAN}
    names = [f.name for f in baseline.features]
    sample: list[dict[str, Any]] = []
    rng = random.Random(seed)  # noqa: S311 - a repeatable sample, not a secret
    reader = csv.DictReader(
        _text_lines(store, key),
        delimiter=options.delimiter if options is not None else ",",
        quotechar=options.quote_char if options is not None else '"',
    )
    for seen, row in enumerate(reader, start=1):
        values: dict[str, Any] = {}
        for name in names:
            raw = row.get(name)
            if raw is None or raw in nulls:
                values[name] = None
            elif name in booleans:
                values[name] = True if raw in trues else False if raw in falses else raw
            else:
                values[name] = raw
        if len(sample) < max_instances:
            sample.append(values)
        else:
            slot = rng.randrange(seen)
            if slot < max_instances:
                sample[slot] = values
    yield from sample


def _text_lines(store: ObjectStore, key: str) -> Iterator[str]:
    """The object's lines as text, gunzipped when it starts with the GZIP magic bytes."""
    body = store.open(key)
    head = body.read(2)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    pending = ""

    def chunks() -> Iterator[bytes]:
        if head == _GZIP_MAGIC:
            with gzip.GzipFile(fileobj=PrefixedStream(head, body)) as unzipped:  # type: ignore[call-overload]
                while chunk := unzipped.read(1 << 20):
                    yield chunk
        else:
            yield head
            while chunk := body.read(1 << 20):
                yield chunk

    for chunk in chunks():
        pending += decoder.decode(chunk)
        *complete, pending = pending.split("\n")
        for line in complete:
            yield line + "\n"
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending


def _store(store: ObjectStore, report: DriftReport) -> DriftReport:
    store.put_json(report_key(report.model, report.run_id), report.model_dump_json(indent=2))
    return report
