"""Worker: long-poll consumer with a thread pool, per-group order, heartbeats, backoff and drain."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time

import pytest

from sqstask import TaskQueue
from sqstask.backoff import Backoff
from sqstask.handler import IN_PROGRESS, Outcome, batch_handler
from sqstask.idempotency import Claim, TaskStore
from sqstask.task import encode_envelope, task_attributes
from sqstask.queue import QUEUE_URL_KEY
from sqstask.worker import EXIT_ABANDONED, Worker, _Acker

WAIT_LIMIT = 15.0

# Workers started by ``with Running(...)`` and not yet stopped: wait_for checks them each poll.
_RUNNING: list[Running] = []


def wait_for(condition, what, timeout=WAIT_LIMIT, interval=0.05):
    """Poll ``condition`` until true; fail with ``what`` after ``timeout`` seconds.

    Fails at once, instead of at the timeout, when a running worker has gone wrong in a way the
    condition cannot outwait: its ``run()``, one of its pool's threads, its acknowledger or its
    batch recorder ended, or it counted more failed tasks than the test causes
    (``Running(..., failures=N)``).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        problem = next((p for running in _RUNNING if (p := running.problem())), None)
        if problem and not condition():  # the condition again: it may have come true meanwhile
            pytest.fail(f"{problem} while waiting for {what}")
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def wait_until(condition, timeout, interval=0.02):
    """Poll ``condition`` for up to ``timeout`` seconds; return whether it came true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
    return True


def run_to_end(worker, timeout=WAIT_LIMIT, **run_kwargs):
    """``worker.run(**run_kwargs)`` on this thread; its exit status. A run still going after
    ``timeout`` seconds is a wrong result: the worker is stopped and the test fails, instead of hanging."""
    late = threading.Event()

    def stop():
        late.set()
        worker.stop(0)

    timer = threading.Timer(timeout, stop)
    timer.daemon = True
    timer.start()
    try:
        return worker.run(**run_kwargs)
    finally:
        timer.cancel()
        if late.is_set():
            pytest.fail(f"worker.run() did not return within {timeout:.0f}s; the test stopped it")


class Running:
    """Runs a Worker on a thread; stops it and joins on exit.

    ``failures``: how many failed tasks the test causes on purpose (None: any number). A failed
    task beyond those is a wrong result that ``wait_for`` reports at once.
    """

    def __init__(self, worker, *, failures=0):
        self.worker = worker
        self.failures = failures
        self.result = None
        self.error = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        try:
            self.result = self.worker.run(install_signal_handlers=False)
        except BaseException as exc:  # reported by problem() and __exit__, not lost on the thread
            self.error = exc

    def problem(self):
        """Why waiting on this worker cannot end well, or None."""
        ended_by_itself = not self.worker.stopping and self.worker.idle_exit is None
        if not self.thread.is_alive() and (ended_by_itself or self.error is not None):
            return f"the worker's run() {f'raised {self.error!r}' if self.error else f'returned {self.result!r}'}"
        # the pool's threads end only once a stop was asked for: one that ended before died of a bug
        # (the acknowledger's and the batch recorder's threads too: a bug there stalls every task quietly)
        helpers = [helper._thread for helper in (self.worker._acker, self.worker._recorder) if helper is not None]
        dead = [thread.name for thread in [*self.worker._threads, *helpers]
                if thread.ident is not None and not thread.is_alive()]
        if dead and not self.worker.stopping:
            return f"the worker's thread(s) {', '.join(dead)} ended before any stop"
        if self.failures is not None and self.worker.stats.failed > self.failures:
            return f"the worker counted {self.worker.stats.failed} failed task(s) (outcomes {self.worker.stats.by_status})"
        return None

    def join(self, timeout=WAIT_LIMIT):
        """Wait for ``run()`` to return after a stop; fail if it has not within ``timeout`` seconds."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), f"run() did not return within {timeout:.0f}s of the stop"

    def __enter__(self):
        _RUNNING.append(self)
        self.thread.start()
        return self.worker

    def __exit__(self, *exc):
        _RUNNING.remove(self)
        self.worker.stop(timeout=10)
        self.join(30)  # past the stop's own 10 s
        assert self.error is None, f"the worker's run() raised {self.error!r}"


def queue_counts(queue, url=None):
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=url or queue.config.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def queue_empty(queue):
    return queue_counts(queue) == (0, 0)


def test_worker_runs_every_task_once_and_deletes_it(make_team):
    queue = make_team("w1")
    ran = []
    for n in range(5):
        queue.send("t", {"n": n}, group_id=f"g{n % 2}", task_id=f"t{n}")

    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=2, wait_seconds=0)
    with Running(worker):
        wait_for(lambda: len(ran) >= 5, "all 5 tasks to run")
    # Stopping flushes the pending deletes: a wrong count or a leftover message fails here at once.
    assert queue_empty(queue)
    assert (worker.stats.received, worker.stats.succeeded, worker.stats.by_status) == (5, 5, {"succeeded": 5})
    assert sorted(ran) == [f"t{n}" for n in range(5)]
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    assert all(store.get(f"t{n}")["status"] == "COMPLETED" for n in range(5))


def test_tasks_of_one_group_run_in_order_one_at_a_time_while_groups_run_in_parallel(make_team):
    queue = make_team("w2")
    lock = threading.Lock()
    log = []
    running_groups = []
    b_started = threading.Event()

    def handle(task):
        with lock:
            assert task.group_id not in running_groups, f"two tasks of group {task.group_id} ran at once"
            running_groups.append(task.group_id)
            log.append(task.task_id)
        if task.task_id == "a0":
            # Group A's first task waits for group B to start: proves the groups run in parallel.
            assert b_started.wait(20), "group B did not start while group A was running"
        if task.group_id == "B":
            b_started.set()
        time.sleep(0.05)
        with lock:
            running_groups.remove(task.group_id)

    for n in range(3):
        queue.send("t", {}, group_id="A", task_id=f"a{n}")
    for n in range(3):
        queue.send("t", {}, group_id="B", task_id=f"b{n}")

    worker = Worker(queue, handle, concurrency=3, wait_seconds=0)
    with Running(worker):
        wait_for(lambda: len(log) >= 6, "all 6 tasks")
    assert queue_empty(queue)

    assert [t for t in log if t.startswith("a")] == ["a0", "a1", "a2"]
    assert [t for t in log if t.startswith("b")] == ["b0", "b1", "b2"]
    assert worker.stats.failed == 0


