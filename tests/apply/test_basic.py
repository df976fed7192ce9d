"""examples/basic applied to moto: the resources exist, sdk_config is right, destroy removes them."""

from __future__ import annotations

import json

import pytest

from localaws.pool import Applied, ApplyPool

pytestmark = pytest.mark.apply("basic")


@pytest.fixture(scope="module")
def basic(apply_pool: ApplyPool) -> Applied:
    return apply_pool.get("basic")


def test_apply_creates_every_resource(basic: Applied) -> None:
    assert basic.apply_line.startswith("Apply complete! Resources: ")
    assert " 0 changed, 0 destroyed" in basic.apply_line
    added = int(basic.apply_line.split("Resources: ")[1].split(" added")[0])
    assert added == len(basic.deployment.state_list()) - len([r for r in basic.deployment.state_list() if ".data." in r or r.startswith("data.")])


def test_sdk_config_names_the_applied_queues_table_and_bucket(basic: Applied) -> None:
    config = json.loads(basic.deployment.output_raw("sdk_config"))
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


def test_destroy_removes_everything(basic: Applied) -> None:
    config = json.loads(basic.deployment.output_raw("sdk_config"))
    line = basic.deployment.destroy()
    assert line.startswith("Destroy complete! Resources: ")
    assert basic.deployment.state_list() == []
    assert basic.server.client("sqs").list_queues().get("QueueUrls", []) == []
    tables = basic.server.client("dynamodb").list_tables()["TableNames"]
    assert config["idempotency_table"] not in tables
