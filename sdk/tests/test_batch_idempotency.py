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

from .test_handler import (
    Context,
    audit_events,
    copy_attributes,
    dead_letter_deduplication_id,
    dlq_copies,
    event_for,
    failed_ids,
    plain_task,
    receive_all,
    refuse,
    step_clock,  # noqa: F401 - fixture
)


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


def test_a_record_that_cannot_be_written_fails_its_task_and_the_rest_of_its_group(queue, caplog, capsys):
    from .test_metrics import emf_lines

    caplog.set_level("INFO", logger="sqstask")
    sleeps: list[float] = []
    flaky = Unprocessed(queue.dynamodb, {"a0"})
    store = BatchTaskStore(flaky, queue.config.idempotency_table, sleep=sleeps.append)
    from sqstask.handler import BatchProcessor, TaskRunner

    ran = []
    runner = TaskRunner(queue, lambda task: ran.append(task.task_id), idempotency="batch", batch_store=store)
    processor = BatchProcessor(runner, fifo=True, min_remaining_ms=1000)
    messages, ids = send(queue, [("a0", "A"), ("b0", "B"), ("a1", "A")])
    capsys.readouterr()

    response = processor.process(event_for(queue, messages), Context(60_000))

    assert sorted(failed_ids(response)) == sorted([ids["a0"], ids["a1"]])
    assert flaky.write_calls == 5 and sleeps == [0.05, 0.1, 0.2, 0.4]  # retried with backoff, then given up
    assert record_of(queue, "a0") is None
    assert record_of(queue, "a1")["status"] == "COMPLETED"  # recorded: its redelivery is skipped
    [event] = audit_events(caplog, "record-failed")
    assert event["task_id"] == "a0" and "delivers it again" in event["reason"]
    [metrics] = emf_lines(capsys.readouterr().out)
    assert (metrics["TasksSucceeded"], metrics["TasksFailed"]) == (2, 1)  # a0 ran, but is not recorded


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


def test_an_unreadable_task_table_fails_the_batch_without_running_anything(queue, caplog, capsys):
    from .test_metrics import by_type, emf_lines

    caplog.set_level("INFO", logger="sqstask")
    ran = []

    @batch_handler(queue, idempotency="batch", table="no-such-table")
    def handle(task):
        ran.append(task.task_id)

    messages, ids = send(queue, [("a", "A"), ("b", "B")])
    capsys.readouterr()
    response = handle(event_for(queue, messages), Context(60_000))

    assert sorted(failed_ids(response)) == sorted(ids.values())
    assert ran == []
    assert all("task table unavailable" in e["reason"] for e in audit_events(caplog, "failed"))
    metrics = by_type(emf_lines(capsys.readouterr().out))
    assert set(metrics) == {"step"} and metrics["step"]["TasksFailed"] == 2  # counted as the tasks they are


def test_batch_mode_is_refused_without_fifo_semantics(queue):
    with pytest.raises(ConfigError, match=r"idempotency='batch' needs fifo=True on batch_handler: .* only where SQS "
                       r"FIFO never hands a message group to two consumers at once; use idempotency=True with fifo=False$"):
        batch_handler(queue, fifo=False, idempotency="batch")
    from sqstask import TaskQueue

    standard = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/std", idempotency_table="t",
                         sqs_client=object(), dynamodb_client=object())
    handler = batch_handler(standard, idempotency="batch")(lambda task: None)
    with pytest.raises(ConfigError, match=r"std is a standard queue \(no \.fifo suffix\): a standard queue may "
                       r"deliver one task to two consumers at once; use idempotency=True there$"):
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


# -- TaskRunner.run_known: what a batch-mode run returns and what it has recorded -------------


def runner_for(queue, handle, **kwargs):
    from sqstask.handler import TaskRunner

    return TaskRunner(queue, handle, idempotency="batch", **kwargs)


def recorded(runner, finished):
    """Write ``finished`` as the batch would and return the task's stored record."""
    assert runner.record_batch([finished]) == []
    return record_of(runner.queue, finished.task.task_id)


