"""The K-of-N state of each model's drift checks, kept between runs.

A drift is *confirmed* when ``confirm.drifted`` of the last ``confirm.runs`` verdicts of the
same production version drifted; it *alerts* once, on the run where it becomes confirmed,
and re-arms when a run is no longer confirmed. The state is one DynamoDB item per model in
the registry table (``pk = MODEL#<model>``, ``sk = DRIFT``), written with a condition on the
run it was read from, so two checks of one model at once (the schedule and ``mlops drift
run``) cannot lose a verdict: the loser reads again and appends its own.

The model-quality checks keep their verdicts the same way in a second item (``sk =
QUALITY``): a store is made for one ``key``, ``DRIFT`` by default. ``record_verdict`` is the
K-of-N rule itself.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.registry.dynamodb import decode_item, item_key, model_key, to_attributes

STATE_KEY = "DRIFT"
QUALITY_STATE_KEY = "QUALITY"
#: The items a state store may write: never a registry item's sort key.
STATE_KEYS = (STATE_KEY, QUALITY_STATE_KEY)
#: Attempts to record a verdict when other checks of the same model write at the same time.
STATE_ATTEMPTS = 5


class DriftState(BaseModel):
    """The verdicts of the last runs of one version, oldest first (True: the run drifted)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    model: str
    version: int
    recent: list[bool] = Field(default_factory=list)
    confirmed: bool = False
    #: The run ``run_id`` made the drift confirmed (it alerted).
    alerted: bool = False
    run_id: str
    updated_at: datetime


class StateConflict(Exception):
    """Another run wrote the state since it was read."""


class DriftStateStore(Protocol):
    def get(self, model: str) -> DriftState | None: ...

    def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
        """Write ``state`` if the stored one is still ``expected_run_id`` (None: no state yet)."""
        ...


class InMemoryDriftStateStore:
    def __init__(self, key: str = STATE_KEY) -> None:
        self.key = _state_key(key)
        self.states: dict[str, DriftState] = {}

    def get(self, model: str) -> DriftState | None:
        return self.states.get(model)

    def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
        current = self.states.get(state.model)
        if (current.run_id if current else None) != expected_run_id:
            raise StateConflict(state.model)
        self.states[state.model] = state


class DynamoDBDriftStateStore:
    """The state as an item of the registry table (the function needs GetItem and PutItem)."""

    def __init__(self, client: Any, table_name: str, key: str = STATE_KEY) -> None:
        self._client = client
        self.table_name = table_name
        self.key = _state_key(key)

    def get(self, model: str) -> DriftState | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=item_key(model_key(model), self.key), ConsistentRead=True
        )
        item = response.get("Item")
        return DriftState.model_validate(decode_item(item)) if item else None

    def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
        document = {
            **state.model_dump(mode="json"),
            "pk": model_key(state.model),
            "sk": self.key,
            "item_type": f"{self.key.lower()}_state",
        }
        condition: dict[str, Any]
        if expected_run_id is None:
            condition = {"ConditionExpression": "attribute_not_exists(sk)"}
        else:
            condition = {
                "ConditionExpression": "run_id = :expected",
                "ExpressionAttributeValues": to_attributes({":expected": expected_run_id}),
            }
        try:
            self._client.put_item(TableName=self.table_name, Item=to_attributes(document), **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StateConflict(state.model) from error
            raise


def _state_key(key: str) -> str:
    if key not in STATE_KEYS:
        raise ValueError(f"state key {key!r} is not one of {', '.join(STATE_KEYS)}; use one of them")
    return key


class RecordedVerdict(BaseModel):
    """A run's verdict appended to its version's history, and what it means for the alert."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The version's last verdicts, oldest first, this run's last.
    recent: list[bool]
    confirmed: bool
    #: Confirmed by this run: the previous run of the same version was not confirmed.
    alerted: bool


def record_verdict(
    states: DriftStateStore,
    model: str,
    version: int,
    flagged: bool,
    *,
    runs: int,
    required: int,
    run_id: str,
    now: datetime,
) -> RecordedVerdict:
    """Append ``flagged`` to the history of ``version`` (a new version starts afresh) and store it.

    Confirmed when at least ``required`` of the last ``runs`` verdicts are flagged; ``alerted``
    on the run that becomes confirmed only. Retried when another run wrote first. A run
    already recorded (a retried invocation of the same scheduled run) is not appended again:
    its recorded outcome is returned, so it alerts again rather than never.
    """
    for _ in range(STATE_ATTEMPTS):
        previous = states.get(model)
        if previous is not None and previous.run_id == run_id and previous.version == version:
            return RecordedVerdict(
                recent=previous.recent, confirmed=previous.confirmed, alerted=previous.alerted
            )
        same = previous is not None and previous.version == version
        history = previous.recent if previous is not None and same else []
        recent = [*history, flagged][-runs:]
        confirmed = sum(recent) >= required
        was_confirmed = bool(previous is not None and same and previous.confirmed)
        alerted = confirmed and not was_confirmed
        state = DriftState(
            model=model,
            version=version,
            recent=recent,
            confirmed=confirmed,
            alerted=alerted,
            run_id=run_id,
            updated_at=now,
        )
        try:
            states.put(state, expected_run_id=previous.run_id if previous is not None else None)
        except StateConflict:
            continue
        return RecordedVerdict(recent=recent, confirmed=confirmed, alerted=alerted)
    raise StateConflict(f"{model}: the state kept changing over {STATE_ATTEMPTS} attempts")
