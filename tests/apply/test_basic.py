"""examples/basic applied to moto: resources checked against sdk_config, then the production
flows, each as the principal that does it in production (producer, consumer, operator), the
role matrix, and destroy."""

from __future__ import annotations

import json
from collections.abc import Callable
import re
import time
from pathlib import Path

import pytest

from localaws import Deployment, Principal, matrix
from localaws.pool import Applied
from localaws.terraform import copy_configuration
from sqstask import TaskSpec

from apply.flows import cli, cli_json, queue_as

pytestmark = pytest.mark.apply("basic")

LARGE_PAYLOAD_BYTES = 300_000  # over the 256 KiB queue limit of the applied configuration
SLOW_TASK_SECONDS = 4  # runs past the worker's 2 s visibility timeout: the heartbeat must extend it


@pytest.fixture(scope="module")
def basic(applied: Applied) -> Applied:
    return applied


@pytest.fixture(scope="module")
def principals(basic: Applied) -> dict[str, Principal]:
    """One IAM user per role, holding exactly the module's policy for it."""
    return {
        role: Principal.create(basic.server, f"basic-{role}", policy_arns=[basic.deployment.output(f"{role}_policy_arn")])
        for role in ("producer", "consumer", "operator")
    }


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("flows") / "record.txt"


def test_apply_creates_every_resource(basic: Applied) -> None:
    assert basic.apply_line.startswith("Apply complete! Resources: ")
    assert " 0 changed, 0 destroyed" in basic.apply_line
    added = int(basic.apply_line.split("Resources: ")[1].split(" added")[0])
    managed = [r for r in basic.deployment.state_list() if not (r.startswith("data.") or ".data." in r)]
    assert added == len(managed)


