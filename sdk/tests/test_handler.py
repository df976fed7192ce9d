"""batch_handler: the Lambda SQS handler — idempotent, FIFO-aware, partial batch failures."""

from __future__ import annotations

import json
import logging
import time

import pytest

from sqstask import Then
from sqstask.exceptions import ConfigError, MalformedMessage
from sqstask.handler import batch_handler
from sqstask.lambda_local import event_from_messages
from sqstask.task import encode_envelope, task_attributes


@pytest.fixture
def queue(make_team):
    return make_team("h", max_receive_count=3)


def receive_all(queue, expected):
    """Receive ``expected`` messages (bounded number of polls)."""
    messages = []
    for _ in range(10):
        messages += queue.receive(max_messages=10, wait_seconds=0)
        if len(messages) >= expected:
            break
    assert len(messages) == expected, f"received {len(messages)} of {expected} messages"
    return messages


def event_for(queue, messages):
    return event_from_messages(messages, event_source_arn=queue.config.queue_arn, region="us-east-1")


def failed_ids(response):
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def audit_events(caplog, event=None):
    found = []
    for record in caplog.records:
        if record.name != "sqstask":
            continue
        data = json.loads(record.getMessage())
        if event is None or data["event"] == event:
            found.append(data)
    return found


class Context:
    """A Lambda context whose remaining time drops by ``step`` ms at every look."""

    def __init__(self, remaining_ms, step=0):
        self.remaining = remaining_ms
        self.step = step

    def get_remaining_time_in_millis(self):
        value = self.remaining
        self.remaining -= self.step
        return value


def test_successful_batch_reports_no_failures_and_records_completion(queue):
    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.payload["n"])
        return {"doubled": task.payload["n"] * 2}

    sent = [queue.send("double", {"n": n}, group_id="g") for n in range(3)]
    response = handle(event_for(queue, receive_all(queue, 3)), Context(60_000))

    assert response == {"batchItemFailures": []}
    assert ran == [0, 1, 2]
    from sqstask.idempotency import TaskStore

    record = TaskStore(queue.dynamodb, queue.config.idempotency_table).get(sent[2].task_id)
    assert record["status"] == "COMPLETED" and json.loads(record["result"]) == {"doubled": 4}


def test_duplicate_delivery_runs_the_function_once_and_costs_one_dynamodb_call(queue):
    ran = []
    calls = []
    queue.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))

    @batch_handler(queue)
    def handle(task):
        ran.append(task.task_id)

    queue.send("once", {"x": 1}, group_id="g", task_id="job-1")
    event = event_for(queue, receive_all(queue, 1))

    first = handle(event, Context(60_000))
    assert calls == ["UpdateItem", "UpdateItem"]  # fresh task: claim + complete
    calls.clear()
    second = handle(event, Context(60_000))  # the same record delivered again

    assert ran == ["job-1"]
    assert failed_ids(first) == [] and failed_ids(second) == []
    assert calls == ["UpdateItem"]  # duplicate: one conditional write


def test_failure_in_fifo_group_fails_the_rest_of_that_group_and_completes_other_groups(queue):
    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.task_id)
        if task.task_id == "a1":
            raise RuntimeError("a1 broke")

    for task_id, group in [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A")]:
        queue.send("step", {"id": task_id}, group_id=group, task_id=task_id)
    messages = receive_all(queue, 5)
    by_task = {json.loads(m["Body"])["id"]: m["MessageId"] for m in messages}

    response = handle(event_for(queue, messages), Context(60_000))

    assert sorted(ran) == ["a1", "b1", "b2"]
    assert failed_ids(response) == [by_task["a1"], by_task["a2"], by_task["a3"]]


def test_without_fifo_mode_later_tasks_of_a_failed_group_still_run(queue):
    ran = []

    @batch_handler(queue, fifo=False)
    def handle(task):
        ran.append(task.task_id)
        if task.task_id == "a1":
            raise RuntimeError("a1 broke")

    for task_id in ("a1", "a2"):
        queue.send("step", {}, group_id="A", task_id=task_id)
    messages = receive_all(queue, 2)

    response = handle(event_for(queue, messages), Context(60_000))

    assert ran == ["a1", "a2"]
    assert failed_ids(response) == [messages[0]["MessageId"]]


def test_malformed_record_goes_to_the_dlq_with_its_reason_and_others_run(queue, caplog):
    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.task_id)

    bad_body = json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}})
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=bad_body, MessageGroupId="bad",
                           MessageDeduplicationId="bad-1")
    queue.send("fine", {}, group_id="good", task_id="ok-1")
    messages = receive_all(queue, 2)
    bad_id = next(m["MessageId"] for m in messages if m["Body"] == bad_body)

    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, messages), Context(60_000))

    assert failed_ids(response) == []  # it can never run: moved to the DLQ at once, deleted by Lambda
    assert ran == ["ok-1"]
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert letter["Body"] == bad_body
    assert "unsupported envelope version 99" in letter["MessageAttributes"]["sqstask-error"]["StringValue"]
    [malformed] = audit_events(caplog, "malformed")
    assert malformed["message_id"] == bad_id
    assert "unsupported envelope version 99" in malformed["reason"]


def test_low_remaining_time_stops_starting_tasks_and_reports_the_rest(queue, caplog):
    ran = []

    @batch_handler(queue, min_remaining_ms=5_000)
    def handle(task):
        ran.append(task.task_id)

    for n in range(4):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")
    messages = receive_all(queue, 4)
    # 6.5 s left at the first look, then 1 s less at each: the third look sees 4.5 s < 5 s.
    context = Context(6_500, step=1_000)

    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, messages), context)

    assert len(ran) == 2
    assert failed_ids(response) == [m["MessageId"] for m in messages[2:]]
    released = audit_events(caplog, "released")
    assert released and "ms of Lambda time left" in released[0]["reason"]


def test_handler_that_raises_is_reported_and_recorded_failed(queue):
    @batch_handler(queue)
    def handle(task):
        raise ValueError("no such customer")

    sent = queue.send("t", {}, group_id="g")
    messages = receive_all(queue, 1)

    response = handle(event_for(queue, messages), Context(60_000))

    assert failed_ids(response) == [messages[0]["MessageId"]]
    from sqstask.idempotency import TaskStore

    record = TaskStore(queue.dynamodb, queue.config.idempotency_table).get(sent.task_id)
    assert record["status"] == "FAILED"
    assert record["error_type"] == "ValueError" and record["error"] == "no such customer"


def test_task_with_a_live_lease_elsewhere_is_reported_failed_without_running(queue):
    from sqstask.idempotency import TaskStore

    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.task_id)

    queue.send("t", {"a": 1}, group_id="g", task_id="busy")
    messages = receive_all(queue, 1)
    task = queue.to_task(messages[0])
    TaskStore(queue.dynamodb, queue.config.idempotency_table, owner_prefix="other:1").claim(task, lease_seconds=600)

    response = handle(event_for(queue, messages), Context(60_000))

    assert ran == []
    assert failed_ids(response) == [messages[0]["MessageId"]]


