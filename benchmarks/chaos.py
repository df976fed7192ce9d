"""``python -m benchmarks.chaos``: a Worker and the Lambda runner under random AWS faults.

Not a test and not part of ``make bench``: it runs a few thousand tasks through the SDK on
moto while every AWS call (SQS and DynamoDB, producer and consumers) fails at a stated rate,
and reports what the README promises: tasks lost, tasks whose handler ran again after it had
succeeded ("doubled"), tasks that started before an earlier task of their group had finished
("out of order") — target 0, 0, 0 — and the cost in AWS calls against the same run without
faults.

Faults are botocore event hooks on the clients: a ``before-call`` hook rejects a call
(ThrottlingException or InternalError, half each) and an ``after-call`` hook loses the answer
of a call that was carried out (the caller sees an error, the effect happened), each with
``--fault-rate``. Injected errors bypass botocore's own retries, so the SDK's handling is all
that stands between a fault and a broken promise. A few tasks are poison (always fail) and a
few fail transiently, so retries and the SDK's dead-lettering run too.

moto's DynamoDB checks a condition and writes in two steps without a lock; DynamoDB's
conditional writes are atomic, so this run makes moto's atomic too (as the SDK tests do). moto's
FIFO receive can hand out a later message of a group ahead of an earlier one (after a lost
ReceiveMessage answer, for one); SQS never does, so this run applies the test harness's
``fifo_groups_in_order`` extension (tests/localaws/README.md).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .workload import create_team, moto, new_client, task_dicts, use_fake_aws_environment

GROUPS = 40
MAX_ATTEMPTS = 5
VISIBILITY = 6  # seconds: short, so what a fault leaves in flight comes back soon


def _fifo_groups_in_order() -> None:
    """moto's FIFO receive as SQS's: a group's messages in order (tests/localaws/extensions.py)."""
    harness = str(Path(__file__).resolve().parent.parent / "tests")
    if harness not in sys.path:
        sys.path.insert(0, harness)
    from localaws.extensions import fifo_groups_in_order

    fifo_groups_in_order()


def _atomic_moto_dynamodb() -> None:
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_sqstask_atomic", False):
            continue

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        locked._sqstask_atomic = True  # type: ignore[attr-defined]
        setattr(DynamoDBBackend, name, locked)


class Chaos:
    """Counts every call on the given clients and injects faults at ``rate``."""

    def __init__(self, clients: list[Any], rate: float, seed: int) -> None:
        from botocore.exceptions import ClientError

        self._error = ClientError
        self.rate = rate
        self.rng = random.Random(seed)
        self.lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.rejected: Counter[str] = Counter()
        self.lost_answers: Counter[str] = Counter()
        self.enabled = True
        for client in clients:
            client.meta.events.register("before-call", self._before)
            client.meta.events.register("after-call", self._after)

    def _roll(self) -> bool:
        with self.lock:
            return self.enabled and self.rng.random() < self.rate

    def _raise(self, operation: str, code: str) -> None:
        status = 400 if code == "ThrottlingException" else 500
        raise self._error({"Error": {"Code": code, "Message": f"chaos: {code}"},
                           "ResponseMetadata": {"HTTPStatusCode": status}}, operation)

    def _before(self, model: Any, **_: Any) -> None:
        with self.lock:
            self.calls[model.name] += 1
        if self._roll():
            with self.lock:
                self.rejected[model.name] += 1
                code = "ThrottlingException" if self.rng.random() < 0.5 else "InternalError"
            self._raise(model.name, code)

    def _after(self, model: Any, **_: Any) -> None:
        if self._roll():
            with self.lock:
                self.lost_answers[model.name] += 1
            self._raise(model.name, "InternalError")


@dataclass
class Journal:
    """What the handler saw: every run's start and end, per task id.

    Checked after the run: a task is *doubled* when a run of it started after a run of it had
    succeeded; *out of order* when its first run started before the task ahead of it in its
    group had finished (succeeded, or ended its last run before going to the DLQ).
    """

    order: dict[str, list[str]]  # group -> task ids in send order
    poison: set[str]
    flaky: set[str]
    lock: threading.Lock = field(default_factory=threading.Lock)
    runs: dict[str, list[tuple[float, float, bool]]] = field(default_factory=dict)  # (start, end, ok)

    @property
    def succeeded(self) -> set[str]:
        return {t for t, runs in self.runs.items() if any(ok for _, _, ok in runs)}

    def ran(self, task_id: str) -> int:
        return len(self.runs.get(task_id, ()))

    def settled(self, task_id: str, in_dlq: bool = False) -> bool:
        """Succeeded, or a poison task that used its attempts (or reached the DLQ)."""
        runs = self.runs.get(task_id, [])
        return any(ok for _, _, ok in runs) or (task_id in self.poison and (in_dlq or len(runs) >= MAX_ATTEMPTS))

    def handle(self, task: Any) -> None:
        started = time.monotonic()
        with self.lock:
            previous = len(self.runs.get(task.task_id, ()))
        ok = False
        try:
            if task.task_id in self.poison:
                raise RuntimeError("poison task: always fails")
            if task.task_id in self.flaky and previous == 0:
                raise RuntimeError("transient failure on the first run")
            ok = True
        finally:
            with self.lock:
                self.runs.setdefault(task.task_id, []).append((started, time.monotonic(), ok))

    def doubled(self) -> set[str]:
        found = set()
        for task_id, runs in self.runs.items():
            first_success = min((end for _, end, ok in runs if ok), default=None)
            if first_success is not None and any(start > first_success for start, _, _ in runs):
                found.add(task_id)
        return found

    def out_of_order(self) -> set[str]:
        found = set()
        for ids in self.order.values():
            for earlier, later in zip(ids, ids[1:]):
                if later not in self.runs:
                    continue
                if earlier not in self.runs:
                    found.add(later)
                    continue
                successes = [end for _, end, ok in self.runs[earlier] if ok]
                settled_at = min(successes) if successes else max(end for _, end, _ in self.runs[earlier])
                if min(start for start, _, _ in self.runs[later]) < settled_at:
                    found.add(later)
        return found


