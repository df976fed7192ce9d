"""Library overhead per task with the network taken out (canned answers, client CPU only).

Two comparisons, each interleaved A, B, A, B ... for ``rounds`` rounds after one untimed
warm-up round; the report gives medians per task and their ratio:

- producer: ``TaskQueue.send_many`` vs a plain boto3 ``send_message`` loop (and, for
  reference, a hand-written ``send_message_batch`` loop with no validation or retries);
- Lambda: ``batch_handler`` in lease mode and in batch mode vs Powertools
  (``SqsFifoPartialProcessor`` + ``idempotent_function`` with ``DynamoDBPersistenceLayer``) on
  the same events and the same canned DynamoDB answers — fresh records, and duplicates; and the
  same three with a fixed simulated round trip per AWS call, timed per batch of 10 records
  (wall time: what the number of sequential calls costs a Lambda invocation);
- task metrics: ``batch_handler`` with its EMF metrics on vs off (target: < 3 % per record);
- the floor: the CPU of the smallest DynamoDB write through the same canned client.

Without a simulated round trip the sides are timed in CPU time of this process
(``time.process_time``), so other work on a shared machine does not count.

Metric lines go to the null device (``os.devnull``), a real file write per batch like a
Lambda's stdout, without flooding the terminal.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import json
import os
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from .calls import LambdaContext, powertools_lambda_handler, sqstask_lambda_handler
from .canned import CannedAWS, DynamoResponder, SqsResponder
from .workload import REGION, new_client, task_dicts

QUEUE_URL = f"https://sqs.{REGION}.amazonaws.com/123456789012/bench.fifo"
TABLE = "bench-tasks"
POWERTOOLS_TABLE = "bench-powertools-idempotency"


@dataclass
class Comparison:
    """Seconds per round of each side (same work per round), and the work's size."""

    title: str
    unit: str  # what one item is: "task", "record"
    items: int
    rounds: int
    round_trip_ms: float = 0.0  # simulated network time added to every AWS call
    seconds: dict[str, list[float]] = field(default_factory=dict)
    calls: dict[str, dict[str, int]] = field(default_factory=dict)  # canned calls per round, by side
    # the same API calls replayed straight through the boto3 client: what the requests cost
    client_seconds: dict[str, list[float]] = field(default_factory=dict)
    request_bytes: dict[str, int] = field(default_factory=dict)  # JSON bytes of a round's requests
    # per side and operation, the attribute values of its largest request (item attributes and
    # expression values): what boto3 validates and serialises one by one
    largest_values: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def median_us(self, side: str) -> float:
        """Median microseconds per item of ``side``."""
        return statistics.median(self.seconds[side]) / self.items * 1e6

    def ratio(self, side: str, baseline: str) -> float:
        """``side``'s median time per item divided by ``baseline``'s."""
        return self.median_us(side) / self.median_us(baseline)

    def client_us(self, side: str) -> float:
        """Median microseconds per item that boto3 itself spends on ``side``'s requests."""
        return statistics.median(self.client_seconds[side]) / self.items * 1e6

    def own_us(self, side: str) -> float:
        """Microseconds per item spent in the library itself (total minus the boto3 part)."""
        return self.median_us(side) - self.client_us(side)