def test_redelivered_task_id_with_a_different_payload_goes_to_the_dlq_loudly(queue, caplog):
    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.payload)

    queue.send("t", {"amount": 10}, group_id="g", task_id="pay-1")
    first = receive_all(queue, 1)
    handle(event_for(queue, first), Context(60_000))
    queue.delete_many(first)
    queue.sqs.send_message(  # same task id, other payload, fresh deduplication id
        QueueUrl=queue.config.queue_url, MessageBody=encode_envelope("pay-1", "t", {"amount": 99}),
        MessageGroupId="g", MessageDeduplicationId="pay-1-again", MessageAttributes=task_attributes("pay-1", "t"),
    )
    messages = receive_all(queue, 1)

    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, messages), Context(60_000))

    assert ran == [{"amount": 10}]
    assert failed_ids(response) == []  # it can never run: moved to the DLQ, its group goes on
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert letter["MessageAttributes"]["sqstask-task-id"]["StringValue"] == "pay-1"
    assert "PayloadMismatch" in letter["MessageAttributes"]["sqstask-error"]["StringValue"]
    [error] = [e for e in audit_events(caplog, "failed") if e.get("error_type") == "PayloadMismatch"]
    assert error["task_id"] == "pay-1"
    assert any(r.levelno == logging.ERROR and "PayloadMismatch" in r.getMessage() for r in caplog.records)


def test_then_chains_a_follow_up_task_in_the_same_group_after_success(queue):
    seen = []

    @batch_handler(queue)
    def handle(task):
        seen.append(task.task_type)
        if task.task_type == "extract":
            return Then("transform", {"rows": task.payload["rows"]})
        return None

    queue.send("extract", {"rows": 7}, group_id="etl", task_id="job-9")
    first = receive_all(queue, 1)
    handle(event_for(queue, first), Context(60_000))
    queue.delete_many(first)  # as the event source mapping does after success
    follow_up = receive_all(queue, 1)

    body = json.loads(follow_up[0]["Body"])
    assert (body["type"], body["payload"]) == ("transform", {"rows": 7})
    assert follow_up[0]["Attributes"]["MessageGroupId"] == "etl"
    assert body["id"] == "job-9.then-0"  # deterministic: a re-run cannot enqueue it twice
    handle(event_for(queue, follow_up), Context(60_000))
    assert seen == ["extract", "transform"]


def test_follow_up_that_cannot_be_sent_fails_the_task(queue):
    @batch_handler(queue)
    def handle(task):
        return Then("next", {}, group_id="bad group id")  # spaces are not allowed

    queue.send("first", {}, group_id="g", task_id="chain-1")
    messages = receive_all(queue, 1)

    response = handle(event_for(queue, messages), Context(60_000))

    assert failed_ids(response) == [messages[0]["MessageId"]]
    assert queue.receive(wait_seconds=0) == []


# the batch's summary line: ERROR "batch-failed" only when no record succeeded, else "batch-done"
@pytest.mark.parametrize(("failing_groups", "event", "fields"), [
    ({"g0", "g1"}, "batch-failed", {"records": 2, "reasons": {"failed": 2}}),
    ({"g0"}, "batch-done", {"records": 2, "failed": 1}),
])
def test_a_batch_is_summed_up_as_failed_only_when_every_record_failed(queue, caplog, failing_groups, event, fields):
    @batch_handler(queue)
    def handle(task):
        if task.group_id in failing_groups:
            raise RuntimeError("database down")

    for n in range(2):
        queue.send("t", {}, group_id=f"g{n}")
    messages = receive_all(queue, 2)

    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, messages), Context(60_000))

    assert len(failed_ids(response)) == len(failing_groups)
    [summary] = audit_events(caplog, "batch-failed") + audit_events(caplog, "batch-done")
    assert summary["event"] == event and {key: summary[key] for key in fields} == fields


def test_each_state_change_is_one_json_line_with_task_identity(queue, caplog):
    @batch_handler(queue)
    def handle(task):
        return "ok"

    queue.send("report", {}, group_id="g", task_id="r-1")
    with caplog.at_level(logging.INFO, logger="sqstask"):
        handle(event_for(queue, receive_all(queue, 1)), Context(60_000))

    events = [e for e in audit_events(caplog) if e.get("task_id") == "r-1" and e["event"] != "sent"]
    assert [e["event"] for e in events] == ["received", "started", "succeeded"]
    assert all(e["task_type"] == "report" and e["group_id"] == "g" and e["attempt"] == 1 for e in events)
    assert isinstance(events[-1]["duration_ms"], int)


def test_last_failing_attempt_moves_the_task_to_the_dlq_and_logs_gave_up(queue, caplog):
    @batch_handler(queue, max_attempts=1)
    def handle(task):
        raise RuntimeError("poison")

    queue.send("t", {}, group_id="g", task_id="p-1")
    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, receive_all(queue, 1)), Context(60_000))

    assert failed_ids(response) == []  # Lambda deletes the original; the copy is in the DLQ
    [gave_up] = audit_events(caplog, "gave-up")
    assert gave_up["task_id"] == "p-1" and gave_up["attempts"] == 1 and gave_up["max_attempts"] == 1
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert letter["MessageAttributes"]["sqstask-error"]["StringValue"] == "RuntimeError: poison"


def test_without_a_task_table_the_last_failing_receive_logs_gave_up(queue, caplog):
    @batch_handler(queue, idempotency=False, max_receive_count=1)
    def handle(task):
        raise RuntimeError("poison")

    queue.send("t", {}, group_id="g", task_id="p-1")
    with caplog.at_level(logging.INFO, logger="sqstask"):
        response = handle(event_for(queue, receive_all(queue, 1)), Context(60_000))

    assert len(failed_ids(response)) == 1  # the queue's maxReceiveCount moves it
    [gave_up] = audit_events(caplog, "gave-up")
    assert gave_up["task_id"] == "p-1" and gave_up["max_receive_count"] == 1


def test_bare_decorator_reads_the_queue_from_the_environment_with_the_default_settings(queue, monkeypatch):
    monkeypatch.setenv("SQSTASK_QUEUE_URL", queue.config.queue_url)
    monkeypatch.setenv("SQSTASK_IDEMPOTENCY_TABLE", queue.config.idempotency_table)
    ran = []

    @batch_handler
    def handle(task):
        ran.append(task.task_id)
        if task.task_id == "a1":
            raise RuntimeError("a1 broke")

    for task_id, group in [("a1", "A"), ("a2", "A"), ("b1", "B")]:
        queue.send("t", {}, group_id=group, task_id=task_id)
    messages = receive_all(queue, 3)
    by_task = {m["MessageAttributes"]["sqstask-task-id"]["StringValue"]: m["MessageId"] for m in messages}
    response = handle(event_for(queue, messages), Context(60_000))

    # fifo=True, as by default: the failed task's group mate waits for a later delivery
    assert sorted(ran) == ["a1", "b1"] and failed_ids(response) == [by_task["a1"], by_task["a2"]]
    assert handle.handle.__name__ == "handle"


