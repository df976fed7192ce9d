"""Idempotency and task status: one DynamoDB item per task id, claimed before a task runs.

The item is keyed by ``task_id`` (stable across redeliveries and DLQ redrives, never the SQS
message id). Every state change is a single conditional write:

- ``claim``: one UpdateItem that succeeds when the task is new, FAILED, or IN_PROGRESS with an
  expired lease (and the payload hash matches). When the condition fails, DynamoDB returns the
  old item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so a duplicate costs one call and
  tells us why: COMPLETED (skip), a live lease (TaskInProgress) or another payload
  (PayloadMismatch).
- ``complete`` / ``fail``: one UpdateItem each; ``fail`` releases the lease so a retry can claim.
  ``complete`` can record follow-up tasks still to be sent (``follow_ups_pending``): the task
  is done and is never run again; a redelivery only sends them (``follow_ups_sent`` clears them).
- ``give_up``: the task used its ``max_attempts``; the record says DEAD_LETTERED with the
  message that carried it, and the SDK copies that message to the DLQ. A later delivery of the
  same message only finishes the move; a redriven copy (another message id) claims the task
  again with a fresh budget of attempts.
- ``renew``: one UpdateItem that pushes the lease forward (called by the lease keeper).

``attempt`` counts claims, i.e. handler runs: deliveries handed back unrun (group-mates of a
failed task, a worker's drain) and duplicates never count.

This is on every task's path, so the requests are cheap to build: expressions and name maps are
module constants, and values are written in DynamoDB's wire format (``{"S": ...}``,
``{"N": ...}``) rather than through boto3's TypeSerializer. A request costs boto3 time per
attribute value it carries, so each write carries only what its state change needs; the audit
log (not the record) keeps the history of state changes.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .exceptions import PayloadMismatch, TaskInProgress

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .task import Task

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"
DEAD_LETTERED = "DEAD_LETTERED"

MAX_RESULT_BYTES = 4096
MAX_ERROR_CHARS = 1000
DEFAULT_TTL_SECONDS = 30 * 24 * 3600  # longer than the DLQ's 14-day retention, so redrives still dedupe

# Attribute names that are DynamoDB reserved words (status, owner, result, error) go through
# ExpressionAttributeNames; the others (snake_case names, ``attempt``) appear as they are.
# DynamoDB rejects names and values an expression does not use, so every request below pairs
# an expression with exactly the names it mentions.

_CLAIM_SET = (
    "SET #status = :in_progress, #owner = :owner, lease_expires_at = :lease, payload_hash = :hash, "
    "task_type = :task_type, group_id = :group_id, message_id = :message_id, receive_count = :receive_count, "
    "started_at = :now_iso, expires_at = :expires_at, "
    "first_received_at = if_not_exists(first_received_at, :now_iso) "
)
_CLAIM_UPDATE = _CLAIM_SET + "ADD attempt :one REMOVE finished_at, duration_ms"
# On a first delivery receive_count is 1, the very number ADD needs: one value serves both.
_FIRST_DELIVERY_CLAIM_UPDATE = _CLAIM_SET + "ADD attempt :receive_count REMOVE finished_at, duration_ms"
# New; or FAILED; or IN_PROGRESS with an expired lease; or DEAD_LETTERED and delivered by
# another message than the one that was dead-lettered (a redriven copy); never under another payload.
_CLAIM_CONDITION = (
    "attribute_not_exists(task_id) OR "
    "((attribute_not_exists(payload_hash) OR payload_hash = :hash) AND "
    "(#status = :failed OR (#status = :in_progress AND lease_expires_at < :now) OR "
    "(#status = :dead_lettered AND message_id <> :message_id)))"
)
_STATUS_OWNER = {"#status": "status", "#owner": "owner"}

_OWNED_CONDITION = "#owner = :owner AND #status = :in_progress"  # fail and renew: only the lease owner
_RENEW_UPDATE = "SET lease_expires_at = :lease"

_FAIL_SET = (
    "SET #status = :failed, error_type = :error_type, #error = :error, finished_at = :now_iso, "
    "expires_at = :expires_at"
)
_FAIL_UPDATES = {
    False: _FAIL_SET + " REMOVE lease_expires_at",
    True: _FAIL_SET + ", duration_ms = :duration_ms REMOVE lease_expires_at",
}
_FAIL_NAMES = {"#status": "status", "#owner": "owner", "#error": "error"}


_GIVE_UP_UPDATE = (
    "SET #status = :dead_lettered, error_type = :error_type, #error = :error, finished_at = :now_iso, "
    "dead_lettered_at = :now_iso, dead_lettered_attempt = :attempt, expires_at = :expires_at "
    "REMOVE lease_expires_at"
)


def _complete_request(with_duration: bool, with_result: bool, with_pending: bool) -> tuple[str, dict[str, str]]:
    """complete()'s UpdateExpression and names.

    The error fields are always removed: a lease thief's failure may have been recorded while
    this attempt ran, and a COMPLETED record must not show it.
    """
    sets = ["#status = :completed", "finished_at = :now_iso"]
    removes = ["lease_expires_at", "error_type", "#error"]
    names = {"#status": "status", "#error": "error", "#result": "result"}
    if with_duration:
        sets.append("duration_ms = :duration_ms")
    if with_result:
        sets.append("#result = :result")
    else:
        removes.append("#result")
    if with_pending:
        sets.append("follow_ups_pending = :pending")
    else:
        removes.append("follow_ups_pending")
    return "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes), names


# (duration given, result given, follow-ups pending) -> complete()'s expression and names
_COMPLETE_REQUESTS = {
    (d, r, p): _complete_request(d, r, p) for d in (False, True) for r in (False, True) for p in (False, True)
}

_RESULT_JSON = json.JSONEncoder(default=str, sort_keys=True, ensure_ascii=False)
_iso_second: tuple[int, str] = (-1, "")  # the last second formatted, and its text up to the "."


def _iso(epoch: float) -> str:
    """``epoch`` as UTC ISO 8601 with milliseconds, e.g. ``2026-01-01T00:00:00.000Z``."""
    global _iso_second
    second, milli = divmod(int(epoch * 1000), 1000)
    cached = _iso_second
    if cached[0] != second:
        cached = _iso_second = (second, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(second)))
    return "%s%03dZ" % (cached[1], milli)


def _s(value: str | None) -> dict[str, Any]:
    """A string attribute value in wire format (NULL for None)."""
    return {"NULL": True} if value is None else {"S": value}


def _epoch_n(epoch: float) -> dict[str, str]:
    """An epoch-seconds number attribute value, to the millisecond."""
    return {"N": "%.3f" % epoch}


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        number = Decimal(text)
        return int(number) if number == number.to_integral_value() else float(number)


def _plain(value: Mapping[str, Any]) -> Any:
    """One wire-format attribute value -> plain Python (numbers as int/float, sets as sorted lists)."""
    kind, data = next(iter(value.items()))
    if kind == "S":
        return data
    if kind == "N":
        return _number(data)
    if kind == "BOOL":
        return bool(data)
    if kind == "NULL":
        return None
    if kind == "M":
        return {k: _plain(v) for k, v in data.items()}
    if kind == "L":
        return [_plain(v) for v in data]
    if kind == "SS":
        return sorted(data)
    if kind == "NS":
        return sorted(_number(v) for v in data)
    if kind == "B":
        return bytes(data)
    if kind == "BS":
        return sorted(bytes(v) for v in data)
    raise ValueError(f"unknown DynamoDB attribute type {kind!r}")


def _from_dynamodb(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A wire-format item -> plain Python values, or None for no item."""
    if not item:
        return None
    return {key: _plain(value) for key, value in item.items()}


