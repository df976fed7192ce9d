"""Task metrics: EMF documents from batch_handler (per batch) and the Worker (per interval)."""

from __future__ import annotations

import io
import json
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from sqstask import handler as handler_module
from sqstask.config import QueueConfig
from sqstask.exceptions import ConfigError
from sqstask.handler import Outcome, batch_handler
from sqstask.lambda_local import event_from_messages
from sqstask.metrics import COUNT_METRICS, MAX_VALUES, EmfWriter, IntervalMetrics, MetricsBatch
from sqstask.task import Task, encode_envelope, task_attributes
from sqstask.worker import Worker

# The units the EMF specification allows (those of CloudWatch's StandardUnit).
EMF_UNITS = {
    "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
    "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
    "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
    "Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
}


def check_emf(doc):
    """Assert ``doc`` is an EMF document as the specification requires; returns it."""
    assert isinstance(doc, dict), "an EMF document is a JSON object"
    meta = doc.get("_aws")
    assert isinstance(meta, dict), "the root needs an _aws metadata object"
    stamp = meta.get("Timestamp")
    assert isinstance(stamp, int) and not isinstance(stamp, bool), "_aws.Timestamp: milliseconds since the epoch"
    assert abs(stamp / 1000 - time.time()) < 3600, "Timestamp is in milliseconds and recent"
    directives = meta.get("CloudWatchMetrics")
    assert isinstance(directives, list) and directives, "_aws.CloudWatchMetrics: a non-empty array"
    for directive in directives:
        assert set(directive) <= {"Namespace", "Dimensions", "Metrics"}, "no extra MetricDirective members"
        namespace = directive["Namespace"]
        assert isinstance(namespace, str) and 1 <= len(namespace) <= 255 and not namespace.startswith("AWS/")
        dimension_sets = directive["Dimensions"]
        assert isinstance(dimension_sets, list)
        for dimension_set in dimension_sets:
            assert isinstance(dimension_set, list) and 1 <= len(dimension_set) <= 30
            for name in dimension_set:
                assert isinstance(doc.get(name), str) and doc[name], f"dimension {name} needs a string root member"
        metrics = directive["Metrics"]
        assert isinstance(metrics, list) and 1 <= len(metrics) <= 100, "1..100 MetricDefinitions"
        for metric in metrics:
            assert set(metric) <= {"Name", "Unit", "StorageResolution"}
            name = metric["Name"]
            assert isinstance(name, str) and 1 <= len(name) <= 255
            assert metric.get("Unit", "None") in EMF_UNITS
            value = doc.get(name)
            values = value if isinstance(value, list) else [value]
            assert values and len(values) <= MAX_VALUES, f"{name}: 1..100 values"
            assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values), name
    return doc


def emf_lines(text):
    """The EMF documents among the lines of ``text``, each checked against the specification."""
    docs = []
    for line in text.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            docs.append(check_emf(json.loads(line)))
    return docs


def by_type(docs):
    return {doc["TaskType"]: doc for doc in docs if "TaskType" in doc}


def make_task(task_type="t", *, receive_count=1, created_at=None):
    return Task(task_id="id", task_type=task_type, payload={}, group_id="g", receive_count=receive_count,
                message_id="m", sent_at=None, created_at=created_at)


# -- batch_handler ---------------------------------------------------------------------------


@pytest.fixture
def queue(make_team):
    return make_team("m", max_receive_count=3)


def receive_all(queue, expected):
    messages = []
    for _ in range(10):
        messages += queue.receive(max_messages=10, wait_seconds=0)
        if len(messages) >= expected:
            break
    assert len(messages) == expected, f"received {len(messages)} of {expected} messages"
    return messages


def send_created(queue, task_type, task_id, group_id, created_at):
    """Send an sqstask envelope whose created_at is ``created_at``."""
    queue.sqs.send_message(
        QueueUrl=queue.config.queue_url,
        MessageBody=encode_envelope(task_id, task_type, {"id": task_id}, created_at=created_at),
        MessageGroupId=group_id,
        MessageDeduplicationId=task_id,
        MessageAttributes=task_attributes(task_id, task_type),
    )