class _Recorder:
    """Records the API calls (operation, kwargs) made through clients, to replay them later."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, str, dict[str, Any]]] = []
        self.on = False

    def attach(self, *clients: Any) -> None:
        for client in clients:
            def record(params: dict[str, Any], model: Any, _client: Any = client, **_: Any) -> None:
                if self.on:
                    self.calls.append((_client, xform_name(model.name), copy.deepcopy(params)))
            client.meta.events.register("provide-client-params", record, unique_id=f"bench-rec-{id(client)}")

    def replay(self) -> None:
        for client, method, params in self.calls:
            try:
                getattr(client, method)(**params)
            except ClientError:  # a duplicate's conditional write: the answer the library got too
                pass

    def request_bytes(self) -> int:
        return sum(len(json.dumps(params, default=str)) for _, _, params in self.calls)

    def largest_values(self) -> dict[str, list[str]]:
        """Per operation, the item attribute names and expression placeholders of its largest call."""
        largest: dict[str, list[str]] = {}
        for _, method, params in self.calls:
            names = list(params.get("Item", {})) + list(params.get("ExpressionAttributeValues", {}))
            if len(names) > len(largest.get(method, [])):
                largest[method] = names
        return largest


def interleave(comparison: Comparison, sides: dict[str, Callable[[], None]],
               canned: dict[str, CannedAWS], *, replay: bool = True) -> Comparison:
    """Run every side once untimed (recording its API calls), then ``rounds`` times in turn.

    Timed with ``comparison_clock``. Afterwards the recorded calls of each side are replayed
    straight through boto3 for ``rounds`` interleaved rounds: that is what the requests
    themselves cost the client, and the rest of a side's time is the library's own work
    (``replay=False`` skips this).
    """
    recorders: dict[str, _Recorder] = {}
    for name, run in sides.items():
        recorder = recorders[name] = _Recorder()
        recorder.attach(*canned[name].clients)
        canned[name].calls.clear()
        recorder.on = True
        run()
        recorder.on = False
        comparison.calls[name] = dict(canned[name].calls)
        comparison.request_bytes[name] = recorder.request_bytes()
        comparison.largest_values[name] = recorder.largest_values()
        comparison.seconds[name] = []
        comparison.client_seconds[name] = []
    clock = comparison_clock(comparison)
    for _ in range(comparison.rounds):
        for name, run in sides.items():
            gc.collect()
            started = clock()
            run()
            comparison.seconds[name].append(clock() - started)
    for _ in range(comparison.rounds if replay else 0):
        for name in sides:
            gc.collect()
            started = clock()
            recorders[name].replay()
            comparison.client_seconds[name].append(clock() - started)
    return comparison


def comparison_clock(comparison: Comparison) -> Callable[[], float]:
    """The clock a comparison is timed with: this process's CPU time, or wall time with a round trip.

    Without a simulated network every side is pure CPU work, and CPU time leaves out the time
    other processes on a shared machine hold the cores (wall time counts it, unevenly across
    rounds). With a simulated round trip the sleeps are the point, so wall time.
    """
    return time.perf_counter if comparison.round_trip_ms else time.process_time


def bare_call_us(calls: int = 1000, *, rounds: int = 7, lean: bool = False) -> list[float]:
    """CPU µs per call of the smallest DynamoDB write through a canned client, once per round.

    One UpdateItem carrying only a key and ``REMOVE`` of one attribute: what boto3 spends on
    any call (events, endpoint, user agent, signing, parsing) before the request's own
    attribute values, i.e. the floor under every single-item write of every side. ``lean``
    uses a client made with the SDK's own config (``sqstask.clients.client_config``: a static
    user agent, no parameter validation) instead of boto3's default one.
    """
    if lean:
        import boto3

        from sqstask.clients import client_config

        client = boto3.session.Session().client("dynamodb", region_name=REGION, config=client_config("dynamodb"))
    else:
        client = new_client("dynamodb")
    CannedAWS(DynamoResponder()).attach(client)
    request = {"TableName": TABLE, "Key": {"task_id": {"S": "bare"}}, "UpdateExpression": "REMOVE unused"}
    client.update_item(**request)  # warm-up: endpoint resolution and the first request are not timed
    per_call = []
    for _ in range(rounds):
        gc.collect()
        started = time.process_time()
        for _ in range(calls):
            client.update_item(**request)
        per_call.append((time.process_time() - started) / calls * 1e6)
    return per_call


# -- producer ---------------------------------------------------------------------------------


def producer_overhead(tasks: int = 2000, *, rounds: int = 7, groups: int = 20) -> Comparison:
    """Time sending ``tasks`` tasks: send_many vs a send_message loop vs a bare batch loop."""
    from sqstask import TaskQueue

    specs = task_dicts(tasks, groups=groups)
    canned = {name: CannedAWS(SqsResponder()) for name in ("sqstask send_many", "boto3 send_message loop",
                                                           "boto3 send_message_batch loop (reference)")}
    clients = {name: new_client("sqs") for name in canned}
    for name, client in clients.items():
        canned[name].attach(client)
    queue = TaskQueue(queue_url=QUEUE_URL, region=REGION, sqs_client=clients["sqstask send_many"])

    def ours() -> None:
        if not queue.send_many(specs).ok:
            raise RuntimeError("send_many failed against canned answers")

    def naive() -> None:
        client = clients["boto3 send_message loop"]
        for spec in specs:
            client.send_message(QueueUrl=QUEUE_URL, MessageBody=json.dumps(spec["payload"]),
                                MessageGroupId=spec["group_id"], MessageDeduplicationId=spec["task_id"])

    def bare_batches() -> None:
        client = clients["boto3 send_message_batch loop (reference)"]
        for start in range(0, len(specs), 10):
            entries = [
                {"Id": str(i), "MessageBody": json.dumps(spec["payload"]), "MessageGroupId": spec["group_id"],
                 "MessageDeduplicationId": spec["task_id"]}
                for i, spec in enumerate(specs[start:start + 10])
            ]
            client.send_message_batch(QueueUrl=QUEUE_URL, Entries=entries)

    comparison = Comparison("Producer: send tasks", "task", tasks, rounds)
    return interleave(comparison, {"sqstask send_many": ours, "boto3 send_message loop": naive,
                                   "boto3 send_message_batch loop (reference)": bare_batches}, canned)


# -- Lambda handler ---------------------------------------------------------------------------


def synthetic_events(records: int, *, groups: int = 20, batch_size: int = 10) -> list[dict[str, Any]]:
    """Lambda SQS events carrying sqstask envelopes, built as the event source mapping would."""
    from sqstask.lambda_local import event_from_messages, queue_arn
    from sqstask.task import encode_envelope, task_attributes

    arn = queue_arn(QUEUE_URL, REGION)
    now_ms = str(int(time.time() * 1000))
    messages = []
    for n, spec in enumerate(task_dicts(records, groups=groups, prefix="lambda")):
        messages.append({
            "MessageId": str(uuid.UUID(int=n + 1)),
            "ReceiptHandle": f"handle-{n}",
            "Body": encode_envelope(spec["task_id"], spec["task_type"], spec["payload"]),
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": now_ms,
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": now_ms,
                "SequenceNumber": str(10**19 + n),
                "MessageGroupId": spec["group_id"],
                "MessageDeduplicationId": spec["task_id"],
            },
            "MessageAttributes": task_attributes(spec["task_id"], spec["task_type"]),
            "MD5OfBody": "0" * 32,
        })
    return [event_from_messages(messages[i:i + batch_size], event_source_arn=arn, region=REGION)
            for i in range(0, len(messages), batch_size)]


def _sqstask_completed(operation: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """The stored record a duplicate's claim collides with: COMPLETED, same payload hash."""
    values = request.get("ExpressionAttributeValues", {})
    return {
        **request["Key"],
        "status": {"S": "COMPLETED"},
        "payload_hash": values.get(":hash", {"S": ""}),
        "attempt": {"N": "1"},
        "finished_at": {"S": "2026-01-01T00:00:00.000Z"},
    }


