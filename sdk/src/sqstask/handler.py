"""Running tasks idempotently, and the Lambda SQS handler built on it (``batch_handler``).

``TaskRunner`` runs one task: claim it in the task table, call the user's function, send the
follow-ups it returned (``Then``), and record COMPLETED or FAILED — logging every state change
as one JSON line. ``batch_handler`` wraps a plain ``def handle(task)`` into a Lambda SQS handler
that reports partial batch failures; the long-poll ``Worker`` uses the same ``TaskRunner``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import audit
from .metrics import EmfWriter
from .exceptions import ConfigError, MalformedMessage, PayloadMismatch, SendError, TaskInProgress
from .task import Then

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .idempotency import Claim, TaskStore
    from .queue import SendResult, TaskQueue
    from .task import Task, TaskSpec

Handle = Callable[["Task"], Any]

DEFAULT_MIN_REMAINING_MS = 2000
LAMBDA_LEASE_MARGIN_SECONDS = 5.0

SUCCEEDED = "succeeded"
DUPLICATE = "duplicate"
FAILED = "failed"
IN_PROGRESS = "in-progress"
MALFORMED = "malformed"


@dataclass
class Outcome:
    """What happened to one task: ``status`` is succeeded, duplicate, failed, in-progress or malformed."""

    status: str
    task: Task | None = None
    error: BaseException | None = None
    reason: str | None = None
    duration_ms: int | None = None
    retry_after: float | None = None  # in-progress: seconds until the other consumer's lease ends
    chained: list[SendResult] = field(default_factory=list)
    result: Any = None
    finished_at: float = field(default_factory=time.time)  # epoch seconds: outcomes are made as tasks end

    @property
    def ok(self) -> bool:
        """True when the message can be deleted (the task succeeded now or earlier)."""
        return self.status in (SUCCEEDED, DUPLICATE)


class AuditLog:
    """Writes the audit events of task runs, to the ``sqstask`` logger or a given one."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger

    def __call__(self, event: str, task: Task | None = None, *, level: int | None = None, **fields: Any) -> None:
        audit.log_event(event, task, level=level, log_to=self.logger, **fields)


def child_task_id(parent_task_id: str, index: int) -> str:
    """Deterministic id of the ``index``-th follow-up of a task, so a re-run sends the same ids."""
    candidate = f"{parent_task_id}.then-{index}"
    if len(candidate) <= 128:
        return candidate
    digest = hashlib.sha256(parent_task_id.encode("utf-8")).hexdigest()
    return f"{digest}.then-{index}"


def follow_ups(task: Task, result: Any) -> list[TaskSpec] | None:
    """The TaskSpecs a handler's return value asks to enqueue (``Then`` or a list of them), or None."""
    if isinstance(result, Then):
        items = [result]
    elif isinstance(result, (list, tuple)) and result and all(isinstance(item, Then) for item in result):
        items = list(result)
    else:
        return None
    specs = []
    for index, then in enumerate(items):
        spec = then.to_spec(task.group_id)
        if spec.task_id is None:
            spec = replace(spec, task_id=child_task_id(task.task_id, index))
        specs.append(spec)
    return specs


def _max_receive_count_of(queue: TaskQueue) -> int | None:
    """The queue's redrive maxReceiveCount (one GetQueueAttributes), or None when unknown."""
    try:
        response = queue.sqs.get_queue_attributes(QueueUrl=queue.config.queue_url, AttributeNames=["RedrivePolicy"])
        policy = json.loads(response.get("Attributes", {}).get("RedrivePolicy") or "{}")
        value = int(policy.get("maxReceiveCount", 0))
    except Exception:  # no permission, no policy: "gave-up" is then not logged
        return None
    return value or None


