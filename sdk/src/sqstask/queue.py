"""TaskQueue: one team's FIFO task queue — send, receive, delete, change visibility."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlparse

from .audit import log_event
from .config import QueueConfig
from .exceptions import ConfigError, PayloadTooLarge, SendError, error_code
from .payloads import PayloadStore, is_pointer
from .priorities import PRIORITY_ATTRIBUTE, PriorityTiers
from .task import (
    Task,
    TaskSpec,
    deduplication_id,
    encode_envelope,
    message_size,
    task_attributes,
    task_from_any,
)

MAX_BATCH_ENTRIES = 10
# Per-entry failure codes worth retrying even when SQS marks them as the sender's fault.
RETRYABLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "RequestThrottled",
        "KMS.ThrottlingException",
        "KmsThrottled",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "RequestTimeout",
    }
)


@dataclass(frozen=True)
class SendResult:
    """One sent task: its id, the SQS message id and the FIFO sequence number."""

    task_id: str
    message_id: str
    sequence_number: str | None


@dataclass(frozen=True)
class BatchResult:
    """What ``send_many`` did: every task is either in ``sent`` or in ``failed`` with a reason."""

    sent: list[SendResult] = field(default_factory=list)
    failed: list[tuple[TaskSpec, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every task was sent."""
        return not self.failed


@dataclass(frozen=True)
class BatchFailure:
    """One entry a batch call (delete, change visibility) did not apply."""

    message_id: str
    code: str
    message: str
    sender_fault: bool


# Key under which a consumer of several priority tiers notes, in a received message dict, the
# queue it came from; deletes and visibility changes go back to that queue.
QUEUE_URL_KEY = "QueueUrl"


def queue_url_of(message: Any, default: str) -> str:
    """The queue a received message came from (noted under QUEUE_URL_KEY), else ``default``."""
    if isinstance(message, Mapping):
        return str(message.get(QUEUE_URL_KEY) or default)
    return default


def by_queue(messages: Iterable[Any], default: str) -> dict[str, list[Any]]:
    """Messages grouped by the queue they came from, in order."""
    groups: dict[str, list[Any]] = {}
    for message in messages:
        groups.setdefault(queue_url_of(message, default), []).append(message)
    return groups


def message_id_of(message: Any) -> str:
    """The message id of an SQS message dict, a Lambda record or a Task."""
    if isinstance(message, Task):
        return message.message_id
    if isinstance(message, Mapping):
        value = message.get("MessageId") or message.get("messageId")
        if isinstance(value, str) and value:
            return value
    raise TypeError(f"not an SQS message, Lambda SQS record or Task: {type(message).__name__}")


def receipt_handle_of(message: Any) -> str:
    """The receipt handle of an SQS message dict, a Lambda record or a Task."""
    value = message.receipt_handle if isinstance(message, Task) else None
    if isinstance(message, Mapping):
        value = message.get("ReceiptHandle") or message.get("receiptHandle")
    if not isinstance(value, str) or not value:
        raise TypeError(f"message {message_id_of(message)} has no receipt handle")
    return value






def failure_reason(code: str, message: str) -> str:
    """``Code: message`` for an entry a batch call did not apply, or the code alone without a message."""
    return f"{code}: {message}" if message else code


def _is_retryable_exception(exc: BaseException) -> bool:
    """Whether a botocore error that refused a whole call is worth another try: throttling,
    server errors and connection problems are."""
    code = error_code(exc)
    if code in RETRYABLE_CODES:
        return True
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return isinstance(status, int) and status >= 500
    # No response: the request never got an answer (botocore wraps urllib3's connection and
    # timeout errors in its own, e.g. EndpointConnectionError, ReadTimeoutError).
    return type(exc).__module__.startswith("botocore")


