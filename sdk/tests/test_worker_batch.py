"""Worker(idempotency="batch") and the Worker's pauses after empty or failed receives."""

from __future__ import annotations

import json
import threading

import pytest

import sqstask.worker as worker_module
from sqstask import TaskQueue
from sqstask.exceptions import ConfigError
from sqstask.idempotency import TaskStore
from sqstask.worker import Worker, empty_receive_pause, receive_error_pause

from .test_worker import WAIT_LIMIT, Running, ScriptedReceives, queue_empty, wait_for


def count_calls(client, service):
    calls: list[str] = []
    lock = threading.Lock()

    def count(model, **_):
        with lock:
            calls.append(model.name)

    client.meta.events.register(f"before-call.{service}", count)
    return calls


def test_batch_mode_runs_each_task_once_with_one_read_per_receive_and_batched_writes(make_team):
    queue = make_team("wb1")
    dynamodb = count_calls(queue.dynamodb, "dynamodb")
    receives = count_calls(queue.sqs, "sqs")
    ran = []
    queue.send_many([{"task_type": "t", "payload": {"n": n}, "group_id": f"g{n % 3}", "task_id": f"t{n}"}
                     for n in range(10)], raise_on_failure=True)

    with Running(Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=4,
                        wait_seconds=0)):
        wait_for(lambda: queue_empty(queue) and len(ran) == 10, "every task to run and be deleted")

    assert sorted(ran) == sorted(f"t{n}" for n in range(10))
    reads = dynamodb.count("BatchGetItem")
    assert 1 <= reads <= receives.count("ReceiveMessage")  # one read per receive that returned messages
    assert set(dynamodb) == {"BatchGetItem", "BatchWriteItem"}
    assert dynamodb.count("BatchWriteItem") <= reads + 1  # records go out together, not one call per task
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    assert {store.get(f"t{n}")["status"] for n in range(10)} == {"COMPLETED"}


def test_lease_mode_reads_each_task_once_and_no_records_in_batches(make_team):
    # Lease mode claims each task with one conditional write and parses it when it runs: a batch
    # lookup per receive would add calls, and read an offloaded payload from S3 twice.
    queue = make_team("wb1-lease", max_message_size=1024)
    dynamodb = count_calls(queue.dynamodb, "dynamodb")
    s3 = count_calls(queue.s3, "s3")
    ran = []
    queue.send("t", {"data": "x" * 2048}, group_id="g", task_id="big")

    with Running(Worker(queue, lambda task: ran.append(len(task.payload["data"])), concurrency=1, wait_seconds=0)):
        wait_for(lambda: queue_empty(queue) and ran, "the offloaded task to run and be deleted")

    assert ran == [2048]
    assert s3.count("GetObject") == 1, s3
    assert "BatchGetItem" not in dynamodb and "BatchWriteItem" not in dynamodb, dynamodb


def test_batch_mode_skips_a_task_that_already_completed(make_team):
    queue = make_team("wb2")
    ran = []
    queue.send("t", {"n": 1}, group_id="g", task_id="once")
    with Running(Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=1,
                        wait_seconds=0)):
        wait_for(lambda: queue_empty(queue) and ran, "the first run")
        queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageGroupId="g", MessageDeduplicationId="again",
                               MessageBody=json.dumps({"v": 1, "id": "once", "type": "t", "payload": {"n": 1},
                                                       "created_at": "2026-01-01T00:00:00Z"}))
        wait_for(lambda: queue_empty(queue), "the redelivery to be deleted")
    assert ran == ["once"]


def test_batch_mode_records_a_failure_and_retries_the_task(make_team):
    from sqstask.backoff import Backoff

    queue = make_team("wb3")
    runs = []

    def handle(task):
        runs.append(task.task_id)
        if len(runs) == 1:
            raise RuntimeError("first run fails")

    queue.send("t", {}, group_id="g", task_id="flaky")
    with Running(Worker(queue, handle, idempotency="batch", concurrency=1, wait_seconds=0,
                        backoff=Backoff(base=0, cap=0, jitter=0)), failures=1):
        wait_for(lambda: queue_empty(queue) and len(runs) == 2, "the retry to succeed")
    record = TaskStore(queue.dynamodb, queue.config.idempotency_table).get("flaky")
    assert record["status"] == "COMPLETED" and record["attempt"] == 2


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"fifo": False}, r"idempotency='batch' needs fifo=True on Worker"),
    ({"heartbeat": False}, r"idempotency='batch' needs the Worker's heartbeat \(heartbeat=True\): batch mode takes "
                           r"no lease, so a task that outlived its visibility timeout could run on another consumer "
                           r"at the same time$"),
])
def test_batch_mode_is_refused_where_a_task_could_run_twice_at_once(make_team, kwargs, error):
    queue = make_team("wb4")
    with pytest.raises(ConfigError, match=error):
        Worker(queue, lambda task: None, idempotency="batch", **kwargs)


