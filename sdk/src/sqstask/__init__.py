"""sqstask: distributed tasks on SQS FIFO.

Public names are imported lazily (PEP 562) so ``import sqstask`` stays cheap: boto3 and the
modules behind each name load on first use.
"""

from __future__ import annotations

# ruff: noqa: F401  (the TYPE_CHECKING imports below exist for type checkers)

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "TaskQueue": "queue",
    "SendResult": "queue",
    "BatchResult": "queue",
    "QueueConfig": "config",
    "Task": "task",
    "TaskSpec": "task",
    "Then": "task",
    "ENVELOPE_VERSION": "task",
    "new_task_id": "task",
    "encode_envelope": "task",
    "task_from_message": "task",
    "task_from_record": "task",
    "PayloadStore": "payloads",
    "Heartbeat": "heartbeat",
    "log_event": "audit",
    "configure_json_logging": "audit",
    "SqstaskError": "exceptions",
    "ConfigError": "exceptions",
    "InvalidTaskError": "exceptions",
    "PayloadTooLarge": "exceptions",
    "SendError": "exceptions",
    "MalformedMessage": "exceptions",
    "TaskInProgress": "exceptions",
    "PayloadMismatch": "exceptions",
    "ScheduleError": "exceptions",
    "batch_handler": "handler",
    "Worker": "worker",
    "TaskStore": "idempotency",
    "Backoff": "backoff",
    "DeadLetterQueue": "dlq",
    "RedriveFilter": "dlq",
    "PriorityTiers": "priorities",
    "UnknownPriority": "priorities",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'sqstask' has no attribute {name!r}")
    module = importlib.import_module(f".{module_name}", __name__)
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from .audit import configure_json_logging, log_event
    from .backoff import Backoff
    from .config import QueueConfig
    from .dlq import DeadLetterQueue, RedriveFilter
    from .exceptions import (
        ConfigError,
        InvalidTaskError,
        MalformedMessage,
        PayloadMismatch,
        PayloadTooLarge,
        ScheduleError,
        SendError,
        SqstaskError,
        TaskInProgress,
    )
    from .handler import batch_handler
    from .heartbeat import Heartbeat
    from .idempotency import TaskStore
    from .payloads import PayloadStore
    from .priorities import PriorityTiers, UnknownPriority
    from .queue import BatchResult, SendResult, TaskQueue
    from .task import (
        ENVELOPE_VERSION,
        Task,
        TaskSpec,
        Then,
        encode_envelope,
        new_task_id,
        task_from_message,
        task_from_record,
    )
    from .worker import Worker
