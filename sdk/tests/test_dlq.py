"""DeadLetterQueue: non-consuming peek, show, selective and move-task redrive, purge."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.stub import Stubber

from sqstask import TaskQueue, TaskSpec
from sqstask.config import QueueConfig
from sqstask.exceptions import ConfigError
from sqstask.dlq import DeadLetterError, DeadLetterQueue, RateLimiter, RedriveFilter, move_task_unsupported
from sqstask.idempotency import TaskStore

SERVER = pytest.mark.parametrize("aws", ["server"], indirect=True)


# -- helpers ---------------------------------------------------------------------------------


def bury(queue: TaskQueue, *specs: TaskSpec) -> None:
    """Put tasks in the team's DLQ exactly as the producer sent them (body, attributes, group)."""
    for spec in specs:
        entry = queue.build_message(spec.validated())
        queue.sqs.send_message(QueueUrl=queue.config.dlq_url, **entry)


def record_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """The API parameters of every ``operation`` call the client makes (a botocore event hook)."""
    calls: list[dict[str, Any]] = []
    client.meta.events.register(f"provide-client-params.sqs.{operation}", lambda params, **_: calls.append(dict(params)))
    return calls


def counts(queue: TaskQueue, url: str) -> tuple[int, int]:
    """(visible, in flight) of a queue."""
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def drain(queue: TaskQueue, url: str, *, timeout: float = 20.0) -> list[dict[str, Any]]:
    """Receive and delete everything in a queue (deleting unblocks later messages of a FIFO group)."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"{url} was not drained within {timeout} s ({len(received)} read)"
        messages = queue.receive(max_messages=10, wait_seconds=0, queue_url=url)
        if not messages:
            return received
        received.extend(messages)
        assert queue.delete_many(messages, queue_url=url) == []


def tasks(prefix: str, count: int, group: str, task_type: str = "charge") -> list[TaskSpec]:
    return [TaskSpec(task_type, {"n": i}, group, f"{prefix}{i}") for i in range(count)]


def silent_dlq(queue: TaskQueue, **kwargs: Any) -> DeadLetterQueue:
    lines: list[str] = []
    dlq = DeadLetterQueue(queue, progress=lines.append, wait_seconds=0, **kwargs)
    dlq.lines = lines  # type: ignore[attr-defined]
    return dlq


class FakeClock:
    """A clock that moves only when something sleeps."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- peek / list -----------------------------------------------------------------------------


def test_peek_returns_every_message_and_leaves_all_of_them_visible(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 2, "beta"))

    letters = silent_dlq(queue).peek()

    assert sorted(letter.task_id for letter in letters) == ["a0", "a1", "a2", "b0", "b1"]
    assert counts(queue, queue.config.dlq_url) == (5, 0)


def test_peek_decodes_type_group_payload_and_age(make_team):
    queue = make_team()
    bury(queue, TaskSpec("resize", {"image": "cat.png"}, "user-7", "t-1"))

    (letter,) = silent_dlq(queue).peek()

    assert (letter.task_id, letter.task_type, letter.group_id, letter.payload) == ("t-1", "resize", "user-7", {"image": "cat.png"})
    assert letter.envelope is not None and letter.envelope["v"] == 1
    assert letter.age_seconds(time.time()) is not None


def test_peek_respects_the_limit(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 4, "alpha"), *tasks("b", 4, "beta"))

    letters = silent_dlq(queue).peek(limit=3)

    assert len(letters) == 3
    assert counts(queue, queue.config.dlq_url) == (8, 0)



def test_peek_with_a_limit_receives_no_more_messages_than_the_limit(make_team):
    queue = make_team()
    bury(queue, *(TaskSpec("charge", {}, f"g{i}", f"t{i}") for i in range(15)))
    dlq = silent_dlq(queue)

    assert len(dlq.peek(limit=12)) == 12

    # Every receive counts: the first peek touched exactly 12 messages, the second all 15.
    assert sorted(letter.receive_count for letter in dlq.peek()) == [1] * 3 + [2] * 12

def test_peek_shows_the_recorded_failure_from_the_task_table(make_team):
    queue = make_team()
    queue.send("charge", {"amount": 5}, group_id="acct-1", task_id="pay-1")
    (message,) = queue.receive(max_messages=1, wait_seconds=0)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    store.fail(store.claim(queue.to_task(message), lease_seconds=60), ValueError("card declined"))
    bury(queue, TaskSpec("charge", {"amount": 5}, "acct-1", "pay-1"))

    (letter,) = silent_dlq(queue).peek()

    assert letter.error == "ValueError: card declined"
    assert letter.record is not None and letter.record["status"] == "FAILED"


def test_a_letter_without_a_task_record_shows_the_error_the_sdk_attached_to_the_copy(make_team):
    queue = make_team()
    entry = queue.build_message(TaskSpec("charge", {"amount": 5}, "acct-1", "pay-2").validated())
    entry["MessageAttributes"]["sqstask-error"] = {"DataType": "String", "StringValue": "RuntimeError: poison"}
    queue.sqs.send_message(QueueUrl=queue.config.dlq_url, **entry)
    bury(queue, TaskSpec("charge", {"amount": 6}, "acct-2", "pay-3"))  # no error attached, no record

    letters = {letter.task_id: letter for letter in silent_dlq(queue).peek(limit=2)}

    assert letters["pay-2"].record is None and letters["pay-2"].error == "RuntimeError: poison"
    assert letters["pay-3"].error is None



def table_reads(queue: TaskQueue) -> list[str]:
    """The task ids of every GetItem call the queue's DynamoDB client makes."""
    reads: list[str] = []
    queue.dynamodb.meta.events.register(
        "provide-client-params.dynamodb.GetItem", lambda params, **_: reads.append(params["Key"]["task_id"]["S"])
    )
    return reads


def test_a_task_record_is_read_once_and_kept_for_later_lookups(make_team):
    queue = make_team()
    queue.send("charge", {"amount": 5}, group_id="acct-1", task_id="pay-1")
    (message,) = queue.receive(max_messages=1, wait_seconds=0)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    store.fail(store.claim(queue.to_task(message), lease_seconds=60), ValueError("card declined"))
    bury(queue, TaskSpec("charge", {"amount": 5}, "acct-1", "pay-1"))
    reads = table_reads(queue)
    dlq = silent_dlq(queue)

    (listed,) = dlq.peek()
    found = dlq.find("pay-1")

    assert listed.error == "ValueError: card declined"
    assert listed.record is not None and listed.record["first_received_at"]  # the task table's time wins over SQS's
    assert listed.first_received_at == datetime.fromisoformat(listed.record["first_received_at"].replace("Z", "+00:00"))
    assert found is not None and found.error == "ValueError: card declined"
    assert reads == ["pay-1"]


def test_find_reads_the_task_table_only_for_the_letter_it_returns(make_team):
    queue = make_team()
    bury(queue, *(TaskSpec("charge", {}, f"g{i}", f"t{i}") for i in range(4)))
    reads = table_reads(queue)

    found = silent_dlq(queue).find("t3")

    assert found is not None and found.task_id == "t3"
    assert reads == ["t3"]


def test_a_task_table_that_cannot_be_read_is_noted_once_and_the_listing_still_works(make_team):
    team = make_team()
    bury(team, *tasks("a", 3, "alpha"))
    queue = TaskQueue(config=team.config.with_overrides(idempotency_table="gone-tasks"), sqs_client=team.sqs,
                      dynamodb_client=team.dynamodb)
    reads = table_reads(queue)
    dlq = silent_dlq(queue)

    letters = dlq.peek()

    assert sorted(letter.task_id for letter in letters) == ["a0", "a1", "a2"]
    assert all(letter.record is None and letter.error is None for letter in letters)
    assert dlq.warnings == ["task table gone-tasks could not be read (ResourceNotFoundException); errors are not shown"]
    assert len(reads) == 1
    assert dlq.record("a0") is None and len(reads) == 1


