"""TaskQueue: sending (one and many), ordering, deduplication, retries, receiving helpers."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import pytest

from sqstask import TaskQueue, TaskSpec
from sqstask.config import QueueConfig
from sqstask.exceptions import ConfigError, InvalidTaskError, PayloadTooLarge, SendError

BOTH = pytest.mark.parametrize("aws", ["inproc", "server"], indirect=True)


# -- helpers ---------------------------------------------------------------------------------


def drain(queue: TaskQueue, expected: int, *, timeout: float = 30.0) -> list[dict]:
    """Receive and delete until ``expected`` messages arrived (FIFO order preserved per group)."""
    received: list[dict] = []
    deadline = time.monotonic() + timeout
    while len(received) < expected:
        assert time.monotonic() < deadline, f"only {len(received)} of {expected} messages arrived within {timeout} s"
        messages = queue.receive(max_messages=10, wait_seconds=1)
        received.extend(messages)
        if messages:
            assert queue.delete_many(messages) == []
    return received


def assert_queue_empty(queue: TaskQueue) -> None:
    extra = queue.receive(max_messages=10, wait_seconds=1)
    assert extra == [], f"unexpected extra messages: {[m['Body'][:80] for m in extra]}"


def payloads_by_group(queue: TaskQueue, messages: list[dict]) -> dict[str, list[Any]]:
    groups: dict[str, list[Any]] = {}
    for message in messages:
        task = queue.to_task(message)
        groups.setdefault(task.group_id, []).append(task.payload)
    return groups


def record_calls(client: Any, operation: str) -> list[dict]:
    """The API parameters of every ``operation`` call the client makes (a botocore event hook)."""
    calls: list[dict] = []

    def on_call(params: dict, **_: Any) -> None:
        calls.append(dict(params))

    client.meta.events.register(f"provide-client-params.sqs.{operation}", on_call)
    return calls


class FlakySQS:
    """A real SQS client whose SendMessageBatch fails chosen entries the way SQS reports them.

    ``plan`` maps a task id to the failures of its next attempts, e.g.
    ``{"t-3": [("InternalError", False)] * 2}``: the entry is not sent and appears in
    ``Failed`` with that code and SenderFault. ``throttle_calls`` makes the first N calls
    raise a ThrottlingException ClientError. Everything else goes to the real client.
    """

    def __init__(self, client: Any, plan: dict[str, list[tuple[str, bool]]] | None = None, throttle_calls: int = 0):
        self.client = client
        self.plan = {k: list(v) for k, v in (plan or {}).items()}
        self.throttle_calls = throttle_calls
        self.calls: list[list[str]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.calls.append([e["MessageAttributes"]["sqstask-task-id"]["StringValue"] for e in Entries])
        if self.throttle_calls:
            self.throttle_calls -= 1
            from botocore.exceptions import ClientError

            raise ClientError(
                {
                    "Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"},
                    "ResponseMetadata": {"HTTPStatusCode": 400},
                },
                "SendMessageBatch",
            )
        passed, failed = [], []
        for entry in Entries:
            task_id = entry["MessageAttributes"]["sqstask-task-id"]["StringValue"]
            if self.plan.get(task_id):
                code, sender_fault = self.plan[task_id].pop(0)
                failed.append(
                    {"Id": entry["Id"], "SenderFault": sender_fault, "Code": code, "Message": f"injected {code}"}
                )
            else:
                passed.append(entry)
        response = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=passed) if passed else {}
        return {"Successful": list(response.get("Successful", [])), "Failed": list(response.get("Failed", [])) + failed}


def specs(group: str, count: int, start: int = 0, prefix: str = "t") -> list[TaskSpec]:
    return [TaskSpec("work", {"n": i}, group, f"{prefix}-{group}-{i}") for i in range(start, start + count)]


# -- send ------------------------------------------------------------------------------------


@BOTH
def test_send_returns_task_id_message_id_and_sequence_number(make_team):
    queue = make_team()
    result = queue.send("resize", {"w": 10}, group_id="img-1", task_id="resize-img-1")
    assert result.task_id == "resize-img-1"
    assert result.message_id
    assert result.sequence_number and result.sequence_number.isdigit()
    (message,) = drain(queue, 1)
    assert json.loads(message["Body"])["id"] == "resize-img-1"
    assert message["Attributes"]["MessageDeduplicationId"] == "resize-img-1"
    assert message["MessageAttributes"]["sqstask-task-type"]["StringValue"] == "resize"


@BOTH
def test_tasks_of_one_group_are_received_in_the_order_they_were_sent(make_team):
    queue = make_team()
    for i in range(4):
        queue.send("step", {"n": i}, group_id="a")
        queue.send("step", {"n": i}, group_id="b")
    queue.send_many(specs("a", 3, start=4) + specs("b", 3, start=4), raise_on_failure=True)
    groups = payloads_by_group(queue, drain(queue, 14))
    assert groups["a"] == [{"n": i} for i in range(7)]
    assert groups["b"] == [{"n": i} for i in range(7)]


@BOTH
def test_a_resend_with_the_same_task_id_is_deduplicated(make_team):
    queue = make_team()
    first = queue.send("charge", {"cents": 100}, group_id="cust-1", task_id="charge-42")
    second = queue.send("charge", {"cents": 100}, group_id="cust-1", task_id="charge-42")
    assert first.task_id == second.task_id == "charge-42"
    (message,) = drain(queue, 1)
    assert queue.to_task(message).task_id == "charge-42"
    assert_queue_empty(queue)


def test_send_generates_a_task_id_when_none_is_given(make_team):
    queue = make_team()
    a = queue.send("x", 1, group_id="g")
    b = queue.send("x", 1, group_id="g")
    assert a.task_id != b.task_id
    assert len(drain(queue, 2)) == 2



def test_send_goes_to_the_queue_of_the_priority_s_tier(make_team):
    base = make_team()
    urgent_url = base.sqs.create_queue(QueueName="team-urgent.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    config = replace(base.config, priorities=("urgent", "default"), default_priority="default",
                     priority_queue_urls={"urgent": urgent_url, "default": base.config.queue_url})
    queue = TaskQueue(config=config, sqs_client=base.sqs)

    queue.send("page", {"n": 1}, group_id="g", task_id="p-1", priority="urgent")
    assert queue.send_many([TaskSpec("page", {"n": 2}, "h", "p-2", priority="urgent")]).ok

    message, batched = queue.receive(max_messages=10, wait_seconds=0, queue_url=urgent_url)
    assert [queue.to_task(m).task_id for m in (message, batched)] == ["p-1", "p-2"]
    assert message["MessageAttributes"]["sqstask-priority"]["StringValue"] == "urgent"
    assert queue.receive(max_messages=10, wait_seconds=0) == []


def test_build_message_stamps_the_given_creation_time(make_team):
    queue = make_team()
    created = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=timezone.utc)

    entry = queue.build_message(TaskSpec("x", {"k": 1}, "g", "t-1").validated(), created_at=created)

    assert json.loads(entry["MessageBody"]) == {"v": 1, "id": "t-1", "type": "x", "payload": {"k": 1},
                                                "created_at": "2030-01-02T03:04:05.678Z"}
    assert (entry["MessageGroupId"], entry["MessageDeduplicationId"]) == ("g", "t-1")

@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"group_id": "has space"}, r"group_id 'has space' contains ' '"),
        ({"group_id": "g" * 129}, r"group_id is 129 characters; SQS allows at most 128"),
        ({"group_id": "g", "task_id": "bad id"}, r"task_id 'bad id' contains ' '"),
        ({"group_id": "g", "payload": {1, 2}}, r"payload is not JSON-serialisable"),
        (
            {"group_id": "g", "task_type": "two words"},
            r"task_type 'two words' must be printable characters without whitespace",
        ),
    ],
)
def test_send_rejects_bad_input_before_calling_sqs(make_team, kwargs, error):
    queue = make_team()
    calls = record_calls(queue.sqs, "SendMessage")
    args = {"task_type": "x", "payload": {}, **kwargs}
    with pytest.raises(InvalidTaskError, match=error):
        queue.send(args.pop("task_type"), args.pop("payload"), **args)
    assert calls == []


def test_a_payload_over_the_limit_without_a_bucket_says_how_big_the_limit_and_what_to_set(make_team):
    queue = make_team(payload_bucket=False)
    with pytest.raises(PayloadTooLarge) as info:
        queue.send("big", "x" * (2 * 1024 * 1024), group_id="g")
    assert str(info.value) == "payload is 2 MiB; the queue accepts 1 MiB; set payload_bucket to offload large payloads"
    assert info.value.size > 2 * 1024 * 1024 and info.value.limit == 1048576


def test_the_limit_is_the_queues_configured_max_message_size(make_team):
    queue = make_team(payload_bucket=False, max_message_size=4096)
    queue.send("fits", "x" * 3800, group_id="g")
    with pytest.raises(PayloadTooLarge, match=r"payload is 4\.\d KiB; the queue accepts 4 KiB"):
        queue.send("too-big", "x" * 4096, group_id="g")


def test_without_a_bucket_a_message_of_exactly_the_limit_is_sent_and_one_byte_more_is_refused(make_team):
    limit = 4096
    queue = make_team(payload_bucket=False, max_message_size=limit)
    queue.send("x", "a" * 1000, group_id="g", task_id="probe-0")
    (probe,) = queue.receive(max_messages=1, wait_seconds=1)
    attributes = probe["MessageAttributes"].items()
    size = len(probe["Body"].encode()) + sum(len(n) + len(a["DataType"]) + len(a["StringValue"]) for n, a in attributes)
    exact = "a" * (1000 + limit - size)  # same task id length: only the payload changes the size

    queue.send("x", exact, group_id="h", task_id="exact-1")
    with pytest.raises(PayloadTooLarge, match=r"the queue accepts 4 KiB"):
        queue.send("x", exact + "a", group_id="h", task_id="above-1")
    with pytest.raises(PayloadTooLarge, match=r"the queue accepts 4 KiB"):
        queue.send_many([TaskSpec("x", exact + "a", "h", "above-1")])


# -- send_many -------------------------------------------------------------------------------


@BOTH
def test_send_many_with_25_tasks_in_10_groups_uses_3_batch_calls(make_team):
    queue = make_team()
    calls = record_calls(queue.sqs, "SendMessageBatch")
    tasks = [TaskSpec("work", {"n": i}, f"g{i % 10}", f"t-{i}") for i in range(25)]
    result = queue.send_many(tasks)
    assert result.ok
    assert [len(c["Entries"]) for c in calls] == [10, 10, 5]  # SQS's limit, asserted, not left to SQS
    assert [r.task_id for r in result.sent] == [f"t-{i}" for i in range(25)]
    received = drain(queue, 25)
    groups = payloads_by_group(queue, received)
    assert groups == {f"g{g}": [{"n": i} for i in range(g, 25, 10)] for g in range(10)}
    # each SendResult names the message SQS stored, with its FIFO sequence number
    stored = {queue.to_task(m).task_id: (m["MessageId"], m["Attributes"]["SequenceNumber"]) for m in received}
    assert {r.task_id: (r.message_id, r.sequence_number) for r in result.sent} == stored


def test_send_many_puts_at_most_one_task_of_a_group_in_each_call(make_team):
    queue = make_team()
    calls = record_calls(queue.sqs, "SendMessageBatch")
    result = queue.send_many(specs("g", 3) + specs("h", 1))
    assert result.ok
    groups_per_call = [[e["MessageGroupId"] for e in c["Entries"]] for c in calls]
    assert groups_per_call == [["g", "h"], ["g"], ["g"]]
    assert payloads_by_group(queue, drain(queue, 4))["g"] == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_send_many_accepts_dicts(make_team):
    queue = make_team()
    result = queue.send_many([{"task_type": "x", "payload": i, "group_id": "g"} for i in range(3)])
    assert result.ok and len(result.sent) == 3 and all(r.task_id for r in result.sent)


def test_send_many_splits_batches_by_the_queues_size_limit(make_team):
    queue = make_team(max_message_size=4096)
    calls = record_calls(queue.sqs, "SendMessageBatch")
    result = queue.send_many([TaskSpec("x", "y" * 1500, f"g{i}") for i in range(5)])
    assert result.ok
    assert [len(c["Entries"]) for c in calls] == [2, 2, 1]


def test_send_many_validates_every_task_before_sending_any(make_team):
    queue = make_team()
    calls = record_calls(queue.sqs, "SendMessageBatch")
    with pytest.raises(InvalidTaskError, match=r"group_id must not be empty"):
        queue.send_many([TaskSpec("x", 1, "g"), TaskSpec("x", 2, "")])
    with pytest.raises(PayloadTooLarge):
        make_team("nobucket", payload_bucket=False).send_many(
            [TaskSpec("x", 1, "g"), TaskSpec("x", "z" * 1048576, "g")]
        )
    assert calls == []


@BOTH
def test_a_failing_entry_is_retried_and_then_sent(make_team):
    sleeps: list[float] = []
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-a-2": [("InternalError", False)] * 2})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append, retry_base=1.0, retry_cap=60.0)
    result = queue.send_many(specs("a", 3) + specs("b", 2))
    assert result.ok, result.failed
    assert sum(c.count("t-a-2") for c in flaky.calls) == 3
    # Exponential with 50-100 % jitter: 0.5..1 s, then 1..2 s (a constant backoff would repeat 0.5..1).
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 1.0 < sleeps[1] <= 2.0, sleeps
    groups = payloads_by_group(queue, drain(queue, 5))
    assert groups == {"a": [{"n": 0}, {"n": 1}, {"n": 2}], "b": [{"n": 0}, {"n": 1}]}


@BOTH
def test_an_entry_that_keeps_failing_is_reported_with_its_reason(make_team):
    sleeps: list[float] = []
    base = make_team()
    # Group a goes one task per call: t-a-9 keeps failing, t-a-10 and t-a-11 must never be sent.
    flaky = FlakySQS(base.sqs, {"t-a-9": [("InternalError", False)] * 10})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append)
    result = queue.send_many(specs("a", 12) + specs("b", 2), max_attempts=3)
    assert not result.ok
    failed = {spec.task_id: reason for spec, reason in result.failed}
    assert failed == {
        "t-a-9": "InternalError: injected InternalError (gave up after 3 attempts)",
        "t-a-10": "not sent: earlier task t-a-9 of group a failed "
        "(InternalError: injected InternalError (gave up after 3 attempts))",
        "t-a-11": "not sent: earlier task t-a-9 of group a failed "
        "(InternalError: injected InternalError (gave up after 3 attempts))",
    }
    assert sorted(r.task_id for r in result.sent) == sorted([f"t-a-{i}" for i in range(9)] + ["t-b-0", "t-b-1"])
    assert sum(c.count("t-a-9") for c in flaky.calls) == 3
    assert not any("t-a-10" in c for c in flaky.calls)
    assert len(sleeps) == 2


def test_raise_on_failure_raises_send_error_listing_the_failed_tasks(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [("InternalError", False)] * 5})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)
    with pytest.raises(
        SendError, match=r"^1 task\(s\) could not be sent; first: task t-g-0 \(work\): InternalError"
    ) as info:
        queue.send_many(specs("g", 1) + specs("h", 1), raise_on_failure=True, max_attempts=2)
    assert [spec.task_id for spec, _ in info.value.failed] == ["t-g-0"]


def test_a_sender_fault_is_reported_without_retrying(make_team):
    sleeps: list[float] = []
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [("InvalidParameterValue", True)]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append)
    result = queue.send_many(specs("g", 1) + specs("h", 1))
    assert result.failed == [(specs("g", 1)[0], "InvalidParameterValue: injected InvalidParameterValue")]
    assert [r.task_id for r in result.sent] == ["t-h-0"]
    assert len(flaky.calls) == 1 and sleeps == []


def test_a_retried_entry_holds_back_later_entries_of_its_group_so_order_is_kept(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-1": [("ServiceUnavailable", False)]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)
    result = queue.send_many(specs("g", 3) + specs("other", 2))
    assert result.ok
    assert flaky.calls == [["t-g-0", "t-other-0"], ["t-g-1", "t-other-1"], ["t-g-1"], ["t-g-2"]]
    groups = payloads_by_group(queue, drain(queue, 5))
    assert groups["g"] == [{"n": i} for i in range(3)]


def test_a_rejected_entry_stops_the_later_entries_of_its_group_in_the_same_call(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [("InvalidParameterValue", True)]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)
    result = queue.send_many(specs("g", 3) + specs("h", 1))
    assert [r.task_id for r in result.sent] == ["t-h-0"]
    assert [spec.task_id for spec, _ in result.failed] == ["t-g-0", "t-g-1", "t-g-2"]
    assert not any("t-g-1" in call or "t-g-2" in call for call in flaky.calls)


def test_send_error_carries_what_was_sent(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-1": [("InvalidParameterValue", True)]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)
    with pytest.raises(SendError) as info:
        queue.send_many(specs("g", 2) + specs("h", 1), raise_on_failure=True)
    assert sorted(r.task_id for r in info.value.sent) == ["t-g-0", "t-h-0"]
    assert [spec.task_id for spec, _ in info.value.failed] == ["t-g-1"]


def test_a_throttled_batch_call_is_retried(make_team):
    sleeps: list[float] = []
    base = make_team()
    flaky = FlakySQS(base.sqs, throttle_calls=1)
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append)
    result = queue.send_many(specs("g", 1) + specs("h", 1) + specs("i", 1))
    assert result.ok and len(flaky.calls) == 2 and len(sleeps) == 1
    assert len(drain(queue, 3)) == 3


class FailingS3:
    """A real S3 client whose PutObject fails for bodies containing ``marker``."""

    def __init__(self, client: Any, marker: bytes) -> None:
        self.client = client
        self.marker = marker

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def put_object(self, **kwargs: Any) -> dict:
        if self.marker in kwargs["Body"]:
            from botocore.exceptions import ClientError

            raise ClientError(
                {"Error": {"Code": "AccessDenied", "Message": "injected"}, "ResponseMetadata": {"HTTPStatusCode": 403}},
                "PutObject",
            )
        return self.client.put_object(**kwargs)


def test_an_s3_failure_in_send_many_fails_that_task_and_the_later_tasks_of_its_group(make_team, aws):
    queue = make_team(max_message_size=2048, s3_client=FailingS3(aws.client("s3"), b"lost-big"))
    big = "y" * 4096
    tasks = [
        TaskSpec("x", 0, "g", "g-0"),
        TaskSpec("x", big, "g", "lost-big"),  # its offload fails
        TaskSpec("x", 2, "g", "g-2"),
        TaskSpec("x", big, "g", "g-3"),  # would offload fine, but its group already failed
        TaskSpec("x", 0, "h", "h-0"),
        TaskSpec("x", big, "h", "h-big"),  # another group's offload succeeds
    ]
    result = queue.send_many(tasks)

    failed = {spec.task_id: reason for spec, reason in result.failed}
    assert failed["lost-big"].startswith("payload offload to S3 failed: AccessDenied")
    assert failed["g-2"] == failed["g-3"] == f"not sent: earlier task lost-big of group g failed ({failed['lost-big']})"
    assert [r.task_id for r in result.sent] == ["g-0", "h-0", "h-big"]
    assert len(result.sent) + len(result.failed) == len(tasks)  # nothing silently dropped
    received = drain(queue, 3)
    assert [queue.to_task(m).task_id for m in received] == ["g-0", "h-0", "h-big"]
    assert_queue_empty(queue)


def test_a_send_round_puts_every_task_in_one_call_per_queue_of_at_most_10_entries_and_the_size_limit():
    # send_many repeats rounds until every task is settled: a task a round leaves out of its calls
    # is never settled and send_many never returns. So the split is checked on its own, without SQS.
    from sqstask.queue import _Pending

    queue = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/1/q.fifo", max_message_size=1024)
    # 12 small tasks for one tier and 5 large ones for another, interleaved
    kinds = ["high", "low"] * 5 + ["high"] * 7
    items = [_Pending(n, TaskSpec("t", {}, f"g{n}", f"t{n}"), None, 50 if url == "high" else 300, queue_url=url)
             for n, url in enumerate(kinds)]

    chunks = queue._chunks(items)

    assert sorted(item.index for chunk in chunks for item in chunk) == list(range(17))  # each once
    assert all(len({item.queue_url for item in chunk}) == 1 for chunk in chunks)
    assert all(len(chunk) <= 10 and sum(item.size for item in chunk) <= 1024 for chunk in chunks)
    # high: 10 entries per call; low: a 4th task of 300 bytes would pass 1024
    assert [(chunk[0].queue_url, len(chunk)) for chunk in chunks] == [("high", 10), ("high", 2), ("low", 3), ("low", 2)]


def test_delete_and_change_visibility_go_to_sqs_in_calls_of_at_most_10(make_team):
    queue = make_team()
    queue.send_many([TaskSpec("work", {}, f"g{i}") for i in range(25)], raise_on_failure=True)  # 25 groups
    messages: list[dict] = []
    while len(messages) < 25:
        got = queue.receive(max_messages=10, wait_seconds=0)
        assert got, f"only {len(messages)} of 25 messages could be received"
        messages.extend(got)
    changes = record_calls(queue.sqs, "ChangeMessageVisibilityBatch")
    deletes = record_calls(queue.sqs, "DeleteMessageBatch")

    assert queue.change_visibility_many(messages, 60) == []
    assert queue.delete_many(messages) == []

    assert [len(c["Entries"]) for c in changes] == [10, 10, 5]
    assert [len(c["Entries"]) for c in deletes] == [10, 10, 5]
    assert_queue_empty(queue)


def test_send_many_of_nothing_makes_no_calls(make_team):
    queue = make_team()
    calls = record_calls(queue.sqs, "SendMessageBatch")
    assert queue.send_many([]).ok and calls == []


# -- construction and clients -------------------------------------------------------------------


def test_a_queue_without_a_url_is_a_config_error_that_says_both_ways_to_give_one():
    with pytest.raises(ConfigError) as error:
        TaskQueue()
    assert str(error.value) == "queue_url is required: pass TaskQueue(queue_url=...) or use TaskQueue.from_env()"


def test_clients_are_created_lazily_once_and_injected_ones_win():
    injected = object()
    queue = TaskQueue(queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", sqs_client=injected)
    assert queue.sqs is injected
    assert "s3" not in queue._clients
    s3 = queue.s3
    assert queue.s3 is s3
    assert s3.meta.region_name == "eu-west-1"  # inferred from the queue URL


@pytest.mark.parametrize(
    ("url", "region"),
    [
        ("https://sqs.ap-southeast-2.amazonaws.com/123456789012/q.fifo", "ap-southeast-2"),
        ("https://eu-central-1.queue.amazonaws.com/123456789012/q.fifo", "eu-central-1"),
        ("http://127.0.0.1:5000/123456789012/q.fifo", None),
        ("https://sqs.local/123456789012/q.fifo", None),
        ("https://eu.queue/123456789012/q.fifo", None),
        ("https://sns.us-east-1.amazonaws.com/123456789012/q.fifo", None),
    ],
)
def test_the_region_is_taken_from_the_queue_url_when_not_configured(url, region):
    assert TaskQueue(queue_url=url).config.region == region
    assert TaskQueue(queue_url=url, region="us-west-1").config.region == "us-west-1"



def test_from_env_reads_the_given_mapping_and_keyword_overrides_win(make_team):
    team = make_team()
    environ = {"SQSTASK_CONFIG": json.dumps({"queue_url": team.config.queue_url, "region": "us-east-1"}),
               "SQSTASK_MAX_MESSAGE_SIZE": "2048"}

    queue = TaskQueue.from_env(environ, sqs_client=team.sqs)

    assert queue.sqs is team.sqs
    assert (queue.config.queue_url, queue.config.max_message_size) == (team.config.queue_url, 2048)
    queue.send("x", {"via": "mapping"}, group_id="g")
    assert team.to_task(drain(team, 1)[0]).payload == {"via": "mapping"}


def test_from_config_keeps_the_config_and_uses_the_injected_clients():
    config = QueueConfig(queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/q.fifo", region="eu-west-1",
                         payload_bucket="q-payloads", max_message_size=4096)
    sqs = object()

    queue = TaskQueue.from_config(config, sqs_client=sqs)

    assert queue.config == config
    assert queue.sqs is sqs
    assert repr(queue) == f"TaskQueue(queue_url={config.queue_url!r})"
    assert queue.payloads is not None and TaskQueue(queue_url=config.queue_url).payloads is None

@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_from_env_reaches_the_queue_through_the_configured_endpoint(make_team, aws, monkeypatch):
    team = make_team()
    monkeypatch.setenv("SQSTASK_CONFIG", json.dumps({"queue_url": team.config.queue_url, "region": "us-east-1"}))
    monkeypatch.setenv("SQSTASK_ENDPOINT_URL", aws.endpoint_url)
    queue = TaskQueue.from_env()
    assert queue.config.endpoint_url == aws.endpoint_url
    queue.send("x", {"via": "env"}, group_id="g")
    assert team.to_task(drain(team, 1)[0]).payload == {"via": "env"}


# -- receiving helpers ---------------------------------------------------------------------------


def test_receive_returns_raw_messages_with_all_attributes(make_team):
    queue = make_team()
    queue.send("x", 1, group_id="g", task_id="t1")
    (message,) = queue.receive(max_messages=1, wait_seconds=0)
    assert message["Attributes"]["MessageGroupId"] == "g"
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert message["MessageAttributes"]["sqstask-task-id"]["StringValue"] == "t1"


def test_receive_rejects_out_of_range_arguments(make_team):
    queue = make_team()
    with pytest.raises(ValueError, match=r"max_messages must be 1\.\.10"):
        queue.receive(max_messages=11)
    with pytest.raises(ValueError, match=r"wait_seconds must be 0\.\.20"):
        queue.receive(wait_seconds=21)


def test_delete_many_reports_the_messages_sqs_did_not_delete(make_team):
    queue = make_team()
    queue.send_many(specs("g", 2))
    messages = queue.receive(max_messages=10, wait_seconds=0)
    bogus = {"MessageId": "ghost", "ReceiptHandle": "not-a-real-handle"}
    assert queue.delete_many([*messages, bogus]) == ["ghost"]
    assert_queue_empty(queue)


def test_change_visibility_many_makes_messages_visible_again(make_team):
    queue = make_team(visibility_timeout=300)
    queue.send_many(specs("g", 12))
    first = queue.receive(max_messages=10, wait_seconds=0)
    calls = record_calls(queue.sqs, "ChangeMessageVisibilityBatch")
    assert queue.change_visibility_many(first, 0) == []
    assert len(calls) == 1
    again = queue.receive(max_messages=10, wait_seconds=0)
    assert [m["MessageId"] for m in again] == [m["MessageId"] for m in first]
    assert again[0]["Attributes"]["ApproximateReceiveCount"] == "2"


def test_to_task_accepts_lambda_records(make_team):
    queue = make_team()
    queue.send("x", {"k": "v"}, group_id="g", task_id="t1")
    (m,) = queue.receive(max_messages=1, wait_seconds=0)
    record = {
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m["Attributes"],
        "messageAttributes": {
            k: {"stringValue": v["StringValue"], "dataType": v["DataType"]} for k, v in m["MessageAttributes"].items()
        },
        "eventSourceARN": queue.config.queue_arn,
    }
    task = queue.to_task(record)
    assert (task.task_id, task.payload, task.group_id) == ("t1", {"k": "v"}, "g")


def failing_batch_calls(queue: TaskQueue, *errors: Exception) -> list[str]:
    """Make the next SendMessageBatch calls raise ``errors`` in turn; returns the list of calls made."""
    pending = list(errors)
    calls: list[str] = []

    def fail(**_: Any) -> None:
        calls.append("SendMessageBatch")
        if pending:
            raise pending.pop(0)

    queue.sqs.meta.events.register("before-call.sqs.SendMessageBatch", fail)
    return calls


def client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "SendMessageBatch")


@pytest.mark.parametrize("error", [client_error("Unlisted", 500), client_error("Unlisted", 503),
                                   client_error("ThrottlingException", 400)], ids=["500", "503", "throttled"])
def test_send_many_retries_a_batch_call_refused_by_a_5xx_status_or_throttling(make_team, error):
    base = make_team("rq")
    sleeps: list[float] = []
    queue = TaskQueue(config=base.config, sqs_client=base.sqs, sleep=sleeps.append)
    calls = failing_batch_calls(queue, error)

    result = queue.send_many([TaskSpec("t", {}, "g", "r-1")])

    assert [sent.task_id for sent in result.sent] == ["r-1"] and result.failed == []
    assert len(calls) == 2 and len(sleeps) == 1


@pytest.mark.parametrize("error", [client_error("AccessDenied", 403), client_error("Unlisted", 499)],
                         ids=["denied", "499"])
def test_send_many_does_not_retry_a_batch_call_refused_for_the_callers_fault(make_team, error):
    base = make_team("rq")
    sleeps: list[float] = []
    queue = TaskQueue(config=base.config, sqs_client=base.sqs, sleep=sleeps.append)
    calls = failing_batch_calls(queue, error)

    result = queue.send_many([TaskSpec("t", {}, "g", "r-1")])

    assert result.sent == [] and [spec.task_id for spec, _ in result.failed] == ["r-1"]
    assert len(calls) == 1 and sleeps == []


def test_send_many_retries_a_batch_call_that_could_not_connect(make_team):
    from botocore.exceptions import EndpointConnectionError

    base = make_team("rq")
    sleeps: list[float] = []
    queue = TaskQueue(config=base.config, sqs_client=base.sqs, sleep=sleeps.append)
    calls = failing_batch_calls(queue, EndpointConnectionError(endpoint_url="https://sqs.example"))

    assert [sent.task_id for sent in queue.send_many([TaskSpec("t", {}, "g", "r-1")]).sent] == ["r-1"]
    assert len(calls) == 2


def test_deletes_and_visibility_changes_go_to_the_queue_each_message_came_from_and_report_every_failure(make_team):
    queue = make_team("mq")
    queue.send("t", {}, group_id="g", task_id="in-main")
    queue.sqs.send_message(QueueUrl=queue.config.dlq_url, MessageBody="{}", MessageGroupId="g",
                           MessageDeduplicationId="in-dlq")
    [main] = queue.receive(max_messages=1, wait_seconds=0)
    [dead] = queue.receive(max_messages=1, wait_seconds=0, queue_url=queue.config.dlq_url)
    stale = dict(main, ReceiptHandle="not-a-handle", QueueUrl=queue.config.queue_url)

    assert queue.change_visibility_many([stale, dict(dead, QueueUrl=queue.config.dlq_url)], 0) == [main["MessageId"]]
    [dead] = queue.receive(max_messages=1, wait_seconds=0, queue_url=queue.config.dlq_url)  # visible at once
    assert queue.delete_many([stale, dict(dead, QueueUrl=queue.config.dlq_url)]) == [main["MessageId"]]
    assert queue.receive(max_messages=1, wait_seconds=0, queue_url=queue.config.dlq_url) == []


def test_message_ids_are_read_from_sqs_messages_and_lambda_records_and_anything_else_is_refused():
    from sqstask.queue import message_id_of

    assert message_id_of({"MessageId": "m-1"}) == "m-1"
    assert message_id_of({"messageId": "m-2"}) == "m-2"
    with pytest.raises(TypeError, match="not an SQS message, Lambda SQS record or Task: dict"):
        message_id_of({"MessageId": ""})
    with pytest.raises(TypeError, match="Task: str"):
        message_id_of("m-3")
    with pytest.raises(TypeError, match="Task: dict"):
        message_id_of({"MessageId": 7})


def test_receipt_handles_are_read_from_sqs_messages_lambda_records_and_tasks_and_a_missing_one_is_refused():
    from sqstask import Task
    from sqstask.queue import receipt_handle_of

    task = Task("t", "x", {}, "g", 1, "m-3", None, receipt_handle="h-3")
    assert receipt_handle_of({"MessageId": "m-1", "ReceiptHandle": "h-1"}) == "h-1"
    assert receipt_handle_of({"messageId": "m-2", "receiptHandle": "h-2"}) == "h-2"
    assert receipt_handle_of(task) == "h-3"
    for unusable in ({"MessageId": "m-4"}, {"MessageId": "m-4", "ReceiptHandle": ""},
                     {"MessageId": "m-4", "ReceiptHandle": 5}):
        with pytest.raises(TypeError, match="^message m-4 has no receipt handle$"):
            receipt_handle_of(unusable)
    with pytest.raises(TypeError, match="^message m-5 has no receipt handle$"):
        receipt_handle_of(Task("t", "x", {}, "g", 1, "m-5", None))


@pytest.mark.parametrize(("draw", "expected"), [("low", [0.5, 1.0, 2.0]), ("high", [1.0, 2.0, 4.0])])
def test_send_many_backs_off_exponentially_between_half_and_all_of_each_ceiling(make_team, monkeypatch, draw,
                                                                                 expected):
    import sqstask.queue

    monkeypatch.setattr(sqstask.queue.random, "uniform", lambda low, high: low if draw == "low" else high)
    base = make_team()
    sleeps: list[float] = []
    flaky = FlakySQS(base.sqs, {"t-a-0": [("InternalError", False)] * 3})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append, retry_base=1.0, retry_cap=60.0)

    assert queue.send_many(specs("a", 1)).ok
    assert sleeps == expected


def test_send_many_fails_a_refused_call_whose_error_carries_no_http_status(make_team):
    from botocore.exceptions import ClientError

    base = make_team("rq")
    sleeps: list[float] = []
    queue = TaskQueue(config=base.config, sqs_client=base.sqs, sleep=sleeps.append)
    failing_batch_calls(queue, ClientError({"Error": {"Code": "Unlisted", "Message": "m"}}, "SendMessageBatch"))

    result = queue.send_many([TaskSpec("t", {}, "g", "r-1")])

    assert result.sent == [] and result.failed == [(TaskSpec("t", {}, "g", "r-1"), "Unlisted: An error occurred (Unlisted) "
                                                    "when calling the SendMessageBatch operation: m")]
    assert sleeps == []


# -- delayed sends ---------------------------------------------------------------------------

SCHEDULER_ROLE = "arn:aws:iam::123456789012:role/team-scheduler"
NOW = datetime(2031, 5, 4, 12, 0, 0, tzinfo=timezone.utc)


def scheduling_team(make_team: Any, aws: Any) -> TaskQueue:
    """The team's queue with its schedule group and scheduler role (as the module's sdk_config gives them)."""
    base = make_team(table=False, payload_bucket=False)
    aws.client("scheduler").create_schedule_group(Name="team")
    config = base.config.with_overrides(schedule_group="team", scheduler_role_arn=SCHEDULER_ROLE)
    return TaskQueue(config=config, sqs_client=base.sqs, scheduler_client=aws.client("scheduler"))


def scheduled(queue: TaskQueue, name: str) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """(schedule expression, SendMessage request, task envelope) of a delayed send's schedule."""
    schedule = queue.scheduler.get_schedule(Name=name, GroupName="team")
    request = json.loads(schedule["Target"]["Input"])
    return schedule["ScheduleExpression"], request, json.loads(request["MessageBody"])