def test_a_callable_queue_double_is_taken_as_the_queue_not_as_the_task_function(queue):
    class CallableQueue:  # like a MagicMock(spec=TaskQueue): callable, and has send_many
        def __call__(self, *args):
            raise AssertionError("the queue was called as the task function")

        def __getattr__(self, name):
            return getattr(queue, name)

    ran = []
    handle = batch_handler(CallableQueue())(lambda task: ran.append(task.task_id))
    queue.send("t", {}, group_id="g", task_id="double-1")

    assert failed_ids(handle(event_for(queue, receive_all(queue, 1)), Context(60_000))) == []
    assert ran == ["double-1"]


def test_missing_task_table_is_a_config_error_naming_the_setting(make_team):
    queue = make_team("notable", table=False)

    @batch_handler(queue)
    def handle(task):
        return None

    with pytest.raises(ConfigError, match=r"^idempotency needs a task table: set SQSTASK_IDEMPOTENCY_TABLE \(or "
                       r"idempotency_table in SQSTASK_CONFIG\), pass table=\.\.\., or pass idempotency=False to run "
                       r"without it$"):
        handle({"Records": []}, None)


def test_event_that_is_not_an_sqs_event_raises_malformed_message(queue):
    @batch_handler(queue)
    def handle(task):
        return None

    with pytest.raises(MalformedMessage, match="Records"):
        handle({"detail-type": "Scheduled Event"}, None)


class DlqCopies(list):
    """SendMessage requests to a queue's DLQ; with ``refuse`` set they fail instead."""

    refuse = False


def dlq_copies(queue):
    """Record (or, with ``.refuse = True``, fail) the SendMessage requests to the DLQ from now on."""
    copies = DlqCopies()

    def capture(params, **_):
        if params.get("QueueUrl") == queue.config.dlq_url:
            if copies.refuse:
                raise ConnectionError("DLQ unreachable")
            copies.append(params)

    queue.sqs.meta.events.register("before-parameter-build.sqs.SendMessage", capture)
    return copies


def dead_letter(queue, task_id):
    """Run ``task_id`` to its last failing attempt; returns (handle, event, runs) to deliver it again."""
    runs = []

    @batch_handler(queue, max_attempts=1)
    def handle(task):
        runs.append(task.task_id)
        raise RuntimeError("poison")

    queue.send("t", {"n": 1}, group_id="g", task_id=task_id)
    event = event_for(queue, receive_all(queue, 1))
    assert failed_ids(handle(event, Context(60_000))) == []
    return handle, event, runs


def test_a_dead_lettered_task_delivered_again_is_copied_again_with_its_error_and_not_run(queue):
    handle, event, runs = dead_letter(queue, "p-2")
    copies = dlq_copies(queue)

    # The same delivery again, e.g. the invocation ended after the copy and before Lambda's delete.
    response = handle(event, Context(60_000))

    assert failed_ids(response) == []
    assert runs == ["p-2"]
    [copy] = copies
    attributes = {name: value["StringValue"] for name, value in copy["MessageAttributes"].items()}
    assert attributes["sqstask-error"] == "RuntimeError: poison"
    assert attributes["sqstask-attempts"] == "1"
    assert attributes["sqstask-task-id"] == "p-2"
    assert copy["MessageBody"] == event["Records"][0]["body"]


def test_a_dead_lettered_task_whose_copy_fails_on_redelivery_is_retried_not_deleted(queue):
    handle, event, runs = dead_letter(queue, "p-3")
    copies = dlq_copies(queue)
    copies.refuse = True

    response = handle(event, Context(60_000))

    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    assert runs == ["p-3"]


def test_lease_mode_sends_only_the_follow_ups_a_completed_task_could_not_send(queue, monkeypatch):
    from sqstask.idempotency import TaskStore

    runs = []

    @batch_handler(queue)
    def handle(task):
        runs.append(task.task_id)
        return Then("next", {"n": 1})

    queue.send("t", {}, group_id="g", task_id="f-1")
    messages = receive_all(queue, 1)
    event = event_for(queue, messages)
    real_send_many = queue.send_many

    def failing_send_many(*args, **kwargs):
        raise RuntimeError("SQS unavailable")

    monkeypatch.setattr(queue, "send_many", failing_send_many)
    message_id = event["Records"][0]["messageId"]
    assert failed_ids(handle(event, Context(60_000))) == [message_id]
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    recorded = store.get("f-1")
    assert recorded["status"] == "COMPLETED" and recorded.get("follow_ups_pending")
    assert failed_ids(handle(event, Context(60_000))) == [message_id]  # still unsendable: retried again
    assert store.get("f-1").get("follow_ups_pending") == recorded["follow_ups_pending"]

    monkeypatch.setattr(queue, "send_many", real_send_many)
    assert failed_ids(handle(event, Context(60_000))) == []
    assert runs == ["f-1"]
    assert "follow_ups_pending" not in store.get("f-1")
    queue.delete_many(messages)  # what Lambda does after a success; the group's next message shows
    [follow_up] = receive_all(queue, 1)
    assert queue.to_task(follow_up).task_id == "f-1.then-0" and queue.to_task(follow_up).task_type == "next"


def test_without_a_task_table_the_redrive_policy_says_which_receive_is_the_last(queue, caplog):
    @batch_handler(queue, idempotency=False)  # the fixture's queue moves a message after 3 receives
    def handle(task):
        raise RuntimeError("poison")

    queue.send("t", {}, group_id="g", task_id="p-4")
    logged = []
    with caplog.at_level(logging.INFO, logger="sqstask"):
        for _ in range(3):
            messages = receive_all(queue, 1)
            handle(event_for(queue, messages), Context(60_000))
            logged.append([event["max_receive_count"] for event in audit_events(caplog, "gave-up")])
            queue.change_visibility_many(messages, 0)

    assert logged == [[], [], [3]]


