"""The receipts consumer: a Lambda function that e-mails a receipt per ``send-receipt`` task.

Lambda invokes ``handler(event, context)`` with up to 10 SQS records. ``@batch_handler`` runs the
function below once per task id (claimed in the task table, so redeliveries are skipped),
reports failed records as ``batchItemFailures`` so only those are retried, and fails the later
records of a failed task's message group so a customer's receipts stay in order. Its settings
come from the function's environment (``SQSTASK_QUEUE_URL``, ``SQSTASK_IDEMPOTENCY_TABLE``, ...),
which main.tf fills from the module's outputs.
"""

from __future__ import annotations

import logging
from typing import Any

from sqstask import Task, batch_handler

logger = logging.getLogger(__name__)


def deliver(email: str, subject: str, body: str) -> None:
    """Send one e-mail (here: log it; a real service calls its mail provider)."""
    logger.info("mail to %s: %s (%d characters)", email, subject, len(body))


@batch_handler
def handler(task: Task) -> dict[str, Any]:
    """Send the receipt for one order; raise to have the task retried (then dead-lettered)."""
    if task.task_type != "send-receipt":
        raise ValueError(f"this function handles send-receipt tasks, not {task.task_type!r}")
    order = task.payload["order"]
    email = task.payload.get("email")
    if not email:
        raise ValueError(f"order {order} has no e-mail address")
    deliver(email, f"Your receipt for order {order}", f"Total: {task.payload['amount_cents'] / 100:.2f}")
    return {"order": order, "sent_to": email}