def _region_from_url(url: str | None) -> str | None:
    """``us-east-1`` from ``https://sqs.us-east-1.amazonaws.com/...`` (or the legacy
    ``us-east-1.queue.amazonaws.com``); None otherwise."""
    if not url:
        return None
    parts = (urlparse(url).hostname or "").split(".")
    if len(parts) >= 4 and parts[0] == "sqs" and parts[2].startswith("amazonaws"):
        return parts[1]
    if len(parts) >= 4 and parts[1] == "queue" and parts[2].startswith("amazonaws"):
        return parts[0]
    return None


def sqs_batch(
    client: Any, operation: str, queue_url: str, entries: Sequence[dict[str, Any]], ids: Sequence[str]
) -> list[BatchFailure]:
    """Run a ``*Batch`` SQS operation over ``entries`` in calls of 10; return the failures.

    ``ids`` are the message ids the entries belong to (reported in failures). A whole call
    that raises a botocore error fails all of its entries with that error's code.
    """
    failures: list[BatchFailure] = []
    call = getattr(client, operation)
    for start in range(0, len(entries), MAX_BATCH_ENTRIES):
        chunk = [dict(e, Id=str(i)) for i, e in enumerate(entries[start : start + MAX_BATCH_ENTRIES])]
        chunk_ids = ids[start : start + MAX_BATCH_ENTRIES]
        try:
            response = call(QueueUrl=queue_url, Entries=chunk)
        except Exception as exc:
            if not type(exc).__module__.startswith("botocore"):
                raise
            failures.extend(BatchFailure(mid, error_code(exc), str(exc), False) for mid in chunk_ids)
            continue
        for failed in response.get("Failed", []):
            index = int(failed["Id"])
            failures.append(
                BatchFailure(
                    chunk_ids[index],
                    str(failed.get("Code", "")),
                    str(failed.get("Message", "")),
                    bool(failed.get("SenderFault")),
                )
            )
    return failures


@dataclass
class _Pending:
    """One task of a ``send_many`` call on its way to SQS."""

    index: int
    spec: TaskSpec
    entry: dict[str, Any] | None
    size: int
    attempts: int = 0
    queue_url: str = ""  # the queue of the task's priority tier; a batch call goes to one queue


