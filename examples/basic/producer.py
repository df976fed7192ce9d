"""Send one task per invoice to the billing service's queue.

    export SQSTASK_CONFIG="$(terraform output -raw sdk_config)"
    python producer.py invoices.json

Each invoice becomes a ``send-invoice`` task in its customer's message group (a customer's
invoices are handled in order; customers in parallel) with the task id ``invoice-<id>``, so
sending an invoice twice runs it once: SQS drops the repeat for 5 minutes, the consumer's task
table skips it after that.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqstask import BatchResult, TaskQueue, TaskSpec


def invoice_task(invoice: Mapping[str, Any]) -> TaskSpec:
    """The task that sends ``invoice``: ordered per customer, identified by the invoice id."""
    return TaskSpec(
        task_type="send-invoice",
        payload={"invoice": invoice["id"], "customer": invoice["customer"], "amount_cents": invoice["amount_cents"]},
        group_id=f"customer-{invoice['customer']}",
        task_id=f"invoice-{invoice['id']}",
    )


def send_invoices(queue: TaskQueue, invoices: Iterable[Mapping[str, Any]]) -> BatchResult:
    """Send a task per invoice in batches of 10; failures come back in ``result.failed``."""
    return queue.send_many(invoice_task(invoice) for invoice in invoices)


def main(argv: Sequence[str] | None = None) -> int:
    """``python producer.py INVOICES.json``: send the invoices listed in the file."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 1:
        print("usage: python producer.py INVOICES.json", file=sys.stderr)
        return 2
    with open(args[0], encoding="utf-8") as fh:
        invoices = json.load(fh)
    queue = TaskQueue.from_env()  # SQSTASK_CONFIG: the module's sdk_config output
    result = send_invoices(queue, invoices)
    print(f"sent {len(result.sent)} invoice task(s) to {queue.config.queue_name}")
    for spec, error in result.failed:
        print(f"not sent: {spec.task_id}: {error}", file=sys.stderr)
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
