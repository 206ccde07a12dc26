"""Contracts as users write them: any YAML either loads or is a ContractError naming the field.

And a contract that loads is one the rest of the bundle can use: its drift: and training:
sections parse or name their field, and the validation engine runs on it, returning a report.
"""

from __future__ import annotations

import copy
import io
import math
from datetime import date, datetime
from typing import Any

import yaml
from hypothesis import example, given
from hypothesis import strategies as st

from mlops_core.contracts import ContractError, DataContract, load_contract
from mlops_core.drift.spec import drift_spec
from mlops_core.drift.statistics import TESTS
from mlops_core.training.spec import training_spec
from mlops_core.validation import SourceInfo, ValidationReport, validate_csv_stream

from ..conftest import REPO_ROOT
from .conftest import share_of_examples

CHURN_YAML = (REPO_ROOT / "infra" / "contracts" / "churn.yaml").read_text()
CHURN: dict[str, Any] = yaml.safe_load(CHURN_YAML)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, -(2**63) - 1, 2**70, 0, -1, 10**400])
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["", "2024-13-01", "2024-01-31", "2024-02-30T10:00", "é", "\n", '"', ",", "\r", "auto"])
    | st.dates()
    | st.datetimes()
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
#: Keys a contract, a column, its csv options and its sections know, and a few it does not.
KEYS = st.sampled_from(
    [
        *CHURN,
        "csv",
        "max_columns",
        "name",
        "type",
        "role",
        "nullable",
        "unique",
        "pii",
        "min",
        "max",
        "allowed",
        "pattern",
        "max_length",
        "delimiter",
        "quote_char",
        "null_values",
        "true_values",
        "false_values",
        "method",
        "features",
        "threshold",
        "min_samples",
        "confirm",
        "quality",
        "max_drop",
        "params",
        "colour",
    ]
)


def _load(text: str | bytes) -> DataContract | ContractError:
    try:
        return load_contract(text, source="fuzz.yaml")
    except ContractError as error:  # the one error a contract may raise; anything else fails
        return error


def _check(text: str | bytes, *, validate: bool = True) -> ContractError | None:
    """The property: a contract, usable by every stage, or a ContractError naming each field."""
    outcome = _load(text)
    if isinstance(outcome, ContractError):
        _named(outcome)
        return outcome
    _usable(outcome, validate=validate)
    return None


def _named(error: ContractError, prefix: str = "") -> None:
    assert error.errors, error
    for entry in error.errors:
        assert entry.field and entry.message, entry
        assert entry.field.startswith(prefix), (prefix, entry)
        assert entry.field in str(error) and entry.message in str(error)


def _usable(contract: DataContract, *, validate: bool = True) -> None:
    for section, parse in (("drift", drift_spec), ("training", training_spec)):
        if section == "training" and contract.training is None:
            continue
        try:
            parse(contract)
        except ContractError as error:
            _named(error, section)
    if not validate:
        return
    header = ",".join(contract.column_names).encode()
    rows = [b",".join([cell] * len(contract.columns)) for cell in (b"1", b"a", b"", b"2024-01-01", b"true")]
    data = b"\n".join([header, *rows]) + b"\n"
    report = validate_csv_stream(
        io.BytesIO(data), contract, source=SourceInfo(uri="file:///fuzz.csv", format="csv", bytes=len(data))
    )
    assert isinstance(report, ValidationReport)


@given(text=st.text(max_size=400))
def test_any_text_loads_as_a_contract_or_names_the_field(text: str) -> None:
    _check(text)


@given(data=st.binary(max_size=200))
def test_any_bytes_load_as_a_contract_or_name_the_field(data: bytes) -> None:
    _check(data)


@given(document=st.dictionaries(KEYS, VALUES, max_size=8) | VALUES)
def test_any_yaml_document_loads_as_a_contract_or_names_the_field(document: Any) -> None:
    _check(yaml.safe_dump(document, allow_unicode=True))


# -- mutations of the example contract ------------------------------------------------------------