def test_failing_task_is_retried_with_growing_delays_then_moved_to_the_dlq(make_team, caplog):
    queue = make_team("w3", max_receive_count=100)  # the backstop never decides here
    attempts = []
    delays = []

    def record_delays(params, **_):
        # Record the delay the worker asks for, then let SQS return the message at once: that
        # SQS honours a visibility timeout is SQS's behaviour, not the worker's.
        for entry in params["Entries"]:
            delays.append(entry["VisibilityTimeout"])
            entry["VisibilityTimeout"] = 0

    queue.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch", record_delays)

    def handle(task):
        attempts.append(task.receive_count)
        raise RuntimeError("always broken")

    queue.send("poison", {}, group_id="g", task_id="p1")
    worker = Worker(queue, handle, concurrency=1, wait_seconds=0, backoff=Backoff(base=1, cap=60, jitter=0),
                    max_attempts=4)
    with caplog.at_level(logging.INFO, logger="sqstask"), Running(worker, failures=4):
        wait_for(lambda: queue_counts(queue, queue.config.dlq_url)[0] == 1, "the task to reach the DLQ")
        wait_for(lambda: queue_counts(queue, queue.config.queue_url) == (0, 0), "the original to be deleted")

    assert attempts == [1, 2, 3, 4]
    assert delays == [1, 2, 4]  # exponential over attempts; the last attempt goes to the DLQ, not back
    stats = worker.stats
    assert (stats.received, stats.succeeded, stats.failed, stats.dead_lettered) == (4, 0, 4, 1)
    assert stats.by_status == {"failed": 4}
    record = TaskStore(queue.dynamodb, queue.config.idempotency_table).get("p1")
    assert record["status"] == "DEAD_LETTERED" and record["error"] == "always broken" and record["attempt"] == 4
    gave_up = [json.loads(r.getMessage()) for r in caplog.records if '"gave-up"' in r.getMessage()]
    assert [(e["task_id"], e["attempts"], e["max_attempts"]) for e in gave_up] == [("p1", 4, 4)]


def test_two_workers_never_run_the_same_task_concurrently(make_team, atomic_dynamodb_writes):
    # Each task id arrives twice (as after a redrive), in different groups, so both workers can
    # receive copies at the same time. Tasks outlast the visibility timeout: the heartbeat must
    # keep both the message and the idempotency lease alive.
    queue = make_team("w4", visibility_timeout=2)
    lock = threading.Lock()
    running = set()
    runs = []
    overlaps = []

    def handle(task):
        with lock:
            if task.task_id in running:
                overlaps.append(task.task_id)
            running.add(task.task_id)
            runs.append(task.task_id)
        time.sleep(2.5)
        with lock:
            running.discard(task.task_id)

    task_ids = ["x", "y", "z"]
    for task_id in task_ids:
        for copy in (1, 2):
            queue.sqs.send_message(
                QueueUrl=queue.config.queue_url,
                MessageBody=encode_envelope(task_id, "t", {"id": task_id}),
                MessageAttributes=task_attributes(task_id, "t"),
                MessageGroupId=f"{task_id}-{copy}",
                MessageDeduplicationId=f"{task_id}-{copy}",
            )

    first = Worker(queue, handle, concurrency=3, wait_seconds=0, heartbeat_interval=0.5)
    second = Worker(queue, handle, concurrency=3, wait_seconds=0, heartbeat_interval=0.5)
    # a task the other worker holds fails with "in progress" and is retried: any number of times
    with Running(first, failures=None), Running(second, failures=None):
        wait_for(
            lambda: first.stats.succeeded + second.stats.succeeded == 3
            and first.stats.duplicates + second.stats.duplicates >= 3,
            "3 runs and 3 skipped duplicates",
        )
    # Stopping flushes every pending delete: nothing may be left, duplicates included.
    assert queue_counts(queue) == (0, 0)

    assert overlaps == []
    assert sorted(runs) == task_ids
    assert first.stats.duplicates + second.stats.duplicates == 3


def test_batch_handler_function_runs_in_the_worker_unchanged(make_team):
    queue = make_team("w5")
    ran = []

    @batch_handler(queue)
    def handle(task):
        ran.append(task.payload)

    queue.send("t", {"same": "code"}, group_id="g")
    with Running(Worker(queue, handle, concurrency=1, wait_seconds=0)):
        wait_for(lambda: ran, "the task to run")

    assert ran == [{"same": "code"}]
    assert queue_empty(queue)


def test_failed_task_releases_the_rest_of_its_group_which_then_runs_in_order(make_team):
    queue = make_team("w6")
    log = []
    failed_once = []

    def handle(task):
        log.append(task.task_id)
        if task.task_id == "a0" and not failed_once:
            failed_once.append(True)
            raise RuntimeError("transient")

    for n in range(3):
        queue.send("t", {}, group_id="A", task_id=f"a{n}")
    worker = Worker(queue, handle, concurrency=2, wait_seconds=0, backoff=Backoff(base=0, cap=0, jitter=0))
    with Running(worker, failures=1):
        wait_for(lambda: len(log) >= 4, "the group to finish after the retry")
    assert queue_empty(queue)

    assert log == ["a0", "a0", "a1", "a2"]


def test_stop_finishes_running_tasks_and_releases_unstarted_ones(make_team):
    queue = make_team("w7", visibility_timeout=60)
    started = []
    finished = []
    release = threading.Event()

    def handle(task):
        started.append(task.task_id)
        assert release.wait(20), "the test never let the task finish"
        finished.append(task.task_id)

    for n in range(5):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")
    worker = Worker(queue, handle, concurrency=2, prefetch=3, wait_seconds=0)
    runner = Running(worker)
    with runner:
        wait_for(lambda: len(started) == 2 and len(worker._held) == 5, "2 running and 3 waiting tasks")
        worker.stop(timeout=20)
        wait_for(lambda: queue_counts(queue)[0] == 3, "the 3 unstarted tasks to be visible again")
        release.set()
        runner.join()

    assert runner.result == 0 and worker.stats.released == 3
    assert sorted(finished) == sorted(started) and len(finished) == 2
    assert queue_counts(queue) == (3, 0)  # finished ones deleted, unstarted ones visible


def test_worker_without_task_table_refuses_to_start_with_a_clear_error(make_team):
    from sqstask.exceptions import ConfigError

    queue = make_team("w8", table=False)

    with pytest.raises(ConfigError, match="idempotency=False"):
        Worker(queue, lambda task: None)


def test_idle_exit_returns_zero_when_the_queue_stays_empty(make_team):
    queue = make_team("w9")
    worker = Worker(queue, lambda task: None, wait_seconds=0, idle_exit=0.2)

    assert run_to_end(worker, install_signal_handlers=False) == 0


def record_batches(queue, operation, field):
    """Record ``field`` of every ``operation`` request the queue's SQS client makes (a list, in call order)."""
    seen = []

    def record(params, **_):
        value = params[field]
        seen.append(len(value) if isinstance(value, list) else value)

    queue.sqs.meta.events.register(f"provide-client-params.sqs.{operation}", record)
    return seen


class Gate:
    """A handler whose task ``blocked_id`` waits until ``open()``; every other task returns at once."""

    def __init__(self, blocked_id):
        self.blocked_id = blocked_id
        self.started = threading.Event()
        self._open = threading.Event()
        self.ran = []

    def __call__(self, task):
        if task.task_id == self.blocked_id:
            self.started.set()
            assert self._open.wait(30), "the test never opened the gate"
        self.ran.append(task.task_id)

    def open(self):
        self._open.set()


def test_worker_receives_full_batches_of_ten_with_the_default_prefetch(make_team):
    queue = make_team("w10")
    asked = record_batches(queue, "ReceiveMessage", "MaxNumberOfMessages")
    ran = []
    for n in range(25):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")

    with Running(Worker(queue, lambda task: ran.append(task.task_id), concurrency=2, wait_seconds=0)):
        wait_for(lambda: len(ran) >= 25, "all 25 tasks to run")
    assert queue_empty(queue) and len(ran) == 25

    assert asked and set(asked) == {10}  # never just the 1 or 2 slots a finished task frees


