"""Worker: the long-poll consumer for ECS, EC2 or a laptop, running the same handler as Lambda.

One receive loop (long polling) feeds a pool of threads. It receives only once a whole batch
of 10 fits among the free slots (running plus prefetched messages), so each ReceiveMessage can
return a full batch; a thread left with nothing to run gets a receive of what fits at once.
Tasks of one message group run in order, one at a time; different groups run in parallel. One
Heartbeat keeps every held message invisible; a LeaseKeeper renews the idempotency lease of every
running task on its own thread, so a lease holds even while SQS refuses to extend visibility. Successes are deleted in full batches of 10; a partial batch goes
out once its oldest message has waited ``ack_interval`` (kept well inside the visibility
timeout) or when the worker runs out of work, and the heartbeat covers each message until its
delete is sent. Failures are retried later by setting the message's visibility timeout from an
exponential backoff over the task's attempts (handler runs in the task table, not receives:
group-mates handed back unrun do not count); after ``max_attempts`` the SDK moves the task to
the DLQ and its group goes on.

Priority tiers (the module's ``priorities``): each receive round asks the tiers highest first
(short polls, then a long poll on the highest when all were empty) and takes the first tier
that has messages; threads start held tasks of higher tiers first. A starvation guard gives
the lower tiers at least ``lower_tier_share`` of the receive rounds (and of task starts) while
higher tiers are busy: each round adds the share to a credit, and a round with a whole credit
starts at the next lower tier in turn. Order holds per message group within a tier.

Shutdown (SIGTERM/SIGINT or ``stop()``): stop receiving, let running tasks finish until the
deadline, make every unfinished message visible again at once. ``run()`` returns 0 when every
task it started finished, ``EXIT_ABANDONED`` (1) when tasks were still running at the deadline and
were given back for redelivery, so a supervisor can tell a clean drain from a cut-off one. A
second signal exits immediately; the acknowledgements queued so far are still sent and held
messages released on the way out.
"""

from __future__ import annotations

import logging
import math
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .backoff import MAX_VISIBILITY_TIMEOUT, Backoff
from .exceptions import ConfigError
from .handler import (
    BATCH_MODE,
    FAILED,
    IN_PROGRESS,
    AuditLog,
    Handle,
    Outcome,
    TaskRunner,
    idempotency_mode,
    refuse_batch_mode_unless_fifo,
)
from .heartbeat import DEFAULT_MAX_WINDOW, Heartbeat, extension_window, next_extension_in
from .leases import LeaseKeeper
from .metrics import DEFAULT_INTERVAL, EmfWriter, IntervalMetrics
from .queue import QUEUE_URL_KEY, by_queue, sqs_batch

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .batch_idempotency import BatchRecorder, Finished
    from .queue import TaskQueue
    from .task import Task

_ACK_BATCH = 10  # DeleteMessageBatch / ChangeMessageVisibilityBatch entries per call
# Threads waiting on the worker's condition wake at least this often (every change notifies them).
_WAKE_INTERVAL = 0.5
_ACKER_JOIN_TIMEOUT = 30.0  # stop() waits this long for a hanging acknowledgement call, then sends the rest itself
_RECEIVE_BATCH = 10  # ReceiveMessage's MaxNumberOfMessages limit
EXIT_ABANDONED = 1  # run(): tasks were still running at the shutdown deadline
# With wait_seconds=0 an empty receive returns at once: pause before the next one, doubling from
# the first pause up to the cap, so an idle worker does not spin on ReceiveMessage.
_EMPTY_RECEIVE_PAUSE = 0.05
_EMPTY_RECEIVE_PAUSE_CAP = 2.0


def receive_error_pause(errors_in_a_row: int) -> float:
    """Seconds to pause after ``errors_in_a_row`` failed receives: 1, 2, 4, 8, then 16 each."""
    return 2.0 ** min(errors_in_a_row, 5) / 2


def empty_receive_pause(empty_in_a_row: int, wait_seconds: int) -> float:
    """Seconds to pause after ``empty_in_a_row`` empty receives (0 when long polling already waited)."""
    if wait_seconds > 0 or empty_in_a_row <= 0:
        return 0.0
    return min(_EMPTY_RECEIVE_PAUSE_CAP, _EMPTY_RECEIVE_PAUSE * 2 ** (empty_in_a_row - 1))


