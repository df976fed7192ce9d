"""API calls per task, counted with botocore hooks, end to end on moto (in-process).

- producer: ``TaskQueue.send_many`` vs a plain ``send_message`` loop;
- consumer: ``Worker`` draining a queue vs a plain receive(1)/delete(1) loop, with a run
  where tasks outlive the visibility timeout so the heartbeat works;
- Lambda path: ``batch_handler`` DynamoDB calls per fresh record and per duplicate, vs
  Powertools' ``SqsFifoPartialProcessor`` + ``idempotent_function`` (DynamoDBPersistenceLayer).

Wall-clock time against moto is reported only as "how long the run took": moto spends
milliseconds per message, so it says nothing about sqstask.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from .counting import CallCounter
from .workload import (
    REGION,
    Drainer,
    Feeder,
    create_table,
    create_team,
    moto,
    new_client,
    queue_depth,
    table_item_sizes,
    task_dicts,
)


@dataclass
class ProducerCalls:
    """SendMessage* calls for ``tasks`` tasks: sqstask's send_many vs a send_message loop."""

    tasks: int
    groups: int
    sqstask_calls: dict[str, int]
    naive_calls: dict[str, int]
    sqstask_entries: int
    max_batch_request_bytes: int
    seconds: float

    @property
    def sqstask_per_task(self) -> float:
        return sum(self.sqstask_calls.values()) / self.tasks

    @property
    def naive_per_task(self) -> float:
        return sum(self.naive_calls.values()) / self.tasks


def producer_calls(tasks: int = 2000, *, groups: int = 20) -> ProducerCalls:
    """Send ``tasks`` tasks both ways and count the SQS calls each made.

    A drainer empties each queue behind the producer (moto slows down with queue length)
    and confirms that every message arrived.
    """
    started = time.monotonic()
    specs = task_dicts(tasks, groups=groups)
    limit = 120 + tasks * 0.2
    with moto():
        ours = create_team("bench-producer")
        naive = create_team("bench-producer-naive")

        counter = CallCounter()
        sqs = new_client("sqs")
        counter.attach(sqs)
        with Drainer(ours.queue_url) as drainer:
            result = ours.task_queue(sqs_client=sqs, dynamodb_client=new_client("dynamodb")).send_many(specs)
            if not result.ok or len(result.sent) != tasks:
                raise RuntimeError(f"send_many did not send every task: {result.failed[:3]}")
            drainer.wait_for(tasks, limit)
        sqstask_calls = counter.by_operation("sqs")
        entries = counter.entries_of("sqs", "SendMessageBatch")
        max_bytes = counter.max_request_bytes[("sqs", "SendMessageBatch")]

        naive_counter = CallCounter()
        plain = new_client("sqs")
        naive_counter.attach(plain)
        with Drainer(naive.queue_url) as drainer:
            for spec in specs:
                plain.send_message(
                    QueueUrl=naive.queue_url,
                    MessageBody=json.dumps(spec["payload"]),
                    MessageGroupId=spec["group_id"],
                    MessageDeduplicationId=spec["task_id"],
                )
            drainer.wait_for(tasks, limit)
        naive_calls = naive_counter.by_operation("sqs")
    return ProducerCalls(tasks, groups, sqstask_calls, naive_calls, entries, max_bytes, time.monotonic() - started)


@dataclass
class ConsumerCalls:
    """Calls a consumer made to drain ``tasks`` tasks (SQS and DynamoDB, by operation)."""

    label: str
    tasks: int
    groups: int
    concurrency: int
    visibility_timeout: int
    task_seconds: float
    sqs_calls: dict[str, int]
    dynamodb_calls: dict[str, int]
    messages_received: int
    messages_requested: int
    deleted_entries: int
    visibility_entries: int
    seconds: float
    item_sizes: list[int] = field(default_factory=list)
    empty_receives: int = 0
    max_held: int = 0  # the Worker's slots: running plus prefetched messages (0: not a Worker)
    ack_deadline: float = 0.0  # longest the Worker lets a partial delete batch wait, seconds

    @property
    def sqs_per_task(self) -> float:
        return sum(self.sqs_calls.values()) / self.tasks

    @property
    def dynamodb_per_task(self) -> float:
        return sum(self.dynamodb_calls.values()) / self.tasks

    def per_task(self, operation: str) -> float:
        """SQS calls of ``operation`` per task."""
        return self.sqs_calls.get(operation, 0) / self.tasks