def test_sdk_config_names_the_applied_queues_table_and_bucket(basic: Applied, sdk_config: str) -> None:
    config = json.loads(sdk_config)
    sqs = basic.server.client("sqs")
    queue = sqs.get_queue_attributes(QueueUrl=config["queue_url"], AttributeNames=["All"])["Attributes"]
    dlq = sqs.get_queue_attributes(QueueUrl=config["dlq_url"], AttributeNames=["All"])["Attributes"]
    assert queue["QueueArn"] == config["queue_arn"] and queue["FifoQueue"] == "true"
    assert json.loads(queue["RedrivePolicy"])["deadLetterTargetArn"] == config["dlq_arn"]
    assert json.loads(dlq["RedriveAllowPolicy"]) == {"redrivePermission": "byQueue", "sourceQueueArns": [config["queue_arn"]]}
    # Both queue policies survived the other attribute writes (TLS-only statement first).
    assert json.loads(queue["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"
    assert json.loads(dlq["Policy"])["Statement"][0]["Sid"] == "DenyInsecureTransport"
    table = basic.server.client("dynamodb").describe_table(TableName=config["idempotency_table"])["Table"]
    assert table["TableStatus"] == "ACTIVE"
    basic.server.client("s3").head_bucket(Bucket=config["payload_bucket"])
    assert int(config["max_message_size"]) == int(queue["MaximumMessageSize"])


def test_producer_sends_tasks_and_offloads_the_large_payload_to_s3(basic: Applied, sdk_config: str, principals: dict[str, Principal]) -> None:
    queue = queue_as(principals["producer"], sdk_config)
    queue.send("invoice", {"invoice": 1}, group_id="customer-1", task_id="invoice-1")
    result = queue.send_many([
        TaskSpec("invoice", {"invoice": 2}, "customer-1", "invoice-2"),
        TaskSpec("invoice", {"blob": "x" * LARGE_PAYLOAD_BYTES}, "customer-2", "large-1"),
        TaskSpec("slow", {"seconds": SLOW_TASK_SECONDS}, "customer-3", "slow-1"),
        {"task_type": "poison", "payload": {"bad": True}, "group_id": "customer-4", "task_id": "poison-1"},
    ])
    assert result.failed == []
    assert sorted(r.task_id for r in result.sent) == ["invoice-2", "large-1", "poison-1", "slow-1"]
    objects = basic.server.client("s3").list_objects_v2(Bucket=json.loads(sdk_config)["payload_bucket"]).get("Contents", [])
    assert len(objects) == 1 and objects[0]["Key"].startswith("sqstask-payloads/")
    assert objects[0]["Size"] > LARGE_PAYLOAD_BYTES


def test_worker_runs_each_task_once_extends_the_slow_one_and_dead_letters_the_poison(
    basic: Applied, sdk_config: str, principals: dict[str, Principal], record: Path
) -> None:
    started = time.monotonic()
    cli(
        principals["consumer"], sdk_config, "worker", "flow_tasks:handle",
        "--visibility-timeout", "2", "--heartbeat-interval", "0.5", "--wait-seconds", "1",
        "--backoff-base", "0.1", "--backoff-cap", "0.2", "--backoff-jitter", "0", "--idle-exit", "8",
        env={"FLOW_RECORD": str(record)},
    )
    runs = [line.split() for line in record.read_text().splitlines()]
    assert sorted(task_id for task_id, _, _ in runs) == ["invoice-1", "invoice-2", "large-1", "slow-1"]
    assert [int(size) for task_id, _, size in runs if task_id == "large-1"][0] > LARGE_PAYLOAD_BYTES
    assert time.monotonic() - started > SLOW_TASK_SECONDS
    dlq = basic.server.client("sqs").get_queue_attributes(
        QueueUrl=json.loads(sdk_config)["dlq_url"], AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    assert dlq["ApproximateNumberOfMessages"] == "1"


def test_operator_lists_shows_and_redrives_the_dead_letter(basic: Applied, sdk_config: str, principals: dict[str, Principal]) -> None:
    operator = principals["operator"]
    listing = cli_json(operator, sdk_config, "dlq", "list")
    assert [m.get("task_id") for m in listing["messages"]] == ["poison-1"]
    shown = cli_json(operator, sdk_config, "dlq", "show", "poison-1")
    assert "poison-1" in json.dumps(shown)
    cli(operator, sdk_config, "dlq", "redrive", "--task-id", "poison-1", "--visibility-timeout", "5")
    sqs = basic.server.client("sqs")
    config = json.loads(sdk_config)
    counts = {
        name: sqs.get_queue_attributes(QueueUrl=config[url], AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
        for name, url in (("queue", "queue_url"), ("dlq", "dlq_url"))
    }
    assert counts == {"queue": "1", "dlq": "0"}


def test_operator_reads_status_task_lifecycle_and_alarms(sdk_config: str, principals: dict[str, Principal]) -> None:
    operator = principals["operator"]
    status = cli_json(operator, sdk_config, "status")
    assert "1" in json.dumps(status)
    lifecycle = cli_json(operator, sdk_config, "status", "invoice-1")
    assert "invoice-1" in json.dumps(lifecycle)
    alarms = cli_json(operator, sdk_config, "alarms")
    assert sorted(a["name"] for a in alarms["alarms"]) == sorted(json.loads(sdk_config)["alarm_names"])


def test_the_task_metric_alarms_read_back_as_planned(basic: Applied, sdk_config: str) -> None:
    """The alarms on the SDK's EMF metrics exist with their metric math, as the provider applied them."""
    config = json.loads(sdk_config)
    name, namespace, queue_name = config["name"], config["metrics_namespace"], config["queue_url"].rsplit("/", 1)[-1]
    wanted = [f"{name}-task-failure-rate", f"{name}-task-latency-p99", f"{name}-stuck-consumer"]
    assert set(wanted) <= set(config["alarm_names"])
    found = basic.server.client("cloudwatch").describe_alarms(AlarmNames=wanted)["MetricAlarms"]
    alarms = {alarm["AlarmName"]: alarm for alarm in found}
    assert sorted(alarms) == sorted(wanted)

    def queries(alarm: str) -> dict[str, dict]:
        return {query["Id"]: query for query in alarms[alarm]["Metrics"]}

    def metric(query: dict) -> tuple[str, str, dict[str, str]]:
        stat = query["MetricStat"]
        dims = {d["Name"]: d["Value"] for d in stat["Metric"].get("Dimensions", [])}
        return stat["Metric"]["Namespace"], stat["Metric"]["MetricName"], dims

    rate = queries(f"{name}-task-failure-rate")
    assert metric(rate["failed"]) == (namespace, "TasksFailed", {"Queue": queue_name})
    assert metric(rate["succeeded"]) == (namespace, "TasksSucceeded", {"Queue": queue_name})
    assert "100 * bad / total" in rate["rate"]["Expression"] and rate["rate"]["ReturnData"] is True
    latency = queries(f"{name}-task-latency-p99")["latency"]
    assert metric(latency) == (namespace, "TaskLatency", {"Queue": queue_name})
    assert latency["MetricStat"]["Stat"] == "p99"
    stuck = queries(f"{name}-stuck-consumer")
    assert metric(stuck["waiting"])[:2] == ("AWS/SQS", "ApproximateNumberOfMessagesVisible")
    assert "FILL(succeeded, 0) + FILL(duplicate, 0) == 0" in stuck["stuck"]["Expression"]
    for alarm in alarms.values():
        assert "First:" in alarm["AlarmDescription"], f"{alarm['AlarmName']}: the description is a runbook"


def test_operator_lists_and_runs_the_schedule(basic: Applied, sdk_config: str, principals: dict[str, Principal]) -> None:
    operator = principals["operator"]
    listing = cli_json(operator, sdk_config, "schedules", "list")
    assert "nightly-report" in json.dumps(listing)
    cli(operator, sdk_config, "schedules", "run", "nightly-report")
    sqs = basic.server.client("sqs")
    depth = sqs.get_queue_attributes(QueueUrl=json.loads(sdk_config)["queue_url"], AttributeNames=["ApproximateNumberOfMessages"])
    assert depth["Attributes"]["ApproximateNumberOfMessages"] == "2"  # the redriven poison task and the report


ROLE_CHECKS = [
    *matrix.checks(
        "producer", "billing",
        allowed=["queue:SendMessage", "bucket:PutObject"],
        denied=["queue:ReceiveMessage", "queue:DeleteMessage", "queue:PurgeQueue", "queue:GetQueueAttributes",
                "table:GetItem", "table:UpdateItem", "table:Scan", "dlq:ReceiveMessage", "dlq:PurgeQueue",
                "bucket:GetObject"],
    ),
    *matrix.checks(
        "consumer", "billing",
        allowed=["queue:ReceiveMessage", "queue:DeleteMessage", "queue:ChangeMessageVisibility",
                 "queue:GetQueueAttributes", "table:UpdateItem", "bucket:GetObject"],
        denied=["queue:SendMessage", "queue:PurgeQueue", "dlq:ReceiveMessage", "dlq:DeleteMessage", "dlq:PurgeQueue",
                "table:GetItem", "table:PutItem", "table:Scan", "bucket:PutObject"],
    ),
    *matrix.checks(
        "operator", "billing",
        allowed=["dlq:ReceiveMessage", "dlq:DeleteMessage", "queue:SendMessage", "queue:GetQueueAttributes",
                 "table:GetItem", "dlq:PurgeQueue"],
        denied=["queue:ReceiveMessage", "queue:DeleteMessage", "queue:PurgeQueue", "table:PutItem", "table:UpdateItem",
                "table:Scan", "bucket:PutObject"],
    ),
]


def test_each_role_may_do_its_job_and_nothing_else(sdk_config: str, principals: dict[str, Principal], apply_report: Callable[[str], None]) -> None:
    result = matrix.run(ROLE_CHECKS, principals, {"billing": matrix.Target.from_sdk_config(sdk_config)})
    apply_report("role matrix (examples/basic: producer, consumer, operator):\n" + result.table())
    assert result.mismatches == [], "\n".join(f"{o.check}: {o.detail}" for o in result.mismatches)


def test_consumer_policy_without_delete_message_fails_the_worker_with_access_denied(
    basic: Applied, sdk_config: str, principals: dict[str, Principal], tmp_path: Path
) -> None:
    """Mutation: the layer bites. modules/iam without sqs:DeleteMessage, applied on its own to the
    same server; a worker holding that consumer policy cannot acknowledge its task."""
    mutant = tmp_path / "repository"
    copy_configuration(mutant)
    iam_main = mutant / "modules" / "iam" / "main.tf"
    original = iam_main.read_text()
    mutated = re.sub(r'"sqs:DeleteMessage",\s*', "", original)
    assert mutated != original, "modules/iam/main.tf no longer grants sqs:DeleteMessage in this form: update the mutation"
    iam_main.write_text(mutated)
    config = json.loads(sdk_config)
    account = config["queue_arn"].split(":")[4]
    deployment = Deployment(
        "modules/iam", basic.server, source=mutant, log=basic.deployment.log,
        variables={
            "name": "mutant", "queue_arn": config["queue_arn"], "dlq_arn": config["dlq_arn"],
            "queue_name": config["queue_arn"].split(":")[-1], "dlq_name": config["dlq_arn"].split(":")[-1],
            "table_arn": f"arn:aws:dynamodb:{config['region']}:{account}:table/{config['idempotency_table']}",
            "payload_bucket_arn": f"arn:aws:s3:::{config['payload_bucket']}",
        },
    )
    try:
        deployment.apply()
        consumer = Principal.create(basic.server, "mutant-consumer", policy_arns=[deployment.output("consumer_policy_arn")])
        sqs = basic.server.client("sqs")
        sqs.purge_queue(QueueUrl=config["queue_url"])
        queue_as(principals["producer"], sdk_config).send("invoice", {"invoice": 3}, group_id="customer-9", task_id="mutant-1")
        run = cli(
            consumer, sdk_config, "worker", "flow_tasks:handle", "--visibility-timeout", "30", "--wait-seconds", "1",
            "--idle-exit", "4", env={"FLOW_RECORD": str(tmp_path / "mutant-record.txt")}, check=False,
        )
        assert "AccessDenied" in run.stdout + run.stderr, f"no AccessDenied in the worker's output:\n{run.stdout}\n{run.stderr}"
        attributes = sqs.get_queue_attributes(
            QueueUrl=config["queue_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        )["Attributes"]
        assert int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"]) == 1
    finally:
        # No destroy: the mutant's policies live on basic's server, which is discarded after
        # basic's own destroy; a Terraform destroy here would only add half a minute.
        deployment.cleanup()


def test_destroy_removes_everything(basic: Applied, sdk_config: str) -> None:
    line = basic.destroy()
    assert line.startswith("Destroy complete! Resources: ")
    assert basic.deployment.state_list() == []
    assert basic.server.client("sqs").list_queues().get("QueueUrls", []) == []
    assert json.loads(sdk_config)["idempotency_table"] not in basic.server.client("dynamodb").list_tables()["TableNames"]
