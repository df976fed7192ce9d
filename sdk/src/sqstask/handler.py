"""Running tasks idempotently, and the Lambda SQS handler built on it (``batch_handler``).

``TaskRunner`` runs one task: claim it in the task table, call the user's function, send the
follow-ups it returned (``Then``), and record COMPLETED or FAILED — logging every state change
as one JSON line. A task whose handler has run ``max_attempts`` times without success, a
malformed message and a task re-sent under another payload are moved to the DLQ by the SDK
itself (``gave-up``), so the healthy tasks queued behind them in their group go on. ``batch_handler`` wraps a plain ``def handle(task)`` into a Lambda SQS handler
that reports partial batch failures; the long-poll ``Worker`` uses the same ``TaskRunner``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from . import audit
from .deadletter import move_to_dlq
from .exceptions import (
    ConfigError,
    InvalidTaskError,
    MalformedMessage,
    PayloadMismatch,
    PayloadTooLarge,
    TaskInProgress,
)
from .metrics import EmfWriter
from .task import TaskSpec, Then

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .batch_idempotency import BatchTaskStore, Finished
    from .idempotency import Claim, TaskStore
    from .leases import LeaseKeeper
    from .queue import SendResult, TaskQueue
    from .task import Task

Handle = Callable[["Task"], Any]

DEFAULT_MIN_REMAINING_MS = 2000
LAMBDA_LEASE_MARGIN_SECONDS = 5.0

SUCCEEDED = "succeeded"
DUPLICATE = "duplicate"
FAILED = "failed"
IN_PROGRESS = "in-progress"
MALFORMED = "malformed"

_COMPLETE_TRIES = 4  # complete() is idempotent: retried with backoff before giving up on the record

# idempotency modes: TaskRunner(idempotency=True | "batch" | False)
LEASE_MODE = "lease"
BATCH_MODE = "batch"
OFF_MODE = "off"


def idempotency_mode(idempotency: bool | str) -> str:
    """``lease`` for True, ``batch`` for "batch", ``off`` for False; ValueError for anything else."""
    if idempotency is True:
        return LEASE_MODE
    if idempotency is False:
        return OFF_MODE
    if idempotency == BATCH_MODE:
        return BATCH_MODE
    raise ValueError(
        f"idempotency must be True (a lease per task), 'batch' (one read and one write per batch, FIFO only) "
        f"or False (off), got {idempotency!r}"
    )


def refuse_batch_mode_unless_fifo(queue: TaskQueue | None, fifo: bool, where: str) -> None:
    """ConfigError when batch mode would run where a message group may be delivered twice at once."""
    if not fifo:
        raise ConfigError(
            f"idempotency='batch' needs fifo=True on {where}: batch mode takes no lease, so it is safe only where "
            "SQS FIFO never hands a message group to two consumers at once; use idempotency=True with fifo=False"
        )
    url = queue.config.queue_url if queue is not None else None
    if url and not url.endswith(".fifo"):
        raise ConfigError(
            f"idempotency='batch' needs a FIFO queue, and {url} is a standard queue (no .fifo suffix): a standard "
            "queue may deliver one task to two consumers at once; use idempotency=True there"
        )


@dataclass
class Outcome:
    """What happened to one task.

    ``status`` is succeeded, duplicate, failed, in-progress or malformed. ``dead_lettered``: the
    SDK copied the message to the DLQ (a failed last attempt, a malformed message), so the
    original is deleted like a success.
    """

    status: str
    task: Task | None = None
    error: BaseException | None = None
    reason: str | None = None
    duration_ms: int | None = None
    retry_after: float | None = None  # in-progress: seconds until the other consumer's lease ends
    chained: list[SendResult] = field(default_factory=list)
    result: Any = None
    claim: Claim | None = field(default=None, repr=False)
    dead_lettered: bool = False
    finished_at: float = field(default_factory=time.time)  # epoch seconds: outcomes are made as tasks end

    @property
    def ok(self) -> bool:
        """True when the message can be deleted (the task succeeded now or earlier, or is in the DLQ)."""
        return self.status in (SUCCEEDED, DUPLICATE) or self.dead_lettered

    @property
    def attempts(self) -> int | None:
        """Handler runs of this task counted against ``max_attempts`` (None without a claim)."""
        return self.claim.attempts_used if self.claim is not None and self.claim.acquired else None


class AuditLog:
    """Writes the audit events of task runs, to the ``sqstask`` logger or a given one."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger

    def __call__(self, event: str, task: Task | None = None, *, level: int | None = None, **fields: Any) -> None:
        if level is None:
            level = audit.event_level(event)
        # Several events per task: when the line would be dropped, do not build it.
        if (self.logger or audit.logger).isEnabledFor(level):
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
        return int(json.loads(response["Attributes"]["RedrivePolicy"])["maxReceiveCount"]) or None
    except Exception:  # no permission, no policy: "gave-up" is then not logged
        return None


