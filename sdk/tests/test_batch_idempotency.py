"""idempotency="batch": one BatchGetItem and one BatchWriteItem per batch, effects once under redelivery."""

from __future__ import annotations

import json

import pytest

from sqstask import Then
from sqstask.batch_idempotency import BatchTaskStore, Finished
from sqstask.exceptions import ConfigError
from sqstask.handler import batch_handler
from sqstask.idempotency import TaskStore
from sqstask.task import Task

from .test_handler import Context, audit_events, event_for, failed_ids, receive_all


@pytest.fixture
def queue(make_team):
    return make_team("bm", max_receive_count=5)


def count_dynamodb(queue):
    calls: list[str] = []
    queue.dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    return calls


def record_of(queue, task_id):
    return TaskStore(queue.dynamodb, queue.config.idempotency_table).get(task_id)


def send(queue, specs):
    for task_id, group in specs:
        queue.send("step", {"id": task_id}, group_id=group, task_id=task_id)
    messages = receive_all(queue, len(specs))
    return messages, {json.loads(m["Body"])["id"]: m["MessageId"] for m in messages}


def test_a_fresh_batch_of_ten_costs_one_read_and_one_write_and_records_every_task(queue):
    ran = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        ran.append(task.task_id)
        return {"n": task.payload["id"]}

    messages, _ = send(queue, [(f"t{n}", f"g{n % 3}") for n in range(10)])
    calls = count_dynamodb(queue)
    response = handle(event_for(queue, messages), Context(60_000))

    assert failed_ids(response) == []
    assert sorted(ran) == sorted(f"t{n}" for n in range(10))
    assert calls == ["BatchGetItem", "BatchWriteItem"]
    record = record_of(queue, "t7")
    assert record["status"] == "COMPLETED" and record["attempt"] == 1
    assert json.loads(record["result"]) == {"n": "t7"}
    assert "lease_expires_at" not in record and "owner" not in record  # no IN_PROGRESS state in this mode


def test_a_whole_batch_delivered_again_runs_nothing_for_one_read(queue):
    ran = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        ran.append(task.task_id)

    messages, _ = send(queue, [(f"t{n}", "g") for n in range(4)])
    event = event_for(queue, messages)
    handle(event, Context(60_000))
    calls = count_dynamodb(queue)
    again = handle(event, Context(60_000))

    assert failed_ids(again) == []
    assert ran == ["t0", "t1", "t2", "t3"]
    assert calls == ["BatchGetItem"]


def test_after_a_partial_failure_redelivery_runs_only_what_did_not_complete(queue):
    ran = []
    broken = {"a1"}

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        ran.append(task.task_id)
        if task.task_id in broken:
            raise RuntimeError(f"{task.task_id} broke")

    messages, ids = send(queue, [("a0", "A"), ("b0", "B"), ("a1", "A"), ("b1", "B"), ("a2", "A")])
    event = event_for(queue, messages)
    first = handle(event, Context(60_000))
    assert sorted(failed_ids(first)) == sorted([ids["a1"], ids["a2"]])
    failed = record_of(queue, "a1")
    assert failed["status"] == "FAILED" and failed["error"] == "a1 broke" and failed["attempt"] == 1
    assert record_of(queue, "a2") is None  # never started: no record

    broken.clear()
    ran.clear()
    handle(event, Context(60_000))  # the whole batch again: only a1 and a2 run
    assert ran == ["a1", "a2"]
    done = record_of(queue, "a1")
    assert done["status"] == "COMPLETED" and done["attempt"] == 2 and "error" not in done

    ran.clear()
    redelivered = [m for m in messages if m["MessageId"] in (ids["a1"], ids["a2"])]
    assert failed_ids(handle(event_for(queue, redelivered), Context(60_000))) == []  # a partial batch
    assert ran == []


def test_a_task_id_twice_in_one_batch_runs_once(queue):
    ran = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        ran.append(task.task_id)

    queue.send("step", {"id": 1}, group_id="g", task_id="same")
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=json.dumps(
        {"v": 1, "id": "same", "type": "step", "payload": {"id": 1}, "created_at": "2026-01-01T00:00:00Z"}),
        MessageGroupId="g", MessageDeduplicationId="same-again")
    messages = receive_all(queue, 2)

    assert failed_ids(handle(event_for(queue, messages), Context(60_000))) == []
    assert ran == ["same"]


class Unprocessed:
    """Leaves the put requests of ``task_ids`` unprocessed in every BatchWriteItem answer."""

    def __init__(self, client, task_ids):
        self.client = client
        self.task_ids = set(task_ids)
        self.write_calls = 0

    def __getattr__(self, name):
        return getattr(self.client, name)

    def batch_write_item(self, RequestItems):
        self.write_calls += 1
        (table, requests), = RequestItems.items()
        keep = [r for r in requests if r["PutRequest"]["Item"]["task_id"]["S"] not in self.task_ids]
        left = [r for r in requests if r not in keep]
        if keep:
            self.client.batch_write_item(RequestItems={table: keep})
        return {"UnprocessedItems": {table: left} if left else {}}