def test_a_filter_on_the_recorded_error_fails_when_the_task_table_cannot_be_read(make_team):
    from botocore.exceptions import ClientError

    team = make_team()
    bury(team, *tasks("a", 2, "alpha"))
    queue = TaskQueue(config=team.config.with_overrides(idempotency_table="gone-tasks"), sqs_client=team.sqs,
                      dynamodb_client=team.dynamodb)

    with pytest.raises(ClientError, match="ResourceNotFoundException"):
        silent_dlq(queue).redrive(RedriveFilter.build(error_contains="declined"))

    assert counts(team, team.config.dlq_url) == (2, 0)


def test_a_task_table_failure_that_is_not_an_aws_error_is_raised(make_team):
    class BrokenDynamoDB:
        def get_item(self, **_: Any) -> Any:
            raise RuntimeError("bug")

    team = make_team()
    bury(team, *tasks("a", 1, "alpha"))
    queue = TaskQueue(config=team.config, sqs_client=team.sqs, dynamodb_client=BrokenDynamoDB())

    with pytest.raises(RuntimeError, match="bug"):
        silent_dlq(queue).peek()
    assert counts(team, team.config.dlq_url) == (1, 0)


def test_without_a_task_table_letters_have_no_record_and_nothing_is_noted(make_team):
    queue = make_team(table=False)
    bury(queue, *tasks("a", 2, "alpha"))
    dlq = silent_dlq(queue)

    letters = dlq.peek()

    assert [letter.record for letter in letters] == [None, None]
    assert dlq.warnings == []

def test_peek_keeps_a_malformed_message_with_its_reason(make_team):
    queue = make_team()
    queue.sqs.send_message(
        QueueUrl=queue.config.dlq_url,
        MessageBody=json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}}),
        MessageGroupId="g",
        MessageDeduplicationId="bad-1",
    )

    (letter,) = silent_dlq(queue).peek()

    assert letter.task_id == "bad-1"
    assert "unsupported envelope version 99" in (letter.problem or "")


def test_find_resolves_an_s3_pointer_to_the_full_payload(make_team):
    queue = make_team(max_message_size=1024)
    big = {"blob": "x" * 4000}
    bury(queue, TaskSpec("import", big, "g", "big-1"))

    letter = silent_dlq(queue).find("big-1")

    assert letter is not None and letter.offloaded
    assert letter.payload == big
    assert counts(queue, queue.config.dlq_url) == (1, 0)


def test_find_by_message_id(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))
    message_id = silent_dlq(queue).peek()[1].message_id

    letter = silent_dlq(queue).find(message_id)

    assert letter is not None and letter.message_id == message_id


def test_find_returns_none_for_an_unknown_task(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))

    assert silent_dlq(queue).find("nope") is None
    assert counts(queue, queue.config.dlq_url) == (2, 0)


def test_dlq_url_is_discovered_from_the_redrive_policy_when_not_configured(make_team):
    team = make_team()
    config = QueueConfig(queue_url=team.config.queue_url, region=team.config.region, endpoint_url=team.config.endpoint_url)
    queue = TaskQueue(config=config, sqs_client=team.sqs)

    assert DeadLetterQueue(queue).url == team.config.dlq_url


def test_a_discovered_dlq_is_looked_up_by_name_in_the_account_of_its_arn_once(make_team):
    team = make_team()
    config = QueueConfig(queue_url=team.config.queue_url, region=team.config.region, endpoint_url=team.config.endpoint_url)
    queue = TaskQueue(config=config, sqs_client=team.sqs)
    calls: list[tuple[str, dict[str, Any]]] = []
    team.sqs.meta.events.register("provide-client-params.sqs.*", lambda params, model, **_: calls.append((model.name, dict(params))))
    dlq = DeadLetterQueue(queue)

    assert (dlq.url, dlq.arn, dlq.url) == (team.config.dlq_url, team.config.dlq_arn, team.config.dlq_url)
    assert [name for name, _ in calls] == ["GetQueueAttributes", "GetQueueUrl"]
    account = team.config.dlq_arn.split(":")[4]
    assert calls[1][1] == {"QueueName": "team-dlq.fifo", "QueueOwnerAWSAccountId": account}



def test_a_redrive_policy_naming_the_dlq_without_a_full_arn_is_looked_up_by_name_alone():
    client = boto3.client("sqs", region_name="us-east-1")
    queue = TaskQueue(config=QueueConfig(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/team.fifo"),
                      sqs_client=client)
    stub = Stubber(client)
    stub.add_response("get_queue_attributes",
                      {"Attributes": {"RedrivePolicy": json.dumps({"deadLetterTargetArn": "team-dlq.fifo"})}},
                      {"QueueUrl": queue.config.queue_url, "AttributeNames": ["RedrivePolicy"]})
    stub.add_response("get_queue_url", {"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/team-dlq.fifo"},
                      {"QueueName": "team-dlq.fifo"})

    with stub:
        assert DeadLetterQueue(queue).url == "https://sqs.us-east-1.amazonaws.com/123456789012/team-dlq.fifo"
    stub.assert_no_pending_responses()

def test_a_queue_without_a_dlq_or_redrive_policy_is_a_config_error_naming_the_setting(aws):
    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="lonely.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue = TaskQueue(config=QueueConfig(queue_url=url, region="us-east-1"), sqs_client=sqs)

    with pytest.raises(ConfigError, match=r"lonely\.fifo has no dead-letter queue: set dlq_url \(SQSTASK_DLQ_URL, "
                                          r"or the module's sdk_config\) or attach a redrive policy$"):
        DeadLetterQueue(queue).url


# -- selective redrive -----------------------------------------------------------------------


def test_redrive_moves_everything_back_with_group_ids_and_task_ids(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 12, "beta"))

    releases = record_calls(queue.sqs, "ChangeMessageVisibilityBatch")

    report = silent_dlq(queue).redrive(method="receive")

    assert (report.moved, report.failed, report.dry_run, report.depth_before) == (15, [], False, 15)
    assert releases == []  # every moved message was deleted, so nothing is left to hand back
    moved = drain(queue, queue.config.queue_url)
    assert sorted((queue.to_task(m).task_id, m["Attributes"]["MessageGroupId"]) for m in moved) == sorted(
        [(f"a{i}", "alpha") for i in range(3)] + [(f"b{i}", "beta") for i in range(12)]
    )
    assert counts(queue, queue.config.dlq_url) == (0, 0)


def test_redriven_message_gets_a_fresh_deduplication_id(make_team):
    queue = make_team()
    bury(queue, TaskSpec("charge", {}, "g", "pay-9"))

    silent_dlq(queue).redrive(method="receive")

    (message,) = drain(queue, queue.config.queue_url)
    dedup = message["Attributes"]["MessageDeduplicationId"]
    assert dedup != "pay-9" and dedup.startswith("pay-9:redrive:")
    assert queue.to_task(message).task_id == "pay-9"


def test_redrive_keeps_the_body_and_attributes_of_an_offloaded_payload(make_team):
    queue = make_team(max_message_size=1024)
    big = {"blob": "y" * 3000}
    bury(queue, TaskSpec("import", big, "g", "big-2"))

    silent_dlq(queue).redrive(method="receive")

    (message,) = drain(queue, queue.config.queue_url)
    assert message["Body"].startswith('["software.amazon.payloadoffloading.PayloadS3Pointer"')
    assert "ExtendedPayloadSize" in message["MessageAttributes"]
    assert queue.to_task(message).payload == big