@dataclass
class _Held:
    """A received message this worker is responsible for until it is deleted or released."""

    message: dict[str, Any]
    group: str
    started: bool = False
    # batch mode: the task parsed at receive (or why not) and its stored record, read per receive
    parsed: Task | Outcome | None = None
    prior: Mapping[str, Any] | None = None
    rank: int = 0  # priority tier: 0 is the highest

    @property
    def message_id(self) -> str:
        return self.message["MessageId"]


@dataclass
class WorkerStats:
    """Counts of what a worker did, by outcome."""

    received: int = 0
    succeeded: int = 0
    duplicates: int = 0
    failed: int = 0
    dead_lettered: int = 0
    released: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    receive_calls: int = 0  # ReceiveMessage requests, empty ones included
    by_priority: dict[str, int] = field(default_factory=dict)  # messages received per tier


class _Acker:
    """Batches DeleteMessage and ChangeMessageVisibility requests on a thread.

    Full batches of 10 go out at once; a partial batch waits until its oldest entry has
    waited ``deadline`` seconds, or until ``flush()`` (drain, shutdown, an idle worker).
    A message queued for deletion is removed from ``heartbeat`` only just before its delete
    is sent, so it stays invisible however long it waits.
    """

    def __init__(self, queue: TaskQueue, deadline: float, heartbeat: Heartbeat | None = None,
                 log: AuditLog | None = None) -> None:
        self.queue = queue
        self.deadline = deadline
        self.heartbeat = heartbeat
        self.log = log or AuditLog()
        self._deletes: deque[tuple[float, dict[str, Any]]] = deque()
        self._changes: deque[tuple[float, dict[str, Any], int]] = deque()
        self._cond = threading.Condition()
        self._urgent = False
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="sqstask-acker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def delete(self, message: dict[str, Any]) -> None:
        with self._cond:
            self._deletes.append((time.monotonic(), message))
            self._cond.notify_all()

    def change_visibility(self, message: dict[str, Any], timeout: int) -> None:
        with self._cond:
            self._changes.append((time.monotonic(), message, timeout))
            self._cond.notify_all()

    def flush_soon(self) -> None:
        """Let the thread send everything queued now, partial batches included."""
        with self._cond:
            if self._deletes or self._changes:
                self._urgent = True
                self._cond.notify_all()

    def flush(self) -> None:
        """Send everything queued so far (from any thread)."""
        with self._cond:
            deletes = [m for _, m in self._deletes]
            changes = [(m, t) for _, m, t in self._changes]
            self._deletes.clear()
            self._changes.clear()
        self._send(deletes, changes)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(_ACKER_JOIN_TIMEOUT)
        self.flush()

    def _take_due(self, now: float) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], int]]]:
        """Full batches, plus the partial rest when its oldest entry is due (call with the lock held)."""
        urgent, self._urgent = self._urgent, False
        deletes = [message for _, message in self._due(self._deletes, now, urgent)]
        changes = [(message, timeout) for _, message, timeout in self._due(self._changes, now, urgent)]
        return deletes, changes

    def _due(self, pending: deque[Any], now: float, urgent: bool) -> list[Any]:
        """Pop the full batches of ``pending``; the partial rest too when urgent or its oldest entry is due."""
        full = len(pending) // _ACK_BATCH * _ACK_BATCH
        rest_due = len(pending) > full and (urgent or now >= pending[full][0] + self.deadline)
        return [pending.popleft() for _ in range(len(pending) if rest_due else full)]

    def _next_due(self) -> float | None:
        oldest = [q[0][0] for q in (self._deletes, self._changes) if q]
        return min(oldest) + self.deadline if oldest else None

    def _send(self, deletes: list[dict[str, Any]], changes: list[tuple[dict[str, Any], int]]) -> None:
        if deletes:
            if self.heartbeat is not None:
                for message in deletes:
                    self.heartbeat.remove(message)
            self.queue.delete_many(deletes)
        if changes:
            timeouts = {m["MessageId"]: t for m, t in changes}
            for url, messages in by_queue([m for m, _ in changes], self.queue.config.queue_url).items():
                entries = [{"ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": int(timeouts[m["MessageId"]])}
                           for m in messages]
                ids = [m["MessageId"] for m in messages]
                for failure in sqs_batch(self.queue.sqs, "change_message_visibility_batch", url, entries, ids):
                    self.log("visibility-failed", message_id=failure.message_id, error_type=failure.code,
                             error=failure.message)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return  # stop() flushes the rest
                    now = time.monotonic()
                    deletes, changes = self._take_due(now)
                    if deletes or changes:
                        break
                    due_at = self._next_due()
                    self._cond.wait(None if due_at is None else max(0.0, due_at - now))
            try:
                self._send(deletes, changes)
            except Exception as exc:  # keep acking; the messages reappear after their timeout
                self.log("ack-failed", level=logging.ERROR, error_type=type(exc).__name__, error=str(exc))


