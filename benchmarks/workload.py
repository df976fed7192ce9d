"""The tasks every benchmark sends, and a team's resources (queue, DLQ, task table) on moto."""

from __future__ import annotations

import json
import os
import threading
import time
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


# -- keeping moto's queues short ------------------------------------------------------------
# moto recounts every message of a queue several times per SendMessage (queue attributes), so
# its cost per message grows with the queue's length: 2,000 queued messages cost minutes.
# Benchmarks therefore keep the backlog short: a Feeder tops the queue up for a consumer, a
# Drainer empties it behind a producer. Both use their own clients, which are not counted.


class Drainer:
    """Receives and deletes everything arriving in a queue on a background thread.

    ``received`` holds the distinct message ids seen, so a benchmark can check that every
    message it sent arrived. Use as a context manager; ``wait_for(n)`` blocks until ``n``
    distinct messages arrived (or raises after ``timeout`` seconds).
    """

    def __init__(self, queue_url: str) -> None:
        self.queue_url = queue_url
        self.received: set[str] = set()
        self._sqs = new_client("sqs")
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-drainer", daemon=True)

    def __enter__(self) -> Drainer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                messages = self._sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10,
                                                     WaitTimeSeconds=1).get("Messages", [])
                if not messages:
                    continue
                self._sqs.delete_message_batch(
                    QueueUrl=self.queue_url,
                    Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
                )
                with self._cond:
                    self.received.update(m["MessageId"] for m in messages)
                    self._cond.notify_all()
        except BaseException as exc:  # reported by wait_for
            self._error = exc
            with self._cond:
                self._cond.notify_all()

    def wait_for(self, count: int, timeout: float) -> None:
        """Block until ``count`` distinct messages were drained."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.received) < count:
                if self._error is not None:
                    raise RuntimeError(f"draining failed: {self._error}") from self._error
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(f"only {len(self.received)} of {count} messages arrived within {timeout:.0f} s")
                self._cond.wait(min(left, 1.0))


class Feeder:
    """Sends ``tasks`` to a queue, keeping at most ``backlog`` queued (the first ones at once).

    Uses its own TaskQueue (uncounted clients); ``done`` is set once every task was sent.
    """

    def __init__(self, team: Team, tasks: list[dict[str, Any]], *, backlog: int = 300) -> None:
        self.team = team
        self.tasks = tasks
        self.backlog = backlog
        self.sent = 0
        self.done = threading.Event()
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="bench-feeder", daemon=True)

    def __enter__(self) -> Feeder:
        self.preload()
        self._thread.start()
        return self

    def preload(self) -> None:
        """Queue the first ``backlog`` tasks now, before the consumer starts."""
        if self.sent:
            return
        queue = self.team.task_queue(sqs_client=new_client("sqs"), dynamodb_client=new_client("dynamodb"))
        chunk = self.tasks[: self.backlog]
        if not queue.send_many(chunk).ok:
            raise RuntimeError("could not load the queue")
        self.sent = len(chunk)

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(30)

    def check(self) -> None:
        """Raise when feeding failed."""
        if self._error is not None:
            raise RuntimeError(f"feeding the queue failed: {self._error}") from self._error

    def _run(self) -> None:
        try:
            sqs = new_client("sqs")
            queue = self.team.task_queue(sqs_client=sqs, dynamodb_client=new_client("dynamodb"))
            while self.sent < len(self.tasks) and not self._stop.is_set():
                room = self.backlog - queue_depth(sqs, self.team.queue_url)
                if room < 10:
                    self._stop.wait(0.05)
                    continue
                chunk = self.tasks[self.sent:self.sent + (room // 10) * 10]
                result = queue.send_many(chunk)
                if not result.ok:
                    raise RuntimeError(f"send_many failed: {result.failed[:3]}")
                self.sent += len(chunk)
            self.done.set()
        except BaseException as exc:
            self._error = exc
