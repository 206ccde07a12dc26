"""`mlops models` against the local cloud: the registry, bus and bucket of the deployed template."""

from __future__ import annotations

import hashlib
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from mlops_cli import models_cli
from mlops_cli.contract_store import push_contract
from mlops_cli.local.cloud import LocalCloud
from mlops_cli.local.server import local_up
from mlops_cli.main import main
from mlops_cli.sample_data import churn_table
from mlops_core.contracts import load_contract
from mlops_core.registry import DynamoDBModelRegistry, Lineage, ModelStatus, ModelVersion
from mlops_core.training.artifacts import save_model, sha256_hex
from mlops_core.training.spec import training_spec
from mlops_core.training.train import build_manifest, train

from ..conftest import REPO_ROOT
from .conftest import Terminal, drain, listen

STACK = "mlops-local"
CHURN_CONTRACT = REPO_ROOT / "infra" / "contracts" / "churn.yaml"


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


def registry_of(cloud: LocalCloud) -> DynamoDBModelRegistry:
    return DynamoDBModelRegistry(cloud.session.client("dynamodb"), cloud.stack.outputs["RegistryTableName"])


def seed(cloud: LocalCloud, label: str, model: str = "churn", auc: float = 0.91) -> ModelVersion:
    return registry_of(cloud).register(
        model,
        artifact_uri=f"s3://models/{model}/{label}/model.skops",
        artifact_sha256=sha(label),
        manifest_uri=f"s3://models/{model}/{label}/manifest.json",
        baseline_uri=f"s3://models/{model}/{label}/baseline.json",
        metrics={"auc": auc, "f1": 0.8},
        primary_metric="auc",
        lineage=LINEAGE,
        actor="pipeline",
    )


@pytest.fixture
def term() -> Terminal:
    return Terminal()


# --- reading the registry ---------------------------------------------------------------------


def test_list_show_and_history_print_the_registry_as_tables(cloud: LocalCloud, term: Terminal) -> None:
    registry = registry_of(cloud)
    seed(cloud, "a")
    seed(cloud, "b", auc=0.93)
    seed(cloud, "x", model="fraud")
    registry.approve("churn", 1, actor="alice", reason="auc above the bar")
    registry.promote("churn", 1, actor="deploy_model")

    assert models_cli.list_models(cloud.session, term.console, stack=STACK) == 0
    rows = {line.split("│")[1].strip(): line for line in term.text.splitlines() if line.count("│") > 4}
    assert set(rows) >= {"churn", "fraud"}
    assert "v2" in rows["churn"]  # the latest
    assert "PendingManualApproval" in rows["churn"]
    assert "v1" in rows["churn"]  # production
    assert "PendingManualApproval 1, Approved 1" in rows["churn"]
    assert "PendingManualApproval 1" in rows["fraud"]

    show = Terminal()
    assert models_cli.show_model(cloud.session, show.console, "churn:1", stack=STACK) == 0
    assert "churn v1: Approved" in show.text
    assert "aliases: production" in show.text
    assert "alice" in show.text and "auc above the bar" in show.text
    assert "s3://models/churn/a/model.skops" in show.text
    assert sha("a") in show.text
    assert "auc (primary)" in show.text and "0.91" in show.text
    assert "s3://data/validated/churn/run-1/churn.csv" in show.text
    assert "run-1" in show.text and "scikit-learn 1.5.2" in show.text
    assert "by pipeline" in show.text  # who registered it

    latest = Terminal()
    assert models_cli.show_model(cloud.session, latest.console, "churn", stack=STACK) == 0
    assert "churn v2: PendingManualApproval" in latest.text
    assert "0.93" in latest.text and "aliases: production" not in latest.text

    history = Terminal()
    assert models_cli.show_history(cloud.session, history.console, "churn", stack=STACK) == 0
    actions = [
        cells[2].strip()
        for cells in (line.split("│") for line in history.text.splitlines())
        if len(cells) > 7 and cells[2].strip() not in ("action", "")
    ]
    assert actions == ["registered", "registered", "approved", "promoted"]
    assert "unset -> v1" in history.text
    assert "deploy_model" in history.text


def test_an_empty_registry_and_unknown_models_say_so(cloud: LocalCloud, term: Terminal) -> None:
    assert models_cli.list_models(cloud.session, term.console, stack=STACK) == 0
    assert "no models registered yet" in term.text

    assert models_cli.show_model(cloud.session, term.console, "churn", stack=STACK) == 2
    assert "model 'churn' has no versions" in term.text
    seed(cloud, "a")
    assert models_cli.show_model(cloud.session, term.console, "churn:7", stack=STACK) == 1
    assert "model 'churn' has no version 7" in term.text
    assert models_cli.show_model(cloud.session, term.console, "churn:latest", stack=STACK) == 2
    assert "must be a number" in term.text


