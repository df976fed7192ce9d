"""examples/lambda-consumer applied to moto: the function, its role and the event source
mapping exist; the handler runs through the local runner (`sqstask lambda-local`, as Lambda's
mapping would: moto cannot invoke functions) as a principal holding exactly the module's
Lambda-consumer policy; then destroy."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from localaws import Principal, matrix, policy_arn
from localaws.pool import Applied

from apply.flows import cli, queue_as

pytestmark = pytest.mark.apply("lambda-consumer")

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "lambda-consumer"


@pytest.fixture(scope="module")
def principals(applied: Applied, sdk_config: str) -> dict[str, Principal]:
    name = json.loads(sdk_config)["name"]
    return {
        "producer": Principal.create(applied.server, "receipts-producer-user", policy_arns=[policy_arn(applied.server, f"{name}-producer")]),
        "lambda": Principal.create(applied.server, "receipts-lambda-user", policy_arns=[policy_arn(applied.server, f"{name}-lambda-receipts")]),
    }


def test_function_role_and_mapping_exist(applied: Applied, sdk_config: str) -> None:
    assert applied.apply_line.startswith("Apply complete! Resources: ")
    function_name = applied.deployment.output("function_name")
    lam = applied.server.client("lambda")
    function = lam.get_function(FunctionName=function_name)["Configuration"]
    mapping = lam.get_event_source_mapping(UUID=applied.deployment.output("event_source_mapping_uuid"))
    assert mapping["EventSourceArn"] == json.loads(sdk_config)["queue_arn"]
    assert mapping["FunctionArn"].split(":")[-1] == function_name or mapping["FunctionArn"] == function["FunctionArn"]
    role = function["Role"].split("/")[-1]
    attached = applied.server.client("iam").list_attached_role_policies(RoleName=role)["AttachedPolicies"]
    assert f"{json.loads(sdk_config)['name']}-lambda-receipts" in [p["PolicyName"] for p in attached]


def test_handler_processes_receipts_through_the_local_runner(applied: Applied, sdk_config: str, principals: dict[str, Principal]) -> None:
    queue = queue_as(principals["producer"], sdk_config)
    for order in (1, 2, 3):
        queue.send("send-receipt", {"order": order, "email": f"c{order}@example.com", "amount_cents": 1250}, group_id=f"customer-{order}", task_id=f"receipt-{order}")
    cli(principals["lambda"], sdk_config, "lambda-local", "handler:handler", "--wait-seconds", "1", "--idle-exit", "4", cwd=EXAMPLE)
    config = json.loads(sdk_config)
    attributes = applied.server.client("sqs").get_queue_attributes(
        QueueUrl=config["queue_url"], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert attributes == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}
    table = applied.server.client("dynamodb")
    for order in (1, 2, 3):
        item = table.get_item(TableName=config["idempotency_table"], Key={"task_id": {"S": f"receipt-{order}"}})["Item"]
        assert item["status"]["S"] == "COMPLETED", item


def test_lambda_consumer_role_matrix(sdk_config: str, principals: dict[str, Principal], apply_report: Callable[[str], None]) -> None:
    checks = matrix.checks(
        "lambda", "receipts",
        allowed=["queue:ReceiveMessage", "queue:DeleteMessage", "queue:GetQueueAttributes", "table:UpdateItem", "bucket:GetObject"],
        # No heartbeat in Lambda (visibility >= 6 x the timeout), so no ChangeMessageVisibility.
        denied=["queue:SendMessage", "queue:PurgeQueue", "queue:ChangeMessageVisibility", "dlq:ReceiveMessage",
                "dlq:PurgeQueue", "table:GetItem", "table:PutItem", "table:Scan", "bucket:PutObject"],
    )
    result = matrix.run(checks, principals, {"receipts": matrix.Target.from_sdk_config(sdk_config)})
    apply_report("role matrix (examples/lambda-consumer: the Lambda consumer):\n" + result.table())
    assert result.mismatches == [], "\n".join(f"{o.check}: {o.detail}" for o in result.mismatches)


def test_destroy_removes_everything(applied: Applied) -> None:
    assert applied.destroy().startswith("Destroy complete! Resources: ")
    assert applied.deployment.state_list() == []
    assert applied.server.client("lambda").list_functions()["Functions"] == []
