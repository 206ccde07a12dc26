"""Rolling a model version out to predict's ``live`` alias: strategies, the record, the state machine.

deploy_model binds a new predict version to an approved model version, then moves the alias
by a strategy named as SAM's ``DeploymentPreference`` names them (``AllAtOnce``,
``Canary10Percent5Minutes``, ``Linear10PercentEvery1Minute``, …) using the alias' routing
weights. Each later step is a one-time EventBridge Scheduler schedule that invokes deploy_model
again, so no function waits while a step bakes. Before every step the new version's alarms are
read; one in ALARM rolls the alias back to the previous version at once.

This module knows no boto3: it talks to the ports below (:class:`FunctionVersions`,
:class:`StepScheduler`, :class:`Alarms`, :class:`DeploymentStore`), implemented on AWS and as
in-memory fakes in :mod:`mlops_core.deployment_adapters`. See docs/rollout.md.

Every side effect is idempotent and happens before the record that says it happened, so an
invocation that fails half-way is simply retried; the record's conditional write is what makes
two concurrent invocations agree on one outcome.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from mlops_core.events import DeploymentRolledBack, EventPublisher, ModelDeployed
from mlops_core.registry import DEFAULT_ALIAS, ModelRegistry, ModelStatus, ModelVersion, RegistryError

LIVE_ALIAS = "live"
ACTOR = "deploy_model"
ALL_AT_ONCE = "AllAtOnce"

_CANARY = re.compile(r"Canary(\d+)Percent(\d+)Minutes?")
_LINEAR = re.compile(r"Linear(\d+)PercentEvery(\d+)Minutes?")
ACCEPTED_FORMS = (
    "AllAtOnce, Canary{P}Percent{M}Minutes (e.g. Canary10Percent5Minutes) or "
    "Linear{P}PercentEvery{M}Minute(s) (e.g. Linear10PercentEvery1Minute), with P from 1 to 99 "
    "and M at least 1"
)


# -- strategies -------------------------------------------------------------------------------


class Step(BaseModel):
    """One position of the alias: the new version's share of traffic, and how long it bakes."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    weight: float = Field(gt=0, le=1, description="share of the new version; 1.0 is the last step")
    bake_minutes: int = Field(ge=0, description="minutes before the next step; 0 on the last")