def test_deletes_go_out_in_full_batches_of_ten_and_the_rest_when_the_worker_runs_out_of_work(make_team):
    queue = make_team("w11", visibility_timeout=600)
    deleted = record_batches(queue, "DeleteMessageBatch", "Entries")
    gate = Gate("t0")
    for n in range(12):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")

    worker = Worker(queue, gate, concurrency=2, wait_seconds=0, ack_interval=60)
    with Running(worker):
        wait_for(lambda: len(gate.ran) == 11 and worker.stats.succeeded == 11, "the 11 quick tasks to finish")
        wait_for(lambda: deleted == [10], "one full DeleteMessageBatch")
        assert queue_counts(queue) == (0, 2)  # t0 still running; one finished task waits for a batch
        gate.open()
        wait_for(lambda: queue_empty(queue), "the last two deletes once nothing is left to run", timeout=10)

    assert deleted == [10, 2]


def test_a_partial_batch_is_deleted_once_its_oldest_message_waited_ack_interval(make_team):
    queue = make_team("w12", visibility_timeout=600)
    deleted = record_batches(queue, "DeleteMessageBatch", "Entries")
    gate = Gate("t0")
    for n in range(2):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")

    worker = Worker(queue, gate, concurrency=2, wait_seconds=0, ack_interval=0.5)
    with Running(worker):
        wait_for(gate.started.is_set, "t0 to start")
        # t0 keeps the worker busy, so only the deadline can send t1's delete.
        wait_for(lambda: queue_counts(queue) == (0, 1), "t1's delete while t0 still runs", timeout=10)
        assert deleted == [1]
        gate.open()


def test_a_finished_message_stays_under_the_heartbeat_until_its_delete_is_sent(make_team):
    queue = make_team("w13", visibility_timeout=600)
    gate = Gate("t0")
    for n in range(2):
        queue.send("t", {}, group_id=f"g{n}", task_id=f"t{n}")

    worker = Worker(queue, gate, concurrency=2, wait_seconds=0, ack_interval=60)
    with Running(worker):
        wait_for(lambda: worker.stats.succeeded == 1, "t1 to finish while t0 runs")
        assert len(worker._heartbeat) == 2  # t0 running, t1 waiting for its delete
        gate.open()
        wait_for(lambda: queue_empty(queue), "both deletes", timeout=10)
        assert len(worker._heartbeat) == 0


def test_ack_deadline_stays_well_inside_the_visibility_timeout(make_team):
    queue = make_team("w14", visibility_timeout=600)

    assert Worker(queue, lambda task: None).ack_deadline == 1.0
    assert Worker(queue, lambda task: None, visibility_timeout=8, ack_interval=30).ack_deadline == 2.0
    assert Worker(queue, lambda task: None, visibility_timeout=8, heartbeat_interval=6).ack_deadline == 1.0
    # A retried message is off the heartbeat: its change must go out before what one beat left runs out.
    assert Worker(queue, lambda task: None, visibility_timeout=8, heartbeat_interval=7,
                  ack_interval=30).ack_deadline == 0.5
    assert Worker(queue, lambda task: None, ack_interval=0).ack_deadline == 0.0


def test_a_worker_s_defaults_are_the_documented_ones(make_team):
    from sqstask.handler import LEASE_MODE

    queue = make_team("w41", visibility_timeout=600)
    worker = Worker(queue, lambda task: None)
    assert (worker.concurrency, worker.wait_seconds, worker.shutdown_timeout, worker.ack_interval) == (4, 20, 30.0, 1.0)
    assert (worker.fifo, worker.heartbeat_enabled, worker.lower_tier_share) == (True, True, 0.1)
    assert worker.runner.mode == LEASE_MODE and worker.visibility_timeout == 600
    assert worker.backoff == Backoff()  # 5 s doubling up to 900 s, half jittered
    assert worker.max_held == 4 + 10  # concurrency plus a full receive batch prefetched


def test_a_thread_with_nothing_to_run_gets_a_receive_even_when_less_than_a_batch_fits(make_team):
    queue = make_team("w15", visibility_timeout=600)
    gate = Gate("slow")
    queue.send("t", {}, group_id="A", task_id="slow")

    # prefetch 0: two slots, one taken by the slow task, so a full batch (2) never fits while it runs.
    worker = Worker(queue, gate, concurrency=2, prefetch=0, wait_seconds=0)
    with Running(worker):
        wait_for(gate.started.is_set, "the slow task to start")
        queue.send("t", {}, group_id="B", task_id="quick")
        wait_for(lambda: "quick" in gate.ran, "the idle thread to receive and run the quick task")
        gate.open()

    assert gate.ran == ["quick", "slow"]


class ScriptedReceives:
    """A real SQS client whose first ReceiveMessage answers come from ``steps`` (callables
    returning messages); after them it answers with no messages. ``calls`` holds each
    ReceiveMessage's arguments."""

    def __init__(self, client, steps):
        self.client = client
        self.steps = list(steps)
        self.calls = []

    def __getattr__(self, name):
        return getattr(self.client, name)

    def receive_message(self, **kwargs):
        self.calls.append(kwargs)
        if self.steps:
            return {"Messages": self.steps.pop(0)()}
        time.sleep(min(0.2, kwargs.get("WaitTimeSeconds", 0)))
        return {"Messages": []}


def test_a_later_message_of_a_running_group_waits_even_when_it_arrives_while_the_group_runs(make_team, aws):
    # SQS can hand out the next message of a group once the previous one's delete went out,
    # before the worker thread that ran it has let go of the group: the worker must still hold it.
    base = make_team("w16", visibility_timeout=600)
    for n in range(2):
        base.send("t", {}, group_id="G", task_id=f"g{n}")
    early = base.receive(max_messages=10, wait_seconds=1)
    assert [base.to_task(m).task_id for m in early] == ["g0", "g1"]
    g0_started = threading.Event()
    g1_started = threading.Event()
    lock = threading.Lock()
    running, overlaps, ran = set(), [], []

    def handle(task):
        with lock:
            overlaps.extend((task.task_id, other) for other in running)
            running.add(task.task_id)
        if task.task_id == "g0":
            g0_started.set()
            g1_started.wait(0.3)  # a wrongly started g1 shows up at once; else g0 ends after 0.3 s
        else:
            g1_started.set()
        with lock:
            running.discard(task.task_id)
            ran.append(task.task_id)

    def g1_while_g0_runs():
        wait_for(g0_started.is_set, "g0 to start")
        return [early[1]]

    sqs = ScriptedReceives(aws.client("sqs"), [lambda: [early[0]], g1_while_g0_runs])
    queue = TaskQueue(config=base.config, sqs_client=sqs, dynamodb_client=base.dynamodb, s3_client=base.s3)
    worker = Worker(queue, handle, concurrency=2, wait_seconds=0)
    with Running(worker):
        wait_for(lambda: len(ran) == 2, "both tasks of the group")

    assert overlaps == []
    assert ran == ["g0", "g1"]
    assert queue_counts(base) == (0, 0)


