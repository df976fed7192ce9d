"""Fault injection for botocore clients: throttle, fail or delay a named call at a chosen moment.

``Faults(client)`` hooks the client's ``provide-client-params`` event, so a rule sees the
call's own parameters and can raise before anything is sent (no botocore retry absorbs it).
Rules name an operation (``"UpdateItem"``), optionally a predicate on its parameters, how many
matching calls to let through first (``after``) and how many to hit (``times``; None: until
removed). Every call is counted, injected or not, so a test can report the cost in calls.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

Predicate = Callable[[dict[str, Any]], bool]


@dataclass
class Rule:
    operation: str
    action: str  # "fail" or "delay"
    code: str = "ThrottlingException"
    status: int = 400
    seconds: float = 0.0
    when: Predicate | None = None
    after: int = 0
    times: int | None = None
    seen: int = 0
    hit: int = 0

    def applies(self, operation: str, params: dict[str, Any]) -> bool:
        if operation != self.operation or (self.when is not None and not self.when(params)):
            return False
        self.seen += 1
        if self.seen <= self.after or (self.times is not None and self.hit >= self.times):
            return False
        self.hit += 1
        return True


class Faults:
    """Fault rules on one or more botocore clients; use as a context manager to unhook."""

    def __init__(self, *clients: Any) -> None:
        self.clients = clients
        self.rules: list[Rule] = []
        self.calls: Counter[str] = Counter()
        self.injected: Counter[str] = Counter()
        self._lock = threading.Lock()
        for client in clients:
            client.meta.events.register("provide-client-params", self._on_call, unique_id=f"faults-{id(self)}")

    def __enter__(self) -> Faults:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        for client in self.clients:
            client.meta.events.unregister("provide-client-params", unique_id=f"faults-{id(self)}")

    def fail(self, operation: str, *, code: str = "ThrottlingException", status: int = 400,
             when: Predicate | None = None, after: int = 0, times: int | None = None) -> Rule:
        """Make matching calls raise a ClientError with ``code`` (a throttle by default)."""
        return self._add(Rule(operation, "fail", code=code, status=status, when=when, after=after, times=times))

    def delay(self, operation: str, seconds: float, *, when: Predicate | None = None, after: int = 0,
              times: int | None = None) -> Rule:
        """Make matching calls wait ``seconds`` before they go out."""
        return self._add(Rule(operation, "delay", seconds=seconds, when=when, after=after, times=times))

    def remove(self, rule: Rule) -> None:
        with self._lock:
            self.rules.remove(rule)

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()

    def _add(self, rule: Rule) -> Rule:
        with self._lock:
            self.rules.append(rule)
        return rule

    def _on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        operation = model.name
        with self._lock:
            self.calls[operation] += 1
            chosen = next((rule for rule in self.rules if rule.applies(operation, params)), None)
            if chosen is not None:
                self.injected[operation] += 1
        if chosen is None:
            return
        if chosen.action == "delay":
            time.sleep(chosen.seconds)
            return
        raise ClientError(
            {
                "Error": {"Code": chosen.code, "Message": f"injected {chosen.code}"},
                "ResponseMetadata": {"HTTPStatusCode": chosen.status},
            },
            operation,
        )


def updates(marker: str) -> Predicate:
    """A predicate for UpdateItem calls whose expression values mention ``marker`` (e.g. COMPLETED)."""

    def match(params: dict[str, Any]) -> bool:
        values = params.get("ExpressionAttributeValues") or {}
        return any(marker in str(value) for value in values.values()) or marker in params.get("UpdateExpression", "")

    return match