class TaskQueue:
    """One team's FIFO task queue and its companions (DLQ, task table, payload bucket).

    Clients are created lazily and once; injected clients win (so tests can count calls).
    """

    def __init__(
        self,
        *,
        queue_url: str | None = None,
        dlq_url: str | None = None,
        idempotency_table: str | None = None,
        payload_bucket: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        session: Any = None,
        sqs_client: Any = None,
        dynamodb_client: Any = None,
        s3_client: Any = None,
        visibility_timeout: int | None = None,
        max_message_size: int | None = None,
        max_attempts: int | None = None,
        config: QueueConfig | None = None,
        scheduler_client: Any = None,
        cloudwatch_client: Any = None,
        sleep: Callable[[float], None] = time.sleep,
        retry_base: float = 0.1,
        retry_cap: float = 5.0,
    ) -> None:
        overrides: dict[str, Any] = dict(
            queue_url=queue_url,
            dlq_url=dlq_url,
            idempotency_table=idempotency_table,
            payload_bucket=payload_bucket,
            region=region,
            endpoint_url=endpoint_url,
            visibility_timeout=visibility_timeout,
            max_message_size=max_message_size,
            max_attempts=max_attempts,
        )
        if config is None:
            if not queue_url:
                raise ConfigError("queue_url is required: pass TaskQueue(queue_url=...) or use TaskQueue.from_env()")
            config = QueueConfig(**{k: v for k, v in overrides.items() if v is not None})
        else:
            config = config.with_overrides(**overrides)
        if config.region is None:
            inferred = _region_from_url(config.queue_url)
            if inferred:
                config = config.with_overrides(region=inferred)
        self.config: QueueConfig = config
        self._session = session
        self._clients: dict[str, Any] = {
            name: client
            for name, client in (
                ("sqs", sqs_client),
                ("dynamodb", dynamodb_client),
                ("s3", s3_client),
                ("scheduler", scheduler_client),
                ("cloudwatch", cloudwatch_client),
            )
            if client is not None
        }
        self._lock = threading.Lock()
        self.sleep = sleep
        self.retry_base = retry_base
        self.retry_cap = retry_cap
        self._payloads = PayloadStore(lambda: self.s3, config.payload_bucket)
        self._tiers: PriorityTiers | None = None

    def __repr__(self) -> str:
        return f"TaskQueue(queue_url={self.config.queue_url!r})"

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> TaskQueue:
        """Build from ``SQSTASK_CONFIG`` / ``SQSTASK_*`` variables; keyword overrides win."""
        return cls(config=QueueConfig.from_env(environ), **overrides)

    @classmethod
    def from_config(cls, config: QueueConfig, **clients: Any) -> TaskQueue:
        """Build from a QueueConfig, optionally with injected clients or a session."""
        return cls(config=config, **clients)

    # -- clients --------------------------------------------------------------------------

    def _client(self, service: str) -> Any:
        client = self._clients.get(service)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                import boto3  # lazy: keeps `import sqstask` cheap

                from .clients import client_config

                if self._session is None:
                    self._session = boto3.session.Session()
                # A static user agent (and, for the task table, no client-side validation):
                # most of a small call's CPU is boto3's fixed work, see clients.py.
                client = self._session.client(
                    service,
                    region_name=self.config.region,
                    endpoint_url=self.config.endpoint_url,
                    config=client_config(service),
                )
                self._clients[service] = client
        return client

    @property
    def sqs(self) -> Any:
        """The SQS client."""
        return self._client("sqs")

    @property
    def dynamodb(self) -> Any:
        """The DynamoDB client (task table)."""
        return self._client("dynamodb")

    @property
    def s3(self) -> Any:
        """The S3 client (payload bucket)."""
        return self._client("s3")

    @property
    def scheduler(self) -> Any:
        """The EventBridge Scheduler client (delayed and scheduled sends)."""
        return self._client("scheduler")

    @property
    def cloudwatch(self) -> Any:
        """The CloudWatch client (alarms)."""
        return self._client("cloudwatch")

    @property
    def payloads(self) -> PayloadStore | None:
        """The large-payload store, or None when no payload bucket is configured."""
        return self._payloads if self.config.payload_bucket else None

    @property
    def tiers(self) -> PriorityTiers:
        """The queue's priority tiers, highest first (one tier when the module declares none)."""
        if self._tiers is None:
            self._tiers = self.config.tiers
        return self._tiers

    # -- sending --------------------------------------------------------------------------

    def queue_url_for(self, priority: str | int | None = None) -> str:
        """The queue URL of the tier ``priority`` selects (UnknownPriority for no such tier)."""
        return self.tiers.url(priority)

    def build_message(self, spec: TaskSpec, *, created_at: datetime | None = None) -> dict[str, Any]:
        """SendMessage arguments (without QueueUrl) for a validated spec, offloading a large body.

        Raises PayloadTooLarge when the message exceeds the queue's limit and no payload
        bucket is configured.
        """
        entry, size = self._prepare(spec, created_at)
        if size > self.config.max_message_size:
            entry = self._offload(entry)
        return entry

    def _prepare(self, spec: TaskSpec, created_at: datetime | None = None) -> tuple[dict[str, Any], int]:
        assert spec.task_id is not None
        body = encode_envelope(spec.task_id, spec.task_type, spec.payload, created_at)
        attributes = task_attributes(spec.task_id, spec.task_type)
        if self.tiers.tiered:
            # The tier travels with the task, so a dead letter can go back to its own tier.
            attributes[PRIORITY_ATTRIBUTE] = {"DataType": "String", "StringValue": self.tiers.resolve(spec.priority)}
        entry = {
            "MessageBody": body,
            "MessageGroupId": spec.group_id,
            "MessageDeduplicationId": deduplication_id(spec.task_id),
            "MessageAttributes": attributes,
        }
        size = message_size(body, attributes)
        if size > self.config.max_message_size and not self.config.payload_bucket:
            raise PayloadTooLarge(size, self.config.max_message_size)
        return entry, size

    def _offload(self, entry: dict[str, Any]) -> dict[str, Any]:
        pointer, extra = self._payloads.offload(entry["MessageBody"])
        return dict(entry, MessageBody=pointer, MessageAttributes={**entry["MessageAttributes"], **extra})

    def send(
        self,
        task_type: str,
        payload: Any,
        *,
        group_id: str,
        task_id: str | None = None,
        priority: str | int | None = None,
    ) -> SendResult:
        """Send one task; a resend with the same ``task_id`` is de-duplicated by SQS (5 minutes).

        ``priority``: a tier name, an integer 0-9 (higher = more urgent), or None for the
        default tier; UnknownPriority when it names no tier of this queue.
        """
        spec = TaskSpec(task_type, payload, group_id, task_id, priority).validated()
        queue_url = self.queue_url_for(spec.priority)
        entry = self.build_message(spec)
        response = self.sqs.send_message(QueueUrl=queue_url, **entry)
        result = SendResult(spec.task_id or "", response["MessageId"], response.get("SequenceNumber"))
        log_event(
            "sent",
            task_id=result.task_id,
            task_type=spec.task_type,
            group_id=spec.group_id,
            message_id=result.message_id,
            sequence_number=result.sequence_number,
            offloaded=True if is_pointer(entry["MessageBody"]) else None,
        )
        return result

    def send_many(
        self,
        tasks: Iterable[TaskSpec | Mapping[str, Any]],
        *,
        raise_on_failure: bool = False,
        max_attempts: int = 5,
    ) -> BatchResult:
        """Send tasks in SendMessageBatch calls (10 entries and the queue's size limit per call).

        Every task is validated first (InvalidTaskError / PayloadTooLarge before anything is
        sent). Order within a message group is never broken: a call carries at most one entry
        per group, and a group's next task is sent only after the one before it was accepted
        (many groups still fill whole calls; one group's tasks go one call each). Entries that
        fail retryably are retried up to ``max_attempts`` times with backoff and jitter; an
        entry that finally fails fails the later entries of its group with it ("not sent:
        earlier task ... failed"). With ``raise_on_failure`` a SendError lists the failures
        (``failed``) and what was sent (``sent``); otherwise they are in the BatchResult.
        """
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        specs = [TaskSpec.coerce(t).validated() for t in tasks]
        pending: list[_Pending] = []
        for index, spec in enumerate(specs):
            queue_url = self.queue_url_for(spec.priority)
            entry, size = self._prepare(spec)
            pending.append(_Pending(index, spec, entry, size, queue_url=queue_url))

        sent: dict[int, SendResult] = {}
        failed: dict[int, str] = {}
        groups: dict[str, deque[_Pending]] = {}  # in order of each group's first task
        for item in pending:
            groups.setdefault(item.spec.group_id, deque()).append(item)

        def fail_group(item: _Pending, reason: str) -> None:
            """Fail ``item`` and every later task of its group (they must not overtake it)."""
            failed[item.index] = reason
            log_event(
                "send-failed",
                task_id=item.spec.task_id,
                task_type=item.spec.task_type,
                group_id=item.spec.group_id,
                attempts=item.attempts,
                error=reason,
            )
            rest = groups.pop(item.spec.group_id)  # a failing task is its group's head, so the group is there
            for later in rest:
                if later is not item:
                    failed[later.index] = (
                        f"not sent: earlier task {item.spec.task_id} of group {item.spec.group_id} failed ({reason})"
                    )

        retries = 0
        while groups:
            heads: list[_Pending] = []
            for group, items in list(groups.items()):
                item = items[0]
                if item.size > self.config.max_message_size:
                    # Offload a large body just before its first send (S3 failure fails the group); the
                    # pointer that replaces it is small, so a retry does not offload it again.
                    try:
                        item.entry = self._offload(item.entry or {})
                    except Exception as exc:
                        if not type(exc).__module__.startswith("botocore"):
                            raise
                        fail_group(item, f"payload offload to S3 failed: {error_code(exc)}: {exc}")
                        continue
                    item.size = message_size(item.entry["MessageBody"], item.entry["MessageAttributes"])
                heads.append(item)
            retry_needed = False
            for chunk in self._chunks(heads):
                for item, ok, reason, retryable, response in self._send_chunk(chunk):
                    item.attempts += 1
                    group = item.spec.group_id
                    if ok:
                        sent[item.index] = response
                        groups[group].popleft()
                        if not groups[group]:
                            del groups[group]
                        log_event(
                            "sent",
                            task_id=item.spec.task_id,
                            task_type=item.spec.task_type,
                            group_id=group,
                            message_id=response.message_id,
                            sequence_number=response.sequence_number,
                        )
                    elif retryable and item.attempts < max_attempts:
                        retry_needed = True
                    else:
                        fail_group(item, reason if not retryable else f"{reason} (gave up after {item.attempts} attempts)")
            if retry_needed and groups:
                retries += 1
                self._backoff(retries)

        result = BatchResult(
            sent=[sent[i] for i in sorted(sent)],
            failed=[(specs[i], failed[i]) for i in sorted(failed)],
        )
        if raise_on_failure and result.failed:
            raise SendError(result.failed, sent=result.sent)
        return result

    def _chunks(self, items: list[_Pending]) -> list[list[_Pending]]:
        """``items`` (one per group) in SendMessageBatch calls: one priority tier's queue, 10 entries
        and the size limit per call."""
        chunks: list[list[_Pending]] = []
        chunk: list[_Pending] = []
        chunk_bytes = 0
        by_queue = {url: [i for i in items if i.queue_url == url] for url in dict.fromkeys(i.queue_url for i in items)}
        for item in (i for same in by_queue.values() for i in same):
            if chunk and (
                len(chunk) == MAX_BATCH_ENTRIES
                or chunk_bytes + item.size > self.config.max_message_size
                or item.queue_url != chunk[0].queue_url
            ):
                chunks.append(chunk)
                chunk, chunk_bytes = [], 0
            chunk.append(item)
            chunk_bytes += item.size
        if chunk:
            chunks.append(chunk)
        return chunks

    def _send_chunk(self, chunk: list[_Pending]) -> list[tuple[_Pending, bool, str, bool, Any]]:
        """One SendMessageBatch call: (item, ok, reason, retryable, SendResult) per entry."""
        entries = [dict(item.entry or {}, Id=str(n)) for n, item in enumerate(chunk)]
        try:
            response = self.sqs.send_message_batch(QueueUrl=chunk[0].queue_url, Entries=entries)
        except Exception as exc:
            if not type(exc).__module__.startswith("botocore"):
                raise
            reason = f"{error_code(exc)}: {exc}"
            retryable = _is_retryable_exception(exc)
            return [(item, False, reason, retryable, None) for item in chunk]
        outcomes: list[tuple[_Pending, bool, str, bool, Any]] = []
        by_id: dict[int, tuple[bool, str, bool, Any]] = {}
        for ok in response.get("Successful", []):
            n = int(ok["Id"])
            task_id = str(chunk[n].spec.task_id)  # validated: every spec has one
            by_id[n] = (True, "", False, SendResult(task_id, ok["MessageId"], ok.get("SequenceNumber")))
        for bad in response.get("Failed", []):
            n = int(bad["Id"])
            code = str(bad.get("Code", "Unknown"))
            retryable = not bad.get("SenderFault") or code in RETRYABLE_CODES
            by_id[n] = (False, failure_reason(code, str(bad.get("Message") or "")), retryable, None)
        for n, item in enumerate(chunk):
            ok_, reason, retryable, result = by_id.get(
                n, (False, "SQS reported neither success nor failure", True, None)
            )
            outcomes.append((item, ok_, reason, retryable, result))
        return outcomes

    def _backoff(self, retry: int) -> None:
        """Sleep before retry round ``retry`` (1-based): exponential, capped, with jitter (50-100%)."""
        ceiling = min(self.retry_cap, self.retry_base * (2 ** (retry - 1)))
        self.sleep(random.uniform(ceiling / 2, ceiling))

    # -- delayed sends (EventBridge Scheduler; implemented in sqstask.schedules) -----------

    def send_at(
        self, when: datetime, task_type: str, payload: Any, *, group_id: str, task_id: str | None = None, **options: Any
    ) -> Any:
        """Send the task at ``when`` via a one-time EventBridge Scheduler schedule."""
        from . import schedules

        return schedules.send_at(self, when, task_type, payload, group_id=group_id, task_id=task_id, **options)

    def send_after(
        self,
        delay: timedelta | float,
        task_type: str,
        payload: Any,
        *,
        group_id: str,
        task_id: str | None = None,
        **options: Any,
    ) -> Any:
        """Send the task after ``delay`` (a timedelta or seconds) via a one-time schedule."""
        from . import schedules

        return schedules.send_after(self, delay, task_type, payload, group_id=group_id, task_id=task_id, **options)

    # -- receiving ------------------------------------------------------------------------

    def receive(
        self,
        max_messages: int = 10,
        wait_seconds: int = 20,
        visibility_timeout: int | None = None,
        *,
        queue_url: str | None = None,
    ) -> list[dict[str, Any]]:
        """Long-poll up to ``max_messages`` raw SQS messages with all their attributes."""
        if not 1 <= max_messages <= 10:
            raise ValueError(f"max_messages must be 1..10, got {max_messages}")
        if not 0 <= wait_seconds <= 20:
            raise ValueError(f"wait_seconds must be 0..20, got {wait_seconds}")
        kwargs: dict[str, Any] = dict(
            QueueUrl=queue_url or self.config.queue_url,
            MaxNumberOfMessages=max_messages,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        if visibility_timeout is not None:
            kwargs["VisibilityTimeout"] = visibility_timeout
        response = self.sqs.receive_message(**kwargs)
        return list(response.get("Messages", []))

    def to_task(self, message_or_record: Mapping[str, Any]) -> Task:
        """Decode an SQS message (``Body``) or a Lambda record (``body``), resolving S3 pointers."""
        return task_from_any(message_or_record, payloads=self._payloads)

    def delete_many(self, messages: Iterable[Any], *, queue_url: str | None = None) -> list[str]:
        """Delete messages (DeleteMessageBatch, 10 per call); return the ids that were not deleted."""
        failures: list[BatchFailure] = []
        for url, items in by_queue(messages, queue_url or self.config.queue_url).items():
            entries = [{"ReceiptHandle": receipt_handle_of(m)} for m in items]
            ids = [message_id_of(m) for m in items]
            failures += sqs_batch(self.sqs, "delete_message_batch", queue_url or url, entries, ids)
        for f in failures:
            log_event("delete-failed", message_id=f.message_id, error_type=f.code, error=f.message)
        return [f.message_id for f in failures]

    def change_visibility_many(
        self, messages: Iterable[Any], timeout: int, *, queue_url: str | None = None
    ) -> list[str]:
        """Set the visibility timeout of messages (10 per call); return the ids that failed."""
        failures: list[BatchFailure] = []
        for url, items in by_queue(messages, queue_url or self.config.queue_url).items():
            entries = [{"ReceiptHandle": receipt_handle_of(m), "VisibilityTimeout": int(timeout)} for m in items]
            ids = [message_id_of(m) for m in items]
            failures += sqs_batch(self.sqs, "change_message_visibility_batch", queue_url or url, entries, ids)
        for f in failures:
            log_event("visibility-failed", message_id=f.message_id, error_type=f.code, error=f.message)
        return [f.message_id for f in failures]