def test_a_stack_that_does_not_exist_exits_2_naming_it_and_the_region(
    cloud: LocalCloud, term: Terminal
) -> None:
    assert models_cli.list_models(cloud.session, term.console, stack="nope") == 2
    assert "no CloudFormation stack 'nope' in region eu-west-1" in term.text


# --- decisions ------------------------------------------------------------------------------------


def test_approve_records_the_actor_and_publishes_model_approved(cloud: LocalCloud, term: Terminal) -> None:
    consumer = listen(cloud)
    seed(cloud, "a")

    code = models_cli.approve_version(
        cloud.session, term.console, "churn:1", stack=STACK, actor="alice", reason="holdout checked"
    )

    assert code == 0, term.text
    assert "churn v1: Approved by alice" in term.text
    version = registry_of(cloud).get("churn", 1)
    assert (version.status, version.approved_by, version.status_reason) == (
        ModelStatus.APPROVED,
        "alice",
        "holdout checked",
    )
    [event] = drain(cloud, consumer)
    assert event["detail-type"] == "ModelApproved"
    assert event["source"] == "mlops.bundle"
    assert event["detail"]["model"] == "churn"
    assert event["detail"]["version"] == 1
    assert event["detail"]["approved_by"] == "alice"
    assert event["detail"]["reason"] == "holdout checked"


def test_without_actor_the_caller_identity_acts_and_a_rejection_publishes_model_rejected(
    cloud: LocalCloud, term: Terminal
) -> None:
    consumer = listen(cloud)
    seed(cloud, "a")
    identity = cloud.session.client("sts").get_caller_identity()["Arn"]

    code = models_cli.reject_version(
        cloud.session, term.console, "churn:1", stack=STACK, reason="leaky feature"
    )

    assert code == 0, term.text
    [event] = drain(cloud, consumer)
    assert event["detail-type"] == "ModelRejected"
    assert event["detail"]["rejected_by"] == identity
    assert event["detail"]["reason"] == "leaky feature"
    assert event["detail"]["artifact_uri"] == "s3://models/churn/a/model.skops"
    [entry] = [e for e in registry_of(cloud).history("churn") if e.action.value == "rejected"]
    assert entry.actor == identity


def test_an_illegal_transition_exits_1_with_the_registrys_message(cloud: LocalCloud, term: Terminal) -> None:
    consumer = listen(cloud)
    seed(cloud, "a")
    registry_of(cloud).reject("churn", 1, actor="bob", reason="bad")

    code = models_cli.approve_version(cloud.session, term.console, "churn:1", stack=STACK, actor="alice")

    assert code == 1
    assert "cannot move from Rejected to Approved" in term.text
    assert "a rejected version stays rejected" in term.text
    assert drain(cloud, consumer) == []  # nothing published for a refused decision
    assert models_cli.approve_version(cloud.session, term.console, "churn", stack=STACK, actor="a") == 2
    assert "name the version too" in term.text
    assert models_cli.promote_version(cloud.session, term.console, "churn:1", stack=STACK, actor="a") == 1
    assert "a rejected version cannot be deployed" in term.text


def test_promote_then_rollback_moves_production_back_one_step(cloud: LocalCloud, term: Terminal) -> None:
    registry = registry_of(cloud)
    for label in ("a", "b"):
        registry.approve("churn", seed(cloud, label).version, actor="alice")

    assert models_cli.promote_version(cloud.session, term.console, "churn:1", stack=STACK, actor="ops") == 0
    assert models_cli.promote_version(cloud.session, term.console, "churn:2", stack=STACK, actor="ops") == 0
    assert "churn production: unset -> v1" in term.text
    assert "churn production: v1 -> v2" in term.text
    pointer = registry.alias("churn", "production")
    assert pointer is not None and (pointer.version, pointer.previous_version) == (2, 1)

    code = models_cli.rollback_alias(
        cloud.session, term.console, "churn", stack=STACK, actor="oncall", reason="error rate up"
    )

    assert code == 0, term.text
    assert "churn production rolled back: v2 -> v1" in term.text
    pointer = registry.alias("churn", "production")
    assert pointer is not None and pointer.version == 1
    last = registry.history("churn")[-1]
    assert (last.action.value, last.actor, last.reason) == ("rolled_back", "oncall", "error rate up")
    again = models_cli.rollback_alias(
        cloud.session, term.console, "churn", stack=STACK, actor="o", reason="r"
    )
    assert again == 1
    assert "nothing to roll back to" in term.text


