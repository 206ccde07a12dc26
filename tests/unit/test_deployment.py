"""The rollout state machine of mlops_core.deployment, on the in-memory adapters (sockets off)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mlops_core.deployment import (
    Deployment,
    DeploymentConflict,
    DeploymentRefused,
    DeploymentStatus,
    Step,
    advance_deployment,
    deployment_id,
    parse_strategy,
    stale_approval,
    start_deployment,
)
from mlops_core.deployment_adapters import (
    InMemoryAlarms,
    InMemoryDeploymentStore,
    InMemoryFunctionVersions,
    InMemoryStepScheduler,
    schedule_name,
)
from mlops_core.events import DeploymentRolledBack, InMemoryPublisher, ModelDeployed
from mlops_core.registry import HistoryAction, InMemoryModelRegistry

from .test_registry import MODEL, approved, register

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


class Rig:
    """A registry, the four fakes and a clock; ``start`` and ``fire`` drive the state machine."""

    def __init__(self) -> None:
        self.registry = InMemoryModelRegistry()
        self.functions = InMemoryFunctionVersions({"DATA_BUCKET": "data"})
        self.scheduler = InMemoryStepScheduler()
        self.alarms = InMemoryAlarms()
        self.store = InMemoryDeploymentStore()
        self.publisher = InMemoryPublisher()
        self.now = T0

    def ports(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "functions": self.functions,
            "scheduler": self.scheduler,
            "alarms": self.alarms,
            "store": self.store,
            "publisher": self.publisher,
            "now": self.now,
        }

    def start(self, version: int, strategy: str = "Canary10Percent5Minutes") -> Deployment:
        return start_deployment(MODEL, version, strategy, **self.ports())

    def fire(self) -> Deployment | None:
        """Run the earliest pending step at its time, as Scheduler would."""
        identifier, step, at = self.scheduler.pop_due()
        self.now = max(self.now, at)
        return advance_deployment(identifier, step, **self.ports())

    def live(self) -> tuple[str | None, dict[str, float]]:
        return self.functions.alias_state()


@pytest.fixture
def rig() -> Rig:
    return Rig()


def deployed(rig: Rig, label: str, strategy: str = "AllAtOnce") -> Deployment:
    """An approved version deployed all at once: the stable version for what follows."""
    version = approved(rig.registry, label)
    return rig.start(version.version, strategy)


# -- strategies ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "weights", "bakes"),
    [
        ("AllAtOnce", [1.0], [0]),
        ("Canary10Percent5Minutes", [0.1, 1.0], [5, 0]),
        ("Canary10Percent30Minutes", [0.1, 1.0], [30, 0]),
        ("Linear10PercentEvery1Minute", [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0], [1] * 9 + [0]),
        ("Linear10PercentEvery10Minutes", [round(k / 10, 6) for k in range(1, 11)], [10] * 9 + [0]),
        ("Linear30PercentEvery2Minutes", [0.3, 0.6, 0.9, 1.0], [2, 2, 2, 0]),
        ("Linear50PercentEvery1Minute", [0.5, 1.0], [1, 0]),
    ],
)
def test_strategy_names_parse_into_steps(name: str, weights: list[float], bakes: list[int]) -> None:
    steps = parse_strategy(name)
    assert [s.weight for s in steps] == weights
    assert [s.bake_minutes for s in steps] == bakes


@pytest.mark.parametrize(
    "name", ["", "allatonce", "Canary10Percent", "Canary0Percent5Minutes", "Canary100Percent5Minutes",
             "Linear10PercentEvery0Minutes", "Blue/Green", "Canary10Percent5MinutesX"],
)  # fmt: skip
def test_unknown_strategies_are_refused_naming_the_accepted_forms(name: str) -> None:
    with pytest.raises(ValueError, match=r"AllAtOnce, Canary\{P\}Percent\{M\}Minutes"):
        parse_strategy(name)


def test_a_step_is_a_weight_and_a_bake() -> None:
    assert parse_strategy("Canary5Percent15Minutes")[0] == Step(weight=0.05, bake_minutes=15)


# -- starting -----------------------------------------------------------------------------------


def test_the_first_deployment_points_the_alias_at_the_new_version_directly(rig: Rig) -> None:
    version = approved(rig.registry, "a")
    deployment = rig.start(version.version, "Canary10Percent5Minutes")
    # Nothing to shift from: no canary, no schedule, done.
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert deployment.previous_function_version is None
    assert rig.functions.moves == [("1", {})]
    assert rig.scheduler.pending == {}
    assert rig.functions.versions["1"] == {
        "DATA_BUCKET": "data",
        "MODEL_NAME": MODEL,
        "MODEL_VERSION": "1",
        "ARTIFACT_URI": version.artifact_uri,
        "ARTIFACT_SHA256": version.artifact_sha256,
        "MANIFEST_URI": version.manifest_uri,
    }
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert pointer.version == 1
    [event] = rig.publisher.published
    assert isinstance(event, ModelDeployed)
    assert (event.function_version, event.previous_function_version) == ("1", None)


def test_all_at_once_moves_the_whole_alias_in_one_call(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    deployment = rig.start(v2.version, "AllAtOnce")
    assert deployment.status == DeploymentStatus.SUCCEEDED
    assert deployment.previous_function_version == "1"
    assert rig.functions.moves[-1] == ("2", {})
    assert rig.scheduler.pending == {}
    assert rig.store.current("live") == deployment
    event = rig.publisher.published[-1]
    assert isinstance(event, ModelDeployed)
    assert (event.version, event.function_version, event.previous_function_version) == (2, "2", "1")
    assert event.strategy == "AllAtOnce"
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert (pointer.version, pointer.previous_version) == (2, 1)


def test_a_canary_takes_its_weight_then_is_promoted_after_a_clean_bake(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    events_before = len(rig.publisher.published)

    deployment = rig.start(v2.version, "Canary10Percent5Minutes")

    # Mid-rollout: version 1 stays primary, version 2 takes 10 %, step 1 is due in 5 minutes.
    assert deployment.status == DeploymentStatus.IN_PROGRESS
    assert rig.live() == ("1", {"2": 0.1})
    assert rig.scheduler.pending == {
        schedule_name(deployment.deployment_id, 1): (deployment.deployment_id, 1, T0 + timedelta(minutes=5))
    }
    assert len(rig.publisher.published) == events_before
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert pointer.version == 1

    done = rig.fire()

    assert done is not None
    assert done.status == DeploymentStatus.SUCCEEDED
    assert rig.live() == ("2", {})
    assert rig.scheduler.pending == {}
    event = rig.publisher.published[-1]
    assert isinstance(event, ModelDeployed)
    assert event.deployed_at == T0 + timedelta(minutes=5)
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert pointer.version == 2
    promotions = [e for e in rig.registry.history(MODEL) if e.action == HistoryAction.PROMOTED]
    assert promotions[-1].actor == "deploy_model"
    assert promotions[-1].to_version == 2


def test_linear_steps_add_their_share_each_interval(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    rig.start(v2.version, "Linear30PercentEvery2Minutes")
    observed = [rig.live()]
    while rig.scheduler.pending:
        rig.fire()
        observed.append(rig.live())
    assert observed == [("1", {"2": 0.3}), ("1", {"2": 0.6}), ("1", {"2": 0.9}), ("2", {})]
    assert rig.now == T0 + timedelta(minutes=6)
    assert isinstance(rig.publisher.published[-1], ModelDeployed)
    # Every move is one call with at most one additional version.
    assert all(len(additional) <= 1 for _, additional in rig.functions.moves)


# -- alarms ---------------------------------------------------------------------------------------


def test_an_alarm_rolls_the_alias_back_at_once_and_says_why(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    deployment = rig.start(v2.version, "Linear10PercentEvery1Minute")
    rig.fire()
    assert rig.live() == ("1", {"2": 0.2})
    rig.alarms.fire("predict-v2-errors")

    rolled_back = rig.fire()

    assert rolled_back is not None
    assert rolled_back.status == DeploymentStatus.ROLLED_BACK
    assert rig.live() == ("1", {})
    assert rig.scheduler.pending == {}
    event = rig.publisher.published[-1]
    assert isinstance(event, DeploymentRolledBack)
    assert event.deployment_id == deployment.deployment_id
    assert (event.function_version, event.restored_function_version) == ("2", "1")
    assert "predict-v2-errors" in event.reason
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert pointer.version == 1  # the registry never moved to the failed version


def test_a_succeeded_rollout_retires_the_replaced_versions_alarms_a_rolled_back_one_keeps_its_own(
    rig: Rig,
) -> None:
    # Given v1 live, and v2 rolled back by its alarm
    first = deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    failed = rig.start(v2.version)
    rig.alarms.fire(failed.alarms[0])
    rig.fire()
    # When v3 goes live all at once
    v3 = approved(rig.registry, "c")
    done = rig.start(v3.version, "AllAtOnce")
    # Then v1's alarms are gone, v2's stay (their history says why), v3's watch it
    assert done.status == DeploymentStatus.SUCCEEDED
    assert not set(first.alarms) & set(rig.alarms.states)
    assert set(failed.alarms) <= set(rig.alarms.states)
    assert set(done.alarms) <= set(rig.alarms.states)


def test_alarms_are_created_for_the_new_version_and_kept_on_the_record(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    deployment = rig.start(v2.version)
    assert deployment.alarms == ["predict-v2-errors", "predict-v2-p99-duration"]


def test_a_version_revoked_during_the_rollout_is_rolled_back(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    rig.start(v2.version)
    rig.registry.reject(MODEL, v2.version, actor="alice", reason="leaks a feature")
    rolled_back = rig.fire()
    assert rolled_back is not None
    assert rolled_back.status == DeploymentStatus.ROLLED_BACK
    assert "no longer Approved" in (rolled_back.reason or "")
    assert rig.live() == ("1", {})


# -- idempotency and supersession -------------------------------------------------------------------


def test_a_repeated_approval_does_not_redeploy(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    first = rig.start(v2.version)
    moves, events, versions = (
        list(rig.functions.moves),
        len(rig.publisher.published),
        dict(rig.functions.versions),
    )

    again = rig.start(v2.version)

    assert again == first
    assert rig.functions.moves == moves
    assert len(rig.publisher.published) == events
    assert rig.functions.versions == versions  # no new predict version published
    rig.fire()
    assert rig.start(v2.version).status == DeploymentStatus.SUCCEEDED  # and after it finished
    assert rig.functions.versions.keys() == versions.keys()


class Outage(RuntimeError):
    """An AWS call failing, or the run stopped there."""


@pytest.mark.parametrize("failing", ["registry.promote", "publisher.publish", "store.put#2"])
@pytest.mark.parametrize("second", [False, True])
def test_a_one_move_rollout_stopped_after_its_record_is_finished_by_the_retry(
    rig: Rig, monkeypatch: pytest.MonkeyPatch, failing: str, second: bool
) -> None:
    # Given a first deployment (or an AllAtOnce one) whose run fails after it wrote its record
    if second:
        deployed(rig, "a")
    version = approved(rig.registry, "b" if second else "a")
    port_name, _, nth = failing.partition("#")
    port, method = port_name.split(".")
    original = getattr(getattr(rig, port), method)
    calls = {"n": 0}

    def fails_once(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == int(nth or 1):
            raise Outage(f"{failing} failed")
        return original(*args, **kwargs)

    monkeypatch.setattr(getattr(rig, port), method, fails_once)
    with pytest.raises(Outage):
        rig.start(version.version, "AllAtOnce")
    assert rig.store.current("live").status == DeploymentStatus.IN_PROGRESS  # type: ignore[union-attr]

    # When Lambda retries the same event
    finished = rig.start(version.version, "AllAtOnce")

    # Then the rollout is finished, and every record agrees with the alias
    assert finished.status == DeploymentStatus.SUCCEEDED
    assert rig.store.current("live") == finished
    assert rig.live() == (finished.function_version, {})
    production = rig.registry.alias(MODEL, "production")
    assert production is not None
    assert production.version == version.version
    announced = {e.deployment_id for e in rig.publisher.published if isinstance(e, ModelDeployed)}
    assert finished.deployment_id in announced
    # and a retry after that changes nothing more
    moves = list(rig.functions.moves)
    assert rig.start(version.version, "AllAtOnce") == finished
    assert rig.functions.moves == moves


@pytest.mark.parametrize("newer_is", ["live", "rolling out"])
def test_an_approval_older_than_what_the_alias_runs_is_stale(rig: Rig, newer_is: str) -> None:
    v1 = approved(rig.registry, "a")
    rig.start(v1.version, "AllAtOnce")
    v2 = approved(rig.registry, "b")
    rig.start(v2.version, "AllAtOnce" if newer_is == "live" else "Canary10Percent5Minutes")

    reason = stale_approval(MODEL, v1.version, store=rig.store)

    assert reason is not None
    assert f"older than version {v2.version}" in reason
    assert f"mlops models promote {MODEL}:{v1.version}" in reason


def test_an_approval_of_the_newest_version_or_after_a_rollback_is_not_stale(rig: Rig) -> None:
    v1 = approved(rig.registry, "a")
    assert stale_approval(MODEL, v1.version, store=rig.store) is None  # nothing deployed yet
    rig.start(v1.version, "AllAtOnce")
    v2 = approved(rig.registry, "b")
    assert stale_approval(MODEL, v2.version, store=rig.store) is None  # newer than live
    assert stale_approval(MODEL, v1.version, store=rig.store) is None  # the one live: a repeat
    rig.start(v2.version, "Canary10Percent5Minutes")
    rig.alarms.fire(rig.store.current("live").alarms[0])  # type: ignore[union-attr]
    rig.fire()  # v2 rolled back
    assert rig.store.current("live").status == DeploymentStatus.ROLLED_BACK  # type: ignore[union-attr]
    assert stale_approval(MODEL, v1.version, store=rig.store) is None
    assert stale_approval("other-model", 1, store=rig.store) is None


def test_a_duplicate_or_stale_step_delivery_changes_nothing(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    deployment = rig.start(v2.version, "Linear10PercentEvery1Minute")
    rig.fire()
    moves = list(rig.functions.moves)
    assert advance_deployment(deployment.deployment_id, 1, **rig.ports()) is None  # step 1 again
    assert advance_deployment(deployment.deployment_id, 5, **rig.ports()) is None  # out of order
    assert advance_deployment("nobody-v9", 1, **rig.ports()) is None
    assert rig.functions.moves == moves


def test_a_second_deployment_supersedes_the_one_in_flight_cleanly(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    v3 = approved(rig.registry, "c")
    first = rig.start(v2.version, "Linear10PercentEvery1Minute")
    rig.fire()
    assert rig.live() == ("1", {"2": 0.2})
    stale_step = (first.deployment_id, 2)

    second = rig.start(v3.version, "Canary10Percent5Minutes")

    # The old schedule is gone, the old record says why, the alias shifts from the stable version
    # with only the newest canary on it: never version 1, 2 and 3 at once.
    assert first.deployment_id in rig.scheduler.cancelled
    assert all(d == second.deployment_id for d, _, _ in rig.scheduler.pending.values())
    old = rig.store.get(first.deployment_id)
    assert old is not None
    assert old.status == DeploymentStatus.SUPERSEDED
    assert old.reason == f"superseded by {second.deployment_id}"
    assert second.previous_function_version == "1"
    assert rig.live() == ("1", {"3": 0.1})
    assert all(len(additional) <= 1 for _, additional in rig.functions.moves)

    # A step of the superseded deployment that fires anyway (it was already running) is a no-op.
    assert advance_deployment(*stale_step, **rig.ports()) is None
    assert rig.live() == ("1", {"3": 0.1})

    rig.fire()
    assert rig.live() == ("3", {})
    pointer = rig.registry.alias(MODEL, "production")
    assert pointer is not None
    assert pointer.version == v3.version
    deployed_events = [e for e in rig.publisher.published if isinstance(e, ModelDeployed)]
    assert [e.version for e in deployed_events] == [1, v3.version]


def test_a_rolled_back_version_may_be_deployed_again(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    rig.start(v2.version)
    rig.alarms.fire("predict-v2-errors")
    rig.fire()
    rig.alarms.states["predict-v2-errors"] = "OK"
    again = rig.start(v2.version)
    assert again.status == DeploymentStatus.IN_PROGRESS
    assert again.deployment_id == deployment_id(MODEL, v2.version)
    rig.fire()
    assert rig.live()[0] == again.function_version


# -- refusals -------------------------------------------------------------------------------------


def test_a_version_not_approved_is_refused_and_nothing_happens(rig: Rig) -> None:
    deployed(rig, "a")
    pending = register(rig.registry, "b")
    events = len(rig.publisher.published)
    with pytest.raises(DeploymentRefused, match=r"PendingManualApproval.*approve it first"):
        rig.start(pending.version)
    with pytest.raises(DeploymentRefused, match="has no version 99"):
        rig.start(99)
    assert len(rig.publisher.published) == events
    assert list(rig.functions.versions) == ["1"]
    assert rig.live() == ("1", {})


def test_an_unknown_strategy_is_refused_before_anything_changes(rig: Rig) -> None:
    v1 = approved(rig.registry, "a")
    with pytest.raises(ValueError, match="unknown deployment strategy"):
        rig.start(v1.version, "BlueGreen")
    assert rig.functions.versions == {}


def test_the_fake_store_conditions_its_writes(rig: Rig) -> None:
    deployed(rig, "a")
    v2 = approved(rig.registry, "b")
    deployment = rig.start(v2.version)
    with pytest.raises(DeploymentConflict):
        rig.store.put(deployment)  # already in progress
    with pytest.raises(DeploymentConflict):
        rig.store.put(deployment, DeploymentStatus.SUCCEEDED)
    with pytest.raises(DeploymentConflict):
        rig.store.put(deployment, DeploymentStatus.IN_PROGRESS, expected_step=3)