def test_a_record_that_cannot_be_written_fails_its_task_and_the_rest_of_its_group(queue, caplog):
    caplog.set_level("INFO", logger="sqstask")
    sleeps: list[float] = []
    flaky = Unprocessed(queue.dynamodb, {"a0"})
    store = BatchTaskStore(flaky, queue.config.idempotency_table, sleep=sleeps.append)
    from sqstask.handler import BatchProcessor, TaskRunner

    ran = []
    runner = TaskRunner(queue, lambda task: ran.append(task.task_id), idempotency="batch", batch_store=store)
    processor = BatchProcessor(runner, fifo=True, min_remaining_ms=1000)
    messages, ids = send(queue, [("a0", "A"), ("b0", "B"), ("a1", "A")])

    response = processor.process(event_for(queue, messages), Context(60_000))

    assert sorted(failed_ids(response)) == sorted([ids["a0"], ids["a1"]])
    assert flaky.write_calls == 5 and sleeps == [0.05, 0.1, 0.2, 0.4]  # retried with backoff, then given up
    assert record_of(queue, "a0") is None
    assert record_of(queue, "a1")["status"] == "COMPLETED"  # recorded: its redelivery is skipped
    [event] = audit_events(caplog, "record-failed")
    assert event["task_id"] == "a0" and "delivers it again" in event["reason"]


def test_unprocessed_items_that_succeed_on_retry_are_written(queue):
    class OnceUnprocessed(Unprocessed):
        def batch_write_item(self, RequestItems):
            if self.write_calls:
                self.write_calls += 1
                return self.client.batch_write_item(RequestItems=RequestItems)
            return super().batch_write_item(RequestItems)

    flaky = OnceUnprocessed(queue.dynamodb, {"x"})
    store = BatchTaskStore(flaky, queue.config.idempotency_table, sleep=lambda _: None)
    task = Task(task_id="x", task_type="t", payload={}, group_id="g", receive_count=1, message_id="m", sent_at=None)
    assert store.record([Finished(task, 5, 1_800_000_000.0, result="ok")]) == []
    assert flaky.write_calls == 2
    assert record_of(queue, "x")["status"] == "COMPLETED"


def test_records_are_written_twenty_five_per_call(queue):
    calls = count_dynamodb(queue)
    store = BatchTaskStore(queue.dynamodb, queue.config.idempotency_table)
    tasks = [Task(task_id=f"t{n}", task_type="t", payload={}, group_id="g", receive_count=1, message_id=f"m{n}",
                  sent_at=None) for n in range(30)]
    assert store.record([Finished(t, 1, 1_800_000_000.0) for t in tasks]) == []
    assert calls == ["BatchWriteItem", "BatchWriteItem"]
    assert set(store.lookup(t.task_id for t in tasks)) == {t.task_id for t in tasks}


def test_a_redelivery_with_another_payload_goes_to_the_dlq_and_the_record_is_kept(queue, caplog):
    caplog.set_level("INFO", logger="sqstask")
    ran = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        ran.append(task.payload)

    queue.send("t", {"amount": 10}, group_id="g", task_id="pay-1")
    first = receive_all(queue, 1)
    handle(event_for(queue, first), Context(60_000))
    queue.delete_many(first)
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=json.dumps(
        {"v": 1, "id": "pay-1", "type": "t", "payload": {"amount": 99}, "created_at": "2026-01-01T00:00:00Z"}),
        MessageGroupId="g", MessageDeduplicationId="pay-1-again")
    second = receive_all(queue, 1)

    assert failed_ids(handle(event_for(queue, second), Context(60_000))) == []  # it can never run: moved
    assert ran == [{"amount": 10}]
    assert any(e.get("error_type") == "PayloadMismatch" for e in audit_events(caplog, "failed"))
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert "PayloadMismatch" in letter["MessageAttributes"]["sqstask-error"]["StringValue"]
    assert record_of(queue, "pay-1")["status"] == "COMPLETED"


def test_the_last_attempt_moves_the_task_to_the_dlq_and_a_redriven_copy_gets_a_fresh_budget(make_team):
    queue = make_team(max_attempts=2)
    runs = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        runs.append(task.task_id)
        if len(runs) <= 2:
            raise ValueError("poison")

    queue.send("t", {}, group_id="g", task_id="p-1")
    first = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, first), Context(60_000))) == [first[0]["MessageId"]]
    assert record_of(queue, "p-1")["status"] == "FAILED"
    queue.change_visibility_many(first, 0)
    again = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, again), Context(60_000))) == []  # attempt 2 of 2: moved, deleted
    assert runs == ["p-1", "p-1"]
    record = record_of(queue, "p-1")
    assert (record["status"], int(record["attempt"])) == ("DEAD_LETTERED", 2)
    queue.delete_many(again)
    [letter] = queue.sqs.receive_message(QueueUrl=queue.config.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert letter["MessageAttributes"]["sqstask-task-id"]["StringValue"] == "p-1"

    # Redriven: the copy has another message id, so the task runs again with a fresh budget.
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody=letter["Body"], MessageGroupId="g",
                           MessageDeduplicationId="p-1-redriven", MessageAttributes={
                               k: v for k, v in letter["MessageAttributes"].items() if k.startswith("sqstask-task")})
    redriven = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, redriven), Context(60_000))) == []
    assert runs == ["p-1", "p-1", "p-1"]
    assert record_of(queue, "p-1")["status"] == "COMPLETED"


