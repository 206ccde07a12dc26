"""The data contract model: what a user may write, and the errors for what they may not."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlops_core.contracts import ColumnRole, ColumnType, ContractError, DataContract, load_contract

from ..conftest import REPO_ROOT

ISSUE_EXAMPLE = """
dataset: churn              # matches incoming/<dataset>/ in S3
format: csv                 # csv | parquet
max_bytes: 1073741824
min_rows: 100
max_rows: 10000000
extra_columns: reject
columns:
  - name: customer_id
    type: string
    role: id
    nullable: false
    unique: true
    pattern: "^C[0-9]{6}$"
    max_length: 32
  - name: tenure_months
    type: integer
    min: 0
    max: 600
  - name: plan
    type: category
    allowed: [basic, plus, pro]
"""


def _errors(text: str) -> dict[str, str]:
    with pytest.raises(ContractError) as caught:
        load_contract(text, source="test.yaml")
    return {e.field: e.message for e in caught.value.errors}


def test_the_documented_example_parses_with_its_defaults() -> None:
    contract = load_contract(ISSUE_EXAMPLE)

    assert contract.dataset == "churn"
    assert contract.max_rows == 10_000_000
    customer = contract.column("customer_id")
    assert (customer.role, customer.unique, customer.nullable) == (ColumnRole.ID, True, False)
    tenure = contract.column("tenure_months")
    assert (tenure.type, tenure.role, tenure.nullable, tenure.min, tenure.max) == (
        ColumnType.INTEGER,
        ColumnRole.FEATURE,
        False,
        0,
        600,
    )
    assert contract.column("plan").allowed_text == ["basic", "plus", "pro"]


@pytest.mark.parametrize(
    "path", sorted((REPO_ROOT / "infra" / "contracts").glob("*.yaml")), ids=lambda p: p.name
)
def test_every_example_contract_in_the_repo_parses(path: Path) -> None:
    contract = load_contract(path.read_text(), source=str(path))

    assert path.stem == contract.dataset


def test_unknown_type_names_the_column_and_the_choices() -> None:
    errors = _errors("dataset: d\ncolumns:\n  - {name: age, type: integr}\n")

    assert "columns[age].type" in errors
    assert "'integr' is not one of" in errors["columns[age].type"]
    assert "'integer'" in errors["columns[age].type"]


def test_min_greater_than_max_is_an_error_on_that_column() -> None:
    errors = _errors("dataset: d\ncolumns:\n  - {name: age, type: integer, min: 10, max: 5}\n")

    assert errors == {"columns[age]": "min (10) is greater than max (5)"}


def test_a_pattern_that_does_not_compile_is_named() -> None:
    errors = _errors('dataset: d\ncolumns:\n  - {name: code, type: string, pattern: "([A-Z"}\n')

    assert "columns[code].pattern" in errors
    assert "does not compile" in errors["columns[code].pattern"]


def test_unknown_keys_are_refused_at_every_level() -> None:
    errors = _errors("dataset: d\ncolums: []\ncolumns:\n  - {name: a, type: string, nulable: true}\n")

    assert set(errors) == {"colums", "columns[a].nulable"}
    assert all("unknown key" in message for message in errors.values())


def test_rules_that_do_not_fit_the_type_are_refused() -> None:
    errors = _errors(
        "dataset: d\ncolumns:\n"
        "  - {name: a, type: boolean, min: 0}\n"
        "  - {name: b, type: integer, pattern: '^1$'}\n"
        "  - {name: c, type: string, role: timestamp}\n"
    )

    assert "min/max apply to integer, float and datetime" in errors["columns[a]"]
    assert "pattern applies to string and category" in errors["columns[b]"]
    assert "role timestamp must have type datetime" in errors["columns[c]"]


def test_datetime_bounds_accept_unquoted_yaml_dates_and_refuse_other_text() -> None:
    contract = load_contract("dataset: d\ncolumns:\n  - {name: t, type: datetime, min: 2020-01-01}\n")
    assert contract.column("t").min == "2020-01-01"

    errors = _errors("dataset: d\ncolumns:\n  - {name: t, type: datetime, min: yesterday}\n")
    assert "ISO 8601" in errors["columns[t]"]


def test_rules_the_validation_engine_could_not_apply_are_refused_by_name() -> None:
    # Found by the property tests: each of these loaded, then crashed the validation engine
    # (ValueError, OverflowError) or was silently never applied (a NaN bound).
    errors = _errors(
        "dataset: d\ncolumns:\n"
        "  - {name: t, type: datetime, min: '2024-13-01'}\n"
        "  - {name: n, type: integer, allowed: [1, two]}\n"
        "  - {name: big, type: integer, max: 1180591620717411303424}\n"
        "  - {name: x, type: float, min: .nan}\n"
        "  - {name: d, type: datetime, allowed: ['2024-01-01']}\n"
    )

    assert "ISO 8601" in errors["columns[t]"] and "'2024-13-01'" in errors["columns[t]"]
    assert "allowed values of integer columns are finite numbers; 'two'" in errors["columns[n]"]
    assert "64-bit integers" in errors["columns[big]"]
    assert "min must be a finite number" in errors["columns[x]"]
    assert (
        "allowed applies to string, category, integer and float columns, not datetime" in errors["columns[d]"]
    )


def test_csv_separators_are_distinct_printable_ascii() -> None:
    errors = _errors("dataset: d\ncsv: {delimiter: 'é'}\ncolumns: [{name: a, type: integer}]\n")
    assert "printable ASCII character or a tab" in errors["csv.delimiter"]

    errors = _errors(
        "dataset: d\ncsv: {delimiter: ';', quote_char: ';'}\ncolumns: [{name: a, type: integer}]\n"
    )
    assert "they must differ" in errors["csv"]

    assert load_contract('dataset: d\ncsv: {delimiter: "\\t"}\ncolumns: [{name: a, type: integer}]\n')


def test_duplicate_columns_bad_row_bounds_and_two_targets_are_refused() -> None:
    errors = _errors(
        "dataset: d\nmin_rows: 10\nmax_rows: 5\ncolumns:\n"
        "  - {name: a, type: integer}\n  - {name: a, type: integer}\n"
    )
    # Each error names the key to change (found by the property tests: both were "(document)").
    assert errors == {
        "columns": "column 'a' is declared twice",
        "max_rows": "min_rows (10) is greater than max_rows (5)",
    }

    errors = _errors(
        "dataset: d\ncolumns:\n"
        "  - {name: a, type: integer, role: target}\n"
        "  - {name: b, type: float, role: target}\n"
    )
    assert "at most one column may have role target" in errors["columns"]


def test_missing_required_keys_and_bad_dataset_names() -> None:
    errors = _errors("format: csv\n")
    assert errors == {"dataset": "required key is missing", "columns": "required key is missing"}

    errors = _errors("dataset: Churn Data\ncolumns:\n  - {name: a, type: integer}\n")
    assert "dataset" in errors


def test_yaml_that_is_not_a_mapping_or_not_yaml_is_a_contract_error() -> None:
    assert "(document)" in _errors("- just\n- a list\n")
    errors = _errors("dataset: [unclosed\n")
    assert next(iter(errors)).startswith("line ")


def test_the_error_text_lists_every_field_for_the_terminal() -> None:
    with pytest.raises(ContractError) as caught:
        load_contract("dataset: d\ncolumns:\n  - {name: a, type: nope}\n", source="contracts/d.yaml")

    assert str(caught.value).startswith("invalid data contract contracts/d.yaml:")
    assert "  - columns[a].type:" in str(caught.value)


def test_training_and_drift_sections_are_kept_for_later_stages() -> None:
    contract = load_contract(
        "dataset: d\ncolumns:\n  - {name: a, type: integer}\n"
        "training: {task: regression}\ndrift: {method: psi}\n"
    )

    assert contract.training == {"task": "regression"}
    assert contract.drift == {"method": "psi"}


def test_fingerprint_changes_with_the_contract_and_only_then() -> None:
    first = load_contract("dataset: d\ncolumns:\n  - {name: a, type: integer}\n")
    same = load_contract("dataset: d\ncolumns:\n  - name: a\n    type: integer\n")
    other = load_contract("dataset: d\ncolumns:\n  - {name: a, type: integer, min: 1}\n")

    assert first.fingerprint() == same.fingerprint()
    assert first.fingerprint() != other.fingerprint()
    assert isinstance(first, DataContract)
