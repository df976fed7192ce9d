"""`sqstask dlq list|show|redrive|purge` and `sqstask send` against ThreadedMotoServer (real HTTP)."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from sqstask import TaskQueue, TaskSpec
from sqstask.cli import main
from sqstask.idempotency import TaskStore

pytestmark = pytest.mark.parametrize("aws", ["server"], indirect=True)

SQSTASK = Path(sys.executable).with_name("sqstask")


# -- helpers ---------------------------------------------------------------------------------


def config_file(tmp_path: Path, queue: TaskQueue) -> str:
    """The team's settings as the module's sdk_config JSON, in a file for --config."""
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(asdict(queue.config)))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def bury(queue: TaskQueue, *specs: TaskSpec) -> None:
    """Put tasks in the team's DLQ exactly as the producer sent them."""
    for spec in specs:
        queue.sqs.send_message(QueueUrl=queue.config.dlq_url, **queue.build_message(spec.validated()))


def tasks(prefix: str, count: int, group: str, task_type: str = "charge") -> list[TaskSpec]:
    return [TaskSpec(task_type, {"n": i}, group, f"{prefix}{i}") for i in range(count)]


def counts(queue: TaskQueue, url: str) -> tuple[int, int]:
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def drain(queue: TaskQueue, url: str, *, timeout: float = 30.0) -> list[dict[str, Any]]:
    """Receive and delete everything visible in a queue."""
    received: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while True:
        assert time.monotonic() < deadline, f"{url} was not drained within {timeout} s ({len(received)} read)"
        messages = queue.receive(max_messages=10, wait_seconds=0, queue_url=url)
        if not messages:
            return received
        received.extend(messages)
        assert queue.delete_many(messages, queue_url=url) == []


def ids_and_groups(queue: TaskQueue, messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((queue.to_task(m).task_id, m["Attributes"]["MessageGroupId"]) for m in messages)


def wait_until_visible(queue: TaskQueue, url: str, expected: int, *, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while counts(queue, url) != (expected, 0):
        assert time.monotonic() < deadline, f"{url}: expected {expected} visible and none in flight, got {counts(queue, url)}"
        time.sleep(0.2)


# -- dlq list / show -------------------------------------------------------------------------


def test_dlq_list_does_not_consume(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 2, "beta"))
    before = counts(queue, queue.config.dlq_url)

    code, out, _ = run(capsys, "dlq", "list", "--config", config_file(tmp_path, queue))

    assert code == 0
    assert counts(queue, queue.config.dlq_url) == before == (5, 0)
    assert "team-dlq.fifo: 5 message(s) waiting, 0 in flight" in out
    for task_id in ("a0", "a1", "a2", "b0", "b1"):
        assert task_id in out


def test_dlq_list_json_has_one_entry_per_message(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha", "resize"))

    code, out, _ = run(capsys, "dlq", "list", "--json", "--config", config_file(tmp_path, queue))

    data = json.loads(out)
    assert code == 0 and data["visible"] == 2
    assert sorted((m["task_id"], m["task_type"], m["group_id"]) for m in data["messages"]) == [
        ("a0", "resize", "alpha"),
        ("a1", "resize", "alpha"),
    ]


def test_dlq_list_says_when_it_shows_fewer_than_waiting(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 4, "alpha"))

    code, out, _ = run(capsys, "dlq", "list", "--limit", "2", "--config", config_file(tmp_path, queue))

    assert code == 0
    assert "showing 2 of ~4: --limit 2" in out


def test_dlq_show_prints_payload_and_recorded_failure(make_team, tmp_path, capsys):
    queue = make_team()
    queue.send("charge", {"amount": 42}, group_id="acct-1", task_id="pay-1")
    (message,) = queue.receive(max_messages=1, wait_seconds=0)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    store.fail(store.claim(queue.to_task(message), lease_seconds=60), ValueError("card declined"))
    bury(queue, TaskSpec("charge", {"amount": 42}, "acct-1", "pay-1"))

    code, out, _ = run(capsys, "dlq", "show", "pay-1", "--json", "--config", config_file(tmp_path, queue))

    data = json.loads(out)
    assert code == 0
    assert data["payload"] == {"amount": 42}
    assert data["envelope"]["id"] == "pay-1"
    assert data["error"] == "ValueError: card declined"
    assert data["record"]["status"] == "FAILED"
    assert counts(queue, queue.config.dlq_url) == (1, 0)


def test_dlq_show_unknown_task_is_a_one_line_error(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 1, "alpha"))

    code, out, err = run(capsys, "dlq", "show", "nope", "--config", config_file(tmp_path, queue))

    assert code == 1 and out == ""
    assert err.startswith("sqstask: error: no message with task id or message id nope in team-dlq.fifo")
    assert err.count("\n") == 1


