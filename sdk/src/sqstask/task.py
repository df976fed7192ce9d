"""Tasks on the wire: validation, the JSON envelope, and turning received messages into Tasks."""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from .exceptions import InvalidTaskError, MalformedMessage

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .payloads import PayloadStore

ENVELOPE_VERSION = 1
TASK_ID_ATTRIBUTE = "sqstask-task-id"
TASK_TYPE_ATTRIBUTE = "sqstask-task-type"
DEFAULT_TASK_TYPE = "default"

MAX_ID_LENGTH = 128
MAX_TYPE_LENGTH = 256
# SQS allows alphanumerics and punctuation in MessageGroupId/MessageDeduplicationId:
# that is every printable ASCII character except the space.
_ID_RE = re.compile(r"[\x21-\x7e]{1,128}")
_ENVELOPE_KEYS = ("id", "type", "payload")


def new_task_id() -> str:
    """A fresh random task id (32 hex characters)."""
    return uuid.uuid4().hex


def _check_id(value: Any, what: str, hint: str) -> str:
    if not isinstance(value, str):
        raise InvalidTaskError(f"{what} must be a string, got {type(value).__name__}")
    if not value:
        raise InvalidTaskError(f"{what} must not be empty; {hint}")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidTaskError(f"{what} is {len(value)} characters; SQS allows at most {MAX_ID_LENGTH}")
    if not _ID_RE.fullmatch(value):
        bad = next(ch for ch in value if not ("\x21" <= ch <= "\x7e"))
        raise InvalidTaskError(
            f"{what} {value!r} contains {bad!r}; SQS allows only letters, digits and ASCII punctuation "
            "(no spaces or other characters)"
        )
    return value


def validate_group_id(group_id: Any) -> str:
    """Return ``group_id`` if SQS accepts it as a MessageGroupId, else raise InvalidTaskError."""
    return _check_id(group_id, "group_id", "tasks of one group run in order, so name the group (e.g. a customer id)")


def validate_task_id(task_id: Any) -> str:
    """Return ``task_id`` if it is usable as a task id (and deduplication id), else raise."""
    return _check_id(task_id, "task_id", "leave it out to generate one")


def validate_task_type(task_type: Any) -> str:
    """Return ``task_type`` if it is 1..256 printable characters without whitespace, else raise."""
    if not isinstance(task_type, str):
        raise InvalidTaskError(f"task_type must be a string, got {type(task_type).__name__}")
    if not task_type:
        raise InvalidTaskError("task_type must not be empty; name what the task does, e.g. 'send-email'")
    if len(task_type) > MAX_TYPE_LENGTH:
        raise InvalidTaskError(f"task_type is {len(task_type)} characters; at most {MAX_TYPE_LENGTH} are allowed")
    if any(ch.isspace() or not ch.isprintable() for ch in task_type):
        raise InvalidTaskError(f"task_type {task_type!r} must be printable characters without whitespace")
    return task_type


# One encoder for every payload: json.dumps with arguments builds a new encoder on each call.
_CANONICAL_JSON = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def canonical_json(payload: Any) -> str:
    """Deterministic JSON of ``payload`` (sorted keys, compact, ASCII); raises InvalidTaskError."""
    try:
        return _CANONICAL_JSON.encode(payload)
    except (TypeError, ValueError) as exc:
        raise InvalidTaskError(f"payload is not JSON-serialisable: {exc}") from None


def payload_hash(payload: Any) -> str:
    """sha256 hex of the canonical JSON of ``payload``."""
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def deduplication_id(task_id: str) -> str:
    """The MessageDeduplicationId for ``task_id``: the id itself when SQS accepts it, else its sha256."""
    if isinstance(task_id, str) and _ID_RE.fullmatch(task_id):
        return task_id
    return hashlib.sha256(str(task_id).encode("utf-8")).hexdigest()


