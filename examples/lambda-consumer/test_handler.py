"""examples/lambda-consumer/handler.py, invoked as Lambda would: real-shaped SQS events from moto."""

from __future__ import annotations

import pytest

from sqstask import TaskQueue
from sqstask.lambda_local import LocalContext, event_from_messages


@pytest.fixture
def lambda_env(make_team, monkeypatch):
    """The function's environment as main.tf sets it: individual SQSTASK_* variables."""
    config = make_team("receipts", visibility_timeout_seconds=180)
    monkeypatch.delenv("SQSTASK_CONFIG")
    monkeypatch.setenv("SQSTASK_QUEUE_URL", config["queue_url"])
    monkeypatch.setenv("SQSTASK_DLQ_URL", config["dlq_url"])
    monkeypatch.setenv("SQSTASK_IDEMPOTENCY_TABLE", config["idempotency_table"])
    monkeypatch.setenv("SQSTASK_PAYLOAD_BUCKET", config["payload_bucket"])
    monkeypatch.setenv("SQSTASK_VISIBILITY_TIMEOUT", "180")
    return config


@pytest.fixture
def function(load_example, monkeypatch):
    """The handler module with its mail delivery recorded instead of logged."""
    module = load_example("lambda-consumer/handler.py")
    sent: list[tuple[str, str]] = []
    monkeypatch.setattr(module, "deliver", lambda email, subject, body: sent.append((email, subject)))
    module.sent = sent
    return module


def receipt(order: int, customer: str, email: str | None = "a@example.com") -> dict:
    return {"task_type": "send-receipt", "group_id": customer, "task_id": f"receipt-{order}",
            "payload": {"order": order, "email": email, "amount_cents": 1999}}


def event_for(queue: TaskQueue) -> tuple[dict, list[dict]]:
    messages = queue.receive(max_messages=10, wait_seconds=0)
    return event_from_messages(messages, event_source_arn=queue.config.queue_arn or "", region="us-east-1"), messages


def test_a_batch_of_receipts_is_sent_and_reported_all_successful(lambda_env, function):
    queue = TaskQueue.from_env()
    queue.send_many([receipt(1, "acme"), receipt(2, "globex"), receipt(3, "acme")])
    event, _ = event_for(queue)

    response = function.handler(event, LocalContext(30))

    assert response == {"batchItemFailures": []}
    assert sorted(subject for _, subject in function.sent) == [
        "Your receipt for order 1", "Your receipt for order 2", "Your receipt for order 3",
    ]


def test_a_redelivered_batch_sends_no_receipt_twice(lambda_env, function):
    queue = TaskQueue.from_env()
    queue.send_many([receipt(1, "acme"), receipt(2, "globex")])
    event, _ = event_for(queue)
    function.handler(event, LocalContext(30))

    response = function.handler(event, LocalContext(30))  # e.g. Lambda retried after a timeout

    assert response == {"batchItemFailures": []}
    assert len(function.sent) == 2


def test_a_failing_receipt_fails_itself_and_the_rest_of_its_customers_batch_only(lambda_env, function):
    queue = TaskQueue.from_env()
    queue.send_many([receipt(1, "acme", email=None), receipt(2, "globex"), receipt(3, "acme")])
    event, messages = event_for(queue)
    by_task = {m["MessageAttributes"]["sqstask-task-id"]["StringValue"]: m["MessageId"] for m in messages}

    response = function.handler(event, LocalContext(30))

    failed = {item["itemIdentifier"] for item in response["batchItemFailures"]}
    assert failed == {by_task["receipt-1"], by_task["receipt-3"]}  # order 3 waits behind order 1
    assert function.sent == [("a@example.com", "Your receipt for order 2")]


def test_the_deployed_function_runs_unchanged_in_sqstask_lambda_local(lambda_env, function):
    """What `sqstask lambda-local handler:handler` does: poll, invoke, delete the successes."""
    from sqstask.lambda_local import LambdaLocal

    queue = TaskQueue.from_env()
    queue.send_many([receipt(n, f"customer-{n % 3}") for n in range(1, 13)])
    runner = LambdaLocal(queue, function.handler, batch_size=10, wait_seconds=0)

    while runner.run_once(wait_seconds=0) is not None:
        pass

    assert len(function.sent) == 12
    attributes = queue.sqs.get_queue_attributes(QueueUrl=queue.config.queue_url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