def test_a_redriven_task_runs_with_a_fresh_budget_and_keeps_when_it_was_first_received(queue, step_clock):
    task = plain_task(queue, "s-1")
    prior = {"task_id": "s-1", "status": "DEAD_LETTERED", "attempt": 3, "message_id": "the-dead-lettered-copy",
             "payload_hash": task.payload_hash, "first_received_at": "2026-01-01T00:00:00.000Z"}
    runner = runner_for(queue, lambda t: {"ok": 1})

    outcome, finished = runner.run_known(task, prior)

    assert (outcome.status, outcome.task, outcome.duration_ms, outcome.chained, outcome.result) == (
        "succeeded", task, 1250, [], {"ok": 1})
    assert outcome.error is None and outcome.reason is None and not outcome.dead_lettered and outcome.ok
    record = recorded(runner, finished)
    assert (record["status"], record["attempt"], record["duration_ms"]) == ("COMPLETED", 1, 1250)
    assert record["first_received_at"] == "2026-01-01T00:00:00.000Z"
    assert json.loads(record["result"]) == {"ok": 1}


def test_a_failed_batch_mode_run_counts_its_attempt_and_the_last_one_goes_to_the_dlq(make_team, step_clock):
    queue = make_team(max_attempts=3)
    copies = dlq_copies(queue)
    error = ValueError("poison")

    def handle(task):
        raise error

    runner = runner_for(queue, handle)
    # (task, its record's status and attempt count) -> the attempt this run is, and the status it records
    for task_id, prior_status, attempt_before, attempt, status in [
            ("e-1", "FAILED", 1, 2, "FAILED"),
            ("e-2", "FAILED", 2, 3, "DEAD_LETTERED"),  # the last of 3 attempts
            ("e-3", "DEAD_LETTERED", 3, 1, "FAILED")]:  # redriven: a fresh budget
        task = plain_task(queue, task_id)
        prior = {"task_id": task_id, "status": prior_status, "attempt": attempt_before, "message_id": "m0",
                 "payload_hash": task.payload_hash, "first_received_at": "2026-01-01T00:00:00.000Z"}

        outcome, finished = runner.run_known(task, prior)

        last = status == "DEAD_LETTERED"
        assert (outcome.status, outcome.task, outcome.error, outcome.reason, outcome.duration_ms) == (
            "failed", task, error, "ValueError: poison", 1250)
        assert outcome.dead_lettered is last and outcome.ok is last
        record = recorded(runner, finished)
        assert (record["status"], record["attempt"], record["duration_ms"], record["error"]) == (
            status, attempt, 1250, "poison")
        assert record["first_received_at"] == "2026-01-01T00:00:00.000Z"
        if last:
            [copy] = copies
            assert copy_attributes(copy) == {"sqstask-task-id": "e-2", "sqstask-task-type": "t",
                                             "sqstask-error": "ValueError: poison", "sqstask-attempts": "3"}
            assert copy["MessageDeduplicationId"] == dead_letter_deduplication_id(task.message_id)
    assert len(copies) == 1  # the last attempt only


def test_an_invalid_follow_up_fails_the_batch_mode_run_and_is_recorded_against_its_attempt(queue, step_clock):
    from sqstask.exceptions import InvalidTaskError

    task = plain_task(queue, "i-1")
    prior = {"task_id": "i-1", "status": "FAILED", "attempt": 1, "message_id": "m0", "payload_hash": task.payload_hash,
             "first_received_at": "2026-01-01T00:00:00.000Z"}
    runner = runner_for(queue, lambda t: Then("next", {}, group_id="bad group id"))

    outcome, finished = runner.run_known(task, prior)

    assert (outcome.status, outcome.task, outcome.duration_ms) == ("failed", task, 1250)
    assert isinstance(outcome.error, InvalidTaskError) and outcome.reason.startswith("InvalidTaskError: ")
    record = recorded(runner, finished)
    assert (record["status"], record["attempt"], record["duration_ms"], record["error_type"]) == (
        "FAILED", 2, 1250, "InvalidTaskError")
    assert record["first_received_at"] == "2026-01-01T00:00:00.000Z"
    assert queue.receive(wait_seconds=0) == []