def format_timestamp(when: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z`` suffix."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def parse_timestamp(text: Any) -> datetime | None:
    """Parse an ISO-8601 timestamp (``Z`` allowed); None when absent or unreadable."""
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


# Characters SQS accepts in a message body (XML 1.0 character ranges).
_SQS_INVALID = re.compile("[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def encode_envelope(task_id: str, task_type: str, payload: Any, created_at: datetime | None = None) -> str:
    """The sqstask wire body: JSON ``{"v": 1, "id", "type", "payload", "created_at"}``."""
    envelope = {
        "v": ENVELOPE_VERSION,
        "id": task_id,
        "type": task_type,
        "payload": payload,
        "created_at": format_timestamp(created_at or datetime.now(timezone.utc)),
    }
    try:
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidTaskError(f"payload of task {task_id} ({task_type}) is not JSON-serialisable: {exc}") from None
    if _SQS_INVALID.search(body):
        # Lone surrogates or U+FFFE/U+FFFF: SQS rejects them raw, so escape everything.
        body = json.dumps(envelope, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return body


def task_attributes(task_id: str, task_type: str) -> dict[str, dict[str, str]]:
    """The SQS message attributes sqstask sets on every message it sends."""
    return {
        TASK_ID_ATTRIBUTE: {"DataType": "String", "StringValue": task_id},
        TASK_TYPE_ATTRIBUTE: {"DataType": "String", "StringValue": task_type},
    }


@dataclass(frozen=True)
class TaskSpec:
    """A task to send: its type, JSON payload, message group, (optional, stable) id and priority.

    ``priority`` is a tier name of the queue, an integer 0-9 (higher = more urgent; see
    ``sqstask.priorities``) or None for the default tier.
    """

    task_type: str
    payload: Any
    group_id: str
    task_id: str | None = None
    priority: str | int | None = None

    @classmethod
    def coerce(cls, obj: TaskSpec | Mapping[str, Any]) -> TaskSpec:
        """Accept a TaskSpec or a dict with keys task_type, payload, group_id[, task_id, priority]."""
        if isinstance(obj, TaskSpec):
            return obj
        if isinstance(obj, Mapping):
            allowed = {"task_type", "payload", "group_id", "task_id", "priority"}
            unknown = sorted(set(obj) - allowed)
            if unknown:
                raise InvalidTaskError(
                    f"unknown task key(s) {unknown}; allowed: task_type, payload, group_id, task_id, priority"
                )
            missing = [k for k in ("task_type", "payload", "group_id") if k not in obj]
            if missing:
                raise InvalidTaskError(
                    f"task is missing {', '.join(missing)}; a task needs task_type, payload and group_id"
                )
            return cls(obj["task_type"], obj["payload"], obj["group_id"], obj.get("task_id"), obj.get("priority"))
        raise InvalidTaskError(f"a task must be a TaskSpec or a dict, got {type(obj).__name__}")

    def validated(self) -> TaskSpec:
        """Check every field (raising InvalidTaskError) and return a copy with a task id."""
        validate_task_type(self.task_type)
        validate_group_id(self.group_id)
        canonical_json(self.payload)
        if self.priority is not None and (isinstance(self.priority, bool) or not isinstance(self.priority, (str, int))):
            raise InvalidTaskError(f"priority must be a tier name or an integer 0..9, got {type(self.priority).__name__}")
        if self.task_id is None:
            return replace(self, task_id=new_task_id())
        validate_task_id(self.task_id)
        return self


@dataclass(frozen=True)
class Then:
    """Returned by a handler to enqueue a follow-up task after success (job sequencing).

    ``priority`` picks the follow-up's tier like ``send(priority=)``; None is the default tier.
    """

    task_type: str
    payload: Any
    group_id: str | None = None
    task_id: str | None = None
    priority: str | int | None = None

    def to_spec(self, default_group_id: str) -> TaskSpec:
        """The TaskSpec to send; ``group_id`` None means the group of the task that returned it."""
        return TaskSpec(self.task_type, self.payload, self.group_id or default_group_id, self.task_id, self.priority)


@dataclass(frozen=True)
class Task:
    """What a handler receives: one task, decoded from an SQS message or Lambda record."""

    task_id: str
    task_type: str
    payload: Any
    group_id: str
    receive_count: int
    message_id: str
    sent_at: datetime | None
    receipt_handle: str | None = field(default=None, repr=False)
    created_at: datetime | None = None
    raw: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)
    payload_hash: str = ""
    enveloped: bool = True

    def __post_init__(self) -> None:
        if not self.payload_hash:
            object.__setattr__(self, "payload_hash", payload_hash(self.payload))

    @property
    def attempt(self) -> int:
        """Alias of ``receive_count``: 1 on the first delivery."""
        return self.receive_count


def _msg_attr(attrs: Mapping[str, Any], name: str, key: str) -> str | None:
    entry = attrs.get(name)
    if isinstance(entry, Mapping):
        value = entry.get(key)
        return value if isinstance(value, str) else None
    return None


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _sent_at(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value) / 1000.0, tz=timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _reject_constant(name: str) -> Any:
    """NaN/Infinity are not JSON: such a body is taken as a plain string."""
    raise ValueError(f"{name} is not valid JSON")


# One decoder for every body: json.loads with an argument builds a new decoder on each call.
_BODY_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def _build(
    *,
    body: Any,
    message_id: str,
    receipt_handle: str | None,
    attributes: Mapping[str, Any],
    attr_id: str | None,
    attr_type: str | None,
    raw: Mapping[str, Any],
    payloads: PayloadStore | None,
) -> Task:
    if not isinstance(body, str):
        raise MalformedMessage(f"body must be a string, got {type(body).__name__}", message_id)
    from .payloads import is_pointer  # local: payloads imports nothing heavy, but keeps task.py standalone

    if is_pointer(body):
        if payloads is None:
            raise MalformedMessage(
                "body is an S3 payload pointer but no S3 client is available to resolve it", message_id
            )
        try:
            body = payloads.resolve(body)
        except MalformedMessage as exc:
            raise MalformedMessage(exc.reason, message_id) from None

    group_id = attributes.get("MessageGroupId") or ""
    receive_count = _int(attributes.get("ApproximateReceiveCount"), 1)
    sent_at = _sent_at(attributes.get("SentTimestamp"))
    common: dict[str, Any] = dict(
        group_id=group_id,
        receive_count=receive_count,
        message_id=message_id,
        sent_at=sent_at,
        receipt_handle=receipt_handle,
        raw=raw,
    )

    try:
        parsed: Any = _BODY_DECODER.decode(body)
    except ValueError:
        parsed = body
        is_json = False
    else:
        is_json = True

    if is_json and isinstance(parsed, dict) and "v" in parsed and any(k in parsed for k in _ENVELOPE_KEYS):
        version = parsed["v"]
        if version != ENVELOPE_VERSION or isinstance(version, bool):
            raise MalformedMessage(
                f"unsupported envelope version {version!r}; this sqstask reads version {ENVELOPE_VERSION}",
                message_id,
            )
        task_id = parsed.get("id")
        task_type = parsed.get("type")
        if not isinstance(task_id, str) or not task_id:
            raise MalformedMessage("envelope has no task id ('id' must be a non-empty string)", message_id)
        if not isinstance(task_type, str) or not task_type:
            raise MalformedMessage("envelope has no task type ('type' must be a non-empty string)", message_id)
        return Task(
            task_id=task_id,
            task_type=task_type,
            payload=parsed.get("payload"),
            created_at=parse_timestamp(parsed.get("created_at")),
            enveloped=True,
            **common,
        )

    task_id = attr_id or attributes.get("MessageDeduplicationId") or message_id
    return Task(
        task_id=task_id,
        task_type=attr_type or DEFAULT_TASK_TYPE,
        payload=parsed,
        enveloped=False,
        **common,
    )


def task_from_message(message: Mapping[str, Any], *, payloads: PayloadStore | None = None) -> Task:
    """Decode an SQS ReceiveMessage message into a Task (resolving S3 pointers via ``payloads``)."""
    if not isinstance(message, Mapping):
        raise MalformedMessage(f"an SQS message must be a dict, got {type(message).__name__}")
    message_id = message.get("MessageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedMessage("SQS message has no MessageId")
    if "Body" not in message:
        raise MalformedMessage("SQS message has no Body", message_id)
    attrs = message.get("MessageAttributes") or {}
    return _build(
        body=message["Body"],
        message_id=message_id,
        receipt_handle=message.get("ReceiptHandle"),
        attributes=message.get("Attributes") or {},
        attr_id=_msg_attr(attrs, TASK_ID_ATTRIBUTE, "StringValue"),
        attr_type=_msg_attr(attrs, TASK_TYPE_ATTRIBUTE, "StringValue"),
        raw=message,
        payloads=payloads,
    )


def task_from_record(record: Mapping[str, Any], *, payloads: PayloadStore | None = None) -> Task:
    """Decode a Lambda SQS event record into a Task (resolving S3 pointers via ``payloads``)."""
    if not isinstance(record, Mapping):
        raise MalformedMessage(f"an SQS event record must be a dict, got {type(record).__name__}")
    message_id = record.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        raise MalformedMessage("SQS event record has no messageId")
    if "body" not in record:
        raise MalformedMessage("SQS event record has no body", message_id)
    attrs = record.get("messageAttributes") or {}
    return _build(
        body=record["body"],
        message_id=message_id,
        receipt_handle=record.get("receiptHandle"),
        attributes=record.get("attributes") or {},
        attr_id=_msg_attr(attrs, TASK_ID_ATTRIBUTE, "stringValue"),
        attr_type=_msg_attr(attrs, TASK_TYPE_ATTRIBUTE, "stringValue"),
        raw=record,
        payloads=payloads,
    )


def task_from_any(message_or_record: Mapping[str, Any], *, payloads: PayloadStore | None = None) -> Task:
    """Decode either shape: an SQS message (``Body``) or a Lambda record (``body``)."""
    if isinstance(message_or_record, Mapping) and "body" in message_or_record and "Body" not in message_or_record:
        return task_from_record(message_or_record, payloads=payloads)
    return task_from_message(message_or_record, payloads=payloads)

def message_size(body: str, attributes: Mapping[str, Mapping[str, Any]] | None = None) -> int:
    """Bytes SQS counts for a message: UTF-8 body plus each attribute's name, type and value."""
    size = len(body.encode("utf-8"))
    for name, attr in (attributes or {}).items():
        size += len(name.encode("utf-8")) + len(str(attr.get("DataType", "")).encode("utf-8"))
        if "StringValue" in attr:
            size += len(str(attr["StringValue"]).encode("utf-8"))
        if "BinaryValue" in attr:
            size += len(attr["BinaryValue"])
    return size