def test_filtered_redrive_moves_only_matching_messages_and_releases_the_rest(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha", "charge"), *tasks("b", 3, "beta", "refund"), *tasks("c", 2, "gamma", "charge"))

    report = silent_dlq(queue).redrive(RedriveFilter.build(task_types=["charge"], group_ids=["alpha", "gamma"]))

    assert report.method == "receive" and report.moved == 5
    assert counts(queue, queue.config.dlq_url) == (3, 0)
    moved = drain(queue, queue.config.queue_url)
    assert sorted(queue.to_task(m).task_id for m in moved) == ["a0", "a1", "a2", "c0", "c1"]
    left = drain(queue, queue.config.dlq_url)
    assert sorted(queue.to_task(m).task_id for m in left) == ["b0", "b1", "b2"]


def test_redrive_by_task_id(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 4, "alpha"), *tasks("b", 2, "beta"))

    report = silent_dlq(queue).redrive(RedriveFilter.build(task_ids=["b1"]))

    assert report.moved == 1
    assert [queue.to_task(m).task_id for m in drain(queue, queue.config.queue_url)] == ["b1"]


def test_redrive_by_error_text_uses_the_task_table(make_team):
    queue = make_team()
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    for task_id, error in (("p1", TimeoutError("upstream timed out")), ("p2", ValueError("card declined"))):
        queue.send("charge", {"id": task_id}, group_id=task_id, task_id=task_id)
        (message,) = queue.receive(max_messages=1, wait_seconds=0)
        store.fail(store.claim(queue.to_task(message), lease_seconds=60), error)
        queue.delete_many([message])
        bury(queue, TaskSpec("charge", {"id": task_id}, task_id, task_id))

    report = silent_dlq(queue).redrive(RedriveFilter.build(error_contains="TIMED OUT"))

    assert report.moved == 1
    assert [queue.to_task(m).task_id for m in drain(queue, queue.config.queue_url)] == ["p1"]


def test_redrive_older_than_skips_recent_messages(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))

    report = silent_dlq(queue).redrive(RedriveFilter.build(older_than=3600))

    assert (report.scanned, report.moved) == (2, 0)
    assert counts(queue, queue.config.dlq_url) == (2, 0)


def test_dry_run_moves_nothing_and_lists_what_would_move(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 2, "beta"))

    reads = table_reads(queue)
    dlq = silent_dlq(queue)

    report = dlq.redrive(RedriveFilter.build(group_ids=["beta"]), dry_run=True)

    assert sorted(letter.task_id for letter in report.would_move) == ["b0", "b1"]
    assert (report.moved, report.dry_run, report.depth_before) == (0, True, 5)
    assert dlq.lines[-1] == "redrive (dry run): would move 2 (scanned 5 of ~5)"  # type: ignore[attr-defined]
    assert reads == []  # only an error filter needs the task table
    assert counts(queue, queue.config.dlq_url) == (5, 0)
    assert counts(queue, queue.config.queue_url) == (0, 0)



def test_a_dry_run_of_everything_looks_at_every_batch(make_team):
    queue = make_team()
    bury(queue, *(TaskSpec("charge", {}, f"g{i}", f"t{i}") for i in range(12)))

    report = silent_dlq(queue).redrive(dry_run=True)

    assert (report.scanned, len(report.would_move), report.unreached, report.behind) == (12, 12, 0, 0)


def test_a_dry_run_of_everything_counts_the_messages_a_fifo_group_hides_as_behind(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 12, "alpha"))  # SQS hides a group's later messages while earlier ones are held

    report = silent_dlq(queue).redrive(dry_run=True)

    assert (report.scanned, report.unreached, report.behind) == (10, 0, 2)


def test_a_filtered_dry_run_counts_the_messages_it_could_not_reach(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 12, "alpha"), *tasks("b", 2, "beta"))

    report = silent_dlq(queue).redrive(RedriveFilter.build(group_ids=["beta"]), dry_run=True)

    assert (report.scanned, report.matched, report.unreached, report.behind) == (12, 2, 2, 0)


def test_max_of_one_moves_one_message(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))

    assert silent_dlq(queue).redrive(max_messages=1).moved == 1
    assert counts(queue, queue.config.dlq_url) == (1, 0)


def test_max_spanning_batches_stops_scanning_once_reached(make_team):
    queue = make_team()
    bury(queue, *(TaskSpec("charge", {}, f"g{i}", f"t{i}") for i in range(25)))

    report = silent_dlq(queue).redrive(max_messages=12)

    assert (report.scanned, report.matched, report.moved, report.unreached) == (20, 12, 12, 0)
    assert counts(queue, queue.config.dlq_url) == (13, 0)

def test_max_stops_after_n_messages(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 7, "alpha"))

    report = silent_dlq(queue).redrive(max_messages=4)

    assert report.moved == 4
    assert counts(queue, queue.config.dlq_url) == (3, 0)
    assert counts(queue, queue.config.queue_url)[0] == 4


def test_a_message_whose_send_fails_stays_in_the_dlq(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"))
    real_send_batch = queue.sqs.send_message_batch

    def send_batch_rejecting_a1(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        keep = [e for e in Entries if "a1:redrive:" not in e["MessageDeduplicationId"]]
        rejected = [e for e in Entries if e not in keep]
        response = real_send_batch(QueueUrl=QueueUrl, Entries=keep)
        response.setdefault("Failed", []).extend(
            {"Id": e["Id"], "Code": "KMS.DisabledException", "Message": "key disabled", "SenderFault": True} for e in rejected
        )
        return response

    queue.sqs.send_message_batch = send_batch_rejecting_a1
    try:
        report = silent_dlq(queue).redrive(method="receive")
    finally:
        del queue.sqs.send_message_batch

    assert report.moved == 2
    assert report.failed == [("a1", "KMS.DisabledException: key disabled")]
    assert [queue.to_task(m).task_id for m in drain(queue, queue.config.dlq_url)] == ["a1"]



def test_a_copy_sent_but_not_deleted_from_the_dlq_is_reported_and_left_visible_there(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 1, "beta"))
    real_delete_many = queue.delete_many

    def delete_many_refusing_a1(messages: Any, **kwargs: Any) -> list[str]:
        refused = [m for m in messages if queue.to_task(m).task_id == "a1"]
        failed = real_delete_many([m for m in messages if m not in refused], **kwargs)
        return failed + [m["MessageId"] for m in refused]

    queue.delete_many = delete_many_refusing_a1  # type: ignore[method-assign]
    try:
        report = silent_dlq(queue).redrive(method="receive")
    finally:
        del queue.delete_many

    assert (report.moved, report.not_deleted, report.failed) == (4, ["a1"], [])
    assert counts(queue, queue.config.dlq_url) == (1, 0)  # released by the hold: visible again at once
    assert sorted(queue.to_task(m).task_id for m in drain(queue, queue.config.queue_url)) == ["a0", "a1", "a2", "b0"]


def test_a_failure_sqs_reports_without_a_message_is_listed_by_its_code(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 1, "alpha"))

    def send_batch_refusing(QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        return {"Failed": [{"Id": e["Id"], "Code": "KMS.DisabledException", "Message": "", "SenderFault": True}
                           for e in Entries]}

    queue.sqs.send_message_batch = send_batch_refusing
    try:
        report = silent_dlq(queue).redrive(method="receive")
    finally:
        del queue.sqs.send_message_batch

    assert (report.moved, report.failed) == (0, [("a0", "KMS.DisabledException")])


def test_a_selective_redrive_returns_each_letter_to_the_queue_of_its_own_tier(make_team):
    team = make_team()
    urgent = team.sqs.create_queue(QueueName="team-urgent.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    config = replace(team.config, priorities=("urgent", "default"), default_priority="default",
                     priority_queue_urls={"urgent": urgent, "default": team.config.queue_url})
    queue = TaskQueue(config=config, sqs_client=team.sqs, dynamodb_client=team.dynamodb, s3_client=team.s3)
    bury(queue, TaskSpec("page", {}, "g1", "u1", priority="urgent"), TaskSpec("mail", {}, "g2", "d1"))

    report = silent_dlq(queue).redrive(method="receive")

    assert report.moved == 2
    assert [queue.to_task(m).task_id for m in drain(queue, urgent)] == ["u1"]
    assert [queue.to_task(m).task_id for m in drain(queue, team.config.queue_url)] == ["d1"]

def test_redrive_reports_progress_lines(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 12, "alpha"))
    dlq = silent_dlq(queue)

    dlq.redrive(method="receive")

    assert dlq.lines[-1] == "redrive: moved 12 of 12 matched (scanned 12 of ~12, failed 0)"  # type: ignore[attr-defined]


