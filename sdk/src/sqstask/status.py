"""Queue status (depth, in flight, delayed, oldest message, DLQ depth, the last hour's task
metrics) and one task's lifecycle."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from .exceptions import ConfigError, SqstaskError, error_code

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .dlq import QueueDepth
    from .queue import TaskQueue

AGE_METRIC = "ApproximateAgeOfOldestMessage"
AGE_LOOKBACK = timedelta(minutes=15)
TASK_METRICS_LOOKBACK = timedelta(hours=1)

# The order `sqstask status TASK_ID` shows a record's fields in (others follow, sorted).
LIFECYCLE_FIELDS = (
    "task_id",
    "status",
    "task_type",
    "group_id",
    "attempt",
    "first_received_at",
    "started_at",
    "finished_at",
    "duration_ms",
    "owner",
    "lease_expires_at",
    "error_type",
    "error",
    "result",
    "payload_hash",
    "message_id",
    "receive_count",
    "expires_at",
)
EPOCH_FIELDS = ("lease_expires_at", "expires_at")


class TaskNotFound(SqstaskError):
    """The task table has no record of the task."""


@dataclass(frozen=True)
class OldestAge:
    """The age of the oldest message, as CloudWatch last reported it (``seconds`` None: unknown)."""

    seconds: float | None
    note: str


def _queue_fields(queue_name: str, depth: QueueDepth, oldest: OldestAge) -> dict[str, Any]:
    """One queue's depth and oldest message, as the JSON views of the queue and of each tier show them."""
    return {
        "queue": queue_name,
        "visible": depth.visible,
        "in_flight": depth.in_flight,
        "delayed": depth.delayed,
        "oldest_message_age_seconds": oldest.seconds,
        "oldest_message_age_note": oldest.note,
    }


@dataclass(frozen=True)
class TierStatus:
    """Depth and oldest message of one priority tier's queue."""

    priority: str
    queue_name: str
    depth: QueueDepth
    oldest: OldestAge

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {"priority": self.priority, **_queue_fields(self.queue_name, self.depth, self.oldest)}

    def row(self) -> dict[str, Any]:
        """The row ``sqstask status`` prints for this tier."""
        oldest = f"{int(self.oldest.seconds)} s" if self.oldest.seconds is not None else self.oldest.note
        return {**self.to_dict(), "oldest": oldest}


@dataclass(frozen=True)
class TaskActivity:
    """The last hour of the SDK's task metrics (sqstask.metrics); counts None when unknown."""

    succeeded: int | None
    failed: int | None
    malformed: int | None
    p99_latency_ms: float | None
    note: str

    @property
    def tasks(self) -> int | None:
        """Tasks run: succeeded, failed or malformed."""
        if self.succeeded is None:
            return None
        return self.succeeded + (self.failed or 0) + (self.malformed or 0)

    @property
    def failure_rate(self) -> float | None:
        """Percent of the tasks run that failed or were malformed (None without tasks)."""
        tasks = self.tasks
        if not tasks:
            return None
        return 100.0 * ((self.failed or 0) + (self.malformed or 0)) / tasks


@dataclass(frozen=True)
class QueueStatus:
    """A snapshot of one team's queue and its DLQ (and, with priority tiers, of each tier)."""

    queue_name: str
    depth: QueueDepth
    oldest: OldestAge
    dlq_name: str | None
    dlq_depth: QueueDepth | None
    activity: TaskActivity | None = None
    tiers: tuple[TierStatus, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            **_queue_fields(self.queue_name, self.depth, self.oldest),
            "dlq": self.dlq_name,
            "dlq_visible": self.dlq_depth.visible if self.dlq_depth else None,
            "dlq_in_flight": self.dlq_depth.in_flight if self.dlq_depth else None,
            "last_hour_tasks": self.activity.tasks if self.activity else None,
            "last_hour_succeeded": self.activity.succeeded if self.activity else None,
            "last_hour_failed": self.activity.failed if self.activity else None,
            "last_hour_malformed": self.activity.malformed if self.activity else None,
            "last_hour_failure_rate_percent": self.activity.failure_rate if self.activity else None,
            "last_hour_p99_latency_ms": self.activity.p99_latency_ms if self.activity else None,
            "last_hour_note": self.activity.note if self.activity else None,
            **({"priorities": [tier.to_dict() for tier in self.tiers]} if self.tiers else {}),
        }


def oldest_message_age(cloudwatch: Any, queue_name: str, *, now: datetime | None = None) -> OldestAge:
    """The latest ApproximateAgeOfOldestMessage datapoint of the last 15 minutes, if any."""
    now = now or datetime.now(timezone.utc)
    try:
        response = cloudwatch.get_metric_statistics(
            Namespace="AWS/SQS",
            MetricName=AGE_METRIC,
            Dimensions=[{"Name": "QueueName", "Value": queue_name}],
            StartTime=now - AGE_LOOKBACK,
            EndTime=now,
            Period=60,
            Statistics=["Maximum"],
        )
    except Exception as exc:
        if not type(exc).__module__.startswith("botocore"):
            raise
        return OldestAge(None, f"unknown (CloudWatch: {error_code(exc)})")
    points = [p for p in response.get("Datapoints", []) if "Maximum" in p]
    if not points:
        return OldestAge(None, "unknown (no CloudWatch datapoint in the last 15 minutes)")
    latest = max(points, key=lambda p: p["Timestamp"])
    stamp = latest["Timestamp"]
    when = stamp.astimezone(timezone.utc).strftime("%H:%M:%SZ") if isinstance(stamp, datetime) else str(stamp)
    return OldestAge(float(latest["Maximum"]), f"CloudWatch, minute of {when}")