def test_a_duplicate_of_a_completed_task_is_deleted_without_running_it(make_team):
    queue = make_team("w17")
    ran = []
    queue.send("t", {"n": 1}, group_id="g", task_id="d1")
    first = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0, idle_exit=0.2)
    assert run_to_end(first, install_signal_handlers=False) == 0
    # The same task twice again (as after redrives), past SQS's deduplication.
    for copy in ("again", "once-more"):
        queue.sqs.send_message(
            QueueUrl=queue.config.queue_url,
            MessageBody=encode_envelope("d1", "t", {"n": 1}),
            MessageAttributes=task_attributes("d1", "t"),
            MessageGroupId="g",
            MessageDeduplicationId=f"d1-{copy}",
        )
    deleted = record_batches(queue, "DeleteMessageBatch", "Entries")

    second = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0, idle_exit=0.2)
    assert run_to_end(second, install_signal_handlers=False) == 0

    assert ran == ["d1"]
    assert (second.stats.duplicates, second.stats.succeeded, second.stats.failed) == (2, 0, 0)
    assert second.stats.by_status == {"duplicate": 2} and second.stats.dead_lettered == 0
    assert sum(deleted) == 2
    assert queue_counts(queue) == (0, 0)


def test_run_returns_exit_abandoned_when_a_task_outlives_the_shutdown_deadline(make_team, monkeypatch):
    thread_errors = []
    monkeypatch.setattr(threading, "excepthook", thread_errors.append)
    queue = make_team("w18", visibility_timeout=60)
    gate = Gate("slow")
    queue.send("t", {}, group_id="g", task_id="slow")
    worker = Worker(queue, gate, concurrency=1, wait_seconds=0)
    runner = Running(worker)
    with runner:
        wait_for(gate.started.is_set, "the slow task to start")
        worker.stop(timeout=0.2)
        runner.join()
        assert runner.result == EXIT_ABANDONED != 0
        assert queue_counts(queue) == (1, 0)  # given back for another consumer at once
        assert worker.stats.released == 1
        gate.open()
        for thread in worker._threads:
            thread.join(10)
    # The abandoned task's late end is quiet: its message was already given back.
    assert thread_errors == [] and not any(t.is_alive() for t in worker._threads)


class SignalsSaved:
    """Installs a recording SIGTERM/SIGINT handler for the test (the "previous" handler a worker
    must restore) and puts the original handlers back afterwards."""

    def __enter__(self):
        self.received = []
        self.saved = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        for signum in self.saved:
            signal.signal(signum, self.previous)
        return self

    def previous(self, signum, _frame):
        self.received.append(signum)

    def __exit__(self, *exc):
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)


def test_a_first_signal_drains_the_worker_which_returns_0_and_restores_the_previous_handlers(make_team):
    queue = make_team("w19", visibility_timeout=60)
    for n in range(3):
        queue.send("t", {}, group_id="g", task_id=f"s{n}")  # s1 and s2 wait behind s0
    ran = []

    def handle(task):
        ran.append(task.task_id)
        os.kill(os.getpid(), signal.SIGTERM)
        if not stopped_in_time.wait(5):
            stop()  # so that run() returns and the test fails below instead of hanging

    stopped_in_time = threading.Event()
    worker = Worker(queue, handle, concurrency=1, wait_seconds=0)
    stop = worker.stop
    worker.stop = lambda timeout=None: (stopped_in_time.set(), stop(timeout))
    with SignalsSaved() as signals:
        assert run_to_end(worker) == 0  # by default run() installs its handlers
        assert stopped_in_time.is_set(), "SIGTERM did not stop the worker"
        assert signal.getsignal(signal.SIGTERM) == signals.previous
        assert signal.getsignal(signal.SIGINT) == signals.previous
    assert signals.received == []  # the worker's handler took it, not the previous one
    assert ran == ["s0"]  # the running task finished; nothing new started
    assert queue_counts(queue) == (2, 0)  # s0 deleted, s1 and s2 given back at once


def test_a_second_signal_exits_at_once_and_still_gives_the_running_task_back(make_team):
    queue = make_team("w20", visibility_timeout=60)
    queue.send("t", {}, group_id="g", task_id="slow")
    release = threading.Event()

    def handle(task):
        os.kill(os.getpid(), signal.SIGTERM)
        if not wait_until(lambda: worker.stopping, 5):
            worker.stop(0)  # so that run() returns and the test fails below instead of hanging
            return
        os.kill(os.getpid(), signal.SIGINT)
        release.wait(5)

    worker = Worker(queue, handle, concurrency=1, wait_seconds=0, shutdown_timeout=30)
    with SignalsSaved() as signals:
        started = time.monotonic()
        with pytest.raises(SystemExit) as exited:
            run_to_end(worker)  # by default run() installs its handlers
        took = time.monotonic() - started
        assert signal.getsignal(signal.SIGTERM) == signals.previous
        assert signal.getsignal(signal.SIGINT) == signals.previous
    release.set()
    assert exited.value.code == 128 + signal.SIGINT
    assert took < 10, f"the second signal took {took:.1f} s to end the worker (shutdown_timeout 30 s)"
    assert queue_counts(queue) == (1, 0)  # the running task's message is visible again for another consumer


def test_a_worker_given_a_task_table_keeps_its_records_there(make_team):
    queue = make_team("w48")
    queue.dynamodb.create_table(TableName="elsewhere", BillingMode="PAY_PER_REQUEST",
                                AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
                                KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}])
    queue.send("t", {}, group_id="g", task_id="kept")
    worker = Worker(queue, lambda task: None, table="elsewhere", concurrency=1, wait_seconds=0, idle_exit=0.2)

    assert run_to_end(worker, install_signal_handlers=False) == 0
    assert TaskStore(queue.dynamodb, "elsewhere").get("kept")["status"] == "COMPLETED"
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("kept") is None


def test_a_worker_told_not_to_install_signal_handlers_leaves_them_alone_while_it_runs(make_team):
    queue = make_team("w46")
    queue.send("t", {}, group_id="g", task_id="x")
    seen = []
    worker = Worker(queue, lambda task: seen.append(signal.getsignal(signal.SIGTERM)), concurrency=1,
                    wait_seconds=0, idle_exit=0.2)
    with SignalsSaved() as signals:
        assert run_to_end(worker, install_signal_handlers=False) == 0
    assert seen == [signals.previous]  # the task ran under the test's handler, not the worker's


@pytest.mark.parametrize("wait_seconds, idle_exit, first_wait", [
    (0, 0.5, 0),  # idle_exit never turns a short poll into a long one
    (20, 1, 1),  # the long poll is cut to what is left of the idle second, in SQS's whole seconds
])
def test_an_idle_workers_receives_never_wait_past_its_idle_deadline(make_team, wait_seconds, idle_exit, first_wait):
    queue = make_team(f"w47-{wait_seconds}")
    waits = []
    queue.sqs.meta.events.register("provide-client-params.sqs.ReceiveMessage",
                                   lambda params, **_: waits.append(params.get("WaitTimeSeconds")))
    worker = Worker(queue, lambda task: None, concurrency=1, wait_seconds=wait_seconds, idle_exit=idle_exit)

    assert run_to_end(worker, install_signal_handlers=False) == 0
    assert waits and waits[0] == first_wait and all(0 <= wait <= first_wait for wait in waits), waits