def test_rate_limit_spaces_batches_by_the_messages_they_carry(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 6, "alpha"), *tasks("b", 6, "beta"))
    clock = FakeClock()
    dlq = silent_dlq(queue, clock=clock, sleep=clock.sleep)

    report = dlq.redrive(rate=5, method="receive")

    assert report.moved == 12
    # batches of 5, 5, 2 at 5 messages/s: wait 1 s, 1 s, then 0.4 s before the final empty receive
    assert clock.sleeps == pytest.approx([1.0, 1.0, 0.4])


def test_rate_limiter_waits_for_the_charge_of_the_previous_batch():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)

    limiter.wait()
    limiter.charge(10)
    limiter.wait()

    assert clock.sleeps == [5.0]


def test_rate_limiter_does_not_sleep_when_the_next_slot_has_just_come():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)

    limiter.charge(2)
    clock.sleep(1.0)  # exactly the charge's 1 s
    limiter.wait()

    assert clock.sleeps == [1.0]


def test_rate_limiter_refuses_a_rate_that_is_not_positive():
    with pytest.raises(ValueError, match="^rate must be positive, got 0$"):
        RateLimiter(0, clock=FakeClock(), sleep=FakeClock().sleep)
    assert RateLimiter(None, clock=FakeClock(), sleep=FakeClock().sleep).rate is None


def test_rate_limiter_adds_up_charges_made_without_waiting():
    clock = FakeClock()
    limiter = RateLimiter(2, clock=clock, sleep=clock.sleep)

    limiter.charge(4)
    limiter.charge(6)
    limiter.wait()

    assert clock.sleeps == [5.0]


def test_rate_limiter_works_with_a_clock_that_starts_at_zero():
    clock = FakeClock()
    clock.now = 0.0
    limiter = RateLimiter(1, clock=clock, sleep=clock.sleep)

    limiter.charge(1)
    limiter.wait()

    assert clock.sleeps == [1.0]


def test_a_redrive_that_fails_midway_releases_the_messages_it_held(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 3, "beta"))

    def broken_send_batch(**kwargs: Any) -> Any:
        raise RuntimeError("disk on fire")

    queue.sqs.send_message_batch = broken_send_batch
    try:
        with pytest.raises(RuntimeError):
            silent_dlq(queue).redrive(RedriveFilter.build(group_ids=["beta"]))
    finally:
        del queue.sqs.send_message_batch

    assert counts(queue, queue.config.dlq_url) == (6, 0)


def test_held_messages_are_extended_once_less_than_half_their_hold_is_left(make_team):
    from sqstask.dlq import _Hold

    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))
    clock = FakeClock()
    start = clock.now
    dlq = silent_dlq(queue, clock=clock, sleep=clock.sleep)
    calls: list[tuple[float, int, int, list[str]]] = []
    real = queue.change_visibility_many

    def spy(messages: Any, timeout: int, **kwargs: Any) -> list[str]:
        messages = list(messages)
        failed = real(messages, timeout, **kwargs)
        calls.append((clock.now - start, len(messages), timeout, failed))
        return failed

    queue.change_visibility_many = spy  # type: ignore[method-assign]
    hold = _Hold(dlq, seconds=40, wait_seconds=0)
    assert hold.receive(10) is not None
    for seconds in (0, 20, 5, 1):  # at 20 s half is left: not yet; at 25 s extended to 65 s; at 26 s nothing due
        clock.sleep(seconds)
        hold.extend_due()
    hold.release_all()

    assert calls == [(25.0, 2, 40, []), (26.0, 2, 0, [])]


@pytest.mark.parametrize("hold_seconds", [40, 1])
def test_each_receive_of_a_hold_hides_the_messages_for_the_hold_s_seconds_and_polls_as_long_as_the_dlq_says(
        make_team, hold_seconds):
    queue = make_team(visibility_timeout=30)  # the queue's own default would hide them 30 s
    bury(queue, *tasks("a", 2, "alpha"))
    asked: list[tuple[Any, Any]] = []

    def check(params: dict[str, Any], **_: Any) -> None:  # at the call: a wrong long poll would wait 20 s first
        asked.append((params.get("VisibilityTimeout"), params.get("WaitTimeSeconds")))
        assert asked[-1] == (hold_seconds, 0), f"a DLQ receive asked for {asked[-1]}, not ({hold_seconds}, 0)"

    queue.sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", check)

    letters = silent_dlq(queue).peek(hold_seconds=hold_seconds)  # wait_seconds=0

    assert len(letters) == 2 and len(asked) >= 2  # the last receive finds nothing more


def test_a_message_received_again_with_a_new_handle_is_held_under_it_and_not_returned_twice(make_team):
    from sqstask.dlq import _Hold

    queue = make_team()
    first = {"MessageId": "m1", "ReceiptHandle": "h1", "Body": "{}"}
    again = {**first, "ReceiptHandle": "h2"}  # its visibility lapsed and SQS handed it out anew
    answers = [[first], [again]]
    queue.receive = lambda **kwargs: answers.pop(0)  # type: ignore[method-assign]
    hold = _Hold(silent_dlq(queue), seconds=30, wait_seconds=0)

    assert hold.receive(10) == [first]
    assert hold.receive(10) is None  # nothing new
    assert [message["ReceiptHandle"] for message, _ in hold.held.values()] == ["h2"]


def test_a_message_without_a_receive_count_decodes_with_a_count_of_0(make_team):
    queue = make_team()
    message = {"MessageId": "m1", "ReceiptHandle": "h1", "Body": "{}", "Attributes": {"MessageGroupId": "g"}}

    letter = silent_dlq(queue).decode(message, with_record=False)

    assert (letter.receive_count, letter.group_id) == (0, "g")


def test_a_hold_that_cannot_be_released_leaves_the_messages_to_reappear_on_their_own(make_team):
    from botocore.exceptions import ClientError

    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))

    def refuse(messages: Any, timeout: int, **kwargs: Any) -> list[str]:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "ChangeMessageVisibilityBatch")

    queue.change_visibility_many = refuse  # type: ignore[method-assign]
    letters = silent_dlq(queue).peek(hold_seconds=30)

    assert sorted(letter.task_id for letter in letters) == ["a0", "a1"]
    assert counts(queue, queue.config.dlq_url) == (0, 2)  # still held: back when the 30 s lapse


def test_a_release_that_fails_with_a_bug_is_raised(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 1, "alpha"))

    def broken(messages: Any, timeout: int, **kwargs: Any) -> list[str]:
        raise RuntimeError("bug")

    queue.change_visibility_many = broken  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="bug"):
        silent_dlq(queue).peek()