def worker_calls(
    tasks: int = 2000,
    *,
    groups: int = 100,
    concurrency: int = 10,
    task_seconds: float = 0.0,
    visibility_timeout: int = 300,
    wait_seconds: int = 20,
    backlog: int = 300,
    label: str = "Worker",
    timeout: float | None = None,
) -> ConsumerCalls:
    """Let a ``Worker`` drain ``tasks`` tasks (each sleeping ``task_seconds``); count its calls.

    A feeder keeps up to ``backlog`` tasks queued until all are sent (a steady stream, and
    moto stays fast with a short queue). The worker is stopped once every task has run and the queue is empty; the calls of its
    shutdown (final acknowledgements, the receive in flight) are counted too. Raises when a
    task ran twice or not at all.
    """
    from sqstask import Worker

    started = time.monotonic()
    with moto():
        team = create_team(f"bench-worker-{int(task_seconds * 1000)}", visibility_timeout=visibility_timeout)
        feeder = Feeder(team, task_dicts(tasks, groups=groups), backlog=backlog)
        counter = CallCounter()
        sqs, dynamodb = new_client("sqs"), new_client("dynamodb")
        counter.attach(sqs, dynamodb)
        queue = team.task_queue(sqs_client=sqs, dynamodb_client=dynamodb)
        ran: list[str] = []
        lock = threading.Lock()

        def handle(task: Any) -> dict[str, Any]:
            if task_seconds:
                time.sleep(task_seconds)
            with lock:
                ran.append(task.task_id)
            return {"rendered": task.payload["n"]}

        worker = Worker(queue, handle, concurrency=concurrency, wait_seconds=wait_seconds)
        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        observer = new_client("sqs")
        limit = timeout if timeout is not None else 120 + tasks * (0.1 + task_seconds / concurrency)
        deadline = time.monotonic() + limit
        with feeder:
            thread.start()
            while True:
                feeder.check()
                with lock:
                    done = len(ran)
                if done >= tasks and feeder.done.is_set() and queue_depth(observer, team.queue_url) == 0:
                    break
                if time.monotonic() > deadline or not thread.is_alive():
                    worker.stop(timeout=5)
                    raise RuntimeError(f"{label}: only {done} of {tasks} tasks ran within {limit:.0f} s")
                time.sleep(0.1)
        worker.stop(timeout=30)
        thread.join(wait_seconds + 60)
        if thread.is_alive():
            raise RuntimeError(f"{label}: the worker did not stop")
        if sorted(ran) != sorted(set(ran)) or len(ran) != tasks:
            raise RuntimeError(f"{label}: {len(ran)} runs for {len(set(ran))} distinct tasks (expected {tasks} once each)")
        sizes = table_item_sizes(team.table)
        return ConsumerCalls(
            label=label,
            tasks=tasks,
            groups=groups,
            concurrency=concurrency,
            visibility_timeout=visibility_timeout,
            task_seconds=task_seconds,
            sqs_calls=counter.by_operation("sqs"),
            dynamodb_calls=counter.by_operation("dynamodb"),
            messages_received=counter.messages_received,
            messages_requested=counter.messages_requested,
            deleted_entries=counter.entries_of("sqs", "DeleteMessageBatch"),
            visibility_entries=counter.entries_of("sqs", "ChangeMessageVisibilityBatch"),
            seconds=time.monotonic() - started,
            item_sizes=sizes,
            empty_receives=counter.empty_receives,
            max_held=worker.max_held,
            ack_deadline=worker.ack_deadline,
        )


def naive_consumer_calls(tasks: int = 2000, *, groups: int = 100, backlog: int = 300) -> ConsumerCalls:
    """Drain ``tasks`` tasks with a plain receive(1)/process/delete(1) loop; count its calls.

    Fed like the Worker run (up to ``backlog`` queued). The loop long-polls (20 s), so it
    makes no empty receives while tasks keep coming.
    """
    started = time.monotonic()
    with moto():
        team = create_team("bench-naive-consumer")
        counter = CallCounter()
        sqs = new_client("sqs")
        counter.attach(sqs)
        done = 0
        with Feeder(team, task_dicts(tasks, groups=groups), backlog=backlog) as feeder:
            while done < tasks:
                feeder.check()
                messages = sqs.receive_message(QueueUrl=team.queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=20,
                                               AttributeNames=["All"]).get("Messages", [])
                for message in messages:
                    json.loads(message["Body"])  # the "work"
                    sqs.delete_message(QueueUrl=team.queue_url, ReceiptHandle=message["ReceiptHandle"])
                    done += 1
        return ConsumerCalls(
            label="plain receive(1)/delete(1) loop",
            tasks=tasks,
            groups=groups,
            concurrency=1,
            visibility_timeout=team.visibility_timeout,
            task_seconds=0.0,
            sqs_calls=counter.by_operation("sqs"),
            dynamodb_calls={},
            messages_received=counter.messages_received,
            messages_requested=counter.messages_requested,
            deleted_entries=counter.count("sqs", "DeleteMessage"),
            visibility_entries=0,
            seconds=time.monotonic() - started,
            empty_receives=counter.empty_receives,
        )


