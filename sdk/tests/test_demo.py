"""`sqstask demo`: the product's smoke test, its exactly-once check, and the demo's task code."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from sqstask import cli, demo, demo_tasks
from sqstask.task import Task

SQSTASK = Path(sys.executable).with_name("sqstask")


# -- end to end ------------------------------------------------------------------------------


def test_make_demo_runs_the_whole_flow_and_ends_with_the_exactly_once_summary():
    """What `make demo` runs, as a user runs it: the console script, default workload, real HTTP."""
    result = subprocess.run([str(SQSTASK), "demo"], capture_output=True, text=True, timeout=600, check=False)
    out = result.stdout
    assert result.returncode == 0, f"exit {result.returncode}\n--- stdout\n{out}\n--- stderr\n{result.stderr}"
    total = demo.Workload.tasks + 3 + demo.Workload.worker_tasks  # + statement, poison, ledger export
    assert (
        f"exactly once: {total} tasks sent, {total} COMPLETED in the task table, {total} side effects, "
        f"{demo.Workload.duplicates} duplicate deliveries skipped, 0 left in the queue or the DLQ"
    ) in out
    for step in range(1, demo.STEPS + 1):
        assert f"[{step}/{demo.STEPS}]" in out
    # The runbook's commands ran and showed the poison task in the DLQ, then completed.
    dlq_list = out[out.index("$ sqstask dlq list"):out.index("$ sqstask dlq show")]
    assert "receipt-4242" in dlq_list and "MissingEmail" in dlq_list
    assert "moved 1 message(s) from orders-dlq.fifo to orders.fifo" in out
    assert '"sent_to": "billing@example.com"' in out
    assert "Traceback" not in result.stderr


def _skip(self: demo.Demo) -> None:
    return None


def test_demo_exits_1_and_says_what_went_wrong_when_tasks_did_not_complete(monkeypatch, capsys):
    monkeypatch.setattr(demo.Demo, "process", _skip)
    monkeypatch.setattr(demo.Demo, "inspect", _skip)
    monkeypatch.setattr(demo.Demo, "fix_and_redrive", _skip)
    out = io.StringIO()

    code = demo.run_demo(out, workload=demo.Workload(tasks=20, resent=5))

    text = out.getvalue()
    assert code == 1, text
    assert "FAILED: not every task completed exactly once" in text
    assert "22 task(s) never completed" in text  # 20 receipts, the statement and the poison task
    assert "message(s) are still in the queue" in text
    assert "tasks sent," not in text  # no success summary


def test_demo_exits_1_with_one_line_when_a_step_fails(monkeypatch):
    def broken(self: demo.Demo) -> None:
        raise demo.DemoFailed("the worker did not finish within 120 s: 3/21 tasks completed")

    monkeypatch.setattr(demo.Demo, "send", broken)
    out = io.StringIO()

    code = demo.run_demo(out, workload=demo.Workload(tasks=20, resent=5))

    assert code == 1
    assert out.getvalue().rstrip().splitlines()[-1] == (
        "FAILED: the worker did not finish within 120 s: 3/21 tasks completed"
    )


def test_demo_command_rejects_too_few_tasks_in_one_line(capsys):
    code = cli.main(["demo", "--tasks", "3"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines() == ["sqstask: error: --tasks: tasks must be at least 20, got 3"]


def test_demo_is_a_registered_command():
    parser = cli.build_parser()
    args = parser.parse_args(["demo"])
    assert args.func is demo._cmd_demo and args.tasks == demo.Workload.tasks


# -- the exactly-once check ------------------------------------------------------------------


def outcome(**changes):
    values = dict(
        expected={"a", "b", "c"},
        done=Counter({"a": 1, "b": 1, "c": 1}),
        records={"a": "COMPLETED", "b": "COMPLETED", "c": "COMPLETED"},
        queue_left=0,
        dlq_left=0,
        duplicates_sent=2,
        duplicates_skipped=2,
    )
    values.update(changes)
    return demo.Outcome(**values)


def test_exactly_once_holds_when_every_task_ran_once_and_completed():
    assert demo.exactly_once_problems(outcome()) == []


def test_a_task_that_ran_twice_breaks_exactly_once():
    problems = demo.exactly_once_problems(outcome(done=Counter({"a": 1, "b": 2, "c": 1})))
    assert problems == ["1 task(s) ran more than once: b"]


def test_a_task_that_never_ran_breaks_exactly_once():
    problems = demo.exactly_once_problems(outcome(done=Counter({"a": 1, "b": 1})))
    assert problems == ["1 task(s) never completed: c"]


def test_a_side_effect_of_a_task_never_sent_is_reported():
    problems = demo.exactly_once_problems(outcome(done=Counter({"a": 1, "b": 1, "c": 1, "z": 1})))
    assert problems == ["1 task(s) ran that were never sent: z"]


def test_a_record_that_is_not_completed_is_reported_with_its_status():
    problems = demo.exactly_once_problems(outcome(records={"a": "COMPLETED", "b": "FAILED", "c": "COMPLETED"}))
    assert problems == ["1 task record(s) are not COMPLETED (1 FAILED): b"]


def test_a_missing_record_is_reported():
    problems = demo.exactly_once_problems(outcome(records={"a": "COMPLETED", "b": "COMPLETED"}))
    assert problems == ["1 task(s) have no record in the task table: c"]


def test_messages_left_in_the_queue_or_dlq_are_reported():
    problems = demo.exactly_once_problems(outcome(queue_left=2, dlq_left=1))
    assert problems == ["2 message(s) are still in the queue", "1 message(s) are still in the dead-letter queue"]


def test_duplicates_that_were_not_skipped_are_reported():
    problems = demo.exactly_once_problems(outcome(duplicates_skipped=1))
    assert problems == ["only 1 of the 2 duplicate deliveries were skipped by idempotency"]


def test_long_lists_of_task_ids_are_shortened():
    expected = {f"t{n}" for n in range(8)}
    problems = demo.exactly_once_problems(outcome(expected=expected, done=Counter(), records={t: "COMPLETED" for t in expected}))
    assert problems == ["8 task(s) never completed: t0, t1, t2, t3, t4 and 3 more"]


# -- the demo's task code --------------------------------------------------------------------


def task(task_type: str, payload, task_id: str = "t-1") -> Task:
    return Task(task_id=task_id, task_type=task_type, payload=payload, group_id="g", receive_count=1,
                message_id="m-1", sent_at=None)


@pytest.fixture
def effects():
    demo_tasks.EFFECTS.reset()
    yield demo_tasks.EFFECTS
    demo_tasks.EFFECTS.reset()


def test_a_receipt_goes_to_the_orders_email_address(effects):
    result = demo_tasks.handle(task("send-receipt", {"order": 7, "email": "a@example.com"}))
    assert result == {"order": 7, "sent_to": "a@example.com"}
    assert effects.done["t-1"] == 1


def test_an_order_without_email_fails_until_the_fix(effects):
    poison = task("send-receipt", {"order": 4242, "email": None})
    with pytest.raises(demo_tasks.MissingEmail, match="order 4242 has no e-mail address"):
        demo_tasks.handle(poison)
    assert effects.failures["t-1"] == 1 and effects.done["t-1"] == 0

    effects.fixed = True
    assert demo_tasks.handle(poison)["sent_to"] == demo_tasks.BILLING_ADDRESS
    assert effects.done["t-1"] == 1 and effects.runs["t-1"] == 2


def test_a_statement_reports_the_size_of_the_payload_it_read(effects):
    result = demo_tasks.handle(task("render-statement", {"lines": ["ab", "cde"]}))
    assert result == {"lines": 2, "characters": 5}
    assert effects.statement_bytes["t-1"] == 5


def test_an_unknown_task_type_fails(effects):
    with pytest.raises(ValueError, match="unknown task type 'nope'"):
        demo_tasks.handle(task("nope", {}))
    assert effects.failures["t-1"] == 1


# -- narration -------------------------------------------------------------------------------


def test_progress_without_a_terminal_prints_lines_at_most_every_interval():
    out = io.StringIO()
    narrator = demo.Narrator(out, tty=False)
    narrator.progress("1/10", every=3600)
    narrator.progress("2/10", every=3600)  # within the interval: not printed
    narrator.done("10/10")
    assert out.getvalue().splitlines() == ["  1/10", "  10/10"]


def test_progress_on_a_terminal_rewrites_one_line():
    out = io.StringIO()
    narrator = demo.Narrator(out, tty=True)
    narrator.progress("1/10")
    narrator.progress("2/10")
    narrator.done("10/10")
    assert out.getvalue() == "\r  1/10\r  2/10\r  10/10\n"