def test_real_dead_lettered_tasks_are_redriven_and_delivered_again(make_team):
    queue = make_team(max_receive_count=1)
    queue.send_many(tasks("t", 3, "g1") + tasks("u", 2, "g2"), raise_on_failure=True)
    deadline = time.monotonic() + 20
    while counts(queue, queue.config.dlq_url)[0] < 5:
        assert time.monotonic() < deadline, "tasks did not reach the DLQ after exceeding maxReceiveCount"
        queue.receive(max_messages=10, wait_seconds=0, visibility_timeout=0)

    report = silent_dlq(queue).redrive()

    assert report.moved == 5
    again = drain(queue, queue.config.queue_url)
    assert sorted(queue.to_task(m).task_id for m in again) == ["t0", "t1", "t2", "u0", "u1"]


# -- fast path: StartMessageMoveTask ---------------------------------------------------------


def test_auto_falls_back_when_the_endpoint_lacks_the_move_task_api(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"))

    dlq = silent_dlq(queue)

    report = dlq.redrive()

    assert report.method == "receive" and report.moved == 3
    assert report.fallback_reason == "StartMessageMoveTask is not available on this endpoint (NotImplementedError)"
    assert dlq.lines[0] == f"redrive: {report.fallback_reason}; moving messages one batch at a time"  # type: ignore[attr-defined]


@SERVER
def test_fallback_also_detects_a_missing_move_task_api_over_http(make_team, aws):
    no_retry = boto3.client("sqs", region_name=aws.region, endpoint_url=aws.endpoint_url, config=Config(retries={"max_attempts": 1}))
    queue = make_team(sqs_client=no_retry)
    bury(queue, *tasks("a", 2, "alpha"))

    report = silent_dlq(queue).redrive()

    assert report.method == "receive" and report.moved == 2
    assert report.fallback_reason is not None


def test_forcing_the_move_task_where_it_is_missing_is_an_error(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 1, "alpha"))

    with pytest.raises(NotImplementedError):
        silent_dlq(queue).redrive(method="move-task")


def test_move_task_cannot_be_combined_with_a_filter(make_team):
    queue = make_team()

    with pytest.raises(DeadLetterError, match="cannot filter"):
        silent_dlq(queue).redrive(RedriveFilter.build(group_ids=["g"]), method="move-task")


DLQ_ARN = "arn:aws:sqs:us-east-1:123456789012:team-dlq.fifo"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:team.fifo"


def stubbed_queue() -> tuple[TaskQueue, Stubber]:
    client = boto3.client("sqs", region_name="us-east-1")
    config = QueueConfig(
        queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/team.fifo",
        dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/team-dlq.fifo",
        queue_arn=QUEUE_ARN,
        dlq_arn=DLQ_ARN,
    )
    return TaskQueue(config=config, sqs_client=client), Stubber(client)


def depth_response(visible: int) -> dict[str, Any]:
    return {
        "Attributes": {
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "0",
        }
    }


def test_unfiltered_redrive_uses_the_move_task_and_follows_its_progress():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(40))
    stub.add_response(
        "start_message_move_task",
        {"TaskHandle": "handle-1"},
        {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 20},
    )
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"Status": "RUNNING", "ApproximateNumberOfMessagesMoved": 15, "ApproximateNumberOfMessagesToMove": 40}]},
        {"SourceArn": DLQ_ARN, "MaxResults": 1},
    )
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 40, "ApproximateNumberOfMessagesToMove": 40}]},
        {"SourceArn": DLQ_ARN, "MaxResults": 1},
    )
    clock = FakeClock()
    dlq = silent_dlq(queue, clock=clock, sleep=clock.sleep)

    with stub:
        report = dlq.redrive(rate=20)

    stub.assert_no_pending_responses()
    assert (report.method, report.moved, report.ok, report.move_task_handle) == ("move-task", 40, True, "handle-1")
    assert dlq.lines == ["redrive: running: moved 15 of ~40", "redrive: completed: moved 40 of ~40"]  # type: ignore[attr-defined]


def test_a_failed_move_task_is_reported_as_a_failure():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(3))
    stub.add_response("start_message_move_task", {"TaskHandle": "h"})
    stub.add_response(
        "list_message_move_tasks",
        {"Results": [{"Status": "FAILED", "ApproximateNumberOfMessagesMoved": 1, "FailureReason": "AccessDenied"}]},
    )
    clock = FakeClock()

    with stub:
        report = silent_dlq(queue, clock=clock, sleep=clock.sleep).redrive()

    assert not report.ok
    assert report.failed == [("*", "message move task failed: AccessDenied")]


def test_access_denied_on_the_move_task_is_not_mistaken_for_a_missing_api():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(3))
    stub.add_client_error("start_message_move_task", service_error_code="AccessDenied", http_status_code=403)

    with stub, pytest.raises(Exception) as caught:
        silent_dlq(queue).redrive()

    assert not move_task_unsupported(caught.value)



