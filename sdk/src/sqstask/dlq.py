"""The dead-letter queue: peek without consuming, inspect, redrive (all or selectively), purge.

Everything here follows one rule: a message leaves the DLQ only after its copy is safely in
the source queue. Reading the DLQ means receiving, so every reader *holds* what it received
(a visibility timeout it keeps extending) and makes it visible again (timeout 0) before it
returns, including on errors. Held messages are not released one by one while a scan runs:
in a FIFO queue the released message would come back first and block the rest of the scan.
If the process dies, held messages reappear on their own when the hold lapses.

FIFO limit worth knowing: SQS hides the later messages of a group while an earlier one is
in flight, so a scan that holds messages sees, per group, only the first batch SQS returns.
A full redrive is not affected (moved messages are deleted, which unblocks the group); a
listing or a filtered redrive reports how many messages it could not reach.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .audit import log_event
from .deadletter import ERROR_ATTRIBUTE
from .exceptions import ConfigError, MalformedMessage, SqstaskError, error_code
from .payloads import PayloadStore, is_pointer
from .priorities import PRIORITY_ATTRIBUTE
from .queue import MAX_BATCH_ENTRIES, failure_reason, message_id_of, sqs_batch
from .task import TASK_ID_ATTRIBUTE, TASK_TYPE_ATTRIBUTE, deduplication_id, task_from_message

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import TaskQueue

# Error codes meaning "this endpoint does not offer StartMessageMoveTask" (older or emulated
# SQS endpoints); the selective path does the same job there.
MOVE_TASK_UNSUPPORTED_CODES = frozenset(
    {
        "InvalidAction",
        "UnknownOperationException",
        "UnsupportedOperation",
        "AWS.SimpleQueueService.UnsupportedOperation",
        "NotImplemented",
        "501",
        # An emulator that does not know the action answers with a bare HTTP 500 page, whose
        # "code" is the status itself; real SQS errors carry a named code.
        "500",
    }
)
MOVE_TASK_DONE = frozenset({"COMPLETED", "CANCELLED", "FAILED"})
MAX_MOVE_TASK_RATE = 500
DEFAULT_HOLD_SECONDS = 60
DEFAULT_PEEK_HOLD_SECONDS = 30
DEFAULT_WAIT_SECONDS = 1
DEFAULT_POLL_SECONDS = 2.0


class DeadLetterError(SqstaskError):
    """A DLQ operation cannot be carried out (e.g. the message move task failed)."""




def _is_aws_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith("botocore")


def move_task_unsupported(exc: BaseException) -> bool:
    """True when ``exc`` says the endpoint lacks StartMessageMoveTask/ListMessageMoveTasks."""
    if isinstance(exc, NotImplementedError):  # moto in-process
        return True
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return False
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error_code(exc) in MOVE_TASK_UNSUPPORTED_CODES or status == 501


def _epoch_ms(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000.0, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _parse_iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value.endswith(("Z", "z")) else value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _string_attribute(attributes: Mapping[str, Any], name: str) -> str | None:
    entry = attributes.get(name)
    value = entry.get("StringValue") if isinstance(entry, Mapping) else None
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True)
class QueueDepth:
    """Approximate message counts of one queue."""

    visible: int
    in_flight: int
    delayed: int

    @property
    def total(self) -> int:
        """All messages the queue holds."""
        return self.visible + self.in_flight + self.delayed


def queue_depth(sqs: Any, queue_url: str) -> QueueDepth:
    """GetQueueAttributes: visible, in-flight and delayed message counts."""
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    ).get("Attributes", {})
    return QueueDepth(
        visible=int(attrs.get("ApproximateNumberOfMessages", 0)),
        in_flight=int(attrs.get("ApproximateNumberOfMessagesNotVisible", 0)),
        delayed=int(attrs.get("ApproximateNumberOfMessagesDelayed", 0)),
    )


@dataclass(frozen=True)
class DeadLetter:
    """One message in the DLQ, decoded as far as possible, with its recorded failure."""

    message_id: str
    task_id: str
    task_type: str | None
    group_id: str | None
    receive_count: int
    sent_at: datetime | None
    first_received_at: datetime | None
    body: str
    payload: Any = None
    envelope: Mapping[str, Any] | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    message_attributes: Mapping[str, Any] = field(default_factory=dict)
    problem: str | None = None
    record: Mapping[str, Any] | None = None
    message: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    priority: str | None = None  # the tier it failed on; None for a queue without tiers

    @property
    def error(self) -> str | None:
        """The recorded failure (``ErrorType: message``): the task table's, else the one the SDK
        attached when it dead-lettered the message (``sqstask-error``), if any."""
        kind, text = (self.record or {}).get("error_type"), (self.record or {}).get("error")
        if kind and text:
            return f"{kind}: {text}"
        if kind or text:
            return str(kind or text)
        return _string_attribute(self.message_attributes, ERROR_ATTRIBUTE)

    @property
    def last_attempt_at(self) -> datetime | None:
        """When the last attempt started (task table), if recorded."""
        if not self.record:
            return None
        return _parse_iso(self.record.get("started_at")) or _parse_iso(self.record.get("finished_at"))

    @property
    def offloaded(self) -> bool:
        """True when the body is an S3 pointer (the payload lives in the payload bucket)."""
        return is_pointer(self.body)

    def age_seconds(self, now: float) -> float | None:
        """Seconds since the task was first enqueued (SentTimestamp survives the move to the DLQ)."""
        return None if self.sent_at is None else max(0.0, now - self.sent_at.timestamp())

    def summary(self, now: float) -> dict[str, Any]:
        """The row ``dlq list`` shows."""
        return {
            "task_id": self.task_id,
            "task_type": self.task_type,
            "group_id": self.group_id,
            "first_receive": self.first_received_at,
            "last_attempt": self.last_attempt_at,
            "receive_count": self.receive_count,
            "error": self.error or self.problem,
            "age_seconds": None if self.sent_at is None else int(self.age_seconds(now) or 0),
            "message_id": self.message_id,
            **({"priority": self.priority} if self.priority is not None else {}),
        }

    def details(self, now: float) -> dict[str, Any]:
        """Everything ``dlq show`` prints: envelope, payload, attributes and the recorded failure."""
        return {
            **self.summary(now),
            "sent_at": self.sent_at,
            "offloaded_to_s3": self.offloaded,
            "envelope": dict(self.envelope) if self.envelope is not None else None,
            "payload": self.payload,
            "body": None if self.envelope is not None or self.problem is None else self.body,
            "problem": self.problem,
            "attributes": dict(self.attributes),
            "message_attributes": {
                name: value.get("StringValue", value.get("BinaryValue"))
                for name, value in self.message_attributes.items()
                if isinstance(value, Mapping)
            },
            "record": dict(self.record) if self.record else None,
        }


@dataclass(frozen=True)
class RedriveFilter:
    """Which DLQ messages a selective redrive moves; empty fields match everything."""

    task_types: frozenset[str] = frozenset()
    group_ids: frozenset[str] = frozenset()
    task_ids: frozenset[str] = frozenset()
    older_than: float | None = None
    error_contains: str | None = None
    priorities: frozenset[str] = frozenset()

    @classmethod
    def build(
        cls,
        *,
        task_types: Iterable[str] | None = None,
        group_ids: Iterable[str] | None = None,
        task_ids: Iterable[str] | None = None,
        older_than: float | None = None,
        error_contains: str | None = None,
        priorities: Iterable[str] | None = None,
    ) -> RedriveFilter:
        """A filter from optional iterables (None and empty mean "any")."""
        return cls(
            frozenset(task_types or ()),
            frozenset(group_ids or ()),
            frozenset(task_ids or ()),
            older_than,
            error_contains or None,
            frozenset(priorities or ()),
        )

    @property
    def empty(self) -> bool:
        """True when the filter matches every message."""
        return (
            not (self.task_types or self.group_ids or self.task_ids or self.priorities)
            and self.older_than is None
            and not self.error_contains
        )

    @property
    def needs_record(self) -> bool:
        """True when matching needs the task table (the recorded error)."""
        return bool(self.error_contains)

    def matches(self, letter: DeadLetter, now: float) -> bool:
        """True when ``letter`` passes every given criterion."""
        if self.task_types and letter.task_type not in self.task_types:
            return False
        if self.group_ids and letter.group_id not in self.group_ids:
            return False
        if self.task_ids and letter.task_id not in self.task_ids:
            return False
        if self.priorities and letter.priority not in self.priorities:
            return False
        if self.older_than is not None:
            age = letter.age_seconds(now)
            if age is None or age < self.older_than:
                return False
        if self.error_contains:
            wanted = self.error_contains.lower()
            if not any(wanted in text.lower() for text in (letter.error, letter.problem) if text):
                return False
        return True


@dataclass
class RedriveReport:
    """What a redrive did (or, with ``dry_run``, would do)."""

    method: str
    dry_run: bool = False
    scanned: int = 0
    matched: int = 0
    moved: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_deleted: list[str] = field(default_factory=list)
    would_move: list[DeadLetter] = field(default_factory=list)
    depth_before: int | None = None
    unreached: int = 0
    behind: int = 0  # dry run on a FIFO DLQ: unscanned messages a real run would reach and move
    fallback_reason: str | None = None
    move_task_handle: str | None = None

    @property
    def ok(self) -> bool:
        """True when nothing failed."""
        return not self.failed

    def to_dict(self, now: float) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "method": self.method,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "matched": self.matched,
            "moved": self.moved,
            "failed": [{"task_id": t, "reason": r} for t, r in self.failed],
            "sent_but_not_deleted": list(self.not_deleted),
            "would_move": [letter.summary(now) for letter in self.would_move],
            "depth_before": self.depth_before,
            "unreached": self.unreached,
            "behind": self.behind,
            "fallback_reason": self.fallback_reason,
            "move_task_handle": self.move_task_handle,
        }


class RateLimiter:
    """Spaces out work to at most ``rate`` items per second (None: no limit)."""

    def __init__(self, rate: float | None, *, clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive, got {rate}")
        self.rate = rate
        self._clock = clock
        self._sleep = sleep
        self._next: float | None = None

    def wait(self) -> None:
        """Sleep until the next item may go."""
        if self.rate is None or self._next is None:
            return
        delay = self._next - self._clock()
        if delay > 0:
            self._sleep(delay)

    def charge(self, count: int) -> None:
        """Record that ``count`` items just went."""
        if self.rate is None:
            return
        start = max(self._clock(), self._next or 0.0)
        self._next = start + count / self.rate


class _Hold:
    """Messages received from the DLQ and kept invisible until released or deleted."""

    def __init__(self, dlq: DeadLetterQueue, seconds: int, wait_seconds: int) -> None:
        self.dlq = dlq
        self.seconds = max(1, int(seconds))
        self.wait_seconds = wait_seconds
        self.held: dict[str, tuple[Mapping[str, Any], float]] = {}
        self.seen: set[str] = set()

    def receive(self, max_messages: int) -> list[Mapping[str, Any]] | None:
        """Receive and hold new messages; None once the queue has nothing new to give."""
        self.extend_due()
        messages = self.dlq.queue.receive(
            max_messages=max(1, min(MAX_BATCH_ENTRIES, max_messages)),
            wait_seconds=self.wait_seconds,
            visibility_timeout=self.seconds,
            queue_url=self.dlq.url,
        )
        if not messages:
            return None
        until = self.dlq.clock() + self.seconds
        fresh = []
        for message in messages:
            mid = message_id_of(message)
            self.held[mid] = (message, until)  # a message seen before comes back with a new handle
            if mid not in self.seen:
                self.seen.add(mid)
                fresh.append(message)
        return fresh or None

    def extend_due(self) -> None:
        """Push back the hold of messages whose visibility would lapse soon."""
        now = self.dlq.clock()
        due = [m for m, until in self.held.values() if until - now < self.seconds / 2]
        if not due:
            return
        failed = set(self.dlq.queue.change_visibility_many(due, self.seconds, queue_url=self.dlq.url))
        for message in due:
            mid = message_id_of(message)
            if mid not in failed:
                self.held[mid] = (message, now + self.seconds)

    def forget(self, message_ids: Iterable[str]) -> None:
        """Stop tracking messages that were deleted (each one this hold received)."""
        for mid in message_ids:
            del self.held[mid]

    def release_all(self) -> None:
        """Make every held message visible again now."""
        if not self.held:
            return
        messages = [m for m, _ in self.held.values()]
        self.held.clear()
        try:
            failed = self.dlq.queue.change_visibility_many(messages, 0, queue_url=self.dlq.url)
        except Exception as exc:  # never mask the error that got us here; they reappear on their own
            if not _is_aws_error(exc):
                raise
            log_event("release-failed", level=logging.WARNING, count=len(messages), error_type=error_code(exc), error=str(exc))
            return
        if failed:
            log_event("release-failed", level=logging.WARNING, count=len(failed), reason=f"they reappear within {self.seconds}s")


class DeadLetterQueue:
    """The DLQ of one TaskQueue: list, show, redrive, purge.

    ``clock``/``sleep`` are injectable (rate limiting, progress polling); ``progress`` receives
    one human-readable line per step of a long operation (the CLI prints them on stderr).
    """

    def __init__(
        self,
        queue: TaskQueue,
        *,
        dlq_url: str | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        progress: Callable[[str], None] | None = None,
        wait_seconds: int = DEFAULT_WAIT_SECONDS,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
    ) -> None:
        self.queue = queue
        self._url = dlq_url or queue.config.dlq_url
        self._arn = queue.config.dlq_arn if not dlq_url else None
        self._queue_arn = queue.config.queue_arn
        self.clock = clock
        self.sleep = sleep
        self.progress = progress or (lambda line: None)
        self.wait_seconds = wait_seconds
        self.poll_seconds = poll_seconds
        self.warnings: list[str] = []
        self._records: dict[str, Mapping[str, Any] | None] = {}
        self._store: Any = None
        self._records_broken = False
        self._reader = queue.payloads or PayloadStore(lambda: queue.s3, None)

    # -- where things are -----------------------------------------------------------------

    @property
    def url(self) -> str:
        """The DLQ's URL: from the config, else from the source queue's redrive policy."""
        if self._url is None:
            self._url = self._discover_url()
        return self._url

    def _discover_url(self) -> str:
        attrs = self.queue.sqs.get_queue_attributes(
            QueueUrl=self.queue.config.queue_url, AttributeNames=["RedrivePolicy"]
        ).get("Attributes", {})
        policy = attrs.get("RedrivePolicy")
        target = json.loads(policy).get("deadLetterTargetArn") if policy else None
        if not target:
            raise ConfigError(
                f"queue {self.queue.config.queue_name} has no dead-letter queue: set dlq_url "
                "(SQSTASK_DLQ_URL, or the module's sdk_config) or attach a redrive policy"
            )
        self._arn = target
        parts = target.split(":")  # arn:partition:sqs:region:account:name
        name, account = parts[-1], parts[4] if len(parts) == 6 else None
        kwargs: dict[str, Any] = {"QueueName": name}
        if account:
            kwargs["QueueOwnerAWSAccountId"] = account
        return str(self.queue.sqs.get_queue_url(**kwargs)["QueueUrl"])

    def _queue_arn_of(self, url: str) -> str:
        attrs = self.queue.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        return str(attrs["Attributes"]["QueueArn"])

    @property
    def arn(self) -> str:
        """The DLQ's ARN (config, else GetQueueAttributes)."""
        if self._arn is None:
            self._arn = self._queue_arn_of(self.url)
        return self._arn

    @property
    def source_arn(self) -> str:
        """The source (team) queue's ARN."""
        if self._queue_arn is None:
            self._queue_arn = self._queue_arn_of(self.queue.config.queue_url)
        return self._queue_arn

    @property
    def name(self) -> str:
        """The DLQ's name."""
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    def depth(self) -> QueueDepth:
        """Approximate counts of the DLQ."""
        return queue_depth(self.queue.sqs, self.url)

    # -- reading --------------------------------------------------------------------------

    def record(self, task_id: str, *, required: bool = False) -> Mapping[str, Any] | None:
        """The task table record of ``task_id`` (cached), or None without a table or a record.

        Unless ``required``, a table that cannot be read is noted in ``warnings`` once and
        treated as empty, so a listing still works for an operator without table access.
        """
        table = self.queue.config.idempotency_table
        if not table or (self._records_broken and not required):
            return None
        if task_id in self._records:
            return self._records[task_id]
        if self._store is None:
            from .idempotency import TaskStore

            self._store = TaskStore(self.queue.dynamodb, table)
        try:
            found = self._store.get(task_id)
        except Exception as exc:
            if required or not _is_aws_error(exc):
                raise
            self._records_broken = True
            self.warnings.append(f"task table {table} could not be read ({error_code(exc)}); errors are not shown")
            return None
        self._records[task_id] = found
        return found

    def decode(self, message: Mapping[str, Any], *, with_record: bool = True, record_required: bool = False) -> DeadLetter:
        """A DeadLetter for a received DLQ message; undecodable bodies are kept with ``problem``."""
        attributes = message.get("Attributes") or {}
        message_attributes = message.get("MessageAttributes") or {}
        message_id = message_id_of(message)
        body = message.get("Body") if isinstance(message.get("Body"), str) else ""
        problem: str | None = None
        try:
            resolved = self._reader.resolve(body)
        except MalformedMessage as exc:
            problem = exc.reason
        except Exception as exc:
            if not _is_aws_error(exc):
                raise
            problem = f"payload could not be read from S3 ({error_code(exc)}: {exc})"
        task = None
        if problem is None:
            try:
                task = task_from_message({**message, "Body": resolved})
            except MalformedMessage as exc:
                problem = exc.reason
        if task is not None:
            task_id, task_type, payload = task.task_id, task.task_type, task.payload
            envelope = json.loads(resolved) if task.enveloped else None
        else:
            task_id = (
                _string_attribute(message_attributes, TASK_ID_ATTRIBUTE)
                or attributes.get("MessageDeduplicationId")
                or message_id
            )
            task_type = _string_attribute(message_attributes, TASK_TYPE_ATTRIBUTE) or None
            payload, envelope = None, None
        record = self.record(task_id, required=record_required) if with_record else None
        first = _parse_iso(record.get("first_received_at")) if record else None
        try:
            receive_count = int(attributes.get("ApproximateReceiveCount", 0))
        except (TypeError, ValueError):
            receive_count = 0
        return DeadLetter(
            message_id=message_id,
            task_id=task_id,
            task_type=task_type,  # a parsed task always has one (the default type at least)
            group_id=attributes.get("MessageGroupId"),
            receive_count=receive_count,
            sent_at=_epoch_ms(attributes.get("SentTimestamp")),
            first_received_at=first or _epoch_ms(attributes.get("ApproximateFirstReceiveTimestamp")),
            body=body,
            payload=payload,
            envelope=envelope,
            attributes=dict(attributes),
            message_attributes=dict(message_attributes),
            problem=problem,
            record=record,
            message=message,
            priority=self.tier_of(message),
        )

    def tier_of(self, message: Mapping[str, Any]) -> str | None:
        """The priority tier a dead letter failed on (None without tiers).

        SQS names the source queue in DeadLetterQueueSourceArn; where that is missing (older
        or emulated endpoints) the sqstask-priority attribute set at send time tells; else the
        default tier.
        """
        tiers = self.queue.tiers
        if not tiers.tiered:
            return None
        source = (message.get("Attributes") or {}).get("DeadLetterQueueSourceArn")
        tier = tiers.of_queue(source) if source else None  # SQS gives attribute values as strings
        if tier is None:
            named = _string_attribute(message.get("MessageAttributes") or {}, PRIORITY_ATTRIBUTE)
            tier = named if named in tiers.urls else None
        return tier or tiers.default

    def peek(self, limit: int | None = None, *, hold_seconds: int = DEFAULT_PEEK_HOLD_SECONDS) -> list[DeadLetter]:
        """Up to ``limit`` DLQ messages, without consuming any: all are made visible again."""
        hold = _Hold(self, hold_seconds, self.wait_seconds)
        letters: list[DeadLetter] = []
        try:
            while limit is None or len(letters) < limit:
                want = MAX_BATCH_ENTRIES if limit is None else limit - len(letters)
                batch = hold.receive(want)
                if batch is None:
                    break
                letters.extend(self.decode(m) for m in batch)
        finally:
            hold.release_all()
        return letters  # each receive asks for at most what the limit leaves room for

    def find(self, key: str, *, hold_seconds: int = DEFAULT_PEEK_HOLD_SECONDS) -> DeadLetter | None:
        """The DLQ message whose task id or message id is ``key`` (None when not reachable)."""
        hold = _Hold(self, hold_seconds, self.wait_seconds)
        try:
            while True:
                batch = hold.receive(MAX_BATCH_ENTRIES)
                if batch is None:
                    return None
                for message in batch:
                    letter = self.decode(message, with_record=False)
                    if key in (letter.task_id, letter.message_id):
                        return self.decode(message)
        finally:
            hold.release_all()

    # -- redrive --------------------------------------------------------------------------

    def redrive(
        self,
        flt: RedriveFilter | None = None,
        *,
        rate: float | None = None,
        dry_run: bool = False,
        max_messages: int | None = None,
        method: str = "auto",
        hold_seconds: int = DEFAULT_HOLD_SECONDS,
    ) -> RedriveReport:
        """Move DLQ messages back to the source queue.

        ``method``: ``auto`` uses SQS StartMessageMoveTask when nothing restricts the move
        (no filter, no ``max_messages``, not a dry run) and the endpoint offers it, else the
        selective path; ``move-task`` and ``receive`` force one. ``rate`` is messages per
        second. ``hold_seconds`` is how long messages being moved stay hidden: if the
        process dies, they reappear after it.
        """
        flt = flt or RedriveFilter()
        if method not in ("auto", "move-task", "receive"):
            raise ValueError(f"method must be auto, move-task or receive, got {method!r}")
        if max_messages is not None and max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be above 0 messages per second, got {rate}")
        unrestricted = flt.empty and not dry_run and max_messages is None
        if method == "move-task" and not unrestricted:
            raise DeadLetterError("the SQS message move task moves everything: it cannot filter, limit or dry-run")
        # The move task takes whole messages per second (1..500); a slower rate is the selective path's.
        slow = rate is not None and rate < 1
        if method == "move-task" and slow:
            raise DeadLetterError(
                f"the SQS message move task moves at least 1 message per second; for --rate {rate:g} "
                "use --method receive"
            )
        fallback_reason = None
        if method in ("auto", "move-task") and unrestricted and not slow:
            try:
                return self._redrive_move_task(rate)
            except Exception as exc:
                if method == "move-task" or not move_task_unsupported(exc):
                    raise
                fallback_reason = f"StartMessageMoveTask is not available on this endpoint ({error_code(exc)})"
                self.progress(f"redrive: {fallback_reason}; moving messages one batch at a time")
        report = self._redrive_selective(flt, rate=rate, dry_run=dry_run, max_messages=max_messages, hold_seconds=hold_seconds)
        report.fallback_reason = fallback_reason
        return report

    def _redrive_move_task(self, rate: float | None) -> RedriveReport:
        sqs = self.queue.sqs
        kwargs: dict[str, Any] = {"SourceArn": self.arn}
        if not self.queue.tiers.tiered:
            kwargs["DestinationArn"] = self.source_arn
        # With tiers the DLQ mixes them: without DestinationArn SQS returns each message to the
        # queue it came from, i.e. to its own tier.
        if rate is not None:
            kwargs["MaxNumberOfMessagesPerSecond"] = max(1, min(MAX_MOVE_TASK_RATE, int(rate)))
        depth = self.depth().total
        handle = sqs.start_message_move_task(**kwargs).get("TaskHandle")
        report = RedriveReport(method="move-task", depth_before=depth, move_task_handle=handle)
        log_event("redrive-started", method="move-task", source=self.name, task_handle=handle)
        try:
            while True:
                self.sleep(self.poll_seconds)
                results = sqs.list_message_move_tasks(SourceArn=self.arn, MaxResults=1).get("Results")
                if not results:
                    raise DeadLetterError(f"the message move task from {self.name} is no longer listed by SQS")
                current = results[0]
                status = current.get("Status", "?")
                moved = int(current.get("ApproximateNumberOfMessagesMoved", 0))
                total = current.get("ApproximateNumberOfMessagesToMove")
                of = f" of ~{total}" if total is not None else ""
                self.progress(f"redrive: {status.lower()}: moved {moved}{of}")
                report.moved = report.matched = report.scanned = moved
                if status in MOVE_TASK_DONE:
                    if status != "COMPLETED":
                        reason = current.get("FailureReason") or status.lower()
                        report.failed.append(("*", f"message move task {status.lower()}: {reason}"))
                    break
        except KeyboardInterrupt:
            self.progress(
                f"redrive: stopped watching; the move task keeps running in SQS "
                f"(cancel it with CancelMessageMoveTask, handle {handle})"
            )
            raise
        log_event("redrive-finished", method="move-task", source=self.name, moved=report.moved)
        return report

    def _redrive_selective(
        self, flt: RedriveFilter, *, rate: float | None, dry_run: bool, max_messages: int | None, hold_seconds: int
    ) -> RedriveReport:
        limiter = RateLimiter(rate, clock=self.clock, sleep=self.sleep)
        batch_size = MAX_BATCH_ENTRIES if rate is None else max(1, min(MAX_BATCH_ENTRIES, int(rate)))
        depth = self.depth()
        report = RedriveReport(method="receive", dry_run=dry_run, depth_before=depth.visible)
        hold = _Hold(self, hold_seconds, self.wait_seconds)
        log_event("redrive-started", method="receive", source=self.name, dry_run=dry_run)
        try:
            while max_messages is None or report.matched < max_messages:
                limiter.wait()  # a dry run charges nothing, so it never waits
                batch = hold.receive(batch_size)
                if batch is None:
                    break
                now = self.clock()
                chosen: list[DeadLetter] = []
                for message in batch:
                    report.scanned += 1
                    letter = self.decode(message, with_record=flt.needs_record, record_required=flt.needs_record)
                    room = max_messages is None or report.matched + len(chosen) < max_messages
                    if room and flt.matches(letter, now):
                        chosen.append(letter)
                report.matched += len(chosen)
                if dry_run:
                    report.would_move.extend(chosen)
                    self.progress(f"redrive (dry run): would move {report.matched} (scanned {report.scanned} of ~{depth.visible})")
                    continue
                if chosen:
                    self._move(chosen, hold, report)
                    limiter.charge(len(chosen))
                self.progress(
                    f"redrive: moved {report.moved} of {report.matched} matched "
                    f"(scanned {report.scanned} of ~{depth.visible}, failed {len(report.failed)})"
                )
        finally:
            hold.release_all()
        if max_messages is None or report.matched < max_messages:
            report.unreached = max(0, depth.visible - report.scanned)
        if dry_run and flt.empty and max_messages is None and self.url.endswith(".fifo"):
            # A FIFO DLQ shows a held group's later messages only once the earlier ones leave;
            # the dry run holds everything it saw, but a real run moves them and reaches the rest.
            report.behind, report.unreached = report.unreached, 0
        log_event(
            "redrive-finished",
            method="receive",
            source=self.name,
            dry_run=dry_run,
            moved=report.moved,
            matched=report.matched,
            failed=len(report.failed),
        )
        return report

    def redrive_entry(self, letter: DeadLetter) -> dict[str, Any]:
        """SendMessage arguments that put ``letter`` back in the source queue.

        The body and message attributes are sent unchanged (an S3 pointer stays a pointer),
        the group id is kept and the deduplication id is fresh, so SQS's 5-minute
        de-duplication window cannot swallow the redriven copy.
        """
        attributes: dict[str, dict[str, Any]] = {}
        for name, value in letter.message_attributes.items():
            if not isinstance(value, Mapping) or "DataType" not in value:
                continue
            clean = {"DataType": value["DataType"]}
            for key in ("StringValue", "BinaryValue"):
                if value.get(key) is not None:
                    clean[key] = value[key]
            attributes[name] = clean
        # A raw (non-envelope) message's task id is its deduplication id, which does not survive
        # the DLQ: the attribute carries it from now on.
        if TASK_ID_ATTRIBUTE not in attributes and len(attributes) < 10:  # SQS: 10 attributes per message
            attributes[TASK_ID_ATTRIBUTE] = {"DataType": "String", "StringValue": letter.task_id}
        entry: dict[str, Any] = {"MessageBody": letter.body}
        if attributes:
            entry["MessageAttributes"] = attributes
        if self.queue.config.queue_url.endswith(".fifo"):
            base = deduplication_id(letter.task_id)
            suffix = f":redrive:{uuid.uuid4().hex}"
            if len(base) + len(suffix) > 128:
                base = hashlib.sha256(base.encode("utf-8")).hexdigest()
            entry["MessageDeduplicationId"] = base + suffix
            if letter.group_id:
                entry["MessageGroupId"] = letter.group_id
        return entry

    def _move(self, letters: Sequence[DeadLetter], hold: _Hold, report: RedriveReport) -> None:
        """Send ``letters`` to their source queue (each to its own tier), then delete from the DLQ those that were sent."""
        tiers = self.queue.tiers
        failures: dict[str, Any] = {}
        for tier in dict.fromkeys(letter.priority for letter in letters):
            url = tiers.urls[tier] if tier is not None else self.queue.config.queue_url
            picked = [letter for letter in letters if letter.priority == tier]
            entries = [self.redrive_entry(letter) for letter in picked]
            ids = [letter.message_id for letter in picked]
            failures.update({f.message_id: f for f in sqs_batch(self.queue.sqs, "send_message_batch", url, entries, ids)})
        sent = [letter for letter in letters if letter.message_id not in failures]
        for letter in letters:
            failure = failures.get(letter.message_id)
            if failure is not None:
                report.failed.append((letter.task_id, failure_reason(failure.code, failure.message)))
                log_event("redrive-failed", level=logging.WARNING, task_id=letter.task_id, message_id=letter.message_id, error_type=failure.code, error=failure.message)
        if not sent:
            return
        not_deleted = set(self.queue.delete_many([letter.message for letter in sent], queue_url=self.url))
        hold.forget(letter.message_id for letter in sent if letter.message_id not in not_deleted)
        for letter in sent:
            report.moved += 1
            if letter.message_id in not_deleted:
                report.not_deleted.append(letter.task_id)
            log_event(
                "redriven",
                task_id=letter.task_id,
                task_type=letter.task_type,
                group_id=letter.group_id,
                message_id=letter.message_id,
                deleted=letter.message_id not in not_deleted,
            )

    # -- purge ----------------------------------------------------------------------------

    def purge(self) -> int:
        """Delete every message in the DLQ (PurgeQueue); returns how many there were."""
        count = self.depth().total
        self.queue.sqs.purge_queue(QueueUrl=self.url)
        log_event("purged", queue=self.name, count=count)
        return count