def test_send_at_schedules_exactly_the_given_task_for_the_given_time(make_team, aws):
    queue = scheduling_team(make_team, aws)

    sent = queue.send_at(datetime(2031, 5, 4, 15, 30, tzinfo=timezone.utc), "remind", {"user": 7},
                         group_id="users", task_id="reminder-7", now=NOW)

    expression, request, envelope = scheduled(queue, sent.schedule_name)
    assert sent.task_id == "reminder-7"
    assert expression == "at(2031-05-04T15:30:00)"
    assert request["MessageGroupId"] == "users"
    assert envelope == {"v": 1, "id": "reminder-7", "type": "remind", "payload": {"user": 7},
                        "created_at": "2031-05-04T12:00:00.000Z"}


def test_send_after_schedules_exactly_the_given_task_delay_seconds_from_now(make_team, aws):
    queue = scheduling_team(make_team, aws)

    sent = queue.send_after(90, "remind", {"user": 8}, group_id="users", task_id="reminder-8", now=NOW)

    expression, request, envelope = scheduled(queue, sent.schedule_name)
    assert sent.task_id == "reminder-8"
    assert expression == "at(2031-05-04T12:01:30)"
    assert request["MessageGroupId"] == "users"
    assert envelope == {"v": 1, "id": "reminder-8", "type": "remind", "payload": {"user": 8},
                        "created_at": "2031-05-04T12:00:00.000Z"}


