"""The local Lambda runner: real-shaped SQS events, and deleting what Lambda would delete."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from sqstask.cli import main
from sqstask.handler import batch_handler
from sqstask.idempotency import TaskStore
from sqstask.lambda_local import LambdaLocal, LocalContext, deletable, event_from_messages

TESTS_DIR = Path(__file__).resolve().parent


def queue_counts(queue):
    attrs = queue.sqs.get_queue_attributes(
        QueueUrl=queue.config.queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]), int(attrs["ApproximateNumberOfMessagesNotVisible"])


def receive(queue, expected):
    messages = []
    for _ in range(10):
        messages += queue.receive(max_messages=10, wait_seconds=0)
        if len(messages) >= expected:
            break
    assert len(messages) == expected, f"received {len(messages)} of {expected}"
    return messages


def test_event_records_have_the_shape_lambda_delivers(make_team):
    queue = make_team("ll1")
    sent = queue.send("resize", {"w": 100}, group_id="img", task_id="r-1")
    [message] = receive(queue, 1)

    [record] = event_from_messages([message], event_source_arn=queue.config.queue_arn, region="us-east-1")["Records"]

    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody",
                           "eventSource", "eventSourceARN", "awsRegion"}
    assert record["messageId"] == sent.message_id and record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == queue.config.queue_arn
    assert record["attributes"]["MessageGroupId"] == "img"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert record["messageAttributes"]["sqstask-task-id"] == {
        "stringValue": "r-1", "stringListValues": [], "binaryListValues": [], "dataType": "String"
    }
    assert queue.to_task(record).task_id == "r-1"


def test_local_context_counts_down_from_the_timeout():
    now = [100.0]
    context = LocalContext(3.0, clock=lambda: now[0])
    now[0] += 1.25

    assert context.get_remaining_time_in_millis() == 1750
    now[0] += 10
    assert context.get_remaining_time_in_millis() == 0


@pytest.mark.parametrize("response", [None, {}, {"batchItemFailures": []}])
def test_empty_response_means_every_message_is_deleted(response):
    messages = [{"MessageId": "a"}, {"MessageId": "b"}]

    assert deletable(messages, response) == (messages, [], None)


def test_reported_failures_are_kept_and_the_rest_deleted():
    messages = [{"MessageId": "a"}, {"MessageId": "b"}, {"MessageId": "c"}]

    to_delete, failed, error = deletable(messages, {"batchItemFailures": [{"itemIdentifier": "b"}]})

    assert [m["MessageId"] for m in to_delete] == ["a", "c"] and failed == ["b"] and error is None


@pytest.mark.parametrize("response", [{"batchItemFailures": [{"itemIdentifier": "zzz"}]},
                                      {"batchItemFailures": [{"itemIdentifier": ""}]},
                                      {"batchItemFailures": "a"}])
def test_invalid_failure_report_fails_the_whole_batch(response):
    messages = [{"MessageId": "a"}, {"MessageId": "b"}]

    to_delete, failed, error = deletable(messages, response)

    assert to_delete == [] and failed == ["a", "b"] and "whole batch" in error


def test_invoke_deletes_everything_except_reported_failures(make_team):
    queue = make_team("ll2")

    @batch_handler(queue)
    def handle(task):
        if task.payload.get("fail"):
            raise RuntimeError("nope")

    queue.send("t", {"fail": True}, group_id="a")
    queue.send("t", {}, group_id="b")
    queue.send("t", {}, group_id="c")

    invocation = LambdaLocal(queue, handle).invoke(receive(queue, 3))

    assert invocation.ok and invocation.deleted == 2 and len(invocation.failed_ids) == 1
    assert queue_counts(queue) == (0, 1)  # the failure stays in flight until its visibility timeout


def test_invoke_deletes_nothing_when_the_handler_raises(make_team):
    queue = make_team("ll3")

    def broken_handler(event, context):
        raise RuntimeError("init failed")

    queue.send("t", {}, group_id="a")
    queue.send("t", {}, group_id="b")

    invocation = LambdaLocal(queue, broken_handler).invoke(receive(queue, 2))

    assert not invocation.ok and "RuntimeError: init failed" in invocation.error
    assert invocation.deleted == 0 and queue_counts(queue) == (0, 2)


def test_default_timeout_is_a_sixth_of_the_visibility_timeout(make_team):
    assert LambdaLocal(make_team("ll4", visibility_timeout=120), lambda e, c: None).timeout == 20


def _config_file(queue, tmp_path):
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps({k: v for k, v in asdict(queue.config).items() if v not in (None, ())}))
    return str(path)


@pytest.mark.parametrize("target", ["exec_tasks:lambda_handler", "exec_tasks:record"])
def test_cli_runs_a_batch_handler_or_a_plain_function_until_idle(make_team, tmp_path, monkeypatch, target):
    queue = make_team("ll5")
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    monkeypatch.setenv("EXEC_TASKS_DIR", str(tmp_path))
    monkeypatch.setenv("SQSTASK_CONFIG", "")  # restored after the test: lambda-local exports the config
    for n in range(3):
        queue.send("t", {}, group_id=f"g{n % 2}", task_id=f"cli-{n}")

    code = main(["lambda-local", target, "--config", _config_file(queue, tmp_path), "--wait-seconds", "1",
                 "--idle-exit", "2"])

    assert code == 0
    assert sorted((tmp_path / "effects.log").read_text().split()) == ["cli-0", "cli-1", "cli-2"]
    assert queue_counts(queue) == (0, 0)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    assert store.get("cli-2")["status"] == "COMPLETED"


def test_worker_cli_reports_an_unimportable_target_in_one_line(capsys):
    code = main(["worker", "no_such_module_here:handle", "--queue-url",
                 "https://sqs.us-east-1.amazonaws.com/123456789012/x.fifo"])

    err = capsys.readouterr().err.strip()
    assert code == 1
    assert err.count("\n") == 0 and "cannot import module 'no_such_module_here'" in err


def test_worker_cli_rejects_a_target_without_a_function_name(capsys):
    code = main(["worker", "just_a_module", "--queue-url", "https://sqs.us-east-1.amazonaws.com/123456789012/x.fifo"])

    assert code == 1 and "is not MODULE:FUNC" in capsys.readouterr().err


def test_group_retried_after_a_failure_keeps_its_order(make_team):
    queue = make_team("ll6", visibility_timeout=1)
    log = []

    @batch_handler(queue)
    def handle(task):
        log.append(task.task_id)
        if task.task_id == "a0" and log.count("a0") == 1:
            raise RuntimeError("first try fails")

    for n in range(3):
        queue.send("t", {}, group_id="A", task_id=f"a{n}")
    runner = LambdaLocal(queue, handle)
    for _ in range(30):
        if len(log) >= 4:
            break
        runner.run_once(wait_seconds=1)

    assert log == ["a0", "a0", "a1", "a2"]
    assert queue_counts(queue) == (0, 0)
