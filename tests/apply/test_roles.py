"""Roles under IAM enforcement: examples/multi-team applied to moto, each SDK entry point and CLI
command run as a principal holding exactly one of the module's policies.

Each case is run as the team's producer, consumer and operator (IAM users holding exactly
`<team>-producer`, `<team>-consumer`, `<team>-operator`): allowed where the role should be,
AccessDenied elsewhere. Then every case is run against another team's resources as this team's
principals: AccessDenied for every role. The outcome is printed as a table.

moto evaluates identity policies only, and performs no KMS call for SSE: key policies and
resource policies are asserted as documents in `terraform test`; a customer managed key changes
nothing here. Entry points moto 5.2.5 cannot judge are left out (tests/test_role_actions.py still
checks their grants against what they call):

- offloaded payloads: moto answers PutObject of the large body with a bare 403 for every
  principal, granted or not;
- `TaskQueue.send_at`: CreateSchedule is refused even when granted on the group's schedules;
- `sqstask alarms`: moto names CloudWatch actions `monitoring:*`, not `cloudwatch:*`.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from localaws.pool import Applied, ApplyPool
from localaws.principals import Principal, access_denied, policy_arn

pytestmark = pytest.mark.apply("multi-team")

TEAM = "payments"
OTHER = "search"
ROLES = ("producer", "consumer", "operator")


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
        return TaskQueue(config=config, session=self.principal.session())

    def cli(self, *argv: str) -> int:
        from sqstask.cli import main

        for name, value in self.principal.env().items():
            self.monkeypatch.setenv(name, value)
        self.monkeypatch.setenv("SQSTASK_CONFIG", json.dumps(self.config))
        self.monkeypatch.setenv("SQSTASK_ENDPOINT_URL", self.principal.server.endpoint)
        return main(list(argv))


def cli_case(*argv: str) -> Callable[[Context], None]:
    """A CLI command as a case: exit 0 is allowed; a refusal must come from IAM."""

    def run(ctx: Context) -> None:
        errors = io.StringIO()
        with contextlib.redirect_stderr(errors):
            code = ctx.cli(*argv)
        if code != 0:
            raise CommandFailed(f"sqstask {' '.join(argv)} exited {code}: {errors.getvalue().strip()}")

    return run


class CommandFailed(RuntimeError):
    """A CLI command exited non-zero; its one-line error is on stderr."""


def send(ctx: Context) -> None:
    ctx.queue().send("matrix", {"n": 1}, group_id="matrix", task_id=f"matrix-{time.monotonic_ns()}")


def receive_and_handle(ctx: Context) -> None:
    from sqstask.handler import batch_handler
    from sqstask.lambda_local import event_from_messages

    queue = ctx.queue()
    messages = queue.receive(max_messages=1, wait_seconds=1)
    if messages:
        event = event_from_messages(messages, event_source_arn=ctx.config["queue_arn"], region=ctx.config["region"])
        batch_handler(queue)(lambda task: {"ok": True})(event, None)


def change_visibility(ctx: Context) -> None:
    queue = ctx.queue()
    messages = queue.receive(max_messages=1, wait_seconds=1)
    if messages:
        queue.change_visibility_many(messages, 30)


# (name, case, roles allowed on the team's own resources). Operators may send because a redrive
# is a send to the queue (`sqstask dlq redrive`, `schedules run`).
CASES: list[tuple[str, Callable[[Context], None], set[str]]] = [
    ("TaskQueue.send", send, {"producer", "operator"}),
    ("sqstask send", cli_case("send", "matrix", "--group", "matrix", "--payload", "{}"), {"producer", "operator"}),
    ("receive + batch_handler", receive_and_handle, {"consumer"}),
    ("change visibility (Heartbeat)", change_visibility, {"consumer"}),
    ("sqstask status", cli_case("status"), {"operator"}),
    ("sqstask dlq list", cli_case("dlq", "list"), {"operator"}),
    ("sqstask dlq redrive --dry-run", cli_case("dlq", "redrive", "--dry-run"), {"operator"}),
    ("sqstask schedules list", cli_case("schedules", "list"), {"operator"}),
]


def outcome(case: Callable[[Context], None], ctx: Context) -> str:
    try:
        case(ctx)
    except Exception as error:  # noqa: BLE001 - the outcome is what is being tested
        if access_denied(error):
            return "denied"
        return f"error: {type(error).__name__}: {error}"
    return "allowed"


@pytest.fixture(scope="module")
def applied(apply_pool: ApplyPool) -> Applied:
    return apply_pool.get("multi-team")


@pytest.fixture(scope="module")
def principals(applied: Applied) -> dict[str, Principal]:
    return {
        role: Principal.create(applied.server, f"matrix-{TEAM}-{role}", policy_arns=[policy_arn(applied.server, f"{TEAM}-{role}")])
        for role in ROLES
    }


def sdk_config(applied: Applied, team: str) -> dict[str, Any]:
    return json.loads(applied.deployment.output("sdk_configs")[team])


def run_matrix(applied: Applied, principals: dict[str, Principal], team: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, dict[str, str]]:
    config = sdk_config(applied, team)
    results: dict[str, dict[str, str]] = {}
    for name, case, _ in CASES:
        results[name] = {}
        for role in ROLES:
            with monkeypatch.context() as patch:
                results[name][role] = outcome(case, Context(config, principals[role], patch))
    return results


def table(title: str, results: dict[str, dict[str, str]]) -> str:
    width = max(len(name) for name in results)
    lines = [title, f"{'entry point':<{width}}  " + "  ".join(f"{role:<9}" for role in ROLES)]
    for name, row in results.items():
        lines.append(f"{name:<{width}}  " + "  ".join(f"{row[role][:9]:<9}" for role in ROLES))
    return "\n".join(lines)


def test_each_role_may_do_its_job_and_nothing_else(applied, principals, monkeypatch, capsys):
    results = run_matrix(applied, principals, TEAM, monkeypatch)
    with capsys.disabled():
        print("\n" + table(f"team {TEAM}, own resources (IAM enforced)", results))
    wrong = [
        f"{name} as {role}: {results[name][role]} (expected {'allowed' if role in allowed else 'denied'})"
        for name, _, allowed in CASES
        for role in ROLES
        if results[name][role] != ("allowed" if role in allowed else "denied")
    ]
    assert not wrong, "\n".join(wrong)


# Across teams everything is refused, except listing schedule names: ListSchedules supports no
# resource-level permissions, so an operator sees other groups' schedule names and states (not
# their inputs: GetSchedule stays limited to the team's group).
CROSS_TEAM_ALLOWED = {"sqstask schedules list": {"operator"}}


def test_no_role_of_one_team_reaches_another_teams_resources(applied, principals, monkeypatch, capsys):
    results = run_matrix(applied, principals, OTHER, monkeypatch)
    with capsys.disabled():
        print("\n" + table(f"team {TEAM}'s principals on team {OTHER}'s resources", results))
    wrong = [
        f"{name} as {role}: {results[name][role]}"
        for name, _, _ in CASES
        for role in ROLES
        if results[name][role] != ("allowed" if role in CROSS_TEAM_ALLOWED.get(name, set()) else "denied")
    ]
    assert not wrong, "\n".join(wrong)
