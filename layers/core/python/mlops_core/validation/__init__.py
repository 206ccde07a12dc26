"""Validation of uploaded datasets against their data contracts."""

from .engine import validate_csv_stream, validate_file, validate_parquet
from .report import SampleRow, SourceInfo, ValidationReport, Violation, ViolationKind, ViolationSample

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