def test_a_worker_run_off_the_main_thread_leaves_the_signal_handlers_alone(make_team):
    queue = make_team("w21")
    worker = Worker(queue, lambda task: None, concurrency=1, wait_seconds=0, idle_exit=0.1)
    results = []
    with SignalsSaved() as signals:
        thread = threading.Thread(target=lambda: results.append(worker.run()))
        thread.start()
        thread.join(WAIT_LIMIT)
        assert signal.getsignal(signal.SIGTERM) == signals.previous
    assert results == [0]


def test_a_retry_backs_off_over_handler_runs_or_receives_and_a_task_held_elsewhere_waits_out_its_lease(make_team):
    queue = make_team("w22")
    worker = Worker(queue, lambda task: None, backoff=Backoff(base=1, cap=600, jitter=0))
    fifth_receive = {"MessageId": "m", "Attributes": {"ApproximateReceiveCount": "5"}}
    ran_three_times = Claim("t", True, attempt=3)

    # Over the task's handler runs when it ran: 1 * 2**(3-1).
    assert worker.retry_delay(fifth_receive, Outcome("failed", claim=ran_three_times)) == 4
    assert worker.retry_delay(fifth_receive, Outcome("failed", claim=ran_three_times, retry_after=100.0)) == 4
    # Over the message's receives when nothing ran (e.g. the task table was unavailable).
    assert worker.retry_delay(fifth_receive, Outcome("failed")) == 16
    assert worker.retry_delay(fifth_receive, Outcome(IN_PROGRESS)) == 16
    for unknown in ({"MessageId": "m"}, {"MessageId": "m", "Attributes": None},
                    {"MessageId": "m", "Attributes": {"ApproximateReceiveCount": "many"}}):
        assert worker.retry_delay(unknown, Outcome("failed")) == 1  # counted as a first receive
    # Held by another consumer: back one second after its lease ends, within SQS's limits.
    assert worker.retry_delay(fifth_receive, Outcome(IN_PROGRESS, retry_after=4.2)) == 6
    assert worker.retry_delay(fifth_receive, Outcome(IN_PROGRESS, retry_after=0.0)) == 1
    assert worker.retry_delay(fifth_receive, Outcome(IN_PROGRESS, retry_after=-3.0)) == 1
    assert worker.retry_delay(fifth_receive, Outcome(IN_PROGRESS, retry_after=1e9)) == 43200


def test_a_task_s_lease_grows_with_its_age_like_the_heartbeat_window_up_to_its_cap(make_team):
    queue = make_team("w23")
    worker = Worker(queue, lambda task: None, visibility_timeout=30, heartbeat_max_window=120)

    assert [worker._lease_window(age) for age in (0, 10, 90, 1000)] == [30, 40, 120, 120]
    # Renewed when a third of the first window's headroom is left: 30 - 20 s into each window.
    assert [worker._lease_interval(age) for age in (0, 10, 1000)] == [10, 20, 100]


def test_a_running_task_s_lease_is_renewed_on_the_given_schedule_with_the_growing_window(make_team):
    queue = make_team("w24", visibility_timeout=30)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    left = []

    def handle(task):
        time.sleep(1.2)  # a renewal after the first second grants 31 s, not the first 30
        left.append(float(store.get(task.task_id)["lease_expires_at"]) - time.time())

    queue.send("t", {}, group_id="g", task_id="long")
    worker = Worker(queue, handle, concurrency=1, wait_seconds=0, lease_schedule=lambda age: 0.05)
    with Running(worker):
        wait_for(lambda: left, "the task to finish")
    assert left[0] > 30.0, f"the lease ended {left[0]:.2f} s after the task's second second"


def test_one_receive_round_long_polls_the_queue_for_what_fits_with_the_worker_s_visibility_timeout(make_team, aws):
    base = make_team("w25", visibility_timeout=45)
    base.send("t", {}, group_id="g", task_id="r1")
    waiting = base.receive(wait_seconds=0)
    sqs = ScriptedReceives(aws.client("sqs"), [lambda: waiting])
    queue = TaskQueue(config=base.config, sqs_client=sqs, dynamodb_client=base.dynamodb, s3_client=base.s3)
    worker = Worker(queue, lambda task: None, visibility_timeout=50)

    messages = worker._receive(3, 7)

    assert [queue.to_task(m).task_id for m in messages] == ["r1"]
    assert [(c["QueueUrl"], c["MaxNumberOfMessages"], c["WaitTimeSeconds"], c["VisibilityTimeout"])
            for c in sqs.calls] == [(base.config.queue_url, 3, 7, 50)]
    assert worker.stats.receive_calls == 1
    assert worker._receive(10, 0) == [] and worker.stats.receive_calls == 2  # empty ones count too


class AckLog:
    """Stands in for a TaskQueue and a Heartbeat: records what an _Acker sends and takes off the heartbeat."""

    def __init__(self, queue_url="https://sqs.example/q.fifo"):
        self.config = type("Config", (), {"queue_url": queue_url})()
        self.sqs = self
        self.calls = []  # ("delete", ids) / ("change", url, [(receipt, timeout), ...]) / ("unbeat", id), in order
        self.fail_deletes = 0

    def delete_many(self, messages):
        if self.fail_deletes:
            self.fail_deletes -= 1
            raise RuntimeError("SQS unavailable")
        self.calls.append(("delete", [m["MessageId"] for m in messages]))

    def change_message_visibility_batch(self, QueueUrl, Entries):
        self.calls.append(("change", QueueUrl, [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in Entries]))
        return {"Successful": [{"Id": e["Id"]} for e in Entries]}

    def remove(self, message):
        self.calls.append(("unbeat", message["MessageId"]))

    def sent(self, kind):
        return [call for call in self.calls if call[0] == kind]


def acked(n, prefix="m", **extra):
    return [dict({"MessageId": f"{prefix}{i}", "ReceiptHandle": f"r-{prefix}{i}"}, **extra) for i in range(n)]


def test_the_acker_takes_full_batches_at_once_and_the_partial_rest_once_its_oldest_entry_is_due():
    acker = _Acker(AckLog(), deadline=60.0)
    before = time.monotonic()
    for message in acked(12):
        acker.delete(message)
    for message in acked(3, "c"):
        acker.change_visibility(message, 7)
    after = time.monotonic()

    assert before + 60 <= acker._next_due() <= after + 60  # the oldest entry's deadline
    deletes, changes = acker._take_due(after)
    assert [m["MessageId"] for m in deletes] == [f"m{i}" for i in range(10)] and changes == []
    assert acker._take_due(after + 30) == ([], [])  # the partial rest waits for its deadline
    oldest = acker._deletes[0][0]  # when m10 was queued
    assert acker._take_due(oldest + 59.99) == ([], [])
    deletes = acker._take_due(oldest + 60)[0]  # due the moment its oldest entry waited 60 s
    assert [m["MessageId"] for m in deletes] == ["m10", "m11"]
    changes = acker._take_due(after + 60)[1]
    assert [(m["MessageId"], t) for m, t in changes] == [("c0", 7), ("c1", 7), ("c2", 7)]
    assert acker._next_due() is None


