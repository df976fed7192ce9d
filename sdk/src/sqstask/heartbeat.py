"""Heartbeat: keep in-flight messages invisible while long work runs.

The window granted at each extension grows with the message's age (``extension_window``): a
message held for ``age`` seconds is made invisible for ``visibility_timeout + age`` more, up to
``max_window`` (default 15 minutes). So the time until it could reappear roughly doubles at
every extension, a task of length T costs O(log T) extensions (at most 10 per task-hour at the
defaults: 7 for an hour-long task at a 300 s timeout, against 35 with a fixed window), and a crashed consumer's
message still reappears within ``max_window``.
"""

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
_REMOVE_WAIT = 10.0  # longest remove() waits for an extension of the message under way
# The longest window one extension grants unless told otherwise: a crashed consumer's message
# reappears within this, and a task-hour costs at most 10 extensions at the defaults.
DEFAULT_MAX_WINDOW = 900


def extension_window(age: float, *, visibility_timeout: int, max_window: float = DEFAULT_MAX_WINDOW) -> int:
    """Seconds of invisibility to grant a message (or lease) held for ``age`` seconds.

    ``visibility_timeout + age``, at most ``max_window`` but never below ``visibility_timeout``
    (a ``max_window`` at or below it gives the fixed window: ``visibility_timeout`` every time).
    """
    return int(max(visibility_timeout, min(max_window, visibility_timeout + age)))


def next_extension_in(age: float, *, visibility_timeout: int, interval: float,
                      max_window: float = DEFAULT_MAX_WINDOW) -> float:
    """Seconds from an extension at ``age`` until the next one is due.

    The next extension comes when ``visibility_timeout - interval`` seconds of the granted window
    are left: the same headroom as the first extension, which comes ``interval`` seconds after the
    receive. With a fixed window this is simply ``interval``.
    """
    window = extension_window(age, visibility_timeout=visibility_timeout, max_window=max_window)
    return window - (visibility_timeout - interval)


def extension_ages(duration: float, *, visibility_timeout: int, interval: float | None = None,
                   max_window: float = DEFAULT_MAX_WINDOW) -> list[float]:
    """The ages at which a message held for ``duration`` seconds is extended (one entry each)."""
    step = visibility_timeout / 3 if interval is None else interval
    ages: list[float] = []
    age = step
    while age < duration:
        ages.append(age)
        age += next_extension_in(age, visibility_timeout=visibility_timeout, interval=step, max_window=max_window)
    return ages


@dataclass
class _Lease:
    message: Any
    receipt_handle: str
    deadline: float  # monotonic time after which visibility may not be extended further
    next_due: float
    added_at: float  # monotonic time the heartbeat took the message on: its age counts from here


