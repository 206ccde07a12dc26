"""The local cloud's Firehose delivery: partition keys and prefixes filled in as AWS does."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops_cli.local.firehose import (
    UnsupportedFirehoseConfig,
    extraction_query,
    object_prefix,
    partition_keys,
)

DESTINATION = {
    "Prefix": "capture/!{partitionKeyFromQuery:model}/dt=!{partitionKeyFromQuery:dt}/",
    "DynamicPartitioningConfiguration": {"Enabled": True},
    "ProcessingConfiguration": {
        "Enabled": True,
        "Processors": [
            {
                "Type": "MetadataExtraction",
                "Parameters": [
                    {
                        "ParameterName": "MetadataExtractionQuery",
                        "ParameterValue": "{model: .model, dt: .time[0:10]}",
                    },
                    {"ParameterName": "JsonParsingEngine", "ParameterValue": "JQ-1.6"},
                ],
            }
        ],
    },
}


def test_the_template_s_query_partitions_by_model_and_day() -> None:
    query = extraction_query(DESTINATION)
    assert query is not None

    keys = partition_keys(query, {"model": "churn", "time": "2026-11-27T18:00:00Z", "x": 1})

    assert keys == {"model": "churn", "dt": "2026-11-27"}
    assert object_prefix(DESTINATION["Prefix"], keys, datetime.now(UTC)) == "capture/churn/dt=2026-11-27/"  # type: ignore[arg-type]


def test_timestamp_expressions_use_java_patterns() -> None:
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)

    assert object_prefix("errors/!{timestamp:yyyy-MM-dd/HH}/", {}, moment) == "errors/2026-01-02/03/"


def test_a_query_the_local_cloud_cannot_evaluate_is_named() -> None:
    with pytest.raises(UnsupportedFirehoseConfig, match=r"part 'model: \.model \| ascii' is not"):
        partition_keys("{model: .model | ascii}", {"model": "x"})


def test_without_dynamic_partitioning_there_is_no_query() -> None:
    assert extraction_query({"Prefix": "capture/"}) is None
