"""The model registry's behaviour, written once and run against every backend.

``RegistryBehaviour`` is the shared suite: this module runs it on the in-memory registry
(sockets off), tests/integration/test_registry_dynamodb.py runs it on DynamoDB in moto. A
backend provides two fixtures: ``registry`` and ``connect``, which opens another handle on
the same store (a new client per thread, for the concurrency tests).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from mlops_core.registry import (
    AliasPointer,
    HistoryAction,
    InMemoryModelRegistry,
    InvalidName,
    InvalidRegistration,
    InvalidTransition,
    Lineage,
    ModelRegistry,
    ModelStatus,
    ModelVersion,
    NothingToRollBack,
    RegistryError,
    VersionNotFound,
)

MODEL = "churn"


def sha(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


LINEAGE = Lineage(
    dataset_uri="s3://data/validated/churn/run-1/churn.csv",
    dataset_sha256=sha("dataset"),
    contract_version=3,
    contract_sha256=sha("contract"),
    training_run_id="run-1",
    code_version="0a1b2c3",
    libraries={"scikit-learn": "1.5.2", "numpy": "2.1.3"},
)


def register(registry: ModelRegistry, label: str = "a", model: str = MODEL, **overrides: Any) -> ModelVersion:
    fields: dict[str, Any] = {
        "artifact_uri": f"s3://models/{model}/{label}/model.skops",
        "artifact_sha256": sha(label),
        "manifest_uri": f"s3://models/{model}/{label}/manifest.json",
        "baseline_uri": f"s3://models/{model}/{label}/baseline.json",
        "metrics": {"auc": 0.91, "f1": 0.8},
        "primary_metric": "auc",
        "lineage": LINEAGE,
        "actor": "pipeline",
    }
    fields.update(overrides)
    return registry.register(model, **fields)


def approved(registry: ModelRegistry, label: str) -> ModelVersion:
    version = register(registry, label)
    return registry.approve(MODEL, version.version, actor="reviewer")


class RegistryBehaviour:
    """Mixed into one test class per backend; see the module docstring for its fixtures."""

    # -- registration and versions --------------------------------------------------------

    def test_the_first_registration_is_version_1_pending_approval(self, registry: ModelRegistry) -> None:
        # Given an empty registry / When a model is registered
        version = register(registry)
        # Then it is version 1, waiting for a decision, with everything it was given
        assert version.version == 1
        assert version.status == ModelStatus.PENDING_MANUAL_APPROVAL
        assert version.artifact_sha256 == sha("a")
        assert version.baseline_uri == "s3://models/churn/a/baseline.json"
        assert version.registered_at.utcoffset() is not None
        assert registry.get(MODEL, 1) == version

    def test_each_model_numbers_its_versions_from_1_without_gaps(self, registry: ModelRegistry) -> None:
        # Given three artifacts of one model and one of another
        numbers = [register(registry, label).version for label in ("a", "b", "c")]
        other = register(registry, "x", model="fraud")
        # Then each model counts on its own
        assert numbers == [1, 2, 3]
        assert other.version == 1

    def test_registering_the_same_artifact_again_returns_the_existing_version(
        self, registry: ModelRegistry
    ) -> None:
        # Given a registered artifact
        first = register(registry, "a")
        # When the same artifact is registered again (a retried pipeline step), even with other metrics
        again = register(registry, "a", metrics={"auc": 0.5}, actor="someone-else")
        # Then the existing version comes back unchanged, and nothing new was recorded
        assert again == first
        assert [v.version for v in registry.list_versions(MODEL)] == [1]
        assert [e.action for e in registry.history(MODEL)] == [HistoryAction.REGISTERED]

    def test_metrics_and_lineage_round_trip_exactly(self, registry: ModelRegistry) -> None:
        # Given metrics with awkward floats, integers and zero
        metrics = {"auc": 0.1 + 0.2, "loss": 1e-7, "delta": -3.5, "rows": 1000, "zero": 0.0, "one": 1.0}
        # When registered and read back
        register(registry, metrics=metrics)
        stored = registry.get(MODEL, 1)
        # Then every metric is the same float, and the lineage is whole
        assert stored.metrics == metrics
        assert all(type(value) is float for value in stored.metrics.values())
        assert stored.lineage == LINEAGE

    @pytest.mark.parametrize(
        ("overrides", "named"),
        [
            ({"artifact_sha256": "not-a-sha"}, "artifact_sha256"),
            ({"metrics": {"auc": math.nan}}, "metric 'auc' is nan"),
            ({"metrics": {"auc": 1e-200}}, "metric 'auc' is 1e-200"),
            ({"primary_metric": "accuracy"}, "primary_metric 'accuracy' is not among the metrics"),
        ],
    )
    def test_an_invalid_registration_is_refused_naming_the_field(
        self, registry: ModelRegistry, overrides: dict[str, Any], named: str
    ) -> None:
        # When a registration has a bad field / Then it is refused, naming it, and nothing is stored
        with pytest.raises(InvalidRegistration, match="cannot register model 'churn'") as error:
            register(registry, **overrides)
        assert named in str(error.value)
        assert registry.list_versions(MODEL) == []

    def test_an_invalid_model_name_is_refused(self, registry: ModelRegistry) -> None:
        with pytest.raises(InvalidName, match=r"model name 'Churn Model' must match"):
            register(registry, model="Churn Model")

    def test_get_of_an_unknown_version_names_the_model_and_version(self, registry: ModelRegistry) -> None:
        # Given one version
        register(registry)
        # When version 7 is asked for / Then the error names both and how to see what exists
        with pytest.raises(VersionNotFound, match=r"model 'churn' has no version 7: .*list_versions"):
            registry.get(MODEL, 7)

    def test_latest_and_list_versions(self, registry: ModelRegistry) -> None:
        # Given no versions, then three
        assert registry.latest(MODEL) is None
        assert registry.list_versions(MODEL) == []
        for label in ("a", "b", "c"):
            register(registry, label)
        # Then latest is the highest and the list is ascending
        latest = registry.latest(MODEL)
        assert latest is not None
        assert latest.version == 3
        assert [v.version for v in registry.list_versions(MODEL)] == [1, 2, 3]

    def test_list_models_names_every_model_once_in_order(self, registry: ModelRegistry) -> None:
        assert registry.list_models() == []
        for model, label in (("fraud", "f"), (MODEL, "a"), (MODEL, "b")):
            register(registry, label, model=model)
        assert registry.list_models() == ["churn", "fraud"]

    # -- approval -------------------------------------------------------------------------

    def test_approve_records_the_approver_and_reason(self, registry: ModelRegistry) -> None:
        # Given a pending version / When approved
        register(registry)
        version = registry.approve(MODEL, 1, actor="alice", reason="auc above 0.9")
        # Then it is approved, by alice, and reads back the same
        assert version.status == ModelStatus.APPROVED
        assert (version.approved_by, version.status_reason) == ("alice", "auc above 0.9")
        assert version.updated_at >= version.registered_at
        assert registry.get(MODEL, 1) == version

    def test_reject_records_the_reason(self, registry: ModelRegistry) -> None:
        register(registry)
        version = registry.reject(MODEL, 1, actor="bob", reason="leaks the target")
        assert version.status == ModelStatus.REJECTED
        assert version.status_reason == "leaks the target"
        assert registry.get(MODEL, 1).status == ModelStatus.REJECTED

    def test_an_approved_version_can_be_revoked(self, registry: ModelRegistry) -> None:
        # Given an approved version / When rejected afterwards
        approved(registry, "a")
        version = registry.reject(MODEL, 1, actor="bob", reason="bias found")
        # Then it is rejected and still says who approved it
        assert version.status == ModelStatus.REJECTED
        assert version.approved_by == "reviewer"

    def test_a_rejected_version_cannot_be_approved(self, registry: ModelRegistry) -> None:
        # Given a rejected version
        register(registry)
        registry.reject(MODEL, 1, actor="bob", reason="bad")
        # When someone approves it / Then the error names both states and the way out
        with pytest.raises(InvalidTransition) as error:
            registry.approve(MODEL, 1, actor="alice")
        assert str(error.value) == (
            "model 'churn' version 1: cannot move from Rejected to Approved; "
            "a rejected version stays rejected; register a new artifact and approve that"
        )
        assert registry.get(MODEL, 1).status == ModelStatus.REJECTED

    def test_approving_twice_is_refused(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        with pytest.raises(InvalidTransition, match="cannot move from Approved to Approved; it is already"):
            registry.approve(MODEL, 1, actor="alice")

    def test_a_rejection_needs_a_reason(self, registry: ModelRegistry) -> None:
        register(registry)
        with pytest.raises(InvalidName, match="a rejection needs a reason"):
            registry.reject(MODEL, 1, actor="bob", reason=" ")

    def test_deciding_on_an_unknown_version_raises_version_not_found(self, registry: ModelRegistry) -> None:
        with pytest.raises(VersionNotFound, match="model 'churn' has no version 1"):
            registry.approve(MODEL, 1, actor="alice")

    # -- aliases --------------------------------------------------------------------------

    def test_promote_refuses_a_version_that_is_not_approved(self, registry: ModelRegistry) -> None:
        register(registry)
        with pytest.raises(InvalidTransition) as error:
            registry.promote(MODEL, 1, actor="deployer")
        assert str(error.value) == (
            "model 'churn' version 1: cannot promote it to alias 'production' while it is "
            "PendingManualApproval (it must be Approved); approve it first"
        )
        assert registry.alias(MODEL, "production") is None

    def test_promote_points_the_alias_at_an_approved_version(self, registry: ModelRegistry) -> None:
        # Given an approved version and no alias yet
        approved(registry, "a")
        assert registry.alias(MODEL, "production") is None
        # When promoted
        pointer = registry.promote(MODEL, 1, actor="deployer")
        # Then production points at it, with nothing before it
        assert (pointer.alias, pointer.version, pointer.previous_version) == ("production", 1, None)
        assert registry.alias(MODEL, "production") == pointer

    def test_moving_an_alias_remembers_the_previous_version(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        approved(registry, "b")
        registry.promote(MODEL, 1, actor="deployer")
        pointer = registry.promote(MODEL, 2, actor="deployer")
        assert (pointer.version, pointer.previous_version) == (2, 1)

    def test_promoting_the_current_version_again_changes_nothing(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        first = registry.promote(MODEL, 1, actor="deployer")
        again = registry.promote(MODEL, 1, actor="deployer")
        assert again == first
        assert [e.action for e in registry.history(MODEL)].count(HistoryAction.PROMOTED) == 1

    def test_aliases_move_independently(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        approved(registry, "b")
        registry.promote(MODEL, 1, actor="deployer")
        registry.promote(MODEL, 2, alias="staging", actor="deployer")
        production, staging = registry.alias(MODEL, "production"), registry.alias(MODEL, "staging")
        assert production is not None
        assert staging is not None
        assert (production.version, staging.version) == (1, 2)

    def test_an_invalid_alias_name_is_refused(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        with pytest.raises(InvalidName, match="alias 'Prod!' must match"):
            registry.promote(MODEL, 1, alias="Prod!", actor="deployer")

    def test_rollback_restores_the_previous_version(self, registry: ModelRegistry) -> None:
        # Given production moved from 1 to 2
        approved(registry, "a")
        approved(registry, "b")
        registry.promote(MODEL, 1, actor="deployer")
        registry.promote(MODEL, 2, actor="deployer")
        # When rolled back
        pointer = registry.rollback(MODEL, actor="oncall", reason="error rate up")
        # Then production is 1 again, and a second rollback has nothing to go back to
        assert (pointer.version, pointer.previous_version) == (1, None)
        assert registry.alias(MODEL, "production") == pointer

    def test_rollback_of_an_unset_alias_raises_nothing_to_roll_back(self, registry: ModelRegistry) -> None:
        with pytest.raises(NothingToRollBack) as error:
            registry.rollback(MODEL, actor="oncall", reason="panic")
        assert str(error.value) == (
            "alias 'production' of model 'churn' is not set: nothing to roll back to; "
            "promote an approved version explicitly instead"
        )

    def test_rollback_after_a_single_promotion_raises_nothing_to_roll_back(
        self, registry: ModelRegistry
    ) -> None:
        approved(registry, "a")
        registry.promote(MODEL, 1, actor="deployer")
        with pytest.raises(NothingToRollBack, match="points at version 1 with no previous one"):
            registry.rollback(MODEL, actor="oncall", reason="panic")

    def test_a_second_rollback_does_not_bounce_back(self, registry: ModelRegistry) -> None:
        approved(registry, "a")
        approved(registry, "b")
        registry.promote(MODEL, 1, actor="deployer")
        registry.promote(MODEL, 2, actor="deployer")
        registry.rollback(MODEL, actor="oncall", reason="error rate up")
        with pytest.raises(NothingToRollBack, match="points at version 1 with no previous one"):
            registry.rollback(MODEL, actor="oncall", reason="again")

    def test_rollback_refuses_a_previous_version_that_was_revoked(self, registry: ModelRegistry) -> None:
        # Given production moved from 1 to 2, then 1 was revoked
        approved(registry, "a")
        approved(registry, "b")
        registry.promote(MODEL, 1, actor="deployer")
        registry.promote(MODEL, 2, actor="deployer")
        registry.reject(MODEL, 1, actor="bob", reason="bias found")
        # When rolled back / Then it refuses to deploy a rejected version, and production stays on 2
        with pytest.raises(
            InvalidTransition, match="cannot roll alias 'production' back to it while it is Rejected"
        ):
            registry.rollback(MODEL, actor="oncall", reason="error rate up")
        pointer = registry.alias(MODEL, "production")
        assert pointer is not None
        assert pointer.version == 2

    # -- history --------------------------------------------------------------------------

    def test_history_records_every_action_in_order(self, registry: ModelRegistry) -> None:
        # Given a full life: two registrations, decisions, promotions and a rollback
        register(registry, "a")
        register(registry, "b")
        registry.approve(MODEL, 1, actor="alice", reason="good")
        registry.approve(MODEL, 2, actor="alice")
        registry.promote(MODEL, 1, actor="deployer", reason="first release")
        registry.promote(MODEL, 2, actor="deployer")
        registry.rollback(MODEL, actor="oncall", reason="error rate up")
        register(registry, "c")
        registry.reject(MODEL, 3, actor="bob", reason="worse auc")
        # Then history has each, in order, with who, why and which versions
        entries = registry.history(MODEL)
        assert [(e.action, e.version, e.actor) for e in entries] == [
            (HistoryAction.REGISTERED, 1, "pipeline"),
            (HistoryAction.REGISTERED, 2, "pipeline"),
            (HistoryAction.APPROVED, 1, "alice"),
            (HistoryAction.APPROVED, 2, "alice"),
            (HistoryAction.PROMOTED, 1, "deployer"),
            (HistoryAction.PROMOTED, 2, "deployer"),
            (HistoryAction.ROLLED_BACK, 1, "oncall"),
            (HistoryAction.REGISTERED, 3, "pipeline"),
            (HistoryAction.REJECTED, 3, "bob"),
        ]
        promoted, rolled_back = entries[5], entries[6]
        assert (promoted.alias, promoted.from_version, promoted.to_version) == ("production", 1, 2)
        assert (rolled_back.alias, rolled_back.from_version, rolled_back.to_version) == ("production", 2, 1)
        assert (rolled_back.reason, entries[2].reason, entries[8].reason) == (
            "error rate up",
            "good",
            "worse auc",
        )
        assert [e.at for e in entries] == sorted(e.at for e in entries)

    def test_history_of_an_unknown_model_is_empty(self, registry: ModelRegistry) -> None:
        assert registry.history("nobody") == []

    # -- concurrency ----------------------------------------------------------------------

    def test_concurrent_registrations_get_distinct_gap_free_versions(
        self, connect: Callable[[], ModelRegistry]
    ) -> None:
        # Given 20 writers, each with its own handle, released at the same instant
        writers = 20
        start = threading.Barrier(writers)

        def one(index: int) -> int:
            handle = connect()
            start.wait()
            return register(handle, f"artifact-{index}").version

        # When each registers a different artifact of one model
        with ThreadPoolExecutor(max_workers=writers) as pool:
            versions = list(pool.map(one, range(writers)))
        # Then they got exactly 1..20, and the store agrees
        assert sorted(versions) == list(range(1, writers + 1))
        stored = connect().list_versions(MODEL)
        assert [v.version for v in stored] == list(range(1, writers + 1))
        assert len({v.artifact_sha256 for v in stored}) == writers

    def test_concurrent_approvals_of_one_version_let_exactly_one_win(
        self, connect: Callable[[], ModelRegistry]
    ) -> None:
        # Given a pending version and 8 reviewers approving it at once
        register(connect())
        reviewers = 8
        start = threading.Barrier(reviewers)

        def one(index: int) -> str:
            handle = connect()
            start.wait()
            try:
                handle.approve(MODEL, 1, actor=f"reviewer-{index}")
            except InvalidTransition:
                return "refused"
            return "won"

        with ThreadPoolExecutor(max_workers=reviewers) as pool:
            outcomes = list(pool.map(one, range(reviewers)))
        # Then one approval won, the rest were refused, and history has one approval
        assert sorted(outcomes) == ["refused"] * (reviewers - 1) + ["won"]
        actions = [e.action for e in connect().history(MODEL)]
        assert actions.count(HistoryAction.APPROVED) == 1


class TestInMemoryRegistry(RegistryBehaviour):
    @pytest.fixture
    def registry(self) -> InMemoryModelRegistry:
        return InMemoryModelRegistry()

    @pytest.fixture
    def connect(self, registry: InMemoryModelRegistry) -> Callable[[], ModelRegistry]:
        return lambda: registry


def test_alias_pointer_is_frozen() -> None:
    # The entities are values: nobody edits a pointer in place behind the registry's back.
    pointer = AliasPointer.model_validate(
        {"model": MODEL, "alias": "production", "version": 1, "updated_at": "2025-01-01T00:00:00Z"}
    )
    with pytest.raises(ValueError, match="frozen"):
        pointer.version = 2  # type: ignore[misc]


def test_every_error_is_a_registry_error() -> None:
    for kind in (InvalidName, InvalidRegistration, InvalidTransition, NothingToRollBack, VersionNotFound):
        assert issubclass(kind, RegistryError)