class TaskRunner:
    """Runs tasks through ``handle`` exactly once per task id (when ``idempotency`` is on).

    ``table`` defaults to the queue's idempotency table; ``max_receive_count`` (for the
    "gave-up" event) defaults to the queue's redrive policy, read once when first needed.
    """

    def __init__(
        self,
        queue: TaskQueue,
        handle: Handle,
        *,
        idempotency: bool = True,
        table: str | None = None,
        logger: logging.Logger | None = None,
        max_receive_count: int | None = None,
        store: TaskStore | None = None,
    ) -> None:
        self.queue = queue
        self.handle = handle
        self.idempotency = idempotency
        self.log = AuditLog(logger)
        self._table = table
        self._store = store
        self._max_receive_count = max_receive_count
        self._max_receive_known = max_receive_count is not None
        self._lock = threading.Lock()
        if idempotency and store is None and not (table or queue.config.idempotency_table):
            raise ConfigError(
                "idempotency needs a task table: set SQSTASK_IDEMPOTENCY_TABLE (or idempotency_table "
                "in SQSTASK_CONFIG), pass table=..., or pass idempotency=False to run without it"
            )

    @property
    def store(self) -> TaskStore | None:
        """The task table (created on first use), or None when idempotency is off."""
        if not self.idempotency:
            return None
        if self._store is None:
            from .idempotency import TaskStore

            with self._lock:
                if self._store is None:
                    self._store = TaskStore(self.queue.dynamodb, self._table or self.queue.config.idempotency_table)
        return self._store

    @property
    def max_receive_count(self) -> int | None:
        """Receives after which a failing message goes to the DLQ (None when unknown)."""
        if not self._max_receive_known:
            with self._lock:
                if not self._max_receive_known:
                    self._max_receive_count = _max_receive_count_of(self.queue)
                    self._max_receive_known = True
        return self._max_receive_count

    def parse(self, message_or_record: Mapping[str, Any]) -> Task | Outcome:
        """The Task in an SQS message or Lambda record, or a malformed/failed Outcome (logged)."""
        try:
            return self.queue.to_task(message_or_record)
        except MalformedMessage as exc:
            message_id = exc.message_id or _message_id(message_or_record)
            self.log(
                "malformed",
                message_id=message_id,
                group_id=_group_id(message_or_record),
                attempt=_receive_count(message_or_record),
                reason=exc.reason,
            )
            return Outcome(MALFORMED, error=exc, reason=exc.reason)
        except Exception as exc:  # e.g. S3 unavailable while resolving a pointer: retry later
            reason = f"could not read the message: {type(exc).__name__}: {exc}"
            self.log("failed", message_id=_message_id(message_or_record), reason=reason, **_describe(exc))
            return Outcome(FAILED, error=exc, reason=reason)

    def run(self, task: Task, *, lease_seconds: float, on_claim: Callable[[Claim], None] | None = None) -> Outcome:
        """Claim, run, chain and record one task; never raises for a task's own failure."""
        self.log("received", task)
        claim = None
        store = self.store
        if store is not None:
            try:
                claim = store.claim(task, lease_seconds=lease_seconds)
            except TaskInProgress as exc:
                lease = getattr(exc, "lease_expires_at", None)
                retry_after = max(0.0, lease - time.time()) if lease else None
                self.log("failed", task, reason="in-progress", **_describe(exc))
                return Outcome(IN_PROGRESS, task, error=exc, reason=str(exc), retry_after=retry_after)
            except PayloadMismatch as exc:
                self.log("failed", task, level=logging.ERROR, reason="payload-mismatch", **_describe(exc))
                self._gave_up_if_last(task, exc)
                return Outcome(FAILED, task, error=exc, reason=str(exc))
            except Exception as exc:
                reason = f"task table unavailable: {type(exc).__name__}: {exc}"
                self.log("failed", task, reason=reason, **_describe(exc))
                return Outcome(FAILED, task, error=exc, reason=reason)
            if not claim.acquired:
                self.log("skipped-duplicate", task, status=claim.record.get("status"),
                         finished_at=claim.record.get("finished_at"))
                return Outcome(DUPLICATE, task)
            if on_claim is not None:
                on_claim(claim)

        self.log("started", task, claim_attempt=claim.attempt if claim else None)
        started = time.monotonic()
        try:
            result = self.handle(task)
            specs = follow_ups(task, result)
            chained: list[SendResult] = []
            if specs:
                chained = list(self.queue.send_many(specs, raise_on_failure=True).sent)
        except Exception as exc:
            duration_ms = int((time.monotonic() - started) * 1000)
            if claim is not None:
                self._record_failure(store, claim, task, exc, duration_ms)
            reason = "follow-up tasks could not be sent" if isinstance(exc, SendError) else "handler raised"
            self.log("failed", task, duration_ms=duration_ms, reason=reason, **_describe(exc))
            self._gave_up_if_last(task, exc)
            return Outcome(FAILED, task, error=exc, reason=f"{type(exc).__name__}: {exc}", duration_ms=duration_ms)

        duration_ms = int((time.monotonic() - started) * 1000)
        for sent in chained:
            self.log("chained", task, next_task_id=sent.task_id, next_message_id=sent.message_id)
        stored = {"then": [sent.task_id for sent in chained]} if chained else result
        if claim is not None:
            try:
                store.complete(claim, result=stored, duration_ms=duration_ms)
            except Exception as exc:  # the work is done: do not run it again, but say so loudly
                self.log("record-failed", task, level=logging.ERROR, status="COMPLETED", **_describe(exc))
        self.log("succeeded", task, duration_ms=duration_ms)
        return Outcome(SUCCEEDED, task, duration_ms=duration_ms, chained=chained, result=result)

    def _record_failure(self, store: TaskStore | None, claim: Claim, task: Task, exc: Exception, duration_ms: int) -> None:
        try:
            if not store.fail(claim, exc, duration_ms=duration_ms):
                self.log("lease-lost", task, level=logging.WARNING, owner=claim.owner)
        except Exception as record_exc:
            self.log("record-failed", task, level=logging.ERROR, status="FAILED", **_describe(record_exc))

    def _gave_up_if_last(self, task: Task, exc: BaseException) -> None:
        limit = self.max_receive_count
        if limit and task.receive_count >= limit:
            self.log("gave-up", task, max_receive_count=limit, reason="moves to the dead-letter queue", **_describe(exc))