def test_promote_to_another_alias_leaves_production_alone(cloud: LocalCloud, term: Terminal) -> None:
    registry = registry_of(cloud)
    registry.approve("churn", seed(cloud, "a").version, actor="alice")

    code = models_cli.promote_version(
        cloud.session, term.console, "churn:1", stack=STACK, alias="staging", actor="ops"
    )

    assert code == 0
    assert registry.alias("churn", "production") is None
    show = Terminal()
    models_cli.show_model(cloud.session, show.console, "churn:1", stack=STACK)
    assert "aliases: staging" in show.text


# --- register a bring-your-own model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def byo_files() -> tuple[bytes, str]:
    """A tiny logistic churn model and its manifest, trained once for the module."""
    contract = load_contract(CHURN_CONTRACT.read_text())
    spec = training_spec(contract).model_copy(update={"estimator": "logistic_regression", "params": {}})
    with threadpool_limits(1, "openmp"):
        result = train(churn_table(400, seed=3).to_pandas(), contract, spec)
    artifact = save_model(result.pipeline)
    manifest = build_manifest(result, contract, model_name="churn", artifact_sha256=sha256_hex(artifact))
    return artifact, manifest.model_dump_json(by_alias=True)


def model_folder(tmp_path: Path, artifact: bytes, manifest: str) -> Path:
    folder = tmp_path / "my-model"
    folder.mkdir()
    (folder / "model.skops").write_bytes(artifact)
    (folder / "manifest.json").write_text(manifest)
    return folder


def leftovers(cloud: LocalCloud) -> tuple[list[str], list[str]]:
    """Temporary rules and queues the register command left behind (there should be none)."""
    bus = cloud.stack.outputs["EventBusName"]
    rules = cloud.session.client("events").list_rules(EventBusName=bus, NamePrefix="mlops-cli-")["Rules"]
    queues = cloud.session.client("sqs").list_queues(QueueNamePrefix="mlops-cli-").get("QueueUrls", [])
    return [r["Name"] for r in rules], queues


def test_register_uploads_a_folder_and_reports_the_new_version(
    cloud: LocalCloud, term: Terminal, tmp_path: Path, byo_files: tuple[bytes, str]
) -> None:
    push_contract(cloud.s3, cloud.bucket, CHURN_CONTRACT)  # register_model smoke-tests against it
    folder = model_folder(tmp_path, *byo_files)

    code = models_cli.register_model_folder(
        cloud.session, term.console, folder, model="churn", stack=STACK, timeout=60, wait=cloud.settle
    )

    assert code == 0, term.text
    [version] = registry_of(cloud).list_versions("churn")
    assert version.version == 1
    assert version.status == ModelStatus.PENDING_MANUAL_APPROVAL  # no metric floor: a person decides
    assert version.artifact_uri.startswith(f"s3://{cloud.bucket}/models/incoming/churn/")
    assert version.artifact_uri.endswith("/model.skops")
    assert "registered churn v1: PendingManualApproval" in term.text
    assert "mlops models approve churn:1" in term.text
    assert leftovers(cloud) == ([], [])

    again = Terminal()
    code = models_cli.register_model_folder(
        cloud.session, again.console, folder, model="churn", stack=STACK, wait=cloud.settle
    )
    assert code == 0
    assert "already registered" in again.text
    assert len(registry_of(cloud).list_versions("churn")) == 1


def test_a_refused_upload_exits_1_with_the_reason(
    cloud: LocalCloud, term: Terminal, tmp_path: Path, byo_files: tuple[bytes, str]
) -> None:
    artifact, manifest = byo_files
    tampered = json.loads(manifest) | {"artifact_sha256": sha("not the artifact")}
    folder = model_folder(tmp_path, artifact, json.dumps(tampered))

    code = models_cli.register_model_folder(
        cloud.session, term.console, folder, model="churn", stack=STACK, timeout=60, wait=cloud.settle
    )

    assert code == 1
    assert "the upload was refused" in term.text
    assert "the artifact's SHA-256 is" in term.text
    assert registry_of(cloud).list_versions("churn") == []
    assert leftovers(cloud) == ([], [])