def test_with_only_urls_configured_the_move_task_runs_between_the_arns_sqs_reports():
    client = boto3.client("sqs", region_name="us-east-1")
    config = QueueConfig(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/team.fifo",
                         dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/team-dlq.fifo")
    queue, stub = TaskQueue(config=config, sqs_client=client), Stubber(client)
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": DLQ_ARN}},
                      {"QueueUrl": config.dlq_url, "AttributeNames": ["QueueArn"]})
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": QUEUE_ARN}},
                      {"QueueUrl": config.queue_url, "AttributeNames": ["QueueArn"]})
    stub.add_response("get_queue_attributes", depth_response(3))
    stub.add_response("start_message_move_task", {"TaskHandle": "h-1"},
                      {"SourceArn": DLQ_ARN, "DestinationArn": QUEUE_ARN, "MaxNumberOfMessagesPerSecond": 1})
    stub.add_response("list_message_move_tasks", {"Results": [{"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 3}]},
                      {"SourceArn": DLQ_ARN, "MaxResults": 1})
    clock = FakeClock()

    with stub:
        report = silent_dlq(queue, clock=clock, sleep=clock.sleep).redrive(rate=1)

    stub.assert_no_pending_responses()
    assert (report.method, report.moved, report.depth_before, report.ok) == ("move-task", 3, 3, True)


def test_on_a_tiered_queue_the_move_task_returns_each_message_to_its_own_tier_at_most_500_per_second():
    untiered, stub = stubbed_queue()
    urls = {"urgent": untiered.config.queue_url.replace("team.fifo", "team-urgent.fifo"), "default": untiered.config.queue_url}
    config = replace(untiered.config, priorities=("urgent", "default"), default_priority="default", priority_queue_urls=urls)
    queue = TaskQueue(config=config, sqs_client=untiered.sqs)
    stub.add_response("get_queue_attributes", depth_response(2))
    stub.add_response("start_message_move_task", {"TaskHandle": "h-2"},
                      {"SourceArn": DLQ_ARN, "MaxNumberOfMessagesPerSecond": 500})
    stub.add_response("list_message_move_tasks", {"Results": [{"Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 2}]})
    clock = FakeClock()

    with stub:
        report = silent_dlq(queue, clock=clock, sleep=clock.sleep).redrive(rate=5000)

    stub.assert_no_pending_responses()
    assert (report.moved, report.ok) == (2, True)


def test_a_move_task_cancelled_without_counts_or_reason_is_reported_as_cancelled():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(4))
    stub.add_response("start_message_move_task", {"TaskHandle": "h-3"})
    stub.add_response("list_message_move_tasks", {"Results": [{}]})  # nothing known yet
    stub.add_response("list_message_move_tasks", {"Results": [{"Status": "CANCELLED"}]})
    clock = FakeClock()
    dlq = silent_dlq(queue, clock=clock, sleep=clock.sleep)

    with stub:
        report = dlq.redrive()

    assert (report.moved, report.failed) == (0, [("*", "message move task cancelled: cancelled")])
    assert dlq.lines == ["redrive: ?: moved 0", "redrive: cancelled: moved 0"]  # type: ignore[attr-defined]


def test_a_move_task_that_sqs_no_longer_lists_is_an_error_naming_the_dlq():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(4))
    stub.add_response("start_message_move_task", {"TaskHandle": "h-4"})
    stub.add_response("list_message_move_tasks", {"Results": []})
    clock = FakeClock()

    with stub, pytest.raises(DeadLetterError, match=r"^the message move task from team-dlq\.fifo is no longer listed by SQS$"):
        silent_dlq(queue, clock=clock, sleep=clock.sleep).redrive()


def test_interrupting_the_watch_leaves_the_move_task_running_and_says_how_to_cancel_it():
    queue, stub = stubbed_queue()
    stub.add_response("get_queue_attributes", depth_response(4))
    stub.add_response("start_message_move_task", {"TaskHandle": "h-5"})

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    dlq = silent_dlq(queue, sleep=interrupted)
    with stub, pytest.raises(KeyboardInterrupt):
        dlq.redrive()

    assert dlq.lines == [  # type: ignore[attr-defined]
        "redrive: stopped watching; the move task keeps running in SQS (cancel it with CancelMessageMoveTask, handle h-5)"
    ]

# -- purge -----------------------------------------------------------------------------------


def test_purge_empties_the_dlq_and_returns_the_count(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 4, "alpha"))

    assert silent_dlq(queue).purge() == 4
    assert counts(queue, queue.config.dlq_url) == (0, 0)


# -- small parts -----------------------------------------------------------------------------


def client_error(code: str, status: int) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},
                       "StartMessageMoveTask")


def test_move_task_is_unsupported_on_an_unknown_operation_or_a_501_and_not_on_other_errors():
    from botocore.exceptions import ClientError

    from sqstask.dlq import MOVE_TASK_UNSUPPORTED_CODES

    assert all(move_task_unsupported(client_error(code, 400)) for code in MOVE_TASK_UNSUPPORTED_CODES)
    assert move_task_unsupported(client_error("InternalFailure", 501))
    assert move_task_unsupported(NotImplementedError("moto"))
    assert not move_task_unsupported(client_error("AccessDenied", 403))
    assert not move_task_unsupported(client_error("InternalFailure", 500))
    assert not move_task_unsupported(RuntimeError("no response"))
    # an error response without HTTP metadata is judged by its code alone
    assert move_task_unsupported(ClientError({"Error": {"Code": "InvalidAction"}}, "StartMessageMoveTask"))
    assert not move_task_unsupported(ClientError({"Error": {"Code": "AccessDenied"}}, "StartMessageMoveTask"))


def letter(**fields: Any) -> Any:
    from sqstask.dlq import DeadLetter

    defaults: dict[str, Any] = {"message_id": "m", "task_id": "t", "task_type": None, "group_id": None,
                                "receive_count": 1, "sent_at": None, "first_received_at": None, "body": "{}"}
    return DeadLetter(**{**defaults, **fields})


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"started_at": "2026-01-02T03:04:05Z"}, "2026-01-02T03:04:05+00:00"),
        ({"started_at": "2026-01-02T03:04:05z"}, "2026-01-02T03:04:05+00:00"),
        ({"started_at": "2026-01-02T03:04:05"}, "2026-01-02T03:04:05+00:00"),  # naive: UTC
        ({"started_at": "2026-01-02T03:04:05+02:00"}, "2026-01-02T03:04:05+02:00"),
        ({"started_at": "", "finished_at": "2026-01-02T03:04:06Z"}, "2026-01-02T03:04:06+00:00"),
        ({"started_at": "not a time", "finished_at": 17}, None),
        ({}, None),
    ],
)
def test_the_last_attempt_is_read_from_the_record_as_an_aware_time(record, expected):
    found = letter(record=record).last_attempt_at

    assert (found.isoformat() if found else None) == expected


def test_age_is_counted_from_the_sent_time_and_never_negative():
    from datetime import datetime, timezone

    sent = datetime(2026, 1, 1, tzinfo=timezone.utc)

    assert letter(sent_at=sent).age_seconds(sent.timestamp() + 90) == 90.0
    assert letter(sent_at=sent).age_seconds(sent.timestamp() - 5) == 0.0
    assert letter().age_seconds(sent.timestamp()) is None
    assert letter(sent_at=sent).summary(sent.timestamp())["age_seconds"] == 0


def test_show_details_carry_the_row_of_list_and_everything_about_the_message():
    from datetime import datetime, timezone

    sent = datetime(2026, 1, 1, tzinfo=timezone.utc)
    first = datetime(2026, 1, 1, 0, 0, 5, tzinfo=timezone.utc)
    record = {"status": "FAILED", "error_type": "ValueError", "error": "declined", "started_at": "2026-01-01T00:01:00Z"}
    found = letter(task_id="pay-1", task_type="charge", group_id="acct", receive_count=3, sent_at=sent,
                   first_received_at=first, payload={"n": 1}, envelope={"v": 1, "id": "pay-1"}, record=record,
                   attributes={"ApproximateReceiveCount": "3"}, priority="urgent",
                   message_attributes={"sqstask-task-id": {"DataType": "String", "StringValue": "pay-1"},
                                       "raw": {"DataType": "Binary", "BinaryValue": b"\x01"}, "odd": "not a map"})

    row = {"task_id": "pay-1", "task_type": "charge", "group_id": "acct", "first_receive": first,
           "last_attempt": datetime(2026, 1, 1, 0, 1, tzinfo=timezone.utc), "receive_count": 3,
           "error": "ValueError: declined", "age_seconds": 90, "message_id": "m", "priority": "urgent"}
    assert found.summary(sent.timestamp() + 90.9) == row
    assert found.details(sent.timestamp() + 90.9) == {
        **row, "sent_at": sent, "offloaded_to_s3": False, "envelope": {"v": 1, "id": "pay-1"}, "payload": {"n": 1},
        "body": None, "problem": None, "attributes": {"ApproximateReceiveCount": "3"},
        "message_attributes": {"sqstask-task-id": "pay-1", "raw": b"\x01"}, "record": record,
    }


def test_the_details_of_a_letter_read_without_an_envelope_show_its_payload_not_its_body():
    details = letter(body='{"plain": true}', payload={"plain": True}).details(0.0)

    assert (details["body"], details["payload"], details["envelope"]) == (None, {"plain": True}, None)


def test_a_malformed_letter_shows_its_body_and_problem_and_a_row_without_priority_or_age():
    found = letter(body="not json", problem="body is not JSON")

    assert found.summary(0.0) == {"task_id": "t", "task_type": None, "group_id": None, "first_receive": None,
                                  "last_attempt": None, "receive_count": 1, "error": "body is not JSON",
                                  "age_seconds": None, "message_id": "m"}
    details = found.details(0.0)
    assert (details["body"], details["problem"], details["envelope"], details["record"]) == (
        "not json", "body is not JSON", None, None)


