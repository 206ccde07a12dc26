"""Validation of uploaded datasets against their data contracts."""

from mlops_core.validation.engine import validate_csv_stream, validate_file, validate_parquet
from mlops_core.validation.report import (
    SampleRow,
    SourceInfo,
    ValidationReport,
    Violation,
    ViolationKind,
    ViolationSample,
)

__all__ = [
    "SampleRow",
    "SourceInfo",
    "ValidationReport",
    "Violation",
    "ViolationKind",
    "ViolationSample",
    "validate_csv_stream",
    "validate_file",
    "validate_parquet",
]
