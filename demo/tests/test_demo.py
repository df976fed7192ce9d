"""`make demo`: the product's smoke test (real Terraform, real provider, moto), its one-line
failures, the exactly-once check, the demo's task code and its narration."""

from __future__ import annotations

import io
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from demo import flow, infra
from demo import tasks as demo_tasks
from demo.checks import Outcome, exactly_once_problems
from demo.narration import Narrator
from sqstask.task import Task

ROOT = Path(__file__).resolve().parents[2]


# -- end to end ------------------------------------------------------------------------------


def test_make_demo_applies_the_module_runs_the_whole_flow_and_ends_with_the_exactly_once_summary(demo_run):
    """What `make demo` runs (`[sys.executable, "-m", "demo"]`, started by conftest.py when
    collection ends), as a user runs it: default workload, real Terraform, real HTTP."""
    code, out, err = demo_run.wait(timeout=900)
    assert code == 0, f"exit {code}\n--- stdout\n{out}\n--- stderr\n{err}"
    total = flow.Workload.tasks + 3 + flow.Workload.worker_tasks  # + statement, poison, ledger export
    assert (
        f"exactly once: {total} tasks sent, {total} COMPLETED in the task table, {total} side effects, "
        f"{flow.Workload.duplicates} duplicate deliveries skipped, 0 left in the queue or the DLQ"
    ) in out
    for step in range(1, flow.STEPS + 1):
        assert f"[{step}/{flow.STEPS}]" in out
    # Terraform applied the module (and destroyed it at the end), with the demo's settings shown.
    assert "Apply complete! Resources: " in out and "Destroy complete! Resources: " in out
    assert "visibility_timeout_seconds = 4: so a failed task comes back in seconds" in out
    # The runbook's commands ran and showed the poison task in the DLQ, then completed.
    dlq_list = out[out.index("$ sqstask dlq list"):out.index("$ sqstask dlq show")]
    assert "receipt-4242" in dlq_list and "MissingEmail" in dlq_list
    assert "moved 1 message(s) from orders-dlq.fifo to orders.fifo" in out
    assert '"sent_to": "billing@example.com"' in out
    assert "Traceback" not in err


# -- failures are one line -------------------------------------------------------------------


def _create_sdk_resources_only(self: flow.Demo) -> None:
    """Step 1 without Terraform (these tests are about what happens after it)."""
    import json

    from sdk_resources import create_sdk_resources
    from sqstask.config import QueueConfig
    from sqstask.queue import TaskQueue

    config = create_sdk_resources(self.client, flow.TEAM, region=infra.REGION, visibility_timeout_seconds=4)
    text = json.dumps(config)
    Path(self.config_path).write_text(text)
    parsed = QueueConfig.from_json(text)
    self.team = flow.Team.read(parsed, self.client("sqs"))
    self.queue = TaskQueue(config=parsed)


def _skip(self: flow.Demo) -> None:
    return None


def test_demo_exits_1_and_says_what_went_wrong_when_tasks_did_not_complete(monkeypatch):
    monkeypatch.setattr(flow.Demo, "create", _create_sdk_resources_only)
    monkeypatch.setattr(flow.Demo, "process", _skip)
    monkeypatch.setattr(flow.Demo, "inspect", _skip)
    monkeypatch.setattr(flow.Demo, "fix_and_redrive", _skip)
    out = io.StringIO()

    code = flow.run_demo(out, workload=flow.Workload(tasks=20, resent=5))

    text = out.getvalue()
    assert code == 1, text
    assert "FAILED: not every task completed exactly once" in text
    assert "22 task(s) never completed" in text  # 20 receipts, the statement and the poison task
    assert "message(s) are still in the queue" in text
    assert "tasks sent," not in text  # no success summary


def test_demo_exits_1_with_one_line_when_a_step_fails(monkeypatch):
    def broken(self: flow.Demo) -> None:
        raise flow.DemoFailed("the worker did not finish within 120 s: 3/21 tasks completed")

    monkeypatch.setattr(flow.Demo, "create", _create_sdk_resources_only)
    monkeypatch.setattr(flow.Demo, "send", broken)
    out = io.StringIO()

    code = flow.run_demo(out, workload=flow.Workload(tasks=20, resent=5))

    assert code == 1
    assert out.getvalue().rstrip().splitlines()[-1] == (
        "FAILED: the worker did not finish within 120 s: 3/21 tasks completed"
    )


def test_without_a_provider_the_demo_says_what_to_set_in_one_line(monkeypatch):
    import localaws

    def no_provider():
        raise localaws.ProviderNotFound("no hashicorp/aws provider: set SQSTASK_TF_PROVIDER to its binary\nmore")

    monkeypatch.setattr(localaws, "find_provider", no_provider)
    out = io.StringIO()

    code = flow.run_demo(out)

    assert code == 1
    assert out.getvalue().rstrip().splitlines()[-1] == "FAILED: no hashicorp/aws provider: set SQSTASK_TF_PROVIDER to its binary"