def test_a_redrive_report_as_json_lists_what_failed_and_what_would_move():
    from datetime import datetime, timezone

    from sqstask.dlq import RedriveReport

    old = letter(sent_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    report = RedriveReport("receive", dry_run=True, scanned=5, matched=2, moved=1, failed=[("t1", "boom")],
                           not_deleted=["t2"], would_move=[old], depth_before=7, unreached=1, behind=2,
                           fallback_reason="no move task", move_task_handle="h")
    now = old.sent_at.timestamp() + 30  # type: ignore[union-attr]

    assert report.to_dict(now) == {
        "method": "receive", "dry_run": True, "scanned": 5, "matched": 2, "moved": 1,
        "failed": [{"task_id": "t1", "reason": "boom"}], "sent_but_not_deleted": ["t2"],
        "would_move": [{**old.summary(now), "age_seconds": 30}], "depth_before": 7, "unreached": 1, "behind": 2,
        "fallback_reason": "no move task", "move_task_handle": "h",
    }
    assert not report.ok and RedriveReport("receive").ok


@pytest.mark.parametrize(("criterion", "field"), [("task_types", "task_type"), ("group_ids", "group_id"),
                                                  ("task_ids", "task_id"), ("priorities", "priority")])
def test_a_filter_on_one_field_matches_only_letters_with_one_of_the_given_values(criterion, field):
    flt = RedriveFilter.build(**{criterion: ["x", "y"]})

    assert not flt.empty
    assert flt.matches(letter(**{field: "y"}), 0.0)
    assert not flt.matches(letter(**{field: "z"}), 0.0)
    assert RedriveFilter.build(**{criterion: []}).matches(letter(**{field: "z"}), 0.0)


def tiered_dlq(tiers: list[str]) -> DeadLetterQueue:
    """A DeadLetterQueue of a queue whose module declared ``tiers`` (its default tier is "default")."""
    queue, _ = stubbed_queue()
    urls = {tier: queue.config.queue_url.replace("team.fifo", f"team-{tier}.fifo") for tier in tiers}
    urls["default"] = queue.config.queue_url
    return DeadLetterQueue(queue=TaskQueue(config=replace(queue.config, priorities=tuple(tiers), default_priority="default",
                                                          priority_queue_urls=urls), sqs_client=queue.sqs))


def dead(source_arn: str | None = None, priority: str | None = None) -> dict[str, Any]:
    """A received DLQ message with the source queue SQS names and the tier attribute set at send time."""
    message: dict[str, Any] = {"MessageId": "m", "Body": "{}", "Attributes": {}, "MessageAttributes": {}}
    if source_arn:
        message["Attributes"]["DeadLetterQueueSourceArn"] = source_arn
    if priority:
        message["MessageAttributes"]["sqstask-priority"] = {"DataType": "String", "StringValue": priority}
    return message


@pytest.mark.parametrize(
    ("source", "attribute", "tier"),
    [
        ("arn:aws:sqs:us-east-1:123456789012:team-urgent.fifo", "bulk", "urgent"),  # SQS's word wins
        (None, "bulk", "bulk"),
        ("arn:aws:sqs:us-east-1:123456789012:elsewhere.fifo", "bulk", "bulk"),
        (None, "no-such-tier", "default"),
        (None, None, "default"),
    ],
)
def test_a_dead_letter_s_tier_is_the_source_queue_sqs_names_else_the_sent_tier_else_the_default(source, attribute, tier):
    dlq = tiered_dlq(["urgent", "default", "bulk"])

    assert dlq.tier_of(dead(source, attribute)) == tier


def test_a_dead_letter_of_a_queue_without_tiers_has_no_tier():
    queue, _ = stubbed_queue()

    assert DeadLetterQueue(queue).tier_of(dead("arn:aws:sqs:us-east-1:123456789012:team.fifo", "default")) is None


def test_a_redriven_copy_keeps_only_well_formed_attributes_and_gains_the_task_id():
    queue, _ = stubbed_queue()
    found = letter(task_id="dedup-7", group_id="g", body="raw body", message_attributes={
        "odd": "not a map", "untyped": {"StringValue": "v"},
        "blob": {"DataType": "Binary", "BinaryValue": b"\x01", "StringListValues": []},
        "note": {"DataType": "String", "StringValue": "kept", "BinaryValue": None},
    })

    entry = DeadLetterQueue(queue).redrive_entry(found)

    assert entry["MessageBody"] == "raw body" and entry["MessageGroupId"] == "g"
    assert entry["MessageAttributes"] == {
        "blob": {"DataType": "Binary", "BinaryValue": b"\x01"},
        "note": {"DataType": "String", "StringValue": "kept"},
        "sqstask-task-id": {"DataType": "String", "StringValue": "dedup-7"},
    }
    prefix, _, nonce = entry["MessageDeduplicationId"].rpartition(":")
    assert prefix == "dedup-7:redrive" and len(nonce) == 32


def test_a_redriven_copy_gains_the_task_id_attribute_only_while_sqs_s_10_attributes_allow():
    queue, _ = stubbed_queue()
    dlq = DeadLetterQueue(queue)

    def attributes(count: int) -> dict[str, Any]:
        return {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(count)}

    assert len(dlq.redrive_entry(letter(message_attributes=attributes(9)))["MessageAttributes"]) == 10
    assert dlq.redrive_entry(letter(message_attributes=attributes(10)))["MessageAttributes"] == attributes(10)


@pytest.mark.parametrize(("length", "hashed"), [(87, False), (88, True)])
def test_a_redrive_deduplication_id_hashes_a_task_id_too_long_for_sqs_s_128_characters(length, hashed):
    import hashlib

    queue, _ = stubbed_queue()
    task_id = "t" * length

    dedup = DeadLetterQueue(queue).redrive_entry(letter(task_id=task_id))["MessageDeduplicationId"]

    base = hashlib.sha256(task_id.encode("utf-8")).hexdigest() if hashed else task_id
    assert dedup.startswith(base + ":redrive:") and len(dedup) == len(base) + len(":redrive:") + 32 <= 128


def test_a_redriven_copy_for_a_standard_queue_has_no_group_or_deduplication_id():
    config = QueueConfig(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/team",
                         dlq_url="https://sqs.us-east-1.amazonaws.com/123456789012/team-dlq")
    queue = TaskQueue(config=config, sqs_client=object())

    entry = DeadLetterQueue(queue).redrive_entry(letter(group_id="g"))

    assert set(entry) == {"MessageBody", "MessageAttributes"}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"method": "fast"}, ValueError, "method must be auto, move-task or receive, got 'fast'"),
        ({"max_messages": 0}, ValueError, "max_messages must be at least 1, got 0"),
        ({"rate": 0}, ValueError, "rate must be above 0 messages per second, got 0"),
        ({"dry_run": True, "method": "move-task"}, DeadLetterError,
         "the SQS message move task moves everything: it cannot filter, limit or dry-run"),
        ({"max_messages": 5, "method": "move-task"}, DeadLetterError,
         "the SQS message move task moves everything: it cannot filter, limit or dry-run"),
        ({"rate": 0.5, "method": "move-task"}, DeadLetterError,
         "the SQS message move task moves at least 1 message per second; for --rate 0.5 use --method receive"),
    ],
)
def test_a_redrive_that_cannot_be_carried_out_as_asked_is_refused_before_touching_sqs(kwargs, error, message):
    queue, stub = stubbed_queue()

    with stub, pytest.raises(error) as caught:
        silent_dlq(queue).redrive(**kwargs)

    assert str(caught.value) == message


def test_a_redrive_slower_than_one_message_per_second_takes_the_selective_path(make_team):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))
    clock = FakeClock()

    report = silent_dlq(queue, clock=clock, sleep=clock.sleep).redrive(rate=0.5)

    assert (report.method, report.moved, report.fallback_reason) == ("receive", 2, None)
    assert clock.sleeps == [2.0, 2.0]  # one message per batch: 2 s before the second and before the final receive


def test_older_than_matches_a_letter_exactly_that_old_and_never_one_without_a_sent_time():
    from datetime import datetime, timezone

    sent = datetime(2026, 1, 1, tzinfo=timezone.utc)
    flt = RedriveFilter.build(older_than=60)

    assert flt.matches(letter(sent_at=sent), sent.timestamp() + 60)
    assert not flt.matches(letter(sent_at=sent), sent.timestamp() + 59.5)
    assert not flt.matches(letter(), sent.timestamp() + 60)


