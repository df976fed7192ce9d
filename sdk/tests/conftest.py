"""Shared fixtures: fake AWS credentials, moto in-process and over real HTTP, and team resources.

Backends: the ``aws`` fixture is in-process moto by default; a test runs against
``ThreadedMotoServer`` (real HTTP) with ``@pytest.mark.parametrize("aws", ["server"],
indirect=True)``, or against both with ``["inproc", "server"]``. ``make_team(...)`` builds a
team's queue, DLQ, task table and payload bucket on that backend and returns a ``TaskQueue``.
"""

from __future__ import annotations

import functools
import json
import os
import socket
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

REGION = "us-east-1"
SERVER_MARK = "moto_server"


def pytest_configure(config: pytest.Config) -> None:
    # Registered here, not in pytest.ini, so mutation runs (a scratch copy of sdk/) know it too.
    config.addinivalue_line("markers", f"{SERVER_MARK}: runs against a moto server over HTTP (set for you "
                            "on every test whose ``aws`` backend is 'server'); ``-m 'not moto_server'`` skips them")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests that run over a moto server, so a run can leave them out by marker, not by name."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and callspec.params.get("aws") == "server":
            item.add_marker(SERVER_MARK)


@pytest.fixture(autouse=True)
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and region for every test; no SQSTASK_* or profile leaks in."""
    for name in list(os.environ):
        if name.startswith("SQSTASK_") or name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SECURITY_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def moto_server_session() -> Iterator[str]:
    """One ThreadedMotoServer on 127.0.0.1 for the whole session; yields its endpoint URL."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def reset_moto_server(endpoint: str) -> None:
    """Forget every resource the server holds."""
    request = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@pytest.fixture
def moto_server(moto_server_session: str) -> str:
    """The session's ThreadedMotoServer endpoint URL, reset to empty before this test."""
    reset_moto_server(moto_server_session)
    return moto_server_session


@pytest.fixture
def moto_aws() -> Iterator[None]:
    """moto's in-process mock of every AWS service, active for the test."""
    from moto import mock_aws

    with mock_aws():
        yield


@functools.cache
def boto3_session() -> Any:
    """One boto3 session for the whole test process, whose service models load once.

    moto clears boto3's default session at every mock start, and a new session reads each
    service's model files again: about 0.1 s per client, most of a short test's time. The
    credentials it resolves are the fixed fake ones ``aws_credentials`` sets for every test.
    """
    import boto3

    return boto3.session.Session()


@dataclass
class AwsBackend:
    """Where a test's AWS calls go: in-process moto (``endpoint_url`` None) or a moto server."""

    kind: str
    endpoint_url: str | None
    region: str = REGION
    _clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        """A cached boto3 client for ``service`` on this backend."""
        if service not in self._clients:
            self._clients[service] = boto3_session().client(service, region_name=self.region,
                                                            endpoint_url=self.endpoint_url)
        return self._clients[service]


@pytest.fixture
def aws(request: pytest.FixtureRequest) -> Iterator[AwsBackend]:
    """The backend: ``inproc`` (default) or ``server``; choose with indirect parametrisation."""
    kind = getattr(request, "param", "inproc")
    if kind == "inproc":
        from moto import mock_aws

        with mock_aws():
            yield AwsBackend("inproc", None)
    elif kind == "server":
        endpoint = request.getfixturevalue("moto_server")
        yield AwsBackend("server", endpoint)
    else:  # pragma: no cover - misuse of the fixture
        raise ValueError(f"unknown aws backend {kind!r}; use 'inproc' or 'server'")


@pytest.fixture
def make_team(aws: AwsBackend) -> Callable[..., Any]:
    """Factory: create a team's queue, DLQ, task table and payload bucket; return a TaskQueue.

    ``make_team(name="team", *, max_receive_count=5, visibility_timeout=30,
    max_message_size=1048576, payload_bucket=True, table=True, **queue_kwargs)``.
    The TaskQueue gets this backend's shared clients unless ``queue_kwargs`` injects others;
    its ``config.name`` is the team name.
    """
    from sqstask import TaskQueue

    def make(
        name: str = "team",
        *,
        max_receive_count: int = 5,
        visibility_timeout: int = 30,
        max_message_size: int = 1048576,
        payload_bucket: bool = True,
        table: bool = True,
        **queue_kwargs: Any,
    ) -> Any:
        sqs = aws.client("sqs")
        dlq_url = sqs.create_queue(
            QueueName=f"{name}-dlq.fifo",
            Attributes={"FifoQueue": "true", "MessageRetentionPeriod": "1209600"},
        )["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=f"{name}.fifo",
            Attributes={
                "FifoQueue": "true",
                "ContentBasedDeduplication": "false",
                "VisibilityTimeout": str(visibility_timeout),
                "MaximumMessageSize": str(max_message_size),
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        table_name = None
        if table:
            table_name = f"{name}-tasks"
            aws.client("dynamodb").create_table(
                TableName=table_name,
                AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
                KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
                BillingMode="PAY_PER_REQUEST",
            )
        bucket = None
        if payload_bucket:
            bucket = f"{name}-payloads"
            aws.client("s3").create_bucket(Bucket=bucket)
        from sqstask.config import QueueConfig

        config = QueueConfig(
            queue_url=queue_url,
            dlq_url=dlq_url,
            idempotency_table=table_name,
            payload_bucket=bucket,
            region=aws.region,
            endpoint_url=aws.endpoint_url,
            visibility_timeout=visibility_timeout,
            max_message_size=max_message_size,
            queue_arn=queue_arn,
            dlq_arn=dlq_arn,
            name=name,
        )
        clients = {
            "sqs_client": aws.client("sqs"),
            "dynamodb_client": aws.client("dynamodb"),
            "s3_client": aws.client("s3"),
        }
        clients.update(queue_kwargs)
        return TaskQueue(config=config, **clients)

    return make


@pytest.fixture
def atomic_dynamodb_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make moto's DynamoDB writes atomic, as DynamoDB's are.

    moto checks a ConditionExpression and applies the write in two steps without a lock, so two
    threads (or two requests to a ThreadedMotoServer in this process) can both pass the same
    condition. Tests of concurrent conditional writes (idempotency leases) need real atomicity.
    """
    import threading

    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("put_item", "update_item", "delete_item", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(self: Any, *args: Any, __original: Any = original, **kwargs: Any) -> Any:
            with lock:
                return __original(self, *args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)
