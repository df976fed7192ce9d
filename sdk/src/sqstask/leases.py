"""Lease renewal: keeps every running task's claim in the task table alive, on its own thread.

A claim's lease is what stops a second consumer from running a task that is still running.
It must not depend on SQS: while ChangeMessageVisibility is throttled, after SQS rejects a
receipt handle, or past the 12-hour visibility cap, the message may reappear, and the live
lease is what turns that redelivery into "in progress, retry later" instead of a second run.
So leases are renewed here, independently of the Heartbeat, each claim on its own schedule
and each renewal's failure handled on its own (one slow or failing call delays nothing else
for longer than it takes; a failed renewal is retried soon, well before the lease ends).

The renewal interval is a function of the task's age (``schedule``), so a growing schedule
can plug in; the default renews every third of the lease.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .audit import log_event

if TYPE_CHECKING:  # pragma: no cover - typing only
    from .idempotency import Claim, TaskStore

_RETRY_SOON = 1.0  # a failed renewal is retried this soon (bounded by a tenth of the lease)
_JOIN_TIMEOUT = 30.0


@dataclass
class _Held:
    claim: Claim
    added: float  # monotonic
    next_due: float
    lease_until: float  # monotonic estimate of the stored lease's end


class LeaseKeeper:
    """Renews the lease of every added claim to ``lease_seconds`` from now, before it ends.

    ``schedule(age_seconds) -> interval_seconds`` says how long to wait between renewals of a
    task that has been running for ``age_seconds`` (default: a third of ``lease_seconds``; an
    interval is never allowed to reach the lease's end). ``add(claim)`` when a task starts,
    ``remove(claim)`` before recording its outcome, so no renewal races the final write.
    """

    def __init__(
        self,
        store: TaskStore,
        *,
        lease_seconds: float,
        schedule: Callable[[float], float] | None = None,
        window: Callable[[float], float] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lease_seconds <= 0:
            raise ValueError(f"lease_seconds must be above 0, got {lease_seconds}")
        self.store = store
        self.lease_seconds = float(lease_seconds)
        self.schedule = schedule or (lambda _age: self.lease_seconds / 3)
        # The lease each renewal grants, by task age (default: always ``lease_seconds``); the
        # Worker passes the heartbeat's growing window so a long task costs O(log T) renewals.
        self.window = window or (lambda _age: self.lease_seconds)
        self._clock = clock
        self._held: dict[str, _Held] = {}
        self._cond = threading.Condition()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self.renewals = 0
        self.failures = 0

    def _lease_for(self, age: float) -> float:
        try:
            return max(self.lease_seconds, float(self.window(age)))
        except Exception:  # a broken window must not let leases lapse
            return self.lease_seconds

    def _interval(self, age: float, lease: float | None = None) -> float:
        lease = self.lease_seconds if lease is None else lease
        try:
            wanted = float(self.schedule(age))
        except Exception:  # a broken schedule must not let leases lapse
            wanted = lease / 3
        # Renew before the lease ends, with room for one retry.
        return max(0.05, min(wanted, lease * 0.6))

    # -- tracking -------------------------------------------------------------------------

    def add(self, claim: Claim) -> None:
        """Start renewing ``claim`` (its first renewal after one interval)."""
        now = self._clock()
        with self._cond:
            self._held[claim.owner or claim.task_id] = _Held(
                claim, now, now + self._interval(0.0), now + self.lease_seconds
            )
            self._cond.notify_all()

    def remove(self, claim: Claim) -> None:
        """Stop renewing ``claim``.

        A renewal already under way may still land; it is harmless (the store's renewal is
        conditional on the lease being held, so it cannot undo a recorded outcome) and its
        answer is ignored.
        """
        with self._cond:
            self._held.pop(claim.owner or claim.task_id, None)

    def __len__(self) -> int:
        with self._cond:
            return len(self._held)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> LeaseKeeper:
        """Start the renewal thread (idempotent; a thread still exiting is kept, never two)."""
        with self._cond:
            self._stopping = False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="sqstask-leases", daemon=True)
                self._thread.start()
            self._cond.notify_all()
        return self

    def stop(self) -> None:
        """Stop renewing and wait for the thread (a hanging call is waited for 30 s at most)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(_JOIN_TIMEOUT)

    def __enter__(self) -> LeaseKeeper:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # -- the loop -------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stopping:
                    now = self._clock()
                    due = min(self._held.values(), key=lambda held: held.next_due, default=None)
                    if due is not None and due.next_due <= now:
                        break
                    self._cond.wait(None if due is None else due.next_due - now)
                if self._stopping:
                    self._thread = None  # under the lock: start() from now on starts a new thread
                    return
                key = due.claim.owner or due.claim.task_id
            self._renew(key, due)

    def _renew(self, key: str, held: _Held) -> None:
        claim = held.claim
        started = self._clock()
        lease = self._lease_for(started - held.added)
        try:
            kept = self.store.renew(claim, lease_seconds=lease)
        except Exception as exc:  # throttled, timed out: retry soon, the lease still runs
            with self._cond:
                self.failures += 1
                if key in self._held:
                    retry = min(_RETRY_SOON, self.lease_seconds / 10)
                    held.next_due = min(self._clock() + retry, held.lease_until - retry)
            log_event("lease-renew-failed", task_id=claim.task_id, level=logging.WARNING,
                      error_type=type(exc).__name__, error=str(exc)[:500], reason="will retry")
            return
        now = self._clock()
        with self._cond:
            self.renewals += 1
            still_ours = key in self._held
            if still_ours and kept:
                held.lease_until = started + lease
                held.next_due = now + self._interval(now - held.added, lease)
            elif still_ours:
                self._held.pop(key, None)
        if still_ours and not kept:
            # Only a claim that is still running can lose its lease: a finished one was removed first.
            log_event("lease-lost", task_id=claim.task_id, level=logging.WARNING, owner=claim.owner,
                      reason="another consumer took the task over or recorded its outcome")