def test_a_batch_writes_one_document_per_task_type_with_its_outcomes(queue, capsys):
    created = datetime.now(timezone.utc) - timedelta(seconds=5)
    send_created(queue, "resize", "ok-1", "g1", created)
    send_created(queue, "resize", "ok-2", "g2", created)
    send_created(queue, "resize", "bad", "g3", created)
    send_created(queue, "email", "mail-1", "g4", created)
    queue.sqs.send_message(QueueUrl=queue.config.queue_url, MessageBody='{"v": 9, "id": "x", "type": "y"}',
                           MessageGroupId="g5", MessageDeduplicationId="broken")

    def handle(task):
        if task.task_id == "bad":
            raise RuntimeError("boom")
        time.sleep(0.01)

    lambda_handler = batch_handler(queue)(handle)
    event = event_from_messages(receive_all(queue, 5), event_source_arn=queue.config.queue_arn, region="us-east-1")
    capsys.readouterr()
    lambda_handler(event, None)
    docs = emf_lines(capsys.readouterr().out)

    types = by_type(docs)
    assert len(docs) == 3 and set(types) == {"resize", "email", "(unreadable)"}, "one document per task type"
    resize = types["resize"]
    assert resize["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "sqstask"
    assert resize["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Queue", "TaskType"], ["Queue"]]
    assert resize["Queue"] == "m.fifo"
    assert (resize["TasksSucceeded"], resize["TasksFailed"], resize["TasksDuplicate"], resize["TasksMalformed"]) == (
        2, 1, 0, 0)
    assert len(resize["TaskDuration"]) == 3 and sorted(resize["TaskDuration"])[1] >= 10, "two slept 10 ms"
    assert len(resize["TaskLatency"]) == 2, "latency of succeeded tasks only"
    assert all(5000 <= ms < 65000 for ms in resize["TaskLatency"]), resize["TaskLatency"]
    assert resize["ReceiveCount"] == [1, 1, 1]
    units = {m["Name"]: m["Unit"] for m in resize["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert units["TaskLatency"] == units["TaskDuration"] == "Milliseconds" and units["TasksFailed"] == "Count"
    assert types["email"]["TasksSucceeded"] == 1 and types["email"]["TasksFailed"] == 0
    unreadable = types["(unreadable)"]
    assert unreadable["TasksMalformed"] == 1 and "TaskLatency" not in unreadable and "ReceiveCount" not in unreadable


def test_a_duplicate_delivery_is_counted_as_duplicate(queue, capsys):
    queue.send("t", {"n": 1}, group_id="g", task_id="once")
    lambda_handler = batch_handler(queue)(lambda task: None)
    messages = receive_all(queue, 1)
    event = event_from_messages(messages, event_source_arn=queue.config.queue_arn, region="us-east-1")
    lambda_handler(event, None)
    capsys.readouterr()
    lambda_handler(event, None)  # the same record again: already completed
    (doc,) = emf_lines(capsys.readouterr().out)
    assert (doc["TasksDuplicate"], doc["TasksSucceeded"]) == (1, 0)
    assert "TaskDuration" not in doc and "TaskLatency" not in doc


def test_metrics_off_in_the_config_writes_nothing(make_team, capsys):
    queue = make_team("off")
    from sqstask import TaskQueue

    quiet = TaskQueue(config=queue.config.with_overrides(metrics=False),
                      sqs_client=queue.sqs, dynamodb_client=queue.dynamodb, s3_client=queue.s3)
    quiet.send("t", {}, group_id="g", task_id="a")
    event = event_from_messages(receive_all(quiet, 1), event_source_arn=quiet.config.queue_arn, region="us-east-1")
    capsys.readouterr()
    assert batch_handler(quiet)(lambda task: None)(event, None) == {"batchItemFailures": []}
    assert emf_lines(capsys.readouterr().out) == []


def test_the_namespace_comes_from_the_config(make_team, capsys):
    queue = make_team("ns")
    from sqstask import TaskQueue

    named = TaskQueue(config=queue.config.with_overrides(metrics_namespace="Team/Tasks"),
                      sqs_client=queue.sqs, dynamodb_client=queue.dynamodb, s3_client=queue.s3)
    named.send("t", {}, group_id="g", task_id="a")
    event = event_from_messages(receive_all(named, 1), event_source_arn=named.config.queue_arn, region="us-east-1")
    capsys.readouterr()
    batch_handler(named)(lambda task: None)(event, None)
    (doc,) = emf_lines(capsys.readouterr().out)
    assert doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Team/Tasks"


# -- the documents themselves ----------------------------------------------------------------


def test_more_than_100_values_are_split_and_counts_are_written_once():
    stream = io.StringIO()
    writer = EmfWriter("sqstask", "q.fifo", stream=stream)
    outcomes = [Outcome("succeeded", make_task(), duration_ms=n) for n in range(250)]
    writer.emit_batch(outcomes)
    docs = emf_lines(stream.getvalue())
    assert len(docs) == 3
    assert [len(doc["TaskDuration"]) for doc in docs] == [100, 100, 50]
    assert sum(value for doc in docs for value in doc["TaskDuration"]) == sum(range(250))
    assert [doc.get("TasksSucceeded") for doc in docs] == [250, None, None]


def test_latency_falls_back_to_the_sqs_sent_time_for_plain_bodies():
    sent = datetime.now(timezone.utc) - timedelta(seconds=2)
    task = Task(task_id="p", task_type="plain", payload="x", group_id="g", receive_count=2, message_id="m",
                sent_at=sent, enveloped=False)
    batch = MetricsBatch()
    batch.add(Outcome("succeeded", task, duration_ms=1, finished_at=sent.timestamp() + 2.5))
    stats = batch.types["plain"]
    assert stats.values["TaskLatency"] == [2500] and stats.values["ReceiveCount"] == [2]


def test_count_metrics_cover_every_outcome_status_of_the_handler():
    statuses = {handler_module.SUCCEEDED, handler_module.FAILED, handler_module.DUPLICATE,
                handler_module.MALFORMED, handler_module.IN_PROGRESS}
    assert set(COUNT_METRICS) == statuses


def test_a_write_that_fails_is_logged_once_and_never_raised(caplog):
    class Closed(io.StringIO):
        def write(self, text):
            raise ValueError("I/O operation on closed file")

    writer = EmfWriter("sqstask", "q.fifo", stream=Closed())
    for _ in range(3):
        writer.emit_batch([Outcome("succeeded", make_task(), duration_ms=1)])
    warnings = [r for r in caplog.records if "metrics-failed" in r.getMessage()]
    assert len(warnings) == 1


# -- configuration ---------------------------------------------------------------------------


def test_metrics_setting_and_namespace_from_the_environment():
    cfg = QueueConfig.from_env({"SQSTASK_QUEUE_URL": "https://q/1/a.fifo", "SQSTASK_METRICS": "off",
                                "SQSTASK_METRICS_NAMESPACE": "Acme/Tasks"})
    assert cfg.metrics is False and cfg.metrics_namespace == "Acme/Tasks"
    assert EmfWriter.from_config(cfg) is None
    default = QueueConfig.from_env({"SQSTASK_QUEUE_URL": "https://q/1/a.fifo"})
    assert default.metrics is True and default.metrics_namespace == "sqstask"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"metrics": "sometimes"}, "must be true or false"),
        ({"metrics": 1}, "must be true or false"),
        ({"metrics_namespace": "AWS/SQS"}, "not starting with AWS/"),
        ({"metrics_namespace": ""}, "must be a CloudWatch namespace"),
        ({"metrics_namespace": "x" * 256}, "must be a CloudWatch namespace"),
        ({"metrics_namespace": "bad|char"}, "must be a CloudWatch namespace"),
    ],
)
def test_bad_metrics_settings_are_clear_config_errors(data, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        QueueConfig.from_mapping({"queue_url": "https://q/1/a.fifo", **data})


# -- the Worker ------------------------------------------------------------------------------


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_utilization_is_busy_thread_seconds_over_available_thread_seconds():
    clock = FakeClock()
    stream = io.StringIO()
    metrics = IntervalMetrics(EmfWriter("sqstask", "q.fifo", stream=stream), concurrency=2, interval=60,
                              in_flight=lambda: 3, clock=clock)
    clock.now += 10
    metrics.started()
    clock.now += 30
    metrics.record(Outcome("succeeded", make_task(), duration_ms=30000))
    metrics.finished()
    clock.now += 20
    metrics.started()  # still running when the interval ends: its 0 s so far count
    metrics.flush()
    worker_doc, = [d for d in emf_lines(stream.getvalue()) if "WorkerUtilization" in d]
    assert worker_doc["WorkerUtilization"] == 25.0  # 30 busy thread-seconds of 2 x 60
    assert worker_doc["TasksInFlight"] == 3
    assert worker_doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Queue"]]
    clock.now += 60
    stream.truncate(0)
    stream.seek(0)
    metrics.flush()  # the task that started above ran the whole next interval on 1 of 2 threads
    (worker_doc,) = emf_lines(stream.getvalue())
    assert worker_doc["WorkerUtilization"] == 50.0 and "TaskType" not in worker_doc


def test_worker_writes_per_interval_not_per_task(make_team, capsys):
    queue = make_team("wm")
    for n in range(12):
        queue.send("a" if n % 3 else "b", {"n": n}, group_id=f"g{n % 4}", task_id=f"t{n}")
    done = threading.Event()
    ran = []

    def handle(task):
        ran.append(task.task_id)
        if len(ran) == 12:
            done.set()

    worker = Worker(queue, handle, concurrency=2, wait_seconds=1, idle_exit=2, metrics_interval=30)
    capsys.readouterr()
    thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
    thread.start()
    assert done.wait(60), "the worker did not run the 12 tasks within 60 s"
    thread.join(60)
    assert not thread.is_alive(), "the worker did not exit on idle within 60 s"
    docs = emf_lines(capsys.readouterr().out)
    worker_docs = [d for d in docs if "WorkerUtilization" in d]
    task_docs = [d for d in docs if "TaskType" in d]
    # One write per interval (30 s; a loaded machine may need more than one) plus the last at
    # shutdown; each write has one document per task type seen, never one per task.
    assert 1 <= len(worker_docs) <= 3 and len(task_docs) <= 2 * len(worker_docs)
    assert len(docs) == len(worker_docs) + len(task_docs)

    def total(task_type, metric):
        return sum(
            len(d[metric]) if isinstance(d.get(metric), list) else d.get(metric, 0)
            for d in task_docs if d["TaskType"] == task_type
        )

    assert (total("a", "TasksSucceeded"), total("b", "TasksSucceeded")) == (8, 4)
    assert total("a", "TaskLatency") == 8 and total("a", "TaskDuration") == 8 and total("b", "ReceiveCount") == 4
    assert all(0 <= d["WorkerUtilization"] <= 100 for d in worker_docs)
    assert worker_docs[-1]["TasksInFlight"] == 0, "nothing is held once the worker stopped"
    assert re.fullmatch(r".+:\d+", worker_docs[-1]["Worker"])


def test_worker_rejects_a_metrics_interval_that_is_not_positive(make_team):
    with pytest.raises(ValueError, match="metrics interval must be more than 0"):
        Worker(make_team("wi"), lambda task: None, metrics_interval=0)
