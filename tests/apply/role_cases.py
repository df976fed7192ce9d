"""Every SDK entry point and CLI command as a case of the role matrix: run as a principal holding
exactly one of the module's policies, on applied resources, allowed or refused by IAM.

A case that changes something checks the change took place (a redrive moved the message, a
delayed send's schedule has the schedule DLQ), so "allowed" means the command did its job.
Cases that need something to act on (a task to receive, a dead letter to list, redrive or purge)
are given it first by the server's administrator, before each principal's attempt.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from localaws.principals import Principal, access_denied

ROLES = ("producer", "consumer", "operator")
# The schedule MODULE_ARGUMENTS (tests/apply/conftest.py) gives the teams the matrix runs on.
SCHEDULE = "nightly-report"
REDRIVE_TYPE = "matrix-redrive"


@dataclass
class Context:
    """What a case runs with: the team's sdk_config and a principal's credentials."""

    config: dict[str, Any]
    principal: Principal
    monkeypatch: pytest.MonkeyPatch

    def queue(self) -> Any:
        from sqstask import TaskQueue
        from sqstask.config import QueueConfig

        config = QueueConfig.from_mapping({**self.config, "endpoint_url": self.principal.server.endpoint})
        return TaskQueue(config=config, session=_session(self.principal))

    def cli(self, *argv: str) -> int:
        from sqstask.cli import main

        for name, value in self.principal.env().items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setenv("SQSTASK_CONFIG", json.dumps(self.config))
        self.monkeypatch.setenv("SQSTASK_ENDPOINT_URL", self.principal.server.endpoint)
        return main(list(argv))

    def admin(self, service: str) -> Any:
        """A client of the server's administrator (preparing and reading back, never the case itself)."""
        return self.principal.server.client(service)


_SESSIONS: dict[tuple[str, str], Any] = {}


def _session(principal: Principal) -> Any:
    """One boto3 session per principal: a new session loads botocore's models again (~0.2 s a case)."""
    key = (principal.server.endpoint, principal.name)
    if key not in _SESSIONS:
        _SESSIONS[key] = principal.session()
    return _SESSIONS[key]


class CommandFailed(RuntimeError):
    """A CLI command exited non-zero (its one-line error is in the message), or did not do its job."""


def cli_case(*argv: str, expect: Callable[[Any], None] | None = None) -> Callable[[Context], None]:
    """A CLI command as a case: exit 0 is allowed; a refusal must come from IAM.

    With `expect`, the command runs with `--json` and `expect(output)` checks what it did.
    """

    def run(ctx: Context) -> None:
        errors, output = io.StringIO(), io.StringIO()
        args = [*argv, "--json"] if expect is not None else list(argv)
        with contextlib.redirect_stderr(errors), contextlib.redirect_stdout(output):
            code = ctx.cli(*args)
        if code != 0:
            raise CommandFailed(f"sqstask {' '.join(args)} exited {code}: {errors.getvalue().strip()}")
        if expect is not None:
            expect(json.loads(output.getvalue()))

    return run


def expect(condition: Callable[[Any], bool], what: str) -> Callable[[Any], None]:
    def check(output: Any) -> None:
        if not condition(output):
            raise CommandFailed(f"{what}; the command printed {json.dumps(output)[:300]}")

    return check


@dataclass(frozen=True)
class Case:
    """One entry point: how to run it, and the roles allowed to on the team's own resources."""

    name: str
    run: Callable[[Context], None]
    allowed: frozenset[str]
    prepare: Callable[[Context], None] | None = None


def send(ctx: Context) -> None:
    ctx.queue().send("matrix", {"n": 1}, group_id="matrix", task_id=f"matrix-{time.monotonic_ns()}")


def send_offloaded(ctx: Context) -> None:
    """A payload over the queue's message size: stored in the payload bucket, then sent."""
    size = int(ctx.config["max_message_size"]) + 1024
    ctx.queue().send("matrix", {"blob": "x" * size}, group_id="matrix", task_id=f"matrix-large-{time.monotonic_ns()}")


