"""ReceiveMessage calls per task for a Worker serving priority tiers, on moto.

A Worker with tiers asks the tiers highest first each round (short polls), so a round that
finds the higher tiers empty costs one empty receive per empty tier above the one with work.
Two runs show the range: tasks spread over every tier (the higher tiers drain first), and
work on the lowest tier only (every round pays the empty polls above it). Both queue all
tasks before the worker starts, so the order in which tiers finish is also shown.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from typing import Any

from .counting import CallCounter
from .workload import create_team, moto, new_client, queue_depth

TIERS = ("urgent", "default", "bulk")


@dataclass(frozen=True)
class TierCalls:
    """What one Worker run over priority tiers cost, and the order tiers finished in."""

    label: str
    tasks_by_tier: dict[str, int]
    receives: int  # ReceiveMessage calls, empty ones included
    empty_receives: int
    sqs_calls: dict[str, int]
    mean_position: dict[str, float]  # mean 0-based position in the run order, by tier

    @property
    def tasks(self) -> int:
        return sum(self.tasks_by_tier.values())

    @property
    def receives_per_task(self) -> float:
        return self.receives / self.tasks if self.tasks else 0.0


def tier_calls(tasks_by_tier: dict[str, int], *, concurrency: int = 10, label: str = "",
               timeout: float | None = None) -> TierCalls:
    """Queue the tasks on their tiers, let a Worker drain all tiers, count its calls."""
    from sqstask import TaskQueue, TaskSpec, Worker

    with moto():
        team = create_team(f"bench-tiers-{'-'.join(str(n) for n in tasks_by_tier.values())}")
        sqs_setup = new_client("sqs")
        urls = {
            tier: team.queue_url if tier == "default" else sqs_setup.create_queue(
                QueueName=f"{team.name}-{tier}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
            for tier in TIERS
        }
        config = replace(team.task_queue(sqs_client=sqs_setup, dynamodb_client=None).config,
                         priorities=TIERS, default_priority="default", priority_queue_urls=urls)
        producer = TaskQueue(config=config, sqs_client=sqs_setup)
        for tier, count in tasks_by_tier.items():
            specs = [TaskSpec("t", {"n": n}, f"{tier}-{n % 20}", f"{tier}-{n}", priority=tier) for n in range(count)]
            if specs and not producer.send_many(specs).ok:
                raise RuntimeError(f"{label}: could not queue the {tier} tasks")

        counter = CallCounter()
        sqs, dynamodb = new_client("sqs"), new_client("dynamodb")
        counter.attach(sqs, dynamodb)
        queue = TaskQueue(config=config, sqs_client=sqs, dynamodb_client=dynamodb)
        ran: list[str] = []
        lock = threading.Lock()

        def handle(task: Any) -> None:
            with lock:
                ran.append(task.task_id.rsplit("-", 1)[0])

        total = sum(tasks_by_tier.values())
        worker = Worker(queue, handle, concurrency=concurrency, wait_seconds=1)
        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        limit = timeout if timeout is not None else 60 + total * 0.2
        deadline = time.monotonic() + limit
        thread.start()
        while True:
            with lock:
                done = len(ran)
            if done >= total and all(queue_depth(sqs_setup, url) == 0 for url in urls.values()):
                break
            if time.monotonic() > deadline or not thread.is_alive():
                worker.stop(timeout=5)
                raise RuntimeError(f"{label}: only {done} of {total} tasks ran within {limit:.0f} s")
            time.sleep(0.05)
        worker.stop(timeout=30)
        thread.join(60)
        if len(ran) != total:
            raise RuntimeError(f"{label}: {len(ran)} runs for {total} tasks")
        positions: dict[str, list[int]] = {}
        for index, tier in enumerate(ran):
            positions.setdefault(tier, []).append(index)
        sqs_calls = counter.by_operation("sqs")
        return TierCalls(
            label=label,
            tasks_by_tier=dict(tasks_by_tier),
            receives=sqs_calls.get("ReceiveMessage", 0),
            empty_receives=counter.empty_receives,
            sqs_calls=sqs_calls,
            mean_position={tier: sum(p) / len(p) for tier, p in positions.items()},
        )


def priority_runs(tasks: int) -> list[TierCalls]:
    """The two runs the report shows: ``tasks`` spread over the three tiers, and on the lowest only."""
    third = tasks // 3
    return [
        tier_calls({"urgent": third, "default": third, "bulk": tasks - 2 * third},
                   label="3 tiers, tasks on every tier"),
        tier_calls({"bulk": tasks}, label="3 tiers, tasks on the lowest tier only"),
    ]
