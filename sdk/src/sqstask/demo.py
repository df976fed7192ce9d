"""``sqstask demo``: one team's whole task pipeline, end to end, on a local AWS emulator.

The demo starts moto's ``ThreadedMotoServer`` on 127.0.0.1 (a free port) and runs the real SDK
and CLI against it over HTTP, narrating each step:

1. create the team's resources as the Terraform module would with its defaults (FIFO queue,
   DLQ with a redrive policy, task table, payload bucket, alarms) and write the module's
   ``sdk_config`` output to a file;
2. send a few hundred tasks across several message groups with ``send_many``, one payload
   larger than an SQS message (offloaded to S3) and one poison task;
3. process them with the Lambda handler in the local Lambda runner (``sqstask lambda-local``),
   then with a ``Worker`` running a task that outlives the visibility timeout (the heartbeat
   keeps it invisible) while duplicate deliveries are skipped by idempotency;
4. the poison task reaches the DLQ after ``max_receive_count`` receives; ``sqstask alarms``,
   ``sqstask status`` and ``sqstask dlq list``/``show`` show it;
5. "deploy" the fix, ``sqstask dlq redrive``, process again, and check that every task
   completed exactly once: one COMPLETED record per task in the task table, one side effect
   per task, nothing left in the queue or the DLQ.

It exits 0 only when that final check holds; otherwise it says what went wrong and exits 1.
The settings come from ``MODULE_DEFAULTS`` (kept equal to the Terraform variables' defaults by
``tests/test_demo_defaults.py``) with the one change in ``DEMO_OVERRIDES``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import socket
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from .exceptions import SqstaskError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import TaskQueue

TEAM = "orders"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # the emulator's account
PAYLOAD_PREFIX = "sqstask-payloads/"  # modules/task-state's payload_prefix

# The Terraform variables' defaults the demo creates its resources with, by module folder
# ("." is the root module). tests/test_demo_defaults.py fails when these drift from the code.
MODULE_DEFAULTS: dict[str, dict[str, Any]] = {
    ".": {
        "visibility_timeout_seconds": 300,
        "message_retention_seconds": 345600,
        "max_message_size": 1048576,
        "delay_seconds": 0,
        "max_receive_count": 5,
        "content_based_deduplication": False,
        "high_throughput": False,
        "create_payload_bucket": True,
        "payload_expiration_days": 14,
    },
    "modules/queue": {
        "dlq_message_retention_seconds": 1209600,
        "receive_wait_time_seconds": 20,
    },
    "modules/alarms": {
        "dlq_not_empty": {"period": 60, "evaluation_periods": 1},
        "oldest_message_age": {"enabled": True, "threshold_seconds": 900, "period": 60, "evaluation_periods": 1},
        "backlog": {"enabled": True, "threshold": 1000, "period": 60, "evaluation_periods": 5},
    },
}

# What the demo's `module "tasks" { ... }` block sets differently, and why.
DEMO_OVERRIDES: dict[str, tuple[Any, str]] = {
    "visibility_timeout_seconds": (4, "so a failed task comes back in seconds instead of 5 minutes"),
}

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERRUPTED = 130


def demo_settings() -> dict[str, Any]:
    """Every module setting the demo uses (all modules' defaults, then ``DEMO_OVERRIDES``)."""
    settings: dict[str, Any] = {}
    for defaults in MODULE_DEFAULTS.values():
        settings.update(defaults)
    settings.update({name: value for name, (value, _why) in DEMO_OVERRIDES.items()})
    return settings


@dataclass(frozen=True)
class Workload:
    """How much work the demo does (the defaults take about a minute on two cores)."""

    tasks: int = 200  # receipts sent with send_many in step 2
    groups: int = 8  # customers = message groups
    large_payload_bytes: int = 1_500_000  # the statement's payload, over the 1 MiB message limit
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


# -- output ----------------------------------------------------------------------------------


class Narrator:
    """Writes the demo's story: steps, facts, commands with their output, progress lines."""

    def __init__(self, out: TextIO, *, tty: bool | None = None) -> None:
        self.out = out
        self.tty = out.isatty() if tty is None else tty
        self._progress_open = False
        self._last_progress = ""
        self._last_progress_at: float | None = None

    def _write(self, text: str) -> None:
        if self._progress_open:
            self.out.write("\n")
            self._progress_open = False
        self.out.write(text + "\n")
        self.out.flush()

    def title(self, text: str) -> None:
        self._write(text)

    def step(self, number: int, total: int, text: str) -> None:
        self._write(f"\n[{number}/{total}] {text}")

    def say(self, text: str = "") -> None:
        self._write(f"  {text}" if text else "")

    def fact(self, label: str, text: str) -> None:
        self._write(f"  {label:<14}{text}")

    def block(self, text: str, indent: str = "    ") -> None:
        lines = text.rstrip("\n").splitlines() or [""]
        self._write("\n".join(indent + line if line else "" for line in lines))

    def progress(self, text: str, *, every: float = 5.0) -> None:
        """A progress line: rewritten in place on a terminal, else printed at most every ``every`` s."""
        if text == self._last_progress:
            return
        now = time.monotonic()
        if self.tty:
            self.out.write("\r  " + text.ljust(max(len(self._last_progress), len(text))))
            self.out.flush()
            self._progress_open = True
        elif self._last_progress_at is None or now - self._last_progress_at >= every:
            self._write(f"  {text}")
        else:
            return
        self._last_progress, self._last_progress_at = text, now

    def done(self, text: str) -> None:
        """The final state of a progress line."""
        if self.tty and self._progress_open:
            self.out.write("\r  " + text.ljust(len(self._last_progress)) + "\n")
            self.out.flush()
            self._progress_open = False
        else:
            self._write(f"  {text}")
        self._last_progress, self._last_progress_at = "", None


# -- the audit log ---------------------------------------------------------------------------


class EventLog(logging.Handler):
    """Collects the SDK's audit events (the ``sqstask`` logger's JSON lines) while the demo runs."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self._events: list[dict[str, Any]] = []
        self._lock_events = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        data = getattr(record, "sqstask_event", None)
        if isinstance(data, dict):
            with self._lock_events:
                self._events.append(dict(data, level=record.levelname))

    def events(self, event: str | None = None, **match: Any) -> list[dict[str, Any]]:
        """Recorded events named ``event`` whose fields equal ``match``."""
        with self._lock_events:
            found = list(self._events)
        return [
            e for e in found
            if (event is None or e.get("event") == event) and all(e.get(k) == v for k, v in match.items())
        ]

    def count(self, event: str, **match: Any) -> int:
        return len(self.events(event, **match))

    @contextlib.contextmanager
    def capturing(self) -> Iterator[EventLog]:
        """Attach to the ``sqstask`` logger (INFO), keeping JSON lines off the terminal."""
        from .audit import JsonFormatter

        logger = logging.getLogger("sqstask")
        saved = (logger.level, list(logger.handlers), logger.propagate)
        logger.handlers[:] = [h for h in logger.handlers if not isinstance(h.formatter, JsonFormatter)]
        logger.addHandler(self)
        logger.setLevel(logging.INFO)
        logger.propagate = False
        try:
            yield self
        finally:
            logger.setLevel(saved[0])
            logger.handlers[:] = saved[1]
            logger.propagate = saved[2]


# -- the local AWS ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _reset(endpoint: str) -> None:
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@contextlib.contextmanager
def emulator() -> Iterator[str]:
    """moto's ThreadedMotoServer on 127.0.0.1 at a free port; yields its endpoint URL."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        raise DemoFailed(
            "the demo needs moto's server (pip install 'moto[server]'); `make demo` installs it in .venv"
        ) from None
    # The server's request log (and its traceback for actions moto lacks) is not the story.
    quiet = [logging.getLogger(name) for name in ("werkzeug", "moto")]
    saved = [(logger, logger.disabled) for logger in quiet]
    for logger in quiet:
        logger.disabled = True
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    # moto keeps its state per process: start from nothing, and leave nothing behind.
    _reset(endpoint)
    try:
        yield endpoint
    finally:
        with contextlib.suppress(OSError):
            _reset(endpoint)
        server.stop()
        for logger, disabled in saved:
            logger.disabled = disabled