def receive_and_handle(ctx: Context) -> None:
    from sqstask.handler import batch_handler
    from sqstask.lambda_local import event_from_messages

    queue = ctx.queue()
    event = event_from_messages(_received(queue), event_source_arn=ctx.config["queue_arn"], region=ctx.config["region"])
    # The handler records each task's state (UpdateItem) and reports a task it could not record
    # as a batch item failure rather than raising: a refusal there must not pass for "allowed".
    failures = batch_handler(queue)(lambda task: {"ok": True})(event, None)["batchItemFailures"]
    if failures:
        raise CommandFailed(f"batch_handler reported failures {failures} (see its log for the cause)")


def change_visibility(ctx: Context) -> None:
    queue = ctx.queue()
    queue.change_visibility_many(_received(queue), 30)


def _received(queue: Any) -> list[dict[str, Any]]:
    """One message of the task `queued_task` put there (each case's attempt gets its own)."""
    messages = queue.receive(max_messages=1, wait_seconds=1)
    if not messages:
        raise CommandFailed("nothing to receive, though a task was queued for this attempt")
    return messages


def send_at(ctx: Context) -> None:
    """A delayed send: a one-time schedule in the team's group, whose undeliverable runs go to the
    schedule DLQ named in sdk_config (read back by the administrator, then removed)."""
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    scheduled = ctx.queue().send_at(when, "matrix", {"n": 1}, group_id="matrix", task_id=f"matrix-at-{time.monotonic_ns()}")
    scheduler = ctx.admin("scheduler")
    try:
        target = scheduler.get_schedule(Name=scheduled.schedule_name, GroupName=scheduled.group_name)["Target"]
    finally:
        scheduler.delete_schedule(Name=scheduled.schedule_name, GroupName=scheduled.group_name)
    dead_letter = (target.get("DeadLetterConfig") or {}).get("Arn")
    if not dead_letter or dead_letter != ctx.config.get("schedule_dead_letter_arn"):
        raise CommandFailed(f"the delayed send's schedule has dead-letter queue {dead_letter!r}, "
                            f"not sdk_config's schedule_dead_letter_arn {ctx.config.get('schedule_dead_letter_arn')!r}")


def queued_task(ctx: Context) -> None:
    """Put one task in the team's queue, in a group of its own (so no earlier task holds it back)."""
    from sqstask.task import deduplication_id, encode_envelope, task_attributes

    task_id = f"matrix-queued-{time.monotonic_ns()}"
    ctx.admin("sqs").send_message(
        QueueUrl=ctx.config["queue_url"], MessageBody=encode_envelope(task_id, "matrix", {"n": 1}),
        MessageAttributes=task_attributes(task_id, "matrix"), MessageGroupId=task_id,
        MessageDeduplicationId=deduplication_id(task_id),
    )


def dead_letter(ctx: Context) -> None:
    """Put one sqstask task of type REDRIVE_TYPE in the team's DLQ, as a failed task gets there."""
    from sqstask.task import deduplication_id, encode_envelope, task_attributes

    task_id = f"matrix-dead-{time.monotonic_ns()}"
    ctx.admin("sqs").send_message(
        QueueUrl=ctx.config["dlq_url"], MessageBody=encode_envelope(task_id, REDRIVE_TYPE, {"n": 1}),
        MessageAttributes=task_attributes(task_id, REDRIVE_TYPE), MessageGroupId="matrix",
        MessageDeduplicationId=deduplication_id(task_id),
    )


def set_state(state: str) -> Callable[[Context], None]:
    """Prepare `schedules enable|disable`: the schedule starts in `state`, so the command has a change to make."""

    def prepare(ctx: Context) -> None:
        from sqstask.schedules import update_request

        scheduler = ctx.admin("scheduler")
        current = scheduler.get_schedule(Name=SCHEDULE, GroupName=ctx.config["schedule_group"])
        if current["State"] != state:
            scheduler.update_schedule(Name=SCHEDULE, **update_request(current, state=state))

    return prepare


def changed_to(state: str) -> Callable[[Any], None]:
    return expect(lambda out: out.get("after") == state and out.get("changed") is True, f"the schedule was not changed to {state}")