def encode_result(result: Any, limit: int = MAX_RESULT_BYTES) -> str | None:
    """The task's return value as a JSON string of at most ``limit`` bytes (None for None).

    A larger result is replaced by ``{"truncated": true, "bytes": n, "preview": "..."}``.
    """
    if result is None:
        return None
    text = _RESULT_JSON.encode(result)
    if len(text) * 4 <= limit:  # at most 4 UTF-8 bytes per character: fits without counting
        return text
    size = len(text.encode("utf-8"))
    if size <= limit:
        return text
    preview = text[: max(0, limit // 4)]
    return json.dumps({"truncated": True, "bytes": size, "preview": preview}, ensure_ascii=False)


def _cap(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def default_owner_prefix() -> str:
    """``host:pid`` of this process, the first part of every lease owner id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def payload_mismatch(task: Task, prior: Mapping[str, Any] | None) -> PayloadMismatch | None:
    """The error for a delivery of ``task`` whose stored record (``prior``) has another payload, else None."""
    stored = (prior or {}).get("payload_hash")
    if not stored or stored == task.payload_hash:
        return None
    exc = PayloadMismatch(
        f"task {task.task_id} was delivered again with a different payload "
        f"(sha256 {task.payload_hash[:12]}..., first seen with {str(stored)[:12]}...); "
        "task ids must identify one payload: send changed work under a new task id"
    )
    exc.task_id = task.task_id  # type: ignore[attr-defined]
    exc.stored_hash = stored  # type: ignore[attr-defined]
    exc.received_hash = task.payload_hash  # type: ignore[attr-defined]
    return exc


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`TaskStore.claim`.

    ``acquired`` is True when this caller now owns the task (lease until ``lease_expires_at``);
    False when the task had already COMPLETED, in which case ``record`` is the stored item and
    the work must be skipped. For an acquired claim, ``record`` holds the values the claim
    replaced (empty when the task had no record before this claim).
    """

    task_id: str
    acquired: bool
    owner: str | None = None
    lease_expires_at: float | None = None
    attempt: int = 0
    record: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def duplicate(self) -> bool:
        """True when the task already completed (the delivery is a duplicate)."""
        return not self.acquired

    @property
    def status(self) -> str | None:
        """The stored status that refused a non-acquired claim: COMPLETED or DEAD_LETTERED."""
        return None if self.acquired else self.record.get("status")

    @property
    def attempts_used(self) -> int:
        """Handler runs counted against ``max_attempts``, this one included.

        A task redriven from the DLQ starts a fresh budget: runs before its last dead-lettering
        do not count.
        """
        return self.attempt - int(self.record.get("dead_lettered_attempt") or 0)

    @property
    def pending_follow_ups(self) -> list[dict[str, Any]]:
        """Follow-up tasks (TaskSpec fields) recorded on a COMPLETED task but not yet sent."""
        text = self.record.get("follow_ups_pending")
        return list(json.loads(text)) if text else []


class TaskStore:
    """Task status and idempotency records in the team's DynamoDB table (key ``task_id``)."""

    def __init__(
        self,
        dynamodb_client: Any,
        table: str,
        *,
        ttl_seconds: int = DEFAULT_TTL_SECONDS,
        owner_prefix: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = dynamodb_client
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.owner_prefix = owner_prefix or default_owner_prefix()
        self._clock = clock

    # -- reading ---------------------------------------------------------------------------

    def get(self, task_id: str) -> dict[str, Any] | None:
        """The stored record of ``task_id`` as plain Python values, or None when there is none."""
        # Checked here: the SDK's task table client sends requests without client-side validation
        # (clients.py), and this id may come from a caller rather than a parsed message.
        if not isinstance(task_id, str) or not task_id:
            raise ValueError(f"a task id must be a non-empty string, got {task_id!r}")
        response = self.client.get_item(
            TableName=self.table, Key={"task_id": {"S": task_id}}, ConsistentRead=True
        )
        return _from_dynamodb(response.get("Item"))

    # -- state changes ---------------------------------------------------------------------

    def claim(self, task: Task, *, lease_seconds: float) -> Claim:
        """Claim ``task`` for ``lease_seconds`` with one conditional UpdateItem.

        Returns an acquired Claim (run the task), or a non-acquired one when the task already
        COMPLETED (skip it). Raises TaskInProgress when another live lease owns it, and
        PayloadMismatch when the stored payload hash differs from this delivery's.
        """
        receive_count = int(task.receive_count)
        first_delivery = receive_count == 1
        for _ in range(2):  # a second round only if the item changed between our reads
            now = self._clock()
            lease = now + max(1.0, float(lease_seconds))
            owner = f"{self.owner_prefix}:{os.urandom(4).hex()}"
            values = {
                ":in_progress": {"S": IN_PROGRESS},
                ":failed": {"S": FAILED},
                ":dead_lettered": {"S": DEAD_LETTERED},
                ":owner": {"S": owner},
                ":lease": _epoch_n(lease),
                ":now": _epoch_n(now),
                ":hash": {"S": task.payload_hash},
                ":task_type": _s(task.task_type),
                ":group_id": _s(task.group_id),
                ":message_id": _s(task.message_id),
                ":receive_count": {"N": str(receive_count)},
                ":now_iso": {"S": _iso(now)},
                ":expires_at": {"N": str(int(now + self.ttl_seconds))},
            }
            if not first_delivery:
                values[":one"] = {"N": "1"}
            try:
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"task_id": {"S": task.task_id}},
                    UpdateExpression=_FIRST_DELIVERY_CLAIM_UPDATE if first_delivery else _CLAIM_UPDATE,
                    ConditionExpression=_CLAIM_CONDITION,
                    ExpressionAttributeNames=dict(_STATUS_OWNER),
                    ExpressionAttributeValues=values,
                    # The old item: nothing for a new task (the common case, and the smallest
                    # answer), else the previous attempts and where the attempt budget starts.
                    ReturnValues="ALL_OLD",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except self.client.exceptions.ConditionalCheckFailedException as exc:
                old = _from_dynamodb(exc.response.get("Item"))
                if old is None:
                    continue  # deleted in between (TTL): try again
                duplicate = self._refuse(task, old, now)
                if duplicate is not None:
                    return duplicate
                continue  # claimable after all (changed in between): try again
            previous = _from_dynamodb(response.get("Attributes")) or {}
            return Claim(
                task_id=task.task_id,
                acquired=True,
                owner=owner,
                lease_expires_at=lease,
                attempt=int(previous.get("attempt", 0)) + 1,
                record=previous,
            )
        raise TaskInProgress(
            f"task {task.task_id} changed while it was being claimed; another consumer is working on it"
        )

    def _refuse(self, task: Task, old: dict[str, Any], now: float) -> Claim | None:
        """Explain a failed claim: a duplicate Claim, TaskInProgress, PayloadMismatch, or None.

        None means the stored item looks claimable after all (it changed between the write and
        now), so the caller tries once more.
        """
        mismatch = payload_mismatch(task, old)
        if mismatch is not None:
            raise mismatch
        status = old.get("status")
        if status in (COMPLETED, DEAD_LETTERED):
            return Claim(task_id=task.task_id, acquired=False, attempt=int(old.get("attempt", 0)), record=old)
        if status == IN_PROGRESS:
            lease = float(old.get("lease_expires_at") or 0)
            if lease >= now:
                exc2 = TaskInProgress(
                    f"task {task.task_id} is being run by {old.get('owner', 'another consumer')} "
                    f"(lease expires in {max(0.0, lease - now):.0f}s); it will be retried after that"
                )
                exc2.task_id = task.task_id  # type: ignore[attr-defined]
                exc2.owner = old.get("owner")  # type: ignore[attr-defined]
                exc2.lease_expires_at = lease  # type: ignore[attr-defined]
                raise exc2
        return None

    def complete(
        self,
        claim: Claim,
        *,
        result: Any = None,
        duration_ms: int | None = None,
        pending: list[dict[str, Any]] | None = None,
    ) -> None:
        """Mark the task COMPLETED (finished_at, duration, capped result) with one UpdateItem.

        Releases the lease and clears any recorded error. ``pending`` lists follow-up tasks
        (TaskSpec fields) that still have to be sent. Not owner-checked and idempotent: the
        work is done, so it is recorded even if the lease was lost meanwhile, and a retry
        writes the same. The owner and the TTL stay as the claim wrote them (the TTL counts
        from the claim: a task runs for hours at most, and the default 30 days stays well
        beyond the DLQ's 14-day retention).
        """
        now = self._clock()
        encoded = encode_result(result)
        values: dict[str, Any] = {":completed": {"S": COMPLETED}, ":now_iso": {"S": _iso(now)}}
        if duration_ms is not None:
            values[":duration_ms"] = {"N": str(int(duration_ms))}
        if encoded is not None:
            values[":result"] = {"S": encoded}
        if pending:
            values[":pending"] = {"S": _RESULT_JSON.encode(pending)}
        update, names = _COMPLETE_REQUESTS[(duration_ms is not None, encoded is not None, bool(pending))]
        self.client.update_item(
            TableName=self.table,
            Key={"task_id": {"S": claim.task_id}},
            UpdateExpression=update,
            ExpressionAttributeNames=dict(names),
            ExpressionAttributeValues=values,
        )

    def fail(self, claim: Claim, error: BaseException, *, duration_ms: int | None = None) -> bool:
        """Mark the task FAILED with the error and release the lease (one UpdateItem).

        Only the lease owner can do this; returns False when the lease was lost meanwhile
        (another consumer took the task over or completed it), leaving its record alone.
        """
        now = self._clock()
        values: dict[str, Any] = {
            ":failed": {"S": FAILED},
            ":in_progress": {"S": IN_PROGRESS},
            ":owner": {"S": claim.owner or ""},
            ":error_type": {"S": type(error).__name__},
            ":error": {"S": _cap(str(error) or type(error).__name__, MAX_ERROR_CHARS)},
            ":now_iso": {"S": _iso(now)},
            ":expires_at": {"N": str(int(now + self.ttl_seconds))},
        }
        if duration_ms is not None:
            values[":duration_ms"] = {"N": str(int(duration_ms))}
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"task_id": {"S": claim.task_id}},
                UpdateExpression=_FAIL_UPDATES[duration_ms is not None],
                ConditionExpression=_OWNED_CONDITION,
                ExpressionAttributeNames=dict(_FAIL_NAMES),
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def follow_ups_sent(self, task_id: str) -> None:
        """Forget the pending follow-ups of a COMPLETED task once they are all sent (one UpdateItem)."""
        self.client.update_item(
            TableName=self.table,
            Key={"task_id": {"S": task_id}},
            UpdateExpression="REMOVE follow_ups_pending",
            ConditionExpression="attribute_exists(task_id)",
        )

    def give_up(self, claim: Claim, error: BaseException, *, duration_ms: int | None = None) -> bool:
        """Mark the task DEAD_LETTERED after its last attempt (one owner-checked UpdateItem).

        The record keeps the last error and the attempt count at which the budget ran out, so a
        redriven copy gets ``max_attempts`` fresh runs. Returns False when the lease was lost.
        """
        now = self._clock()
        values: dict[str, Any] = {
            ":dead_lettered": {"S": DEAD_LETTERED},
            ":in_progress": {"S": IN_PROGRESS},
            ":owner": {"S": claim.owner or ""},
            ":error_type": {"S": type(error).__name__},
            ":error": {"S": _cap(str(error) or type(error).__name__, MAX_ERROR_CHARS)},
            ":now_iso": {"S": _iso(now)},
            ":attempt": {"N": str(int(claim.attempt))},
            ":expires_at": {"N": str(int(now + self.ttl_seconds))},
        }
        update = _GIVE_UP_UPDATE
        if duration_ms is not None:
            values[":duration_ms"] = {"N": str(int(duration_ms))}
            update = update.replace(" REMOVE", ", duration_ms = :duration_ms REMOVE")
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"task_id": {"S": claim.task_id}},
                UpdateExpression=update,
                ConditionExpression=_OWNED_CONDITION,
                ExpressionAttributeNames=dict(_FAIL_NAMES),
                ExpressionAttributeValues=values,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def renew(self, claim: Claim, *, lease_seconds: float) -> bool:
        """Extend the lease of a running task to now + ``lease_seconds`` (one UpdateItem).

        Returns False when the lease is no longer ours (taken over, completed or failed).
        """
        now = self._clock()
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"task_id": {"S": claim.task_id}},
                UpdateExpression=_RENEW_UPDATE,
                ConditionExpression=_OWNED_CONDITION,
                ExpressionAttributeNames=dict(_STATUS_OWNER),
                ExpressionAttributeValues={
                    ":lease": _epoch_n(now + max(1.0, float(lease_seconds))),
                    ":owner": {"S": claim.owner or ""},
                    ":in_progress": {"S": IN_PROGRESS},
                },
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True
