"""Exactly once under faults: each test makes one fault happen at a chosen moment and checks the
promises — each task id's handler runs once (or max_attempts times for a poison task), nothing
is lost, a group's tasks run in order, the DLQ holds exactly the tasks given up on, and the
records say what happened. The module prints a fault x outcome table at the end.

Faults are botocore event hooks (``fault_injection.Faults``) on moto's in-process clients.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import pytest
from fault_injection import Faults, updates

from sqstask import heartbeat as heartbeat_module
from sqstask.backoff import Backoff
from sqstask.dlq import DeadLetterQueue
from sqstask.handler import batch_handler
from sqstask.heartbeat import Heartbeat
from sqstask.idempotency import TaskStore
from sqstask.lambda_local import LambdaLocal
from sqstask.leases import LeaseKeeper
from sqstask.queue import TaskQueue
from sqstask.task import Task, TaskSpec, Then
from sqstask.worker import Worker

WAIT_LIMIT = 30.0
TABLE: list[dict[str, Any]] = []


def wait_for(condition, what, timeout=WAIT_LIMIT, interval=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


@pytest.fixture(scope="module", autouse=True)
def outcome_table(request):
    """Print the fault x outcome table once the module's tests ran."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or not TABLE:
        return
    header = ("fault", "tasks", "lost", "double runs", "out of order", "in DLQ", "AWS calls")
    rows = [header] + [
        (r["fault"], str(r["tasks"]), str(r["lost"]), str(r["double"]), str(r["disorder"]), str(r["dlq"]),
         str(r["calls"])) for r in TABLE
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    capture = request.config.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # teardown output is captured otherwise
        reporter.write_line("")
        reporter.write_line("fault x outcome (exactly once under faults; AWS calls: what the scenario cost under the fault)")
        for row in rows:
            reporter.write_line("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())


def record(fault: str, *, tasks: int, lost: int, double: int, disorder: int, dlq: int, calls: int) -> None:
    TABLE.append(dict(fault=fault, tasks=tasks, lost=lost, double=double, disorder=disorder, dlq=dlq, calls=calls))


def observe(fault: str, queue: TaskQueue, journal: Journal, allowed: dict[str, int],
            groups: dict[str, list[str]] | None = None, *, calls: int) -> None:
    """Add a table row measured from the journal, the task table and the DLQ.

    ``allowed`` is the runs each task id may have (1, or max_attempts for a poison task); a
    task is lost when it neither COMPLETED nor sits in the DLQ.
    """
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    in_dlq = dlq_task_ids(queue)
    lost = sum(1 for t in allowed if t not in in_dlq and (store.get(t) or {}).get("status") != "COMPLETED")
    double = sum(max(0, journal.runs[t] - n) for t, n in allowed.items()) + len(journal.overlaps)
    record(fault, tasks=len(allowed), lost=lost, double=double, disorder=journal.disorder(groups or {}),
           dlq=len(in_dlq), calls=calls)


class Journal:
    """What the handler saw: runs per task id, and the order of first runs per group."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.runs: Counter[str] = Counter()
        self.order: dict[str, list[str]] = {}
        self.concurrent: set[str] = set()
        self.overlaps: list[str] = []

    def enter(self, task: Task) -> None:
        with self.lock:
            if task.task_id in self.concurrent:
                self.overlaps.append(task.task_id)
            self.concurrent.add(task.task_id)
            self.runs[task.task_id] += 1
            if self.runs[task.task_id] == 1:
                self.order.setdefault(task.group_id, []).append(task.task_id)

    def leave(self, task: Task) -> None:
        with self.lock:
            self.concurrent.discard(task.task_id)

    def disorder(self, expected: dict[str, list[str]]) -> int:
        """Tasks whose first run came out of their group's send order."""
        count = 0
        for group, ids in expected.items():
            seen = [i for i in self.order.get(group, []) if i in ids]
            count += sum(1 for a, b in zip(seen, [i for i in ids if i in seen]) if a != b)
        return count


def dlq_task_ids(queue: TaskQueue) -> list[str]:
    """Task ids in the DLQ (read and released), via the operator's tool."""
    return sorted(letter.task_id for letter in DeadLetterQueue(queue).peek())


def queue_empty(queue: TaskQueue) -> bool:
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=queue.config.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) == 0 and int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0


def run_lambda_until_empty(queue: TaskQueue, handler, *, rounds: int = 30) -> LambdaLocal:
    """Invoke ``handler`` like an event source mapping until the queue is empty.

    Failed messages come back at once (their visibility timeout "passes" after each invocation).
    """
    local = LambdaLocal(queue, handler, wait_seconds=0, timeout=60)
    for _ in range(rounds):
        invocation = local.run_once(wait_seconds=0)
        if invocation is None and queue_empty(queue):
            return local
        _expire_in_flight(queue)
    pytest.fail(f"the queue was not empty after {rounds} invocations")


def _expire_in_flight(queue: TaskQueue) -> None:
    """End the visibility timeout of every in-flight message now (moto keeps the receipt handles)."""
    from moto.sqs.models import sqs_backends

    name = queue.config.queue_name
    for backend in sqs_backends.values():
        for region_backend in backend.values():
            sqs_queue = region_backend.queues.get(name)
            if sqs_queue is None:
                continue
            for message in sqs_queue._messages:
                message.change_visibility(-1)


class Running:
    """Runs a Worker on a thread; stops it and joins on exit."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.thread = threading.Thread(target=lambda: worker.run(install_signal_handlers=False), daemon=True)

    def __enter__(self) -> Worker:
        self.thread.start()
        return self.worker

    def __exit__(self, *exc: object) -> None:
        self.worker.stop(timeout=10)
        self.thread.join(30)
        assert not self.thread.is_alive(), "worker did not stop within 30 s"


# -- 1. a poison task must not dead-letter its group ---------------------------------------------


def test_a_poison_task_in_lambda_goes_to_the_dlq_alone_and_its_group_runs_in_order(make_team):
    queue = make_team("poison-l", max_receive_count=40, max_attempts=3)
    journal = Journal()

    @batch_handler(queue)
    def handle(task):
        journal.enter(task)
        journal.leave(task)
        if task.task_id == "m1":
            raise RuntimeError("poison")

    queue.send_many([TaskSpec("t", {"n": n}, "g", f"m{n}") for n in (1, 2, 3)])
    with Faults(queue.sqs, queue.dynamodb) as faults:
        run_lambda_until_empty(queue, handle)
        calls = sum(faults.calls.values())

    assert journal.runs == {"m1": 3, "m2": 1, "m3": 1}
    assert journal.order["g"] == ["m1", "m2", "m3"]
    assert dlq_task_ids(queue) == ["m1"]
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    assert store.get("m1")["status"] == "DEAD_LETTERED" and store.get("m1")["attempt"] == 3
    assert [store.get(t)["attempt"] for t in ("m2", "m3")] == [1, 1]  # handed back unrun: not attempts
    observe("handler raises (poison task), Lambda", queue, journal, {"m1": 3, "m2": 1, "m3": 1},
            {"g": ["m1", "m2", "m3"]}, calls=calls)


def test_a_poison_task_in_a_worker_goes_to_the_dlq_alone_and_its_group_runs_in_order(make_team):
    queue = make_team("poison-w", max_receive_count=40, max_attempts=3)
    journal = Journal()

    def handle(task):
        journal.enter(task)
        journal.leave(task)
        if task.task_id == "p":
            raise RuntimeError("poison")

    queue.send_many([TaskSpec("t", {}, "g", t) for t in ("p", "a", "b")])
    with Faults(queue.sqs, queue.dynamodb) as faults:
        worker = Worker(queue, handle, concurrency=2, wait_seconds=1, backoff=Backoff(base=0, jitter=0))
        with Running(worker):
            wait_for(lambda: journal.runs["b"] == 1 and queue_empty(queue), "the group to finish")
        calls = sum(faults.calls.values())

    assert journal.runs == {"p": 3, "a": 1, "b": 1}
    assert journal.order["g"] == ["p", "a", "b"]
    assert dlq_task_ids(queue) == ["p"]
    assert worker.stats.dead_lettered == 1
    observe("handler raises (poison task), Worker", queue, journal, {"p": 3, "a": 1, "b": 1},
            {"g": ["p", "a", "b"]}, calls=calls)


# -- 2. follow-ups that cannot be sent never re-run the handler ----------------------------------


def test_follow_ups_that_cannot_be_sent_are_sent_later_without_running_the_handler_again(make_team):
    queue = make_team("chain", max_receive_count=40)
    journal = Journal()

    @batch_handler(queue)
    def handle(task):
        journal.enter(task)
        journal.leave(task)
        if task.task_type == "parent":
            return Then("child", {"from": task.task_id})
        return None

    queue.send("parent", {}, group_id="g", task_id="parent-1")
    with Faults(queue.sqs, queue.dynamodb) as faults:
        faults.fail("SendMessageBatch", code="ServiceUnavailable", status=503, times=5)  # every retry of send_many
        local = LambdaLocal(queue, handle, wait_seconds=0, timeout=60)
        first = local.run_once(wait_seconds=0)
        assert first is not None and first.failed_ids  # kept for the follow-ups
        record_after_first = TaskStore(queue.dynamodb, queue.config.idempotency_table).get("parent-1")
        for _ in range(10):
            _expire_in_flight(queue)
            if local.run_once(wait_seconds=0) is None and queue_empty(queue):
                break
        calls = sum(faults.calls.values())

    assert record_after_first["status"] == "COMPLETED" and "follow_ups_pending" in record_after_first
    assert journal.runs == {"parent-1": 1, "parent-1.then-0": 1}
    record_now = TaskStore(queue.dynamodb, queue.config.idempotency_table).get("parent-1")
    assert record_now["status"] == "COMPLETED" and "follow_ups_pending" not in record_now
    observe("SendMessageBatch fails after the handler (follow-ups)", queue, journal,
            {"parent-1": 1, "parent-1.then-0": 1}, {"g": ["parent-1", "parent-1.then-0"]}, calls=calls)


# -- 3. leases hold while SQS refuses to extend visibility ----------------------------------------


def test_a_lease_holds_while_visibility_extensions_are_throttled(make_team, atomic_dynamodb_writes):
    queue = make_team("lease", visibility_timeout=2)
    journal = Journal()
    release = threading.Event()

    def handle(task):
        journal.enter(task)
        try:
            release.wait(6)  # three visibility timeouts
        finally:
            journal.leave(task)

    queue.send("long", {}, group_id="g", task_id="long-1")
    with Faults(queue.sqs, queue.dynamodb) as faults:
        faults.fail("ChangeMessageVisibilityBatch", when=lambda p: any(e["VisibilityTimeout"] > 0
                                                                       for e in p["Entries"]))
        first = Worker(queue, handle, concurrency=1, prefetch=0, wait_seconds=1)  # holds only the running one
        second = Worker(queue, handle, concurrency=1, prefetch=0, wait_seconds=1)
        with Running(first):
            wait_for(lambda: journal.runs["long-1"] == 1, "the task to start")
            with Running(second):
                # The message becomes visible again after 2 s; the second worker receives it and
                # must find a live lease (renewed without SQS) instead of running it again.
                wait_for(lambda: second.stats.by_status.get("in-progress", 0) >= 1,
                         "a redelivery to meet the live lease")
                faults.clear()
                release.set()
                wait_for(lambda: queue_empty(queue), "the task to be deleted")
        calls = sum(faults.calls.values())

    assert journal.runs == {"long-1": 1} and journal.overlaps == []
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("long-1")["status"] == "COMPLETED"
    observe("ChangeMessageVisibilityBatch throttled during a long task", queue, journal, {"long-1": 1},
            calls=calls)


def _renewal_of(task_id: str):
    return lambda p: p.get("UpdateExpression") == "SET lease_expires_at = :lease" and p["Key"]["task_id"]["S"] == task_id


def _claims(store: TaskStore, ids: list[str], lease: float):
    return [
        store.claim(Task(task_id=i, task_type="t", payload={}, group_id=i, receive_count=1, message_id=f"m-{i}",
                         sent_at=None), lease_seconds=lease)
        for i in ids
    ]


def test_one_failing_renewal_does_not_skip_the_others(make_team):
    queue = make_team("renew")
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    claims = _claims(store, ["r1", "r2", "r3"], 3)
    before = {c.task_id: store.get(c.task_id)["lease_expires_at"] for c in claims}
    with Faults(queue.dynamodb) as faults:
        faults.fail("UpdateItem", when=_renewal_of("r1"))
        keeper = LeaseKeeper(store, lease_seconds=3, schedule=lambda age: 0.3).start()
        for claim in claims:
            keeper.add(claim)
        try:
            wait_for(lambda: all(store.get(i)["lease_expires_at"] > before[i] + 1 for i in ("r2", "r3")),
                     "r2 and r3 to be renewed")
        finally:
            keeper.stop()
        calls = sum(faults.calls.values())
    assert store.get("r1")["lease_expires_at"] == before["r1"]
    assert keeper.failures >= 1
    lapsed = sum(1 for i in ("r2", "r3") if store.get(i)["lease_expires_at"] <= before[i])
    record("UpdateItem renewal of one lease fails (lost: healthy leases not renewed)", tasks=3, lost=lapsed,
           double=0, disorder=0, dlq=0, calls=calls)


def test_a_slow_renewal_does_not_delay_visibility_extensions(make_team):
    queue = make_team("slow", visibility_timeout=3)
    journal = Journal()
    extensions: list[float] = []

    def handle(task):
        journal.enter(task)
        time.sleep(4)
        journal.leave(task)

    queue.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch",
                                   lambda **_: extensions.append(time.monotonic()))
    queue.send("long", {}, group_id="g", task_id="slow-1")
    with Faults(queue.sqs, queue.dynamodb) as faults:
        faults.delay("UpdateItem", 3, when=lambda p: p.get("UpdateExpression") == "SET lease_expires_at = :lease")
        # A fixed window (max = the timeout) so the heartbeat's cadence is one extension a second.
        worker = Worker(queue, handle, concurrency=1, wait_seconds=1, heartbeat_interval=1, heartbeat_max_window=3)
        with Running(worker):
            wait_for(lambda: journal.runs["slow-1"] == 1 and queue_empty(queue), "the task to finish")
        calls = sum(faults.calls.values())
    # The heartbeat extended every second or so although each renewal took 3 s.
    assert len(extensions) >= 3
    assert max(b - a for a, b in zip(extensions, extensions[1:])) < 2.5
    assert journal.runs == {"slow-1": 1}
    observe("UpdateItem renewals delayed 3 s", queue, journal, {"slow-1": 1}, calls=calls)


# -- 5. raw messages keep their task id across the DLQ --------------------------------------------


def test_a_raw_message_keeps_its_task_id_through_the_dlq_and_back(make_team):
    queue = make_team("raw", max_attempts=1)
    journal = Journal()
    broken = {"yes": True}

    @batch_handler(queue)
    def handle(task):
        journal.enter(task)
        journal.leave(task)
        if broken["yes"]:
            raise RuntimeError("not yet")

    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody="plain text from another producer",
                           MessageGroupId="g", MessageDeduplicationId="raw-1")
    LambdaLocal(queue, handle, wait_seconds=0, timeout=60).run_once(wait_seconds=0)
    assert dlq_task_ids(queue) == ["raw-1"]

    broken["yes"] = False
    report = DeadLetterQueue(queue, sleep=lambda s: None).redrive(method="receive")
    assert report.moved == 1
    run_lambda_until_empty(queue, handle)

    assert journal.runs == {"raw-1": 2}  # the one failed attempt and the run after the redrive
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("raw-1")["status"] == "COMPLETED"
    observe("raw message dead-lettered and redriven", queue, journal, {"raw-1": 2}, calls=0)


def test_a_crash_between_the_dlq_copy_and_the_delete_does_not_run_the_task_again(make_team):
    queue = make_team("crash", max_attempts=1)
    journal = Journal()

    @batch_handler(queue)
    def handle(task):
        journal.enter(task)
        journal.leave(task)
        raise RuntimeError("poison")

    queue.send("t", {}, group_id="g", task_id="c-1")
    with Faults(queue.sqs) as faults:
        faults.fail("DeleteMessageBatch", code="InternalError", status=500, times=1)  # the delete after the copy
        local = LambdaLocal(queue, handle, wait_seconds=0, timeout=60)
        local.run_once(wait_seconds=0)
        _expire_in_flight(queue)
        local.run_once(wait_seconds=0)
        calls = sum(faults.calls.values())
    assert journal.runs == {"c-1": 1}
    assert queue_empty(queue)
    assert dlq_task_ids(queue) == ["c-1"]  # the second copy was absorbed by its deduplication id
    observe("DeleteMessage fails after the DLQ copy", queue, journal, {"c-1": 1}, calls=calls)


# -- 6. complete() under faults ------------------------------------------------------------------


def test_complete_is_retried_when_the_task_table_throttles(make_team):
    queue = make_team("complete")
    journal = Journal()

    @batch_handler(queue)
    def handle(task):
        journal.enter(task)
        journal.leave(task)

    queue.send("t", {}, group_id="g", task_id="k-1")
    queue.send("t", {}, group_id="g", task_id="k-1")  # a duplicate right behind it (deduplicated by SQS)
    with Faults(queue.dynamodb) as faults:
        faults.fail("UpdateItem", code="ProvisionedThroughputExceededException", when=updates("COMPLETED"), times=3)
        run_lambda_until_empty(queue, handle)
        calls = sum(faults.calls.values())
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("k-1")["status"] == "COMPLETED"
    assert journal.runs == {"k-1": 1}
    observe("UpdateItem COMPLETED throttled 3 times", queue, journal, {"k-1": 1}, calls=calls)


def test_a_completed_record_never_shows_a_lease_thiefs_error(make_team):
    queue = make_team("thief")
    now = [1000.0]
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table, clock=lambda: now[0])
    task = Task(task_id="x", task_type="t", payload={}, group_id="g", receive_count=1, message_id="m1", sent_at=None)
    mine = store.claim(task, lease_seconds=10)
    now[0] += 60  # my lease lapsed (e.g. a long pause); another consumer takes over and fails
    thief = store.claim(Task(task_id="x", task_type="t", payload={}, group_id="g", receive_count=2,
                             message_id="m1", sent_at=None), lease_seconds=10)
    assert store.fail(thief, RuntimeError("thief failed"))
    store.complete(mine, result="done")
    stored = store.get("x")
    assert stored["status"] == "COMPLETED" and "error" not in stored and "error_type" not in stored


# -- 7. send_many keeps group order under faults -------------------------------------------------


def test_send_many_keeps_group_order_when_a_call_fails(make_team):
    queue = make_team("order")
    tasks = [TaskSpec("t", {"n": n}, g, f"{g}{n}") for n in range(4) for g in ("a", "b")]
    with Faults(queue.sqs) as faults:
        faults.fail("SendMessageBatch", code="ServiceUnavailable", status=503, after=1, times=1)
        result = queue.send_many(tasks)
        calls = sum(faults.calls.values())
    assert result.ok
    received: dict[str, list[int]] = {}
    while True:
        messages = queue.receive(max_messages=10, wait_seconds=0)
        if not messages:
            break
        for message in messages:
            task = queue.to_task(message)
            received.setdefault(task.group_id, []).append(task.payload["n"])
        queue.delete_many(messages)
    assert received == {"a": [0, 1, 2, 3], "b": [0, 1, 2, 3]}
    got = [(group, n) for group, ns in received.items() for n in ns]
    record("SendMessageBatch fails mid send_many", tasks=8, lost=8 - len(set(got)), double=len(got) - len(set(got)),
           disorder=sum(ns != sorted(ns) for ns in received.values()), dlq=0, calls=calls)


# -- 8. the dry run tells the truth about FIFO groups --------------------------------------------


def test_a_dry_run_on_a_fifo_dlq_counts_what_a_real_run_moves(make_team):
    queue = make_team("dry")
    for n in range(25):
        queue.sqs.send_message(QueueUrl=queue.config.dlq_url, MessageBody=f'{{"n": {n}}}', MessageGroupId="g",
                               MessageDeduplicationId=f"d{n}")
    dlq = DeadLetterQueue(queue, sleep=lambda s: None)
    dry = dlq.redrive(dry_run=True)
    real = dlq.redrive(method="receive")
    assert dry.matched + dry.behind == real.moved == 25


# -- 9. shutdown always runs ---------------------------------------------------------------------


def test_an_aborted_worker_still_releases_its_messages_and_stops_its_threads(make_team):
    queue = make_team("abort")
    started = threading.Event()
    release = threading.Event()

    def handle(task):
        started.set()
        release.wait(10)

    queue.send_many([TaskSpec("t", {}, g, f"x-{g}") for g in ("a", "b")])
    receives = {"n": 0}

    def abort_second_receive(**_):
        receives["n"] += 1
        if receives["n"] >= 2 and started.is_set():
            raise KeyboardInterrupt

    queue.sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage", abort_second_receive,
                                   unique_id="abort")
    worker = Worker(queue, handle, concurrency=1, wait_seconds=0, prefetch=20, shutdown_timeout=1)
    try:
        with pytest.raises(KeyboardInterrupt):
            worker.run(install_signal_handlers=False)
    finally:
        queue.sqs.meta.events.unregister("provide-client-params.sqs.ReceiveMessage", unique_id="abort")
        release.set()
    assert not worker._heartbeat.running
    visible = queue.sqs.get_queue_attributes(QueueUrl=queue.config.queue_url,
                                             AttributeNames=["ApproximateNumberOfMessages"])["Attributes"]
    handed_back = int(visible["ApproximateNumberOfMessages"])
    assert handed_back == 2  # both handed back at once
    record("KeyboardInterrupt in the receive loop (lost: held messages not handed back)", tasks=2,
           lost=2 - handed_back, double=0, disorder=0, dlq=0, calls=receives["n"])


def test_restarting_a_heartbeat_whose_stop_timed_out_runs_one_thread(make_team, monkeypatch):
    queue = make_team("restart")
    monkeypatch.setattr(heartbeat_module, "_JOIN_TIMEOUT", 0.1)
    queue.send("t", {}, group_id="g", task_id="h-1")
    [message] = queue.receive(wait_seconds=0)
    with Faults(queue.sqs) as faults:
        faults.delay("ChangeMessageVisibilityBatch", 1.5, times=1)
        beat = Heartbeat(queue, [message], visibility_timeout=3, interval=0.2).start()
        wait_for(lambda: faults.injected["ChangeMessageVisibilityBatch"] == 1, "an extension to hang")
        beat.stop()  # gives up waiting after 0.1 s: the thread is still in its call
        beat.start()
        alive = [t for t in threading.enumerate() if t.name == "sqstask-heartbeat" and t.is_alive()]
        assert len(alive) == 1
        wait_for(lambda: faults.calls["ChangeMessageVisibilityBatch"] >= 3, "extensions to go on")
        beat.stop()
