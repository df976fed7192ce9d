"""Heartbeat: ChangeMessageVisibilityBatch calls per interval with N messages in flight.

Expected: ceil(N / 10) calls per interval (10 entries per call), however many rounds run.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field

from .counting import CallCounter
from .workload import create_team, moto, new_client, queue_depth, task_dicts

OPERATION = "ChangeMessageVisibilityBatch"


@dataclass
class HeartbeatCalls:
    """Calls and entries of each heartbeat round while ``in_flight`` messages were held."""

    in_flight: int
    interval: float
    visibility_timeout: int
    calls_per_round: list[int] = field(default_factory=list)
    entries_per_round: list[int] = field(default_factory=list)
    still_in_flight: int = 0

    @property
    def expected_per_round(self) -> int:
        return math.ceil(self.in_flight / 10)


def heartbeat_calls(in_flight: int = 100, *, rounds: int = 6, visibility_timeout: int = 2,
                    interval: float = 0.5) -> HeartbeatCalls:
    """Hold ``in_flight`` received messages under one Heartbeat for ``rounds`` rounds; count its calls.

    The calls of each round are read in the ``on_extend`` callback, which runs after the
    round's last call, so the numbers do not depend on timing. At the end every message
    must still be in flight, long after its original visibility timeout.
    """
    from sqstask import Heartbeat

    with moto():
        team = create_team("bench-heartbeat", visibility_timeout=visibility_timeout)
        loader = team.task_queue(sqs_client=new_client("sqs"), dynamodb_client=new_client("dynamodb"))
        # one group per message, so every message can be received at once
        if not loader.send_many(task_dicts(in_flight, groups=in_flight)).ok:
            raise RuntimeError("could not load the queue")
        messages: list[dict] = []
        while len(messages) < in_flight:
            batch = loader.receive(max_messages=10, wait_seconds=0, visibility_timeout=visibility_timeout)
            if not batch:
                raise RuntimeError(f"only {len(messages)} of {in_flight} messages received")
            messages.extend(batch)

        counter = CallCounter()
        sqs = new_client("sqs")
        counter.attach(sqs)
        queue = team.task_queue(sqs_client=sqs, dynamodb_client=new_client("dynamodb"))
        result = HeartbeatCalls(in_flight, interval, visibility_timeout)
        done = threading.Event()
        seen = {"calls": 0, "entries": 0}

        def on_extend(extended: list) -> None:
            calls, entries = counter.count("sqs", OPERATION), counter.entries_of("sqs", OPERATION)
            result.calls_per_round.append(calls - seen["calls"])
            result.entries_per_round.append(entries - seen["entries"])
            seen.update(calls=calls, entries=entries)
            if len(result.calls_per_round) >= rounds:
                done.set()

        heartbeat = Heartbeat(queue, messages, visibility_timeout=visibility_timeout, interval=interval,
                              on_extend=on_extend)
        with heartbeat:
            limit = 30 + rounds * interval * 4
            if not done.wait(limit):
                raise RuntimeError(f"only {len(result.calls_per_round)} of {rounds} heartbeat rounds in {limit:.0f} s")
        del result.calls_per_round[rounds:], result.entries_per_round[rounds:]
        # With rounds * interval beyond the visibility timeout, this shows the messages are still held.
        result.still_in_flight = in_flight - _visible(new_client("sqs"), team.queue_url)
        if queue_depth(new_client("sqs"), team.queue_url) != in_flight:
            raise RuntimeError("messages were lost while the heartbeat held them")
    return result


def _visible(sqs, queue_url: str) -> int:
    attrs = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attrs["Attributes"]["ApproximateNumberOfMessages"])