def test_follow_ups_sqs_refuses_part_way_are_kept_pending_without_the_ones_sent(queue, step_clock):
    from sqstask.exceptions import SendError

    task = plain_task(queue, "p-1")
    from botocore.exceptions import ClientError

    calls = []

    def second_call_refused(**_):
        calls.append(1)
        if len(calls) == 2:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, "SendMessageBatch")

    queue.sqs.meta.events.register("before-call.sqs.SendMessageBatch", second_call_refused)
    thens = [Then("a", {"n": 1}), Then("b", {"n": 2})]  # one group: one call each
    runner = runner_for(queue, lambda t: thens)

    outcome, finished = runner.run_known(task, None)

    assert (outcome.status, outcome.task, outcome.reason, outcome.duration_ms, outcome.result) == (
        "failed", task, "follow-up tasks could not be sent", 1250, thens)
    assert isinstance(outcome.error, SendError)
    assert [sent.task_id for sent in outcome.chained] == ["p-1.then-0"]
    record = recorded(runner, finished)
    assert record["status"] == "COMPLETED" and record["duration_ms"] == 1250
    assert [spec["task_id"] for spec in json.loads(record["follow_ups_pending"])] == ["p-1.then-1"]


def test_a_batch_mode_run_whose_follow_ups_sqs_refuses_completes_with_them_pending(queue):
    task = plain_task(queue, "p-2")
    refuse(queue.sqs, "SendMessageBatch")
    runner = runner_for(queue, lambda t: Then("a", {"n": 1}))

    outcome, finished = runner.run_known(task, None)

    assert outcome.status == "failed" and outcome.chained == [] and not outcome.ok
    record = recorded(runner, finished)
    assert record["status"] == "COMPLETED"
    assert [spec["task_id"] for spec in json.loads(record["follow_ups_pending"])] == ["p-2.then-0"]


def test_a_batch_mode_redelivery_of_a_dead_lettered_message_is_copied_again_with_its_recorded_error(queue):
    copies = dlq_copies(queue)
    runs = []
    runner = runner_for(queue, runs.append)
    records = {  # record fields -> the DLQ copy's error and attempts attributes
        "d-1": ({"error_type": "ValueError", "error": "over the limit: MAX", "attempt": 2}, "ValueError: over the limit: MAX", "2"),
        "d-2": ({"error_type": "ValueError", "attempt": 3}, "ValueError", "3"),
        "d-3": ({}, "Error", "0"),  # a record without error fields or attempt count
    }
    for task_id, (fields, error, attempts) in records.items():
        task = plain_task(queue, task_id)
        prior = {"task_id": task_id, "status": "DEAD_LETTERED", "message_id": task.message_id, **fields}

        outcome, finished = runner.run_known(task, prior)

        assert runs == [] and finished is None
        assert (outcome.status, outcome.task, outcome.reason, outcome.dead_lettered) == ("duplicate", task, error, True)
        copy = copies.pop()
        assert copy_attributes(copy) == {"sqstask-task-id": task_id, "sqstask-task-type": "t",
                                         "sqstask-error": error, "sqstask-attempts": attempts}
        assert copy["MessageBody"] == task.raw["Body"]

    task = plain_task(queue, "d-4")
    refuse(queue.sqs, "SendMessage")
    outcome, finished = runner.run_known(task, {"status": "DEAD_LETTERED", "message_id": task.message_id,
                                                "error_type": "E", "attempt": 1})
    assert (outcome.status, outcome.task, outcome.reason, outcome.dead_lettered) == ("failed", task, "E", False)
    assert runs == [] and finished is None


def test_a_batch_mode_delivery_under_another_payload_is_copied_to_the_dlq_as_is(queue):
    from sqstask.exceptions import PayloadMismatch

    copies = dlq_copies(queue)
    runs = []
    task = plain_task(queue, "x-1", {"amount": 99})

    outcome, finished = runner_for(queue, runs.append).run_known(task, {"status": "COMPLETED", "payload_hash": "0" * 64})

    assert runs == [] and finished is None
    assert (outcome.status, outcome.task, outcome.dead_lettered) == ("failed", task, True)
    assert isinstance(outcome.error, PayloadMismatch) and outcome.reason == str(outcome.error)
    [copy] = copies
    assert copy["MessageBody"] == task.raw["Body"]
    assert copy_attributes(copy) == {"sqstask-task-id": "x-1", "sqstask-task-type": "t",
                                     "sqstask-error": f"PayloadMismatch: {outcome.error}"[:500]}


