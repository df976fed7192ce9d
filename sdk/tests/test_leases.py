"""LeaseKeeper: a claim's lease grows with the task's age when given a window, as the heartbeat's does."""

from __future__ import annotations

import threading
import time

from sqstask.heartbeat import extension_window, next_extension_in
from sqstask.leases import LeaseKeeper


class RecordingStore:
    """Accepts every renewal and records the lease each one asked for."""

    def __init__(self) -> None:
        self.leases: list[float] = []
        self.lock = threading.Lock()

    def renew(self, claim, *, lease_seconds: float) -> bool:
        with self.lock:
            self.leases.append(lease_seconds)
        return True


class Claim:
    owner = "me"
    task_id = "t-1"


def _run_for(seconds: float, **keeper_args) -> list[float]:
    store = RecordingStore()
    keeper = LeaseKeeper(store, **keeper_args).start()
    keeper.add(Claim())
    time.sleep(seconds)
    keeper.stop()
    return store.leases


def test_without_a_window_every_renewal_grants_the_same_lease():
    leases = _run_for(1.5, lease_seconds=0.6)
    assert len(leases) >= 4 and set(leases) == {0.6}


def test_with_the_heartbeats_window_renewals_grant_longer_leases_and_come_less_often():
    vt, cap = 1, 4  # whole seconds, as SQS takes them

    def window(age: float) -> float:
        return extension_window(age, visibility_timeout=vt, max_window=cap)

    def schedule(age: float) -> float:
        return next_extension_in(age, visibility_timeout=vt, interval=vt / 3, max_window=cap)

    fixed = _run_for(5.0, lease_seconds=vt)
    growing = _run_for(5.0, lease_seconds=vt, window=window, schedule=schedule)
    assert growing == sorted(growing) and growing[-1] > vt, f"leases granted: {growing}"
    assert max(growing) <= cap
    assert len(growing) <= len(fixed) / 2, f"{len(growing)} renewals with the window, {len(fixed)} without"
