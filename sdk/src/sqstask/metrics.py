"""Task metrics as CloudWatch Embedded Metric Format (EMF) documents written to stdout.

CloudWatch Logs turns each EMF line of a Lambda function's or a container's log into metrics,
so task code needs no PutMetricData call and no permission for it. ``batch_handler`` writes
the documents of one batch when the batch ends; the ``Worker`` collects outcomes and writes
once per interval (``IntervalMetrics``). Never one document per task: one per task type seen
in the batch or interval (the task type is a dimension, and EMF documents carry one value per
dimension), plus, for a worker, one with its utilisation and tasks in flight.

Metrics (namespace from ``sdk_config``'s ``metrics_namespace``; dimension sets
``[Queue, TaskType]`` and ``[Queue]``, so alarms can read a whole queue without SEARCH):

- ``TasksSucceeded``, ``TasksFailed``, ``TasksDuplicate``, ``TasksMalformed``,
  ``TasksInProgress`` (Count, every one in every document, zeros included, so metric math
  over them never meets a missing term);
- ``TaskDuration`` (Milliseconds, the handler's run time) and ``TaskLatency`` (Milliseconds,
  from the envelope's ``created_at``, or SQS's SentTimestamp for plain bodies, to the finish of
  a succeeded task) as value arrays, so CloudWatch computes percentiles;
- ``ReceiveCount`` (Count, one value per task run);
- worker only, dimension ``[Queue]``: ``WorkerUtilization`` (Percent: thread-seconds busy over
  thread-seconds available in the interval) and ``TasksInFlight`` (Count: messages held).

``metrics: false`` in ``sdk_config`` (or ``SQSTASK_METRICS=off``) turns all of it off.
"""

from __future__ import annotations

import json
import logging
import math
import os
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .config import QueueConfig
    from .task import Task


class Outcome(Protocol):
    """What this module reads of a ``handler.Outcome`` (handler.py imports this module)."""

    status: str
    task: Task | None
    duration_ms: int | None

DEFAULT_NAMESPACE = "sqstask"
QUEUE_DIMENSION = "Queue"
TYPE_DIMENSION = "TaskType"
# The task type of a message that could not be read (malformed, or its payload unreachable).
UNREADABLE_TYPE = "(unreadable)"
MAX_VALUES = 100  # EMF: at most 100 values in one metric's array
DEFAULT_INTERVAL = 60.0  # seconds; CloudWatch's standard resolution is one minute

# Outcome status (handler.py) -> count metric. Statuses are spelled out here, not imported,
# so that handler.py can import this module.
COUNT_METRICS: dict[str, str] = {
    "succeeded": "TasksSucceeded",
    "failed": "TasksFailed",
    "duplicate": "TasksDuplicate",
    "malformed": "TasksMalformed",
    "in-progress": "TasksInProgress",
}
DURATION_METRIC = "TaskDuration"
LATENCY_METRIC = "TaskLatency"
RECEIVE_COUNT_METRIC = "ReceiveCount"
UTILIZATION_METRIC = "WorkerUtilization"
IN_FLIGHT_METRIC = "TasksInFlight"

_UNITS: dict[str, str] = {
    **{name: "Count" for name in COUNT_METRICS.values()},
    DURATION_METRIC: "Milliseconds",
    LATENCY_METRIC: "Milliseconds",
    RECEIVE_COUNT_METRIC: "Count",
    UTILIZATION_METRIC: "Percent",
    IN_FLIGHT_METRIC: "Count",
}
_VALUE_METRICS = (DURATION_METRIC, LATENCY_METRIC, RECEIVE_COUNT_METRIC)

_log = logging.getLogger("sqstask")


