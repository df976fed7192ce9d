"""Idempotency and task status: one DynamoDB item per task id, claimed before a task runs.

The item is keyed by ``task_id`` (stable across redeliveries and DLQ redrives, never the SQS
message id). Every state change is a single conditional write:

- ``claim``: one UpdateItem that succeeds when the task is new, FAILED, or IN_PROGRESS with an
  expired lease (and the payload hash matches). When the condition fails, DynamoDB returns the
  old item (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so a duplicate costs one call and
  tells us why: COMPLETED (skip), a live lease (TaskInProgress) or another payload
  (PayloadMismatch).
- ``complete`` / ``fail``: one UpdateItem each; ``fail`` releases the lease so a retry can claim.
- ``renew``: one UpdateItem that pushes the lease forward (called by the heartbeat).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from .exceptions import PayloadMismatch, TaskInProgress

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .task import Task

IN_PROGRESS = "IN_PROGRESS"
COMPLETED = "COMPLETED"
FAILED = "FAILED"

MAX_RESULT_BYTES = 4096
MAX_ERROR_CHARS = 1000
MAX_HISTORY_CHARS = 200
DEFAULT_TTL_SECONDS = 30 * 24 * 3600  # longer than the DLQ's 14-day retention, so redrives still dedupe

# Every attribute name goes through ExpressionAttributeNames: several are DynamoDB reserved words.
_NAMES = {
    "#task_id": "task_id",
    "#status": "status",
    "#owner": "owner",
    "#lease": "lease_expires_at",
    "#attempt": "attempt",
    "#hash": "payload_hash",
    "#task_type": "task_type",
    "#group_id": "group_id",
    "#message_id": "message_id",
    "#receive_count": "receive_count",
    "#started_at": "started_at",
    "#finished_at": "finished_at",
    "#duration_ms": "duration_ms",
    "#result": "result",
    "#error_type": "error_type",
    "#error": "error",
    "#first_received_at": "first_received_at",
    "#history": "history",
    "#expires_at": "expires_at",
}


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _plain(value: Any) -> Any:
    """Deserialized DynamoDB value -> plain Python (Decimal -> int/float, sets -> sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (set, frozenset)):
        return sorted(_plain(v) for v in value)
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    return value