def test_no_verdict_within_the_timeout_exits_1_with_a_hint(
    cloud: LocalCloud, term: Terminal, tmp_path: Path, byo_files: tuple[bytes, str]
) -> None:
    folder = model_folder(tmp_path, *byo_files)

    # Nothing routes the upload's event: the command waits for a verdict that never comes.
    code = models_cli.register_model_folder(
        cloud.session, term.console, folder, model="churn", stack=STACK, timeout=0, wait=lambda: None
    )

    assert code == 1
    assert "no verdict" in term.text and "--timeout" in term.text
    assert leftovers(cloud) == ([], [])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"manifest.json": "{not json"}, "is not JSON"),
        ({"manifest.json": json.dumps({"model_name": "churn"})}, "is invalid (task: Field required"),
        ({"model.skops": None}, "has no model.skops"),
    ],
)
def test_a_broken_folder_exits_2_before_anything_is_uploaded(
    cloud: LocalCloud,
    term: Terminal,
    tmp_path: Path,
    byo_files: tuple[bytes, str],
    change: dict[str, str | None],
    message: str,
) -> None:
    folder = model_folder(tmp_path, *byo_files)
    for name, content in change.items():
        if content is None:
            (folder / name).unlink()
        else:
            (folder / name).write_text(content)

    code = models_cli.register_model_folder(
        cloud.session, term.console, folder, model="churn", stack=STACK, wait=cloud.settle
    )

    assert code == 2
    assert message in term.text
    assert cloud.s3.list_objects_v2(Bucket=cloud.bucket, Prefix="models/").get("KeyCount") == 0
    assert leftovers(cloud) == ([], [])


def test_a_manifest_naming_another_model_exits_2(
    cloud: LocalCloud, term: Terminal, tmp_path: Path, byo_files: tuple[bytes, str]
) -> None:
    folder = model_folder(tmp_path, *byo_files)

    code = models_cli.register_model_folder(cloud.session, term.console, folder, model="fraud", stack=STACK)

    assert code == 2
    assert "names model 'churn', but --model is 'fraud'" in term.text


# --- the mlops entry point ------------------------------------------------------------------------


def test_the_mlops_command_wires_models_with_its_options(
    cloud: LocalCloud, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seed(cloud, "a")
    monkeypatch.setattr(models_cli, "make_session", lambda region, endpoint_url: cloud.session)

    assert main(["models", "list", "--stack", STACK]) == 0
    assert "churn" in capsys.readouterr().out
    assert main(["models", "approve", "churn:1", "--stack", STACK, "--actor", "carol"]) == 0
    assert registry_of(cloud).get("churn", 1).approved_by == "carol"
    assert main(["models", "approve", "churn:1", "--stack", STACK, "--actor", "carol"]) == 1
    assert "it is already Approved" in " ".join(capsys.readouterr().err.split())
    assert main(["models", "list"]) == 2  # the default stack, mlops-bundle-dev, is not deployed here
    assert "no CloudFormation stack 'mlops-bundle-dev'" in " ".join(capsys.readouterr().err.split())
    with pytest.raises(SystemExit) as usage:
        main(["models", "reject", "churn:1", "--stack", STACK])  # --reason is required
    assert usage.value.code == 2


def test_the_default_stack_follows_the_endpoint() -> None:
    assert models_cli.default_stack("http://127.0.0.1:4566") == "mlops-local"
    assert models_cli.default_stack(None) == "mlops-bundle-dev"


@pytest.fixture
def served() -> Iterator[str]:
    """`mlops local up` on a free port, as a user runs it in another terminal."""
    with socket.socket() as first, socket.socket() as second:  # held together: two distinct ports
        first.bind(("127.0.0.1", 0))
        second.bind(("127.0.0.1", 0))
        port, urls_port = int(first.getsockname()[1]), int(second.getsockname()[1])
    stop, ready, screen = threading.Event(), threading.Event(), io.StringIO()
    server = threading.Thread(
        target=local_up,
        kwargs={
            "port": port,
            "urls_port": urls_port,
            "stop": stop,
            "ready": ready,
            "console": Console(file=screen, width=200),
            "log_stream": io.StringIO(),
        },
    )
    server.start()
    try:
        assert ready.wait(60), screen.getvalue()
        yield f"http://127.0.0.1:{port}"
    finally:
        stop.set()
        server.join(30)
    assert not server.is_alive()


def test_register_and_list_through_the_endpoint_local_up_prints(
    served: str, tmp_path: Path, byo_files: tuple[bytes, str], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = model_folder(tmp_path, *byo_files)

    code = main(["models", "register", str(folder), "--model", "churn", "--endpoint-url", served])

    out = capsys.readouterr()
    assert code == 0, out
    assert "registered churn v1: PendingManualApproval" in out.out
    assert main(["models", "approve", "churn:1", "--endpoint-url", served, "--actor", "dana"]) == 0
    capsys.readouterr()
    # The approval starts a deployment in the server's router thread; moto's DynamoDB does not
    # isolate concurrent requests, so the listing is read again until the rollout has settled.
    listing = ""
    for _ in range(20):
        assert main(["models", "list", "--endpoint-url", served]) == 0
        listing = capsys.readouterr().out
        if "stack mlops-local" in listing and "Approved 1" in listing:
            break
        time.sleep(0.5)
    assert "stack mlops-local" in listing and "Approved 1" in listing