def test_a_completed_task_whose_follow_ups_failed_only_sends_them_again(queue, monkeypatch):
    runs = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        runs.append(task.task_id)
        return Then("next", {"n": 1})

    queue.send("t", {}, group_id="g", task_id="a-1")
    first = receive_all(queue, 1)
    real_send_many = queue.send_many

    def failing_send_many(*args, **kwargs):
        raise RuntimeError("SQS unavailable")

    monkeypatch.setattr(queue, "send_many", failing_send_many)
    assert failed_ids(handle(event_for(queue, first), Context(60_000))) == [first[0]["MessageId"]]
    record = record_of(queue, "a-1")
    assert record["status"] == "COMPLETED" and record.get("follow_ups_pending")

    monkeypatch.setattr(queue, "send_many", real_send_many)
    queue.change_visibility_many(first, 0)
    again = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, again), Context(60_000))) == []
    assert runs == ["a-1"]  # the handler never ran twice
    assert "follow_ups_pending" not in record_of(queue, "a-1")
    queue.delete_many(again)
    [follow_up] = receive_all(queue, 1)
    assert queue.to_task(follow_up).task_type == "next"


def test_follow_ups_are_sent_and_recorded_in_batch_mode(queue):
    @batch_handler(queue, idempotency="batch")
    def handle(task):
        return Then("next", {"after": task.task_id}) if task.task_type == "step" else None

    messages, _ = send(queue, [("p", "g")])
    assert failed_ids(handle(event_for(queue, messages), Context(60_000))) == []
    assert json.loads(record_of(queue, "p")["result"]) == {"then": ["p.then-0"]}


def test_an_unreadable_task_table_fails_the_batch_without_running_anything(queue, caplog):
    caplog.set_level("INFO", logger="sqstask")
    ran = []

    @batch_handler(queue, idempotency="batch", table="no-such-table")
    def handle(task):
        ran.append(task.task_id)

    messages, ids = send(queue, [("a", "A"), ("b", "B")])
    response = handle(event_for(queue, messages), Context(60_000))

    assert sorted(failed_ids(response)) == sorted(ids.values())
    assert ran == []
    assert all("task table unavailable" in e["reason"] for e in audit_events(caplog, "failed"))


def test_batch_mode_is_refused_without_fifo_semantics(queue):
    with pytest.raises(ConfigError, match=r"idempotency='batch' needs fifo=True on batch_handler"):
        batch_handler(queue, fifo=False, idempotency="batch")
    from sqstask import TaskQueue

    standard = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/std", idempotency_table="t",
                         sqs_client=object(), dynamodb_client=object())
    handler = batch_handler(standard, idempotency="batch")(lambda task: None)
    with pytest.raises(ConfigError, match=r"std is a standard queue \(no \.fifo suffix\)"):
        handler({"Records": []}, Context(60_000))


def test_an_unknown_idempotency_mode_is_refused_with_the_choices(queue):
    with pytest.raises(ValueError, match=r"idempotency must be True .*'batch'.* or False \(off\), got 'lease'"):
        batch_handler(queue, idempotency="lease")


def test_follow_ups_that_fail_again_keep_the_task_failed_and_a_later_send_keeps_its_record(queue, monkeypatch):
    runs = []

    @batch_handler(queue, idempotency="batch")
    def handle(task):
        runs.append(task.task_id)
        return Then("next", {"n": 1})

    queue.send("t", {}, group_id="g", task_id="a-2")
    real_send_many = queue.send_many

    def failing_send_many(*args, **kwargs):
        raise RuntimeError("SQS unavailable")

    monkeypatch.setattr(queue, "send_many", failing_send_many)
    first = receive_all(queue, 1)
    handle(event_for(queue, first), Context(60_000))
    recorded = record_of(queue, "a-2")

    queue.change_visibility_many(first, 0)
    second = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, second), Context(60_000))) == [second[0]["MessageId"]]
    assert record_of(queue, "a-2") == recorded  # still pending, nothing rewritten

    monkeypatch.setattr(queue, "send_many", real_send_many)
    queue.change_visibility_many(second, 0)
    third = receive_all(queue, 1)
    assert failed_ids(handle(event_for(queue, third), Context(60_000))) == []
    after = record_of(queue, "a-2")
    assert runs == ["a-2"]
    kept = ("status", "result", "duration_ms", "attempt", "payload_hash", "first_received_at")
    assert {k: after.get(k) for k in kept} == {k: recorded.get(k) for k in kept}
    assert "follow_ups_pending" not in after
