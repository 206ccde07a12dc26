"""The K-of-N state of each model's drift checks, kept between runs.

A drift is *confirmed* when ``confirm.drifted`` of the last ``confirm.runs`` verdicts of the
same production version drifted; it *alerts* once, on the run where it becomes confirmed,
and re-arms when a run is no longer confirmed. The state is one DynamoDB item per model in
the registry table (``pk = MODEL#<model>``, ``sk = DRIFT``), written with a condition on the
run it was read from, so two checks of one model at once (the schedule and ``mlops drift
run``) cannot lose a verdict: the loser reads again and appends its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol

from botocore.exceptions import ClientError
from pydantic import BaseModel, ConfigDict, Field

from mlops_core.registry.dynamodb import _attributes, _decode, _key, model_key

STATE_KEY = "DRIFT"


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
    def __init__(self) -> None:
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

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self.table_name = table_name

    def get(self, model: str) -> DriftState | None:
        response = self._client.get_item(
            TableName=self.table_name, Key=_key(model_key(model), STATE_KEY), ConsistentRead=True
        )
        item = response.get("Item")
        return DriftState.model_validate(_decode(item)) if item else None

    def put(self, state: DriftState, *, expected_run_id: str | None) -> None:
        document = {
            **state.model_dump(mode="json"),
            "pk": model_key(state.model),
            "sk": STATE_KEY,
            "item_type": "drift_state",
        }
        condition: dict[str, Any]
        if expected_run_id is None:
            condition = {"ConditionExpression": "attribute_not_exists(sk)"}
        else:
            condition = {
                "ConditionExpression": "run_id = :expected",
                "ExpressionAttributeValues": _attributes({":expected": expected_run_id}),
            }
        try:
            self._client.put_item(TableName=self.table_name, Item=_attributes(document), **condition)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                raise StateConflict(state.model) from error
            raise