# -- Lambda path ----------------------------------------------------------------------------


@dataclass
class LambdaCalls:
    """DynamoDB calls per record of one Lambda-side idempotent handler, fresh and duplicate."""

    label: str
    records: int
    fresh_calls: dict[str, int]
    duplicate_calls: dict[str, int]
    other_calls: dict[str, int]
    item_sizes: list[int]
    keys_read: dict[str, int] = field(default_factory=dict)  # BatchGetItem keys, fresh and duplicate rounds
    items_written: dict[str, int] = field(default_factory=dict)  # BatchWriteItem put requests, by round

    @property
    def fresh_per_record(self) -> float:
        return sum(self.fresh_calls.values()) / self.records

    @property
    def duplicate_per_record(self) -> float:
        return sum(self.duplicate_calls.values()) / self.records


class LambdaContext:
    """A Lambda context with plenty of time left (the same object for every handler)."""

    function_name = "bench-handler"
    function_version = "$LATEST"
    invoked_function_arn = f"arn:aws:lambda:{REGION}:123456789012:function:bench-handler"
    memory_limit_in_mb = 1024
    aws_request_id = "00000000-0000-0000-0000-000000000000"
    log_group_name = "/aws/lambda/bench-handler"
    log_stream_name = "bench"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def render(record_payload: dict[str, Any]) -> dict[str, Any]:
    """The work both handlers do for a record: a small result."""
    return {"rendered": record_payload["n"], "size": [record_payload["width"], record_payload["height"]]}


def sqstask_lambda_handler(queue: Any, *, idempotency: bool | str = True) -> Any:
    """A ``batch_handler`` Lambda handler on ``queue`` doing ``render`` (lease mode, or ``"batch"``)."""
    from sqstask import batch_handler

    @batch_handler(queue, idempotency=idempotency)
    def handle(task: Any) -> dict[str, Any]:
        return render(task.payload)

    return handle


def powertools_lambda_handler(table: str, dynamodb_client: Any) -> Any:
    """The Powertools equivalent: SqsFifoPartialProcessor + idempotent_function keyed on the task id.

    The idempotency key is the envelope's task id (``powertools_json(body).id``), like
    sqstask's, so a redelivery or DLQ redrive of the same task is recognised.
    """
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )

    persistence = DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb_client)
    config = IdempotencyConfig(event_key_jmespath="powertools_json(body).id")
    processor = SqsFifoPartialProcessor()

    @idempotent_function(data_keyword_argument="record", persistence_store=persistence, config=config)
    def record_handler(record: Any) -> dict[str, Any]:
        return render(json.loads(record["body"])["payload"])

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        config.register_lambda_context(context)
        return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                        context=context)

    return handler


def lambda_events(team: Any, records: int, *, groups: int, batch_size: int = 10) -> list[dict[str, Any]]:
    """Real-shaped Lambda SQS events for ``records`` tasks, as the event source mapping builds them."""
    from sqstask.lambda_local import event_from_messages, queue_arn

    queue = team.task_queue(sqs_client=new_client("sqs"), dynamodb_client=new_client("dynamodb"))
    arn = queue_arn(team.queue_url, REGION)
    specs = task_dicts(records, groups=groups, prefix="lambda")
    events = []
    for start in range(0, records, batch_size):
        # a batch at a time, so moto's queue stays short
        if not queue.send_many(specs[start:start + batch_size]).ok:
            raise RuntimeError("could not load the queue")
        messages = queue.receive(max_messages=batch_size, wait_seconds=0, visibility_timeout=900)
        if len(messages) != len(specs[start:start + batch_size]):
            raise RuntimeError(f"received {len(messages)} messages of a batch of {batch_size}")
        events.append(event_from_messages(messages, event_source_arn=arn, region=REGION))
        queue.delete_many(messages)  # the events are kept; the queue is not needed any more
    return events


