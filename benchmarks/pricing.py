"""Published AWS limits and prices, and what the measured call counts mean in tasks/s and dollars.

Prices are US East (N. Virginia) list prices, without free tiers or volume tiers.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

# SQS FIFO: $0.50 per million requests; every 64 KiB chunk of a request's payload is one request.
SQS_FIFO_USD_PER_MILLION_REQUESTS = 0.50
SQS_BILLING_CHUNK_BYTES = 64 * 1024
# DynamoDB on-demand: write request unit (a write of up to 1 KB), read request unit (4 KB).
DYNAMODB_USD_PER_MILLION_WRU = 0.625
DYNAMODB_USD_PER_MILLION_RRU = 0.125
DYNAMODB_WRITE_UNIT_BYTES = 1024
# FIFO queue without high-throughput mode: 300 calls per second per API action
# (a batch of up to 10 messages is one call).
FIFO_CALLS_PER_SECOND_PER_ACTION = 300

SOURCES = {
    "SQS pricing": "https://aws.amazon.com/sqs/pricing/",
    "DynamoDB on-demand pricing": "https://aws.amazon.com/dynamodb/pricing/on-demand/",
    "SQS FIFO throughput quota": (
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/quotas-messages.html"
    ),
    "SQS FIFO throttling and batching": (
        "https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/"
        "troubleshooting-fifo-throttling-issues.html"
    ),
}

# Operations that share one per-action throughput limit.
_ACTION_OF = {
    "SendMessage": "SendMessage",
    "SendMessageBatch": "SendMessage",
    "ReceiveMessage": "ReceiveMessage",
    "DeleteMessage": "DeleteMessage",
    "DeleteMessageBatch": "DeleteMessage",
    "ChangeMessageVisibility": "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
}


def calls_per_action(calls: Mapping[str, int], tasks: int) -> dict[str, float]:
    """SQS calls per task grouped by the API action whose limit they count against."""
    per: dict[str, float] = {}
    for operation, count in calls.items():
        action = _ACTION_OF.get(operation)
        if action is not None:
            per[action] = per.get(action, 0.0) + count / tasks
    return per


def throughput_ceiling(calls: Mapping[str, int], tasks: int) -> tuple[float, str]:
    """Tasks per second one FIFO queue allows at 300 calls/s per action, and the binding action."""
    per = calls_per_action(calls, tasks)
    if not per:
        return math.inf, "-"
    action, rate = max(per.items(), key=lambda kv: kv[1])
    return FIFO_CALLS_PER_SECOND_PER_ACTION / rate, action


def billed_sqs_requests(calls: int, largest_request_bytes: int = 0) -> int:
    """Requests SQS bills for ``calls`` calls of at most ``largest_request_bytes`` (64 KiB chunks)."""
    return calls * max(1, math.ceil(largest_request_bytes / SQS_BILLING_CHUNK_BYTES))


def write_units(item_bytes: int) -> int:
    """Write request units for one write of an item of ``item_bytes`` (1 KB each, at least 1)."""
    return max(1, math.ceil(item_bytes / DYNAMODB_WRITE_UNIT_BYTES))


def usd_per_million_tasks(sqs_requests_per_task: float, wru_per_task: float = 0.0,
                          rru_per_task: float = 0.0) -> dict[str, float]:
    """Request cost of a million tasks: SQS, DynamoDB and the total, in US dollars."""
    sqs = sqs_requests_per_task * SQS_FIFO_USD_PER_MILLION_REQUESTS
    dynamodb = wru_per_task * DYNAMODB_USD_PER_MILLION_WRU + rru_per_task * DYNAMODB_USD_PER_MILLION_RRU
    return {"sqs": sqs, "dynamodb": dynamodb, "total": sqs + dynamodb}
