"""``sqstask worker`` as a real process against ThreadedMotoServer: crash recovery and SIGTERM drain."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path

import pytest

from sqstask.idempotency import TaskStore

pytestmark = pytest.mark.parametrize("aws", ["server"], indirect=True)

TESTS_DIR = Path(__file__).resolve().parent
WAIT_LIMIT = 60.0


def read_lines(directory, name):
    """The lines exec_tasks wrote to ``directory/name`` (none when the file does not exist yet)."""
    path = directory / name
    return path.read_text(encoding="utf-8").split() if path.exists() else []


def wait_for(condition, what, timeout=WAIT_LIMIT, interval=0.1, proc=None):
    """Poll ``condition`` until true; fail with ``what`` (and the worker's stderr) after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc is not None and proc.poll() is not None:
            pytest.fail(f"worker exited with {proc.returncode} while waiting for {what}")
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")


def queue_counts(queue, url=None):
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=url or queue.config.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def start_worker(queue, tmp_path, name, *args, block=False):
    """``python -m sqstask.cli worker exec_tasks:record --config ...`` with its logs in tmp_path."""
    config = tmp_path / "sdk_config.json"
    if not config.exists():
        config.write_text(json.dumps({k: v for k, v in asdict(queue.config).items() if v not in (None, ())}))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS_DIR), env.get("PYTHONPATH")) if p)
    env["EXEC_TASKS_DIR"] = str(tmp_path)
    env["EXEC_TASKS_BLOCK"] = "1" if block else "0"
    log = open(tmp_path / f"{name}.log", "wb")
    command = [sys.executable, "-m", "sqstask.cli", "worker", "exec_tasks:record", "--config", str(config),
               "--wait-seconds", "1", *args]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)


def stop(proc, sig=signal.SIGTERM, timeout=60):
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"worker did not exit within {timeout}s after {sig.name}")


def send_tasks(queue, blocking, quick):
    for task_id in blocking:
        queue.send("work", {"block": True}, group_id=f"g-{task_id}", task_id=task_id)
    for task_id in quick:
        queue.send("work", {"block": False}, group_id=f"g-{task_id}", task_id=task_id)


def test_worker_killed_mid_task_loses_nothing_and_each_effect_happens_once(make_team, tmp_path, atomic_dynamodb_writes):
    queue = make_team("crash", visibility_timeout=3, max_receive_count=10)
    blocking, quick = ["slow-1", "slow-2"], ["q-1", "q-2", "q-3", "q-4"]
    send_tasks(queue, blocking, quick)

    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)

    def completed(task_ids):
        return all((store.get(task_id) or {}).get("status") == "COMPLETED" for task_id in task_ids)

    first = start_worker(queue, tmp_path, "first", "--concurrency", "3", block=True)
    try:
        # Finished means recorded COMPLETED, not only the effect logged: a kill between a task's
        # effect and its record runs it again, which no consumer can prevent.
        wait_for(lambda: set(blocking) <= set(read_lines(tmp_path, "started.log"))
                 and set(quick) <= set(read_lines(tmp_path, "effects.log")) and completed(quick),
                 "the quick tasks to finish while both slow ones are running", proc=first)
    finally:
        first.kill()  # SIGKILL: no cleanup, leases and messages are left as they are
        first.wait(30)
    assert not set(blocking) & set(read_lines(tmp_path, "effects.log"))

    second = start_worker(queue, tmp_path, "second", "--concurrency", "3")
    try:
        wait_for(lambda: set(blocking) <= set(read_lines(tmp_path, "effects.log")) and queue_counts(queue) == (0, 0),
                 "the new worker to finish the killed worker's tasks", proc=second)
    finally:
        code = stop(second)

    assert code == 0
    effects = Counter(read_lines(tmp_path, "effects.log"))
    assert effects == Counter({task_id: 1 for task_id in blocking + quick})
    assert queue_counts(queue, queue.config.dlq_url) == (0, 0)
    assert {task_id: store.get(task_id)["status"] for task_id in blocking + quick} == dict.fromkeys(
        blocking + quick, "COMPLETED"
    )


def test_sigterm_finishes_running_tasks_releases_unstarted_ones_and_exits_0(make_team, tmp_path):
    queue = make_team("drain", visibility_timeout=60)
    task_ids = [f"t-{n}" for n in range(6)]
    send_tasks(queue, task_ids, [])

    worker = start_worker(queue, tmp_path, "worker", "--concurrency", "2", "--prefetch", "4",
                          "--shutdown-timeout", "30", block=True)
    try:
        wait_for(lambda: len(read_lines(tmp_path, "started.log")) == 2 and queue_counts(queue) == (0, 6),
                 "2 running tasks and 4 held ones", proc=worker)
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: queue_counts(queue) == (4, 2), "the 4 unstarted tasks to be released at once", proc=worker)
        (tmp_path / "go").touch()  # now let the running tasks finish
        code = worker.wait(WAIT_LIMIT)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert code == 0, (tmp_path / "worker.log").read_text()
    started = read_lines(tmp_path, "started.log")
    assert sorted(read_lines(tmp_path, "effects.log")) == sorted(started)
    assert queue_counts(queue) == (4, 0)  # the 2 finished were deleted; the 4 others wait, visible
    messages = queue.receive(max_messages=10, wait_seconds=0)
    assert sorted(json.loads(m["Body"])["id"] for m in messages) == sorted(set(task_ids) - set(started))


def test_second_signal_exits_at_once_without_waiting_for_running_tasks(make_team, tmp_path):
    queue = make_team("abort", visibility_timeout=60)
    send_tasks(queue, ["stuck"], [])

    worker = start_worker(queue, tmp_path, "worker", "--concurrency", "1", "--shutdown-timeout", "120", block=True)
    try:
        wait_for(lambda: read_lines(tmp_path, "started.log") == ["stuck"], "the task to start", proc=worker)
        worker.send_signal(signal.SIGTERM)
        wait_for(lambda: b"shutdown-requested" in (tmp_path / "worker.log").read_bytes(),
                 "the worker to acknowledge the first signal", proc=worker)
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(WAIT_LIMIT)  # the task is still blocked: only an immediate exit ends it
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()

    assert code == 128 + signal.SIGTERM
    assert read_lines(tmp_path, "effects.log") == []
