"""examples/worker applied to moto: the worker role trusts ECS tasks and holds the consumer
policy; the example's own task code runs in `sqstask worker` as a principal holding exactly that
policy, a 2-page report outliving a 2 s visibility timeout; then destroy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localaws import Principal, policy_arn
from localaws.pool import Applied

from apply.flows import cli, queue_as

pytestmark = pytest.mark.apply("worker")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "worker"


def test_worker_role_trusts_ecs_tasks_and_holds_the_consumer_policy(applied: Applied, sdk_config: str) -> None:
    assert applied.apply_line.startswith("Apply complete! Resources: ")
    role_name = applied.deployment.output("worker_role_arn").split("/")[-1]
    iam = applied.server.client("iam")
    trust = iam.get_role(RoleName=role_name)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust
    assert trust["Statement"][0]["Principal"] == {"Service": ["ecs-tasks.amazonaws.com"]} or trust["Statement"][0]["Principal"] == {"Service": "ecs-tasks.amazonaws.com"}
    attached = [p["PolicyName"] for p in iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"]]
    assert attached == [f"{json.loads(sdk_config)['name']}-consumer"]


def test_example_tasks_run_in_the_worker_as_the_consumer(applied: Applied, sdk_config: str, tmp_path: Path) -> None:
    name = json.loads(sdk_config)["name"]
    producer = Principal.create(applied.server, "worker-producer-user", policy_arns=[policy_arn(applied.server, f"{name}-producer")])
    consumer = Principal.create(applied.server, "worker-consumer-user", policy_arns=[policy_arn(applied.server, f"{name}-consumer")])
    queue = queue_as(producer, sdk_config)
    queue.send("render-report", {"report": "q3", "pages": 2}, group_id="reports", task_id="report-q3")
    queue.send("resize-image", {"width": 4000, "height": 3000}, group_id="images", task_id="image-1")
    cli(
        consumer, sdk_config, "worker", "tasks:handle", "--visibility-timeout", "2", "--heartbeat-interval", "0.5",
        "--wait-seconds", "1", "--idle-exit", "6", cwd=EXAMPLE, env={"REPORTS_DIR": str(tmp_path)},
    )
    assert (tmp_path / "report-q3.txt").read_text().count("page") == 2
    config = json.loads(sdk_config)
    table = applied.server.client("dynamodb")
    for task_id in ("report-q3", "image-1"):
        assert table.get_item(TableName=config["idempotency_table"], Key={"task_id": {"S": task_id}})["Item"]["status"]["S"] == "COMPLETED"


def test_destroy_removes_everything(applied: Applied) -> None:
    assert applied.destroy().startswith("Destroy complete! Resources: ")
    assert applied.deployment.state_list() == []
