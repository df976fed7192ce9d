"""Audit log: one structured JSON line per task state change, via the ``sqstask`` logger."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .task import Task

LOGGER_NAME = "sqstask"
logger = logging.getLogger(LOGGER_NAME)
logger.addHandler(logging.NullHandler())

# Events that mean something went wrong are logged at WARNING, the rest at INFO.
WARNING_EVENTS = frozenset(
    {"failed", "gave-up", "malformed", "send-failed", "heartbeat-dropped", "heartbeat-failed", "payload-mismatch"}
)
_EXTRA_KEY = "sqstask_event"


def event_fields(event: str, task: Task | None = None, **fields: Any) -> dict[str, Any]:
    """The dict ``log_event`` writes: event, task identity, then the extra fields (None dropped)."""
    data: dict[str, Any] = {"event": event}
    if task is not None:
        data.update(
            task_id=task.task_id,
            task_type=task.task_type,
            group_id=task.group_id,
            attempt=task.receive_count,
            message_id=task.message_id,
        )
    for key, value in fields.items():
        if value is not None:
            data[key] = value
    return data


def event_level(event: str) -> int:
    """The level ``event`` is logged at when no level is given: WARNING for trouble, else INFO."""
    return logging.WARNING if event in WARNING_EVENTS else logging.INFO


def log_event(
    event: str,
    task: Task | None = None,
    *,
    level: int | None = None,
    log_to: logging.Logger | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Write one JSON line for ``event`` (e.g. "started", "failed") to the ``sqstask`` logger
    (or ``log_to``) and return its fields."""
    data = event_fields(event, task, **fields)
    if level is None:
        level = event_level(event)
    target = log_to or logger
    if target.isEnabledFor(level):
        target.log(level, json.dumps(data, default=str, ensure_ascii=False), extra={_EXTRA_KEY: data})
    return data


class JsonFormatter(logging.Formatter):
    """Formats records as one JSON object per line (timestamp, level, logger, fields)."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": record.levelname,
            "logger": record.name,
        }
        fields = getattr(record, _EXTRA_KEY, None)
        if isinstance(fields, dict):
            data.update(fields)
        else:
            data["message"] = record.getMessage()
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, default=str, ensure_ascii=False)


def configure_json_logging(
    level: int | str = logging.INFO, stream: IO[str] | None = None, *, force: bool = False
) -> logging.Handler | None:
    """Send ``sqstask`` logs to ``stream`` (stderr) as JSON lines, unless the app configured logging.

    Returns the handler added, or None when the application already has handlers (pass
    ``force=True`` to add ours anyway, e.g. from the CLI).
    """
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            raise ValueError(f"unknown log level {level!r}")
    logger.setLevel(level)
    ours = [h for h in logger.handlers if isinstance(h.formatter, JsonFormatter)]
    if ours:
        for handler in ours:
            handler.setLevel(level)
        return ours[0]
    if not force and (
        logging.getLogger().handlers or any(not isinstance(h, logging.NullHandler) for h in logger.handlers)
    ):
        return None
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler.setLevel(level)
    logger.addHandler(handler)
    logger.propagate = False
    return handler