def test_flush_soon_sends_a_partial_batch_at_once_only_when_something_is_queued():
    acker = _Acker(AckLog(), deadline=60.0)
    acker.flush_soon()  # nothing queued: no effect on what comes later
    acker.delete(acked(1)[0])
    assert acker._take_due(time.monotonic()) == ([], [])
    acker.flush_soon()
    assert [m["MessageId"] for m in acker._take_due(time.monotonic())[0]] == ["m0"]
    acker.change_visibility(acked(1, "c")[0], 3)
    acker.flush_soon()
    assert [(m["MessageId"], t) for m, t in acker._take_due(time.monotonic())[1]] == [("c0", 3)]


def test_the_acker_takes_a_message_off_the_heartbeat_just_before_deleting_it_and_changes_each_on_its_own_queue():
    log = AckLog("https://sqs.example/default.fifo")
    acker = _Acker(log, deadline=60.0, heartbeat=log)
    other = "https://sqs.example/urgent.fifo"

    acker._send(acked(2), [(acked(1, "d")[0], 5.9), (acked(1, "u", **{QUEUE_URL_KEY: other})[0], 12)])

    assert log.calls == [
        ("unbeat", "m0"), ("unbeat", "m1"), ("delete", ["m0", "m1"]),
        ("change", "https://sqs.example/default.fifo", [("r-d0", 5)]),
        ("change", other, [("r-u0", 12)]),
    ]


def test_the_acker_thread_sends_full_batches_at_once_the_rest_at_its_deadline_and_everything_left_on_stop():
    log = AckLog()
    acker = _Acker(log, deadline=0.3)
    acker.start()
    try:
        queued = time.monotonic()
        for message in acked(11):
            acker.delete(message)
        wait_for(lambda: log.sent("delete") == [("delete", [f"m{i}" for i in range(10)])], "the full batch",
                 timeout=5, interval=0.01)
        wait_for(lambda: len(log.sent("delete")) == 2, "the partial batch at its deadline", timeout=5, interval=0.01)
        assert time.monotonic() - queued >= 0.3
        assert log.sent("delete")[1] == ("delete", ["m10"])
        log.fail_deletes = 1  # a failed call does not stop the thread
        acker.delete(acked(1, "x")[0])
        acker.flush_soon()
        wait_for(lambda: log.fail_deletes == 0, "the failing delete", timeout=5, interval=0.01)
        acker.delete(acked(1, "y")[0])
        acker.flush_soon()
        wait_for(lambda: ("delete", ["y0"]) in log.calls, "the next delete after a failed one", timeout=5)
    finally:
        acker.deadline = 60.0
        acker.change_visibility(acked(1, "z")[0], 4)
        acker.stop()
    assert log.calls[-1] == ("change", log.config.queue_url, [("r-z0", 4)])  # stop sends what is left


class WaitsRecorded(threading.Condition):
    """A Condition that records the timeout of every wait on it."""

    def __init__(self):
        super().__init__()
        self.timeouts = []

    def wait(self, timeout=None):
        self.timeouts.append(timeout)
        return super().wait(timeout)


def test_the_acker_thread_never_sleeps_past_its_oldest_entrys_deadline():
    # Read from the waits themselves, not the clock: a sleep of 1 s for a 0.2 s deadline
    # would delay every acknowledgement, and only a slow test would show it.
    log = AckLog()
    acker = _Acker(log, deadline=0.2)
    acker._cond = waits = WaitsRecorded()
    acker.start()
    try:
        acker.delete(acked(1)[0])
        wait_for(lambda: log.sent("delete"), "the partial batch at its deadline", timeout=5, interval=0.01)
    finally:
        acker.stop()
    timed = [timeout for timeout in waits.timeouts if timeout is not None]
    assert timed and all(0 <= timeout <= 0.2 for timeout in timed), waits.timeouts


OUT_OF_RANGE = [
    ({"concurrency": 0}, r"^concurrency must be at least 1, got 0$"),
    ({"wait_seconds": -1}, r"^wait_seconds must be 0\.\.20 \(SQS long polling\), got -1$"),
    ({"wait_seconds": 21}, r"^wait_seconds must be 0\.\.20 \(SQS long polling\), got 21$"),
    ({"visibility_timeout": 0}, r"^visibility_timeout must be 1\.\.43200 seconds, got 0$"),
    ({"visibility_timeout": 43201}, r"^visibility_timeout must be 1\.\.43200 seconds, got 43201$"),
    ({"ack_interval": -0.5}, r"^ack_interval must be 0 or more seconds, got -0\.5$"),
    ({"ack_interval": float("nan")}, r"^ack_interval must be 0 or more seconds, got nan$"),
    ({"lower_tier_share": -0.1}, r"^lower_tier_share must be 0\.\.1, got -0\.1$"),
    ({"lower_tier_share": 1.5}, r"^lower_tier_share must be 0\.\.1, got 1\.5$"),
]


def test_a_worker_option_out_of_range_is_refused_with_what_is_allowed(make_team):
    queue = make_team("w27")
    for option, error in OUT_OF_RANGE:
        with pytest.raises(ValueError, match=error):
            Worker(queue, lambda task: None, **option)


def test_worker_options_at_their_limits_are_accepted(make_team):
    queue = make_team("w28")
    for option in ({"concurrency": 1}, {"wait_seconds": 0}, {"wait_seconds": 20}, {"visibility_timeout": 1},
                   {"visibility_timeout": 43200}, {"ack_interval": 0}, {"lower_tier_share": 0},
                   {"lower_tier_share": 1}):
        Worker(queue, lambda task: None, **option)
    assert Worker(queue, lambda task: None).visibility_timeout == 30  # the queue's


def test_a_worker_asks_for_a_full_batch_once_it_fits_and_for_less_only_when_a_thread_has_nothing_to_run(make_team):
    queue = make_team("w29")

    def receive_size(worker, held, running=0, ready=()):
        worker._held = {f"m{n}": None for n in range(held)}
        worker._running = running
        worker._ready.clear()
        worker._ready.extend(ready)
        return worker._receive_size()

    two = Worker(queue, lambda task: None, concurrency=2)  # holds 2 running + 10 prefetched
    assert receive_size(two, held=0) == 10
    assert receive_size(two, held=2, running=2) == 10
    assert receive_size(two, held=3, running=2) == 0  # 9 fit: wait for a full batch
    assert receive_size(two, held=3, running=1) == 9  # ... unless a thread is idle
    assert receive_size(two, held=3, running=1, ready=["group:g"]) == 0  # it has something to run
    assert receive_size(two, held=12) == 0
    many = Worker(queue, lambda task: None, concurrency=20)  # prefetch defaults to the concurrency
    assert receive_size(many, held=29, running=20) == 10 and receive_size(many, held=31, running=20) == 0
    no_prefetch = Worker(queue, lambda task: None, concurrency=2, prefetch=0)
    assert receive_size(no_prefetch, held=0) == 2
    assert receive_size(no_prefetch, held=1, running=1) == 1
    assert receive_size(no_prefetch, held=2, running=2) == 0
    negative = Worker(queue, lambda task: None, concurrency=2, prefetch=-3)  # no prefetch either
    assert receive_size(negative, held=0) == 2
    five = Worker(queue, lambda task: None, concurrency=2, prefetch=5)
    assert receive_size(five, held=0) == 7  # 2 + 5 fit: a batch of 7 is the full batch
    assert receive_size(five, held=1, running=1) == 6 and receive_size(five, held=2, running=2) == 0