# GetMetricData query id -> (metric, statistic) of the queue-level ([Queue]) task metrics.
_ACTIVITY_QUERIES = {
    "succeeded": ("TasksSucceeded", "Sum"),
    "failed": ("TasksFailed", "Sum"),
    "malformed": ("TasksMalformed", "Sum"),
    "latency": ("TaskLatency", "p99"),
}


def task_activity(cloudwatch: Any, namespace: str, queue_name: str, *, now: datetime | None = None) -> TaskActivity:
    """Tasks succeeded, failed and malformed and the p99 end-to-end latency of the last hour.

    One GetMetricData call (the operator policy grants cloudwatch:GetMetricData for it); the
    metrics are those the SDK writes as EMF, by the Queue dimension.
    """
    now = (now or datetime.now(timezone.utc)).replace(second=0, microsecond=0)
    period = int(TASK_METRICS_LOOKBACK.total_seconds())
    queries = [
        {
            "Id": query_id,
            "MetricStat": {
                "Metric": {"Namespace": namespace, "MetricName": metric,
                           "Dimensions": [{"Name": "Queue", "Value": queue_name}]},
                "Period": period,
                "Stat": stat,
            },
            "ReturnData": True,
        }
        for query_id, (metric, stat) in _ACTIVITY_QUERIES.items()
    ]
    try:
        response = cloudwatch.get_metric_data(
            MetricDataQueries=queries, StartTime=now - TASK_METRICS_LOOKBACK, EndTime=now
        )
    except Exception as exc:
        if not type(exc).__module__.startswith("botocore"):
            raise
        return TaskActivity(None, None, None, None, f"unknown (CloudWatch: {error_code(exc)})")
    values: dict[str, list[float]] = {
        result["Id"]: [v for v in result.get("Values", []) if v is not None]
        for result in response.get("MetricDataResults", [])
    }
    if not any(values.get(query_id) for query_id in ("succeeded", "failed", "malformed")):
        return TaskActivity(
            None, None, None, None,
            f"no task metrics in {namespace} for the last hour (no task ran, the SDK's metrics are off, "
            "or its consumers' logs do not reach CloudWatch Logs)",
        )
    counts = {query_id: int(sum(values.get(query_id, []))) for query_id in ("succeeded", "failed", "malformed")}
    latency = max(values["latency"]) if values.get("latency") else None
    return TaskActivity(counts["succeeded"], counts["failed"], counts["malformed"], latency,
                        f"CloudWatch {namespace}, last hour")


def queue_status(queue: TaskQueue, *, now: datetime | None = None) -> QueueStatus:
    """Counts of the queue and its DLQ, and the oldest message age from CloudWatch."""
    from .dlq import DeadLetterQueue, queue_depth

    depth = queue_depth(queue.sqs, queue.config.queue_url)
    oldest = oldest_message_age(queue.cloudwatch, queue.config.queue_name, now=now)
    dlq = DeadLetterQueue(queue)
    try:
        dlq_name, dlq_depth = dlq.name, dlq.depth()
    except ConfigError:
        dlq_name, dlq_depth = None, None
    tiers: list[TierStatus] = []
    if queue.tiers.tiered:
        # The default tier's queue is queue_url, already read above.
        for tier, url in queue.tiers.ordered():
            name = url.rstrip("/").rsplit("/", 1)[-1]
            if url == queue.config.queue_url:
                tiers.append(TierStatus(tier, name, depth, oldest))
            else:
                tiers.append(TierStatus(tier, name, queue_depth(queue.sqs, url),
                                        oldest_message_age(queue.cloudwatch, name, now=now)))
    config = queue.config
    activity = (
        task_activity(queue.cloudwatch, config.metrics_namespace, config.queue_name, now=now)
        if config.metrics
        else TaskActivity(None, None, None, None, "task metrics are off (metrics: false in the config)")
    )
    return QueueStatus(config.queue_name, depth, oldest, dlq_name, dlq_depth, activity, tuple(tiers))


def task_record(queue: TaskQueue, task_id: str) -> dict[str, Any]:
    """The task table record of ``task_id``; raises TaskNotFound, ConfigError (no table) or ValueError."""
    table = queue.config.idempotency_table
    if not table:
        raise ConfigError(
            "idempotency_table is not configured (SQSTASK_IDEMPOTENCY_TABLE, or the module's sdk_config): "
            "task status lives in the task table"
        )
    from .idempotency import TaskStore

    record = TaskStore(queue.dynamodb, table).get(task_id)
    if record is None:
        raise TaskNotFound(
            f"task {task_id} has no record in {table}: it has not started yet, never existed, "
            "or its record expired (look for it with `sqstask dlq show`)"
        )
    return record


def lifecycle(record: Mapping[str, Any], *, clock: Callable[[], float] = time.time) -> list[tuple[str, Any]]:
    """A record's fields in lifecycle order, epoch fields as datetimes, the lease as live/expired."""
    now = clock()
    ordered = [k for k in LIFECYCLE_FIELDS if k in record] + sorted(k for k in record if k not in LIFECYCLE_FIELDS)
    rows: list[tuple[str, Any]] = []
    for key in ordered:
        value = record[key]
        if key in EPOCH_FIELDS and isinstance(value, (int, float)):
            when = datetime.fromtimestamp(value, tz=timezone.utc)
            if key == "lease_expires_at":
                state = "live" if value > now else "expired"
                value = f"{when.strftime('%Y-%m-%d %H:%M:%SZ')} ({state})"
            else:
                value = when
        rows.append((key, value))
    return rows