def _journal(tasks: list[dict[str, Any]], rng: random.Random) -> Journal:
    order: dict[str, list[str]] = {}
    for task in tasks:
        order.setdefault(task["group_id"], []).append(task["task_id"])
    ids = [t["task_id"] for t in tasks]
    poison = set(rng.sample(ids, max(1, len(ids) // 200)))
    flaky = set(rng.sample([i for i in ids if i not in poison], max(1, len(ids) // 50)))
    return Journal(order, poison, flaky)


def _dlq_ids(team: Any) -> list[str]:
    """Task ids in the DLQ (a fault-free client; the DLQ is read after the run)."""
    sqs = new_client("sqs")
    ids = []
    while True:
        messages = sqs.receive_message(QueueUrl=team.dlq_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"],
                                       VisibilityTimeout=60).get("Messages", [])
        if not messages:
            return ids
        for message in messages:
            attrs = message.get("MessageAttributes") or {}
            if "sqstask-task-id" in attrs:
                ids.append(attrs["sqstask-task-id"]["StringValue"])
            else:
                ids.append(json.loads(message["Body"]).get("id", message["MessageId"]))


def _send_all(queue: Any, tasks: list[dict[str, Any]], deadline: float) -> int:
    """Send every task the way a careful producer does; returns how many it had to resend.

    What send_many reports failed is resent in a later round, and a group with a failed task
    sends nothing more in this round (its later tasks must not overtake the failed one).
    """
    todo = list(tasks)
    resends = 0
    while todo and time.monotonic() < deadline:
        retry: list[dict[str, Any]] = []
        blocked: set[str] = set()
        for start in range(0, len(todo), 100):
            chunk = todo[start:start + 100]
            held = [t for t in chunk if t["group_id"] in blocked]
            ready = [t for t in chunk if t["group_id"] not in blocked]
            try:
                failed_ids = {spec.task_id for spec, _ in queue.send_many(ready).failed}
            except Exception:  # every task was validated: this is an AWS failure of the whole call
                failed_ids = {t["task_id"] for t in ready}
            blocked.update(t["group_id"] for t in ready if t["task_id"] in failed_ids)
            retry.extend(t for t in chunk if t in held or t["task_id"] in failed_ids)
        resends += len(retry)
        todo = sorted(retry, key=lambda t: t["task_id"])  # ids sort in send order
    return resends


@dataclass
class Outcome:
    consumer: str
    fault_rate: float
    tasks: int
    lost: int
    doubled: int
    out_of_order: int
    dead_lettered: int
    dead_lettered_poison: int
    calls: int
    rejected: int
    lost_answers: int
    seconds: float
    unfinished: int


def run_one(consumer: str, *, tasks: int, fault_rate: float, seed: int, timeout: float) -> Outcome:
    """One consumer over ``tasks`` tasks with faults at ``fault_rate``; fresh moto resources."""
    from sqstask.backoff import Backoff
    from sqstask.handler import batch_handler
    from sqstask.lambda_local import LambdaLocal
    from sqstask.worker import Worker

    rng = random.Random(seed)
    with moto():
        _atomic_moto_dynamodb()
        _fifo_groups_in_order()
        team = create_team(f"chaos-{consumer}", visibility_timeout=VISIBILITY, max_receive_count=10 * (MAX_ATTEMPTS + 1))
        sqs, dynamodb = new_client("sqs"), new_client("dynamodb")
        chaos = Chaos([sqs, dynamodb], fault_rate, seed)
        queue = team.task_queue(sqs_client=sqs, dynamodb_client=dynamodb)
        queue.config = queue.config.with_overrides(max_attempts=MAX_ATTEMPTS)
        specs = task_dicts(tasks, groups=GROUPS, prefix=f"{consumer}")
        journal = _journal(specs, rng)
        started = time.monotonic()
        deadline = started + timeout
        _send_all(queue, specs, deadline)

        observer = new_client("sqs")  # fault-free and uncounted

        def done() -> bool:
            with journal.lock:
                healthy_done = all(journal.settled(t["task_id"]) for t in specs if t["task_id"] not in journal.poison)
            if not healthy_done:
                return False
            attrs = observer.get_queue_attributes(
                QueueUrl=team.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0

        if consumer == "worker":
            worker = Worker(queue, journal.handle, concurrency=4, wait_seconds=1, visibility_timeout=VISIBILITY,
                            backoff=Backoff(base=0.5, cap=4.0), max_attempts=MAX_ATTEMPTS)
            thread = threading.Thread(target=lambda: worker.run(install_signal_handlers=False), daemon=True)
            thread.start()
            while not done() and time.monotonic() < deadline:
                time.sleep(0.5)
            worker.stop(timeout=10)
            thread.join(60)
        else:
            handler = batch_handler(queue, max_attempts=MAX_ATTEMPTS)(journal.handle)
            local = LambdaLocal(queue, handler, wait_seconds=1, timeout=4)  # the lease: 4 s + a margin
            while not done() and time.monotonic() < deadline:
                try:
                    local.run_once(wait_seconds=1)
                except Exception:  # the event source mapping's receive failed: it polls again
                    continue
        seconds = time.monotonic() - started
        chaos.enabled = False
        in_dlq = _dlq_ids(team)
    ids = [t["task_id"] for t in specs]
    accounted = journal.succeeded | set(in_dlq)
    unfinished = [i for i in ids if not journal.settled(i, i in in_dlq)]
    return Outcome(
        consumer=consumer,
        fault_rate=fault_rate,
        tasks=tasks,
        lost=sum(1 for i in ids if i not in accounted),
        doubled=len(journal.doubled()),
        out_of_order=len(journal.out_of_order()),
        dead_lettered=len(set(in_dlq)),
        dead_lettered_poison=len(set(in_dlq) & journal.poison),
        calls=sum(chaos.calls.values()),
        rejected=sum(chaos.rejected.values()),
        lost_answers=sum(chaos.lost_answers.values()),
        seconds=seconds,
        unfinished=len(unfinished),
    )


def render(results: list[Outcome], *, poison: int) -> str:
    lines = [
        "| consumer | fault rate | tasks | lost | doubled | out of order | in DLQ (poison) | AWS calls | vs no faults | "
        "rejected / answers lost | seconds |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    baseline = {r.consumer: r.calls for r in results if r.fault_rate == 0}
    for r in results:
        base = baseline.get(r.consumer)
        extra = f"{(r.calls - base) / base:+.0%}" if base and r.fault_rate else "-"
        lines.append(
            f"| {r.consumer} | {r.fault_rate:.0%} | {r.tasks} | {r.lost} | {r.doubled} | {r.out_of_order} | "
            f"{r.dead_lettered} ({r.dead_lettered_poison}) | {r.calls} | {extra} | {r.rejected} / {r.lost_answers} | "
            f"{r.seconds:.0f} |"
        )
    lines.append("")
    lines.append(f"Targets: lost 0, doubled 0, out of order 0; the DLQ holds exactly the {poison} poison task(s) "
                 "per run (handler always fails), and nothing else.")
    unfinished = [r for r in results if r.unfinished]
    for r in unfinished:
        lines.append(f"- {r.consumer} at {r.fault_rate:.0%}: {r.unfinished} task(s) not finished when the time "
                     "limit hit (not counted as lost if still queued; see `lost`).")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chaos", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per consumer run (default 1000)")
    parser.add_argument("--fault-rate", type=float, default=0.05, help="chance each AWS call fails (default 0.05)")
    parser.add_argument("--seed", type=int, default=19)
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run before giving up")
    args = parser.parse_args(argv)
    use_fake_aws_environment()
    import logging

    logging.getLogger("sqstask").setLevel(logging.CRITICAL)  # the faults make a lot of (expected) noise
    results = []
    for consumer in ("worker", "lambda"):
        for rate in (0.0, args.fault_rate):
            print(f"[{time.strftime('%H:%M:%S')}] {consumer}, fault rate {rate:.0%}, {args.tasks} tasks ...",
                  flush=True)
            results.append(run_one(consumer, tasks=args.tasks, fault_rate=rate, seed=args.seed,
                                   timeout=args.timeout))
            r = results[-1]
            print(f"    lost {r.lost}, doubled {r.doubled}, out of order {r.out_of_order}, in DLQ {r.dead_lettered}, "
                  f"{r.calls} calls, {r.seconds:.0f} s", flush=True)
    print()
    print(render(results, poison=max(1, args.tasks // 200)))
    failed = any(r.lost or r.doubled or r.out_of_order for r in results)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
