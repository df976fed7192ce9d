"""Heartbeat: keep in-flight messages invisible while long work runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .audit import log_event, logger
from .config import MAX_VISIBILITY_TIMEOUT
from .queue import message_id_of, queue_url_of, receipt_handle_of, sqs_batch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .queue import TaskQueue

# Keep this much headroom below the 12-hour limit: the receive happened before we saw it.
_CAP_MARGIN = 30.0
# A transient failure is retried this soon (bounded by the interval).
_RETRY_SOON = 1.0
_JOIN_TIMEOUT = 30.0


@dataclass
class _Lease:
    message: Any
    receipt_handle: str
    deadline: float  # monotonic time after which visibility may not be extended further
    next_due: float


class Heartbeat:
    """Extends the visibility of every tracked message before it expires, on a background thread.

    ``messages`` are SQS message dicts (with ``ReceiptHandle``), Lambda records or Tasks.
    Every ``interval`` seconds (default a third of ``visibility_timeout``) each message's
    visibility is set to ``visibility_timeout`` seconds from now with
    ChangeMessageVisibilityBatch (10 per call), never past ``max_total`` seconds after the
    message was added (SQS allows 12 hours). A receipt handle SQS rejects is dropped and
    logged. ``on_extend(messages)`` is called after each round with the messages extended.
    Use it as a context manager, or call ``start()`` and ``stop()``.
    """

    def __init__(
        self,
        queue: TaskQueue,
        messages: Iterable[Any] = (),
        *,
        visibility_timeout: int,
        interval: float | None = None,
        max_total: float = MAX_VISIBILITY_TIMEOUT,
        on_extend: Callable[[list[Any]], None] | None = None,
        queue_url: str | None = None,
    ) -> None:
        if isinstance(visibility_timeout, bool) or not isinstance(visibility_timeout, int):
            raise ValueError(f"visibility_timeout must be whole seconds (int), got {visibility_timeout!r}")
        if not 1 <= visibility_timeout <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(
                f"visibility_timeout must be 1..{MAX_VISIBILITY_TIMEOUT} seconds, got {visibility_timeout}"
            )
        if interval is None:
            interval = visibility_timeout / 3
        if not 0 < interval < visibility_timeout:
            raise ValueError(
                f"interval must be above 0 and below visibility_timeout ({visibility_timeout} s) so messages are "
                f"extended before they expire, got {interval}"
            )
        if not 0 < max_total <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(
                f"max_total must be 1..{MAX_VISIBILITY_TIMEOUT} seconds (SQS's 12-hour limit), got {max_total}"
            )
        self.queue = queue
        self.queue_url = queue_url or queue.config.queue_url
        self.visibility_timeout = visibility_timeout
        self.interval = float(interval)
        self.max_total = float(max_total)
        self.on_extend = on_extend
        self._leases: dict[str, _Lease] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        for message in messages:
            self.add(message)

    # -- tracking -------------------------------------------------------------------------

    def add(self, message: Any) -> None:
        """Start keeping ``message`` invisible (its first extension is one interval from now)."""
        message_id = message_id_of(message)
        handle = receipt_handle_of(message)
        now = time.monotonic()
        cap_margin = min(_CAP_MARGIN, self.max_total / 10)
        with self._cond:
            self._leases[message_id] = _Lease(message, handle, now + self.max_total - cap_margin, now + self.interval)
            self._cond.notify_all()

    def remove(self, message: Any) -> None:
        """Stop extending ``message`` (e.g. it was deleted); unknown messages are ignored."""
        with self._cond:
            self._leases.pop(message_id_of(message), None)

    @property
    def messages(self) -> list[Any]:
        """The messages currently kept invisible."""
        with self._cond:
            return [lease.message for lease in self._leases.values()]

    def __len__(self) -> int:
        with self._cond:
            return len(self._leases)

    def __contains__(self, message: Any) -> bool:
        with self._cond:
            return message_id_of(message) in self._leases

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        """True while the background thread runs."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> Heartbeat:
        """Start the background thread (idempotent)."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return self
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="sqstask-heartbeat", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop extending and wait for the thread; messages keep their current visibility."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)
            if thread.is_alive():
                log_event(
                    "heartbeat-failed", error="heartbeat thread did not stop within 30 s (an SQS call is hanging)"
                )
        self._thread = None

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = time.monotonic()
                    due_at = min((lease.next_due for lease in self._leases.values()), default=None)
                    if due_at is not None and due_at <= now:
                        break
                    self._cond.wait(None if due_at is None else due_at - now)
                if self._stopping:
                    return
                now = time.monotonic()
                # Extend everything due within half an interval, to share calls.
                horizon = now + self.interval / 2
                due = [(mid, lease) for mid, lease in self._leases.items() if lease.next_due <= horizon]
            try:
                self._extend(due, now)
            except Exception as exc:  # never let the thread die silently
                logger.exception("heartbeat round failed")
                log_event("heartbeat-failed", error_type=type(exc).__name__, error=str(exc))
                with self._cond:
                    retry_at = time.monotonic() + min(_RETRY_SOON, self.interval / 2)
                    for _, lease in due:
                        lease.next_due = retry_at

    def _extend(self, due: list[tuple[str, _Lease]], now: float) -> None:
        entries: list[dict[str, Any]] = []
        ids: list[str] = []
        urls: list[str] = []  # the queue of each entry (a worker of several tiers holds messages of each)
        capped: list[str] = []
        for message_id, lease in due:
            timeout = min(self.visibility_timeout, int(lease.deadline - now))
            if timeout <= 0:
                capped.append(message_id)
                continue
            entries.append({"ReceiptHandle": lease.receipt_handle, "VisibilityTimeout": timeout})
            ids.append(message_id)
            urls.append(queue_url_of(lease.message, self.queue_url))
        if capped:
            with self._cond:
                for message_id in capped:
                    self._leases.pop(message_id, None)
            for message_id in capped:
                log_event(
                    "heartbeat-dropped",
                    message_id=message_id,
                    reason=(
                        f"visibility cannot be extended past {int(self.max_total)} s; the message becomes visible again"
                    ),
                )
        if not entries:
            return
        failures = []
        for url in dict.fromkeys(urls):
            picked = [n for n, u in enumerate(urls) if u == url]
            failures += sqs_batch(self.queue.sqs, "change_message_visibility_batch", url,
                                  [entries[n] for n in picked], [ids[n] for n in picked])
        failed_ids = {f.message_id for f in failures}
        retry_at = time.monotonic() + min(_RETRY_SOON, self.interval / 2)
        next_due = time.monotonic() + self.interval
        extended: list[Any] = []
        with self._cond:
            for f in failures:
                current = self._leases.get(f.message_id)
                if current is None:
                    continue
                if f.sender_fault:
                    # Deleted, expired or otherwise unknown to SQS: retrying cannot help.
                    self._leases.pop(f.message_id, None)
                else:
                    current.next_due = retry_at
            for message_id in ids:
                current = self._leases.get(message_id)
                if message_id not in failed_ids and current is not None:
                    current.next_due = next_due
                    extended.append(current.message)
        for f in failures:
            log_event(
                "heartbeat-dropped" if f.sender_fault else "heartbeat-failed",
                message_id=f.message_id,
                error_type=f.code,
                error=f.message,
                reason="SQS rejected the receipt handle; no longer extending it" if f.sender_fault else "will retry",
            )
        if extended:
            log_event("extended", count=len(extended), visibility_timeout=self.visibility_timeout)
            if self.on_extend is not None:
                try:
                    self.on_extend(extended)
                except Exception as exc:
                    logger.exception("heartbeat on_extend callback failed")
                    log_event("heartbeat-failed", error_type=type(exc).__name__, error=f"on_extend: {exc}")
