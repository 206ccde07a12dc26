"""DynamoDBModelRegistry on moto: the shared behaviour suite, the table layout, and conflicts.

moto applies a request step by step, with no isolation between threads: a reader can see
an item an UpdateItem has created but not yet filled, and a TransactWriteItems deep-copies
the table first (which breaks while another thread writes) and, when it fails, restores that
copy, undoing what other threads wrote meanwhile; 20 unguarded threads fail these ways.
DynamoDB makes every single-item request atomic and every transaction serializable, so the
``_moto`` fixture has moto handle one DynamoDB request at a time to behave the same way. The
race itself is untouched: every thread still reads the counter, and all but one of those
that read the same value lose their conditional write and retry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.responses import DynamoHandler

from mlops_core.registry import (
    DynamoDBModelRegistry,
    HistoryAction,
    ModelRegistry,
    RegistryBusy,
)
from mlops_core.registry import dynamodb as registry_dynamodb

from ..unit.test_registry import MODEL, RegistryBehaviour, approved, register, sha
from .conftest import REGION

pytestmark = pytest.mark.integration

TABLE = "mlops-model-registry-test"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
}


def fast_registry(client: Any, max_attempts: int = 12) -> DynamoDBModelRegistry:
    """Short backoff for tests; the defaults are sized for Lambda."""
    return DynamoDBModelRegistry(client, TABLE, max_attempts=max_attempts, base_delay=0.002, max_delay=0.05)


@pytest.fixture(scope="module")
def _moto() -> Iterator[Any]:
    """One mock and client per module (clients are slow to make); each test gets a fresh table."""
    one_at_a_time = threading.Lock()
    original = DynamoHandler.call_action

    def atomic(self: DynamoHandler) -> Any:
        with one_at_a_time:
            return original(self)

    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        patch.setattr(DynamoHandler, "call_action", atomic)
        with mock_aws():
            yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def dynamodb(_moto: Any) -> Iterator[Any]:
    # The key schema docs/registry.md documents and template.yaml declares.
    _moto.create_table(
        TableName=TABLE,
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[
            {"AttributeName": "pk", "KeyType": "HASH"},
            {"AttributeName": "sk", "KeyType": "RANGE"},
        ],
    )
    yield _moto
    _moto.delete_table(TableName=TABLE)


class TestDynamoDBRegistry(RegistryBehaviour):
    @pytest.fixture
    def registry(self, dynamodb: Any) -> DynamoDBModelRegistry:
        return fast_registry(dynamodb)

    @pytest.fixture
    def connect(self, dynamodb: Any) -> Callable[[], ModelRegistry]:
        # A client per thread. Making clients is not thread-safe, so they are made one at a time
        # from one session (which caches the service model); using them concurrently is safe.
        session, making = boto3.session.Session(), threading.Lock()

        def handle() -> ModelRegistry:
            with making:
                client = session.client("dynamodb", region_name=REGION)
            return fast_registry(client, max_attempts=30)

        return handle


def _items(client: Any) -> dict[str, dict[str, Any]]:
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {item["sk"]["S"]: item for item in items}


def test_items_follow_the_documented_single_table_layout(dynamodb: Any) -> None:
    # Given a registered, approved and promoted version
    registry = DynamoDBModelRegistry(dynamodb, TABLE)
    approved(registry, "a")
    registry.promote(MODEL, 1, actor="deployer")
    # Then the model's partition holds its counter, version, artifact index, alias and history
    items = _items(dynamodb)
    history = sorted(sk for sk in items if sk.startswith("HISTORY#"))
    assert set(items) - set(history) == {
        "META",
        "VERSION#0000000001",
        f"ARTIFACT#{sha('a')}",
        "ALIAS#production",
    }
    assert len(history) == 3
    assert {item["pk"]["S"] for item in items.values()} == {"MODEL#churn"}
    assert items["META"]["latest_version"] == {"N": "1"}
    assert items[f"ARTIFACT#{sha('a')}"]["version"] == {"N": "1"}
    version = items["VERSION#0000000001"]
    assert version["item_type"] == {"S": "version"}
    assert version["status"] == {"S": "Approved"}
    assert version["metrics"]["M"]["auc"] == {"N": "0.91"}
    assert items["ALIAS#production"]["version"] == {"N": "1"}


def test_a_registration_that_loses_the_race_takes_the_next_number(dynamodb: Any) -> None:
    # Given a writer that registers artifact "b" between our read of the counter and our write
    rival = DynamoDBModelRegistry(dynamodb, TABLE)
    register(rival, "a")

    class Interleaved:
        def __init__(self) -> None:
            self.interfered = False

        def __getattr__(self, name: str) -> Any:
            return getattr(dynamodb, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            if not self.interfered:
                self.interfered = True
                register(rival, "b")
            return dynamodb.transact_write_items(**kwargs)

    sleeps: list[float] = []
    registry = DynamoDBModelRegistry(Interleaved(), TABLE, sleep=sleeps.append)
    # When we register artifact "c"
    version = register(registry, "c")
    # Then our first write lost (the counter moved), we retried once, and got 3: no gap, no clash
    assert version.version == 3
    assert len(sleeps) == 1
    assert [v.artifact_sha256 for v in registry.list_versions(MODEL)] == [sha("a"), sha("b"), sha("c")]


def test_a_concurrent_registration_of_the_same_artifact_returns_the_winners_version(dynamodb: Any) -> None:
    # Given a writer that registers the very artifact we are registering, just before our write
    rival = DynamoDBModelRegistry(dynamodb, TABLE)

    class Interleaved:
        def __getattr__(self, name: str) -> Any:
            return getattr(dynamodb, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            register(rival, "a", actor="rival")
            return dynamodb.transact_write_items(**kwargs)

    registry = DynamoDBModelRegistry(Interleaved(), TABLE, sleep=lambda _: None)
    # When we register it / Then we get the rival's version 1, and history has one registration
    version = register(registry, "a")
    assert version.version == 1
    assert [(e.action, e.actor) for e in registry.history(MODEL)] == [(HistoryAction.REGISTERED, "rival")]


def test_registration_gives_up_with_registry_busy_after_bounded_attempts(dynamodb: Any) -> None:
    # Given a counter that some other writer moves before every one of our writes
    rival = DynamoDBModelRegistry(dynamodb, TABLE)
    rivals = iter(range(100))

    class AlwaysBeaten:
        def __getattr__(self, name: str) -> Any:
            return getattr(dynamodb, name)

        def transact_write_items(self, **kwargs: Any) -> Any:
            register(rival, f"rival-{next(rivals)}")
            return dynamodb.transact_write_items(**kwargs)

    sleeps: list[float] = []
    registry = DynamoDBModelRegistry(AlwaysBeaten(), TABLE, max_attempts=4, sleep=sleeps.append)
    # When we register / Then after 4 attempts it says so, and our artifact was never stored
    with pytest.raises(RegistryBusy) as error:
        register(registry, "ours")
    assert str(error.value) == (
        "model 'churn': registration lost to concurrent writes 4 times in a row and was not applied; "
        "retry it (it is safe to repeat)"
    )
    assert len(sleeps) == 4
    assert sha("ours") not in {v.artifact_sha256 for v in registry.list_versions(MODEL)}
    assert [v.version for v in registry.list_versions(MODEL)] == [1, 2, 3, 4]


def test_a_rollback_whose_history_entry_fails_leaves_the_alias_unchanged(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given production moved from 1 to 2
    registry = DynamoDBModelRegistry(dynamodb, TABLE, max_attempts=2, sleep=lambda _: None)
    approved(registry, "a")
    approved(registry, "b")
    registry.promote(MODEL, 1, actor="deployer")
    registry.promote(MODEL, 2, actor="deployer")
    # And a history key that already exists, so the history put of the rollback must fail
    taken = next(sk for sk in _items(dynamodb) if sk.startswith("HISTORY#"))
    monkeypatch.setattr(registry_dynamodb, "history_key", lambda _at: taken)
    # When rolled back / Then the whole transaction failed: production still on 2, no entry written
    with pytest.raises(RegistryBusy, match="rollback of 'production'"):
        registry.rollback(MODEL, actor="oncall", reason="error rate up")
    pointer = registry.alias(MODEL, "production")
    assert pointer is not None
    assert (pointer.version, pointer.previous_version) == (2, 1)
    assert HistoryAction.ROLLED_BACK not in {e.action for e in registry.history(MODEL)}


def test_registrations_are_visible_to_another_client(dynamodb: Any) -> None:
    # A version written through one client is read back through another (nothing cached in-process).
    register(DynamoDBModelRegistry(dynamodb, TABLE), "a")
    other = DynamoDBModelRegistry(boto3.session.Session().client("dynamodb", region_name=REGION), TABLE)
    assert other.get(MODEL, 1).artifact_sha256 == sha("a")
    assert other.list_models() == [MODEL]


def test_the_drift_state_lives_beside_the_models_items_and_writes_conditionally(dynamodb: Any) -> None:
    from datetime import UTC, datetime

    from mlops_core.drift.state import DriftState, DynamoDBDriftStateStore, StateConflict

    registry = fast_registry(dynamodb)
    approved(registry, "a")
    states = DynamoDBDriftStateStore(dynamodb, TABLE)
    assert states.get(MODEL) is None
    at = datetime(2026, 11, 20, 6, tzinfo=UTC)
    first = DriftState(model=MODEL, version=1, recent=[True], run_id="r1", updated_at=at)
    states.put(first, expected_run_id=None)
    assert states.get(MODEL) == first
    with pytest.raises(StateConflict):
        states.put(first.model_copy(update={"run_id": "r2"}), expected_run_id=None)  # not the first any more
    second = first.model_copy(update={"recent": [True, True], "confirmed": True, "run_id": "r2"})
    with pytest.raises(StateConflict):
        states.put(second, expected_run_id="stale")
    states.put(second, expected_run_id="r1")
    assert states.get(MODEL) == second
    assert _items(dynamodb)["DRIFT"]["pk"]["S"] == f"MODEL#{MODEL}"
    assert registry.list_models() == [MODEL]  # the state item is not a model


def test_the_quality_state_is_a_second_item_beside_the_drift_state(dynamodb: Any) -> None:
    from datetime import UTC, datetime

    from mlops_core.drift.state import QUALITY_STATE_KEY, DriftState, DynamoDBDriftStateStore

    registry = fast_registry(dynamodb)
    approved(registry, "a")
    drift = DynamoDBDriftStateStore(dynamodb, TABLE)
    quality = DynamoDBDriftStateStore(dynamodb, TABLE, key=QUALITY_STATE_KEY)
    at = datetime(2026, 11, 20, 6, tzinfo=UTC)
    drifted = DriftState(model=MODEL, version=1, recent=[True], run_id="d1", updated_at=at)
    degraded = DriftState(model=MODEL, version=1, recent=[False, True], run_id="q1", updated_at=at)
    drift.put(drifted, expected_run_id=None)
    quality.put(degraded, expected_run_id=None)  # not a conflict: another item
    assert (drift.get(MODEL), quality.get(MODEL)) == (drifted, degraded)
    items = _items(dynamodb)
    assert items["QUALITY"]["item_type"]["S"] == "quality_state"
    assert items["DRIFT"]["item_type"]["S"] == "drift_state"
    assert registry.list_models() == [MODEL]