def test_batch_mode_is_refused_on_a_standard_queue(make_team):
    # a standard queue may hand one task to two consumers at once; batch mode takes no lease
    standard = TaskQueue(queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/plain", idempotency_table="t")

    with pytest.raises(ConfigError, match=r"idempotency='batch' needs a FIFO queue, and .*/plain is a standard queue"):
        Worker(standard, lambda task: None, idempotency="batch")


def test_empty_receive_pauses_double_up_to_a_cap_only_without_long_polling():
    assert [empty_receive_pause(n, 0) for n in range(1, 8)] == [0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0]
    assert empty_receive_pause(0, 0) == 0.0
    assert empty_receive_pause(3, 20) == 0.0 and empty_receive_pause(3, 1) == 0.0


def test_failed_receives_pause_1_2_4_8_then_16_seconds_each():
    assert [receive_error_pause(n) for n in range(1, 9)] == [1, 2, 4, 8, 16, 16, 16, 16]


def test_the_receive_loop_counts_failed_and_empty_receives_in_a_row_and_starts_over_after_messages(
        make_team, aws, monkeypatch):
    base = make_team("wb8")
    base.send("t", {}, group_id="g", task_id="e1")
    waiting = base.receive(wait_seconds=0)

    def unavailable():
        raise RuntimeError("SQS unavailable")

    sqs = ScriptedReceives(aws.client("sqs"), [unavailable, unavailable, list, list, lambda: waiting, list,
                                               unavailable])
    pauses = []
    monkeypatch.setattr(worker_module, "receive_error_pause", lambda n: pauses.append(("failed", n)) or 0.0)
    monkeypatch.setattr(worker_module, "empty_receive_pause", lambda n, wait: pauses.append(("empty", n, wait)) or 0.0)
    queue = TaskQueue(config=base.config, sqs_client=sqs, dynamodb_client=base.dynamodb, s3_client=base.s3)
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=3)
    with Running(worker):
        wait_for(lambda: len(pauses) >= 8, "eight pauses", timeout=10, interval=0.01)

    assert ran == ["e1"]
    # A receive that answers (even empty) ends a run of failures; only messages end a run of empty
    # receives. After its script ScriptedReceives answers empty (0.2 s each).
    assert pauses[:8] == [("failed", 1), ("failed", 2), ("empty", 1, 3), ("empty", 2, 3),
                          ("empty", 1, 3), ("failed", 1), ("empty", 2, 3), ("empty", 3, 3)]


def test_a_worker_without_long_polling_does_not_spin_on_an_empty_queue(make_team):
    queue = make_team("wb5")
    receives = count_calls(queue.sqs, "sqs")
    worker = Worker(queue, lambda task: None, concurrency=1, wait_seconds=0)
    with Running(worker):
        stop = threading.Event()
        stop.wait(0.8)  # pauses 0.05 + 0.1 + 0.2 + 0.4 = 0.75 s after four empty receives
        count = receives.count("ReceiveMessage")
    # Without the doubling pause: ~16 receives at a steady 0.05 s, hundreds without any pause.
    assert 2 <= count <= 7, f"{count} receives in 0.8 s"