def test_without_a_redrive_policy_or_permission_to_read_it_no_receive_counts_as_the_last(aws, caplog):
    from sqstask import TaskQueue
    from sqstask.config import QueueConfig

    sqs = aws.client("sqs")
    url = sqs.create_queue(QueueName="plain.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    queue = TaskQueue(config=QueueConfig(queue_url=url, region="us-east-1"), sqs_client=sqs)

    def poison(task):
        raise RuntimeError("poison")

    def refuse(**_):
        raise RuntimeError("AccessDenied")

    queue.send("t", {}, group_id="g", task_id="p-5")
    event = event_for(queue, receive_all(queue, 1))
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "1000"
    with caplog.at_level(logging.INFO, logger="sqstask"):
        batch_handler(queue, idempotency=False)(poison)(event, Context(60_000))  # no redrive policy
        sqs.meta.events.register("before-call.sqs.GetQueueAttributes", refuse)
        batch_handler(queue, idempotency=False)(poison)(event, Context(60_000))  # a policy it cannot read

    assert audit_events(caplog, "gave-up") == []


# -- TaskRunner outcomes (what the Worker and the metrics read) -------------------------------


def run_once(queue, handle, task_id, **runner_kwargs):
    """Send ``task_id``, receive it and run it through a TaskRunner; returns (outcome, task, store)."""
    from sqstask.handler import TaskRunner
    from sqstask.idempotency import TaskStore

    queue.send("t", {"n": 1}, group_id="g", task_id=task_id)
    task = queue.to_task(receive_all(queue, 1)[0])
    runner = TaskRunner(queue, handle, **runner_kwargs)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    return runner.run(task, lease_seconds=60), task, store


def test_a_last_failing_attempt_is_recorded_dead_lettered_and_its_outcome_says_so(queue):
    copies = dlq_copies(queue)
    error = RuntimeError("poison")

    def handle(task):
        raise error

    outcome, task, store = run_once(queue, handle, "o-1", max_attempts=1)

    assert (outcome.status, outcome.task, outcome.error, outcome.reason) == ("failed", task, error, "RuntimeError: poison")
    assert outcome.dead_lettered and outcome.ok and outcome.claim is not None and outcome.claim.acquired
    assert isinstance(outcome.duration_ms, int) and outcome.attempts == 1
    record = store.get("o-1")
    assert (record["status"], record["error_type"], record["error"]) == ("DEAD_LETTERED", "RuntimeError", "poison")
    assert record["duration_ms"] == outcome.duration_ms
    [copy] = copies
    assert copy["MessageAttributes"]["sqstask-attempts"]["StringValue"] == "1"
    assert copy["MessageBody"] == task.raw["Body"]


def test_a_task_whose_lease_was_taken_over_is_not_dead_lettered_by_the_old_owner(queue):
    from sqstask.idempotency import TaskStore

    copies = dlq_copies(queue)

    def handle(task):
        # It ran past its lease; another consumer, a minute later, took the task over.
        later = TaskStore(queue.dynamodb, queue.config.idempotency_table, clock=lambda: time.time() + 120)
        assert later.claim(task, lease_seconds=60).acquired
        raise RuntimeError("poison")

    outcome, task, store = run_once(queue, handle, "o-2", max_attempts=1)

    assert (outcome.status, outcome.task, outcome.reason) == ("failed", task, "lease lost before giving up")
    assert isinstance(outcome.error, RuntimeError) and isinstance(outcome.duration_ms, int)
    assert not outcome.dead_lettered and not outcome.ok and outcome.claim is not None
    assert copies == [] and store.get("o-2")["status"] == "IN_PROGRESS"


def test_a_dead_letter_record_that_cannot_be_written_leaves_the_task_to_a_retry(queue):
    unavailable = RuntimeError("table unavailable")
    copies = dlq_copies(queue)

    def refuse(**_):
        raise unavailable

    def handle(task):
        queue.dynamodb.meta.events.register("before-call.dynamodb.UpdateItem", refuse)
        raise ValueError("poison")

    outcome, task, _ = run_once(queue, handle, "o-3", max_attempts=1)

    assert (outcome.status, outcome.task, outcome.error, outcome.reason) == (
        "failed", task, unavailable, "ValueError: poison")
    assert isinstance(outcome.duration_ms, int) and outcome.claim is not None
    assert not outcome.dead_lettered and not outcome.ok and copies == []


# -- what a run returns and leaves behind, read by the Worker, the metrics and the task table -----


class StepClock:
    """Stands in for the ``time`` module in sqstask.handler: each monotonic() reading is ``step``
    seconds after the last, so every handler run lasts exactly ``step`` seconds."""

    def __init__(self, step=1.25):
        self.step = step
        self.now = 100.0

    def monotonic(self):
        self.now += self.step
        return self.now

    @staticmethod
    def time():
        return time.time()


@pytest.fixture
def step_clock(monkeypatch):
    """Handler runs of exactly 1250 ms."""
    from sqstask import handler as handler_module

    clock = StepClock()
    monkeypatch.setattr(handler_module, "time", clock)
    return clock


def plain_task(queue, task_id, payload=None):
    """Send ``task_id`` (in its own group) as an envelope without message attributes, so a DLQ
    copy's task id and type attributes can only come from the SDK; returns it as received."""
    body = encode_envelope(task_id, "t", payload if payload is not None else {"n": 1})
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=body, MessageGroupId=f"g-{task_id}",
                           MessageDeduplicationId=task_id)
    [message] = receive_all(queue, 1)
    return queue.to_task(message)


def refuse(client, operation):
    """Make ``operation`` calls of ``client`` fail from now on with AccessDenied (not retried)."""
    from botocore.exceptions import ClientError

    def deny(**_):
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, operation)

    client.meta.events.register(f"before-call.{client.meta.service_model.endpoint_prefix}.{operation}", deny)


def copy_attributes(copy):
    return {name: value["StringValue"] for name, value in copy["MessageAttributes"].items()}


def dead_letter_deduplication_id(message_id):
    import hashlib

    return hashlib.sha256(f"dead-letter:{message_id}".encode()).hexdigest()


class ScriptedStore:
    """A task table whose claim() answers with ``claim`` (or raises it); records what the runner asks of it."""

    def __init__(self, claim, *, complete_failures=0):
        self.claim_answer = claim
        self.complete_failures = complete_failures
        self.calls = []

    def claim(self, task, *, lease_seconds):
        self.calls.append(("claim", task.task_id))
        if isinstance(self.claim_answer, Exception):
            raise self.claim_answer
        return self.claim_answer

    def complete(self, claim, *, result, duration_ms, pending):
        self.calls.append(("complete", result, duration_ms, pending))
        if self.complete_failures:
            self.complete_failures -= 1
            raise ConnectionError("task table unreachable")

    def fail(self, claim, error, *, duration_ms=None):
        self.calls.append(("fail", error, duration_ms))
        return True

    def give_up(self, claim, error, *, duration_ms=None):
        self.calls.append(("give_up", error, duration_ms))
        return True

    def follow_ups_sent(self, task_id):
        self.calls.append(("follow_ups_sent", task_id))


def refused_claim(task, **record):
    from sqstask.idempotency import Claim

    return Claim(task_id=task.task_id, acquired=False, attempt=int(record.get("attempt", 0)), record=record)