@contextlib.contextmanager
def demo_environment() -> Iterator[None]:
    """Fake credentials and the demo's region for the SDK and CLI; nothing reaches AWS."""
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("SQSTASK_") or name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="demo",
        AWS_SECRET_ACCESS_KEY="demo",
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
    )
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@dataclass
class Team:
    """The resources the demo created for one team, as the module's outputs would name them."""

    name: str
    queue_url: str
    queue_arn: str
    dlq_url: str
    dlq_arn: str
    table: str
    bucket: str
    alarm_names: list[str]
    settings: dict[str, Any]

    def sdk_config(self) -> dict[str, Any]:
        """The root module's ``sdk_config`` output for these resources."""
        return {
            "name": self.name,
            "region": REGION,
            "queue_url": self.queue_url,
            "queue_arn": self.queue_arn,
            "dlq_url": self.dlq_url,
            "dlq_arn": self.dlq_arn,
            "idempotency_table": self.table,
            "payload_bucket": self.bucket,
            "visibility_timeout": self.settings["visibility_timeout_seconds"],
            "max_message_size": self.settings["max_message_size"],
            "alarm_names": self.alarm_names,
            "schedule_group": None,
            "scheduler_role_arn": None,
            # The module's default: one priority tier, the queue itself.
            "priorities": ["default"],
            "default_priority": "default",
            "priority_queue_urls": {"default": self.queue_url},
        }