def test_the_first_stop_request_sets_the_deadline_and_later_ones_do_not_move_it(make_team):
    queue = make_team("w30")
    worker = Worker(queue, lambda task: None, shutdown_timeout=40)
    assert not worker.stopping
    before = time.monotonic()
    worker.stop()
    after = time.monotonic()
    assert worker.stopping
    assert before + 40 <= worker._stop_deadline <= after + 40
    worker.stop(timeout=500)
    assert worker._stop_deadline <= after + 40
    other = Worker(queue, lambda task: None, shutdown_timeout=40)
    other.stop(timeout=3)
    assert other._stop_deadline <= time.monotonic() + 3


def test_without_fifo_order_tasks_of_one_group_run_in_parallel(make_team):
    queue = make_team("w31")
    for n in range(2):
        queue.send("t", {}, group_id="same", task_id=f"p{n}")
    both_running = threading.Barrier(2, timeout=3)  # broken (the task fails) unless both run at once
    ran = []

    def handle(task):
        both_running.wait()
        ran.append(task.task_id)

    worker = Worker(queue, handle, concurrency=2, wait_seconds=0, fifo=False)
    with Running(worker):
        wait_for(lambda: len(ran) == 2 or worker.stats.failed, "both tasks of the group")
    assert sorted(ran) == ["p0", "p1"] and worker.stats.failed == 0


def visibility_changes(queue):
    """Every VisibilityTimeout the queue's client sets in a ChangeMessageVisibilityBatch, in call order."""
    seen = []
    queue.sqs.meta.events.register("provide-client-params.sqs.ChangeMessageVisibilityBatch",
                                   lambda params, **_: seen.extend(e["VisibilityTimeout"] for e in params["Entries"]))
    return seen


def test_an_error_inside_the_worker_hands_the_message_back_for_a_retry_and_the_thread_goes_on(make_team):
    queue = make_team("w32", visibility_timeout=60)
    queue.send("t", {}, group_id="g", task_id="e1")
    queue.send("t", {}, group_id="g", task_id="e2")
    queue.send("t", {}, group_id="h", task_id="e3")
    changes = visibility_changes(queue)
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0,
                    backoff=Backoff(base=7, jitter=0))
    run = worker.runner.run

    def broken_once(task, **kwargs):
        if task.task_id == "e1":
            raise RuntimeError("a bug outside the handler")
        return run(task, **kwargs)

    worker.runner.run = broken_once
    with Running(worker):
        wait_for(lambda: ran == ["e3"] and queue_counts(queue) == (1, 1), "e3 to run on the same thread")

    # e1 waits out its backoff (first receive: 7 s); e2, behind it in its group, is visible again at once.
    assert changes == [7, 0] or changes == [0, 7]
    assert len(worker._heartbeat) == 0  # neither is kept invisible any longer
    assert (worker.stats.released, worker.stats.succeeded) == (1, 1)


def test_a_failing_shutdown_step_does_not_stop_the_others_held_messages_are_still_given_back(make_team):
    queue = make_team("w33", visibility_timeout=60)
    gate = Gate("slow")
    queue.send("t", {}, group_id="g", task_id="slow")
    worker = Worker(queue, gate, concurrency=1, wait_seconds=0)
    runner = Running(worker)
    with runner:
        wait_for(gate.started.is_set, "the slow task to start")

        def broken():
            raise RuntimeError("cannot flush")

        worker._acker.stop = broken
        worker.stop(timeout=0.1)
        runner.join()
        assert runner.result == EXIT_ABANDONED
        assert queue_counts(queue) == (1, 0)  # released even though the acknowledgements step failed
        assert len(worker._heartbeat) == 0 and not worker._heartbeat.running
        gate.open()


def test_a_malformed_message_goes_to_the_dlq_and_is_deleted_without_running_anything(make_team):
    queue = make_team("w34")
    for n in range(2):
        queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageGroupId=f"g{n}",
                               MessageDeduplicationId=f"bad{n}",
                               MessageBody=json.dumps({"v": 99, "id": f"x{n}", "type": "t", "payload": {}}))
    ran = []
    worker = Worker(queue, lambda task: ran.append(task), concurrency=1, wait_seconds=0)
    with Running(worker, failures=2):  # a malformed message counts as a failed task
        wait_for(lambda: queue_counts(queue, queue.config.dlq_url)[0] == 2, "the messages in the DLQ")
        wait_for(lambda: queue_empty(queue), "the originals to be deleted")
    assert ran == []
    assert (worker.stats.dead_lettered, worker.stats.failed, worker.stats.by_status) == (2, 2, {"malformed": 2})
    assert queue_counts(queue, queue.config.dlq_url)[0] == 2  # one copy each


def test_the_heartbeat_extends_a_running_task_s_message_every_heartbeat_interval_unless_turned_off(make_team):
    for enabled in (True, False):
        queue = make_team(f"w35-{enabled}", visibility_timeout=30)
        extended = visibility_changes(queue)
        queue.send("t", {}, group_id="g", task_id="beat")
        worker = Worker(queue, lambda task: time.sleep(0.35), concurrency=1, wait_seconds=0, heartbeat=enabled,
                        heartbeat_interval=0.1)
        with Running(worker):
            wait_for(lambda: worker.stats.succeeded == 1, "the task")
        if enabled:
            assert extended and set(extended) == {30}, extended  # the window of a task under a second old
        else:
            assert extended == [] and worker._heartbeat is None


def test_idle_exit_counts_only_time_without_held_messages(make_team):
    queue = make_team("w36")
    queue.send("t", {}, group_id="a", task_id="long")
    second_ran = threading.Event()
    ran = []

    def handle(task):
        if task.task_id == "long":
            time.sleep(0.3)  # longer than idle_exit: a worker holding a task is not idle
            queue.send("t", {}, group_id="b", task_id="later")
            second_ran.wait(5)
        else:
            second_ran.set()
        ran.append(task.task_id)

    worker = Worker(queue, handle, concurrency=2, wait_seconds=0, idle_exit=0.2)
    assert run_to_end(worker, install_signal_handlers=False) == 0
    assert ran == ["later", "long"] and queue_empty(queue)


def test_messages_received_while_a_stop_was_requested_are_given_back_unrun(make_team, aws):
    base = make_team("w37", visibility_timeout=60)
    base.send("t", {}, group_id="g", task_id="late")
    waiting = base.receive(wait_seconds=0)

    def stop_then_answer():
        worker.stop()
        return waiting

    sqs = ScriptedReceives(aws.client("sqs"), [stop_then_answer])
    queue = TaskQueue(config=base.config, sqs_client=sqs, dynamodb_client=base.dynamodb, s3_client=base.s3)
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0)
    assert run_to_end(worker, install_signal_handlers=False) == 0
    assert ran == [] and worker.stats.released == 1 and worker.stats.received == 0
    assert queue_counts(base) == (1, 0)  # visible again at once


