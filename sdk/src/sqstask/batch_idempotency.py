"""Batch-mode idempotency (``idempotency="batch"``): one read and one write per batch of tasks.

Lease mode (``idempotency=True``, see ``idempotency.py``) claims every task with a conditional
write before it runs and completes it with another: two writes per task, and two sequential
round trips per task in Lambda. Batch mode instead reads the records of a whole batch with one
strongly consistent BatchGetItem, skips the task ids already COMPLETED, runs the rest, and
writes their COMPLETED or FAILED records with one BatchWriteItem per 25 tasks.

Why it is safe, and only where it is allowed: with no lease, nothing stops two consumers from
running the same task at the same time, so batch mode relies on SQS FIFO never doing that. A
FIFO queue hands out a message group's messages in order and holds the group back while any of
its messages is in flight (received, neither deleted nor visible again). Every delivery of a
task id is a message of the same group (its producer picks the group; deduplication ids derive
from the task id), so while one consumer holds a task, no other consumer can receive it or any
later task of its group. The message stays in flight while it runs, because

- in Lambda, the queue's visibility timeout is at least 6 x the function timeout (the module
  validates it): the batch, its records included, ends before the message can reappear;
- in a ``Worker``, the heartbeat keeps every held message invisible until it is deleted or let
  go (for at most 12 hours, SQS's limit).

So batch mode is refused on a standard queue (``fifo=False``: no such guarantee) and on a Worker
without its heartbeat. There is no IN_PROGRESS state in the table: a task's record appears when
its batch is written, COMPLETED or FAILED. A record that cannot be written (after retries of
the unprocessed items) makes its task count as failed, so SQS delivers it again: the task may
then run twice, but is never lost.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .audit import log_event
from .idempotency import (
    _RESULT_JSON,
    COMPLETED,
    DEAD_LETTERED,
    DEFAULT_TTL_SECONDS,
    FAILED,
    MAX_ERROR_CHARS,
    _cap,
    _from_dynamodb,
    _iso,
    encode_result,
    payload_mismatch,
)

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .task import Task

BATCH_GET_LIMIT = 100  # keys per BatchGetItem
BATCH_WRITE_LIMIT = 25  # put requests per BatchWriteItem
DEFAULT_WRITE_ATTEMPTS = 5  # calls per chunk before its unprocessed items count as not written
_FIRST_RETRY_SECONDS = 0.05  # then doubling: 0.05 + 0.1 + 0.2 + 0.4 s at most between attempts

# What the lookup needs of a stored record: whether it completed, under which payload, and what
# a new record must carry over (the attempt count, when the task was first received).
_PROJECTION = ("task_id, #status, payload_hash, attempt, first_received_at, finished_at, message_id, "
               "follow_ups_pending, error_type, #error, #result, duration_ms")
_PROJECTION_NAMES = {"#status": "status", "#error": "error", "#result": "result"}


@dataclass(frozen=True)
class Finished:
    """A task that ran in a batch, and what to record of it.

    ``error`` None means it succeeded with ``result``; ``prior`` is the record the lookup found
    (None for a new task).
    """

    task: Task
    duration_ms: int | None
    finished_at: float
    result: Any = None
    error: BaseException | None = None
    prior: Mapping[str, Any] | None = None
    attempt: int | None = None  # handler runs counted against max_attempts (None: the prior count + 1)
    dead_lettered: bool = False  # the last attempt failed and the message was copied to the DLQ
    pending: list[dict[str, Any]] | None = None  # follow-up tasks of a completed task still to send

    @property
    def succeeded(self) -> bool:
        return self.error is None




def as_prior(entry: Finished) -> dict[str, Any]:
    """The record ``entry`` will write, as a lookup would return it (for a repeat of its task id)."""
    prior = entry.prior or {}
    return {
        "task_id": entry.task.task_id,
        "status": _status_of(entry),
        "payload_hash": entry.task.payload_hash,
        "attempt": entry.attempt if entry.attempt is not None else int(prior.get("attempt") or 0) + 1,
        "first_received_at": prior.get("first_received_at")
        or _iso(entry.finished_at - (entry.duration_ms or 0) / 1000.0),
        "finished_at": _iso(entry.finished_at),
        "message_id": entry.task.message_id,
        "follow_ups_pending": _RESULT_JSON.encode(entry.pending) if entry.pending else None,
    }


def _status_of(entry: Finished) -> str:
    return DEAD_LETTERED if entry.dead_lettered else COMPLETED if entry.succeeded else FAILED


def is_completed(prior: Mapping[str, Any] | None) -> bool:
    """True when the looked-up record says the task already completed."""
    return bool(prior) and prior.get("status") == COMPLETED


class BatchTaskStore:
    """Reads and writes the task records of whole batches in the team's table (key ``task_id``)."""

    def __init__(
        self,
        dynamodb_client: Any,
        table: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        write_attempts: int = DEFAULT_WRITE_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if write_attempts < 1:
            raise ValueError(f"write_attempts must be at least 1, got {write_attempts}")
        self.client = dynamodb_client
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.write_attempts = write_attempts
        self._sleep = sleep

    def lookup(self, task_ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """The stored records of ``task_ids`` that exist, by task id (strongly consistent reads).

        One BatchGetItem per 100 distinct ids; unprocessed keys are asked again with backoff.
        Raises when the table cannot answer for every id (the caller then runs nothing).
        """
        unique = list(dict.fromkeys(task_ids))
        found: dict[str, dict[str, Any]] = {}
        for start in range(0, len(unique), BATCH_GET_LIMIT):
            request: dict[str, Any] = {
                self.table: {
                    "Keys": [{"task_id": {"S": task_id}} for task_id in unique[start:start + BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                    "ProjectionExpression": _PROJECTION,
                    "ExpressionAttributeNames": _PROJECTION_NAMES,
                }
            }
            for attempt in range(self.write_attempts):
                response = self.client.batch_get_item(RequestItems=request)
                for item in response.get("Responses", {}).get(self.table, []):
                    record = _from_dynamodb(item)
                    found[record["task_id"]] = record
                request = response.get("UnprocessedKeys") or {}
                if not request:
                    break
                if attempt + 1 < self.write_attempts:
                    self._sleep(_FIRST_RETRY_SECONDS * 2**attempt)
            else:
                missing = len(request.get(self.table, {}).get("Keys", []))
                raise RuntimeError(
                    f"the task table left {missing} of the batch's records unread after {self.write_attempts} "
                    "attempts (throttled); the batch is retried later"
                )
        return found

    def record(self, finished: Sequence[Finished]) -> list[Finished]:
        """Write a COMPLETED or FAILED record for each of ``finished``; returns those not written.

        One BatchWriteItem per 25 records; unprocessed items are retried with backoff, up to
        ``write_attempts`` calls. A chunk whose call raises is not written at all. When one
        task id appears twice, its last run is recorded.
        """
        latest: dict[str, Finished] = {}
        for entry in finished:
            latest.pop(entry.task.task_id, None)  # keep the last one, in its order
            latest[entry.task.task_id] = entry
        entries = list(latest.values())
        unwritten: list[Finished] = []
        for start in range(0, len(entries), BATCH_WRITE_LIMIT):
            chunk = {entry.task.task_id: entry for entry in entries[start:start + BATCH_WRITE_LIMIT]}
            requests = [{"PutRequest": {"Item": self._item(entry)}} for entry in chunk.values()]
            try:
                left = self._write(requests)
            except Exception:
                unwritten.extend(chunk.values())
                continue
            unwritten.extend(chunk[request["PutRequest"]["Item"]["task_id"]["S"]] for request in left)
        return unwritten

    def _write(self, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """BatchWriteItem ``requests`` with retries of the unprocessed; returns the requests left."""
        for attempt in range(self.write_attempts):
            response = self.client.batch_write_item(RequestItems={self.table: requests})
            requests = (response.get("UnprocessedItems") or {}).get(self.table, [])
            if not requests:
                return []
            if attempt + 1 < self.write_attempts:
                self._sleep(_FIRST_RETRY_SECONDS * 2**attempt)
        return requests

    def _item(self, entry: Finished) -> dict[str, Any]:
        """The whole record of one finished task, in DynamoDB's wire format."""
        task, prior = entry.task, entry.prior or {}
        finished_iso = _iso(entry.finished_at)
        started = entry.finished_at - (entry.duration_ms or 0) / 1000.0
        item: dict[str, Any] = {
            "task_id": {"S": task.task_id},
            "status": {"S": _status_of(entry)},
            "payload_hash": {"S": task.payload_hash},
            # handler runs of this task id counted against max_attempts
            "attempt": {"N": str(entry.attempt if entry.attempt is not None else int(prior.get("attempt") or 0) + 1)},
            "first_received_at": {"S": str(prior.get("first_received_at") or _iso(started))},
            "started_at": {"S": _iso(started)},
            "finished_at": {"S": finished_iso},
            "receive_count": {"N": str(int(task.receive_count))},
            "expires_at": {"N": str(int(entry.finished_at + self.ttl_seconds))},
        }
        for name, value in (("task_type", task.task_type), ("group_id", task.group_id),
                            ("message_id", task.message_id)):
            if value is not None:
                item[name] = {"S": value}
        if entry.duration_ms is not None:
            item["duration_ms"] = {"N": str(int(entry.duration_ms))}
        if entry.succeeded:
            encoded = encode_result(entry.result)
            if encoded is not None:
                item["result"] = {"S": encoded}
            if entry.pending:
                item["follow_ups_pending"] = {"S": _RESULT_JSON.encode(entry.pending)}
        else:
            error = entry.error
            item["error_type"] = {"S": type(error).__name__}
            item["error"] = {"S": _cap(str(error) or type(error).__name__, MAX_ERROR_CHARS)}
        return item


class BatchRecorder:
    """Collects finished tasks on a thread and records them in batches (for the long-poll Worker).

    ``write(entries)`` records a list and returns the entries it could not write; ``done(items,
    unwritten_task_ids)`` then gets every ``(entry, context)`` of that write. A write goes out
    with 25 entries, once its oldest entry has waited ``deadline`` seconds, on ``flush_soon()``
    (an idle worker) or on ``stop()``.
    """

    def __init__(
        self,
        write: Callable[[list[Finished]], list[Finished]],
        done: Callable[[list[tuple[Finished, Any]], set[str]], None],
        deadline: float,
    ) -> None:
        self._write = write
        self._done = done
        self.deadline = deadline
        self._pending: list[tuple[float, Finished, Any]] = []
        self._cond = threading.Condition()
        self._urgent = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sqstask-recorder", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, entry: Finished, context: Any = None) -> None:
        """Record ``entry`` with the next write; ``context`` comes back with it in ``done``."""
        with self._cond:
            self._pending.append((time.monotonic(), entry, context))
            self._cond.notify_all()

    def flush_soon(self) -> None:
        """Let the thread write what is pending now, however few."""
        with self._cond:
            if self._pending:
                self._urgent = True
                self._cond.notify_all()

    def stop(self) -> None:
        """Stop the thread and write everything still pending."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join(30)
        with self._cond:
            pending, self._pending = self._pending, []
        self._send(pending)

    def _take(self) -> list[tuple[float, Finished, Any]]:
        """Due entries (call with the lock held): 25 at most, all when urgent or the oldest is due."""
        if not self._pending:
            return []
        if len(self._pending) >= BATCH_WRITE_LIMIT or self._urgent or \
                time.monotonic() >= self._pending[0][0] + self.deadline:
            taken = self._pending[:BATCH_WRITE_LIMIT]
            del self._pending[:BATCH_WRITE_LIMIT]
            self._urgent = self._urgent and bool(self._pending)
            return taken
        return []

    def _send(self, taken: list[tuple[float, Finished, Any]]) -> None:
        if not taken:
            return
        unwritten = self._write([entry for _, entry, _ in taken])
        self._done([(entry, context) for _, entry, context in taken], {e.task.task_id for e in unwritten})

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return  # stop() writes the rest
                    taken = self._take()
                    if taken:
                        break
                    due_at = self._pending[0][0] + self.deadline if self._pending else None
                    self._cond.wait(None if due_at is None else max(0.0, due_at - time.monotonic()))
            try:
                self._send(taken)
            except Exception as exc:  # never die silently: these messages reappear after their timeout
                log_event("record-failed", error_type=type(exc).__name__, error=str(exc))
