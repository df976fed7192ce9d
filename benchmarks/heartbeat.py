"""Heartbeat: ChangeMessageVisibilityBatch calls per round with N messages in flight, and entries
per task-hour with a fixed window against the growing one.

Expected: ceil(N / 10) calls per round (10 entries per call), however many rounds run; and at
most 10 entries per task-hour at the defaults with the growing window.
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
            # Received with room to spare: on a loaded machine, receiving them all can take longer
            # than the short timeout under test, and an expired message would be received twice.
            batch = loader.receive(max_messages=10, wait_seconds=0, visibility_timeout=60)
            if not batch:
                raise RuntimeError(f"only {len(messages)} of {in_flight} messages received")
            messages.extend(batch)
        # Now the short timeout, for all at once: the heartbeat takes over from here.
        loader.change_visibility_many(messages, visibility_timeout)

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

        # a fixed window, so every round comes one interval after the last (rounds are what is counted)
        heartbeat = Heartbeat(queue, messages, visibility_timeout=visibility_timeout, interval=interval,
                              max_window=visibility_timeout, on_extend=on_extend)
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


# -- extensions per task-hour: fixed window vs growing window ---------------------------------------


@dataclass
class TaskHourSchedule:
    """ChangeMessageVisibility entries one task costs per hour, fixed window vs growing window.

    ``schedule`` holds the counts the SDK's schedule (``sqstask.heartbeat.extension_ages``) gives
    for an hour-long task at each visibility timeout; ``measured`` is a real Heartbeat on moto
    holding two messages (one fixed, one growing) for ``measured_seconds``, time scaled down from
    ``scaled_from`` so it runs in seconds: what it actually sent against what the schedule predicts.
    """

    max_window: int
    schedule: dict[int, dict[str, int]]  # visibility timeout -> {"fixed": n, "growing": n} per task-hour
    measured_visibility: int
    measured_max_window: int
    measured_seconds: float
    scaled_from: int  # the visibility timeout the measured run stands for
    measured: dict[str, int] = field(default_factory=dict)  # "fixed"/"growing" -> entries sent
    predicted: dict[str, int] = field(default_factory=dict)


def task_hour_schedule(visibility_timeouts: tuple[int, ...] = (30, 60, 300), *, max_window: int = 900,
                       measured_seconds: float = 24.0, scaled_from: int = 300) -> TaskHourSchedule:
    """Entries per task-hour from the schedule, and one time-scaled real run confirming it.

    The real run uses a 2 s visibility timeout standing for ``scaled_from`` seconds, so its
    max window is ``max_window`` scaled the same way and ``measured_seconds`` stands for
    ``measured_seconds * scaled_from / 2`` seconds of a task.
    """
    from sqstask import Heartbeat
    from sqstask.heartbeat import extension_ages

    result = TaskHourSchedule(
        max_window=max_window,
        schedule={v: {"fixed": len(extension_ages(3600, visibility_timeout=v, max_window=v)),
                      "growing": len(extension_ages(3600, visibility_timeout=v, max_window=max_window))}
                  for v in visibility_timeouts},
        measured_visibility=2,
        measured_max_window=max(2, round(max_window * 2 / scaled_from)),
        measured_seconds=measured_seconds,
        scaled_from=scaled_from,
    )
    windows = {"fixed": result.measured_visibility, "growing": result.measured_max_window}
    for kind, window in windows.items():
        result.predicted[kind] = len(extension_ages(measured_seconds, visibility_timeout=2, max_window=window))
    with moto():
        team = create_team("bench-heartbeat-hour", visibility_timeout=2)
        loader = team.task_queue(sqs_client=new_client("sqs"), dynamodb_client=new_client("dynamodb"))
        if not loader.send_many(task_dicts(2, groups=2)).ok:
            raise RuntimeError("could not load the queue")
        messages: list[dict] = []
        while len(messages) < 2:
            batch = loader.receive(max_messages=2, wait_seconds=0, visibility_timeout=2)
            if not batch:
                raise RuntimeError("could not receive the messages")
            messages.extend(batch)
        beats = {}
        counters = {}
        for (kind, window), message in zip(windows.items(), messages):
            counters[kind] = CallCounter()
            sqs = new_client("sqs")
            counters[kind].attach(sqs)
            queue = team.task_queue(sqs_client=sqs, dynamodb_client=new_client("dynamodb"))
            beats[kind] = Heartbeat(queue, [message], visibility_timeout=2, max_window=window)
        for beat in beats.values():
            beat.start()
        threading.Event().wait(measured_seconds)
        for beat in beats.values():
            beat.stop()
        for kind, counter in counters.items():
            result.measured[kind] = counter.entries_of("sqs", OPERATION)
        if _visible(new_client("sqs"), team.queue_url) != 0:
            raise RuntimeError("a message became visible while its heartbeat held it")
    return result