def test_the_worker_writes_per_interval_how_busy_it_was_what_it_holds_and_each_outcome(make_team, capsys):
    from .test_metrics import emf_lines

    queue = make_team("w38")
    gate = Gate("slow")
    queue.send("a", {}, group_id="g1", task_id="slow")
    queue.send("b", {}, group_id="g2", task_id="quick")
    worker = Worker(queue, gate, concurrency=1, wait_seconds=0, metrics_interval=0.1)
    capsys.readouterr()
    docs = []

    def written():
        docs.extend(emf_lines(capsys.readouterr().out))
        return docs

    with Running(worker):
        wait_for(gate.started.is_set, "the slow task to start")
        # While the one thread runs "slow" and "quick" waits: fully busy, two messages held.
        wait_for(lambda: any(d.get("WorkerUtilization") == 100.0 and d["TasksInFlight"] == 2 for d in written()),
                 "an interval with the thread busy throughout and both messages held", timeout=5, interval=0.05)
        gate.open()
        wait_for(lambda: worker.stats.succeeded == 2, "both tasks")
    written()
    succeeded = {d["TaskType"]: d["TasksSucceeded"] for d in docs if "TaskType" in d}
    assert succeeded == {"a": 1, "b": 1}
    assert docs[-1]["TasksInFlight"] == 0 and docs[-1]["WorkerUtilization"] < 100.0


def test_a_task_that_fails_while_the_worker_drains_does_not_give_back_its_group_mates_twice(make_team):
    queue = make_team("w39", visibility_timeout=60)
    for n in range(2):
        queue.send("t", {}, group_id="g", task_id=f"d{n}")
    started, fail_now = threading.Event(), threading.Event()

    def handle(task):
        started.set()
        assert fail_now.wait(10), "the test never let the task fail"
        raise RuntimeError("fails during the drain")

    worker = Worker(queue, handle, concurrency=1, wait_seconds=0, backoff=Backoff(base=0, cap=0, jitter=0))
    runner = Running(worker, failures=1)
    with runner:
        wait_for(started.is_set, "d0 to start")
        wait_for(lambda: len(worker._held) == 2, "d1 held behind d0")
        worker.stop(timeout=10)
        wait_for(lambda: worker.stats.released == 1, "d1 given back as unstarted")
        fail_now.set()
        runner.join()
    assert runner.result == 0
    assert worker.stats.released == 1 and worker.stats.failed == 1
    assert not worker._held and not worker._groups  # nothing left behind
    assert queue_counts(queue) == (2, 0)


@pytest.mark.parametrize("idempotency", [True, "batch"])
def test_the_worker_s_threads_are_named_daemons_and_all_end_when_it_returns(make_team, idempotency):
    queue = make_team("w40")
    queue.send("t", {}, group_id="g", task_id="one")
    worker = Worker(queue, lambda task: None, concurrency=2, wait_seconds=0, idempotency=idempotency,
                    metrics_interval=30)
    before = set(threading.enumerate())
    # run from a non-daemon thread: threads made without daemon=True would inherit False
    runner = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=False)
    runner.start()
    try:
        wait_for(lambda: worker.stats.succeeded == 1, "the task")
        threads = {t.name: t for t in set(threading.enumerate()) - before if t.name.startswith("sqstask-")}
        expected = {"sqstask-worker-0", "sqstask-worker-1", "sqstask-acker", "sqstask-heartbeat",
                    "sqstask-metrics", "sqstask-leases" if idempotency is True else "sqstask-recorder"}
        assert expected <= set(threads), sorted(threads)
        assert all(t.daemon for t in threads.values())  # a hung task never keeps the process alive
    finally:
        worker.stop(timeout=5)
        runner.join(WAIT_LIMIT)
    wait_for(lambda: not [name for name, t in threads.items() if t.is_alive()], "every worker thread to end",
             timeout=5)


def test_the_heartbeat_grants_windows_no_longer_than_heartbeat_max_window(make_team):
    queue = make_team("w43", visibility_timeout=2)
    extended = visibility_changes(queue)
    queue.send("t", {}, group_id="g", task_id="capped")
    # Past its first second a task would get 3 s windows; the cap keeps them at 2 s.
    worker = Worker(queue, lambda task: time.sleep(1.3), concurrency=1, wait_seconds=0, heartbeat_interval=0.1,
                    heartbeat_max_window=2)
    with Running(worker):
        wait_for(lambda: worker.stats.succeeded == 1, "the task")
    assert len(extended) >= 3 and set(extended) == {2}, extended


def test_stopping_the_acker_waits_for_a_hanging_call_only_so_long_then_sends_the_rest_itself(monkeypatch):
    import sqstask.worker as worker_module

    monkeypatch.setattr(worker_module, "_ACKER_JOIN_TIMEOUT", 0.2)
    log = AckLog()
    hanging, release = threading.Event(), threading.Event()
    delete_many = log.delete_many

    def hang_on_first(messages):
        if not hanging.is_set():
            hanging.set()
            release.wait(10)
        delete_many(messages)

    log.delete_many = hang_on_first
    acker = _Acker(log, deadline=60.0)
    acker.start()
    try:
        acker.delete(acked(1)[0])
        acker.flush_soon()
        assert hanging.wait(5), "the first delete was not sent"
        acker.change_visibility(acked(1, "c")[0], 9)
        started = time.monotonic()
        acker.stop()
        assert time.monotonic() - started < 5, "stop() waited for the hanging call"
        assert log.sent("change") == [("change", log.config.queue_url, [("r-c0", 9)])]
    finally:
        release.set()


def test_a_worker_without_idempotency_or_metrics_runs_each_message_and_deletes_it(make_team, capsys):
    from dataclasses import replace

    base = make_team("w44")
    queue = TaskQueue(config=replace(base.config, metrics=False), sqs_client=base.sqs,
                      dynamodb_client=base.dynamodb, s3_client=base.s3)
    for n in range(2):
        queue.send("t", {}, group_id="g", task_id=f"plain{n}")
    ran = []
    worker = Worker(queue, lambda task: ran.append(task.task_id), concurrency=1, wait_seconds=0, idempotency=False)
    with Running(worker):
        wait_for(lambda: queue_empty(queue) and len(ran) == 2, "both tasks to run and be deleted")
    assert ran == ["plain0", "plain1"] and worker.stats.succeeded == 2
    assert worker._leases is None and worker.metrics is None
    assert TaskStore(queue.dynamodb, queue.config.idempotency_table).get("plain0") is None  # no record kept
    assert '"_aws"' not in capsys.readouterr().out  # no metric documents


def test_a_heartbeat_interval_that_lets_messages_expire_fails_run_with_the_heartbeat_s_own_error(make_team):
    queue = make_team("w45", visibility_timeout=30)
    queue.send("t", {}, group_id="g", task_id="never")
    worker = Worker(queue, lambda task: None, heartbeat_interval=30, wait_seconds=0)
    with pytest.raises(ValueError, match=r"^interval must be above 0 and below visibility_timeout \(30 s\)"):
        run_to_end(worker, install_signal_handlers=False)
    assert worker.stats.received == 0 and queue_counts(queue) == (1, 0)
