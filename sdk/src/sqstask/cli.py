"""The ``sqstask`` command: send tasks, inspect and reprocess the DLQ, alarms, status.

Configuration as in ``TaskQueue.from_env()`` (``SQSTASK_CONFIG`` or ``SQSTASK_*`` variables),
or ``--config FILE`` (the module's ``sdk_config`` output); ``--queue-url``, ``--region`` and
``--endpoint-url`` override either. Errors are one line on stderr and a non-zero exit status
(``--debug`` adds the traceback). Exit status: 0 ok, 1 error, 2 usage error or (``alarms``)
an alarm is firing.

Other modules add commands through ``add_worker_commands(subparsers)`` (``sqstask.worker_cli``),
and ``add_schedule_commands(subparsers)`` (``sqstask.schedules_cli``), each registered when
its module exists. Their leaf parsers take
``parents=[common_options()]`` and ``set_defaults(func=handler)`` with ``handler(args) -> int``;
``queue_from_args(args)`` builds the TaskQueue the options describe.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import logging
import os
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError, SqstaskError
from .table import format_duration, format_time, render_fields, render_json, render_table

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .dlq import DeadLetterQueue
    from .queue import TaskQueue

PROG = "sqstask"
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_ALARM = 2
EXIT_INTERRUPTED = 130
MAX_ERROR_CHARS = 400

# Commands contributed by other modules: (module, adder names tried in order).
OPTIONAL_COMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("sqstask.worker_cli", ("add_worker_commands",)),
    ("sqstask.schedules_cli", ("add_schedule_commands",)),
)

# Defaults of the common options; the parsers use SUPPRESS so that an option given before
# the command (``sqstask --json dlq list``) is not reset by the subcommand's default.
COMMON_DEFAULTS: dict[str, Any] = {
    "config": None,
    "queue_url": None,
    "region": None,
    "endpoint_url": None,
    "json": False,
    "debug": False,
}

_DURATION_RE = re.compile(r"(\d+(?:\.\d+)?)([smhdw]?)")
_DURATION_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class UsageError(SqstaskError):
    """The command line asks for something that cannot be done as given."""


# -- options shared by every command ---------------------------------------------------------


def common_options() -> argparse.ArgumentParser:
    """A parent parser with the connection and output options every command takes."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("connection and output")
    group.add_argument(
        "--config", metavar="FILE", default=argparse.SUPPRESS,
        help="JSON file with the module's sdk_config output (default: SQSTASK_CONFIG / SQSTASK_* variables)",
    )
    group.add_argument("--queue-url", metavar="URL", default=argparse.SUPPRESS, help="the team queue's URL (overrides the config)")
    group.add_argument("--region", metavar="REGION", default=argparse.SUPPRESS, help="AWS region (overrides the config)")
    group.add_argument(
        "--endpoint-url", metavar="URL", default=argparse.SUPPRESS,
        help="AWS endpoint, e.g. a local emulator (overrides the config)",
    )
    group.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="print JSON for scripts")
    group.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks and debug logs")
    return parent


def _apply_common_defaults(args: argparse.Namespace) -> argparse.Namespace:
    for key, value in COMMON_DEFAULTS.items():
        if not hasattr(args, key):
            setattr(args, key, value)
    return args


def queue_from_args(args: argparse.Namespace) -> TaskQueue:
    """The TaskQueue the options describe: command-line flags > ``--config`` file > environment."""
    from .config import QueueConfig
    from .queue import TaskQueue

    _apply_common_defaults(args)
    flags = {"queue_url": args.queue_url, "region": args.region, "endpoint_url": args.endpoint_url}
    if args.config:
        source = f"--config {args.config}"
        try:
            with open(args.config, encoding="utf-8") as fh:
                text = fh.read()
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read the file ({exc.strerror or exc})") from None
        config = QueueConfig.from_json(text, source=source).with_overrides(**flags)
    else:
        env = dict(os.environ)
        for key, var in (("queue_url", "SQSTASK_QUEUE_URL"), ("region", "SQSTASK_REGION"), ("endpoint_url", "SQSTASK_ENDPOINT_URL")):
            if flags[key]:
                env[var] = flags[key]
        if not any(env.get(v) for v in ("SQSTASK_CONFIG", "SQSTASK_CONFIG_FILE", "SQSTASK_QUEUE_URL")):
            raise ConfigError(
                "no queue configured: pass --config FILE (the module's sdk_config output) or --queue-url URL, "
                "or set SQSTASK_CONFIG or SQSTASK_QUEUE_URL"
            )
        config = QueueConfig.from_env(env)
    return TaskQueue.from_config(config)


