"""The task code of the demo's team ("orders"): one ``handle(task)`` for Lambda and for workers.

What a service developer writes: a plain function of one Task. `make demo` runs it in the
local Lambda runner (wrapped in ``batch_handler``) and in a ``Worker``. Its side effects are
recorded in ``EFFECTS`` so the demo can prove each task ran exactly once.

Task types:

- ``send-receipt``: e-mail a receipt for an order. An order without an e-mail address is the
  demo's poison task: the handler raises until the fix is "deployed" (``EFFECTS.fixed``), after
  which such receipts go to the account's billing address.
- ``render-statement``: a statement with many lines; its payload is larger than an SQS message
  may be, so the producer's SDK offloads it to S3 and the consumer's SDK fetches it back.
- ``export-ledger``: a long export (``payload["seconds"]``) that outlives the visibility
  timeout; the worker's heartbeat keeps the message invisible while it runs.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    from sqstask.task import Task

BILLING_ADDRESS = "billing@example.com"


class MissingEmail(ValueError):
    """The order names no e-mail address to send its receipt to."""


class Effects:
    """Thread-safe record of what the handler did, per task id."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.fixed = False
        self.done: Counter[str] = Counter()  # task id -> completed runs (side effects)
        self.failures: Counter[str] = Counter()  # task id -> runs that raised
        self.runs: Counter[str] = Counter()  # task id -> handler invocations
        self.receipts: dict[str, str] = {}  # task id -> address the receipt went to
        self.statement_bytes: dict[str, int] = {}  # task id -> size of the payload the handler saw
        self.ledger_seconds: dict[str, float] = {}  # task id -> how long the export ran

    def reset(self) -> None:
        """Forget everything (a new demo run)."""
        with self._lock:
            self.fixed = False
            self.done.clear()
            self.failures.clear()
            self.runs.clear()
            self.receipts.clear()
            self.statement_bytes.clear()
            self.ledger_seconds.clear()

    def started(self, task_id: str) -> None:
        with self._lock:
            self.runs[task_id] += 1

    def failed(self, task_id: str) -> None:
        with self._lock:
            self.failures[task_id] += 1

    def completed(self, task_id: str) -> None:
        with self._lock:
            self.done[task_id] += 1

    def note(self, table: dict[str, Any], task_id: str, value: Any) -> None:
        """Record ``value`` for ``task_id`` in one of the per-task tables (receipts, ...)."""
        with self._lock:
            table[task_id] = value

    def completed_count(self, task_ids: Any = None) -> int:
        """How many of ``task_ids`` (default: all) completed at least once."""
        with self._lock:
            if task_ids is None:
                return len(self.done)
            return sum(1 for task_id in task_ids if self.done[task_id] > 0)

    def snapshot(self) -> dict[str, Counter[str]]:
        """Copies of the counters: done, failures, runs."""
        with self._lock:
            return {"done": Counter(self.done), "failures": Counter(self.failures), "runs": Counter(self.runs)}


EFFECTS = Effects()


def handle(task: Task) -> dict[str, Any]:
    """Run one task of the orders team; raises on failure (the SDK retries, then dead-letters)."""
    EFFECTS.started(task.task_id)
    try:
        if task.task_type == "send-receipt":
            result = _send_receipt(task)
        elif task.task_type == "render-statement":
            result = _render_statement(task)
        elif task.task_type == "export-ledger":
            result = _export_ledger(task)
        else:
            raise ValueError(f"unknown task type {task.task_type!r}")
    except Exception:
        EFFECTS.failed(task.task_id)
        raise
    EFFECTS.completed(task.task_id)
    return result


def _send_receipt(task: Task) -> dict[str, Any]:
    order = task.payload["order"]
    email = task.payload.get("email")
    if not email:
        if not EFFECTS.fixed:
            raise MissingEmail(f"order {order} has no e-mail address to send the receipt to")
        email = BILLING_ADDRESS  # the fix: fall back to the account's billing address
    EFFECTS.note(EFFECTS.receipts, task.task_id, email)
    return {"order": order, "sent_to": email}


def _render_statement(task: Task) -> dict[str, Any]:
    lines = task.payload["lines"]
    size = sum(len(line) for line in lines)
    EFFECTS.note(EFFECTS.statement_bytes, task.task_id, size)
    return {"lines": len(lines), "characters": size}


def _export_ledger(task: Task) -> dict[str, Any]:
    seconds = float(task.payload["seconds"])
    started = time.monotonic()
    deadline = started + seconds
    while True:  # the work: one slice at a time, as a real export would write pages
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(0.25, left))
    took = time.monotonic() - started
    EFFECTS.note(EFFECTS.ledger_seconds, task.task_id, took)
    return {"exported_seconds": round(took, 1)}