@dataclass
class _TypeStats:
    """What one task type did in a batch or interval."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(COUNT_METRICS.values(), 0))
    values: dict[str, list[float]] = field(default_factory=lambda: {name: [] for name in _VALUE_METRICS})


class MetricsBatch:
    """Outcomes by task type, collected until they are written (not thread-safe on its own)."""

    def __init__(self) -> None:
        self.types: dict[str, _TypeStats] = {}

    def __bool__(self) -> bool:
        return bool(self.types)

    def add(self, outcome: Outcome) -> None:
        """Count ``outcome`` and keep its duration, latency and receive count."""
        metric = COUNT_METRICS.get(outcome.status)
        if metric is None:
            return  # a status this module does not know: counted nowhere rather than wrongly
        task = outcome.task
        stats = self.types.setdefault(task.task_type if task is not None else UNREADABLE_TYPE, _TypeStats())
        stats.counts[metric] += 1
        if outcome.duration_ms is not None:
            stats.values[DURATION_METRIC].append(outcome.duration_ms)
        if task is None:
            return
        stats.values[RECEIVE_COUNT_METRIC].append(task.receive_count)
        if outcome.status == "succeeded":
            began = task.created_at or task.sent_at
            if began is not None:
                finished = getattr(outcome, "finished_at", None) or time.time()
                stats.values[LATENCY_METRIC].append(max(0, round((finished - began.timestamp()) * 1000)))


def _directive(namespace: str, dimensions: list[list[str]], names: Iterable[str]) -> dict[str, Any]:
    return {
        "Namespace": namespace,
        "Dimensions": dimensions,
        "Metrics": [{"Name": name, "Unit": _UNITS[name]} for name in names],
    }


class EmfWriter:
    """Builds EMF documents for one queue and writes them, one JSON line each, to ``stream``.

    ``stream`` defaults to ``sys.stdout`` as it is when writing (so redirected or captured
    output is honoured). A failed write is logged once and never raised: metrics must not fail
    a task.
    """

    def __init__(
        self,
        namespace: str,
        queue_name: str,
        *,
        stream: IO[str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.queue_name = queue_name
        self.stream = stream
        self.clock = clock
        self._lock = threading.Lock()
        self._warned = False

    @classmethod
    def from_config(cls, config: QueueConfig, **kwargs: Any) -> EmfWriter | None:
        """The writer ``config`` asks for, or None when its ``metrics`` setting is off."""
        if not config.metrics:
            return None
        return cls(config.metrics_namespace, config.queue_name, **kwargs)

    # -- documents ------------------------------------------------------------------------

    def batch_documents(self, batch: MetricsBatch) -> list[dict[str, Any]]:
        """One document per task type (more only when a type has over 100 values of a metric)."""
        stamp = int(self.clock() * 1000)
        documents = []
        dimensions = [[QUEUE_DIMENSION, TYPE_DIMENSION], [QUEUE_DIMENSION]]
        for task_type in sorted(batch.types):
            stats = batch.types[task_type]
            longest = max((len(v) for v in stats.values.values()), default=0)
            for chunk in range(max(1, math.ceil(longest / MAX_VALUES))):
                members: dict[str, Any] = dict(stats.counts) if chunk == 0 else {}
                for name, values in stats.values.items():
                    part = values[chunk * MAX_VALUES:(chunk + 1) * MAX_VALUES]
                    if part:
                        members[name] = part
                documents.append({
                    "_aws": {"Timestamp": stamp,
                             "CloudWatchMetrics": [_directive(self.namespace, dimensions, members)]},
                    QUEUE_DIMENSION: self.queue_name,
                    TYPE_DIMENSION: task_type,
                    **members,
                })
        return documents

    def worker_document(self, *, utilization: float, in_flight: int, worker: str) -> dict[str, Any]:
        """The worker's own document: utilisation (percent) and messages held, by queue."""
        members = {UTILIZATION_METRIC: round(utilization, 2), IN_FLIGHT_METRIC: in_flight}
        return {
            "_aws": {"Timestamp": int(self.clock() * 1000),
                     "CloudWatchMetrics": [_directive(self.namespace, [[QUEUE_DIMENSION]], members)]},
            QUEUE_DIMENSION: self.queue_name,
            "Worker": worker,  # not a dimension: says which process wrote the line
            **members,
        }

    # -- writing --------------------------------------------------------------------------

    def write(self, documents: Iterable[Mapping[str, Any]]) -> None:
        """Write each document as one line."""
        text = "".join(json.dumps(doc, separators=(",", ":")) + "\n" for doc in documents)
        if not text:
            return
        try:
            with self._lock:
                stream = self.stream or sys.stdout
                stream.write(text)
                stream.flush()
        except Exception as exc:  # a closed or full stdout must not fail tasks
            if not self._warned:
                self._warned = True
                _log.warning(json.dumps({"event": "metrics-failed", "error_type": type(exc).__name__,
                                         "error": str(exc)[:1000]}))

    def emit_batch(self, outcomes: Iterable[Outcome]) -> None:
        """Write the documents of one Lambda batch."""
        batch = MetricsBatch()
        for outcome in outcomes:
            batch.add(outcome)
        self.write(self.batch_documents(batch))