def _describe(exc: BaseException) -> dict[str, str]:
    return {"error_type": type(exc).__name__, "error": str(exc)[:1000]}


def _message_id(message: Any) -> str | None:
    if isinstance(message, Mapping):
        return message.get("messageId") or message.get("MessageId")
    return None


def _attributes(message: Any) -> Mapping[str, Any]:
    if isinstance(message, Mapping):
        attrs = message.get("attributes") if "attributes" in message else message.get("Attributes")
        if isinstance(attrs, Mapping):
            return attrs
    return {}


def _group_id(message: Any) -> str | None:
    return _attributes(message).get("MessageGroupId")


def _receive_count(message: Any) -> int | None:
    try:
        return int(_attributes(message).get("ApproximateReceiveCount"))
    except (TypeError, ValueError):
        return None


# -- Lambda ----------------------------------------------------------------------------------


class BatchProcessor:
    """Processes one Lambda SQS event with partial batch failure reporting."""

    def __init__(self, runner: TaskRunner, *, fifo: bool, min_remaining_ms: int) -> None:
        self.runner = runner
        self.fifo = fifo
        self.min_remaining_ms = min_remaining_ms
        self.metrics = EmfWriter.from_config(runner.queue.config)  # None when metrics are off

    def process(self, event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
        """Run every record of ``event``; returns ``{"batchItemFailures": [...]}``."""
        records = event.get("Records") if isinstance(event, Mapping) else None
        if not isinstance(records, list):
            raise MalformedMessage("the event has no 'Records' list; batch_handler expects an SQS event")
        ids = [_message_id(record) for record in records]
        if not all(isinstance(i, str) and i for i in ids):
            raise MalformedMessage("an SQS event record has no messageId, so failures could not be reported")

        log = self.runner.log
        failures: list[str] = []
        outcomes: list[Outcome] = []  # for the batch's metrics
        reasons: dict[str, int] = {}
        failed_groups: set[str] = set()
        stop_reason: str | None = None
        longest_ms = 0
        visibility = self.runner.queue.config.visibility_timeout

        def fail(record: Mapping[str, Any], reason: str) -> None:
            failures.append(_message_id(record))
            reasons[reason] = reasons.get(reason, 0) + 1
            group = _group_id(record)
            if self.fifo and group:
                failed_groups.add(group)

        for record in records:
            group = _group_id(record)
            if stop_reason is not None:
                log("released", message_id=_message_id(record), group_id=group, reason=stop_reason)
                fail(record, "not-started")
                continue
            if self.fifo and group in failed_groups:
                log("released", message_id=_message_id(record), group_id=group,
                    reason=f"an earlier task of group {group} failed in this batch")
                fail(record, "group-failed")
                continue
            remaining = _remaining_ms(context)
            if remaining is not None and remaining < self.min_remaining_ms + longest_ms:
                stop_reason = f"only {remaining} ms of Lambda time left; not starting more tasks"
                log("released", message_id=_message_id(record), group_id=group, reason=stop_reason,
                    level=logging.WARNING)
                fail(record, "not-started")
                continue
            parsed = self.runner.parse(record)
            if isinstance(parsed, Outcome):
                outcomes.append(parsed)
                fail(record, parsed.status)
                continue
            lease = remaining / 1000.0 + LAMBDA_LEASE_MARGIN_SECONDS if remaining is not None else visibility
            outcome = self.runner.run(parsed, lease_seconds=lease)
            outcomes.append(outcome)
            if outcome.duration_ms is not None:
                longest_ms = max(longest_ms, outcome.duration_ms)
            if not outcome.ok:
                fail(record, outcome.status)

        if records and len(failures) == len(records):
            log("batch-failed", level=logging.ERROR, records=len(records), reasons=reasons,
                reason=f"all {len(records)} records failed; see the failed/malformed events above")
        else:
            log("batch-done", records=len(records), failed=len(failures), reasons=reasons or None)
        if self.metrics is not None:
            self.metrics.emit_batch(outcomes)  # one EMF document per task type of the batch
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


def _remaining_ms(context: Any) -> int | None:
    getter = getattr(context, "get_remaining_time_in_millis", None)
    if getter is None:
        return None
    try:
        return int(getter())
    except Exception:
        return None


def batch_handler(
    queue: TaskQueue | Handle | None = None,
    *,
    fifo: bool = True,
    idempotency: bool = True,
    table: str | None = None,
    logger: logging.Logger | None = None,
    min_remaining_ms: int = DEFAULT_MIN_REMAINING_MS,
    max_receive_count: int | None = None,
) -> Any:
    """Turn ``def handle(task: Task) -> object`` into a Lambda SQS handler.

    The returned ``handler(event, context)`` runs each record once per task id (idempotency
    in the task table), reports failed records in ``{"batchItemFailures": [...]}``, fails the
    rest of a failed task's message group in the batch (``fifo=True``), and stops starting
    tasks when less than ``min_remaining_ms`` (plus the longest task so far) is left.
    ``queue`` defaults to ``TaskQueue.from_env()``, resolved on the first invocation. Use as
    ``@batch_handler`` or ``@batch_handler(queue, ...)``. The plain function stays available
    as ``handler.handle`` (``sqstask worker`` accepts either).
    """
    if callable(queue) and not hasattr(queue, "send_many"):
        return batch_handler(None, fifo=fifo, idempotency=idempotency, table=table, logger=logger,
                             min_remaining_ms=min_remaining_ms, max_receive_count=max_receive_count)(queue)

    def decorate(func: Handle) -> Callable[[Mapping[str, Any], Any], dict[str, list[dict[str, str]]]]:
        state: dict[str, BatchProcessor] = {}
        lock = threading.Lock()

        def processor() -> BatchProcessor:
            if "processor" not in state:
                with lock:
                    if "processor" not in state:
                        resolved = queue
                        if resolved is None:
                            from .queue import TaskQueue

                            resolved = TaskQueue.from_env()
                        runner = TaskRunner(resolved, func, idempotency=idempotency, table=table, logger=logger,
                                            max_receive_count=max_receive_count)
                        state["processor"] = BatchProcessor(runner, fifo=fifo, min_remaining_ms=min_remaining_ms)
            return state["processor"]

        @functools.wraps(func)
        def lambda_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
            try:
                current = processor()
            except Exception as exc:
                records = event.get("Records") if isinstance(event, Mapping) else None
                AuditLog(logger)("batch-failed", level=logging.ERROR, records=len(records or []),
                                 reason="handler could not start; no record was run", **_describe(exc))
                raise
            return current.process(event, context)

        lambda_handler.handle = func  # type: ignore[attr-defined]
        return lambda_handler

    return decorate
