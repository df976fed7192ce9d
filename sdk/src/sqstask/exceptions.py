"""Exceptions raised by sqstask, named after what went wrong."""

from __future__ import annotations

from typing import Any


class SqstaskError(Exception):
    """Base class of every error sqstask raises on purpose."""


class ConfigError(SqstaskError):
    """A setting is missing or malformed; the message names the variable or key."""


class InvalidTaskError(SqstaskError, ValueError):
    """A task cannot be sent: bad group id, task id, task type or payload."""


def _mib(n: int) -> str:
    value = n / (1024 * 1024)
    text = f"{value:.1f}".rstrip("0").rstrip(".")
    return f"{text} MiB"


def format_size(n: int) -> str:
    """Human size: bytes below 1 KiB, KiB below 1 MiB, else MiB (one decimal)."""
    if n < 1024:
        return f"{n} bytes"
    if n < 1024 * 1024:
        value = n / 1024
        text = f"{value:.1f}".rstrip("0").rstrip(".")
        return f"{text} KiB"
    return _mib(n)


class PayloadTooLarge(SqstaskError):
    """A message is bigger than the queue accepts and no payload bucket is configured."""

    def __init__(self, size: int, limit: int, message: str | None = None) -> None:
        self.size = size
        self.limit = limit
        if message is None:
            message = (
                f"payload is {format_size(size)}; the queue accepts {format_size(limit)}; "
                "set payload_bucket to offload large payloads"
            )
        super().__init__(message)


class SendError(SqstaskError):
    """Some tasks could not be sent after all retries; ``failed`` lists them with reasons.

    ``failed`` holds ``(TaskSpec, reason)`` pairs; typed ``Any`` here because exceptions sit
    below every other module (task.py imports this one).
    """

    def __init__(self, failed: list[tuple[Any, str]], message: str | None = None) -> None:
        self.failed = list(failed)
        if message is None:
            first = self.failed[0] if self.failed else None
            detail = f"; first: task {first[0].task_id or '?'} ({first[0].task_type}): {first[1]}" if first else ""
            message = f"{len(self.failed)} task(s) could not be sent{detail}"
        super().__init__(message)


class MalformedMessage(SqstaskError):
    """A received message or Lambda record cannot become a Task."""

    def __init__(self, reason: str, message_id: str | None = None) -> None:
        self.reason = reason
        self.message_id = message_id
        where = f"message {message_id}: " if message_id else ""
        super().__init__(f"{where}{reason}")


class TaskInProgress(SqstaskError):
    """Another live lease owns the task; it must not run here now."""


class PayloadMismatch(SqstaskError):
    """The same task id arrived again with a different payload."""


class ScheduleError(SqstaskError):
    """A delayed or scheduled send cannot be created (past time, malformed input)."""


def describe(exc: BaseException) -> dict[str, Any]:
    """``{"error_type", "error"}`` for structured logs and task records."""
    return {"error_type": type(exc).__name__, "error": str(exc)}


def aws_error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError (``"ThrottlingException"``, ...), else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return None


def error_code(exc: BaseException) -> str:
    """The AWS error code of ``exc``, or its type name when it is not an AWS error."""
    return aws_error_code(exc) or type(exc).__name__
