"""Run a Lambda SQS handler locally: poll the queue, invoke it with real-shaped events.

``LambdaLocal`` does what Lambda's event source mapping does with
``ReportBatchItemFailures``: receive a batch, invoke the handler with an SQS event, then delete
every message except the reported failures — or nothing when the handler raised or returned an
invalid response. Failed messages stay invisible until their visibility timeout ends, as on AWS.
"""

from __future__ import annotations

import base64
import logging
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .handler import AuditLog

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import TaskQueue

LambdaHandler = Callable[[Mapping[str, Any], Any], Any]


def queue_arn(queue_url: str, region: str | None) -> str:
    """The ARN of the queue at ``queue_url`` (``.../<account>/<name>``)."""
    parts = queue_url.rstrip("/").split("/")
    name = parts[-1]
    account = parts[-2] if len(parts) >= 2 and parts[-2].isdigit() else "000000000000"
    return f"arn:aws:sqs:{region or 'us-east-1'}:{account}:{name}"


def _lambda_attribute(attr: Mapping[str, Any]) -> dict[str, Any]:
    converted: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": attr.get("DataType", "String")}
    if "StringValue" in attr:
        converted["stringValue"] = attr["StringValue"]
    if "BinaryValue" in attr:
        value = attr["BinaryValue"]
        converted["binaryValue"] = base64.b64encode(value).decode("ascii") if isinstance(value, (bytes, bytearray)) else value
    return converted


def record_from_message(message: Mapping[str, Any], *, event_source_arn: str, region: str | None) -> dict[str, Any]:
    """The Lambda SQS event record for a received SQS message (as Lambda builds it)."""
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message.get("Body", ""),
        "attributes": dict(message.get("Attributes") or {}),
        "messageAttributes": {
            name: _lambda_attribute(attr) for name, attr in (message.get("MessageAttributes") or {}).items()
        },
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": event_source_arn,
        "awsRegion": region or "us-east-1",
    }
    if message.get("MD5OfMessageAttributes"):
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def event_from_messages(messages: Sequence[Mapping[str, Any]], *, event_source_arn: str, region: str | None) -> dict[str, Any]:
    """The Lambda SQS event ``{"Records": [...]}`` for received SQS messages."""
    return {"Records": [record_from_message(m, event_source_arn=event_source_arn, region=region) for m in messages]}


class LocalContext:
    """A Lambda context object whose remaining time counts down from ``timeout`` seconds."""

    def __init__(self, timeout: float, *, function_name: str = "sqstask-local", region: str | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._deadline = clock() + timeout
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region or 'us-east-1'}:000000000000:function:{function_name}"
        self.memory_limit_in_mb = 128
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before this invocation's timeout (never negative)."""
        return max(0, int((self._deadline - self._clock()) * 1000))


@dataclass
class Invocation:
    """One local invocation: what was received, reported failed, deleted, and why."""

    received: int
    failed_ids: list[str] = field(default_factory=list)
    deleted: int = 0
    error: str | None = None  # the handler raised or answered with an invalid response

    @property
    def ok(self) -> bool:
        """True when the invocation itself succeeded (individual records may still have failed)."""
        return self.error is None


def deletable(messages: Sequence[Mapping[str, Any]], response: Any) -> tuple[list[Mapping[str, Any]], list[str], str | None]:
    """What Lambda's event source mapping deletes after the handler answered ``response``.

    Returns ``(to_delete, failed_ids, error)``. A missing/empty response or empty
    ``batchItemFailures`` means all succeeded; an item identifier that is empty or not in
    the batch makes Lambda treat the whole batch as failed (delete nothing).
    """
    ids = [m["MessageId"] for m in messages]
    if response is None or (isinstance(response, Mapping) and not response.get("batchItemFailures")):
        return list(messages), [], None
    if not isinstance(response, Mapping) or not isinstance(response.get("batchItemFailures"), list):
        return [], ids, f"invalid handler response {str(response)[:200]!r}: the whole batch counts as failed"
    failed: list[str] = []
    for item in response["batchItemFailures"]:
        identifier = item.get("itemIdentifier") if isinstance(item, Mapping) else None
        if not isinstance(identifier, str) or identifier not in ids:
            return [], ids, f"batchItemFailures names {identifier!r}, not a message of this batch: the whole batch counts as failed"
        failed.append(identifier)
    failed_set = set(failed)
    return [m for m in messages if m["MessageId"] not in failed_set], [i for i in ids if i in failed_set], None