# -- dlq redrive -----------------------------------------------------------------------------


def test_dry_run_moves_nothing_and_lists_exactly_what_would_move(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"), *tasks("b", 2, "beta"))

    code, out, _ = run(
        capsys, "dlq", "redrive", "--dry-run", "--group", "beta", "--json", "--config", config_file(tmp_path, queue)
    )

    report = json.loads(out)
    assert code == 0
    assert sorted(m["task_id"] for m in report["would_move"]) == ["b0", "b1"]
    assert report["moved"] == 0
    assert counts(queue, queue.config.dlq_url) == (5, 0)
    assert counts(queue, queue.config.queue_url) == (0, 0)


def test_filtered_redrive_moves_exactly_the_matches_with_their_groups(make_team, tmp_path, capsys):
    queue = make_team()
    bury(
        queue,
        *tasks("a", 3, "alpha", "charge"),
        *tasks("b", 3, "beta", "refund"),
        *tasks("c", 2, "gamma", "charge"),
    )

    code, out, err = run(
        capsys, "dlq", "redrive", "--type", "charge", "--group", "alpha", "--group", "gamma",
        "--config", config_file(tmp_path, queue),
    )

    assert code == 0
    assert "moved 5 message(s) from team-dlq.fifo to team.fifo" in out
    assert "redrive: moved 5 of 5 matched" in err
    moved = drain(queue, queue.config.queue_url)
    assert ids_and_groups(queue, moved) == [("a0", "alpha"), ("a1", "alpha"), ("a2", "alpha"), ("c0", "gamma"), ("c1", "gamma")]
    assert counts(queue, queue.config.dlq_url) == (3, 0)
    assert ids_and_groups(queue, drain(queue, queue.config.dlq_url)) == [("b0", "beta"), ("b1", "beta"), ("b2", "beta")]


def test_redrive_max_stops_after_n(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 5, "alpha"))

    code, _, _ = run(capsys, "dlq", "redrive", "--max", "2", "--config", config_file(tmp_path, queue))

    assert code == 0
    assert counts(queue, queue.config.queue_url)[0] == 2
    assert counts(queue, queue.config.dlq_url) == (3, 0)


KILLER = """
import os, signal, sys
import sqstask.dlq, sqstask.queue
stage, after = os.environ["SQSTASK_TEST_KILL_AT"], int(os.environ["SQSTASK_TEST_KILL_AFTER"])
calls = [0]
if stage == "between-batches":  # after a batch was sent and deleted, before the next receive
    real_move = sqstask.dlq.DeadLetterQueue._move
    def move(self, *args, **kwargs):
        real_move(self, *args, **kwargs)
        calls[0] += 1
        if calls[0] == after:
            os.kill(os.getpid(), signal.SIGKILL)
    sqstask.dlq.DeadLetterQueue._move = move
else:  # "before-delete": a batch is in the queue but still in the DLQ
    real_delete = sqstask.queue.TaskQueue.delete_many
    def delete_many(self, messages, **kwargs):
        calls[0] += 1
        if calls[0] == after:
            os.kill(os.getpid(), signal.SIGKILL)
        return real_delete(self, messages, **kwargs)
    sqstask.queue.TaskQueue.delete_many = delete_many
from sqstask.cli import main
sys.exit(main(sys.argv[1:]))
"""


def redrive_killed(config: str, stage: str, after: int) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, SQSTASK_TEST_KILL_AT=stage, SQSTASK_TEST_KILL_AFTER=str(after))
    return subprocess.run(
        [sys.executable, "-c", KILLER, "dlq", "redrive", "--method", "receive", "--visibility-timeout", "2", "--config", config],
        env=env, capture_output=True, text=True, timeout=120,
    )


def test_redrive_killed_between_batches_then_rerun_moves_everything_once(make_team, tmp_path, capsys):
    queue = make_team()
    everything = tasks("a", 9, "alpha") + tasks("b", 8, "beta") + tasks("c", 8, "gamma")
    bury(queue, *everything)
    config = config_file(tmp_path, queue)

    killed = redrive_killed(config, "between-batches", 1)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert counts(queue, queue.config.queue_url) == (10, 0)
    assert counts(queue, queue.config.dlq_url) == (15, 0)

    code, _, _ = run(capsys, "dlq", "redrive", "--method", "receive", "--config", config)

    assert code == 0
    assert counts(queue, queue.config.dlq_url) == (0, 0)
    moved = drain(queue, queue.config.queue_url)
    assert ids_and_groups(queue, moved) == sorted((s.task_id, s.group_id) for s in everything)