def alarm_definitions(name: str, queue_name: str, dlq_name: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """PutMetricAlarm arguments for the alarms modules/alarms creates by default."""
    dlq, oldest, backlog = settings["dlq_not_empty"], settings["oldest_message_age"], settings["backlog"]
    alarms = [
        {
            "AlarmName": f"{name}-dlq-not-empty",
            "AlarmDescription": (
                f"Tasks of {name} failed on every attempt and were moved to {dlq_name}. First: `sqstask dlq list`, "
                "then `sqstask dlq show TASK_ID`; fix the cause, then `sqstask dlq redrive`."
            ),
            "MetricName": "ApproximateNumberOfMessagesVisible",
            "Dimensions": [{"Name": "QueueName", "Value": dlq_name}],
            "Threshold": 0,
            "Period": dlq["period"],
            "EvaluationPeriods": dlq["evaluation_periods"],
            "TreatMissingData": "ignore",
        }
    ]
    if oldest["enabled"]:
        alarms.append(
            {
                "AlarmName": f"{name}-oldest-message-age",
                "AlarmDescription": (
                    f"The oldest task on {queue_name} has waited more than {oldest['threshold_seconds']} s. "
                    "First: `sqstask status`, then the consumers' errors and logs."
                ),
                "MetricName": "ApproximateAgeOfOldestMessage",
                "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                "Threshold": oldest["threshold_seconds"],
                "Period": oldest["period"],
                "EvaluationPeriods": oldest["evaluation_periods"],
                "TreatMissingData": "notBreaching",
            }
        )
    if backlog["enabled"]:
        alarms.append(
            {
                "AlarmName": f"{name}-backlog",
                "AlarmDescription": f"More than {backlog['threshold']} tasks wait on {queue_name}: consumers do not keep up.",
                "MetricName": "ApproximateNumberOfMessagesVisible",
                "Dimensions": [{"Name": "QueueName", "Value": queue_name}],
                "Threshold": backlog["threshold"],
                "Period": backlog["period"],
                "EvaluationPeriods": backlog["evaluation_periods"],
                "TreatMissingData": "notBreaching",
            }
        )
    for alarm in alarms:
        alarm.update(Namespace="AWS/SQS", Statistic="Maximum", ComparisonOperator="GreaterThanThreshold")
    return alarms


def create_team(client: Callable[[str], Any], name: str, settings: dict[str, Any]) -> Team:
    """Create the team's queue, DLQ, task table, payload bucket and alarms as the module does."""
    sqs = client("sqs")
    sse = {"SqsManagedSseEnabled": "true"}
    dlq_url = sqs.create_queue(
        QueueName=f"{name}-dlq.fifo",
        Attributes={
            "FifoQueue": "true",
            "MessageRetentionPeriod": str(settings["dlq_message_retention_seconds"]),
            "ReceiveMessageWaitTimeSeconds": str(settings["receive_wait_time_seconds"]),
            **sse,
        },
    )["QueueUrl"]
    queue_attributes = {
        "FifoQueue": "true",
        "ContentBasedDeduplication": str(settings["content_based_deduplication"]).lower(),
        "VisibilityTimeout": str(settings["visibility_timeout_seconds"]),
        "MessageRetentionPeriod": str(settings["message_retention_seconds"]),
        "MaximumMessageSize": str(settings["max_message_size"]),
        "DelaySeconds": str(settings["delay_seconds"]),
        "ReceiveMessageWaitTimeSeconds": str(settings["receive_wait_time_seconds"]),
        **sse,
    }
    if settings["high_throughput"]:
        queue_attributes.update(DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    queue_url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes=queue_attributes)["QueueUrl"]

    def arn_of(url: str) -> str:
        return str(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    queue_arn, dlq_arn = arn_of(queue_url), arn_of(dlq_url)
    # Separate resources in the module (aws_sqs_queue_redrive_policy / _redrive_allow_policy).
    sqs.set_queue_attributes(
        QueueUrl=queue_url,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": settings["max_receive_count"]})},
    )
    sqs.set_queue_attributes(
        QueueUrl=dlq_url,
        Attributes={"RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [queue_arn]})},
    )

    table = f"{name}-tasks"
    dynamodb = client("dynamodb")
    dynamodb.create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
        SSESpecification={"Enabled": True},
    )
    dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})

    bucket = f"{name}-payloads-{ACCOUNT_ID}".lower()
    s3 = client("s3")
    s3.create_bucket(Bucket=bucket)
    s3.put_public_access_block(
        Bucket=bucket,
        PublicAccessBlockConfiguration={
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
        },
    )
    s3.put_bucket_lifecycle_configuration(
        Bucket=bucket,
        LifecycleConfiguration={
            "Rules": [{
                "ID": "expire-payloads",
                "Status": "Enabled",
                "Filter": {"Prefix": PAYLOAD_PREFIX},
                "Expiration": {"Days": settings["payload_expiration_days"]},
            }]
        },
    )

    cloudwatch = client("cloudwatch")
    alarms = alarm_definitions(name, f"{name}.fifo", f"{name}-dlq.fifo", settings)
    for alarm in alarms:
        cloudwatch.put_metric_alarm(**alarm)
    return Team(name, queue_url, queue_arn, dlq_url, dlq_arn, table, bucket, [a["AlarmName"] for a in alarms], settings)