def test_a_dead_lettered_task_delivered_again_is_copied_with_the_error_its_record_holds(queue):
    from sqstask.handler import TaskRunner

    copies = dlq_copies(queue)
    records = {  # record fields -> the DLQ copy's error and attempts attributes
        "d-1": ({"error_type": "ValueError", "error": "over the limit: MAX", "attempt": 2}, "ValueError: over the limit: MAX", "2"),
        "d-2": ({"error_type": "ValueError", "attempt": 3}, "ValueError", "3"),
        "d-3": ({}, "Error", "0"),  # a record without error fields or attempt count
    }
    for task_id, (fields, error, attempts) in records.items():
        task = plain_task(queue, task_id)
        claim = refused_claim(task, status="DEAD_LETTERED", message_id=task.message_id, **fields)
        runs = []
        runner = TaskRunner(queue, runs.append, store=ScriptedStore(claim))

        outcome = runner.run(task, lease_seconds=60)

        assert runs == []
        assert (outcome.status, outcome.task, outcome.reason, outcome.claim, outcome.dead_lettered) == (
            "duplicate", task, error, claim, True)
        assert outcome.ok
        copy = copies.pop()
        assert copy_attributes(copy) == {"sqstask-task-id": task_id, "sqstask-task-type": "t",
                                         "sqstask-error": error, "sqstask-attempts": attempts}
        assert copy["MessageBody"] == task.raw["Body"]
        assert copy["MessageDeduplicationId"] == dead_letter_deduplication_id(task.message_id)


def test_a_dead_lettered_task_whose_copy_fails_again_is_handed_back_for_a_retry(queue):
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "d-4")
    claim = refused_claim(task, status="DEAD_LETTERED", message_id=task.message_id, error_type="E", attempt=1)
    refuse(queue.sqs, "SendMessage")

    outcome = TaskRunner(queue, lambda t: None, store=ScriptedStore(claim)).run(task, lease_seconds=60)

    assert (outcome.status, outcome.task, outcome.reason, outcome.claim, outcome.dead_lettered) == (
        "failed", task, "dead-lettered, but the copy to the DLQ failed", claim, False)
    assert not outcome.ok


def test_a_completed_task_delivered_again_is_a_duplicate_of_that_task(queue):
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "c-1")
    claim = refused_claim(task, status="COMPLETED", attempt=1)
    store = ScriptedStore(claim)

    outcome = TaskRunner(queue, lambda t: None, store=store).run(task, lease_seconds=60)

    assert (outcome.status, outcome.task, outcome.claim, outcome.dead_lettered, outcome.chained) == (
        "duplicate", task, claim, False, [])
    assert store.calls == [("claim", "c-1")]


def test_pending_follow_ups_of_a_completed_task_are_sent_then_forgotten(queue):
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "c-2")
    pending = [{"task_type": "next", "payload": {"n": 2}, "group_id": "g-c-2", "task_id": "c-2.then-0"}]
    claim = refused_claim(task, status="COMPLETED", attempt=1, follow_ups_pending=json.dumps(pending))
    store = ScriptedStore(claim)

    outcome = TaskRunner(queue, lambda t: None, store=store).run(task, lease_seconds=60)

    assert (outcome.status, outcome.task, outcome.claim) == ("duplicate", task, claim)
    assert [sent.task_id for sent in outcome.chained] == ["c-2.then-0"]
    assert store.calls == [("claim", "c-2"), ("follow_ups_sent", "c-2")]
    queue.delete_many([task.raw])
    [follow_up] = receive_all(queue, 1)
    assert queue.to_task(follow_up).task_id == "c-2.then-0" and follow_up["MessageId"] == outcome.chained[0].message_id


def test_pending_follow_ups_that_sqs_refuses_stay_pending_and_the_delivery_fails(queue):
    from sqstask.exceptions import SendError
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "c-3")
    pending = [{"task_type": "next", "payload": {}, "group_id": "g-c-3", "task_id": "c-3.then-0"}]
    claim = refused_claim(task, status="COMPLETED", attempt=1, follow_ups_pending=json.dumps(pending))
    store = ScriptedStore(claim)
    refuse(queue.sqs, "SendMessageBatch")

    outcome = TaskRunner(queue, lambda t: None, store=store).run(task, lease_seconds=60)

    assert (outcome.status, outcome.task, outcome.reason, outcome.claim) == (
        "failed", task, "follow-up tasks could not be sent", claim)
    assert isinstance(outcome.error, SendError) and not outcome.ok
    assert store.calls == [("claim", "c-3")]  # not forgotten: the next delivery sends them


def test_a_failed_run_that_is_not_the_last_is_recorded_failed_with_its_duration(queue, step_clock):
    error = ValueError("poison")

    def handle(task):
        raise error

    outcome, task, store = run_once(queue, handle, "f-2", max_attempts=2)

    assert (outcome.status, outcome.task, outcome.error, outcome.reason, outcome.duration_ms) == (
        "failed", task, error, "ValueError: poison", 1250)
    assert outcome.attempts == 1 and not outcome.dead_lettered and not outcome.ok
    record = store.get("f-2")
    assert (record["status"], record["error_type"], record["error"], record["duration_ms"]) == (
        "FAILED", "ValueError", "poison", 1250)


def test_a_redriven_task_whose_fresh_budget_runs_out_is_copied_with_the_runs_of_that_budget(queue, step_clock):
    from sqstask.handler import TaskRunner
    from sqstask.idempotency import Claim

    copies = dlq_copies(queue)
    task = plain_task(queue, "r-1")
    # Third claim of the task; the first two ran before it was dead-lettered and redriven.
    claim = Claim(task_id="r-1", acquired=True, owner="me", attempt=3, record={"dead_lettered_attempt": 2})
    store = ScriptedStore(claim)

    def handle(task):
        raise KeyError("gone")

    outcome = TaskRunner(queue, handle, store=store, max_attempts=1).run(task, lease_seconds=60)

    assert (outcome.status, outcome.reason, outcome.duration_ms, outcome.dead_lettered) == (
        "failed", "KeyError: 'gone'", 1250, True)
    assert [call[0] for call in store.calls] == ["claim", "give_up"] and store.calls[1][2] == 1250
    [copy] = copies
    assert copy_attributes(copy)["sqstask-attempts"] == "1"
    assert copy_attributes(copy)["sqstask-error"] == "KeyError: 'gone'"


def test_completing_a_task_is_retried_with_backoff_four_times_at_most(make_team, monkeypatch, step_clock):
    from sqstask import handler as handler_module
    from sqstask.handler import TaskRunner
    from sqstask.idempotency import Claim

    class Midpoint:
        @staticmethod
        def uniform(low, high):
            return (low + high) / 2

    monkeypatch.setattr(handler_module, "random", Midpoint)
    sleeps = []
    queue = make_team("retry", sleep=sleeps.append, retry_base=0.1, retry_cap=0.3)
    task = plain_task(queue, "k-1")
    claim = Claim(task_id="k-1", acquired=True, owner="me", attempt=1)

    recovers = ScriptedStore(claim, complete_failures=2)
    outcome = TaskRunner(queue, lambda t: {"ok": True}, store=recovers).run(task, lease_seconds=60)
    assert outcome.status == "succeeded" and outcome.ok
    assert recovers.calls[1:] == [("complete", {"ok": True}, 1250, None)] * 3
    assert sleeps == pytest.approx([0.075, 0.15])  # half the ceiling plus a draw of up to half: 0.1, 0.2

    sleeps.clear()
    never = ScriptedStore(claim, complete_failures=10)
    outcome = TaskRunner(queue, lambda t: None, store=never).run(task, lease_seconds=60)
    assert outcome.status == "succeeded"  # the work is done: it is not run again
    assert len(never.calls) == 1 + 4
    assert sleeps == pytest.approx([0.075, 0.15, 0.225])  # the third ceiling is the 0.3 s cap, not 0.4