@pytest.mark.parametrize(("fields", "matched"), [
    ({"problem": "body is not JSON"}, True),
    ({"record": {"error_type": "ValueError", "error": "payload is NOT JSON"}}, True),
    ({"record": {"error_type": "ValueError", "error": "this is"}, "problem": "not JSON"}, False),  # not across the two
    ({}, False),
])
def test_an_error_filter_looks_in_the_recorded_error_and_in_the_problem_each_ignoring_case(fields, matched):
    assert RedriveFilter.build(error_contains="IS NOT json").matches(letter(**fields), 0.0) is matched


def test_decode_reads_an_envelope_and_every_attribute_sqs_gives():
    from datetime import datetime, timezone

    queue, _ = stubbed_queue()
    body = json.dumps({"v": 1, "id": "t-9", "type": "resize", "payload": {"w": 3}, "created_at": "2026-01-01T00:00:00.000Z"})
    message = {"MessageId": "m-9", "ReceiptHandle": "h", "Body": body,
               "Attributes": {"SentTimestamp": "1767225600123", "ApproximateFirstReceiveTimestamp": "1767225601000",
                              "ApproximateReceiveCount": "3", "MessageGroupId": "img-1"},
               "MessageAttributes": {"sqstask-task-id": {"DataType": "String", "StringValue": "t-9"}}}

    found = DeadLetterQueue(queue).decode(message)

    assert (found.message_id, found.task_id, found.task_type, found.group_id, found.receive_count) == (
        "m-9", "t-9", "resize", "img-1", 3)
    assert found.payload == {"w": 3} and found.envelope == json.loads(body) and found.problem is None
    assert found.sent_at == datetime(2026, 1, 1, 0, 0, 0, 123000, tzinfo=timezone.utc)
    assert found.first_received_at == datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc)
    assert (found.attributes, found.message_attributes, found.message) == (
        message["Attributes"], message["MessageAttributes"], message)
    assert found.record is None and found.priority is None


@pytest.mark.parametrize(("attributes", "message_attributes", "task_id", "task_type"), [
    ({"MessageDeduplicationId": "dedup-1"}, {"sqstask-task-id": {"DataType": "String", "StringValue": "attr-1"},
                                             "sqstask-task-type": {"DataType": "String", "StringValue": "charge"}},
     "attr-1", "charge"),
    ({"MessageDeduplicationId": "dedup-1"}, {}, "dedup-1", None),
    ({}, {}, "m-1", None),
])
def test_an_undecodable_letter_takes_its_task_id_from_the_attribute_else_the_deduplication_id_else_the_message_id(
        attributes, message_attributes, task_id, task_type):
    queue, _ = stubbed_queue()
    body = json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}})
    message = {"MessageId": "m-1", "Body": body, "Attributes": {**attributes, "ApproximateReceiveCount": "many"},
               "MessageAttributes": message_attributes}

    found = DeadLetterQueue(queue).decode(message)

    assert (found.task_id, found.task_type, found.payload, found.envelope) == (task_id, task_type, None, None)
    assert "unsupported envelope version 99" in (found.problem or "")
    assert found.body == body and found.receive_count == 0


def test_a_letter_whose_body_is_not_text_reads_as_an_empty_body():
    queue, _ = stubbed_queue()

    found = DeadLetterQueue(queue).decode({"MessageId": "m-2", "Body": None})

    assert (found.body, found.payload, found.task_id, found.sent_at, found.group_id) == ("", "", "m-2", None, None)


def test_a_dlq_given_by_url_is_used_with_the_arn_sqs_reports_for_it():
    queue, stub = stubbed_queue()
    other = "https://sqs.us-east-1.amazonaws.com/123456789012/other-dlq.fifo"
    stub.add_response("get_queue_attributes", {"Attributes": {"QueueArn": "arn:aws:sqs:us-east-1:123456789012:other-dlq.fifo"}},
                      {"QueueUrl": other, "AttributeNames": ["QueueArn"]})
    dlq = DeadLetterQueue(queue, dlq_url=other)

    with stub:
        assert (dlq.url, dlq.name, dlq.arn) == (other, "other-dlq.fifo", "arn:aws:sqs:us-east-1:123456789012:other-dlq.fifo")
    stub.assert_no_pending_responses()


class GetDeniedS3:
    """A real S3 client whose GetObject fails with ``error``."""

    def __init__(self, client: Any, error: Exception) -> None:
        self.client, self.error = client, error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)

    def get_object(self, **_: Any) -> Any:
        raise self.error


@pytest.mark.parametrize("how", ["gone", "denied"])
def test_a_letter_whose_payload_cannot_be_read_from_s3_is_kept_with_the_reason(make_team, how):
    from botocore.exceptions import ClientError

    team = make_team(max_message_size=1024)
    bury(team, TaskSpec("import", {"blob": "x" * 4000}, "g", "big-4"))
    s3: Any = team.s3
    if how == "gone":
        for item in team.s3.list_objects_v2(Bucket=team.config.payload_bucket)["Contents"]:
            team.s3.delete_object(Bucket=team.config.payload_bucket, Key=item["Key"])
    else:
        s3 = GetDeniedS3(team.s3, ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject"))
    queue = TaskQueue(config=team.config, sqs_client=team.sqs, s3_client=s3)

    (found,) = silent_dlq(queue).peek()

    assert (found.task_id, found.payload) == ("big-4", None)
    expected = "payload object s3://" if how == "gone" else "payload could not be read from S3 (AccessDenied: "
    assert (found.problem or "").startswith(expected), found.problem


def test_a_payload_read_that_fails_with_a_bug_is_raised(make_team):
    team = make_team(max_message_size=1024)
    bury(team, TaskSpec("import", {"blob": "x" * 4000}, "g", "big-5"))
    queue = TaskQueue(config=team.config, sqs_client=team.sqs, s3_client=GetDeniedS3(team.s3, RuntimeError("bug")))

    with pytest.raises(RuntimeError, match="bug"):
        silent_dlq(queue).peek()


def test_a_queue_without_a_payload_bucket_still_reads_payloads_offloaded_by_another_producer(make_team):
    team = make_team(max_message_size=1024)
    bury(team, TaskSpec("import", {"blob": "x" * 4000}, "g", "big-3"))
    queue = TaskQueue(config=replace(team.config, payload_bucket=None), sqs_client=team.sqs, s3_client=team.s3)

    found = silent_dlq(queue).find("big-3")

    assert found is not None and found.offloaded and found.payload == {"blob": "x" * 4000}


def test_depth_counts_visible_in_flight_and_delayed_messages():
    queue, stub = stubbed_queue()
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
    stub.add_response("get_queue_attributes", {"Attributes": dict(zip(names, ["3", "4", "5"]))},
                      {"QueueUrl": queue.config.dlq_url, "AttributeNames": names})
    stub.add_response("get_queue_attributes", {}, {"QueueUrl": queue.config.dlq_url, "AttributeNames": names})

    with stub:
        depth, empty = DeadLetterQueue(queue).depth(), DeadLetterQueue(queue).depth()

    assert (depth.visible, depth.in_flight, depth.delayed, depth.total) == (3, 4, 5, 12)
    assert (empty.visible, empty.in_flight, empty.delayed) == (0, 0, 0)


@pytest.mark.parametrize(("record", "attached", "error"), [
    ({"error_type": "ValueError", "error": "declined"}, None, "ValueError: declined"),
    ({"error_type": "ValueError"}, "RuntimeError: poison", "ValueError"),
    ({"error": "declined"}, None, "declined"),
    ({"status": "FAILED"}, "RuntimeError: poison", "RuntimeError: poison"),
    (None, None, None),
])
def test_a_letter_s_error_is_the_task_table_s_else_the_one_attached_to_the_copy(record, attached, error):
    attributes = {"sqstask-error": {"DataType": "String", "StringValue": attached}} if attached else {}

    assert letter(record=record, message_attributes=attributes).error == error
