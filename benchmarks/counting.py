"""Counting AWS API calls with botocore event hooks on the clients a benchmark injects."""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any


class CallCounter:
    """Counts API calls per (service, operation) made through the clients it is attached to.

    Calls are counted on ``before-call`` (once per API call, as SQS and DynamoDB bill and
    throttle them). For SQS batch calls it also counts the entries sent, and for
    ReceiveMessage the messages returned (``after-call``), so a benchmark can check that
    every task went through. Thread-safe: the Worker calls from several threads.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.calls: Counter[tuple[str, str]] = Counter()
        self.entries: Counter[tuple[str, str]] = Counter()
        self.messages_received: int = 0
        self.messages_requested: int = 0  # sum of MaxNumberOfMessages over ReceiveMessage calls
        self.empty_receives: int = 0  # ReceiveMessage calls that returned no message
        self.max_request_bytes: Counter[tuple[str, str]] = Counter()
        self._attached: set[int] = set()

    def attach(self, *clients: Any) -> CallCounter:
        """Start counting the calls of ``clients`` (each client is attached once)."""
        for client in clients:
            if id(client) in self._attached:
                continue
            self._attached.add(id(client))
            events = client.meta.events
            events.register("before-call", self._before_call, unique_id=f"bench-count-{id(self)}")
            events.register("after-call.sqs.ReceiveMessage", self._after_receive,
                            unique_id=f"bench-recv-{id(self)}")
        return self

    def _before_call(self, model: Any, params: Any = None, **_: Any) -> None:
        key = (model.service_model.service_name, model.name)
        body = params.get("body") if isinstance(params, dict) else None
        size = len(body) if isinstance(body, (bytes, str)) else 0
        entries = requested = 0
        if (model.name.endswith("Batch") or model.name == "ReceiveMessage") and size:
            try:
                decoded = json.loads(body)
            except ValueError:
                decoded = {}
            entries = len(decoded.get("Entries", []))
            requested = int(decoded.get("MaxNumberOfMessages", 1)) if model.name == "ReceiveMessage" else 0
        with self._lock:
            self.calls[key] += 1
            self.entries[key] += entries
            self.messages_requested += requested
            if size > self.max_request_bytes[key]:
                self.max_request_bytes[key] = size
        return None  # a non-None answer would short-circuit the call

    def _after_receive(self, parsed: Any = None, **_: Any) -> None:
        if isinstance(parsed, dict):
            with self._lock:
                self.messages_received += len(parsed.get("Messages", []))
                self.empty_receives += not parsed.get("Messages")

    # -- reading --------------------------------------------------------------------------

    def count(self, service: str, operation: str | None = None) -> int:
        """Calls to ``operation`` of ``service`` (all of the service's calls when None)."""
        with self._lock:
            return sum(n for (svc, op), n in self.calls.items() if svc == service and operation in (None, op))

    def entries_of(self, service: str, operation: str) -> int:
        """Entries sent in ``operation`` batch calls."""
        with self._lock:
            return self.entries[(service, operation)]

    def by_operation(self, service: str) -> dict[str, int]:
        """``{operation: calls}`` for ``service``, sorted by operation name."""
        with self._lock:
            return {op: n for (svc, op), n in sorted(self.calls.items()) if svc == service}

    def snapshot(self) -> dict[str, int]:
        """``{"service.Operation": calls}`` of everything counted so far."""
        with self._lock:
            return {f"{svc}.{op}": n for (svc, op), n in sorted(self.calls.items())}

    def reset(self) -> None:
        """Forget every count (attachments stay)."""
        with self._lock:
            self.calls.clear()
            self.entries.clear()
            self.max_request_bytes.clear()
            self.messages_received = 0
            self.messages_requested = 0
            self.empty_receives = 0
