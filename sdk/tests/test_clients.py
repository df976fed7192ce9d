"""The clients the SDK builds itself: a static user agent, no client-side validation on the task table.

Every call here is answered by a ``before-send`` hook that records the request: nothing leaves
the process.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ParamValidationError

from sqstask import TaskQueue, __version__
from sqstask.clients import client_config, user_agent
from sqstask.exceptions import ConfigError
from sqstask.handler import batch_handler
from sqstask.idempotency import TaskStore
from sqstask.status import task_record

QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/team.fifo"


class _Body:
    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


class Wire:
    """Answers every call of the clients it is attached to with ``{}``; keeps each request sent."""

    def __init__(self, *clients: Any) -> None:
        self.requests: list[Any] = []
        for client in clients:
            client.meta.events.register("before-send", self._answer)

    def _answer(self, request: Any, **_: Any) -> AWSResponse:
        self.requests.append(request)
        headers = {"x-amzn-RequestId": "test", "Content-Type": "application/x-amz-json-1.0"}
        return AWSResponse(request.url, 200, headers, _Body(b"{}"))

    def user_agent(self) -> str:
        value = self.requests[-1].headers["User-Agent"]
        return value.decode() if isinstance(value, bytes) else value

    def body(self) -> dict[str, Any]:
        body = self.requests[-1].body
        return json.loads(body.decode() if isinstance(body, bytes) else body)


def test_the_sdk_clients_send_the_static_user_agent():
    queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table="tasks")
    wire = Wire(queue.sqs, queue.dynamodb)
    queue.sqs.get_queue_attributes(QueueUrl=QUEUE_URL, AttributeNames=["QueueArn"])
    sent = wire.user_agent()
    queue.dynamodb.get_item(TableName="tasks", Key={"task_id": {"S": "t-1"}})
    assert wire.user_agent() == sent
    assert sent.startswith(f"sqstask/{__version__} Boto3/{boto3.__version__} lang/python#")
    assert sent.startswith(user_agent())
    assert "ua/2.1" not in sent  # not the one botocore assembles per call


def test_the_user_agent_names_the_lambda_runtime(monkeypatch):
    monkeypatch.setenv("AWS_EXECUTION_ENV", "AWS_Lambda_python3.12")
    user_agent.cache_clear()
    try:
        assert user_agent().endswith(" exec-env/AWS_Lambda_python3.12")
    finally:
        user_agent.cache_clear()


def test_the_task_table_client_leaves_validation_to_the_sdk_and_dynamodb():
    queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table="tasks")
    wire = Wire(queue.dynamodb)
    # a default client refuses the string before sending; the SDK's sends it as built
    queue.dynamodb.get_item(TableName="tasks", Key={"task_id": {"S": "t-1"}}, ConsistentRead="yes")
    assert wire.body()["ConsistentRead"] == "yes"
    assert client_config("dynamodb").parameter_validation is False


@pytest.mark.parametrize("service", ["sqs", "s3", "scheduler", "cloudwatch"])
def test_the_other_clients_keep_parameter_validation(service):
    assert client_config(service).parameter_validation is True


def test_the_queue_client_still_refuses_a_malformed_request_before_sending():
    queue = TaskQueue(queue_url=QUEUE_URL)
    wire = Wire(queue.sqs)
    with pytest.raises(ParamValidationError, match="VisibilityTimeout"):
        queue.receive(max_messages=1, wait_seconds=0, visibility_timeout="soon")
    assert wire.requests == []


def test_an_injected_client_is_used_as_given():
    injected = boto3.session.Session().client("dynamodb", region_name="us-east-1")
    queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table="tasks", dynamodb_client=injected)
    assert queue.dynamodb is injected
    wire = Wire(injected)
    injected.get_item(TableName="tasks", Key={"task_id": {"S": "t-1"}})
    assert not wire.user_agent().startswith("sqstask/")
    with pytest.raises(ParamValidationError):
        injected.get_item(TableName="tasks", Key={"task_id": {"S": "t-1"}}, ConsistentRead="yes")


# -- what the task table's client no longer checks, the SDK does ---------------------------------


@pytest.mark.parametrize("task_id", ["", None, 42])
def test_a_status_lookup_needs_a_task_id_string(task_id):
    queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table="tasks")
    wire = Wire(queue.dynamodb)
    with pytest.raises(ValueError, match="a task id must be a non-empty string"):
        task_record(queue, task_id)
    with pytest.raises(ValueError, match="a task id must be a non-empty string"):
        TaskStore(queue.dynamodb, "tasks").get(task_id)
    assert wire.requests == []


@pytest.mark.parametrize("table", ["", 42])
def test_a_handler_table_must_be_a_name(table):
    queue = TaskQueue(queue_url=QUEUE_URL, idempotency_table="tasks")
    with pytest.raises(ConfigError, match="table must be the task table's name"):
        batch_handler(queue, table=table)(lambda task: None)({"Records": []}, None)


def test_a_configured_task_table_must_be_a_name():
    with pytest.raises(ConfigError, match=r"idempotency_table \(SQSTASK_IDEMPOTENCY_TABLE\) must be"):
        TaskQueue(queue_url=QUEUE_URL, idempotency_table=["tasks"])