def test_a_follow_up_id_is_the_parents_id_with_its_index_or_a_digest_when_that_is_too_long():
    import hashlib

    from sqstask.handler import child_task_id

    longest = "p" * 121  # ".then-0" makes 128 characters, the most a task id may have
    assert child_task_id(longest, 0) == longest + ".then-0"
    too_long = "q" * 122
    assert child_task_id(too_long, 3) == hashlib.sha256(too_long.encode()).hexdigest() + ".then-3"


def test_a_task_leased_elsewhere_is_in_progress_until_that_lease_ends(queue):
    from sqstask.exceptions import TaskInProgress
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "l-1")
    for lease_ends_in, retry_after in [(600, pytest.approx(600, abs=5)), (-5, 0.0), (None, None)]:
        busy = TaskInProgress("task l-1 is being run by another consumer")
        if lease_ends_in is not None:
            busy.lease_expires_at = time.time() + lease_ends_in
        runs = []

        outcome = TaskRunner(queue, runs.append, store=ScriptedStore(busy)).run(task, lease_seconds=60)

        assert runs == []
        assert (outcome.status, outcome.task, outcome.error, outcome.reason, outcome.retry_after) == (
            "in-progress", task, busy, "task l-1 is being run by another consumer", retry_after)
        assert not outcome.ok


def test_a_lease_mode_delivery_under_another_payload_is_copied_to_the_dlq_as_is(queue):
    from sqstask.exceptions import PayloadMismatch
    from sqstask.handler import TaskRunner

    copies = dlq_copies(queue)
    task = plain_task(queue, "x-3")
    mismatch = PayloadMismatch("task x-3 was delivered again with a different payload")
    runs = []

    outcome = TaskRunner(queue, runs.append, store=ScriptedStore(mismatch)).run(task, lease_seconds=60)

    assert runs == []
    assert (outcome.status, outcome.task, outcome.error, outcome.reason, outcome.dead_lettered) == (
        "failed", task, mismatch, str(mismatch), True)
    [copy] = copies
    assert copy["MessageBody"] == task.raw["Body"]
    assert copy_attributes(copy) == {"sqstask-task-id": "x-3", "sqstask-task-type": "t",
                                     "sqstask-error": f"PayloadMismatch: {mismatch}"}
    assert copy["MessageDeduplicationId"] == dead_letter_deduplication_id(task.message_id)


def test_a_task_table_that_cannot_be_reached_fails_the_delivery_without_running_it(queue):
    from sqstask.handler import TaskRunner

    task = plain_task(queue, "u-1")
    unreachable = ConnectionError("no route to the table")
    runs = []

    outcome = TaskRunner(queue, runs.append, store=ScriptedStore(unreachable)).run(task, lease_seconds=60)

    assert runs == []
    assert (outcome.status, outcome.task, outcome.error, outcome.reason) == (
        "failed", task, unreachable, "task table unavailable: ConnectionError: no route to the table")


def test_a_task_whose_attempts_ran_out_earlier_is_dead_lettered_without_running_again(queue):
    from sqstask.handler import TaskRunner
    from sqstask.idempotency import Claim

    copies = dlq_copies(queue)
    # max_attempts=2: the claim after the second run, which failed but could not finish giving up
    for task_id, attempt, record, error in [
            ("a-1", 3, {"error": "poison"}, "RuntimeError: poison"),
            ("a-2", 5, {"dead_lettered_attempt": 2}, "RuntimeError: attempts exhausted")]:  # redriven before
        task = plain_task(queue, task_id)
        claim = Claim(task_id=task_id, acquired=True, owner="me", attempt=attempt, record=record)
        store = ScriptedStore(claim)
        runs = []

        outcome = TaskRunner(queue, runs.append, store=store, max_attempts=2).run(task, lease_seconds=60)

        assert runs == []
        assert (outcome.status, outcome.task, outcome.reason, outcome.duration_ms, outcome.dead_lettered) == (
            "failed", task, error, None, True)
        [(name, recorded_error, duration)] = store.calls[1:]
        assert (name, f"{type(recorded_error).__name__}: {recorded_error}", duration) == ("give_up", error, None)
        assert outcome.error is recorded_error
        copy = copy_attributes(copies.pop())
        assert (copy["sqstask-error"], copy["sqstask-attempts"]) == (error, "2")  # the runs that failed


@pytest.mark.parametrize(("remaining_ms", "started"), [(2_250, 3), (2_249, 1), (1_000, 1), (999, 0)])
def test_a_task_starts_only_while_min_remaining_plus_the_longest_task_so_far_is_left(queue, step_clock, remaining_ms,
                                                                                     started):
    ran = []

    @batch_handler(queue, min_remaining_ms=1_000)
    def handle(task):
        ran.append(task.task_id)  # each run lasts 1250 ms on the step clock

    for n in range(3):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")
    messages = receive_all(queue, 3)

    response = handle(event_for(queue, messages), Context(remaining_ms))  # the same time left at every look

    assert len(ran) == started
    assert failed_ids(response) == [m["MessageId"] for m in messages[started:]]


def test_a_lambda_claim_lasts_the_invocations_remaining_time_plus_a_margin_else_the_visibility_timeout(queue):
    from datetime import datetime

    from sqstask.idempotency import TaskStore

    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    leases = []

    @batch_handler(queue)
    def handle(task):
        record = store.get(task.task_id)  # the lease ends lease_seconds after the claim started
        started = datetime.fromisoformat(record["started_at"].replace("Z", "+00:00")).timestamp()
        leases.append(round(record["lease_expires_at"] - started, 1))

    queue.send("t", {}, group_id="g1", task_id="lease-1")
    queue.send("t", {}, group_id="g2", task_id="lease-2")
    [first, second] = sorted(receive_all(queue, 2), key=lambda m: queue.to_task(m).task_id)
    handle(event_for(queue, [first]), Context(900_000))  # 15 minutes left: 900 + 5 s
    handle(event_for(queue, [second]), None)  # no Lambda context: the queue's visibility timeout (30 s)

    assert leases == [905.0, 30.0]