class LambdaLocal:
    """Polls ``queue`` and invokes a Lambda SQS ``handler`` like an event source mapping would.

    ``timeout`` is the simulated function timeout (the context's remaining time starts there);
    it defaults to a sixth of the queue's visibility timeout, as AWS recommends the visibility
    timeout be at least six times the function timeout.
    """

    def __init__(
        self,
        queue: TaskQueue,
        handler: LambdaHandler,
        *,
        batch_size: int = 10,
        timeout: float | None = None,
        wait_seconds: int = 20,
        idle_exit: float | None = None,
        function_name: str = "sqstask-local",
        logger: logging.Logger | None = None,
    ) -> None:
        if not 1 <= batch_size <= 10:
            raise ValueError(f"batch_size must be 1..10 for a FIFO queue, got {batch_size}")
        self.queue = queue
        self.handler = handler
        self.batch_size = batch_size
        self.timeout = float(timeout) if timeout else max(3.0, min(900.0, queue.config.visibility_timeout / 6))
        self.wait_seconds = wait_seconds
        self.idle_exit = idle_exit
        self.function_name = function_name
        self.log = AuditLog(logger)
        self.arn = queue.config.queue_arn or queue_arn(queue.config.queue_url, queue.config.region)
        self._stop = threading.Event()
        self._signals = 0
        self.invocations: list[Invocation] = []

    def stop(self) -> None:
        """Finish the current invocation, then return from ``run``."""
        self._stop.set()

    def invoke(self, messages: Sequence[Mapping[str, Any]]) -> Invocation:
        """Invoke the handler with these received messages, then delete what Lambda would delete."""
        region = self.queue.config.region
        event = event_from_messages(messages, event_source_arn=self.arn, region=region)
        context = LocalContext(self.timeout, function_name=self.function_name, region=region)
        invocation = Invocation(received=len(messages))
        try:
            response = self.handler(event, context)
        except Exception as exc:
            invocation.error = f"handler raised {type(exc).__name__}: {exc}"
            invocation.failed_ids = [m["MessageId"] for m in messages]
            self.log("invocation-failed", level=logging.ERROR, records=len(messages), reason=invocation.error,
                     error_type=type(exc).__name__, error=str(exc))
            return invocation
        to_delete, invocation.failed_ids, invocation.error = deletable(messages, response)
        if invocation.error:
            self.log("invocation-failed", level=logging.ERROR, records=len(messages), reason=invocation.error)
        if to_delete:
            not_deleted = set(self.queue.delete_many(to_delete))
            invocation.deleted = len(to_delete) - len(not_deleted)
        self._release_group_followers(messages, invocation.failed_ids)
        self.log("invoked", records=len(messages), failed=len(invocation.failed_ids), deleted=invocation.deleted)
        return invocation

    def _release_group_followers(self, messages: Sequence[Mapping[str, Any]], failed_ids: Sequence[str]) -> None:
        """Make later failed messages of each group visible now; the group's first failure stays invisible.

        On SQS this changes nothing observable: a FIFO group is held back while its first failed
        message is in flight, so the followers still come after it. It keeps that order on SQS
        emulators that re-deliver a group's messages in whatever order their timeouts expire.
        """
        failed = set(failed_ids)
        seen_groups: set[str] = set()
        followers = []
        for message in messages:
            if message["MessageId"] not in failed:
                continue
            group = (message.get("Attributes") or {}).get("MessageGroupId")
            if not group:
                continue
            if group in seen_groups:
                followers.append(message)
            seen_groups.add(group)
        if followers:
            self.queue.change_visibility_many(followers, 0)

    def run_once(self, wait_seconds: int | None = None) -> Invocation | None:
        """Receive one batch and invoke the handler with it; None when nothing arrived."""
        messages = self.queue.receive(
            max_messages=self.batch_size, wait_seconds=self.wait_seconds if wait_seconds is None else wait_seconds
        )
        if not messages:
            return None
        invocation = self.invoke(messages)
        self.invocations.append(invocation)
        return invocation

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Poll and invoke until ``stop()``, a signal, or ``idle_exit`` seconds without messages; returns 0."""
        previous = self._install_signals() if install_signal_handlers else {}
        self.log("lambda-local-started", queue_url=self.queue.config.queue_url, batch_size=self.batch_size,
                 timeout=self.timeout)
        last_message = time.monotonic()
        try:
            while not self._stop.is_set():
                wait = self.wait_seconds
                if self.idle_exit is not None:
                    left = self.idle_exit - (time.monotonic() - last_message)
                    if left <= 0:
                        self.log("lambda-local-idle", idle_seconds=self.idle_exit)
                        break
                    wait = max(0, min(wait, int(left) if left >= 1 else 1))
                if self.run_once(wait) is not None:
                    last_message = time.monotonic()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        self.log("lambda-local-stopped", invocations=len(self.invocations))
        return 0

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, _frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                raise SystemExit(128 + signum)
            self.log("shutdown-requested", signal=signal.Signals(signum).name,
                     reason="finishing the current batch; signal again to exit at once")
            self.stop()

        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, on_signal)
        return previous
