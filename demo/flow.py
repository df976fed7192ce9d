"""The demo's story: one team's whole task pipeline, end to end, on a local AWS emulator.

`make demo` runs it (``python -m demo``). It starts a moto server, applies the Terraform
configuration in ``demo/terraform`` (the root module for one team with its defaults, except
the settings printed with their reasons) with real Terraform and the real AWS provider through
the test harness ``tests/localaws``, then runs the real SDK and CLI on what Terraform created,
configured only by ``terraform output -raw sdk_config``:

1. ``terraform apply``;
2. send a few hundred tasks across several message groups with ``send_many``, one payload
   larger than an SQS message (offloaded to S3) and one poison task;
3. process them with the Lambda handler in the local Lambda runner (``sqstask lambda-local``),
   then with a ``Worker`` running a task that outlives the visibility timeout (the heartbeat
   keeps it invisible) while duplicate deliveries are skipped by idempotency;
4. the poison task reaches the DLQ; ``sqstask alarms``, ``sqstask status`` and
   ``sqstask dlq list``/``show`` show it;
5. "deploy" the fix, ``sqstask dlq redrive``, process again, and check that every task
   completed exactly once: one COMPLETED record per task in the task table, one side effect
   per task, nothing left in the queue or the DLQ; then ``terraform destroy``.

It exits 0 only when that final check holds; otherwise it says what went wrong in one line
(or lists what broke exactly-once) and exits 1.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from sqstask.exceptions import SqstaskError, format_size

from .checks import Outcome, exactly_once_problems
from .infra import LocalAws
from .narration import EventLog, Narrator

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqstask.config import QueueConfig
    from sqstask.queue import TaskQueue

TEAM = "orders"
STEPS = 5
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
DAY = 86400


@dataclass(frozen=True)
class Workload:
    """How much work the demo does (the defaults take about a minute on two cores)."""

    tasks: int = 200  # receipts sent with send_many in step 2
    groups: int = 8  # customers = message groups
    large_payload_bytes: int = 1_500_000  # the statement's payload, over the message size limit
    resent: int = 20  # tasks sent twice within SQS's 5-minute deduplication window
    worker_tasks: int = 20  # receipts the worker handles beside the long export
    duplicates: int = 5  # completed tasks delivered again with new deduplication ids
    ledger_seconds: float = 10.0  # the long export, 2.5 visibility timeouts
    lambda_timeout: float = 30.0  # simulated function timeout (drives the handler's time guard)
    phase_timeout: float = 120.0  # a processing step taking longer than this has failed

    def __post_init__(self) -> None:
        if self.tasks < self.groups or self.tasks < self.resent or self.tasks < self.duplicates:
            raise ValueError(f"tasks must be at least {max(self.groups, self.resent, self.duplicates)}, got {self.tasks}")


class DemoFailed(SqstaskError):
    """A step of the demo could not be completed."""


@dataclass(frozen=True)
class Team:
    """What Terraform created for the team, read back from its sdk_config and the queues."""

    queue_name: str
    queue_url: str
    dlq_name: str
    dlq_url: str
    table: str
    bucket: str
    alarm_names: list[str]
    visibility_timeout: int
    max_message_size: int
    max_receive_count: int
    retention_days: int
    dlq_retention_days: int

    @classmethod
    def read(cls, config: QueueConfig, sqs: Any) -> Team:
        if not (config.dlq_url and config.idempotency_table and config.payload_bucket):
            raise DemoFailed("sdk_config lacks the DLQ, the task table or the payload bucket")

        def attributes(url: str) -> dict[str, str]:
            return dict(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"])

        queue, dlq = attributes(config.queue_url), attributes(config.dlq_url)
        redrive = json.loads(queue.get("RedrivePolicy") or "{}")
        if "maxReceiveCount" not in redrive:
            raise DemoFailed(f"{config.queue_url} has no redrive policy")
        return cls(
            queue_name=config.queue_url.rsplit("/", 1)[-1],
            queue_url=config.queue_url,
            dlq_name=config.dlq_url.rsplit("/", 1)[-1],
            dlq_url=config.dlq_url,
            table=config.idempotency_table,
            bucket=config.payload_bucket,
            alarm_names=list(config.alarm_names),
            visibility_timeout=int(queue["VisibilityTimeout"]),
            max_message_size=int(queue["MaximumMessageSize"]),
            max_receive_count=int(redrive["maxReceiveCount"]),
            retention_days=int(queue["MessageRetentionPeriod"]) // DAY,
            dlq_retention_days=int(dlq["MessageRetentionPeriod"]) // DAY,
        )




class Demo:
    """The five steps, in order, against one emulator endpoint."""

    def __init__(self, infra: LocalAws, workdir: str, narrator: Narrator, events: EventLog, workload: Workload) -> None:
        from demo import tasks as demo_tasks

        self.infra = infra
        self.workdir = workdir
        self.say = narrator
        self.events = events
        self.work = workload
        self.effects = demo_tasks.EFFECTS
        self.effects.reset()
        self._clients: dict[str, Any] = {}
        self.team: Team | None = None
        self.queue: TaskQueue | None = None
        self.config_path = os.path.join(workdir, f"{TEAM}.json")
        self.sent: set[str] = set()
        self.duplicates_sent = 0
        self.poison_id = "receipt-4242"
        self.ledger_id = "ledger-2024"
        self.statement_id = "statement-0001"
        self.problems: list[str] = []  # things that went wrong before the final check

    # -- plumbing ---------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        if service not in self._clients:
            import boto3

            self._clients[service] = self.infra.client(service)
        return self._clients[service]

    def depth(self, url: str) -> int:
        """Messages in a queue: visible + in flight + delayed."""
        attrs = self.client("sqs").get_queue_attributes(
            QueueUrl=url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attrs.values())

    def sqstask(self, *argv: str) -> int:
        """Run one ``sqstask`` command in-process with the team's config; show it and its output."""
        from sqstask.cli import main

        self.say.say(f"$ sqstask {' '.join(argv)}")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = main([*argv, "--config", self.config_path])
        self.say.block(buffer.getvalue())
        if code not in (0, 2):
            self.say.say(f"(exit status {code})")
        return code

    def wait_for(self, what: str, done: Callable[[], bool], status: Callable[[], str]) -> None:
        """Poll ``done`` (showing ``status``) until it holds or the phase times out."""
        deadline = time.monotonic() + self.work.phase_timeout
        while not done():
            if time.monotonic() > deadline:
                raise DemoFailed(f"{what} did not finish within {self.work.phase_timeout:.0f} s: {status()}")
            self.say.progress(status())
            time.sleep(0.25)
        self.say.done(status())

    @contextlib.contextmanager
    def running(self, target: Callable[[], Any], stop: Callable[[], None], name: str) -> Iterator[None]:
        """Run ``target`` on a thread for the duration; stop and join it afterwards."""
        errors: list[BaseException] = []

        def run() -> None:
            try:
                target()
            except BaseException as exc:  # shown by the main thread
                errors.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop()
            thread.join(30)
        if errors:
            raise DemoFailed(f"{name} stopped with {type(errors[0]).__name__}: {errors[0]}")
        if thread.is_alive():
            raise DemoFailed(f"{name} did not stop within 30 s")

    # -- 1. resources -----------------------------------------------------------------------

    def create(self) -> None:
        from sqstask.config import QueueConfig
        from sqstask.queue import TaskQueue

        self.say.step(1, STEPS, f'terraform apply: module "tasks" {{ name = "{TEAM}" }} with its defaults, except')
        for line in self.infra.overrides():
            self.say.say(line)
        sdk_config = self.infra.apply(self.say)
        with open(self.config_path, "w", encoding="utf-8") as fh:
            fh.write(sdk_config)
        config = QueueConfig.from_json(sdk_config, source=self.config_path)
        self.team = team = Team.read(config, self.client("sqs"))
        self.say.fact("emulator", f"{self.infra.endpoint} (moto; nothing here reaches AWS)")
        self.say.fact(
            "queue",
            f"{team.queue_name}: FIFO, visibility {team.visibility_timeout} s, retention "
            f"{team.retention_days} d, messages up to {format_size(team.max_message_size)}, SSE on",
        )
        self.say.fact(
            "dead letters",
            f"{team.dlq_name} after {team.max_receive_count} receives (redrive policy; redrive-allow "
            f"only from {team.queue_name}), retention {team.dlq_retention_days} d",
        )
        self.say.fact("task table", f"{team.table}: key task_id, TTL on expires_at (idempotency and status)")
        self.say.fact("payloads", f"s3://{team.bucket} for tasks over the message size limit")
        self.say.fact("alarms", ", ".join(team.alarm_names))
        self.say.fact("sdk_config", f"{self.config_path} (`terraform output -raw sdk_config`; SQSTASK_CONFIG in task code)")
        # EMF metric lines are for CloudWatch Logs; here they would interleave with the narration.
        self.queue = TaskQueue(config=config.with_overrides(metrics=False))

    # -- 2. sending -------------------------------------------------------------------------

    def receipt(self, order: int) -> Any:
        from sqstask.task import TaskSpec

        customer = f"customer-{order % self.work.groups + 1}"
        payload = {"order": order, "customer": customer, "email": f"{customer}@example.com", "amount_cents": 1000 + order % 97}
        return TaskSpec("send-receipt", payload, customer, f"receipt-{order}")

    def send(self) -> None:
        queue, team, work = self._ready()
        self.say.step(2, STEPS, "Send tasks")
        specs = [self.receipt(order) for order in range(1001, 1001 + work.tasks)]
        sent = 0
        for start in range(0, len(specs), 50):
            result = queue.send_many(specs[start:start + 50])
            if result.failed:
                raise DemoFailed(f"send_many failed for {len(result.failed)} task(s): {result.failed[0][1]}")
            sent += len(result.sent)
            self.sent.update(r.task_id for r in result.sent)
            self.say.progress(f"send_many: {sent}/{len(specs)} send-receipt tasks", every=0)
        self.say.done(
            f"send_many: {sent} send-receipt tasks across {work.groups} customers (message groups: in order "
            "within a customer, in parallel across customers), 10 per SendMessageBatch call"
        )

        lines = [f"line {n:06d}: {'item'.ljust(80, '.')} {n % 977:>6} cents" for n in range(work.large_payload_bytes // 100)]
        result = queue.send("render-statement", {"customer": "customer-1", "lines": lines},
                            group_id="statements", task_id=self.statement_id)
        self.sent.add(result.task_id)
        size = len(json.dumps(lines))
        objects = self.client("s3").list_objects_v2(Bucket=team.bucket).get("Contents", [])
        if not objects:
            raise DemoFailed(f"the {size / 1048576:.1f} MiB payload was not offloaded to s3://{team.bucket}")
        self.say.say(
            f"send: {result.task_id}, a render-statement task with a {size / 1048576:.1f} MiB payload (over the "
            f"queue's {format_size(team.max_message_size)} limit): stored as s3://{team.bucket}/{objects[0]['Key']}, the message carries a pointer"
        )

        poison = queue.send("send-receipt", {"order": 4242, "customer": "customer-13", "email": None},
                            group_id="customer-13", task_id=self.poison_id)
        self.sent.add(poison.task_id)
        self.say.say(f"send: {poison.task_id}, a receipt for an order without an e-mail address (the poison task)")

        before = self.depth(team.queue_url)
        again = queue.send_many(specs[: work.resent])
        after = self.depth(team.queue_url)
        if after != before or again.failed:
            self.problems.append(f"re-sending {work.resent} tasks added {after - before} message(s) to the queue")
        self.say.say(
            f"send_many again: the first {work.resent} tasks (same task ids) -> accepted, {after - before} queued: "
            "the deduplication id comes from the task id and SQS drops repeats for 5 minutes"
        )
        self.say.fact("queue depth", f"{after} messages")

    # -- 3. processing ----------------------------------------------------------------------

    def process_with_lambda(self, expected: set[str], *, until_dead_lettered: int, label: str) -> None:
        """Run the local Lambda runner until ``expected`` completed and the queue is empty."""
        from sqstask.handler import batch_handler
        from sqstask.lambda_local import LambdaLocal

        from demo import tasks as demo_tasks

        queue, team, work = self._ready()
        runner = LambdaLocal(
            queue,
            batch_handler(queue)(demo_tasks.handle),
            batch_size=10,
            timeout=work.lambda_timeout,
            wait_seconds=1,
            function_name=f"{TEAM}-consumer",
        )
        limit = team.max_receive_count

        def finished() -> bool:
            return (
                self.effects.completed_count(expected) == len(expected)
                and self.depth(team.queue_url) == 0
                and self.depth(team.dlq_url) >= until_dead_lettered
            )

        def status() -> str:
            text = f"{label}: {self.effects.completed_count(expected)}/{len(expected)} tasks completed"
            if until_dead_lettered:
                failures = self.effects.snapshot()["failures"][self.poison_id]
                text += f"; {self.poison_id} failed {failures} of {limit} receives"
            return text + f"; {len(runner.invocations)} invocations"

        with self.running(lambda: runner.run(install_signal_handlers=False), runner.stop, "the Lambda runner"):
            self.wait_for("the Lambda runner", finished, status)

    def process(self) -> None:
        from sqstask.backoff import Backoff
        from sqstask.worker import Worker

        from demo import tasks as demo_tasks

        queue, team, work = self._ready()
        visibility = team.visibility_timeout
        limit = team.max_receive_count
        self.say.step(3, STEPS, "Process the tasks: the same handle(task) in Lambda and in a worker")
        self.say.say("Lambda: the local runner behind `sqstask lambda-local` polls the queue and invokes")
        self.say.say("        batch_handler(handle) with real-shaped SQS events, 10 records per invocation")
        first = set(self.sent)
        self.process_with_lambda(first - {self.poison_id}, until_dead_lettered=1, label="lambda")
        failed = self.effects.snapshot()["failures"][self.poison_id]
        gave_up = self.events.count("gave-up", task_id=self.poison_id)
        self.say.say(
            f"{self.poison_id} failed on all {failed} receives (MissingEmail); after receive {limit} SQS moved it "
            f"to {TEAM}-dlq.fifo{' (audit log: gave-up)' if gave_up else ''}"
        )
        statement = self.effects.statement_bytes.get(self.statement_id)
        self.say.say(f"{self.statement_id}: the handler read the full payload back from S3 ({statement} characters of lines)")

        # The worker: new receipts, the long export, and duplicate deliveries of finished tasks.
        specs = [self.receipt(order) for order in range(1001 + work.tasks, 1001 + work.tasks + work.worker_tasks)]
        from sqstask.task import TaskSpec

        specs.append(TaskSpec("export-ledger", {"year": 2024, "seconds": work.ledger_seconds}, "ledger", self.ledger_id))
        result = queue.send_many(specs)
        if result.failed:
            raise DemoFailed(f"send_many failed for {len(result.failed)} task(s): {result.failed[0][1]}")
        self.sent.update(r.task_id for r in result.sent)
        for order in range(1001, 1001 + work.duplicates):
            entry = queue.build_message(self.receipt(order).validated())
            entry["MessageDeduplicationId"] = f"receipt-{order}:resent-after-the-window"
            self.client("sqs").send_message(QueueUrl=team.queue_url, **entry)
            self.duplicates_sent += 1
        self.say.say(
            f"Worker: {work.worker_tasks} new receipts, {self.ledger_id} (an export that runs "
            f"{work.ledger_seconds:.0f} s on a {visibility} s visibility timeout), and {self.duplicates_sent} receipts "
            "that already ran, delivered again (a producer retried after the 5-minute deduplication window)"
        )
        worker = Worker(queue, demo_tasks.handle, concurrency=4, wait_seconds=1, backoff=Backoff(base=1, cap=4),
                        shutdown_timeout=work.ledger_seconds + 5)
        expected = {r.task_id for r in result.sent}
        skipped_before = self.events.count("skipped-duplicate")

        def skipped() -> int:
            return self.events.count("skipped-duplicate") - skipped_before

        def finished() -> bool:
            return (
                self.effects.completed_count(expected) == len(expected)
                and skipped() >= self.duplicates_sent
                and self.depth(team.queue_url) == 0
            )

        def status() -> str:
            ledger = "done" if self.effects.done[self.ledger_id] else "running"
            return (
                f"worker: {self.effects.completed_count(expected)}/{len(expected)} tasks completed, "
                f"{skipped()} duplicates skipped, {self.ledger_id} {ledger}, "
                f"{self.events.count('extended')} heartbeat extensions"
            )

        with self.running(lambda: worker.run(install_signal_handlers=False), worker.stop, "the worker"):
            self.wait_for("the worker", finished, status)
        runs = self.effects.snapshot()["runs"][self.ledger_id]
        took = self.effects.ledger_seconds.get(self.ledger_id, 0.0)
        record = self.task_store().get(self.ledger_id) or {}
        self.say.say(
            f"{self.ledger_id} ran {took:.1f} s, {took / visibility:.1f}x the visibility timeout: the heartbeat kept "
            f"extending it, so it was received {record.get('receive_count', '?')} time(s) and run {runs} time(s)"
        )
        self.say.say(f"{skipped()} duplicate deliveries were skipped: the task table already had them COMPLETED")

    # -- 4. the poison task in the DLQ ------------------------------------------------------

    def inspect(self) -> None:
        _queue, team, _work = self._ready()
        self.say.step(4, STEPS, "On call: the DLQ alarm, then the runbook")
        self.say.say(f"(every command runs with --config {os.path.basename(self.config_path)}; AWS_ENDPOINT_URL is the emulator)")
        self.evaluate_dlq_alarm()
        self.sqstask("alarms")
        self.sqstask("status")
        self.sqstask("dlq", "list")
        self.sqstask("dlq", "show", self.poison_id)

    def evaluate_dlq_alarm(self) -> None:
        """Set the DLQ alarm's state from the DLQ depth, as CloudWatch would on its next evaluation."""
        _queue, team, _work = self._ready()
        visible = int(
            self.client("sqs").get_queue_attributes(
                QueueUrl=team.dlq_url, AttributeNames=["ApproximateNumberOfMessages"]
            )["Attributes"]["ApproximateNumberOfMessages"]
        )
        state = "ALARM" if visible > 0 else "OK"
        self.client("cloudwatch").set_alarm_state(
            AlarmName=f"{TEAM}-dlq-not-empty",
            StateValue=state,
            StateReason=f"Threshold Crossed: 1 datapoint [{visible}.0] was {'greater than' if visible else 'not greater than'} the threshold (0.0).",
        )
        self.say.say(
            f"(the emulator does not evaluate alarms: the demo sets {TEAM}-dlq-not-empty to {state}, "
            f"as CloudWatch would for a DLQ holding {visible} message(s))"
        )

    # -- 5. fix, redrive, check -------------------------------------------------------------

    def fix_and_redrive(self) -> None:
        self.say.step(5, STEPS, "Fix the handler, redrive the DLQ, check that every task ran exactly once")
        self.effects.fixed = True
        self.say.say("deploy the fix: a receipt for an order without an e-mail address goes to the billing address")
        code = self.sqstask("dlq", "redrive")
        if code != 0:
            raise DemoFailed(f"`sqstask dlq redrive` exited with status {code}")
        self.process_with_lambda({self.poison_id}, until_dead_lettered=0, label="lambda")
        self.evaluate_dlq_alarm()
        self.sqstask("status", self.poison_id)

    def outcome(self) -> Outcome:
        _queue, team, _work = self._ready()
        records: dict[str, str] = {}
        paginator = self.client("dynamodb").get_paginator("scan")
        for page in paginator.paginate(TableName=team.table, ConsistentRead=True,
                                       ProjectionExpression="task_id, #s", ExpressionAttributeNames={"#s": "status"}):
            for item in page.get("Items", []):
                records[item["task_id"]["S"]] = item.get("status", {}).get("S", "?")
        return Outcome(
            expected=set(self.sent),
            done=self.effects.snapshot()["done"],
            records=records,
            queue_left=self.depth(team.queue_url),
            dlq_left=self.depth(team.dlq_url),
            duplicates_sent=self.duplicates_sent,
            duplicates_skipped=self.events.count("skipped-duplicate"),
        )

    def task_store(self) -> Any:
        from sqstask.idempotency import TaskStore

        _queue, team, _work = self._ready()
        return TaskStore(self.client("dynamodb"), team.table)

    def _ready(self) -> tuple[TaskQueue, Team, Workload]:
        if self.queue is None or self.team is None:
            raise DemoFailed("the team's resources were not created")
        return self.queue, self.team, self.work


def run_demo(out: TextIO | None = None, *, workload: Workload | None = None) -> int:
    """Run the whole demo, narrating on ``out`` (stdout); returns the exit status."""
    out = out or sys.stdout
    say = Narrator(out)
    work = workload or Workload()
    started = time.monotonic()
    say.title("sqstask demo: one team's task pipeline on SQS FIFO, end to end, on a local AWS emulator")
    events = EventLog()
    demo: Demo | None = None
    try:
        with events.capturing(), LocalAws.start(say) as infra, \
                tempfile.TemporaryDirectory(prefix="sqstask-demo-") as workdir:
            demo = Demo(infra, workdir, say, events, work)
            try:
                demo.create()
                demo.send()
                demo.process()
                demo.inspect()
                demo.fix_and_redrive()
                outcome = demo.outcome()
            finally:
                if infra.applied:
                    infra.destroy(say)
    except KeyboardInterrupt:
        say.title("\ndemo interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # say what went wrong, in one line
        from sqstask.cli import describe_error

        say.title(f"\nFAILED: {describe_error(exc)}")
        return EXIT_FAILED
    problems = demo.problems + exactly_once_problems(outcome)
    took = time.monotonic() - started
    say.title("")
    if problems:
        say.title("FAILED: not every task completed exactly once:")
        for problem in problems:
            say.say(f"- {problem}")
        return EXIT_FAILED
    completed = sum(1 for status in outcome.records.values() if status == "COMPLETED")
    say.title(
        f"exactly once: {len(outcome.expected)} tasks sent, {completed} COMPLETED in the task table, "
        f"{sum(outcome.done.values())} side effects, {outcome.duplicates_skipped} duplicate deliveries skipped, "
        f"0 left in the queue or the DLQ ({took:.0f} s)"
    )
    return EXIT_OK