class TaskRunner:
    """Runs tasks through ``handle`` exactly once per task id (when ``idempotency`` is on).

    ``table`` defaults to the queue's idempotency table; ``max_attempts`` (handler runs per
    task id before the SDK moves the task to the DLQ) to the queue's configuration.
    ``max_receive_count`` (the queue's backstop, for the log) defaults to its redrive policy,
    read once when first needed.
    """

    def __init__(
        self,
        queue: TaskQueue,
        handle: Handle,
        *,
        idempotency: bool | str = True,
        table: str | None = None,
        logger: logging.Logger | None = None,
        max_receive_count: int | None = None,
        store: TaskStore | None = None,
        max_attempts: int | None = None,
        batch_store: BatchTaskStore | None = None,
    ) -> None:
        self.queue = queue
        self.handle = handle
        self.mode = idempotency_mode(idempotency)
        self._batch_store = batch_store
        self.log = AuditLog(logger)
        self.max_attempts = int(max_attempts if max_attempts is not None else queue.config.max_attempts)
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        # Checked here: the task table's client sends requests without client-side validation (clients.py).
        if table is not None and (not isinstance(table, str) or not table):
            raise ConfigError(f"table must be the task table's name, a non-empty string, got {table!r}")
        self._table = table
        self._store = store
        self._max_receive_count = max_receive_count
        self._max_receive_known = max_receive_count is not None
        self._lock = threading.Lock()
        if self.mode != OFF_MODE and store is None and batch_store is None and not (
                table or queue.config.idempotency_table):
            raise ConfigError(
                "idempotency needs a task table: set SQSTASK_IDEMPOTENCY_TABLE (or idempotency_table "
                "in SQSTASK_CONFIG), pass table=..., or pass idempotency=False to run without it"
            )

    @property
    def store(self) -> TaskStore | None:
        """The task table for lease mode (created on first use), or None in the other modes."""
        if self.mode != LEASE_MODE:
            return None
        if self._store is None:
            from .idempotency import TaskStore

            with self._lock:
                if self._store is None:
                    self._store = TaskStore(self.queue.dynamodb, self._table or self.queue.config.idempotency_table)
        return self._store

    @property
    def batch_store(self) -> BatchTaskStore | None:
        """The task table for batch mode (created on first use), or None in the other modes."""
        if self.mode != BATCH_MODE:
            return None
        if self._batch_store is None:
            from .batch_idempotency import BatchTaskStore

            with self._lock:
                if self._batch_store is None:
                    self._batch_store = BatchTaskStore(self.queue.dynamodb,
                                                       self._table or self.queue.config.idempotency_table)
        return self._batch_store

    @property
    def max_receive_count(self) -> int | None:
        """Receives after which SQS moves a message to the DLQ (the backstop; None when unknown)."""
        if not self._max_receive_known:
            with self._lock:
                if not self._max_receive_known:
                    self._max_receive_count = _max_receive_count_of(self.queue)
                    self._max_receive_known = True
        return self._max_receive_count

    def parse(self, message_or_record: Mapping[str, Any]) -> Task | Outcome:
        """The Task in an SQS message or Lambda record, or an Outcome (logged) when there is none.

        A malformed message can never succeed: it is moved to the DLQ at once (dead-lettered),
        or reported malformed when that move fails. A message that cannot be read now (e.g.
        S3 unavailable) fails and is retried.
        """
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
            moved = self._move_to_dlq(message_or_record, None, f"malformed: {exc.reason}", message_id=message_id)
            return Outcome(MALFORMED, error=exc, reason=exc.reason, dead_lettered=moved)
        except Exception as exc:  # e.g. S3 unavailable while resolving a pointer: retry later
            reason = f"could not read the message: {type(exc).__name__}: {exc}"
            self.log("failed", message_id=_message_id(message_or_record), reason=reason, **_describe(exc))
            return Outcome(FAILED, error=exc, reason=reason)

    def run(
        self,
        task: Task,
        *,
        lease_seconds: float,
        on_claim: Callable[[Claim], None] | None = None,
        leases: LeaseKeeper | None = None,
    ) -> Outcome:
        """Claim, run, chain and record one task; never raises for a task's own failure.

        ``leases`` renews the claim while the handler runs (a Worker's long tasks); it stops
        before the outcome is recorded.
        """
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
                # Another payload under a task id that is already taken can never run: the DLQ
                # is where an operator can look at it (the record stays the first payload's).
                self.log("failed", task, level=logging.ERROR, reason="payload-mismatch", **_describe(exc))
                moved = self._move_to_dlq(task.raw or {}, task, f"PayloadMismatch: {exc}")
                return Outcome(FAILED, task, error=exc, reason=str(exc), dead_lettered=moved)
            except Exception as exc:
                reason = f"task table unavailable: {type(exc).__name__}: {exc}"
                self.log("failed", task, reason=reason, **_describe(exc))
                return Outcome(FAILED, task, error=exc, reason=reason)
            if not claim.acquired:
                return self._not_acquired(task, claim)
            if claim.attempts_used > self.max_attempts:
                # The budget ran out in an earlier delivery that could not finish giving up
                # (e.g. the DLQ copy failed): give up now without running the handler again.
                error = RuntimeError(str(claim.record.get("error") or "attempts exhausted"))
                return self._give_up(task, claim, error, None, ran=False)
            if on_claim is not None:
                on_claim(claim)

        self.log("started", task, claim_attempt=claim.attempt if claim else None)
        if leases is not None and claim is not None:
            leases.add(claim)
        started = time.monotonic()
        try:
            try:
                result = self.handle(task)
            finally:
                if leases is not None and claim is not None:
                    leases.remove(claim)
        except Exception as exc:
            duration_ms = int((time.monotonic() - started) * 1000)
            return self._handler_failed(task, claim, exc, duration_ms, "handler raised")

        duration_ms = int((time.monotonic() - started) * 1000)
        chained: list[SendResult] = []
        unsent: list[TaskSpec] = []
        send_error: Exception | None = None
        specs: list[TaskSpec] | None = None
        try:
            specs = follow_ups(task, result)
            if specs:
                chained = list(self.queue.send_many(specs, raise_on_failure=True).sent)
        except (InvalidTaskError, PayloadTooLarge) as exc:  # an invalid Then(...) is the handler's bug
            return self._handler_failed(task, claim, exc, duration_ms, "invalid follow-up tasks")
        except Exception as exc:  # the work is done: record it, keep the follow-ups to send later
            send_error = exc
            chained = list(getattr(exc, "sent", ()))  # a SendError lists what was sent
            sent_ids = {sent.task_id for sent in chained}
            unsent = [spec for spec in specs or () if spec.task_id not in sent_ids]
        for sent in chained:
            self.log("chained", task, next_task_id=sent.task_id, next_message_id=sent.message_id)
        stored = {"then": [spec.task_id for spec in specs]} if specs else result
        if claim is not None:
            pending = [_spec_fields(spec) for spec in unsent] or None
            self._complete(store, claim, task, stored, duration_ms, pending)
        if send_error is not None:
            # Completed, not failed: a redelivery sends only the pending follow-ups.
            self.log("follow-ups-pending", task, level=logging.WARNING, pending=len(unsent),
                     reason="the task completed; its follow-up tasks are sent on the next delivery",
                     **_describe(send_error))
            return Outcome(FAILED, task, error=send_error, reason="follow-up tasks could not be sent",
                           duration_ms=duration_ms, chained=chained, result=result, claim=claim)
        self.log("succeeded", task, duration_ms=duration_ms)
        return Outcome(SUCCEEDED, task, duration_ms=duration_ms, chained=chained, result=result, claim=claim)

    def _handler_failed(self, task: Task, claim: Claim | None, exc: Exception, duration_ms: int, reason: str) -> Outcome:
        """Record a failed run: FAILED for a retry, or dead-lettered when it was the last attempt."""
        self.log("failed", task, duration_ms=duration_ms, reason=reason, **_describe(exc))
        if claim is not None and claim.attempts_used >= self.max_attempts:
            return self._give_up(task, claim, exc, duration_ms)
        if claim is not None:
            self._record_failure(self.store, claim, task, exc, duration_ms)
        self._gave_up_if_last(task, exc)
        return Outcome(FAILED, task, error=exc, reason=f"{type(exc).__name__}: {exc}", duration_ms=duration_ms,
                       claim=claim)

    def _not_acquired(self, task: Task, claim: Claim) -> Outcome:
        """A delivery of a task that completed, or that was dead-lettered by this very message."""
        if claim.status == "DEAD_LETTERED":
            # The copy to the DLQ may not have happened (the process stopped in between):
            # copy again (SQS absorbs a second copy) and let the caller delete this message.
            reason = f"{claim.record.get('error_type') or 'Error'}: {claim.record.get('error') or ''}".rstrip(": ")
            if self._move_to_dlq(task.raw or {}, task, reason, attempts=int(claim.record.get("attempt") or 0)):
                return Outcome(DUPLICATE, task, reason=reason, claim=claim, dead_lettered=True)
            return Outcome(FAILED, task, reason="dead-lettered, but the copy to the DLQ failed", claim=claim)
        pending = claim.pending_follow_ups
        if pending:
            return self._send_pending(task, claim, pending)
        self.log("skipped-duplicate", task, status=claim.record.get("status"),
                 finished_at=claim.record.get("finished_at"))
        return Outcome(DUPLICATE, task, claim=claim)

    def _send_pending(self, task: Task, claim: Claim, pending: list[dict[str, Any]]) -> Outcome:
        """Send the follow-ups a completed task could not send before (same ids: SQS de-duplicates)."""
        specs = [TaskSpec.coerce(fields) for fields in pending]
        try:
            chained = list(self.queue.send_many(specs, raise_on_failure=True).sent)
            self.store.follow_ups_sent(task.task_id)
        except Exception as exc:
            self.log("follow-ups-pending", task, level=logging.WARNING, pending=len(specs),
                     reason="still could not send the follow-up tasks; retried on the next delivery", **_describe(exc))
            return Outcome(FAILED, task, error=exc, reason="follow-up tasks could not be sent", claim=claim)
        for sent in chained:
            self.log("chained", task, next_task_id=sent.task_id, next_message_id=sent.message_id)
        self.log("skipped-duplicate", task, status=claim.record.get("status"),
                 finished_at=claim.record.get("finished_at"), follow_ups_sent=len(chained))
        return Outcome(DUPLICATE, task, chained=chained, claim=claim)

    def _complete(self, store: TaskStore, claim: Claim, task: Task, stored: Any, duration_ms: int,
                  pending: list[dict[str, Any]] | None) -> None:
        """Record COMPLETED, retrying with backoff (the write is idempotent)."""
        for attempt in range(1, _COMPLETE_TRIES + 1):
            try:
                store.complete(claim, result=stored, duration_ms=duration_ms, pending=pending)
                return
            except Exception as exc:
                if attempt == _COMPLETE_TRIES:
                    # The work is done: do not run it again, but say so loudly.
                    self.log("record-failed", task, level=logging.ERROR, status="COMPLETED", tries=attempt,
                             **_describe(exc))
                    return
                ceiling = min(self.queue.retry_cap, self.queue.retry_base * 2 ** (attempt - 1))
                self.queue.sleep(ceiling / 2 + random.uniform(0, ceiling / 2))

    def _give_up(self, task: Task, claim: Claim, exc: Exception, duration_ms: int | None, *,
                 ran: bool = True) -> Outcome:
        """The task used its attempts: record DEAD_LETTERED, then copy the message to the DLQ.

        ``ran``: the handler ran in this delivery (False when an earlier delivery's run was the
        last, and that delivery could not finish giving up); the copy says how many runs failed.
        """
        store = self.store
        try:
            if not store.give_up(claim, exc, duration_ms=duration_ms):
                self.log("lease-lost", task, level=logging.WARNING, owner=claim.owner)
                return Outcome(FAILED, task, error=exc, reason="lease lost before giving up", duration_ms=duration_ms,
                               claim=claim)
        except Exception as record_exc:
            self.log("record-failed", task, level=logging.ERROR, status="DEAD_LETTERED", **_describe(record_exc))
            return Outcome(FAILED, task, error=record_exc, reason=f"{type(exc).__name__}: {exc}",
                           duration_ms=duration_ms, claim=claim)
        reason = f"{type(exc).__name__}: {exc}"
        moved = self._move_to_dlq(task.raw or {}, task, reason, attempts=claim.attempts_used - (0 if ran else 1))
        return Outcome(FAILED, task, error=exc, reason=reason, duration_ms=duration_ms, claim=claim,
                       dead_lettered=moved)

    def _move_to_dlq(self, raw: Mapping[str, Any], task: Task | None, reason: str, *,
                     message_id: str | None = None, attempts: int | None = None) -> bool:
        """Copy a message to the DLQ and log ``gave-up``; False (logged) when the copy failed."""
        message_id = message_id or (task.message_id if task else _message_id(raw)) or ""
        try:
            dlq_message_id = move_to_dlq(
                self.queue, raw, message_id=message_id, reason=reason,
                task_id=task.task_id if task else None, task_type=task.task_type if task else None,
                attempts=attempts,
            )
        except Exception as exc:
            self.log("dead-letter-failed", task, level=logging.ERROR, message_id=message_id,
                     reason="could not copy the message to the DLQ; it is retried", **_describe(exc))
            return False
        self.log("gave-up", task, level=logging.WARNING, message_id=message_id, attempts=attempts,
                 max_attempts=self.max_attempts, dlq_message_id=dlq_message_id, error=reason[:1000],
                 reason="moved to the dead-letter queue")
        return True

    def _record_failure(self, store: TaskStore | None, claim: Claim, task: Task, exc: Exception, duration_ms: int) -> None:
        try:
            if not store.fail(claim, exc, duration_ms=duration_ms):
                self.log("lease-lost", task, level=logging.WARNING, owner=claim.owner)
        except Exception as record_exc:
            self.log("record-failed", task, level=logging.ERROR, status="FAILED", **_describe(record_exc))

    def _gave_up_if_last(self, task: Task, exc: BaseException) -> None:
        """Without a task table the queue's maxReceiveCount decides: say when this was the last receive."""
        if self.store is not None:
            return
        limit = self.max_receive_count
        if limit and task.receive_count >= limit:
            self.log("gave-up", task, max_receive_count=limit,
                     reason="the queue's maxReceiveCount moves it to the dead-letter queue", **_describe(exc))


    # -- batch mode -------------------------------------------------------------------------

    def run_known(self, task: Task, prior: Mapping[str, Any] | None) -> tuple[Outcome, Finished | None]:
        """Batch mode: run ``task`` unless ``prior`` (its record, read with its batch) says it completed.

        Writes nothing to the task table: returns the Outcome and, when there is something to
        record, the Finished entry the caller writes with the rest of the batch
        (``BatchTaskStore.record``). Attempts count as in lease mode: the last failed attempt
        copies the message to the DLQ; a redriven copy (another message id) gets a fresh budget;
        a completed task whose follow-ups could not be sent only sends those again.
        """
        from .batch_idempotency import Finished, is_completed, payload_mismatch

        self.log("received", task)
        mismatch = payload_mismatch(task, prior)
        if mismatch is not None:
            self.log("failed", task, level=logging.ERROR, reason="payload-mismatch", **_describe(mismatch))
            moved = self._move_to_dlq(task.raw or {}, task, f"PayloadMismatch: {mismatch}")
            return Outcome(FAILED, task, error=mismatch, reason=str(mismatch), dead_lettered=moved), None
        prior_status = (prior or {}).get("status")
        same_message = bool(prior) and (prior or {}).get("message_id") == task.message_id
        if prior_status == "DEAD_LETTERED" and same_message:
            # The copy to the DLQ may not have happened (stopped in between): copy again.
            reason = f"{prior.get('error_type') or 'Error'}: {prior.get('error') or ''}".rstrip(": ")
            moved = self._move_to_dlq(task.raw or {}, task, reason, attempts=int(prior.get("attempt") or 0))
            return Outcome(DUPLICATE if moved else FAILED, task, reason=reason, dead_lettered=moved), None
        if is_completed(prior):
            pending = json.loads(prior.get("follow_ups_pending") or "null")
            if pending:
                return self._send_pending_batch(task, prior, pending)
            self.log("skipped-duplicate", task, status=prior_status, finished_at=prior.get("finished_at"))
            return Outcome(DUPLICATE, task), None
        used = 0 if prior_status == "DEAD_LETTERED" else int((prior or {}).get("attempt") or 0)
        attempt = used + 1
        self.log("started", task, claim_attempt=attempt)
        started = time.monotonic()
        try:
            result = self.handle(task)
        except Exception as exc:
            return self._batch_failed(task, prior, attempt, exc, int((time.monotonic() - started) * 1000))
        duration_ms = int((time.monotonic() - started) * 1000)
        specs: list[TaskSpec] | None = None
        chained: list[SendResult] = []
        unsent: list[TaskSpec] = []
        send_error: Exception | None = None
        try:
            specs = follow_ups(task, result)
            if specs:
                chained = list(self.queue.send_many(specs, raise_on_failure=True).sent)
        except (InvalidTaskError, PayloadTooLarge) as exc:  # an invalid Then(...) is the handler's bug
            return self._batch_failed(task, prior, attempt, exc, duration_ms)
        except Exception as exc:  # the work is done: record it, keep the follow-ups to send later
            send_error = exc
            chained = list(getattr(exc, "sent", ()))  # a SendError lists what was sent
            sent_ids = {sent.task_id for sent in chained}
            unsent = [spec for spec in specs or () if spec.task_id not in sent_ids]
        for sent in chained:
            self.log("chained", task, next_task_id=sent.task_id, next_message_id=sent.message_id)
        stored = {"then": [spec.task_id for spec in specs]} if specs else result
        finished = Finished(task, duration_ms, time.time(), result=stored, prior=prior, attempt=attempt,
                            pending=[_spec_fields(spec) for spec in unsent] or None)
        if send_error is not None:
            self.log("follow-ups-pending", task, level=logging.WARNING, pending=len(unsent),
                     reason="the task completed; its follow-up tasks are sent on the next delivery",
                     **_describe(send_error))
            return Outcome(FAILED, task, error=send_error, reason="follow-up tasks could not be sent",
                           duration_ms=duration_ms, chained=chained, result=result), finished
        self.log("succeeded", task, duration_ms=duration_ms)
        return Outcome(SUCCEEDED, task, duration_ms=duration_ms, chained=chained, result=result), finished

    def _batch_failed(self, task: Task, prior: Mapping[str, Any] | None, attempt: int, exc: Exception,
                      duration_ms: int) -> tuple[Outcome, Finished]:
        """Batch mode: a failed run is recorded FAILED, or dead-lettered when it was the last attempt."""
        from .batch_idempotency import Finished

        self.log("failed", task, duration_ms=duration_ms, reason="handler raised", **_describe(exc))
        moved = False
        if attempt >= self.max_attempts:
            moved = self._move_to_dlq(task.raw or {}, task, f"{type(exc).__name__}: {exc}", attempts=attempt)
        outcome = Outcome(FAILED, task, error=exc, reason=f"{type(exc).__name__}: {exc}", duration_ms=duration_ms,
                          dead_lettered=moved)
        return outcome, Finished(task, duration_ms, time.time(), error=exc, prior=prior, attempt=attempt,
                                 dead_lettered=moved)

    def _send_pending_batch(self, task: Task, prior: Mapping[str, Any],
                            pending: list[dict[str, Any]]) -> tuple[Outcome, Finished | None]:
        """Batch mode: send the follow-ups a completed task could not send before (same ids)."""
        from .batch_idempotency import Finished

        specs = [TaskSpec.coerce(fields) for fields in pending]
        try:
            chained = list(self.queue.send_many(specs, raise_on_failure=True).sent)
        except Exception as exc:
            self.log("follow-ups-pending", task, level=logging.WARNING, pending=len(specs),
                     reason="still could not send the follow-up tasks; retried on the next delivery", **_describe(exc))
            return Outcome(FAILED, task, error=exc, reason="follow-up tasks could not be sent"), None
        for sent in chained:
            self.log("chained", task, next_task_id=sent.task_id, next_message_id=sent.message_id)
        self.log("skipped-duplicate", task, status=prior.get("status"), finished_at=prior.get("finished_at"),
                 follow_ups_sent=len(chained))
        # Rewrite the record without the pending follow-ups (the rest as it was).
        done = Finished(task, _int_or_none(prior.get("duration_ms")), time.time(), result=_stored_result(prior),
                        prior=prior, attempt=int(prior.get("attempt") or 1))
        return Outcome(DUPLICATE, task, chained=chained), done

    def record_batch(self, finished: list[Finished]) -> list[Finished]:
        """Write the records of a batch's finished tasks; returns (and logs) those not written."""
        if not finished:
            return []
        error: Exception | None = None
        try:
            unwritten = self.batch_store.record(finished)
        except Exception as exc:  # record() fails unwritable chunks itself; anything raised writes nothing
            unwritten, error = list(finished), exc
        for entry in unwritten:
            self.log("record-failed", entry.task, level=logging.ERROR,
                     status="COMPLETED" if entry.succeeded else "FAILED",
                     reason="counted as failed so SQS delivers it again" if entry.succeeded else None,
                     **(_describe(error) if error is not None
                        else {"error": "the task table left the record unprocessed after retries"}))
        return unwritten