def parse_strategy(name: str) -> list[Step]:
    """The steps of a strategy, the last always at weight 1.0; ValueError naming the accepted forms."""
    if name == ALL_AT_ONCE:
        return [Step(weight=1.0, bake_minutes=0)]
    if match := _CANARY.fullmatch(name):
        percent, minutes = _checked(name, match)
        return [Step(weight=percent / 100, bake_minutes=minutes), Step(weight=1.0, bake_minutes=0)]
    if match := _LINEAR.fullmatch(name):
        percent, minutes = _checked(name, match)
        steps = [
            Step(weight=round(percent * k / 100, 6), bake_minutes=minutes)
            for k in range(1, -(-100 // percent))
        ]
        return [*steps, Step(weight=1.0, bake_minutes=0)]
    raise ValueError(f"unknown deployment strategy {name!r}: expected {ACCEPTED_FORMS}")


def _checked(name: str, match: re.Match[str]) -> tuple[int, int]:
    percent, minutes = int(match.group(1)), int(match.group(2))
    if not 1 <= percent <= 99 or minutes < 1:
        raise ValueError(f"deployment strategy {name!r} is out of range: expected {ACCEPTED_FORMS}")
    return percent, minutes


# -- the record -------------------------------------------------------------------------------


class DeploymentStatus(StrEnum):
    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    ROLLED_BACK = "RolledBack"
    SUPERSEDED = "Superseded"


class Deployment(BaseModel):
    """One rollout of one model version to the alias; ``step`` is the index last applied."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    deployment_id: str
    alias: str = LIVE_ALIAS
    model: str
    model_version: int = Field(ge=1)
    function_version: str = Field(description="the predict version bound to the model version")
    previous_function_version: str | None = Field(
        description="the alias' stable primary before this deployment; None on the first deployment"
    )
    strategy: str
    step: int = Field(ge=0)
    status: DeploymentStatus
    alarms: list[str] = Field(default_factory=list)
    started_at: AwareDatetime
    updated_at: AwareDatetime
    reason: str | None = None


def deployment_id(model: str, version: int) -> str:
    """Deterministic: a repeated request for the same model version maps to the same id."""
    return f"{model}-v{version}"


class DeploymentRefused(Exception):
    """The version may not be deployed (not approved, unknown); retrying will not help."""


class DeploymentConflict(Exception):
    """A conditional write of a deployment lost: another invocation changed it first."""


# -- ports ------------------------------------------------------------------------------------


class FunctionVersions(Protocol):
    def publish_bound_version(self, binding: Mapping[str, str]) -> str:
        """Set the binding on $LATEST (merged with its variables) and publish; the new version."""
        ...

    def alias_state(self) -> tuple[str | None, dict[str, float]]:
        """(primary version or None when the alias does not exist, {additional version: weight})."""
        ...

    def set_alias(self, primary: str, additional: Mapping[str, float]) -> None:
        """One UpdateAlias (CreateAlias when absent): the primary and the whole routing config."""
        ...


class StepScheduler(Protocol):
    def schedule_step(self, deployment_id: str, step: int, at: datetime) -> None: ...

    def cancel(self, deployment_id: str) -> None: ...


class Alarms(Protocol):
    def create_for(self, function_version: str) -> list[str]: ...

    def in_alarm(self, names: Sequence[str]) -> list[str]: ...

    def retire(self, function_version: str) -> None:
        """Delete the version's alarms, those that still exist (a repeat is a no-op)."""
        ...


class DeploymentStore(Protocol):
    def get(self, deployment_id: str) -> Deployment | None: ...

    def current(self, alias: str) -> Deployment | None:
        """The deployment last started on the alias, whatever its status."""
        ...

    def put(
        self,
        deployment: Deployment,
        expected_status: DeploymentStatus | None = None,
        expected_step: int | None = None,
    ) -> None:
        """Conditional write, :class:`DeploymentConflict` when the condition fails.

        ``expected_status`` None starts a deployment: the record must be absent or finished
        (not InProgress), and the alias' current pointer is set to it in the same write.
        Otherwise the stored record must have ``expected_status`` (and ``expected_step`` if given).
        """
        ...


# -- the state machine ------------------------------------------------------------------------


def binding(version: ModelVersion) -> dict[str, str]:
    """The environment that binds a predict version to a model version (docs/predict.md)."""
    return {
        "MODEL_NAME": version.model,
        "MODEL_VERSION": str(version.version),
        "ARTIFACT_URI": version.artifact_uri,
        "ARTIFACT_SHA256": version.artifact_sha256,
        "MANIFEST_URI": version.manifest_uri,
    }


def stale_approval(
    model: str, version: int, *, store: DeploymentStore, alias: str = LIVE_ALIAS
) -> str | None:
    """Why an approval of ``version`` arrives too late to deploy, or None if it does not.

    EventBridge delivers at least once and in no promised order: a ModelApproved held up or
    redelivered after a newer version of the model went live (or started rolling out) must
    not take the endpoint back. Going back on purpose is ``mlops models promote``
    (DeploymentRequested), which is never judged stale.
    """
    current = store.current(alias)
    if (
        current is None
        or current.model != model
        or current.model_version <= version
        or current.status not in (DeploymentStatus.IN_PROGRESS, DeploymentStatus.SUCCEEDED)
    ):
        return None
    return (
        f"the approval of {model!r} version {version} is older than version {current.model_version}, "
        f"which is {current.status} on the {alias!r} alias; to go back to version {version} on "
        f"purpose, run `mlops models promote {model}:{version}`"
    )


def start_deployment(
    model: str,
    version: int,
    strategy: str,
    *,
    registry: ModelRegistry,
    functions: FunctionVersions,
    scheduler: StepScheduler,
    alarms: Alarms,
    store: DeploymentStore,
    publisher: EventPublisher,
    now: datetime,
    alias: str = LIVE_ALIAS,
) -> Deployment:
    """Start (or, for AllAtOnce and the first deployment, complete) a rollout.

    Returns the deployment; a repeat of one in flight or done returns it unchanged.
    Raises :class:`DeploymentRefused` for a version that is not Approved, ValueError for an
    unknown strategy (both before anything is changed).
    """
    steps = parse_strategy(strategy)
    identifier = deployment_id(model, version)
    current = store.current(alias)
    if current is not None and current.deployment_id == identifier:
        if current.status == DeploymentStatus.SUCCEEDED:
            return current
        if current.status == DeploymentStatus.IN_PROGRESS:
            if current.step == 0 and _moves_at_once(current):
                # A run stopped between its record and its success (a timeout, a failed write):
                # the retry finishes it; every move below is idempotent.
                functions.set_alias(current.function_version, {})
                return _succeed(
                    current, registry=registry, alarms=alarms, store=store, publisher=publisher, now=now
                )
            return current  # a rollout in flight: its own schedule moves it on
    model_version = _approved(registry, model, version)

    new = functions.publish_bound_version(binding(model_version))
    alarm_names = alarms.create_for(new)
    if current is not None and current.status == DeploymentStatus.IN_PROGRESS:
        _supersede(current, by=identifier, store=store, scheduler=scheduler, now=now)
    stable, _ = functions.alias_state()  # the primary: a canary is never the stable version
    deployment = Deployment(
        deployment_id=identifier,
        alias=alias,
        model=model,
        model_version=version,
        function_version=new,
        previous_function_version=stable if stable != new else None,
        strategy=strategy,
        step=0,
        status=DeploymentStatus.IN_PROGRESS,
        alarms=alarm_names,
        started_at=now,
        updated_at=now,
    )
    if stable is None or _moves_at_once(deployment):
        # Nothing to shift from (first deployment), or all at once: one move to the new version.
        functions.set_alias(new, {})
        store.put(deployment)
        return _succeed(
            deployment, registry=registry, alarms=alarms, store=store, publisher=publisher, now=now
        )
    functions.set_alias(stable, {new: steps[0].weight})
    scheduler.schedule_step(identifier, 1, now + timedelta(minutes=steps[0].bake_minutes))
    store.put(deployment)
    return deployment


def advance_deployment(
    deployment_id: str,
    step: int,
    *,
    registry: ModelRegistry,
    functions: FunctionVersions,
    scheduler: StepScheduler,
    alarms: Alarms,
    store: DeploymentStore,
    publisher: EventPublisher,
    now: datetime,
) -> Deployment | None:
    """Apply step ``step`` (what a schedule fires), or roll back if an alarm fired.

    A step of a deployment that is not the alias' current InProgress one (superseded, finished,
    unknown), or that is not the next step (a duplicate or stale delivery), changes nothing and
    returns None.
    """
    deployment = store.get(deployment_id)
    if deployment is None or deployment.status != DeploymentStatus.IN_PROGRESS:
        return None
    current = store.current(deployment.alias)
    if current is None or current.deployment_id != deployment_id or step != deployment.step + 1:
        return None
    steps = parse_strategy(deployment.strategy)

    firing = alarms.in_alarm(deployment.alarms)
    if firing:
        return _roll_back(
            deployment,
            f"alarm(s) in ALARM before step {step}: {', '.join(firing)}",
            functions=functions,
            scheduler=scheduler,
            store=store,
            publisher=publisher,
            now=now,
        )
    status = _status(registry, deployment.model, deployment.model_version)
    if status != ModelStatus.APPROVED:
        return _roll_back(
            deployment,
            f"model {deployment.model!r} version {deployment.model_version} is {status}, no longer Approved",
            functions=functions,
            scheduler=scheduler,
            store=store,
            publisher=publisher,
            now=now,
        )
    if step >= len(steps) - 1:
        functions.set_alias(deployment.function_version, {})
        return _succeed(
            deployment,
            registry=registry,
            alarms=alarms,
            store=store,
            publisher=publisher,
            now=now,
            expected_step=True,
        )
    stable = deployment.previous_function_version
    assert stable is not None  # a deployment with steps left always has a version to shift from
    functions.set_alias(stable, {deployment.function_version: steps[step].weight})
    scheduler.schedule_step(deployment_id, step + 1, now + timedelta(minutes=steps[step].bake_minutes))
    advanced = deployment.model_copy(update={"step": step, "updated_at": now})
    store.put(advanced, DeploymentStatus.IN_PROGRESS, deployment.step)
    return advanced


def _moves_at_once(deployment: Deployment) -> bool:
    """Whether the deployment goes to its new version in one move (first deployment or AllAtOnce)."""
    return deployment.previous_function_version is None or len(parse_strategy(deployment.strategy)) == 1


def _approved(registry: ModelRegistry, model: str, version: int) -> ModelVersion:
    try:
        found = registry.get(model, version)
    except RegistryError as error:
        raise DeploymentRefused(f"cannot deploy model {model!r} version {version}: {error}") from error
    if found.status != ModelStatus.APPROVED:
        raise DeploymentRefused(
            f"cannot deploy model {model!r} version {version}: it is {found.status}, and only "
            f"{ModelStatus.APPROVED} versions are deployed; approve it first"
        )
    return found


def _status(registry: ModelRegistry, model: str, version: int) -> ModelStatus | str:
    try:
        return registry.get(model, version).status
    except RegistryError:
        return "gone from the registry"


def _supersede(
    current: Deployment, *, by: str, store: DeploymentStore, scheduler: StepScheduler, now: datetime
) -> None:
    superseded = current.model_copy(
        update={"status": DeploymentStatus.SUPERSEDED, "updated_at": now, "reason": f"superseded by {by}"}
    )
    store.put(superseded, DeploymentStatus.IN_PROGRESS, current.step)
    scheduler.cancel(current.deployment_id)


def _succeed(
    deployment: Deployment,
    *,
    registry: ModelRegistry,
    alarms: Alarms,
    store: DeploymentStore,
    publisher: EventPublisher,
    now: datetime,
    expected_step: bool = False,
) -> Deployment:
    steps = parse_strategy(deployment.strategy)
    registry.promote(
        deployment.model,
        deployment.model_version,
        alias=DEFAULT_ALIAS,
        actor=ACTOR,
        reason=f"deployed as predict version {deployment.function_version} ({deployment.strategy})",
    )
    replaced = deployment.previous_function_version
    if replaced is not None and replaced != deployment.function_version:
        # The version no longer served needs no alarms (0.10 USD a month each). A rolled-back
        # version keeps its alarms: their history says why it was rolled back.
        alarms.retire(replaced)
    publisher.publish(
        [
            ModelDeployed(
                model=deployment.model,
                version=deployment.model_version,
                function_version=deployment.function_version,
                previous_function_version=deployment.previous_function_version,
                strategy=deployment.strategy,
                deployment_id=deployment.deployment_id,
                deployed_at=now,
            )
        ]
    )
    done = deployment.model_copy(
        update={"status": DeploymentStatus.SUCCEEDED, "step": len(steps) - 1, "updated_at": now}
    )
    store.put(done, DeploymentStatus.IN_PROGRESS, deployment.step if expected_step else None)
    return done


def _roll_back(
    deployment: Deployment,
    reason: str,
    *,
    functions: FunctionVersions,
    scheduler: StepScheduler,
    store: DeploymentStore,
    publisher: EventPublisher,
    now: datetime,
) -> Deployment:
    restored = deployment.previous_function_version
    functions.set_alias(restored or deployment.function_version, {})
    scheduler.cancel(deployment.deployment_id)
    publisher.publish(
        [
            DeploymentRolledBack(
                model=deployment.model,
                version=deployment.model_version,
                function_version=deployment.function_version,
                restored_function_version=restored,
                reason=reason,
                deployment_id=deployment.deployment_id,
                rolled_back_at=now,
            )
        ]
    )
    rolled_back = deployment.model_copy(
        update={"status": DeploymentStatus.ROLLED_BACK, "updated_at": now, "reason": reason}
    )
    store.put(rolled_back, DeploymentStatus.IN_PROGRESS, deployment.step)
    return rolled_back