def test_redrive_killed_between_send_and_delete_loses_nothing(make_team, tmp_path, capsys):
    queue = make_team()
    everything = tasks("a", 9, "alpha") + tasks("b", 8, "beta") + tasks("c", 8, "gamma")
    bury(queue, *everything)
    config = config_file(tmp_path, queue)

    killed = redrive_killed(config, "before-delete", 2)

    assert killed.returncode == -signal.SIGKILL, killed.stderr
    # the batch that was sent but not deleted reappears in the DLQ when its hold lapses
    wait_until_visible(queue, queue.config.dlq_url, 15)

    code, _, _ = run(capsys, "dlq", "redrive", "--method", "receive", "--config", config)

    assert code == 0
    assert counts(queue, queue.config.dlq_url) == (0, 0)
    moved = drain(queue, queue.config.queue_url)
    seen = Counter(queue.to_task(m).task_id for m in moved)
    assert set(seen) == {s.task_id for s in everything}
    assert sorted(seen.values()) == [1] * 15 + [2] * 10  # at worst sent twice: the interrupted batch


# -- dlq purge -------------------------------------------------------------------------------


class Terminal(io.StringIO):
    """stdin that claims to be a terminal, with the operator's answer."""

    def isatty(self) -> bool:
        return True


def test_purge_without_yes_and_without_a_terminal_refuses(make_team, tmp_path):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"))

    result = subprocess.run(
        [str(SQSTASK), "dlq", "purge", "--config", config_file(tmp_path, queue)],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=dict(os.environ),
    )

    assert result.returncode == 1
    assert result.stderr == (
        "sqstask: error: refusing to purge 3 message(s) from team-dlq.fifo without --yes: "
        "there is no terminal to confirm on\n"
    )
    assert counts(queue, queue.config.dlq_url) == (3, 0)


def test_purge_with_yes_deletes_everything(make_team, tmp_path, capsys):
    queue = make_team()
    bury(queue, *tasks("a", 3, "alpha"))

    code, out, _ = run(capsys, "dlq", "purge", "--yes", "--config", config_file(tmp_path, queue))

    assert code == 0 and "purged 3 message(s) from team-dlq.fifo" in out
    assert counts(queue, queue.config.dlq_url) == (0, 0)


def test_purge_asks_on_a_terminal_and_stops_unless_confirmed(make_team, tmp_path, capsys, monkeypatch):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))
    monkeypatch.setattr(sys, "stdin", Terminal("n\n"))

    code, _, err = run(capsys, "dlq", "purge", "--config", config_file(tmp_path, queue))

    assert code == 1
    assert "Delete all 2 message(s) in team-dlq.fifo?" in err and "not purged" in err
    assert counts(queue, queue.config.dlq_url) == (2, 0)


def test_purge_on_a_terminal_deletes_after_yes(make_team, tmp_path, capsys, monkeypatch):
    queue = make_team()
    bury(queue, *tasks("a", 2, "alpha"))
    monkeypatch.setattr(sys, "stdin", Terminal("yes\n"))

    code, _, _ = run(capsys, "dlq", "purge", "--config", config_file(tmp_path, queue))

    assert code == 0
    assert counts(queue, queue.config.dlq_url) == (0, 0)


# -- send ------------------------------------------------------------------------------------


def test_send_puts_a_task_on_the_queue_from_a_payload_file(make_team, tmp_path, capsys):
    queue = make_team()
    payload = tmp_path / "payload.json"
    payload.write_text('{"to": "ops@example.com"}')

    code, out, _ = run(
        capsys, "send", "email", "--group", "ops", "--payload", f"@{payload}", "--task-id", "mail-1", "--json",
        "--config", config_file(tmp_path, queue),
    )

    assert code == 0 and json.loads(out)["task_id"] == "mail-1"
    (message,) = drain(queue, queue.config.queue_url)
    task = queue.to_task(message)
    assert (task.task_type, task.group_id, task.payload) == ("email", "ops", {"to": "ops@example.com"})


def test_send_with_invalid_json_payload_is_a_one_line_error(make_team, tmp_path, capsys):
    queue = make_team()

    code, _, err = run(capsys, "send", "email", "--group", "ops", "--payload", "{to:", "--config", config_file(tmp_path, queue))

    assert code == 1
    assert err.startswith("sqstask: error: --payload is not valid JSON") and err.count("\n") == 1