# -- checks ----------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What the demo observed at the end, and what it expected."""

    expected: set[str]  # every task id the demo sent
    done: Counter[str]  # task id -> completed handler runs (side effects)
    records: dict[str, str]  # task id -> status in the task table
    queue_left: int  # messages still in the queue (visible, in flight, delayed)
    dlq_left: int
    duplicates_sent: int
    duplicates_skipped: int


def exactly_once_problems(outcome: Outcome) -> list[str]:
    """What contradicts "every task completed exactly once"; empty when it holds."""
    problems: list[str] = []
    expected = outcome.expected
    never = sorted(t for t in expected if outcome.done[t] == 0)
    twice = sorted(t for t in expected if outcome.done[t] > 1)
    unknown = sorted(t for t in outcome.done if t not in expected)
    if never:
        problems.append(f"{len(never)} task(s) never completed: {_some(never)}")
    if twice:
        problems.append(f"{len(twice)} task(s) ran more than once: {_some(twice)}")
    if unknown:
        problems.append(f"{len(unknown)} task(s) ran that were never sent: {_some(unknown)}")
    missing = sorted(t for t in expected if t not in outcome.records)
    not_completed = sorted(t for t in expected if t in outcome.records and outcome.records[t] != "COMPLETED")
    extra = sorted(t for t in outcome.records if t not in expected)
    if missing:
        problems.append(f"{len(missing)} task(s) have no record in the task table: {_some(missing)}")
    if not_completed:
        states = Counter(outcome.records[t] for t in not_completed)
        problems.append(
            f"{len(not_completed)} task record(s) are not COMPLETED ({_counts(states)}): {_some(not_completed)}"
        )
    if extra:
        problems.append(f"the task table has {len(extra)} record(s) of tasks never sent: {_some(extra)}")
    if outcome.queue_left:
        problems.append(f"{outcome.queue_left} message(s) are still in the queue")
    if outcome.dlq_left:
        problems.append(f"{outcome.dlq_left} message(s) are still in the dead-letter queue")
    if outcome.duplicates_skipped < outcome.duplicates_sent:
        problems.append(
            f"only {outcome.duplicates_skipped} of the {outcome.duplicates_sent} duplicate deliveries were "
            "skipped by idempotency"
        )
    return problems