def _paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    found = [path] if path else []
    if isinstance(node, dict):
        for key, value in node.items():
            found += _paths(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += _paths(value, (*path, index))
    return found


PATHS = _paths(CHURN)


def _node(document: Any, path: tuple[str | int, ...]) -> Any:
    for part in path:
        document = document[part]
    return document


#: Mappings a key can be added to (a known key left out of churn.yaml, or an unknown one).
MAPPING_PATHS = [(), *(p for p in PATHS if isinstance(_node(CHURN, p), dict))]


def _rendered(path: tuple[str | int, ...], document: dict[str, Any]) -> str:
    """The start of the field name an error about ``path`` carries: columns[<name>] or columns[i]."""
    if path[0] == "columns" and len(path) > 1:
        column = _node(document, path[:2]) if _exists(document, path[:2]) else None
        name = column.get("name") if isinstance(column, dict) else None
        return f"columns[{name}]" if isinstance(name, str) else "columns"
    return str(path[0])


def _exists(document: Any, path: tuple[str | int, ...]) -> bool:
    try:
        _node(document, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


@given(path=st.sampled_from(PATHS), data=st.data())
def test_a_mutated_example_contract_loads_or_names_the_field_it_broke(
    path: tuple[str | int, ...], data: st.DataObject
) -> None:
    document = copy.deepcopy(CHURN)
    operation = data.draw(st.sampled_from(["drop", "set", "add"]), label="operation")
    parent = _node(document, path[:-1])
    if operation == "drop" and isinstance(parent, dict):
        del parent[path[-1]]
    elif operation == "drop" and isinstance(parent, list):
        parent.pop(int(path[-1]))
    elif operation == "set":
        parent[path[-1]] = data.draw(VALUES, label="value")
    else:
        target = data.draw(st.sampled_from(MAPPING_PATHS), label="mapping")
        path = (*target, data.draw(KEYS, label="key"))
        _node(document, target)[path[-1]] = data.draw(VALUES, label="value")
    text = yaml.safe_dump(document, allow_unicode=True)
    if not path:
        return

    error = _check(text)

    if error is not None:
        field = _rendered(path, document)
        assert any(e.field.startswith(field) for e in error.errors), (field, error.errors)


WEIRD_NUMBERS = st.sampled_from([math.nan, math.inf, -math.inf, 2**63, -(2**63) - 1, 2**70, 1e308, -0.0])


@given(
    column=st.sampled_from([c["name"] for c in CHURN["columns"]]),
    rule=st.sampled_from(["min", "max", "allowed"]),
    value=WEIRD_NUMBERS
    | st.sampled_from(
        ["2024-13-01", "2024-02-30", "abc", "2024-01-01", date(2024, 1, 31), datetime(2024, 1, 31)]
    )
    | st.lists(SCALARS, min_size=1, max_size=3),
)
@example(column="signup_at", rule="min", value="2024-13-01")
@example(column="tenure_months", rule="allowed", value=["abc"])
@example(column="tenure_months", rule="max", value=2**70)
@example(column="signup_at", rule="allowed", value=[False])
def test_weird_rules_on_any_column_load_and_validate_or_name_the_column(
    column: str, rule: str, value: Any
) -> None:
    document = copy.deepcopy(CHURN)
    spec = next(c for c in document["columns"] if c["name"] == column)
    for bound in ("min", "max", "allowed", "pattern", "max_length"):
        spec.pop(bound, None)
    spec[rule] = value
    text = yaml.safe_dump(document, allow_unicode=True)

    error = _check(text)

    if error is not None:
        assert all(e.field.startswith(f"columns[{column}]") for e in error.errors), error.errors


@given(
    option=st.sampled_from(["delimiter", "quote_char"]),
    value=st.characters() | st.sampled_from([",", ";", "\t", "|", '"', "'", "\n", "\r", " ", "é", "\x00"]),
)
@example(option="delimiter", value="é")
def test_any_csv_option_loads_and_validates_or_names_the_option(option: str, value: str) -> None:
    document = {**copy.deepcopy(CHURN), "csv": {option: value}}

    error = _check(yaml.safe_dump(document, allow_unicode=True))

    if error is not None:
        assert {e.field for e in error.errors} <= {f"csv.{option}", "csv"}, error.errors


# -- the drift: and training: sections, as documented in docs/drift.md and docs/training.md -------

CHURN_COLUMNS = load_contract(CHURN_YAML).column_names
METHODS = st.sampled_from(["auto", *TESTS, "PSI", "t-test", ""]) | st.text(max_size=6)
FEATURE_NAMES = st.sampled_from([*CHURN_COLUMNS, "unknown", ""])
FEATURE_OVERRIDE = st.fixed_dictionaries(
    {},
    optional={
        "method": METHODS,
        "threshold": VALUES,
        "min_samples": VALUES,
        "ignore": VALUES,
        "colour": VALUES,
    },
)
DRIFT_SECTION = st.fixed_dictionaries(
    {},
    optional={
        "window_days": VALUES,
        "min_samples": VALUES,
        "max_instances": VALUES,
        "method": METHODS,
        "features": st.dictionaries(FEATURE_NAMES, FEATURE_OVERRIDE | VALUES, max_size=3) | VALUES,
        "drift_share": VALUES,
        "confirm": st.fixed_dictionaries({}, optional={"runs": VALUES, "drifted": VALUES}) | VALUES,
        "retrain": VALUES,
        "quality": st.fixed_dictionaries(
            {}, optional={"max_drop": VALUES, "min_labels": VALUES, "metric": VALUES, "window_days": VALUES}
        )
        | VALUES,
        "colour": VALUES,
    },
)
TRAINING_SECTION = st.fixed_dictionaries(
    {},
    optional={
        "task": st.sampled_from(["classification", "regression", "clustering"]) | VALUES,
        "target": FEATURE_NAMES | VALUES,
        "estimator": st.sampled_from(["auto", "logistic_regression", "ridge", "random_forest", "xgboost"]),
        "params": st.dictionaries(st.sampled_from(["max_iter", "C", "n_estimators", "alpha", "nope"]), VALUES)
        | VALUES,
        "metric": st.sampled_from(["roc_auc", "rmse", "f1", "auc"]) | VALUES,
        "test_fraction": VALUES,
        "seed": VALUES,
        "time_budget_seconds": VALUES,
    },
)


@given(section=DRIFT_SECTION)
@example(section={"method": "t-test"})
@example(section={"features": {"plan": {"method": "ks"}}})
def test_any_drift_section_parses_or_names_its_field(section: dict[str, Any]) -> None:
    document = {**copy.deepcopy(CHURN), "drift": section}

    _check(yaml.safe_dump(document, allow_unicode=True), validate=False)


@share_of_examples(0.5)
@given(section=TRAINING_SECTION)
@example(section={"task": "classification", "estimator": "logistic_regression", "params": {"C": -1}})
def test_any_training_section_parses_or_names_its_field(section: dict[str, Any]) -> None:
    document = {**copy.deepcopy(CHURN), "training": section}

    _check(yaml.safe_dump(document, allow_unicode=True), validate=False)
