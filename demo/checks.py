"""The demo's verdict: did every task it sent complete exactly once?"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass
class Outcome:
    """What the demo observed at the end, and what it expected."""

    expected: set[str]  # every task id the demo sent
    done: Counter[str]  # task id -> completed handler runs (side effects)
    records: dict[str, str]  # task id -> status in the task table
    queue_left: int  # messages still in the queue (visible, in flight, delayed)
    dlq_left: int
    duplicates_sent: int
    duplicates_skipped: int


def exactly_once_problems(outcome: Outcome) -> list[str]:
    """What contradicts "every task completed exactly once"; empty when it holds."""
    problems: list[str] = []
    expected = outcome.expected
    never = sorted(t for t in expected if outcome.done[t] == 0)
    twice = sorted(t for t in expected if outcome.done[t] > 1)
    unknown = sorted(t for t in outcome.done if t not in expected)
    if never:
        problems.append(f"{len(never)} task(s) never completed: {_some(never)}")
    if twice:
        problems.append(f"{len(twice)} task(s) ran more than once: {_some(twice)}")
    if unknown:
        problems.append(f"{len(unknown)} task(s) ran that were never sent: {_some(unknown)}")
    missing = sorted(t for t in expected if t not in outcome.records)
    not_completed = sorted(t for t in expected if t in outcome.records and outcome.records[t] != "COMPLETED")
    extra = sorted(t for t in outcome.records if t not in expected)
    if missing:
        problems.append(f"{len(missing)} task(s) have no record in the task table: {_some(missing)}")
    if not_completed:
        states = Counter(outcome.records[t] for t in not_completed)
        problems.append(
            f"{len(not_completed)} task record(s) are not COMPLETED ({_counts(states)}): {_some(not_completed)}"
        )
    if extra:
        problems.append(f"the task table has {len(extra)} record(s) of tasks never sent: {_some(extra)}")
    if outcome.queue_left:
        problems.append(f"{outcome.queue_left} message(s) are still in the queue")
    if outcome.dlq_left:
        problems.append(f"{outcome.dlq_left} message(s) are still in the dead-letter queue")
    if outcome.duplicates_skipped < outcome.duplicates_sent:
        problems.append(
            f"only {outcome.duplicates_skipped} of the {outcome.duplicates_sent} duplicate deliveries were "
            "skipped by idempotency"
        )
    return problems


def _some(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {k}" for k, n in sorted(counter.items()))