def test_a_failed_apply_is_one_line_naming_the_resource_and_terraforms_error():
    output = (
        "terraform apply of demo/terraform failed (exit 1):\n\n"
        "Error: creating SQS Queue (orders.fifo): InvalidAttributeValue: bad\n\n"
        '  with module.tasks.module.queue.aws_sqs_queue.main,\n  on modules/queue/main.tf line 40\n'
    )
    assert infra.terraform_error(output) == (
        "terraform apply failed at module.tasks.module.queue.aws_sqs_queue.main: "
        "creating SQS Queue (orders.fifo): InvalidAttributeValue: bad"
    )


def test_too_few_tasks_is_one_line():
    result = subprocess.run([sys.executable, "-m", "demo", "--tasks", "3"], cwd=ROOT, capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == ["make demo: --tasks: tasks must be at least 20, got 3"]


# -- the demo's settings ---------------------------------------------------------------------


def test_every_setting_the_demo_changes_is_a_root_variable_set_away_from_its_default_with_a_reason():
    import hcl2

    variables = {}
    with open(ROOT / "variables.tf", encoding="utf-8") as fh:
        for block in hcl2.load(fh)["variable"]:
            variables.update({label.strip('"'): body for label, body in block.items()})
    module = (ROOT / infra.CONFIGURATION / "main.tf").read_text()
    body = module[module.index('module "tasks"'):]
    settings = [infra.SETTING_LINE.match(line) for line in body.splitlines()]
    settings = [m.groups() for m in settings if m]
    assert settings, "demo/terraform/main.tf sets nothing with a reason"
    for name, value, why in settings:
        assert name in variables, f"{name} is not a variable of the root module"
        default = str(variables[name].get("default")).strip('"')
        assert default.lower() != value.lower(), f"the demo sets {name} to its default {default}"
        assert len(why.split()) >= 3, f"{name}: say why the demo changes it"
    # Every other line of the module block is the source or the name: nothing changed silently.
    others = [line.strip() for line in body.splitlines()[1:] if "=" in line and not infra.SETTING_LINE.match(line)]
    assert [line.split("=")[0].strip() for line in others] == ["source", "name"]


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
    return Outcome(**values)


def test_exactly_once_holds_when_every_task_ran_once_and_completed():
    assert exactly_once_problems(outcome()) == []


def test_a_task_that_ran_twice_breaks_exactly_once():
    problems = exactly_once_problems(outcome(done=Counter({"a": 1, "b": 2, "c": 1})))
    assert problems == ["1 task(s) ran more than once: b"]


def test_a_task_that_never_ran_breaks_exactly_once():
    problems = exactly_once_problems(outcome(done=Counter({"a": 1, "b": 1})))
    assert problems == ["1 task(s) never completed: c"]


def test_a_side_effect_of_a_task_never_sent_is_reported():
    problems = exactly_once_problems(outcome(done=Counter({"a": 1, "b": 1, "c": 1, "z": 1})))
    assert problems == ["1 task(s) ran that were never sent: z"]


def test_a_record_that_is_not_completed_is_reported_with_its_status():
    problems = exactly_once_problems(outcome(records={"a": "COMPLETED", "b": "FAILED", "c": "COMPLETED"}))
    assert problems == ["1 task record(s) are not COMPLETED (1 FAILED): b"]


def test_a_missing_record_is_reported():
    problems = exactly_once_problems(outcome(records={"a": "COMPLETED", "b": "COMPLETED"}))
    assert problems == ["1 task(s) have no record in the task table: c"]


def test_messages_left_in_the_queue_or_dlq_are_reported():
    problems = exactly_once_problems(outcome(queue_left=2, dlq_left=1))
    assert problems == ["2 message(s) are still in the queue", "1 message(s) are still in the dead-letter queue"]


def test_duplicates_that_were_not_skipped_are_reported():
    problems = exactly_once_problems(outcome(duplicates_skipped=1))
    assert problems == ["only 1 of the 2 duplicate deliveries were skipped by idempotency"]


def test_long_lists_of_task_ids_are_shortened():
    expected = {f"t{n}" for n in range(8)}
    problems = exactly_once_problems(outcome(expected=expected, done=Counter(), records={t: "COMPLETED" for t in expected}))
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
    narrator = Narrator(out, tty=False)
    narrator.progress("1/10", every=3600)
    narrator.progress("2/10", every=3600)  # within the interval: not printed
    narrator.done("10/10")
    assert out.getvalue().splitlines() == ["  1/10", "  10/10"]


def test_progress_on_a_terminal_rewrites_one_line():
    out = io.StringIO()
    narrator = Narrator(out, tty=True)
    narrator.progress("1/10")
    narrator.progress("2/10")
    narrator.done("10/10")
    assert out.getvalue() == "\r  1/10\r  2/10\r  10/10\n"


def test_the_demo_environment_pins_what_the_tests_run_the_demo_with():
    """`make demo` installs demo/requirements.txt; the tests run the demo in the test environment.
    Each pin must be the version installed here, or the two would run different code."""
    from importlib.metadata import version

    pins = {}
    for line in (ROOT / "demo" / "requirements.txt").read_text().splitlines():
        requirement = line.split("#")[0].strip()
        if requirement:
            name, _, pinned = requirement.partition("==")
            pins[name.split("[")[0]] = pinned
    assert {"boto3", "moto"} <= set(pins), pins
    assert {name: version(name) for name in pins} == pins