def lambda_calls(records: int = 500, *, groups: int = 20) -> tuple[LambdaCalls, LambdaCalls]:
    """DynamoDB calls per record for sqstask's batch_handler and the Powertools equivalent.

    Every event is handled twice: first fresh, then again as a redelivery (duplicates).
    """
    with moto():
        team = create_team("bench-lambda")
        events = lambda_events(team, records, groups=groups)
        context = LambdaContext()

        counter = CallCounter()
        sqs, dynamodb = new_client("sqs"), new_client("dynamodb")
        counter.attach(sqs, dynamodb)
        ours = sqstask_lambda_handler(team.task_queue(sqs_client=sqs, dynamodb_client=dynamodb))
        fresh, duplicate, other = _invoke_twice(ours, events, context, counter, "sqstask batch_handler")
        sqstask_result = LambdaCalls("sqstask batch_handler", records, fresh, duplicate, other,
                                     table_item_sizes(team.table))

        create_table("bench-powertools-idempotency", key="id")
        pt_counter = CallCounter()
        pt_dynamodb = new_client("dynamodb")
        pt_counter.attach(pt_dynamodb)
        theirs = powertools_lambda_handler("bench-powertools-idempotency", pt_dynamodb)
        fresh, duplicate, other = _invoke_twice(theirs, events, context, pt_counter, "Powertools")
        powertools_result = LambdaCalls("Powertools SqsFifoPartialProcessor + idempotent_function", records, fresh,
                                        duplicate, other, table_item_sizes("bench-powertools-idempotency"))
    return sqstask_result, powertools_result


def lambda_batch_calls(records: int = 500, *, groups: int = 20) -> LambdaCalls:
    """DynamoDB calls per record of ``batch_handler(idempotency="batch")`` on the same kind of events.

    Also counts the keys each BatchGetItem asked for and the records each BatchWriteItem carried
    (what read and write units are billed on), fresh and as redeliveries.
    """
    with moto():
        team = create_team("bench-lambda-batch")
        events = lambda_events(team, records, groups=groups)
        counter = CallCounter()
        sqs, dynamodb = new_client("sqs"), new_client("dynamodb")
        counter.attach(sqs, dynamodb)
        sizes = {"keys": 0, "items": 0}

        def count_sizes(params: dict[str, Any], model: Any, **_: Any) -> None:
            for spec in params.get("RequestItems", {}).values():
                if model.name == "BatchGetItem":
                    sizes["keys"] += len(spec["Keys"])
                else:
                    sizes["items"] += len(spec)

        dynamodb.meta.events.register("provide-client-params.dynamodb.BatchGetItem", count_sizes)
        dynamodb.meta.events.register("provide-client-params.dynamodb.BatchWriteItem", count_sizes)
        handler = sqstask_lambda_handler(team.task_queue(sqs_client=sqs, dynamodb_client=dynamodb),
                                         idempotency="batch")
        keys: dict[str, int] = {}
        items: dict[str, int] = {}

        def snapshot(round_name: str) -> None:
            keys[round_name], items[round_name] = sizes["keys"], sizes["items"]
            sizes.update(keys=0, items=0)

        counter.reset()
        for event in events:
            _check_no_failures(handler(event, LambdaContext()), "sqstask batch mode")
        fresh = counter.by_operation("dynamodb")
        snapshot("fresh")
        counter.reset()
        for event in events:
            _check_no_failures(handler(event, LambdaContext()), "sqstask batch mode")
        duplicate = counter.by_operation("dynamodb")
        snapshot("duplicate")
        return LambdaCalls("sqstask batch_handler, idempotency=\"batch\"", records, fresh, duplicate, {},
                           table_item_sizes(team.table), keys, items)


def _invoke_twice(handler: Any, events: list[dict[str, Any]], context: Any, counter: CallCounter,
                  label: str) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """(DynamoDB calls fresh, DynamoDB calls as duplicates, other services' calls in both rounds)."""
    counter.reset()
    for event in events:
        _check_no_failures(handler(event, context), label)
    fresh = counter.by_operation("dynamodb")
    other = {f"{k[0]}.{k[1]}": n for k, n in counter.calls.items() if k[0] != "dynamodb"}
    counter.reset()
    for event in events:
        _check_no_failures(handler(event, context), label)
    duplicate = counter.by_operation("dynamodb")
    for (service, operation), n in counter.calls.items():
        if service != "dynamodb":
            other[f"{service}.{operation}"] = other.get(f"{service}.{operation}", 0) + n
    return fresh, duplicate, other


def _check_no_failures(response: Any, label: str) -> None:
    failures = (response or {}).get("batchItemFailures")
    if failures:
        raise RuntimeError(f"{label} reported {len(failures)} failed records; the benchmark expects none")