def _size(size: int) -> str:
    return f"{size // 1048576} MiB" if size % 1048576 == 0 else f"{size // 1024} KiB"


def _some(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counter.items()))


# -- the demo --------------------------------------------------------------------------------

STEPS = 5


class Demo:
    """The five steps, in order, against one emulator endpoint."""

    def __init__(self, endpoint: str, workdir: str, narrator: Narrator, events: EventLog, workload: Workload) -> None:
        from . import demo_tasks

        self.endpoint = endpoint
        self.workdir = workdir
        self.say = narrator
        self.events = events
        self.work = workload
        self.effects = demo_tasks.EFFECTS
        self.effects.reset()
        self.settings = demo_settings()
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

            self._clients[service] = boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)
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
        from .cli import main

        self.say.say(f"$ sqstask {' '.join(argv)}")
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(buffer):
            code = main([*argv, "--config", self.config_path, "--endpoint-url", self.endpoint])
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
        from .config import QueueConfig
        from .queue import TaskQueue

        s = self.settings
        self.say.step(1, STEPS, f'Create the team\'s resources: module "tasks" {{ name = "{TEAM}" }} with its defaults')
        for variable, (value, why) in DEMO_OVERRIDES.items():
            default = demo_default(variable)
            self.say.say(f"except {variable} = {value} (default {default}) {why}")
        self.team = team = create_team(self.client, TEAM, s)
        with open(self.config_path, "w", encoding="utf-8") as fh:
            json.dump(team.sdk_config(), fh, indent=2)
        self.say.fact("emulator", f"{self.endpoint} (moto ThreadedMotoServer; nothing here reaches AWS)")
        self.say.fact(
            "queue",
            f"{TEAM}.fifo: FIFO, visibility {s['visibility_timeout_seconds']} s, retention "
            f"{s['message_retention_seconds'] // 86400} d, messages up to {_size(s['max_message_size'])}, SSE on",
        )
        self.say.fact(
            "dead letters",
            f"{TEAM}-dlq.fifo after {s['max_receive_count']} receives (redrive policy; redrive-allow "
            f"only from {TEAM}.fifo), retention {s['dlq_message_retention_seconds'] // 86400} d",
        )
        self.say.fact("task table", f"{team.table}: key task_id, TTL on expires_at (idempotency and status)")
        self.say.fact("payloads", f"s3://{team.bucket}/{PAYLOAD_PREFIX} for tasks over the message size limit")
        self.say.fact("alarms", ", ".join(team.alarm_names))
        self.say.fact("sdk_config", f"{self.config_path} (the module's output; SQSTASK_CONFIG in task code)")
        config = QueueConfig.from_json(json.dumps(team.sdk_config()), source=self.config_path)
        self.queue = TaskQueue(config=config.with_overrides(endpoint_url=self.endpoint))

    # -- 2. sending -------------------------------------------------------------------------

    def receipt(self, order: int) -> Any:
        from .task import TaskSpec

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
        objects = self.client("s3").list_objects_v2(Bucket=team.bucket, Prefix=PAYLOAD_PREFIX).get("Contents", [])
        if not objects:
            raise DemoFailed(f"the {size / 1048576:.1f} MiB payload was not offloaded to s3://{team.bucket}")
        self.say.say(
            f"send: {result.task_id}, a render-statement task with a {size / 1048576:.1f} MiB payload (over the "
            f"1 MiB limit): stored as s3://{team.bucket}/{objects[0]['Key']}, the message carries a pointer"
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
        from .handler import batch_handler
        from .lambda_local import LambdaLocal
        from . import demo_tasks

        queue, team, work = self._ready()
        runner = LambdaLocal(
            queue,
            batch_handler(queue)(demo_tasks.handle),
            batch_size=10,
            timeout=work.lambda_timeout,
            wait_seconds=1,
            function_name=f"{TEAM}-consumer",
        )
        limit = self.settings["max_receive_count"]

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
        from .backoff import Backoff
        from .worker import Worker
        from . import demo_tasks

        queue, team, work = self._ready()
        visibility = self.settings["visibility_timeout_seconds"]
        limit = self.settings["max_receive_count"]
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
        from .task import TaskSpec

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
        self.say.say(f"(every command runs with --config {os.path.basename(self.config_path)} --endpoint-url {self.endpoint})")
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
        from .idempotency import TaskStore

        _queue, team, _work = self._ready()
        return TaskStore(self.client("dynamodb"), team.table)

    def _ready(self) -> tuple[TaskQueue, Team, Workload]:
        if self.queue is None or self.team is None:
            raise DemoFailed("the team's resources were not created")
        return self.queue, self.team, self.work


def demo_default(variable: str) -> Any:
    """The module default of ``variable`` (before DEMO_OVERRIDES)."""
    for defaults in MODULE_DEFAULTS.values():
        if variable in defaults:
            return defaults[variable]
    raise KeyError(variable)


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
        with demo_environment(), events.capturing(), emulator() as endpoint, \
                tempfile.TemporaryDirectory(prefix="sqstask-demo-") as workdir:
            demo = Demo(endpoint, workdir, say, events, work)
            demo.create()
            demo.send()
            demo.process()
            demo.inspect()
            demo.fix_and_redrive()
            outcome = demo.outcome()
    except KeyboardInterrupt:
        say.title("\ndemo interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # say what went wrong, in one line
        from .cli import describe_error

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


# -- the command -----------------------------------------------------------------------------


def add_demo_command(subparsers: Any) -> None:
    """Register ``sqstask demo`` on the CLI's subparsers."""
    parser = subparsers.add_parser(
        "demo",
        help="run the whole flow end to end on a local AWS emulator (moto), in about a minute",
        description=(
            "Create a team's queue, DLQ, task table, payload bucket and alarms on an embedded moto server; "
            "send tasks; process them in a local Lambda runner and a worker; dead-letter a poison task, "
            "inspect and redrive it; check that every task completed exactly once (exit 0) or say what did not (exit 1)."
        ),
    )
    parser.add_argument("--tasks", type=int, default=Workload.tasks, metavar="N",
                        help=f"receipts to send in step 2 (default {Workload.tasks})")
    parser.set_defaults(func=_cmd_demo)


def _cmd_demo(args: argparse.Namespace) -> int:
    try:
        workload = Workload(tasks=args.tasks)
    except ValueError as exc:
        raise DemoFailed(f"--tasks: {exc}") from None
    return run_demo(sys.stdout, workload=workload)