def test_batch_mode_runs_nothing_of_a_receive_whose_records_cannot_be_read_but_still_dead_letters_malformed_ones(
        make_team, capsys):
    from .test_metrics import emf_lines

    from sqstask.backoff import Backoff

    # zero backoff retries at once: enough receives for SQS to dead-letter the task before the table is back
    queue = make_team("wb9", max_receive_count=1000)
    unavailable = threading.Event()
    unavailable.set()
    lookups = []

    def refuse(**_):
        lookups.append("BatchGetItem")
        if unavailable.is_set():
            raise RuntimeError("table unavailable")

    queue.dynamodb.meta.events.register("before-call.dynamodb.BatchGetItem", refuse)
    queue.send("report", {"n": 1}, group_id="g", task_id="later")
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageGroupId="h", MessageDeduplicationId="bad",
                           MessageBody=json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}}))
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=1,
                    wait_seconds=0, backoff=Backoff(base=0, cap=0, jitter=0))
    # every receive while the table is unavailable fails its task (and counts the malformed one)
    with Running(worker, failures=None):
        wait_for(lambda: lookups, "the first lookup")
        wait_for(lambda: queue.sqs.get_queue_attributes(QueueUrl=queue.config.dlq_url, AttributeNames=[
            "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1",
            "the malformed message in the DLQ while the table is unavailable", timeout=10)
        assert ran == []
        wait_for(lambda: worker.stats.by_status.get("malformed") == 1, "the malformed message counted", timeout=5)
        assert worker.stats.dead_lettered == 1  # dead-lettered at once, not failed until SQS gave up on it
        unavailable.clear()
        wait_for(lambda: queue_empty(queue) and ran, "the task to run once the table is back", timeout=10)

    assert ran == ["later"]
    by_status = worker.stats.by_status
    assert by_status["malformed"] == 1 and by_status["succeeded"] == 1 and by_status["failed"] >= 1
    assert set(by_status) == {"malformed", "succeeded", "failed"}
    # The unrun task's failures count under its own task type.
    failed = [d["TasksFailed"] for d in emf_lines(capsys.readouterr().out) if d.get("TaskType") == "report"]
    assert sum(failed) == by_status["failed"]


def test_batch_mode_retries_a_success_whose_record_could_not_be_written_and_deletes_it_once_recorded(
        make_team, capsys):
    from sqstask.backoff import Backoff

    from .test_metrics import emf_lines

    queue = make_team("wb6")
    refused = []

    def refuse_first_write(**_):
        if not refused:
            refused.append("BatchWriteItem")
            raise RuntimeError("table throttled")

    queue.dynamodb.meta.events.register("before-call.dynamodb.BatchWriteItem", refuse_first_write)
    ran = []
    queue.send("t", {}, group_id="g", task_id="unrecorded")
    worker = Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=1,
                    wait_seconds=0, backoff=Backoff(base=0, cap=0, jitter=0))
    with Running(worker, failures=1):
        wait_for(lambda: queue_empty(queue) and len(ran) == 2, "the run after the unwritten record", timeout=10)

    # Not deleted while unrecorded: SQS delivered it again, it ran again and its record was written.
    assert ran == ["unrecorded", "unrecorded"]
    assert worker.stats.by_status == {"failed": 1, "succeeded": 1}
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("unrecorded")["status"] == "COMPLETED"
    docs = [d for d in emf_lines(capsys.readouterr().out) if "TaskType" in d]
    assert {d["TaskType"] for d in docs} == {"t"}  # the unrecorded run counts as a failure of its own type
    assert sum(d.get("TasksFailed", 0) for d in docs) == 1


def test_batch_mode_dead_letters_a_task_whose_last_attempt_failed_and_deletes_its_message(make_team):
    queue = make_team("wb11")
    ran = []

    def handle(task):
        ran.append(task.task_id)
        raise RuntimeError("broken for good")

    queue.send("t", {}, group_id="g", task_id="doomed")
    worker = Worker(queue, handle, idempotency="batch", concurrency=1, wait_seconds=0, max_attempts=1)
    with Running(worker, failures=1):
        wait_for(lambda: queue_empty(queue) and ran, "the task to run and its message to be deleted")
    assert ran == ["doomed"]
    assert (worker.stats.dead_lettered, worker.stats.by_status) == (1, {"failed": 1})
    assert queue.sqs.get_queue_attributes(QueueUrl=queue.config.dlq_url, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1"
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("doomed")["status"] == "DEAD_LETTERED"


def test_batch_mode_deletes_at_once_when_the_last_records_are_written_and_nothing_else_is_held(make_team):
    queue = make_team("wb7", visibility_timeout=600)
    ran = []
    for n in range(3):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"q{n}")
    # ack_interval 60: only running out of work can send the partial delete batch this soon.
    worker = Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=2,
                    wait_seconds=0, ack_interval=60)
    with Running(worker):
        wait_for(lambda: queue_empty(queue), "the three deletes without waiting for a full batch", timeout=5)
        assert sorted(ran) == ["q0", "q1", "q2"]