def test_a_run_returns_its_result_and_duration_and_records_them(queue, step_clock):
    outcome, task, store = run_once(queue, lambda t: {"ok": 1}, "s-2")

    assert (outcome.status, outcome.task, outcome.duration_ms, outcome.chained, outcome.result) == (
        "succeeded", task, 1250, [], {"ok": 1})
    assert outcome.claim.acquired and outcome.attempts == 1 and outcome.ok and outcome.error is None
    record = store.get("s-2")
    assert (record["status"], record["duration_ms"], json.loads(record["result"])) == ("COMPLETED", 1250, {"ok": 1})


def test_follow_ups_sqs_refuses_part_way_are_recorded_pending_without_the_ones_sent(queue, step_clock):
    from botocore.exceptions import ClientError

    from sqstask.exceptions import SendError

    calls = []

    def second_call_refused(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "SendMessageBatch")

    queue.sqs.meta.events.register("before-call.sqs.SendMessageBatch", second_call_refused)
    thens = [Then("a", {"n": 1}), Then("b", {"n": 2})]  # one group: one call each

    outcome, task, store = run_once(queue, lambda t: thens, "p-3")

    assert (outcome.status, outcome.task, outcome.reason, outcome.duration_ms, outcome.result) == (
        "failed", task, "follow-up tasks could not be sent", 1250, thens)
    assert isinstance(outcome.error, SendError) and outcome.claim.acquired
    assert [sent.task_id for sent in outcome.chained] == ["p-3.then-0"]
    record = store.get("p-3")
    assert (record["status"], record["duration_ms"]) == ("COMPLETED", 1250)
    assert json.loads(record["result"]) == {"then": ["p-3.then-0", "p-3.then-1"]}
    assert [spec["task_id"] for spec in json.loads(record["follow_ups_pending"])] == ["p-3.then-1"]


def test_follow_ups_sqs_refuses_leave_the_task_completed_with_them_pending(queue):
    refuse(queue.sqs, "SendMessageBatch")

    outcome, task, store = run_once(queue, lambda t: Then("a", {"n": 1}), "p-4")

    assert outcome.status == "failed" and outcome.chained == [] and not outcome.ok
    record = store.get("p-4")
    assert record["status"] == "COMPLETED"
    assert [spec["task_id"] for spec in json.loads(record["follow_ups_pending"])] == ["p-4.then-0"]


def test_an_invalid_follow_up_fails_the_run_and_is_recorded_failed(queue, step_clock):
    from sqstask.exceptions import InvalidTaskError

    outcome, task, store = run_once(queue, lambda t: Then("next", {}, group_id="bad group id"), "i-2")

    assert (outcome.status, outcome.task, outcome.duration_ms) == ("failed", task, 1250)
    assert isinstance(outcome.error, InvalidTaskError) and outcome.reason.startswith("InvalidTaskError: ")
    record = store.get("i-2")
    assert (record["status"], record["error_type"], record["duration_ms"]) == ("FAILED", "InvalidTaskError", 1250)
    assert queue.receive(wait_seconds=0) == []


def test_the_claim_is_handed_over_before_the_handler_runs_and_its_lease_renewed_only_while_it_runs(queue):
    from sqstask.handler import TaskRunner

    events = []

    class Leases:
        def add(self, claim):
            events.append(("add", claim.task_id))

        def remove(self, claim):
            events.append(("remove", claim.task_id))

    def handle(task):
        events.append(("run", task.task_id))
        raise RuntimeError("fails")

    queue.send("t", {}, group_id="g", task_id="o-4")
    task = queue.to_task(receive_all(queue, 1)[0])
    claims = []
    outcome = TaskRunner(queue, handle).run(task, lease_seconds=60, on_claim=claims.append, leases=Leases())

    assert [claim.task_id for claim in claims] == ["o-4"] and outcome.claim is claims[0]
    assert events == [("add", "o-4"), ("run", "o-4"), ("remove", "o-4")]


def test_a_handler_returns_follow_ups_as_one_then_or_a_list_or_tuple_of_them_and_nothing_else():
    from sqstask.handler import follow_ups
    from sqstask.task import Task, TaskSpec

    task = Task(task_id="job", task_type="t", payload={}, group_id="g", receive_count=1, message_id="m", sent_at=None)

    assert follow_ups(task, Then("a", {"n": 1})) == [TaskSpec("a", {"n": 1}, "g", "job.then-0")]
    assert follow_ups(task, (Then("a", {}), Then("b", {}, group_id="other", task_id="mine"))) == [
        TaskSpec("a", {}, "g", "job.then-0"), TaskSpec("b", {}, "other", "mine")]
    assert [spec.task_id for spec in follow_ups(task, [Then("a", {}), Then("b", {})])] == ["job.then-0", "job.then-1"]
    for result in ([], [Then("a", {}), "not a Then"], ["a"], {"then": "a"}, None, "done"):
        assert follow_ups(task, result) is None, result


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"max_attempts": 0}, "max_attempts must be at least 1, got 0"),
    ({"table": ""}, "table must be the task table's name, a non-empty string, got ''"),
    ({"table": 7}, "table must be the task table's name, a non-empty string, got 7"),
])
def test_a_task_runner_refuses_settings_it_cannot_work_with(queue, kwargs, error):
    from sqstask.handler import TaskRunner

    with pytest.raises((ValueError, ConfigError), match=f"^{error}$"):
        TaskRunner(queue, lambda t: None, **kwargs)
    assert TaskRunner(queue, lambda t: None, max_attempts=1).max_attempts == 1


def test_a_message_that_cannot_be_read_now_fails_and_counts_as_unreadable(queue, monkeypatch, capsys):
    from .test_metrics import by_type, emf_lines

    @batch_handler(queue)
    def handle(task):
        return None

    queue.send("t", {}, group_id="g", task_id="r-1")
    event = event_for(queue, receive_all(queue, 1))

    def unreachable(record):
        raise ConnectionError("S3 unreachable")

    monkeypatch.setattr(queue, "to_task", unreachable)
    capsys.readouterr()
    response = handle(event, Context(60_000))

    assert failed_ids(response) == [event["Records"][0]["messageId"]]
    metrics = by_type(emf_lines(capsys.readouterr().out))
    assert set(metrics) == {"(unreadable)"} and metrics["(unreadable)"]["TasksFailed"] == 1


def test_a_malformed_message_is_copied_to_the_dlq_once_per_message(queue):
    from sqstask.handler import TaskRunner

    copies = dlq_copies(queue)
    runner = TaskRunner(queue, lambda t: None)
    body = json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}})
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=body, MessageGroupId="bad",
                           MessageDeduplicationId="bad-1")
    [message] = receive_all(queue, 1)

    outcome = runner.parse(message)

    assert (outcome.status, outcome.task, outcome.dead_lettered) == ("malformed", None, True)
    assert isinstance(outcome.error, MalformedMessage) and outcome.reason == outcome.error.reason
    assert "unsupported envelope version 99" in outcome.reason and outcome.ok
    [copy] = copies
    assert copy["MessageBody"] == body and copy["MessageGroupId"] == "bad"
    assert copy["MessageDeduplicationId"] == dead_letter_deduplication_id(message["MessageId"])
    assert copy_attributes(copy)["sqstask-error"] == f"malformed: {outcome.reason}"

    copies.refuse = True
    outcome = runner.parse(message)
    assert (outcome.status, outcome.dead_lettered, outcome.ok) == ("malformed", False, False)


