"""The contract's ``training:`` section as a typed model, checked against the contract.

``training_spec(contract)`` is the one entry point: it parses the section, resolves the
target, and checks estimator, params and metric against the task, raising a
:class:`~mlops_core.contracts.ContractError` whose fields read ``training.<key>``.
scikit-learn is imported only to check ``params`` (lazily, inside the check).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from mlops_core.contracts import (
    NUMERIC_TYPES,
    ColumnRole,
    ColumnType,
    ContractError,
    ContractFieldError,
    DataContract,
    contract_key,
)

AUTO = "auto"


class Task(StrEnum):
    CLASSIFICATION = "classification"
    REGRESSION = "regression"


@dataclass(frozen=True)
class EstimatorChoice:
    """One allowlisted estimator: where its class lives and the defaults we train it with."""

    name: str
    task: Task
    class_path: str
    defaults: dict[str, Any] = field(default_factory=dict)
    #: Linear models get their numeric features standardised.
    linear: bool = False

    def estimator_class(self) -> type[Any]:
        module, _, name = self.class_path.rpartition(".")
        cls: type[Any] = getattr(importlib.import_module(module), name)
        return cls


_CHOICES = (
    EstimatorChoice(
        "logistic_regression",
        Task.CLASSIFICATION,
        "sklearn.linear_model.LogisticRegression",
        {"C": 1.0, "max_iter": 1000},
        linear=True,
    ),
    EstimatorChoice(
        "hist_gradient_boosting",
        Task.CLASSIFICATION,
        "sklearn.ensemble.HistGradientBoostingClassifier",
        {"max_iter": 200, "learning_rate": 0.1},
    ),
    EstimatorChoice(
        "random_forest",
        Task.CLASSIFICATION,
        "sklearn.ensemble.RandomForestClassifier",
        {"n_estimators": 100, "min_samples_leaf": 2},
    ),
    EstimatorChoice(
        "extra_trees",
        Task.CLASSIFICATION,
        "sklearn.ensemble.ExtraTreesClassifier",
        {"n_estimators": 100, "min_samples_leaf": 2},
    ),
    EstimatorChoice(
        "linear_regression", Task.REGRESSION, "sklearn.linear_model.LinearRegression", linear=True
    ),
    EstimatorChoice("ridge", Task.REGRESSION, "sklearn.linear_model.Ridge", {"alpha": 1.0}, linear=True),
    EstimatorChoice(
        "hist_gradient_boosting",
        Task.REGRESSION,
        "sklearn.ensemble.HistGradientBoostingRegressor",
        {"max_iter": 200, "learning_rate": 0.1},
    ),
    EstimatorChoice(
        "random_forest",
        Task.REGRESSION,
        "sklearn.ensemble.RandomForestRegressor",
        {"n_estimators": 100, "min_samples_leaf": 2},
    ),
    EstimatorChoice(
        "extra_trees",
        Task.REGRESSION,
        "sklearn.ensemble.ExtraTreesRegressor",
        {"n_estimators": 100, "min_samples_leaf": 2},
    ),
)

#: The allowlist: task -> estimator name -> choice, in the order ``auto`` tries them.
ESTIMATORS: dict[Task, dict[str, EstimatorChoice]] = {
    task: {c.name: c for c in _CHOICES if c.task is task} for task in Task
}

#: Metric -> True when higher is better.
METRICS: dict[Task, dict[str, bool]] = {
    Task.CLASSIFICATION: {"roc_auc": True, "f1": True, "accuracy": True, "log_loss": False},
    Task.REGRESSION: {"rmse": False, "mae": False, "r2": True},
}

DEFAULT_METRIC = {Task.CLASSIFICATION: "roc_auc", Task.REGRESSION: "rmse"}

#: Target column types each task accepts.
TARGET_TYPES = {
    Task.CLASSIFICATION: frozenset(
        {ColumnType.BOOLEAN, ColumnType.CATEGORY, ColumnType.STRING, ColumnType.INTEGER}
    ),
    Task.REGRESSION: NUMERIC_TYPES,
}


class TrainingSpec(BaseModel):
    """The ``training:`` section of a contract (docs/training.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    task: Task
    #: Defaults to the contract's column with role target.
    target: str | None = None
    estimator: str = "hist_gradient_boosting"
    params: dict[str, Any] = Field(default_factory=dict)
    #: Defaults to roc_auc (classification) or rmse (regression).
    metric: str | None = None
    test_fraction: Annotated[float, Field(gt=0, le=0.5)] = 0.2
    seed: int = 0
    #: For ``estimator: auto``: no new candidate starts once this many seconds are spent.
    time_budget_seconds: Annotated[int, Field(gt=0, le=840)] = 300

    @property
    def target_column(self) -> str:
        if self.target is None:
            raise ValueError("the training spec has no target; build it with training_spec(contract)")
        return self.target

    @property
    def primary_metric(self) -> str:
        return self.metric or DEFAULT_METRIC[self.task]

    @property
    def higher_is_better(self) -> bool:
        return METRICS[self.task][self.primary_metric]

    def choice(self, name: str | None = None) -> EstimatorChoice:
        return ESTIMATORS[self.task][name or self.estimator]

    def candidates(self) -> list[EstimatorChoice]:
        """The estimators to train: the named one, or every allowlisted one for ``auto``."""
        if self.estimator == AUTO:
            return list(ESTIMATORS[self.task].values())
        return [self.choice()]

    def estimator_params(self, choice: EstimatorChoice) -> dict[str, Any]:
        """Defaults, then the spec's params (named estimator only), then the seed."""
        params = dict(choice.defaults)
        if self.estimator != AUTO:
            params.update(self.params)
        if "random_state" in _param_names(choice) and params.get("random_state") is None:
            params["random_state"] = self.seed
        return params


def training_spec(contract: DataContract, source: str | None = None) -> TrainingSpec:
    """The contract's training section, validated against the contract, with its target resolved."""
    where = source or contract_key(contract.dataset)
    if contract.training is None:
        raise ContractError(
            where, [ContractFieldError(field="training", message="the contract has no training section")]
        )
    try:
        spec = TrainingSpec.model_validate(contract.training)
    except ValidationError as exc:
        raise ContractError(where, [_field_error(e) for e in exc.errors(include_url=False)]) from exc
    errors: list[ContractFieldError] = []
    target = _check_target(contract, spec, errors)
    _check_estimator(spec, errors)
    if spec.metric is not None and spec.metric not in METRICS[spec.task]:
        errors.append(
            ContractFieldError(
                field="training.metric",
                message=f"{spec.metric!r} is not a {spec.task} metric; use one of "
                f"{', '.join(METRICS[spec.task])}",
            )
        )
    if errors:
        raise ContractError(where, errors)
    spec = spec.model_copy(update={"target": target, "metric": spec.primary_metric})
    from mlops_core.training.features import feature_columns  # noqa: PLC0415 (no cycle at import)

    if not feature_columns(contract, target):
        raise ContractError(
            where,
            [
                ContractFieldError(
                    field="columns",
                    message="no column can be a feature: features have role feature, are not pii "
                    "and have type integer, float, boolean or category",
                )
            ],
        )
    return spec


def _check_target(contract: DataContract, spec: TrainingSpec, errors: list[ContractFieldError]) -> str:
    declared = [c.name for c in contract.columns if c.role is ColumnRole.TARGET]
    target = spec.target or (declared[0] if declared else None)

    def fail(message: str) -> str:
        errors.append(ContractFieldError(field="training.target", message=message))
        return target or ""

    if target is None:
        return fail("required: name the column to predict, or give one column role target")
    if target not in contract.column_names:
        return fail(
            f"{target!r} is not a column of the contract; columns are {', '.join(contract.column_names)}"
        )
    if declared and declared[0] != target:
        return fail(f"{target!r} disagrees with column {declared[0]!r}, which has role target")
    column = contract.column(target)
    if column.role in (ColumnRole.ID, ColumnRole.TIMESTAMP):
        return fail(f"{target!r} has role {column.role}; a target has role target or feature")
    if column.pii:
        return fail(f"{target!r} is pii; a model must not learn to predict personal data")
    if column.type not in TARGET_TYPES[spec.task]:
        allowed = ", ".join(sorted(TARGET_TYPES[spec.task]))
        return fail(f"{target!r} has type {column.type}; a {spec.task} target has type {allowed}")
    return target


def _check_estimator(spec: TrainingSpec, errors: list[ContractFieldError]) -> None:
    allowed = ESTIMATORS[spec.task]
    if spec.estimator == AUTO:
        if spec.params:
            errors.append(
                ContractFieldError(
                    field="training.params",
                    message="params apply to a named estimator; auto trains each candidate with its defaults",
                )
            )
        return
    if spec.estimator not in allowed:
        errors.append(
            ContractFieldError(
                field="training.estimator",
                message=f"{spec.estimator!r} is not an allowlisted {spec.task} estimator; use one of "
                f"{', '.join(allowed)} or auto",
            )
        )
        return
    choice = allowed[spec.estimator]
    names = _param_names(choice)
    unknown = sorted(set(spec.params) - names)
    for name in unknown:
        errors.append(
            ContractFieldError(
                field=f"training.params.{name}",
                message=f"{choice.class_path.rpartition('.')[2]} has no parameter {name!r}; "
                f"it accepts {', '.join(sorted(names))}",
            )
        )
    if unknown:
        return
    estimator = choice.estimator_class()(**spec.estimator_params(choice))
    try:
        # scikit-learn checks parameter values only in fit(); check them now so a bad
        # value is a contract error, not a failed training run.
        estimator._validate_params()
    except (ValueError, TypeError) as exc:
        errors.append(ContractFieldError(field="training.params", message=str(exc)))


def _param_names(choice: EstimatorChoice) -> set[str]:
    return set(choice.estimator_class()().get_params(deep=False))


def _field_error(error: Any) -> ContractFieldError:
    loc = ".".join(str(part) for part in error["loc"])
    field_name = f"training.{loc}" if loc else "training"
    kind = error["type"]
    if kind == "extra_forbidden":
        message = "unknown key; check its spelling against docs/training.md"
    elif kind == "missing":
        message = "required key is missing"
    elif kind == "enum":
        message = f"{error['input']!r} is not one of {error.get('ctx', {}).get('expected', '')}"
    else:
        message = str(error["msg"]).removeprefix("Value error, ")
    return ContractFieldError(field=field_name, message=message)
