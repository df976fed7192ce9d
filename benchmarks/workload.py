"""The tasks every benchmark sends, and a team's resources (queue, DLQ, task table) on moto."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

REGION = "us-east-1"
TASK_TYPE = "thumbnail.render"


def task_dicts(count: int, *, groups: int, prefix: str = "task") -> list[dict[str, Any]]:
    """``count`` small tasks spread round-robin over ``groups`` message groups.

    Each is a dict with ``task_type``, ``payload``, ``group_id`` and a stable ``task_id``
    (what a producer passes to ``send_many``); the payload is ~100 bytes of JSON.
    """
    return [
        {
            "task_type": TASK_TYPE,
            "payload": {"image": f"s3://uploads/img-{n:06d}.png", "width": 640, "height": 480, "n": n},
            "group_id": f"customer-{n % groups:03d}",
            "task_id": f"{prefix}-{n:06d}",
        }
        for n in range(count)
    ]


def fake_aws_environment() -> dict[str, str]:
    """Environment variables that keep every client away from real AWS credentials."""
    return {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }


def use_fake_aws_environment() -> None:
    """Point this process at fake credentials; drop profiles, endpoints and SQSTASK_* settings."""
    for name in list(os.environ):
        if name.startswith(("SQSTASK_", "POWERTOOLS_")) or name in ("AWS_PROFILE", "AWS_ENDPOINT_URL"):
            del os.environ[name]
    os.environ.update(fake_aws_environment())


def new_client(service: str) -> Any:
    """A fresh boto3 client (its own event hooks, so counting one never counts another)."""
    import boto3

    return boto3.session.Session().client(service, region_name=REGION)


@contextmanager
def moto() -> Iterator[None]:
    """moto's in-process AWS for the duration of the block."""
    from moto import mock_aws

    with mock_aws():
        yield


@dataclass(frozen=True)
class Team:
    """One team's resources on moto: FIFO queue with a DLQ, task table."""

    name: str
    queue_url: str
    dlq_url: str
    table: str
    visibility_timeout: int

    def task_queue(self, *, sqs_client: Any, dynamodb_client: Any) -> Any:
        """A TaskQueue on this team's resources using the given clients."""
        from sqstask import TaskQueue

        return TaskQueue(
            queue_url=self.queue_url,
            dlq_url=self.dlq_url,
            idempotency_table=self.table,
            region=REGION,
            visibility_timeout=self.visibility_timeout,
            sqs_client=sqs_client,
            dynamodb_client=dynamodb_client,
        )


def create_team(name: str, *, visibility_timeout: int = 300, max_receive_count: int = 5) -> Team:
    """Create ``<name>.fifo``, ``<name>-dlq.fifo`` and the ``<name>-tasks`` table (call inside ``moto()``)."""
    sqs = new_client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "ContentBasedDeduplication": "false",
            "VisibilityTimeout": str(visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
        },
    )["QueueUrl"]
    table = f"{name}-tasks"
    create_table(table, key="task_id")
    return Team(name, queue_url, dlq_url, table, visibility_timeout)


def create_table(name: str, *, key: str) -> None:
    """An on-demand DynamoDB table with string partition key ``key`` (call inside ``moto()``)."""
    new_client("dynamodb").create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
        KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )


def queue_depth(sqs: Any, queue_url: str) -> int:
    """Visible plus in-flight messages."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def item_size(item: dict[str, Any]) -> int:
    """Bytes DynamoDB bills for an item in wire format (names + values; numbers ~ digits/2 + 1)."""
    return sum(len(name.encode("utf-8")) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(data.encode("utf-8"))
    if kind == "N":
        digits = len(data.strip("-").replace(".", "").lstrip("0")) or 1
        return (digits + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "L":
        return 3 + sum(1 + _value_size(v) for v in data)
    if kind == "M":
        return 3 + sum(1 + len(k.encode("utf-8")) + _value_size(v) for k, v in data.items())
    if kind in ("SS", "NS", "BS"):
        return sum(_value_size({kind[0]: v}) for v in data)
    return 0


def table_item_sizes(table: str) -> list[int]:
    """Size of every item in ``table`` (call inside ``moto()``)."""
    client = new_client("dynamodb")
    sizes: list[int] = []
    kwargs: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**kwargs)
        sizes.extend(item_size(item) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return sizes
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