@pytest.mark.parametrize("event", [["not", "an", "event"], {"Records": "none"}])
def test_an_event_without_a_records_list_is_refused(queue, event):
    handle = batch_handler(queue)(lambda task: None)

    with pytest.raises(MalformedMessage, match="^the event has no 'Records' list; batch_handler expects an SQS event$"):
        handle(event, None)


@pytest.mark.parametrize("message_id", [None, "", 7])
def test_an_event_record_without_a_message_id_is_refused_before_anything_runs(queue, message_id):
    ran = []
    handle = batch_handler(queue)(ran.append)
    queue.send("t", {}, group_id="g", task_id="n-1")
    event = event_for(queue, receive_all(queue, 1))
    event["Records"].append(dict(event["Records"][0], messageId=message_id))

    with pytest.raises(MalformedMessage, match="^an SQS event record has no messageId, so failures could not be reported$"):
        handle(event, None)
    assert ran == []


def test_the_function_form_takes_the_same_settings_as_the_decorator(queue, monkeypatch, caplog):
    monkeypatch.setenv("SQSTASK_QUEUE_URL", queue.config.queue_url)
    monkeypatch.setenv("SQSTASK_DLQ_URL", queue.config.dlq_url)
    ran = []

    def poison(task):
        ran.append(task.task_id)
        raise RuntimeError("poison")

    audit = logging.getLogger("team.audit")
    handle = batch_handler(poison, table=queue.config.idempotency_table, max_attempts=1, logger=audit,
                           min_remaining_ms=30_000)
    for n in range(2):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"fn-{n}")
    messages = receive_all(queue, 2)
    with caplog.at_level(logging.INFO):
        response = handle(event_for(queue, messages), Context(31_000, step=2_000))

    assert ran == ["fn-0"]  # 29 s left at the second look: not started
    assert failed_ids(response) == [messages[1]["MessageId"]]  # the first went to the DLQ after 1 attempt
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert copy_attributes(letter)["sqstask-task-id"] == "fn-0"
    assert {r.name for r in caplog.records if r.getMessage().startswith('{"event"')} == {"team.audit"}


def test_the_function_form_without_fifo_or_a_task_table(queue, monkeypatch):
    from sqstask import handler as handler_module

    monkeypatch.setenv("SQSTASK_QUEUE_URL", queue.config.queue_url)  # no task table configured
    lookups = []
    monkeypatch.setattr(handler_module, "_max_receive_count_of", lambda q: lookups.append(q) or 5)
    ran = []

    def handle_task(task):
        ran.append(task.task_id)
        if task.task_id == "a1":
            raise RuntimeError("a1 broke")

    handle = batch_handler(handle_task, fifo=False, idempotency=False, max_receive_count=9)
    for task_id in ("a1", "a2"):
        queue.send("step", {}, group_id="A", task_id=task_id)
    messages = receive_all(queue, 2)
    response = handle(event_for(queue, messages), Context(60_000))

    assert ran == ["a1", "a2"]  # fifo=False: the group's later task still runs
    assert failed_ids(response) == [messages[0]["MessageId"]]
    assert lookups == []  # max_receive_count given: the redrive policy is not read


def test_a_handler_that_cannot_start_raises_for_every_invocation():
    handle = batch_handler(lambda task: None)  # no queue configured in the environment

    for _ in range(2):
        with pytest.raises(ConfigError):
            handle({"Records": []}, None)


def test_a_run_returns_the_follow_ups_it_sent(queue):
    outcome, task, store = run_once(queue, lambda t: Then("next", {"n": 1}), "f-8")

    assert outcome.status == "succeeded" and [sent.task_id for sent in outcome.chained] == ["f-8.then-0"]
    assert json.loads(store.get("f-8")["result"]) == {"then": ["f-8.then-0"]}


# a Lambda record (as batch_handler gets it) and an SQS message (as the Worker gets it)
@pytest.mark.parametrize("message", [{"messageId": "m-1", "body": "{}"}, {"MessageId": "m-1", "Body": "{}"}])
def test_a_message_that_cannot_be_read_now_is_a_failure_saying_why_and_which(queue, monkeypatch, caplog, message):
    from sqstask.handler import TaskRunner

    unreachable = ConnectionError("S3 unreachable")

    def to_task(record):
        raise unreachable

    monkeypatch.setattr(queue, "to_task", to_task)

    with caplog.at_level(logging.INFO, logger="sqstask"):
        outcome = TaskRunner(queue, lambda t: None).parse(message)

    assert (outcome.status, outcome.task, outcome.error, outcome.reason, outcome.dead_lettered) == (
        "failed", None, unreachable, "could not read the message: ConnectionError: S3 unreachable", False)
    [failed] = audit_events(caplog, "failed")
    assert failed["message_id"] == "m-1"  # what an operator searches the logs for


def test_the_decorator_with_settings_only_reads_the_queue_from_the_environment_once(queue, monkeypatch):
    from sqstask import handler as handler_module
    from sqstask.queue import TaskQueue

    monkeypatch.setenv("SQSTASK_QUEUE_URL", queue.config.queue_url)
    lookups = []
    monkeypatch.setattr(handler_module, "_max_receive_count_of", lambda q: lookups.append(q) or 5)
    made = []
    from_env = TaskQueue.from_env.__func__
    monkeypatch.setattr(TaskQueue, "from_env", classmethod(lambda cls, *a, **k: made.append(1) or from_env(cls, *a, **k)))

    @batch_handler(idempotency=False)
    def handle(task):
        raise RuntimeError("poison")

    for n in range(2):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"once-{n}")
    messages = receive_all(queue, 2)
    for message in messages:  # two invocations
        assert failed_ids(handle(event_for(queue, [message]), Context(60_000))) == [message["MessageId"]]

    assert len(made) == 1 and len(lookups) == 1  # one queue, one runner: the redrive policy is read once


def test_records_without_a_message_group_are_not_held_back_by_a_failure(queue):
    ran = []

    @batch_handler(queue, idempotency=False)  # fifo=True by default, on records of a standard queue
    def handle(task):
        ran.append(task.task_id)
        raise RuntimeError("broke")

    for task_id in ("s1", "s2"):
        queue.send("t", {}, group_id=f"g-{task_id}", task_id=task_id)
    event = event_for(queue, receive_all(queue, 2))
    for record in event["Records"]:
        del record["attributes"]["MessageGroupId"]

    response = handle(event, Context(60_000))

    assert sorted(ran) == ["s1", "s2"]
    assert failed_ids(response) == [record["messageId"] for record in event["Records"]]