def _spec_fields(spec: TaskSpec) -> dict[str, Any]:
    return {"task_type": spec.task_type, "payload": spec.payload, "group_id": spec.group_id, "task_id": spec.task_id}


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def _stored_result(record: Mapping[str, Any]) -> Any:
    """A record's stored result as the handler returned it (its text when it is not JSON)."""
    text = record.get("result")
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


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

        batch = _BatchPass(self.runner, records) if self.runner.mode == BATCH_MODE else None
        for index, record in enumerate(records):
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
            parsed = batch.parsed[index] if batch is not None else self.runner.parse(record)
            if isinstance(parsed, Outcome):
                outcomes.append(parsed)
                if not parsed.ok:  # a malformed message the SDK moved to the DLQ is deleted, not retried
                    fail(record, parsed.status)
                continue
            if batch is not None:
                outcome = batch.run(parsed)
            else:
                lease = remaining / 1000.0 + LAMBDA_LEASE_MARGIN_SECONDS if remaining is not None else visibility
                outcome = self.runner.run(parsed, lease_seconds=lease)
            outcomes.append(outcome)
            if outcome.duration_ms is not None:
                longest_ms = max(longest_ms, outcome.duration_ms)
            if not outcome.ok:
                fail(record, outcome.status)

        if batch is not None:
            # A success whose record could not be written is reported failed, so SQS delivers it
            # again; and so are the later records of its group, to keep the group's order.
            unwritten = batch.record()
            outcomes = [replace(o, status=FAILED, reason="its record could not be written")
                        if o.status == SUCCEEDED and o.task is not None and o.task.task_id in unwritten else o
                        for o in outcomes]
            failed_ids = set(failures)
            broken: set[str | None] = set()  # groups with a failed record so far, in batch order
            for index, record in enumerate(records):
                parsed, group = batch.parsed[index], _group_id(record)
                if _message_id(record) not in failed_ids and (
                        (self.fifo and group in broken)
                        or (not isinstance(parsed, Outcome) and parsed.task_id in unwritten)):
                    fail(record, "record-failed")
                    failed_ids.add(_message_id(record))
                if _message_id(record) in failed_ids and self.fifo and group:
                    broken.add(group)

        if records and len(failures) == len(records):
            log("batch-failed", level=logging.ERROR, records=len(records), reasons=reasons,
                reason=f"all {len(records)} records failed; see the failed/malformed events above")
        else:
            log("batch-done", records=len(records), failed=len(failures), reasons=reasons or None)
        if self.metrics is not None:
            self.metrics.emit_batch(outcomes)  # one EMF document per task type of the batch
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