def parse_duration(text: str) -> float:
    """Seconds in ``90``, ``90s``, ``15m``, ``2h``, ``1d``, ``1w`` or combinations like ``1h30m``."""
    compact = text.strip().lower().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_RE.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _DURATION_UNITS[match.group(2)]
        pos = match.end()
    if not compact or pos != len(compact):
        raise argparse.ArgumentTypeError(f"invalid duration {text!r}: use e.g. 90s, 15m, 2h, 1d or 1h30m")
    return total


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}: use a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small: use 1 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} must be greater than 0")
    return value


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _dlq_from_args(args: argparse.Namespace) -> DeadLetterQueue:
    from .dlq import DeadLetterQueue

    return DeadLetterQueue(queue_from_args(args), progress=_progress)


def _print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        print(f"{PROG}: warning: {warning}", file=sys.stderr)


# -- send ------------------------------------------------------------------------------------


def read_payload(text: str) -> Any:
    """The payload of ``--payload``: JSON text, ``@file`` (JSON in a file) or ``@-`` (stdin)."""
    source = "--payload"
    if text.startswith("@"):
        path = text[1:]
        if path == "-":
            text, source = sys.stdin.read(), "--payload @- (stdin)"
        else:
            try:
                with open(path, encoding="utf-8") as fh:
                    text = fh.read()
            except OSError as exc:
                raise UsageError(f"--payload @{path}: cannot read the file ({exc.strerror or exc})") from None
            source = f"--payload @{path}"
    try:
        return json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{source} is not valid JSON ({exc}); quote it, e.g. --payload '{{\"id\": 1}}'") from None


def cmd_send(args: argparse.Namespace) -> int:
    """Send one task."""
    payload = read_payload(args.payload)
    queue = queue_from_args(args)
    priority = _priority_arg(args.priority, queue.tiers.names)
    result = queue.send(args.task_type, payload, group_id=args.group, task_id=args.task_id, priority=priority)
    if args.json:
        print(render_json({"task_id": result.task_id, "message_id": result.message_id, "sequence_number": result.sequence_number}))
    else:
        target = queue.queue_url_for(priority).rstrip("/").rsplit("/", 1)[-1]
        print(f"sent task {result.task_id} to {target} (message {result.message_id}, sequence {result.sequence_number})")
    return EXIT_OK


def _priority_arg(value: str | None, tiers: tuple[str, ...]) -> str | int | None:
    """``--priority``: a tier name, or seed 004's integer 0-9 (a tier named like a number wins)."""
    if value is None or value in tiers:
        return value
    return int(value) if value.strip().isdigit() else value


def _with_priority(columns: tuple[tuple[str, str], ...], summaries: list[dict[str, Any]]) -> tuple[tuple[str, str], ...]:
    """Add a PRIORITY column after GROUP when the letters come from a queue with tiers."""
    if not any("priority" in s for s in summaries):
        return columns
    at = [key for key, _ in columns].index("group_id") + 1
    return columns[:at] + (("priority", "PRIORITY"),) + columns[at:]


# -- dlq -------------------------------------------------------------------------------------

LIST_COLUMNS = (
    ("task_id", "TASK ID"),
    ("task_type", "TYPE"),
    ("group_id", "GROUP"),
    ("first_receive", "FIRST RECEIVE"),
    ("last_attempt", "LAST ATTEMPT"),
    ("receive_count", "RECEIVES"),
    ("error", "ERROR"),
    ("age", "AGE"),
)
MOVE_COLUMNS = (("task_id", "TASK ID"), ("task_type", "TYPE"), ("group_id", "GROUP"), ("age", "AGE"), ("message_id", "MESSAGE ID"))