# -- batch calls and receiving, at their edges ---------------------------------------------------


class BatchRecorder:
    """A client whose ``delete_message_batch`` records each call and answers from ``answers`` in turn
    (an exception to raise, or a response dict)."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.calls: list[tuple[str, list[dict[str, Any]]]] = []

    def delete_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append((QueueUrl, Entries))
        answer = self.answers.pop(0) if self.answers else {}
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_sqs_batch_calls_in_tens_and_reports_each_failure_against_its_message():
    from botocore.exceptions import ClientError

    from sqstask.queue import BatchFailure, sqs_batch

    client = BatchRecorder(
        {"Failed": [{"Id": "3", "Code": "ReceiptHandleIsInvalid", "Message": "stale", "SenderFault": True},
                    {"Id": "7"}]},
        ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "busy"}}, "DeleteMessageBatch"),
        {"Failed": [{"Id": "2", "Code": "InternalError", "Message": "oops", "SenderFault": False}]},
    )
    entries = [{"ReceiptHandle": f"h{i}"} for i in range(23)]
    ids = [f"m{i}" for i in range(23)]

    failures = sqs_batch(client, "delete_message_batch", "https://q", entries, ids)

    assert [(url, [e["Id"] for e in chunk]) for url, chunk in client.calls] == [
        ("https://q", [str(i) for i in range(10)]), ("https://q", [str(i) for i in range(10)]),
        ("https://q", ["0", "1", "2"])]
    assert [e["ReceiptHandle"] for _, chunk in client.calls for e in chunk] == [e["ReceiptHandle"] for e in entries]
    busy = "An error occurred (ServiceUnavailable) when calling the DeleteMessageBatch operation: busy"
    assert failures == [
        BatchFailure("m3", "ReceiptHandleIsInvalid", "stale", True),
        BatchFailure("m7", "", "", False),
        *(BatchFailure(f"m{i}", "ServiceUnavailable", busy, False) for i in range(10, 20)),
        BatchFailure("m22", "InternalError", "oops", False),
    ]


def test_sqs_batch_takes_a_response_without_a_failed_list_as_all_done():
    from sqstask.queue import sqs_batch

    assert sqs_batch(BatchRecorder({"Successful": [{"Id": "0"}]}), "delete_message_batch", "https://q",
                     [{"ReceiptHandle": "h"}], ["m"]) == []


def test_sqs_batch_raises_an_error_that_is_not_from_aws():
    from sqstask.queue import sqs_batch

    with pytest.raises(RuntimeError, match="bug"):
        sqs_batch(BatchRecorder(RuntimeError("bug")), "delete_message_batch", "https://q", [{"ReceiptHandle": "h"}], ["m"])


class UnevenSQS(FlakySQS):
    """SendMessageBatch answers that SQS may give: a failure without code or message, or an entry in
    neither list (``odd`` maps a task id to "bare" or "missing" for its next attempts)."""

    def __init__(self, client: Any, odd: dict[str, list[str]]) -> None:
        super().__init__(client)
        self.odd = {k: list(v) for k, v in odd.items()}

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:
        self.calls.append([e["MessageAttributes"]["sqstask-task-id"]["StringValue"] for e in Entries])
        passed, failed = [], []
        for entry in Entries:
            task_id = entry["MessageAttributes"]["sqstask-task-id"]["StringValue"]
            how = self.odd[task_id].pop(0) if self.odd.get(task_id) else None
            if how == "bare":
                failed.append({"Id": entry["Id"], "SenderFault": True})
            elif how == "unattributed":  # no SenderFault member: not the sender's fault
                failed.append({"Id": entry["Id"], "Code": "Odd", "Message": "m"})
            elif how is None:
                passed.append(entry)
        response = self.client.send_message_batch(QueueUrl=QueueUrl, Entries=passed) if passed else {}
        # A client may leave out an empty list (as botocore does for an absent member).
        return {key: value for key, value in (("Successful", response.get("Successful")), ("Failed", failed)) if value}


def test_an_entry_sqs_reports_neither_sent_nor_failed_is_retried_and_then_given_up(make_team):
    base = make_team()
    sleeps: list[float] = []
    uneven = UnevenSQS(base.sqs, {"t-g-0": ["missing"], "t-h-0": ["missing", "missing"]})
    queue = TaskQueue(config=base.config, sqs_client=uneven, sleep=sleeps.append)

    result = queue.send_many(specs("g", 1) + specs("h", 1), max_attempts=2)

    assert [r.task_id for r in result.sent] == ["t-g-0"]
    assert [(spec.task_id, reason) for spec, reason in result.failed] == [
        ("t-h-0", "SQS reported neither success nor failure (gave up after 2 attempts)")]
    assert len(sleeps) == 1


def test_a_failure_without_code_or_message_is_reported_as_unknown(make_team):
    base = make_team()
    queue = TaskQueue(config=base.config, sqs_client=UnevenSQS(base.sqs, {"t-g-0": ["bare"]}), sleep=lambda s: None)

    result = queue.send_many(specs("g", 1))

    assert [reason for _, reason in result.failed] == ["Unknown"]


def test_receive_with_its_defaults_takes_up_to_10_messages_and_every_attribute(make_team):
    queue = make_team()
    queue.send_many([TaskSpec("x", i, f"g{i}", f"t{i}") for i in range(12)], raise_on_failure=True)
    calls = record_calls(queue.sqs, "ReceiveMessage")

    messages = queue.receive()  # messages are waiting, so the 20 s long poll returns at once

    assert len(messages) == 10
    assert calls == [{"QueueUrl": queue.config.queue_url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 20,
                      "MessageSystemAttributeNames": ["All"], "MessageAttributeNames": ["All"]}]


@pytest.mark.parametrize(("max_messages", "wait_seconds"), [(1, 20), (10, 0)])
def test_receive_accepts_the_ends_of_its_ranges(make_team, max_messages, wait_seconds):
    queue = make_team()
    queue.send("x", 1, group_id="g", task_id="t1")

    assert [m["MessageId"] for m in queue.receive(max_messages=max_messages, wait_seconds=wait_seconds)]


@pytest.mark.parametrize(("kwargs", "error"), [({"max_messages": 0}, "max_messages must be 1..10, got 0"),
                                               ({"wait_seconds": -1}, "wait_seconds must be 0..20, got -1")])
def test_receive_refuses_just_outside_its_ranges(kwargs, error):
    queue = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/q.fifo", sqs_client=object())

    with pytest.raises(ValueError, match=f"^{error}$"):
        queue.receive(**kwargs)


def test_receive_with_a_visibility_timeout_of_0_leaves_the_message_receivable_again(make_team):
    queue = make_team(visibility_timeout=300)
    queue.send("x", 1, group_id="g", task_id="t1")

    [first] = queue.receive(max_messages=1, wait_seconds=0, visibility_timeout=0)
    [again] = queue.receive(max_messages=1, wait_seconds=0)

    assert again["MessageId"] == first["MessageId"]


# -- construction in full ------------------------------------------------------------------------

URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/team.fifo"


def test_every_constructor_keyword_reaches_the_config():
    queue = TaskQueue(queue_url=URL, dlq_url=URL.replace("team", "team-dlq"), idempotency_table="team-tasks",
                      payload_bucket="team-payloads", region="eu-west-2", endpoint_url="http://localhost:4566",
                      visibility_timeout=45, max_message_size=4096, max_attempts=7)

    config = queue.config
    assert (config.queue_url, config.dlq_url, config.idempotency_table, config.payload_bucket) == (
        URL, URL.replace("team", "team-dlq"), "team-tasks", "team-payloads")
    assert (config.region, config.endpoint_url, config.visibility_timeout, config.max_message_size,
            config.max_attempts) == ("eu-west-2", "http://localhost:4566", 45, 4096, 7)


def test_keywords_given_with_a_config_override_it_and_absent_ones_keep_it():
    config = QueueConfig(queue_url=URL, idempotency_table="team-tasks", max_message_size=4096, region="eu-west-1")

    queue = TaskQueue(config=config, payload_bucket="other-payloads", max_message_size=2048)

    assert (queue.config.idempotency_table, queue.config.payload_bucket, queue.config.max_message_size) == (
        "team-tasks", "other-payloads", 2048)
    assert queue.payloads is not None


def test_every_injected_client_is_used_as_given():
    clients = {name: object() for name in ("sqs", "dynamodb", "s3", "scheduler", "cloudwatch")}

    queue = TaskQueue(queue_url=URL, **{f"{name}_client": client for name, client in clients.items()})

    assert {name: getattr(queue, name) for name in clients} == clients


def test_clients_it_creates_come_from_the_given_session_with_the_endpoint_and_the_sdk_s_client_config():
    import boto3

    made: list[str] = []
    session = boto3.session.Session(region_name="us-west-2")
    real_client = session.client
    session.client = lambda service, **kwargs: made.append(service) or real_client(service, **kwargs)  # type: ignore[method-assign]
    queue = TaskQueue(queue_url=URL, endpoint_url="http://localhost:4566", session=session)

    sqs, dynamodb = queue.sqs, queue.dynamodb

    assert made == ["sqs", "dynamodb"]
    assert (sqs.meta.endpoint_url, sqs.meta.region_name) == ("http://localhost:4566", "eu-west-1")
    assert sqs.meta.config.user_agent.startswith("sqstask/")
    # The task table's client skips client-side validation (clients.py): a wrongly typed key gets through to
    # the (here short-circuited) call instead of a ParamValidationError.
    answered = type("Answered", (), {"status_code": 200, "headers": {}})()
    dynamodb.meta.events.register("before-call.dynamodb.GetItem", lambda **_: (answered, {}))
    assert dynamodb.get_item(TableName="team-tasks", Key={"task_id": {"S": 5}}) == {}


def test_send_many_backs_off_from_a_tenth_of_a_second_to_at_most_5_seconds_by_default(make_team, monkeypatch):
    import sqstask.queue

    monkeypatch.setattr(sqstask.queue.random, "uniform", lambda low, high: high)
    base = make_team()
    sleeps: list[float] = []
    flaky = FlakySQS(base.sqs, {"t-a-0": [("InternalError", False)] * 8})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=sleeps.append)

    assert queue.send_many(specs("a", 1), max_attempts=9).ok
    assert sleeps == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0])


def test_send_many_fills_a_call_up_to_exactly_the_size_limit(make_team):
    from sqstask.task import message_size

    limit = 4096
    queue = make_team(max_message_size=limit)
    probe = queue.build_message(TaskSpec("x", "", "g0", "t-0").validated())
    half = "y" * (limit // 2 - message_size(probe["MessageBody"], probe["MessageAttributes"]))
    calls = record_calls(queue.sqs, "SendMessageBatch")

    result = queue.send_many([TaskSpec("x", half, f"g{i}", f"t-{i}") for i in range(5)])

    assert result.ok
    assert [len(c["Entries"]) for c in calls] == [2, 2, 1]  # two halves fill a call exactly


def test_a_large_task_whose_send_is_retried_is_offloaded_to_s3_once(make_team, aws):
    base = make_team(max_message_size=2048)
    flaky = FlakySQS(base.sqs, {"big-1": [("InternalError", False)] * 2})
    queue = TaskQueue(config=base.config, sqs_client=flaky, s3_client=base.s3, sleep=lambda s: None)

    assert queue.send_many([TaskSpec("x", "y" * 4096, "g", "big-1")]).ok

    objects = aws.client("s3").list_objects_v2(Bucket=base.config.payload_bucket).get("Contents", [])
    assert len(flaky.calls) == 3 and len(objects) == 1
    assert queue.to_task(drain(queue, 1)[0]).payload == "y" * 4096


def test_send_many_tries_an_entry_5_times_by_default(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [("InternalError", False)] * 9})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)

    result = queue.send_many(specs("g", 1))

    assert [reason for _, reason in result.failed] == ["InternalError: injected InternalError (gave up after 5 attempts)"]
    assert len(flaky.calls) == 5


def test_send_many_with_a_single_attempt_does_not_retry_and_refuses_fewer(make_team):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [("InternalError", False)]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)

    result = queue.send_many(specs("g", 1), max_attempts=1)

    assert [reason for _, reason in result.failed] == ["InternalError: injected InternalError (gave up after 1 attempts)"]
    with pytest.raises(ValueError, match="^max_attempts must be at least 1$"):
        queue.send_many(specs("h", 1), max_attempts=0)
    assert len(flaky.calls) == 1


@pytest.mark.parametrize(("failure", "why"), [
    (("ThrottlingException", True), "a throttling code is retried even when marked the sender's fault"),
    (("SomethingOdd", False), "an unlisted code that is not the sender's fault is retried"),
])
def test_an_entry_is_retried_when_its_code_or_fault_says_so(make_team, failure, why):
    base = make_team()
    flaky = FlakySQS(base.sqs, {"t-g-0": [failure]})
    queue = TaskQueue(config=base.config, sqs_client=flaky, sleep=lambda s: None)

    assert queue.send_many(specs("g", 1)).ok, why
    assert flaky.calls == [["t-g-0"], ["t-g-0"]]


def test_a_failure_without_a_sender_fault_flag_is_retried(make_team):
    base = make_team()
    uneven = UnevenSQS(base.sqs, {"t-g-0": ["unattributed"]})
    queue = TaskQueue(config=base.config, sqs_client=uneven, sleep=lambda s: None)

    assert queue.send_many(specs("g", 1)).ok
    assert uneven.calls == [["t-g-0"], ["t-g-0"]]


def test_calls_of_offloaded_tasks_stay_within_the_size_limit_counting_their_attributes(make_team):
    from sqstask.task import message_size

    limit = 1024
    queue = make_team(max_message_size=limit)
    calls = record_calls(queue.sqs, "SendMessageBatch")

    assert queue.send_many([TaskSpec("x", "y" * 2000, f"g{i}", f"t-{i}") for i in range(6)]).ok

    sizes = [sum(message_size(e["MessageBody"], e["MessageAttributes"]) for e in c["Entries"]) for c in calls]
    assert len(calls) > 1 and max(sizes) <= limit, sizes


def test_an_s3_failure_does_not_hold_back_the_other_groups_of_the_same_call(make_team, aws):
    queue = make_team(max_message_size=2048, s3_client=FailingS3(aws.client("s3"), b"lost-big"))
    calls = record_calls(queue.sqs, "SendMessageBatch")

    result = queue.send_many([TaskSpec("x", 0, "a", "a-0"), TaskSpec("x", "y" * 4096, "g", "lost-big"),
                              TaskSpec("x", 0, "h", "h-0")])

    assert [spec.task_id for spec, _ in result.failed] == ["lost-big"]
    assert [[e["MessageAttributes"]["sqstask-task-id"]["StringValue"] for e in c["Entries"]] for c in calls] == [
        ["a-0", "h-0"]]