def one_runs_while_the_other_finishes(queue, worker_options):
    """A worker running task "long" (held until released) and "short" (finished while "long" runs).

    Returns the worker, the release for "long" and a wait until "short" is done with.
    """
    long_started, release = threading.Event(), threading.Event()

    def handle(task):
        if task.task_id == "long":
            long_started.set()
            assert release.wait(WAIT_LIMIT), "the test never released the long task"
        else:
            assert long_started.wait(WAIT_LIMIT), "the long task never started"

    queue.send("t", {}, group_id="a", task_id="long")
    queue.send("t", {}, group_id="b", task_id="short")
    worker = Worker(queue, handle, idempotency="batch", concurrency=2, wait_seconds=0, **worker_options)

    def short_done():  # its thread is back in the pool, only "long" still runs
        wait_for(lambda: long_started.is_set() and worker._running == 1,
                 "the short task to finish while the long one runs")

    return worker, release, short_done


def test_batch_mode_records_a_finished_task_by_its_deadline_while_others_still_run(make_team):
    queue = make_team("wb13")
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    worker, release, short_done = one_runs_while_the_other_finishes(queue, {"ack_interval": 0.2})
    with Running(worker):
        try:
            short_done()
            wait_for(lambda: (store.get("short") or {}).get("status") == "COMPLETED",
                     "the short task's record, written by its deadline while the long task runs", timeout=5)
            assert (store.get("long") or {}).get("status") != "COMPLETED"
        finally:
            release.set()  # a failure above must not leave the stop waiting for the long task
        wait_for(lambda: queue_empty(queue), "both messages deleted")
    assert worker.stats.by_status == {"succeeded": 2}


def test_batch_mode_keeps_records_for_one_write_while_any_task_still_runs(make_team):
    queue = make_team("wb14", visibility_timeout=600)
    writes = count_calls(queue.dynamodb, "dynamodb")
    # ack_interval 60: only running out of work writes the records this soon.
    worker, release, short_done = one_runs_while_the_other_finishes(queue, {"ack_interval": 60})
    with Running(worker):
        try:
            short_done()
        finally:
            release.set()
        wait_for(lambda: queue_empty(queue), "both messages deleted once the worker ran out of work", timeout=5)
    assert writes.count("BatchWriteItem") == 1, writes  # both records in one write
    assert worker.stats.by_status == {"succeeded": 2}


def test_batch_mode_dead_letters_a_malformed_message_and_runs_the_rest_of_its_receive(make_team):
    queue = make_team("wb10")
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageGroupId="h", MessageDeduplicationId="bad",
                           MessageBody=json.dumps({"v": 99, "id": "x", "type": "t", "payload": {}}))
    queue.send("t", {}, group_id="g", task_id="good")
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), idempotency="batch", concurrency=1, wait_seconds=0)
    with Running(worker, failures=1):  # the malformed one
        wait_for(lambda: queue_empty(queue) and ran, "the good task to run and both messages to be deleted")
    assert ran == ["good"]
    assert worker.stats.by_status == {"malformed": 1, "succeeded": 1} and worker.stats.dead_lettered == 1
    assert queue.sqs.get_queue_attributes(QueueUrl=queue.config.dlq_url, AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"] == "1"


def test_batch_mode_settles_every_task_of_a_write_after_a_failed_one(make_team):
    from sqstask.backoff import Backoff

    queue = make_team("wb12", visibility_timeout=600)
    writes = count_calls(queue.dynamodb, "dynamodb")
    failed_once = []

    def handle(task):
        if task.task_id == "first" and not failed_once:
            failed_once.append(task.task_id)
            raise RuntimeError("fails once")

    queue.send("t", {}, group_id="a", task_id="first")
    queue.send("t", {}, group_id="b", task_id="second")
    # One thread: both run before the worker is out of work, so one BatchWriteItem records both.
    worker = Worker(queue, handle, idempotency="batch", concurrency=1, wait_seconds=0, ack_interval=60,
                    backoff=Backoff(base=0, cap=0, jitter=0))
    with Running(worker, failures=1):
        wait_for(lambda: queue_empty(queue), "both messages deleted after the retry", timeout=10)
    assert worker.stats.by_status == {"failed": 1, "succeeded": 2}
    assert writes.count("BatchWriteItem") == 2