def _powertools_completed(operation: str, request: dict[str, Any]) -> dict[str, Any] | None:
    """The stored record Powertools' PutItem collides with: COMPLETED, with the saved result."""
    if operation != "PutItem":
        return None
    return {**request["Item"], "status": {"S": "COMPLETED"}, "data": {"S": json.dumps({"rendered": 0})}}


LEASE_SIDE, BATCH_SIDE, POWERTOOLS_SIDE = "sqstask batch_handler", "sqstask batch_handler, batch mode", "Powertools"


def handler_overhead(records: int = 2000, *, rounds: int = 7, duplicates: bool = False,
                     round_trip: float = 0.0) -> Comparison:
    """Time handling ``records`` records (batches of 10): lease mode, batch mode, Powertools.

    With ``duplicates`` every record is already COMPLETED (conditional writes collide, batch
    reads find it), so every side skips the work. ``round_trip`` seconds are added to every
    canned answer (see ``CannedAWS``): the timings then include the simulated network.
    """
    from sqstask import TaskQueue

    events = synthetic_events(records)
    context = LambdaContext()
    ours = _sqstask_completed if duplicates else None
    canned = {
        LEASE_SIDE: CannedAWS(DynamoResponder(ours), round_trip=round_trip),
        BATCH_SIDE: CannedAWS(DynamoResponder(ours), round_trip=round_trip),
        POWERTOOLS_SIDE: CannedAWS(DynamoResponder(_powertools_completed if duplicates else None),
                                   round_trip=round_trip),
    }
    handlers = {}
    for side, mode in ((LEASE_SIDE, True), (BATCH_SIDE, "batch")):
        # The clients the SDK builds itself (its client_config), as a user's Lambda gets them;
        # Powertools below gets boto3's default client, as its users do.
        queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table=TABLE, region=REGION)
        canned[side].attach(queue.dynamodb, queue.sqs)
        handlers[side] = sqstask_lambda_handler(queue, idempotency=mode)
    theirs_dynamodb = new_client("dynamodb")
    canned[POWERTOOLS_SIDE].attach(theirs_dynamodb)
    handlers[POWERTOOLS_SIDE] = powertools_lambda_handler(POWERTOOLS_TABLE, theirs_dynamodb)

    kind = "duplicate records" if duplicates else "fresh records"
    title = (f"Lambda handler: {kind}, {round_trip * 1000:g} ms per AWS call" if round_trip
             else f"Lambda handler: {kind}")
    comparison = Comparison(title, "record", records, rounds, round_trip_ms=round_trip * 1000)
    return interleave(comparison, {side: _run_events(handler, side, events, context)
                                   for side, handler in handlers.items()}, canned, replay=not round_trip)