CASES: list[Case] = [
    # Operators may send because a redrive is a send to the queue (`dlq redrive`, `schedules run`).
    Case("TaskQueue.send", send, frozenset({"producer", "operator"})),
    Case("sqstask send", cli_case("send", "matrix", "--group", "matrix", "--payload", "{}"), frozenset({"producer", "operator"})),
    Case("TaskQueue.send (payload to S3)", send_offloaded, frozenset({"producer"})),
    Case("TaskQueue.send_at", send_at, frozenset({"producer"})),
    Case("receive + batch_handler", receive_and_handle, frozenset({"consumer"}), prepare=queued_task),
    Case("change visibility (Heartbeat)", change_visibility, frozenset({"consumer"}), prepare=queued_task),
    Case("sqstask status", cli_case("status"), frozenset({"operator"})),
    Case("sqstask alarms", cli_case("alarms"), frozenset({"operator"})),
    Case("sqstask dlq list", cli_case("dlq", "list"), frozenset({"operator"}), prepare=dead_letter),
    Case("sqstask dlq redrive --dry-run", cli_case("dlq", "redrive", "--dry-run"), frozenset({"operator"}), prepare=dead_letter),
    Case(
        "sqstask dlq redrive",
        cli_case("dlq", "redrive", "--type", REDRIVE_TYPE, "--method", "receive", "--visibility-timeout", "5",
                 expect=expect(lambda out: out.get("moved", 0) >= 1, "no dead letter was moved")),
        frozenset({"operator"}), prepare=dead_letter,
    ),
    Case(
        "sqstask dlq purge --yes",
        cli_case("dlq", "purge", "--yes", expect=expect(lambda out: out.get("purged", 0) >= 1, "nothing was purged")),
        frozenset({"operator"}), prepare=dead_letter,
    ),
    Case("sqstask schedules list", cli_case("schedules", "list"), frozenset({"operator"})),
    Case("sqstask schedules disable", cli_case("schedules", "disable", SCHEDULE, expect=changed_to("DISABLED")),
         frozenset({"operator"}), prepare=set_state("ENABLED")),
    Case("sqstask schedules enable", cli_case("schedules", "enable", SCHEDULE, expect=changed_to("ENABLED")),
         frozenset({"operator"}), prepare=set_state("DISABLED")),
    Case("sqstask schedules run", cli_case("schedules", "run", SCHEDULE,
                                           expect=expect(lambda out: bool(out.get("message_id")), "no message was sent")),
         frozenset({"operator"})),
]


def outcome(case: Case, ctx: Context) -> str:
    """"allowed", "denied" (an IAM refusal), or "error: ..." for anything else."""
    try:
        if case.prepare is not None:
            case.prepare(ctx)
        case.run(ctx)
    except Exception as error:  # noqa: BLE001 - the outcome is what is being tested
        if access_denied(error):
            return "denied"
        return f"error: {type(error).__name__}: {error}"
    return "allowed"


Results = dict[str, dict[str, str]]


def run_matrix(config: dict[str, Any], principals: dict[str, Principal], monkeypatch: pytest.MonkeyPatch,
               cases: Iterable[Case] = CASES, only: Callable[[Case, str], bool] | None = None) -> Results:
    """Every case as every principal (by role) on the resources `config` names (with `only`, the
    (case, role) pairs it accepts)."""
    results: Results = {}
    for case in cases:
        results[case.name] = {}
        for role, principal in principals.items():
            if only is not None and not only(case, role):
                continue
            with monkeypatch.context() as patch:
                results[case.name][role] = outcome(case, Context(config, principal, patch))
    return results


def table(title: str, results: Results) -> str:
    """principal x entry point: allowed / denied / error ("-": not run)."""
    roles = [role for role in ROLES if any(role in row for row in results.values())]
    width = max(len(name) for name in results)
    lines = [title, f"{'entry point':<{width}}  " + "  ".join(f"{role:<9}" for role in roles)]
    for name, row in results.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row.get(role, '-')[:9]:<9}" for role in roles))
    return "\n".join(lines)


def unexpected(results: Results, allowed: Callable[[str, str], bool]) -> list[str]:
    """Each (entry point, role) whose outcome is not the one `allowed(name, role)` says."""
    return [
        f"{name} as {role}: {result} (expected {'allowed' if allowed(name, role) else 'denied'})"
        for name, row in results.items()
        for role, result in row.items()
        if result != ("allowed" if allowed(name, role) else "denied")
    ]