def test_a_batch_mode_delivery_of_a_completed_task_is_a_duplicate_of_that_task(queue):
    task = plain_task(queue, "x-2")

    outcome, finished = runner_for(queue, lambda t: None).run_known(task, {"status": "COMPLETED", "attempt": 1})

    assert (outcome.status, outcome.task, outcome.dead_lettered, finished) == ("duplicate", task, False, None)


def test_batch_mode_sends_pending_follow_ups_and_rewrites_the_record_without_them(queue):
    runner = runner_for(queue, lambda t: None)
    for task_id, stored, attempt in [("q-1", {"attempt": 3, "duration_ms": 40, "result": '{"done": 1}'}, 3),
                                     ("q-2", {}, 1)]:  # a record without attempt count or duration
        task = plain_task(queue, task_id)
        pending = [{"task_type": "next", "payload": {}, "group_id": f"g-{task_id}", "task_id": f"{task_id}.then-0"}]
        prior = {"task_id": task_id, "status": "COMPLETED", "payload_hash": task.payload_hash, "message_id": "m0",
                 "first_received_at": "2026-01-01T00:00:00.000Z", "follow_ups_pending": json.dumps(pending), **stored}

        outcome, finished = runner.run_known(task, prior)

        assert (outcome.status, outcome.task) == ("duplicate", task)
        assert [sent.task_id for sent in outcome.chained] == [f"{task_id}.then-0"]
        record = recorded(runner, finished)
        assert "follow_ups_pending" not in record
        assert (record["status"], record["attempt"], record.get("duration_ms")) == (
            "COMPLETED", attempt, stored.get("duration_ms"))
        assert record["first_received_at"] == "2026-01-01T00:00:00.000Z"
    assert json.loads(record_of(queue, "q-1")["result"]) == {"done": 1}


def test_batch_mode_pending_follow_ups_sqs_refuses_again_fail_the_delivery_and_stay_pending(queue):
    from sqstask.exceptions import SendError

    task = plain_task(queue, "q-3")
    pending = [{"task_type": "next", "payload": {}, "group_id": "g-q-3", "task_id": "q-3.then-0"}]
    refuse(queue.sqs, "SendMessageBatch")

    outcome, finished = runner_for(queue, lambda t: None).run_known(
        task, {"status": "COMPLETED", "attempt": 1, "follow_ups_pending": json.dumps(pending)})

    assert (outcome.status, outcome.task, outcome.reason) == ("failed", task, "follow-up tasks could not be sent")
    assert isinstance(outcome.error, SendError) and finished is None  # the record keeps them pending


def test_a_batch_whose_records_cannot_be_written_at_all_is_reported_failed(queue):
    from sqstask.handler import BatchProcessor, TaskRunner

    class Unwritable(BatchTaskStore):
        def record(self, finished):
            raise ConnectionError("task table unreachable")

    store = Unwritable(queue.dynamodb, queue.config.idempotency_table)
    runner = TaskRunner(queue, lambda task: None, idempotency="batch", batch_store=store)
    messages, ids = send(queue, [("w0", "A"), ("w1", "B")])

    response = BatchProcessor(runner, fifo=True, min_remaining_ms=1000).process(event_for(queue, messages))

    assert sorted(failed_ids(response)) == sorted(ids.values())
    assert record_of(queue, "w0") is None


def test_a_batch_mode_run_returns_the_follow_ups_it_sent(queue):
    task = plain_task(queue, "f-9")

    outcome, finished = runner_for(queue, lambda t: Then("next", {"n": 1})).run_known(task, None)

    assert outcome.status == "succeeded" and [sent.task_id for sent in outcome.chained] == ["f-9.then-0"]
    assert json.loads(recorded(runner_for(queue, None), finished)["result"]) == {"then": ["f-9.then-0"]}


def test_a_malformed_record_in_a_batch_mode_batch_is_copied_to_the_dlq_once(queue):
    copies = dlq_copies(queue)
    ran = []
    handle = batch_handler(queue, idempotency="batch")(lambda task: ran.append(task.task_id))
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody='{"v": 99, "id": "x", "type": "t"}',
                           MessageGroupId="bad", MessageDeduplicationId="bad-1")
    queue.send("t", {}, group_id="good", task_id="ok-1")
    messages = receive_all(queue, 2)

    assert failed_ids(handle(event_for(queue, messages), Context(60_000))) == []
    assert ran == ["ok-1"] and len(copies) == 1