def _rows(summaries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [dict(s, age=format_duration(s.get("age_seconds"))) for s in summaries]


def cmd_dlq_list(args: argparse.Namespace) -> int:
    """List DLQ messages without consuming them."""
    dlq = _dlq_from_args(args)
    depth = dlq.depth()
    letters = dlq.peek(limit=args.limit) if depth.visible else []
    now = time.time()
    summaries = [letter.summary(now) for letter in letters]
    _print_warnings(dlq.warnings)
    if args.json:
        print(render_json({"dlq": dlq.name, "visible": depth.visible, "in_flight": depth.in_flight, "messages": summaries}))
        return EXIT_OK
    print(f"{dlq.name}: {depth.visible} message(s) waiting, {depth.in_flight} in flight")
    if letters:
        print(render_table(_rows(summaries), _with_priority(LIST_COLUMNS, summaries)))
    if len(letters) < depth.visible:
        why = (
            f"--limit {args.limit}" if len(letters) == args.limit
            else "the others wait behind earlier messages of their group (FIFO) or are being read by someone else"
        )
        print(f"showing {len(letters)} of ~{depth.visible}: {why}")
    return EXIT_OK


def cmd_dlq_show(args: argparse.Namespace) -> int:
    """Show one DLQ message in full."""
    dlq = _dlq_from_args(args)
    letter = dlq.find(args.key)
    _print_warnings(dlq.warnings)
    if letter is None:
        raise UsageError(
            f"no message with task id or message id {args.key} in {dlq.name} "
            "(it may have been redriven, be in flight, or wait behind an earlier message of its group)"
        )
    details = letter.details(time.time())
    if args.json:
        print(render_json(details))
        return EXIT_OK
    print(
        render_fields(
            [
                ("task id", details["task_id"]),
                ("type", details["task_type"]),
                ("group", details["group_id"]),
                ("message id", details["message_id"]),
                ("sent", format_time(letter.sent_at)),
                ("age", format_duration(details["age_seconds"])),
                ("first receive", format_time(letter.first_received_at)),
                ("last attempt", format_time(letter.last_attempt_at)),
                ("receives", details["receive_count"]),
                ("payload in S3", "yes" if details["offloaded_to_s3"] else "no"),
                ("problem", details["problem"]),
                ("error", letter.error),
            ]
        )
    )
    sections = [
        ("envelope", details["envelope"]),
        ("payload", details["payload"] if details["envelope"] is None else None),
        ("body", details["body"]),
        ("attributes", details["attributes"]),
        ("message attributes", details["message_attributes"]),
        ("task record", details["record"]),
    ]
    for title, value in sections:
        if value is not None:
            print(f"\n{title}:")
            print(value if isinstance(value, str) else render_json(value))
    return EXIT_OK


def cmd_dlq_redrive(args: argparse.Namespace) -> int:
    """Move DLQ messages back to the source queue."""
    from .dlq import RedriveFilter

    flt = RedriveFilter.build(
        task_types=args.task_type,
        group_ids=args.group,
        task_ids=args.task_id,
        older_than=args.older_than,
        error_contains=args.error_contains,
        priorities=args.priority,
    )
    dlq = _dlq_from_args(args)
    report = dlq.redrive(
        flt,
        rate=args.rate,
        dry_run=args.dry_run,
        max_messages=args.max,
        method=args.method,
        hold_seconds=args.visibility_timeout,
    )
    now = time.time()
    _print_warnings(dlq.warnings)
    if args.json:
        print(render_json(report.to_dict(now)))
    elif report.dry_run:
        if report.would_move:
            moving = [letter.summary(now) for letter in report.would_move]
            print(render_table(_rows(moving), _with_priority(MOVE_COLUMNS, moving)))
        print(f"dry run: would move {report.matched} of {report.scanned} scanned message(s) from {dlq.name}; nothing was moved")
    else:
        target = dlq.queue.config.queue_name
        via = "SQS message move task" if report.method == "move-task" else "receive, send, delete"
        print(f"moved {report.moved} message(s) from {dlq.name} to {target} ({via})")
        for task_id, reason in report.failed:
            print(f"  not moved: {task_id}: {reason}")
    if report.not_deleted:
        _print_warnings(
            [f"{len(report.not_deleted)} message(s) were sent but could not be deleted from {dlq.name}; "
             "a later redrive sends them again (the task table runs each task once)"]
        )
    if report.unreached:
        _print_warnings(
            [f"{report.unreached} message(s) were not reached: they wait behind earlier messages of their "
             "group that stay in the DLQ (FIFO), or are in flight"]
        )
    return EXIT_OK if report.ok else EXIT_ERROR


def _confirm(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    answer = sys.stdin.readline()
    return answer.strip().lower() in ("y", "yes")


def cmd_dlq_purge(args: argparse.Namespace) -> int:
    """Delete every message in the DLQ."""
    dlq = _dlq_from_args(args)
    depth = dlq.depth()
    if depth.total == 0:
        print(f"{dlq.name} is empty: nothing to purge")
        return EXIT_OK
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError(
                f"refusing to purge {depth.total} message(s) from {dlq.name} without --yes: "
                "there is no terminal to confirm on"
            )
        if not _confirm(f"Delete all {depth.total} message(s) in {dlq.name}? This cannot be undone. [y/N] "):
            print("not purged", file=sys.stderr)
            return EXIT_ERROR
    count = dlq.purge()
    if args.json:
        print(render_json({"dlq": dlq.name, "purged": count}))
    else:
        print(f"purged {count} message(s) from {dlq.name} (SQS finishes a purge within 60 seconds)")
    return EXIT_OK


# -- alarms and status -----------------------------------------------------------------------


def cmd_alarms(args: argparse.Namespace) -> int:
    """Show the team's alarms; exit 2 when any is in ALARM."""
    from .alarms import team_alarms

    queue = queue_from_args(args)
    alarms, selected_by = team_alarms(queue, prefix=args.prefix)
    firing = [a for a in alarms if a.firing]
    if args.json:
        print(render_json({"selected_by": selected_by, "firing": len(firing), "alarms": [a.to_dict() for a in alarms]}))
    elif not alarms:
        print(f"no alarms found ({selected_by})")
    else:
        rows = [dict(a.to_dict(), since=format_time(a.since)) for a in alarms]
        print(render_table(rows, (("name", "ALARM"), ("state", "STATE"), ("since", "SINCE"), ("reason", "REASON")), max_width=80))
        print(f"{len(firing)} of {len(alarms)} in ALARM ({selected_by})")
    return EXIT_ALARM if firing else EXIT_OK


def describe_activity(activity: Any) -> str:
    """One line on the last hour's tasks (throughput, failure rate, p99 latency), or why unknown."""
    if activity is None or activity.tasks is None:
        return activity.note if activity is not None else "unknown"
    parts = [f"{activity.tasks} tasks ({activity.tasks / 60:.1f}/min)", f"{activity.succeeded} succeeded"]
    failures = (activity.failed or 0) + (activity.malformed or 0)
    rate = activity.failure_rate
    parts.append(f"{failures} failed or malformed ({rate:.1f} %)" if rate is not None else f"{failures} failed")
    if activity.p99_latency_ms is not None:
        parts.append(f"p99 latency {format_duration(activity.p99_latency_ms / 1000)}")
    return ", ".join(parts) + f" ({activity.note})"


def cmd_status(args: argparse.Namespace) -> int:
    """Queue depth, in flight, delayed, oldest age, DLQ depth; or one task's lifecycle."""
    from .status import lifecycle, queue_status, task_record

    queue = queue_from_args(args)
    if args.task_id:
        record = task_record(queue, args.task_id)
        print(render_json(record) if args.json else render_fields(lifecycle(record)))
        return EXIT_OK
    status = queue_status(queue)
    if args.json:
        print(render_json(status.to_dict()))
        return EXIT_OK
    oldest = status.oldest
    age = f"{format_duration(oldest.seconds)} ({oldest.note})" if oldest.seconds is not None else oldest.note
    dlq = (
        f"{status.dlq_name}: {status.dlq_depth.visible} waiting, {status.dlq_depth.in_flight} in flight"
        if status.dlq_depth is not None
        else "none configured"
    )
    print(
        render_fields(
            [
                ("queue", status.queue_name),
                ("visible", status.depth.visible),
                ("in flight", status.depth.in_flight),
                ("delayed", status.depth.delayed),
                ("oldest message", age),
                ("dead-letter queue", dlq),
                ("last hour", describe_activity(status.activity)),
            ]
        )
    )
    if status.tiers:
        print(render_table([tier.row() for tier in status.tiers], TIER_COLUMNS))
    return EXIT_OK


TIER_COLUMNS = (
    ("priority", "PRIORITY"),
    ("queue", "QUEUE"),
    ("visible", "VISIBLE"),
    ("in_flight", "IN FLIGHT"),
    ("delayed", "DELAYED"),
    ("oldest", "OLDEST MESSAGE"),
)


# -- the parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The full ``sqstask`` argument parser, with optional commands of other modules."""
    common = common_options()
    parser = argparse.ArgumentParser(
        prog=PROG,
        parents=[common],
        description="Tasks on SQS FIFO: send, inspect and redrive the dead-letter queue, alarms, status.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    send = commands.add_parser("send", parents=[common], help="send one task (manual trigger)")
    send.add_argument("task_type", metavar="TYPE", help="the task type, e.g. send-email")
    send.add_argument("--group", required=True, metavar="GROUP", help="message group id: tasks of a group run in order")
    send.add_argument("--payload", default="{}", metavar="JSON|@FILE", help="the payload as JSON, @file or @- for stdin (default {})")
    send.add_argument("--task-id", metavar="ID", help="a stable task id (default: a new one); resending it is de-duplicated")
    send.add_argument("--priority", metavar="TIER|0-9", help="the priority tier (or 0-9, higher = more urgent); default: the default tier")
    send.set_defaults(func=cmd_send)

    dlq = commands.add_parser("dlq", help="inspect, redrive or purge the dead-letter queue")
    dlq_commands = dlq.add_subparsers(dest="dlq_command", metavar="ACTION", required=True)

    lst = dlq_commands.add_parser("list", parents=[common], help="list DLQ messages without consuming them")
    lst.add_argument("--limit", type=_positive_int, default=50, metavar="N", help="show at most N messages (default 50)")
    lst.set_defaults(func=cmd_dlq_list)

    show = dlq_commands.add_parser("show", parents=[common], help="show one DLQ message: envelope, payload, attributes, failure")
    show.add_argument("key", metavar="TASK_ID|MESSAGE_ID")
    show.set_defaults(func=cmd_dlq_show)

    redrive = dlq_commands.add_parser(
        "redrive", parents=[common], help="move DLQ messages back to the queue (all, or those matching filters)",
        description="Without filters, uses SQS StartMessageMoveTask when available; with filters (or when it is "
        "not available) receives from the DLQ, sends to the queue with the same group and task id, and deletes "
        "from the DLQ only after the send succeeded. Filters combine with AND; a repeated filter matches any value.",
    )
    redrive.add_argument("--type", dest="task_type", action="append", metavar="TYPE", help="only tasks of this type (repeatable)")
    redrive.add_argument("--group", action="append", metavar="GROUP", help="only this message group (repeatable)")
    redrive.add_argument("--task-id", action="append", metavar="ID", help="only this task (repeatable)")
    redrive.add_argument("--older-than", type=parse_duration, metavar="DURATION", help="only tasks first sent longer ago than this (e.g. 30m, 2h, 1d)")
    redrive.add_argument("--error-contains", metavar="TEXT", help="only tasks whose recorded error contains TEXT (case-insensitive)")
    redrive.add_argument("--priority", action="append", metavar="TIER", help="only tasks of this priority tier (repeatable)")
    redrive.add_argument("--rate", type=_positive_float, metavar="N", help="at most N messages per second")
    redrive.add_argument("--max", type=_positive_int, metavar="N", help="stop after N messages")
    redrive.add_argument("--dry-run", action="store_true", help="list what would move; move nothing")
    redrive.add_argument(
        "--method", choices=("auto", "move-task", "receive"), default="auto",
        help="auto (default): the SQS move task when nothing restricts the move, else receive/send/delete",
    )
    redrive.add_argument(
        "--visibility-timeout", type=_positive_int, default=60, metavar="SECONDS",
        help="how long messages being moved stay hidden; if the command dies they reappear after this (default 60)",
    )
    redrive.set_defaults(func=cmd_dlq_redrive)

    purge = dlq_commands.add_parser("purge", parents=[common], help="delete every DLQ message (asks first)")
    purge.add_argument("--yes", action="store_true", help="do not ask (required without a terminal)")
    purge.set_defaults(func=cmd_dlq_purge)

    alarms = commands.add_parser("alarms", parents=[common], help="the team's CloudWatch alarms; exit 2 when any is in ALARM")
    alarms.add_argument("--prefix", metavar="PREFIX", help="alarms whose names start with PREFIX (default: alarm_names from the config, else '<name>-')")
    alarms.set_defaults(func=cmd_alarms)

    status = commands.add_parser("status", parents=[common], help="queue depth and DLQ depth, or one task's lifecycle")
    status.add_argument("task_id", nargs="?", metavar="TASK_ID", help="show this task's record from the task table")
    status.set_defaults(func=cmd_status)

    for module_name, adders in OPTIONAL_COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                continue  # that part of sqstask is not installed
            raise
        for adder in adders:
            if hasattr(module, adder):
                getattr(module, adder)(commands)
                break
    return parser


# -- errors ----------------------------------------------------------------------------------

_CLIENT_ERROR_HINTS: dict[str, str] = {
    "AWS.SimpleQueueService.NonExistentQueue": "the queue does not exist: check --queue-url/--config, --region and --endpoint-url",
    "QueueDoesNotExist": "the queue does not exist: check --queue-url/--config, --region and --endpoint-url",
    "ResourceNotFoundException": "not found: check the config (task table name, region)",
    "AccessDenied": "permission denied: use a role with the module's dlq-operator (or consumer) policy",
    "AccessDeniedException": "permission denied: use a role with the module's dlq-operator (or consumer) policy",
    "ExpiredToken": "the AWS credentials have expired: refresh them",
    "ExpiredTokenException": "the AWS credentials have expired: refresh them",
    "InvalidClientTokenId": "the AWS credentials are not valid",
    "UnrecognizedClientException": "the AWS credentials are not valid",
}


def _one_line(text: str) -> str:
    text = re.sub(r"<[^>]+>", " ", text)  # an HTML error page from a proxy or emulator
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


def describe_error(exc: BaseException) -> str:
    """One line for the user about ``exc``."""
    if isinstance(exc, SqstaskError):
        return _one_line(str(exc))
    try:
        from botocore import exceptions as bce
    except ImportError:  # pragma: no cover - boto3 is a dependency
        bce = None
    if bce is not None:
        if isinstance(exc, bce.ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "Unknown")
            message = str(error.get("Message") or "")
            operation = getattr(exc, "operation_name", "AWS call")
            hint = _CLIENT_ERROR_HINTS.get(code)
            detail = f"{code}: {message}" if message else code
            return _one_line(f"{operation} failed: {hint} ({detail})" if hint else f"{operation} failed: {detail}")
        if isinstance(exc, bce.EndpointConnectionError):
            endpoint = str(exc.kwargs.get("endpoint_url") or "the AWS endpoint").rstrip("/")
            return f"cannot reach {endpoint}: check --endpoint-url, --region and the network"
        if isinstance(exc, bce.NoCredentialsError):
            return "no AWS credentials found: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        if isinstance(exc, bce.NoRegionError):
            return "no AWS region: pass --region or set AWS_REGION (or put region in the config)"
        if isinstance(exc, bce.BotoCoreError):
            return _one_line(str(exc))
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}"
    return _one_line(f"unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)")


@contextlib.contextmanager
def _cli_logging(debug: bool) -> Iterator[None]:
    """JSON-lines logs of the ``sqstask`` logger on stderr while a command runs, then as before."""
    from .audit import configure_json_logging

    logger = logging.getLogger("sqstask")
    saved = (logger.level, list(logger.handlers), logger.propagate)
    configure_json_logging(logging.DEBUG if debug else logging.WARNING, stream=sys.stderr, force=True)
    try:
        yield
    finally:
        logger.setLevel(saved[0])
        logger.handlers[:] = saved[1]
        logger.propagate = saved[2]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``sqstask`` command; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse already reported
        return int(exc.code) if isinstance(exc.code, int) else EXIT_ERROR
    _apply_common_defaults(args)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with _cli_logging(args.debug):
            return int(func(args) or EXIT_OK)
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # e.g. `sqstask dlq list | head`
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            traceback.print_exc()
        print(f"{PROG}: error: {describe_error(exc)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
