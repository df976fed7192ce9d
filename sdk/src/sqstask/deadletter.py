"""Dead-lettering by the SDK: copying a message it gave up on to the team's DLQ.

SQS's own redrive counts *receives*, and in a FIFO queue the healthy tasks behind a failing
one are received (and handed back unrun) as often as it is. So the SDK counts handler runs
instead (``max_attempts``, in the task table) and, when a task has used them, copies its
message to the DLQ itself: the body unchanged, the group kept, the task id in the
``sqstask-task-id`` attribute (so a raw message keeps its id across the DLQ and back), the
last error and the attempt count in attributes for ``sqstask dlq list``. The caller then
deletes the original. The copy's deduplication id is derived from the original message's id:
a retried copy after a crash between copy and delete is absorbed by SQS, while a task that
is dead-lettered again after a redrive (another message id) is copied again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .task import TASK_ID_ATTRIBUTE, TASK_TYPE_ATTRIBUTE

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import TaskQueue

ERROR_ATTRIBUTE = "sqstask-error"
ATTEMPTS_ATTRIBUTE = "sqstask-attempts"
MAX_MESSAGE_ATTRIBUTES = 10  # SQS's limit per message
MAX_ERROR_ATTRIBUTE_CHARS = 500


class NoDeadLetterQueue(Exception):
    """The queue's configuration names no DLQ, so the SDK cannot move a message there."""


def _clean_attributes(raw: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Message attributes of an SQS message (``MessageAttributes``) or Lambda record
    (``messageAttributes``, lower-case keys) in SendMessage form."""
    source = raw.get("MessageAttributes") if "MessageAttributes" in raw else raw.get("messageAttributes")
    clean: dict[str, dict[str, Any]] = {}
    for name, value in (source or {}).items():
        if not isinstance(value, Mapping):
            continue
        data_type = value.get("DataType") or value.get("dataType")
        if not data_type:
            continue
        entry: dict[str, Any] = {"DataType": data_type}
        for key in ("StringValue", "BinaryValue"):
            found = value.get(key, value.get(key[0].lower() + key[1:]))
            if found is not None:
                entry[key] = found
        if len(entry) > 1:
            clean[name] = entry
    return clean


def _body(raw: Mapping[str, Any]) -> str:
    body = raw.get("Body") if "Body" in raw else raw.get("body")
    return body if isinstance(body, str) else ""


def _system_attributes(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    attrs = raw.get("Attributes") if "Attributes" in raw else raw.get("attributes")
    return attrs if isinstance(attrs, Mapping) else {}


def dead_letter_entry(
    raw: Mapping[str, Any],
    *,
    message_id: str,
    reason: str,
    task_id: str | None = None,
    task_type: str | None = None,
    attempts: int | None = None,
    fifo: bool = True,
) -> dict[str, Any]:
    """SendMessage arguments (without QueueUrl) that copy ``raw`` to the DLQ.

    The original attributes come first; the SDK's own (task id and type, error, attempts)
    are added while SQS's limit of 10 attributes allows, the task id before the others.
    """
    attributes = _clean_attributes(raw)
    extra: list[tuple[str, str]] = []
    if task_id:
        extra.append((TASK_ID_ATTRIBUTE, task_id))
    if task_type:
        extra.append((TASK_TYPE_ATTRIBUTE, task_type))
    extra.append((ERROR_ATTRIBUTE, reason[:MAX_ERROR_ATTRIBUTE_CHARS] or "unknown"))
    if attempts is not None:
        extra.append((ATTEMPTS_ATTRIBUTE, str(attempts)))
    for name, value in extra:
        if name in attributes or len(attributes) < MAX_MESSAGE_ATTRIBUTES:
            attributes[name] = {"DataType": "String", "StringValue": value}
    entry: dict[str, Any] = {"MessageBody": _body(raw), "MessageAttributes": attributes}
    if fifo:
        group = _system_attributes(raw).get("MessageGroupId")
        entry["MessageGroupId"] = group or message_id
        entry["MessageDeduplicationId"] = hashlib.sha256(f"dead-letter:{message_id}".encode()).hexdigest()
    return entry


def move_to_dlq(
    queue: TaskQueue,
    raw: Mapping[str, Any],
    *,
    message_id: str,
    reason: str,
    task_id: str | None = None,
    task_type: str | None = None,
    attempts: int | None = None,
) -> str:
    """Copy ``raw`` to the queue's DLQ (one SendMessage); returns the copy's message id.

    Raises NoDeadLetterQueue when no DLQ is configured, and the SQS error when the send fails;
    the caller deletes the original only after this returns.
    """
    dlq_url = queue.config.dlq_url
    if not dlq_url:
        raise NoDeadLetterQueue(
            "no dlq_url is configured (SQSTASK_DLQ_URL or dlq_url in SQSTASK_CONFIG); "
            "the queue's maxReceiveCount moves the message instead"
        )
    entry = dead_letter_entry(
        raw,
        message_id=message_id,
        reason=reason,
        task_id=task_id,
        task_type=task_type,
        attempts=attempts,
        fifo=dlq_url.endswith(".fifo"),
    )
    response = queue.sqs.send_message(QueueUrl=dlq_url, **entry)
    return str(response.get("MessageId", ""))