def _from_dynamodb(item: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not item:
        return None
    from boto3.dynamodb.types import TypeDeserializer

    deserializer = TypeDeserializer()
    return {key: _plain(deserializer.deserialize(value)) for key, value in item.items()}


def _to_dynamodb(values: Mapping[str, Any]) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeSerializer

    serializer = TypeSerializer()
    return {key: serializer.serialize(value) for key, value in values.items()}


def encode_result(result: Any, limit: int = MAX_RESULT_BYTES) -> str | None:
    """The task's return value as a JSON string of at most ``limit`` bytes (None for None).

    A larger result is replaced by ``{"truncated": true, "bytes": n, "preview": "..."}``.
    """
    if result is None:
        return None
    text = json.dumps(result, default=str, sort_keys=True, ensure_ascii=False)
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


@dataclass(frozen=True)
class Claim:
    """The outcome of :meth:`TaskStore.claim`.

    ``acquired`` is True when this caller now owns the task (lease until ``lease_expires_at``);
    False when the task had already COMPLETED, in which case ``record`` is the stored item and
    the work must be skipped.
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
        for _ in range(2):  # a second round only if the item changed between our reads
            now = self._clock()
            lease = now + max(1.0, float(lease_seconds))
            owner = f"{self.owner_prefix}:{uuid.uuid4().hex[:8]}"
            values = _to_dynamodb(
                {
                    ":in_progress": IN_PROGRESS,
                    ":failed": FAILED,
                    ":owner": owner,
                    ":lease": Decimal(str(round(lease, 3))),
                    ":now": Decimal(str(round(now, 3))),
                    ":hash": task.payload_hash,
                    ":task_type": task.task_type,
                    ":group_id": task.group_id,
                    ":message_id": task.message_id,
                    ":receive_count": task.receive_count,
                    ":now_iso": _iso(now),
                    ":expires_at": int(now + self.ttl_seconds),
                    ":one": 1,
                    ":empty": [],
                    ":history": [_cap(f"{_iso(now)} claimed by {owner} (receive {task.receive_count})", MAX_HISTORY_CHARS)],
                }
            )
            update = (
                "SET #status = :in_progress, #owner = :owner, #lease = :lease, #hash = :hash, "
                "#task_type = :task_type, #group_id = :group_id, #message_id = :message_id, "
                "#receive_count = :receive_count, #started_at = :now_iso, #expires_at = :expires_at, "
                "#first_received_at = if_not_exists(#first_received_at, :now_iso), "
                "#history = list_append(if_not_exists(#history, :empty), :history) "
                "ADD #attempt :one "
                "REMOVE #finished_at, #duration_ms"
            )
            condition = (
                "attribute_not_exists(#task_id) OR "
                "((attribute_not_exists(#hash) OR #hash = :hash) AND "
                "(#status = :failed OR (#status = :in_progress AND #lease < :now)))"
            )
            try:
                response = self.client.update_item(
                    TableName=self.table,
                    Key={"task_id": {"S": task.task_id}},
                    UpdateExpression=update,
                    ConditionExpression=condition,
                    ExpressionAttributeNames=_names(update, condition),
                    ExpressionAttributeValues=_used(values, update, condition),
                    ReturnValues="ALL_NEW",
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
            record = _from_dynamodb(response.get("Attributes")) or {}
            return Claim(
                task_id=task.task_id,
                acquired=True,
                owner=owner,
                lease_expires_at=lease,
                attempt=int(record.get("attempt", 1)),
                record=record,
            )
        raise TaskInProgress(
            f"task {task.task_id} changed while it was being claimed; another consumer is working on it"
        )

    def _refuse(self, task: Task, old: dict[str, Any], now: float) -> Claim | None:
        """Explain a failed claim: a duplicate Claim, TaskInProgress, PayloadMismatch, or None.

        None means the stored item looks claimable after all (it changed between the write and
        now), so the caller tries once more.
        """
        stored_hash = old.get("payload_hash")
        if stored_hash and stored_hash != task.payload_hash:
            exc = PayloadMismatch(
                f"task {task.task_id} was delivered again with a different payload "
                f"(sha256 {task.payload_hash[:12]}..., first seen with {str(stored_hash)[:12]}...); "
                "task ids must identify one payload: send changed work under a new task id"
            )
            exc.task_id = task.task_id  # type: ignore[attr-defined]
            exc.stored_hash = stored_hash  # type: ignore[attr-defined]
            exc.received_hash = task.payload_hash  # type: ignore[attr-defined]
            raise exc
        status = old.get("status")
        if status == COMPLETED:
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

    def complete(self, claim: Claim, *, result: Any = None, duration_ms: int | None = None) -> None:
        """Mark the task COMPLETED (finished_at, duration, capped result, TTL) with one UpdateItem."""
        now = self._clock()
        encoded = encode_result(result)
        values: dict[str, Any] = {
            ":completed": COMPLETED,
            ":owner": claim.owner or "",
            ":now_iso": _iso(now),
            ":expires_at": int(now + self.ttl_seconds),
            ":empty": [],
            ":history": [f"{_iso(now)} completed"],
        }
        sets = [
            "#status = :completed",
            "#owner = :owner",
            "#finished_at = :now_iso",
            "#expires_at = :expires_at",
            "#history = list_append(if_not_exists(#history, :empty), :history)",
        ]
        removes = ["#lease", "#error_type", "#error"]
        if duration_ms is not None:
            values[":duration_ms"] = int(duration_ms)
            sets.append("#duration_ms = :duration_ms")
        if encoded is not None:
            values[":result"] = encoded
            sets.append("#result = :result")
        else:
            removes.append("#result")
        update = "SET " + ", ".join(sets) + " REMOVE " + ", ".join(removes)
        self.client.update_item(
            TableName=self.table,
            Key={"task_id": {"S": claim.task_id}},
            UpdateExpression=update,
            ExpressionAttributeNames=_names(update),
            ExpressionAttributeValues=_used(_to_dynamodb(values), update),
        )

    def fail(self, claim: Claim, error: BaseException, *, duration_ms: int | None = None) -> bool:
        """Mark the task FAILED with the error and release the lease (one UpdateItem).

        Only the lease owner can do this; returns False when the lease was lost meanwhile
        (another consumer took the task over or completed it), leaving its record alone.
        """
        now = self._clock()
        error_text = _cap(str(error) or type(error).__name__, MAX_ERROR_CHARS)
        values: dict[str, Any] = {
            ":failed": FAILED,
            ":in_progress": IN_PROGRESS,
            ":owner": claim.owner or "",
            ":error_type": type(error).__name__,
            ":error": error_text,
            ":now_iso": _iso(now),
            ":expires_at": int(now + self.ttl_seconds),
            ":empty": [],
            ":history": [_cap(f"{_iso(now)} failed: {type(error).__name__}: {error_text}", MAX_HISTORY_CHARS)],
        }
        sets = [
            "#status = :failed",
            "#error_type = :error_type",
            "#error = :error",
            "#finished_at = :now_iso",
            "#expires_at = :expires_at",
            "#history = list_append(if_not_exists(#history, :empty), :history)",
        ]
        if duration_ms is not None:
            values[":duration_ms"] = int(duration_ms)
            sets.append("#duration_ms = :duration_ms")
        update = "SET " + ", ".join(sets) + " REMOVE #lease"
        condition = "#owner = :owner AND #status = :in_progress"
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"task_id": {"S": claim.task_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update, condition),
                ExpressionAttributeValues=_to_dynamodb(values),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def renew(self, claim: Claim, *, lease_seconds: float) -> bool:
        """Extend the lease of a running task to now + ``lease_seconds`` (one UpdateItem).

        Returns False when the lease is no longer ours (taken over, completed or failed).
        """
        now = self._clock()
        condition = "#owner = :owner AND #status = :in_progress"
        update = "SET #lease = :lease"
        try:
            self.client.update_item(
                TableName=self.table,
                Key={"task_id": {"S": claim.task_id}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames=_names(update, condition),
                ExpressionAttributeValues=_to_dynamodb(
                    {
                        ":lease": Decimal(str(round(now + max(1.0, float(lease_seconds)), 3))),
                        ":owner": claim.owner or "",
                        ":in_progress": IN_PROGRESS,
                    }
                ),
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True



def _names(*expressions: str) -> dict[str, str]:
    """The subset of attribute-name placeholders the expressions use (DynamoDB rejects unused ones)."""
    text = " ".join(expressions)
    return {k: v for k, v in _NAMES.items() if _mentions(text, k)}


def _used(values: dict[str, Any], *expressions: str) -> dict[str, Any]:
    """The subset of value placeholders the expressions use (DynamoDB rejects unused ones)."""
    text = " ".join(expressions)
    return {k: v for k, v in values.items() if _mentions(text, k)}


def _mentions(text: str, placeholder: str) -> bool:
    start = 0
    while True:
        i = text.find(placeholder, start)
        if i < 0:
            return False
        end = i + len(placeholder)
        if end == len(text) or not (text[end].isalnum() or text[end] == "_"):
            return True
        start = end