class _BatchPass:
    """One Lambda batch in batch mode: its records parsed up front, the stored records of their
    tasks read with one BatchGetItem, and the records of the tasks that ran written at the end."""

    def __init__(self, runner: TaskRunner, records: list[Mapping[str, Any]]) -> None:
        self.runner = runner
        self.parsed: list[Task | Outcome] = [runner.parse(record) for record in records]
        self.priors: dict[str, Mapping[str, Any]] = {}
        self.finished: list[Finished] = []
        self.lookup_failure: Outcome | None = None
        task_ids = [p.task_id for p in self.parsed if not isinstance(p, Outcome)]
        if task_ids:
            try:
                self.priors = runner.batch_store.lookup(task_ids)
            except Exception as exc:
                reason = f"task table unavailable: {type(exc).__name__}: {exc}"
                self.lookup_failure = Outcome(FAILED, error=exc, reason=reason)

    def run(self, task: Task) -> Outcome:
        """Run ``task`` against its looked-up record (a repeat of a task id in the batch sees the first run)."""
        if self.lookup_failure is not None:
            self.runner.log("failed", task, reason=self.lookup_failure.reason, **_describe(self.lookup_failure.error))
            return replace(self.lookup_failure, task=task)
        outcome, finished = self.runner.run_known(task, self.priors.get(task.task_id))
        if finished is not None:
            self.finished.append(finished)
            from .batch_idempotency import as_prior

            self.priors[task.task_id] = as_prior(finished)
        return outcome

    def record(self) -> set[str]:
        """Write the records of the tasks that ran; the task ids whose succeeded run was not recorded."""
        return {entry.task.task_id for entry in self.runner.record_batch(self.finished) if entry.succeeded}


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
    idempotency: bool | str = True,
    table: str | None = None,
    logger: logging.Logger | None = None,
    min_remaining_ms: int = DEFAULT_MIN_REMAINING_MS,
    max_receive_count: int | None = None,
    max_attempts: int | None = None,
) -> Any:
    """Turn ``def handle(task: Task) -> object`` into a Lambda SQS handler.

    The returned ``handler(event, context)`` runs each record once per task id (idempotency
    in the task table), reports failed records in ``{"batchItemFailures": [...]}``, fails the
    rest of a failed task's message group in the batch (``fifo=True``), and stops starting
    tasks when less than ``min_remaining_ms`` (plus the longest task so far) is left. A task
    whose handler has failed ``max_attempts`` times (default: the queue's ``max_attempts``) is
    moved to the DLQ by the SDK and the rest of its group goes on.
    ``queue`` defaults to ``TaskQueue.from_env()``, resolved on the first invocation. Use as
    ``@batch_handler`` or ``@batch_handler(queue, ...)``. The plain function stays available
    as ``handler.handle`` (``sqstask worker`` accepts either).

    ``idempotency``: True (default, lease mode: a conditional claim and a completion write per
    task), ``"batch"`` (FIFO only: one BatchGetItem and one BatchWriteItem per batch; see
    ``sqstask.batch_idempotency`` for why it is safe there) or False (off).
    """
    if idempotency_mode(idempotency) == BATCH_MODE:
        refuse_batch_mode_unless_fifo(None, fifo, "batch_handler")
    if callable(queue) and not hasattr(queue, "send_many"):
        return batch_handler(None, fifo=fifo, idempotency=idempotency, table=table, logger=logger,
                             min_remaining_ms=min_remaining_ms, max_receive_count=max_receive_count,
                             max_attempts=max_attempts)(queue)

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
                        if idempotency_mode(idempotency) == BATCH_MODE:
                            refuse_batch_mode_unless_fifo(resolved, fifo, "batch_handler")
                        runner = TaskRunner(resolved, func, idempotency=idempotency, table=table, logger=logger,
                                            max_receive_count=max_receive_count, max_attempts=max_attempts)
                        state["processor"] = BatchProcessor(runner, fifo=fifo, min_remaining_ms=min_remaining_ms)
            return state["processor"]

        @functools.wraps(func)
        def lambda_handler(event: Mapping[str, Any], context: Any = None) -> dict[str, list[dict[str, str]]]:
            try:
                current = processor()
            except Exception as exc:
                log = AuditLog(logger)
                log("batch-failed", level=logging.ERROR,
                    records=len(event.get("Records") or []) if isinstance(event, Mapping) else 0,
                    reason="handler could not start; no record was run", **_describe(exc))
                raise
            return current.process(event, context)

        lambda_handler.handle = func  # type: ignore[attr-defined]
        return lambda_handler

    return decorate