class Worker:
    """Long-poll consumer: ``Worker(queue, handle, concurrency=N).run()``.

    ``handle`` is ``def handle(task) -> object`` (a ``batch_handler``-wrapped function works
    too). Options: ``visibility_timeout`` (default the queue's), ``wait_seconds`` (long poll,
    20), ``backoff`` (retry spacing), ``shutdown_timeout`` (seconds running tasks get to finish
    after a stop request), ``prefetch`` (messages held beyond the running ones, default
    ``concurrency`` but at least 10, so a full receive batch always fits), ``idle_exit`` (return
    after this many seconds without messages), ``ack_interval`` (longest a finished message waits
    for a full DeleteMessageBatch, default 1 s, never more than a quarter of the visibility
    timeout), ``metrics_interval`` (seconds between EMF metric writes, default 60; the
    queue config's ``metrics`` setting turns them off), ``idempotency``/``table``/``fifo``/
    ``max_attempts`` as in ``batch_handler``, ``lease_schedule`` (seconds between lease renewals
    as a function of a task's age; default the heartbeat's schedule: each renewal grants the same
    growing window as the heartbeat, so a long task's lease costs O(log T) renewals). With priority
    tiers: ``priorities`` (the tiers to serve, default all, polled highest first) and
    ``lower_tier_share`` (0 to 1, default 0.1: the least share of receive rounds and task starts
    the lower tiers get while higher tiers are busy; 0 serves strictly by priority).
    ``heartbeat`` (default True) keeps held messages invisible, granting
    windows that grow with a task's age up to ``heartbeat_max_window`` seconds (default 900; a
    crashed worker's tasks reappear within it). ``idempotency="batch"`` reads the records of each
    receive with one BatchGetItem and writes them in BatchWriteItems of up to 25 (at most
    ``ack_interval`` late); it needs the heartbeat and a FIFO queue, since it takes no lease (see
    ``sqstask.batch_idempotency``).
    """

    def __init__(
        self,
        queue: TaskQueue,
        handle: Handle,
        *,
        concurrency: int = 4,
        idempotency: bool | str = True,
        table: str | None = None,
        fifo: bool = True,
        visibility_timeout: int | None = None,
        wait_seconds: int = 20,
        backoff: Backoff | None = None,
        shutdown_timeout: float = 30.0,
        heartbeat_interval: float | None = None,
        heartbeat: bool = True,
        heartbeat_max_window: float = DEFAULT_MAX_WINDOW,
        prefetch: int | None = None,
        idle_exit: float | None = None,
        max_receive_count: int | None = None,
        ack_interval: float = 1.0,
        metrics_interval: float = DEFAULT_INTERVAL,
        logger: logging.Logger | None = None,
        max_attempts: int | None = None,
        lease_schedule: Callable[[float], float] | None = None,
        priorities: list[str] | tuple[str, ...] | None = None,
        lower_tier_share: float = 0.1,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if not 0 <= wait_seconds <= 20:
            raise ValueError(f"wait_seconds must be 0..20 (SQS long polling), got {wait_seconds}")
        visibility = int(visibility_timeout if visibility_timeout is not None else queue.config.visibility_timeout)
        if not 1 <= visibility <= MAX_VISIBILITY_TIMEOUT:
            raise ValueError(f"visibility_timeout must be 1..{MAX_VISIBILITY_TIMEOUT} seconds, got {visibility}")
        if not ack_interval >= 0:
            raise ValueError(f"ack_interval must be 0 or more seconds, got {ack_interval}")
        if idempotency_mode(idempotency) == BATCH_MODE:
            refuse_batch_mode_unless_fifo(queue, fifo, "Worker")
            if not heartbeat:
                raise ConfigError(
                    "idempotency='batch' needs the Worker's heartbeat (heartbeat=True): batch mode takes no lease, "
                    "so a task that outlived its visibility timeout could run on another consumer at the same time"
                )
        if not 0 <= lower_tier_share <= 1:
            raise ValueError(f"lower_tier_share must be 0..1, got {lower_tier_share}")
        tiers = queue.tiers
        served = [tiers.resolve(p) for p in priorities] if priorities else list(tiers.names)
        # (tier, queue URL), highest first; a worker of one tier polls exactly as without tiers.
        self.tiers: list[tuple[str, str]] = [(t, url) for t, url in tiers.ordered() if t in served]
        self.lower_tier_share = lower_tier_share
        self._receive_credit = 0.0
        self._start_credit = 0.0
        self._next_lower = 1
        self.queue = queue
        self.handle = getattr(handle, "handle", handle)  # a batch_handler exposes the plain function
        self.concurrency = concurrency
        self.fifo = fifo
        self.visibility_timeout = visibility
        self.wait_seconds = wait_seconds
        self.backoff = backoff or Backoff()
        self.shutdown_timeout = shutdown_timeout
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_enabled = heartbeat
        self.heartbeat_max_window = heartbeat_max_window
        self.max_held = concurrency + (max(concurrency, _RECEIVE_BATCH) if prefetch is None else max(0, prefetch))
        self.receive_batch = min(_RECEIVE_BATCH, self.max_held)
        self.idle_exit = idle_exit
        self.ack_interval = ack_interval
        # A retried message is off the heartbeat while its visibility change waits, and must not
        # become visible before the change is sent: stay within what one heartbeat leaves.
        beat = heartbeat_interval if heartbeat_interval is not None else visibility / 3
        self.ack_deadline = max(0.0, min(ack_interval, visibility / 4, (visibility - beat) / 2))
        self.runner = TaskRunner(queue, self.handle, idempotency=idempotency, table=table, logger=logger,
                                 max_receive_count=max_receive_count, max_attempts=max_attempts)
        self.lease_schedule = lease_schedule
        self.log = self.runner.log
        self.stats = WorkerStats()
        writer = EmfWriter.from_config(queue.config)
        self.metrics = None if writer is None else IntervalMetrics(
            writer, concurrency=concurrency, interval=metrics_interval, in_flight=lambda: len(self._held))

        self._cond = threading.Condition()
        self._held: dict[str, _Held] = {}
        self._groups: dict[str, deque[_Held]] = {}
        self._ready: deque[str] = deque()
        self._active: set[str] = set()
        self._running = 0
        self._stop = threading.Event()
        self._stop_deadline: float | None = None
        self._signals = 0
        self._heartbeat: Heartbeat | None = None
        self._acker: _Acker | None = None
        self._leases: LeaseKeeper | None = None
        self._recorder: BatchRecorder | None = None
        self._empty_receives = 0
        self._threads: list[threading.Thread] = []
        self._abandoned = 0  # tasks still running at the shutdown deadline

    # -- control --------------------------------------------------------------------------

    def stop(self, timeout: float | None = None) -> None:
        """Ask the worker to drain and return: running tasks get ``timeout`` (default shutdown_timeout)."""
        with self._cond:
            if self._stop_deadline is None:
                self._stop_deadline = time.monotonic() + (self.shutdown_timeout if timeout is None else timeout)
            self._stop.set()
            self._cond.notify_all()

    @property
    def stopping(self) -> bool:
        """True once a stop was requested."""
        return self._stop.is_set()

    def run(self, *, install_signal_handlers: bool = True) -> int:
        """Receive and run tasks until stopped (signal, ``stop()`` or ``idle_exit``); returns 0.

        Shutdown always runs, also when the loop is aborted (a second signal, an error):
        queued acknowledgements are sent, the heartbeat and lease threads stop, and held
        messages are made visible again.
        """
        previous = self._install_signals() if install_signal_handlers else {}
        try:
            if self.heartbeat_enabled:
                self._heartbeat = Heartbeat(self.queue, visibility_timeout=self.visibility_timeout,
                                            interval=self.heartbeat_interval, max_window=self.heartbeat_max_window)
            self._acker = _Acker(self.queue, self.ack_deadline, self._heartbeat, self.log)
            store = self.runner.store
            if store is not None:
                self._leases = LeaseKeeper(store, lease_seconds=self.visibility_timeout,
                                           schedule=self.lease_schedule or self._lease_interval,
                                           window=self._lease_window).start()
            if self._heartbeat is not None:
                self._heartbeat.start()
            self._acker.start()
            if self.runner.mode == BATCH_MODE:
                from .batch_idempotency import BatchRecorder

                self._recorder = BatchRecorder(self.runner.record_batch, self._recorded, self.ack_deadline)
                self._recorder.start()
            if self.metrics is not None:
                self.metrics.start()
            self._threads = [
                threading.Thread(target=self._work, name=f"sqstask-worker-{n}", daemon=True)
                for n in range(self.concurrency)
            ]
            for thread in self._threads:
                thread.start()
            self.log("worker-started", queue_url=self.queue.config.queue_url, concurrency=self.concurrency,
                     visibility_timeout=self.visibility_timeout)
            self._receive_loop()
            self._drain()
        finally:
            try:
                self.stop(0)  # an aborted loop: no thread starts another task
                self._shutdown()
            finally:
                for signum, handler in previous.items():
                    signal.signal(signum, handler)
        return EXIT_ABANDONED if self._abandoned else 0

    # -- receiving ------------------------------------------------------------------------

    def _receive_loop(self) -> None:
        last_activity = time.monotonic()
        errors = 0
        while not self._stop.is_set():
            with self._cond:
                while not self._stop.is_set() and not (wanted := self._receive_size()):
                    self._cond.wait(_WAKE_INTERVAL)
                if self._held:
                    last_activity = time.monotonic()
                idle_for = time.monotonic() - last_activity
            if self._stop.is_set():
                break
            wait = self.wait_seconds
            if self.idle_exit is not None:
                if idle_for >= self.idle_exit:
                    self.log("worker-idle", idle_seconds=self.idle_exit)
                    self.stop()
                    break
                wait = max(0, min(wait, math.ceil(self.idle_exit - idle_for)))
            try:
                messages = self._receive(wanted, wait)
                errors = 0
            except Exception as exc:
                errors += 1
                pause = receive_error_pause(errors)
                self.log("receive-failed", level=logging.ERROR, error_type=type(exc).__name__, error=str(exc),
                         retry_in_s=pause)
                self._stop.wait(pause)
                continue
            if not messages:
                self._empty_receives += 1
                self._stop.wait(empty_receive_pause(self._empty_receives, wait))
                continue
            self._empty_receives = 0
            last_activity = time.monotonic()
            if self._stop.is_set():  # received while the stop was requested: give them back now
                self._release(messages, "worker is shutting down")
                break
            self._dispatch(messages)

    def _receive(self, wanted: int, wait: int) -> list[dict[str, Any]]:
        """One receive round: one long poll, or with tiers the highest tier that has messages."""
        if len(self.tiers) == 1:
            url = self.tiers[0][1]
            self.stats.receive_calls += 1
            messages = self.queue.receive(max_messages=wanted, wait_seconds=wait,
                                          visibility_timeout=self.visibility_timeout, queue_url=url)
            if url != self.queue.config.queue_url:  # one tier, not the default one: ack there
                for message in messages:
                    message[QUEUE_URL_KEY] = url
            return messages
        polls = [(tier, url, 0) for tier, url in self._poll_order()]
        polls.append((*self.tiers[0], wait))  # all empty: wait for urgent work first
        for tier, url, seconds in polls:
            if self._stop.is_set():
                return []
            self.stats.receive_calls += 1
            messages = self.queue.receive(max_messages=wanted, wait_seconds=seconds,
                                          visibility_timeout=self.visibility_timeout, queue_url=url)
            if messages:
                for message in messages:
                    message[QUEUE_URL_KEY] = url
                self.stats.by_priority[tier] = self.stats.by_priority.get(tier, 0) + len(messages)
                return messages
        return []

    def _poll_order(self) -> list[tuple[str, str]]:
        """Tiers to ask this round, highest first; on the starvation guard's turn a lower tier first."""
        self._receive_credit += self.lower_tier_share
        if self._receive_credit < 1:
            return list(self.tiers)
        self._receive_credit -= 1
        first = self._next_lower
        self._next_lower = first + 1 if first + 1 < len(self.tiers) else 1
        return [self.tiers[first]] + [t for n, t in enumerate(self.tiers) if n != first]

    def _receive_size(self) -> int:
        """Messages to ask for now, 0 to keep waiting (call with ``_cond`` held).

        A full batch once it fits; less only when a thread has nothing to run (nothing held,
        or every held message waits behind a running task of its group).
        """
        free = self.max_held - len(self._held)
        if free >= self.receive_batch:
            return min(_RECEIVE_BATCH, free)
        if free > 0 and self._running < self.concurrency and not self._ready:
            return free
        return 0

    def _dispatch(self, messages: list[dict[str, Any]]) -> None:
        looked_up = self._look_up(messages) if self.runner.mode == BATCH_MODE else None
        ranks = {url: rank for rank, (_, url) in enumerate(self.tiers)}
        with self._cond:
            for message in messages:
                group = (message.get("Attributes") or {}).get("MessageGroupId")
                rank = ranks.get(message.get(QUEUE_URL_KEY, ""), 0)
                if self.fifo and group:
                    # Order holds per group within a tier: the same group id in two tiers is two groups.
                    key = f"group:{self.tiers[rank][0]}/{group}" if len(self.tiers) > 1 else f"group:{group}"
                else:
                    key = f"message:{message['MessageId']}"
                held = _Held(message, key, rank=rank)
                if looked_up is not None:
                    held.parsed, held.prior = looked_up[held.message_id]
                self._held[held.message_id] = held
                if self._heartbeat is not None:
                    self._heartbeat.add(message)
                self._groups.setdefault(key, deque()).append(held)
                if key not in self._active and key not in self._ready:
                    self._ready.append(key)
                self.stats.received += 1
            self._cond.notify_all()

    # -- running --------------------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready and not self._stop.is_set():
                    self._cond.wait(_WAKE_INTERVAL)
                if self._stop.is_set():
                    return  # draining: running tasks finish in their own threads, nothing new starts
                key = self._next_ready()
                held = self._groups[key].popleft()
                self._active.add(key)
                held.started = True
                self._running += 1
            if self.metrics is not None:
                self.metrics.started()
            try:
                self._process(held)
            except BaseException as exc:  # a bug here must not kill the pool silently
                self.log("failed", level=logging.ERROR, message_id=held.message_id, reason="worker error",
                         error_type=type(exc).__name__, error=str(exc))
                self._retry_later(held, Outcome(FAILED))  # the line above says why
            finally:
                if self.metrics is not None:
                    self.metrics.finished()
                with self._cond:
                    self._running -= 1
                    self._active.discard(key)
                    if self._groups.get(key):
                        self._ready.append(key)
                    elif key in self._groups:
                        del self._groups[key]
                    idle = not self._held
                    out_of_work = self._running == 0 and not self._ready
                    self._cond.notify_all()
                if idle:  # out of work: batching would only delay the acknowledgements
                    self._acker.flush_soon()
                if out_of_work and self._recorder is not None:
                    self._recorder.flush_soon()

    def _next_ready(self) -> str:
        """Pop the group to run next (call with ``_cond`` held): the highest tier's oldest ready
        group; on the starvation guard's turn the oldest ready group of any tier."""
        if len(self.tiers) == 1:
            return self._ready.popleft()
        self._start_credit += self.lower_tier_share
        if self._start_credit >= 1:
            self._start_credit -= 1
            return self._ready.popleft()
        best = min(range(len(self._ready)), key=lambda n: (self._groups[self._ready[n]][0].rank, n))
        key = self._ready[best]
        del self._ready[best]
        return key

    def _process(self, held: _Held) -> None:
        if self.runner.mode == BATCH_MODE:
            self._process_batched(held)
            return
        parsed = self.runner.parse(held.message)
        if isinstance(parsed, Outcome):
            outcome = parsed
        else:
            outcome = self.runner.run(parsed, lease_seconds=self.visibility_timeout, leases=self._leases)
        self._settle(held, outcome)

    def _settle(self, held: _Held, outcome: Outcome) -> None:
        """Count ``outcome``; delete its message when done with it, else hand it back for a retry."""
        self._count(outcome)
        if outcome.ok:
            self._finish(held, heartbeat=False)  # the acker takes it off the heartbeat when it deletes it
            self._acker.delete(held.message)
        else:
            self._retry_later(held, outcome)

    # -- leases follow the heartbeat's growing window --------------------------------------

    def _lease_window(self, age: float) -> float:
        return extension_window(age, visibility_timeout=self.visibility_timeout, max_window=self.heartbeat_max_window)

    def _lease_interval(self, age: float) -> float:
        return next_extension_in(age, visibility_timeout=self.visibility_timeout,
                                 interval=self.visibility_timeout / 3, max_window=self.heartbeat_max_window)

    # -- batch mode -------------------------------------------------------------------------

    def _look_up(self, messages: list[dict[str, Any]]) -> dict[str, tuple[Task | Outcome, Mapping[str, Any] | None]]:
        """Parse a receive's messages and read their tasks' records with one BatchGetItem."""
        parsed = {m["MessageId"]: self.runner.parse(m) for m in messages}
        task_ids = [p.task_id for p in parsed.values() if not isinstance(p, Outcome)]
        priors: Mapping[str, Any] = {}
        if task_ids:
            try:
                priors = self.runner.batch_store.lookup(task_ids)
            except Exception as exc:  # run nothing of this receive; the messages are retried later
                self.log("failed", level=logging.ERROR, reason=f"task table unavailable: {type(exc).__name__}: {exc}",
                         records=len(task_ids), error_type=type(exc).__name__, error=str(exc)[:1000])
                # each task failed unrun: counted (and its metrics written) under its own task type
                return {mid: (p if isinstance(p, Outcome) else Outcome(FAILED, p), None) for mid, p in parsed.items()}
        return {mid: (p, None if isinstance(p, Outcome) else priors.get(p.task_id)) for mid, p in parsed.items()}

    def _process_batched(self, held: _Held) -> None:
        """Run a held task against its looked-up record; a run is acknowledged once it is recorded."""
        if isinstance(held.parsed, Outcome):
            outcome, finished = held.parsed, None  # malformed (moved to the DLQ: ok) or the lookup failed
        else:
            outcome, finished = self.runner.run_known(held.parsed, held.prior)
        if finished is not None:
            self._recorder.add(finished, (held, outcome))
            return
        self._settle(held, outcome)

    def _recorded(self, items: list[tuple[Finished, Any]], unwritten: set[str]) -> None:
        """After a BatchWriteItem: delete the recorded successes, retry the rest later."""
        for entry, (held, outcome) in items:
            if entry.succeeded and entry.task.task_id in unwritten:  # the runner logged why
                outcome = Outcome(FAILED, entry.task)
            self._settle(held, outcome)
        with self._cond:
            idle = not self._held
        if idle:
            self._acker.flush_soon()

    def _count(self, outcome: Outcome) -> None:
        if self.metrics is not None:
            self.metrics.record(outcome)
        with self._cond:
            self.stats.by_status[outcome.status] = self.stats.by_status.get(outcome.status, 0) + 1
            if outcome.status == "succeeded":
                self.stats.succeeded += 1
            elif outcome.status == "duplicate":
                self.stats.duplicates += 1
            else:
                self.stats.failed += 1
            if outcome.dead_lettered:
                self.stats.dead_lettered += 1

    def _finish(self, held: _Held, *, heartbeat: bool = True) -> None:
        """Forget ``held``: no more lease renewals, nor heartbeats unless ``heartbeat`` is False."""
        if heartbeat and self._heartbeat is not None:
            self._heartbeat.remove(held.message)
        with self._cond:
            self._held.pop(held.message_id, None)
            self._cond.notify_all()

    def retry_delay(self, held_message: Mapping[str, Any], outcome: Outcome) -> int:
        """Visibility timeout for a message whose task did not succeed.

        Backoff over the task's attempts (handler runs); a failure before any run (task table
        or S3 unavailable) backs off over the message's receives instead.
        """
        if outcome.status == IN_PROGRESS and outcome.retry_after is not None:
            return min(MAX_VISIBILITY_TIMEOUT, max(1, math.ceil(outcome.retry_after) + 1))
        attempt = outcome.attempts or _receive_count(held_message)
        return self.backoff.delay(attempt)

    def _retry_later(self, held: _Held, outcome: Outcome) -> None:
        delay = self.retry_delay(held.message, outcome)
        self._finish(held)
        self._acker.change_visibility(held.message, delay)
        self.log("retry-scheduled", message_id=held.message_id, attempt=outcome.attempts,
                 receive_count=_receive_count(held.message), visibility_timeout=delay, reason=outcome.status)
        if self.fifo and held.group.startswith("group:"):
            with self._cond:
                rest = list(self._groups.get(held.group, ()))
                if rest:
                    self._groups[held.group].clear()
            if rest:
                # Visible at once: SQS still holds them back until the failed one is received again.
                self._release([h.message for h in rest], f"an earlier task of group {held.group[6:]} failed")

    # -- shutting down --------------------------------------------------------------------

    def _release(self, messages: list[dict[str, Any]], reason: str) -> None:
        """Make ``messages`` visible again at once (and forget them)."""
        if not messages:
            return
        for message in messages:
            if self._heartbeat is not None:
                self._heartbeat.remove(message)
            with self._cond:
                self._held.pop(message["MessageId"], None)
                self.stats.released += 1
                self._cond.notify_all()
            self.log("released", message_id=message["MessageId"],
                     group_id=(message.get("Attributes") or {}).get("MessageGroupId"), reason=reason)
        self.queue.change_visibility_many(messages, 0)

    def _drain(self) -> None:
        """Wait for running tasks until the stop deadline."""
        with self._cond:
            unstarted = [h.message for h in self._held.values() if not h.started]
            for key in list(self._groups):
                self._groups[key].clear()
            self._ready.clear()
        self.log("worker-stopping", running=self._running, unstarted=len(unstarted))
        self._release(unstarted, "worker is shutting down; not started")
        with self._cond:
            while self._running and time.monotonic() < (self._stop_deadline or 0):
                self._cond.wait(min(_WAKE_INTERVAL, max(0.01, (self._stop_deadline or 0) - time.monotonic())))

    def _shutdown(self) -> None:
        """Write pending records, send queued acks, stop the heartbeat, leases and metrics, release what is held.

        Each step runs even when an earlier one fails, so held messages are always released.
        """
        steps = (
            # pending records first: writing them queues the deletes of the tasks they record
            self._recorder.stop if self._recorder is not None else None,
            self._acker.stop if self._acker is not None else None,
            self._heartbeat.stop if self._heartbeat is not None else None,
            self._leases.stop if self._leases is not None else None,
            self.metrics.stop if self.metrics is not None else None,  # writes the last interval
            self._release_leftover,
        )
        for step in steps:
            if step is None:
                continue
            try:
                step()
            except Exception as exc:  # the step is named after its method, e.g. "Heartbeat.stop"
                self.log("shutdown-failed", level=logging.ERROR, step=step.__qualname__, error_type=type(exc).__name__,
                         error=str(exc))
        self.log("worker-stopped", received=self.stats.received, succeeded=self.stats.succeeded,
                 duplicates=self.stats.duplicates, failed=self.stats.failed,
                 dead_lettered=self.stats.dead_lettered, released=self.stats.released)

    def _release_leftover(self) -> None:
        """Make whatever is still held visible again at once; count it as abandoned."""
        with self._cond:
            leftover = [h.message for h in self._held.values()]
        self._abandoned = len(leftover)
        self._release(leftover, "still running at the shutdown deadline")

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def on_signal(signum: int, _frame: Any) -> None:
            self._signals += 1
            if self._signals > 1:
                self.log("worker-aborted", level=logging.WARNING, signal=signal.Signals(signum).name)
                raise SystemExit(128 + signum)
            self.log("shutdown-requested", signal=signal.Signals(signum).name, shutdown_timeout=self.shutdown_timeout,
                     reason="finishing running tasks; signal again to exit at once")
            self.stop()

        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, on_signal)
        return previous


def _receive_count(message: Mapping[str, Any]) -> int:
    """The message's ApproximateReceiveCount; 1 (a first receive) when it is missing or unreadable."""
    try:
        return int((message.get("Attributes") or {})["ApproximateReceiveCount"])
    except (KeyError, TypeError, ValueError):
        return 1
