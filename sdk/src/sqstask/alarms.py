"""A team's CloudWatch alarms: which are firing, why, and since when."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .config import QueueConfig
    from .queue import TaskQueue

ALARM = "ALARM"
MISSING = "MISSING"
MAX_NAMES_PER_CALL = 100


@dataclass(frozen=True)
class AlarmState:
    """One alarm's current state."""

    name: str
    state: str
    reason: str
    since: datetime | None
    kind: str = "metric"
    metric: str | None = None

    @property
    def firing(self) -> bool:
        """True when the alarm is in ALARM."""
        return self.state == ALARM

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready view."""
        return {
            "name": self.name,
            "state": self.state,
            "reason": self.reason,
            "since": self.since,
            "kind": self.kind,
            "metric": self.metric,
        }


def default_prefix(config: QueueConfig) -> str:
    """The alarm name prefix of the team: ``<name>-`` (the alarms module names them so)."""
    name = config.name or config.queue_name
    if name.endswith(".fifo"):
        name = name[: -len(".fifo")]
    return f"{name}-"


def _state(raw: dict[str, Any], kind: str) -> AlarmState:
    metric = raw.get("MetricName")
    if not metric and raw.get("Metrics"):
        metric = ", ".join(m.get("MetricStat", {}).get("Metric", {}).get("MetricName") or m.get("Id", "?") for m in raw["Metrics"])
    return AlarmState(
        name=raw["AlarmName"],
        state=raw.get("StateValue", "?"),
        reason=raw.get("StateReason", ""),
        since=raw.get("StateUpdatedTimestamp"),
        kind=kind,
        metric=metric,
    )


def _describe(cloudwatch: Any, **kwargs: Any) -> list[AlarmState]:
    # Metric alarms only: the module creates no composite alarms, and returning composite alarms
    # needs cloudwatch:DescribeAlarms on "*" (DescribeAlarms API reference), while the operator
    # policy grants it on the team's alarm ARNs alone.
    found: list[AlarmState] = []
    paginator = cloudwatch.get_paginator("describe_alarms")
    for page in paginator.paginate(AlarmTypes=["MetricAlarm"], **kwargs):
        found.extend(_state(raw, "metric") for raw in page.get("MetricAlarms", []))
    return found


def describe_alarms(cloudwatch: Any, *, names: Sequence[str] = (), prefix: str | None = None) -> list[AlarmState]:
    """Metric alarms by exact ``names`` (a name CloudWatch does not know shows as MISSING) or by ``prefix``.

    Sorted: firing alarms first, then by name.
    """
    if names and prefix:
        raise ValueError("give alarm names or a prefix, not both")
    alarms: list[AlarmState] = []
    if names:
        wanted = list(dict.fromkeys(names))
        for start in range(0, len(wanted), MAX_NAMES_PER_CALL):
            alarms.extend(_describe(cloudwatch, AlarmNames=wanted[start : start + MAX_NAMES_PER_CALL]))
        known = {a.name for a in alarms}
        alarms.extend(
            AlarmState(name, MISSING, "no alarm with this name in CloudWatch (region or name wrong?)", None)
            for name in wanted
            if name not in known
        )
    else:
        alarms = _describe(cloudwatch, **({"AlarmNamePrefix": prefix} if prefix else {}))
    return sorted(alarms, key=lambda a: (not a.firing, a.name))


def team_alarms(queue: TaskQueue, *, prefix: str | None = None) -> tuple[list[AlarmState], str]:
    """The team's alarms and how they were chosen.

    An explicit ``prefix`` wins; else the config's ``alarm_names``; else the default prefix
    ``<name>-``.
    """
    if prefix is None and queue.config.alarm_names:
        names: Iterable[str] = queue.config.alarm_names
        return describe_alarms(queue.cloudwatch, names=list(names)), "alarm names from the configuration"
    chosen = prefix if prefix is not None else default_prefix(queue.config)
    return describe_alarms(queue.cloudwatch, prefix=chosen), f"alarms named {chosen}*"