def worker_identity() -> str:
    """``host:pid`` of this process, to tell workers' metric lines apart in the logs."""
    return f"{socket.gethostname()}:{os.getpid()}"


class IntervalMetrics:
    """A worker's metrics: outcomes collected from any thread, written once per ``interval``.

    ``started()`` / ``finished()`` around each task give the busy thread-seconds, hence the
    utilisation over each interval; ``in_flight`` is called at each write. ``stop()`` writes
    what is left.
    """

    def __init__(
        self,
        writer: EmfWriter,
        *,
        concurrency: int,
        in_flight: Callable[[], int],
        interval: float = DEFAULT_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not interval > 0:
            raise ValueError(f"metrics interval must be more than 0 seconds, got {interval}")
        self.writer = writer
        self.concurrency = concurrency
        self.in_flight = in_flight
        self.interval = interval
        self.clock = clock
        self.identity = worker_identity()
        self._lock = threading.Lock()
        self._batch = MetricsBatch()
        self._busy = 0  # threads running a task now
        self._busy_seconds = 0.0  # thread-seconds busy since the interval began
        now = clock()
        self._since = now  # when the busy count last changed
        self._interval_start = now
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sqstask-metrics", daemon=True)

    def _advance(self, now: float) -> None:
        """Add the busy time since the last change (call with the lock held)."""
        self._busy_seconds += self._busy * (now - self._since)
        self._since = now

    def started(self) -> None:
        """A thread began a task."""
        with self._lock:
            self._advance(self.clock())
            self._busy += 1

    def finished(self) -> None:
        """A thread is done with its task."""
        with self._lock:
            self._advance(self.clock())
            self._busy = max(0, self._busy - 1)

    def record(self, outcome: Outcome) -> None:
        """Count one task's outcome."""
        with self._lock:
            self._batch.add(outcome)

    def flush(self) -> None:
        """Write the interval so far and start a new one."""
        with self._lock:
            now = self.clock()
            self._advance(now)
            elapsed = now - self._interval_start
            utilization = 100.0 * self._busy_seconds / (elapsed * self.concurrency) if elapsed > 0 else 0.0
            batch, self._batch = self._batch, MetricsBatch()
            self._busy_seconds = 0.0
            self._interval_start = now
        documents = self.writer.batch_documents(batch)
        documents.append(self.writer.worker_document(
            utilization=min(100.0, utilization), in_flight=self.in_flight(), worker=self.identity))
        self.writer.write(documents)

    def start(self) -> None:
        """Write every ``interval`` seconds on a thread until ``stop()``."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and write the last, partial interval."""
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join(10)
        self.flush()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            try:
                self.flush()
            except Exception as exc:  # keep the next intervals coming
                _log.warning(json.dumps({"event": "metrics-failed", "error_type": type(exc).__name__,
                                         "error": str(exc)[:1000]}))