def _run_events(handler: Any, label: str, events: list[dict[str, Any]], context: Any) -> Callable[[], None]:
    """A round: every event through ``handler``, metric lines (stdout) to the null device."""
    def go() -> None:
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            for event in events:
                if handler(event, context).get("batchItemFailures"):
                    raise RuntimeError(f"{label} reported failures against canned answers")
    return go


METRICS_ON, METRICS_OFF = "batch_handler, metrics on", "batch_handler, metrics off"


def metrics_overhead(records: int = 2000, *, rounds: int = 7) -> Comparison:
    """Time ``records`` fresh records through ``batch_handler`` with its EMF metrics on and off."""
    from sqstask import TaskQueue
    from sqstask.config import QueueConfig

    events = synthetic_events(records)
    context = LambdaContext()
    canned = {name: CannedAWS(DynamoResponder()) for name in (METRICS_ON, METRICS_OFF)}
    sides = {}
    for name in canned:
        dynamodb, sqs = new_client("dynamodb"), new_client("sqs")
        canned[name].attach(dynamodb, sqs)
        config = QueueConfig(queue_url=QUEUE_URL, idempotency_table=TABLE, region=REGION,
                             metrics=name == METRICS_ON)
        queue = TaskQueue(config=config, sqs_client=sqs, dynamodb_client=dynamodb)
        sides[name] = _run_events(sqstask_lambda_handler(queue), name, events, context)
    comparison = Comparison("Lambda handler: task metrics (EMF) on vs off", "record", records, rounds)
    return interleave(comparison, sides, canned)


def emf_cost(records: int = 2000, *, repeats: int = 7, batch_size: int = 10) -> list[float]:
    """Microseconds per record that writing the metrics costs, once per repeat (batches of 10).

    The A/B comparison above cannot resolve a cost this small on a shared machine; this times
    exactly what ``batch_handler`` adds per batch (collect the outcomes, build the documents,
    write one line per task type to the null device) on the same synthetic records.
    """
    from sqstask.handler import Outcome
    from sqstask.metrics import EmfWriter
    from sqstask.task import task_from_record

    tasks = [task_from_record(record) for event in synthetic_events(records, batch_size=batch_size)
             for record in event["Records"]]
    batches = [[Outcome("succeeded", task, duration_ms=3) for task in tasks[i:i + batch_size]]
               for i in range(0, len(tasks), batch_size)]
    per_record = []
    with open(os.devnull, "w", encoding="utf-8") as sink:
        writer = EmfWriter("sqstask", "bench.fifo", stream=sink)
        for _ in range(repeats):
            gc.collect()
            started = time.process_time()
            for batch in batches:
                writer.emit_batch(batch)
            per_record.append((time.process_time() - started) / len(tasks) * 1e6)
    return per_record