class Heartbeat:
    """Extends the visibility of every tracked message before it expires, on a background thread.

    ``messages`` are SQS message dicts (with ``ReceiptHandle``), Lambda records or Tasks.
    Each message is first extended ``interval`` seconds after it was added (default a third of
    ``visibility_timeout``), with ChangeMessageVisibilityBatch (10 per call). Every extension
    sets its visibility to ``extension_window(age)`` from now: ``visibility_timeout + age``, at
    most ``max_window`` (default 900 s; ``max_window=visibility_timeout`` keeps the window fixed),
    and the next one comes when ``visibility_timeout - interval`` seconds of it are left. Never
    past ``max_total`` seconds after the message was added (SQS allows 12 hours). A receipt
    handle SQS rejects is dropped and logged. ``on_extend(messages)`` is called after each round
    with the messages extended.
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
        max_window: float = DEFAULT_MAX_WINDOW,
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
        if not 0 < max_window <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(
                f"max_window must be 1..{MAX_VISIBILITY_TIMEOUT} seconds (the longest one extension may grant; "
                f"at or below visibility_timeout the window stays fixed), got {max_window}"
            )
        self.queue = queue
        self.queue_url = queue_url or queue.config.queue_url
        self.visibility_timeout = visibility_timeout
        self.interval = float(interval)
        self.max_total = float(max_total)
        self.max_window = float(max_window)
        self.on_extend = on_extend
        self._leases: dict[str, _Lease] = {}
        self._extending: set[str] = set()  # message ids in the ChangeMessageVisibilityBatch under way
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
            self._leases[message_id] = _Lease(message, handle, now + self.max_total - cap_margin, now + self.interval,
                                              now)
            self._cond.notify_all()

    def remove(self, message: Any) -> None:
        """Stop extending ``message`` (e.g. it was deleted); unknown messages are ignored.

        Returns once no extension of it is under way (waiting at most ``_REMOVE_WAIT`` s), so a
        visibility change the caller sends next (e.g. 0 to release it) is not undone by a late
        extension.
        """
        message_id = message_id_of(message)
        deadline = time.monotonic() + _REMOVE_WAIT
        with self._cond:
            self._leases.pop(message_id, None)
            while message_id in self._extending and threading.current_thread() is not self._thread:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)

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
        """Start the background thread (idempotent).

        A thread that was asked to stop but has not exited yet (an SQS call hanging past
        ``stop()``'s wait) is kept running instead of starting a second one.
        """
        with self._cond:
            self._stopping = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqstask-heartbeat", daemon=True)
                self._thread.start()
            self._cond.notify_all()
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
                    self._thread = None  # under the lock: start() from now on starts a new thread
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
        granted: dict[str, int] = {}
        for message_id, lease in due:
            window = extension_window(now - lease.added_at, visibility_timeout=self.visibility_timeout,
                                      max_window=self.max_window)
            timeout = min(window, int(lease.deadline - now))
            if timeout <= 0:
                capped.append(message_id)
                continue
            granted[message_id] = timeout
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
        with self._cond:
            # A message removed since the round began is not extended; the rest are marked so
            # remove() waits for this call instead of racing it.
            kept = [(e, m, u) for e, m, u in zip(entries, ids, urls) if m in self._leases]
            entries = [entry for entry, _, _ in kept]
            ids = [message_id for _, message_id, _ in kept]
            urls = [url for _, _, url in kept]
            self._extending.update(ids)
        if not entries:
            return
        failures = []
        try:
            for url in dict.fromkeys(urls):
                picked = [n for n, u in enumerate(urls) if u == url]
                failures += sqs_batch(self.queue.sqs, "change_message_visibility_batch", url,
                                      [entries[n] for n in picked], [ids[n] for n in picked])
        finally:
            with self._cond:
                self._extending.difference_update(ids)
                self._cond.notify_all()
        failed_ids = {f.message_id for f in failures}
        retry_at = time.monotonic() + min(_RETRY_SOON, self.interval / 2)
        headroom = self.visibility_timeout - self.interval  # what is left of a window when it is renewed
        extended: list[Any] = []
        reported: list[Any] = []  # failures of messages still tracked (a removed one was deleted meanwhile)
        with self._cond:
            for f in failures:
                current = self._leases.get(f.message_id)
                if current is None:
                    continue
                reported.append(f)
                if f.sender_fault:
                    # Deleted, expired or otherwise unknown to SQS: retrying cannot help.
                    del self._leases[f.message_id]  # still tracked: read just above, under the same lock
                else:
                    current.next_due = retry_at
            for message_id in ids:
                current = self._leases.get(message_id)
                if message_id not in failed_ids and current is not None:
                    # Near the max_total cap the window shrinks: keep at least an interval between rounds.
                    current.next_due = now + max(self.interval, granted[message_id] - headroom)
                    extended.append(current.message)
        for f in reported:
            log_event(
                "heartbeat-dropped" if f.sender_fault else "heartbeat-failed",
                message_id=f.message_id,
                error_type=f.code,
                error=f.message,
                reason="SQS rejected the receipt handle; no longer extending it" if f.sender_fault else "will retry",
            )
        if extended:
            log_event("extended", count=len(extended), visibility_timeout=max(granted.values()))
            if self.on_extend is not None:
                try:
                    self.on_extend(extended)
                except Exception as exc:
                    logger.exception("heartbeat on_extend callback failed")
                    log_event("heartbeat-failed", error_type=type(exc).__name__, error=f"on_extend: {exc}")
