"""Grants match code: each role's policy allows exactly the AWS actions its code paths call.

The policies are the module's own documents (modules/iam and modules/lambda-trigger, planned
with Terraform for a team with every part: customer managed key, task table, payload bucket,
alarms, schedule group). The actions are recorded while the SDK runs each role's code paths
against moto: every botocore API call made inside a role's block is recorded as
``service:Operation``. Three documented maps turn calls into IAM actions:

- ``API_ACTIONS``: the API operations authorized by another action (batch operations by their
  single-message action, HeadObject by s3:GetObject; Service Authorization Reference);
- ``DEPENDENT_ACTIONS``: actions a call needs besides its own (iam:PassRole to create or
  update a schedule);
- ``KMS_USE``: what SSE with a customer managed key needs from the caller, and through which
  service (kms:ViaService): SQS, S3, DynamoDB and EventBridge Scheduler developer guides.

A test fails when a code path calls an action its role's policy does not grant, or when a
policy grants an action no code path of that role calls.
"""

from __future__ import annotations

import json
import os
import threading
import time
from fnmatch import fnmatchcase
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from role_policies import ACCOUNT, ALARM_NAMES, KEY_ARN, REGION, ROLE_ARN, TEAM, plan_policies

RECURRING = "nightly-report"
LARGE = "x" * 3000  # over the 1 KiB max_message_size configured below: offloaded to S3

# API operations authorized by another IAM action.
API_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
    "s3:HeadObject": "s3:GetObject",
}
# Actions a call needs besides its own: the schedule's execution role is passed to Scheduler.
DEPENDENT_ACTIONS = {
    "scheduler:CreateSchedule": {"iam:PassRole"},
    "scheduler:UpdateSchedule": {"iam:PassRole"},
}
# With a customer managed key: the KMS actions each call makes the service perform with the
# caller's permissions, as (action, service of kms:ViaService).
KMS_USE = {
    # SQS SSE: producers need GenerateDataKey and Decrypt, consumers Decrypt.
    "sqs:SendMessage": {("kms:GenerateDataKey", "sqs"), ("kms:Decrypt", "sqs")},
    "sqs:ReceiveMessage": {("kms:Decrypt", "sqs")},
    # S3 SSE-KMS: a (single-part) PutObject needs GenerateDataKey, GetObject Decrypt.
    "s3:PutObject": {("kms:GenerateDataKey", "s3")},
    "s3:GetObject": {("kms:Decrypt", "s3")},
    # DynamoDB with a customer managed table key.
    "dynamodb:GetItem": {("kms:Decrypt", "dynamodb")},
    "dynamodb:UpdateItem": {("kms:Decrypt", "dynamodb")},
    # Schedules encrypted with the team key (the module's recurring ones): reading returns the
    # decrypted input; UpdateSchedule also checks the key (DescribeKey) and re-encrypts.
    "scheduler:GetSchedule": {("kms:Decrypt", "scheduler")},
    "scheduler:UpdateSchedule": {("kms:DescribeKey", "scheduler"), ("kms:Decrypt", "scheduler"), ("kms:GenerateDataKey", "scheduler")},
}
# Calls whose KMS use does not apply to a role: producers only read back their own delayed sends
# (GetSchedule after a repeated send_at), whose input send_at leaves to an AWS owned key.
KMS_USE_NOT_APPLICABLE = {"producer": {"scheduler:GetSchedule"}}
# What Lambda's event source mapping calls with the function's execution role (Lambda developer
# guide, "Using Lambda with Amazon SQS": execution role permissions).
LAMBDA_POLLER_ACTIONS = {"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}

# -- the policies, as Terraform plans them ----------------------------------------------------


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """Each role's policy document, from `terraform plan` of the modules with every part given."""
    return plan_policies(tmp_path_factory.mktemp("role-policies"))


def granted(policy: dict[str, Any]) -> tuple[set[str], set[tuple[str, str]]]:
    """(actions other than kms:, {(kms action, via service)}) that ``policy`` allows."""
    actions: set[str] = set()
    kms: set[tuple[str, str]] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow", statement
        for action in [statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"]:
            if not action.startswith("kms:"):
                actions.add(action)
                continue
            via = statement.get("Condition", {}).get("StringEquals", {}).get("kms:ViaService")
            assert via, f"{statement['Sid']}: {action} without kms:ViaService"
            kms.update((action, value.split(".", 1)[0]) for value in ([via] if isinstance(via, str) else via))
    return actions, kms


def needed(role: str, calls: set[str]) -> tuple[set[str], set[tuple[str, str]]]:
    """(actions, {(kms action, via service)}) that ``calls`` need under a customer managed key."""
    actions = {API_ACTIONS.get(call, call) for call in calls}
    actions |= {dependent for action in set(actions) for dependent in DEPENDENT_ACTIONS.get(action, ())}
    skip = KMS_USE_NOT_APPLICABLE.get(role, set())
    kms = {use for action in actions - skip for use in KMS_USE.get(action, ())}
    return actions, kms


# -- recording what code paths call -----------------------------------------------------------


# moto lacks SQS message move tasks: these answers let `sqstask dlq redrive` take its real
# StartMessageMoveTask path (start, then poll ListMessageMoveTasks until done) instead of its
# fallback, so both calls are recorded. The answers are shaped like SQS's.
MOTO_GAPS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "sqs:StartMessageMoveTask": lambda params: {"TaskHandle": "move-task-1"},
    "sqs:ListMessageMoveTasks": lambda params: {
        "Results": [{"TaskHandle": "move-task-1", "Status": "COMPLETED", "ApproximateNumberOfMessagesMoved": 0}]
    },
}


def targets_of(call: str, params: dict[str, Any]) -> set[tuple[str, str]]:
    """(IAM action, resource ARN) pairs ``call`` is authorized on (Service Authorization Reference)."""
    action = API_ACTIONS.get(call, call)
    service = call.split(":", 1)[0]
    if service == "sqs":
        if "QueueUrl" in params:
            return {(action, f"arn:aws:sqs:{REGION}:{ACCOUNT}:{params['QueueUrl'].rsplit('/', 1)[-1]}")}
        found = {(action, params["SourceArn"])}
        if "DestinationArn" in params:  # a message move task sends to its destination
            found.add(("sqs:SendMessage", params["DestinationArn"]))
        return found
    if service == "s3":
        return {(action, f"arn:aws:s3:::{params['Bucket']}/{params['Key']}")}
    if service == "dynamodb":
        return {(action, f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{params['TableName']}")}
    if action == "cloudwatch:DescribeAlarms":
        return {(action, f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}") for name in params["AlarmNames"]}
    if service == "scheduler" and "Name" in params:
        schedule = f"arn:aws:scheduler:{REGION}:{ACCOUNT}:schedule/{params.get('GroupName', 'default')}/{params['Name']}"
        found = {(action, schedule)}
        if "Target" in params:
            found.add(("iam:PassRole", params["Target"]["RoleArn"]))
        return found
    return {(action, "*")}  # actions without resource-level permissions


class Recorder:
    """Records ``service:Operation`` of every botocore call while ``active``, and what it targets."""

    def __init__(self) -> None:
        self.active = False
        self.calls: set[str] = set()
        self.targets: set[tuple[str, str]] = set()
        self._lock = threading.Lock()

    def __call__(self, original: Callable[..., Any]) -> Callable[..., Any]:
        recorder = self

        def make_api_call(client: Any, operation_name: str, params: Any) -> Any:
            call = f"{client.meta.service_model.service_name}:{operation_name}"
            if recorder.active:
                with recorder._lock:
                    recorder.calls.add(call)
                    recorder.targets |= targets_of(call, params)
            if call in MOTO_GAPS:
                return MOTO_GAPS[call](params)
            return original(client, operation_name, params)

        return make_api_call

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Setup inside a recorded path: calls made here are not the role's."""
        self.active = False
        try:
            yield
        finally:
            self.active = True

    def run(self, path: Callable[[], None]) -> set[str]:
        """The calls ``path`` makes."""
        self.calls = set()
        self.targets = set()
        self.active = True
        try:
            path()
        finally:
            self.active = False
        return set(self.calls)


@dataclass
class Team:
    """One team's resources in moto and the sdk_config that names them."""

    config: Any
    monkeypatch: pytest.MonkeyPatch
    recorder: Recorder
    paths: dict[str, set[str]] = field(default_factory=dict)

    def queue(self, **changes: Any) -> Any:
        from sqstask import TaskQueue

        return TaskQueue(config=self.config.with_overrides(**changes))

    def cli(self, *argv: str, expect: int = 0) -> None:
        from sqstask.cli import main

        self.monkeypatch.setenv("SQSTASK_CONFIG", json.dumps(asdict(self.config)))
        code = main(list(argv))
        assert code == expect, f"sqstask {' '.join(argv)} exited {code}"


@pytest.fixture
def team(monkeypatch: pytest.MonkeyPatch) -> Iterator[Team]:
    """The team's queue, DLQ, table, bucket, alarms, schedule group and a recurring schedule."""
    import boto3
    from botocore.client import BaseClient
    from moto import mock_aws

    from sqstask.config import QueueConfig

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    for name in [n for n in os.environ if n.startswith("SQSTASK_")]:
        monkeypatch.delenv(name)
    recorder = Recorder()
    with mock_aws(), mock.patch.object(BaseClient, "_make_api_call", recorder(BaseClient._make_api_call)):
        sqs = boto3.client("sqs", region_name=REGION)
        dlq_url = sqs.create_queue(QueueName=f"{TEAM}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        queue_url = sqs.create_queue(
            QueueName=f"{TEAM}.fifo",
            Attributes={
                "FifoQueue": "true",
                "VisibilityTimeout": "30",
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}),
            },
        )["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        schedule_dlq_arn = sqs.get_queue_attributes(
            QueueUrl=sqs.create_queue(QueueName=f"{TEAM}-schedule-dlq")["QueueUrl"], AttributeNames=["QueueArn"]
        )["Attributes"]["QueueArn"]
        boto3.client("dynamodb", region_name=REGION).create_table(
            TableName=f"{TEAM}-tasks",
            AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        boto3.client("s3", region_name=REGION).create_bucket(Bucket=f"{TEAM}-payloads")
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for name in ALARM_NAMES:
            cloudwatch.put_metric_alarm(
                AlarmName=name,
                Namespace="AWS/SQS",
                MetricName="ApproximateNumberOfMessagesVisible",
                Dimensions=[{"Name": "QueueName", "Value": f"{TEAM}-dlq.fifo"}],
                Statistic="Maximum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=0,
                ComparisonOperator="GreaterThanThreshold",
            )
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule_group(Name=TEAM)
        task_id = f"sched:{RECURRING}:<aws.scheduler.scheduled-time>"
        scheduler.create_schedule(
            Name=RECURRING,
            GroupName=TEAM,
            ScheduleExpression="cron(0 2 * * ? *)",
            FlexibleTimeWindow={"Mode": "OFF"},
            KmsKeyArn=KEY_ARN,
            Target={
                "Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage",
                "RoleArn": ROLE_ARN,
                "Input": json.dumps(
                    {
                        "QueueUrl": queue_url,
                        "MessageGroupId": RECURRING,
                        "MessageDeduplicationId": task_id,
                        "MessageBody": json.dumps(
                            {"v": 1, "id": task_id, "type": "report", "payload": {}, "created_at": "<aws.scheduler.scheduled-time>"}
                        ),
                    }
                ),
                "DeadLetterConfig": {"Arn": schedule_dlq_arn},
            },
        )
        config = QueueConfig(
            queue_url=queue_url,
            dlq_url=dlq_url,
            idempotency_table=f"{TEAM}-tasks",
            payload_bucket=f"{TEAM}-payloads",
            region=REGION,
            visibility_timeout=30,
            max_message_size=1024,
            alarm_names=ALARM_NAMES,
            schedule_group=TEAM,
            scheduler_role_arn=ROLE_ARN,
            schedule_dead_letter_arn=schedule_dlq_arn,
            queue_arn=queue_arn,
            dlq_arn=dlq_arn,
            name=TEAM,
        )
        yield Team(config, monkeypatch, recorder)


# -- the code paths of each role --------------------------------------------------------------


def producer_paths(team: Team) -> None:
    """TaskQueue.send / send_many (small and offloaded), send_at / send_after, `sqstask send`."""
    from sqstask import TaskSpec

    queue = team.queue()
    queue.send("small", {"n": 1}, group_id="g", task_id="p-small")
    queue.send("large", {"blob": LARGE}, group_id="g", task_id="p-large")
    result = queue.send_many([TaskSpec("small", {"n": n}, "g", f"p-many-{n}") for n in range(3)] + [TaskSpec("large", {"blob": LARGE}, "g", "p-many-large")])
    assert not result.failed, result.failed
    when = datetime.now(timezone.utc) + timedelta(hours=1)
    assert queue.send_at(when, "later", {"n": 1}, group_id="g", task_id="p-later").created
    assert not queue.send_at(when, "later", {"n": 1}, group_id="g", task_id="p-later").created  # reads it back
    queue.send_after(timedelta(minutes=5), "later", {"n": 2}, group_id="g", task_id="p-after")
    team.cli("send", "small", "--group", "g", "--payload", '{"n": 3}', "--task-id", "p-cli")


def seed_tasks(team: Team, prefix: str, count: int = 3) -> None:
    """Tasks on the queue (one offloaded), sent outside any recorded path."""
    queue = team.queue()
    for n in range(count):
        queue.send("work", {"n": n}, group_id=f"{prefix}-g{n}", task_id=f"{prefix}-{n}")
    queue.send("work", {"blob": LARGE}, group_id=f"{prefix}-large", task_id=f"{prefix}-large")


def receive_all(queue: Any, expected: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    for _ in range(10):
        messages += queue.receive(max_messages=10, wait_seconds=0)
        if len(messages) >= expected:
            break
    assert len(messages) == expected, f"received {len(messages)} of {expected} messages"
    return messages


def lambda_handler_paths(team: Team, *, chaining: bool) -> Callable[[], None]:
    """batch_handler in each idempotency mode, on successful, failing and offloaded tasks."""
    from sqstask import Then
    from sqstask.handler import batch_handler
    from sqstask.lambda_local import event_from_messages

    def handle(task: Any) -> Any:
        if task.payload.get("n") == 1:
            raise ValueError("task 1 always fails")
        if chaining and task.payload.get("n") == 0 and not task.task_type.startswith("next"):
            return Then("next", {"n": 9})
        return {"ok": True}

    def run() -> None:
        for mode in (True, False):
            with team.recorder.paused():
                purge(team)
                seed_tasks(team, f"lambda-{mode}-{chaining}")
            queue = team.queue()
            messages = receive_all(queue, 4)
            event = event_from_messages(messages, event_source_arn=team.config.queue_arn, region=REGION)
            handler = batch_handler(queue, idempotency=mode)(handle)
            response = handler(event, None)
            assert len(response["batchItemFailures"]) == 1, response

    return run


def worker_paths(team: Team, *, chaining: bool) -> Callable[[], None]:
    """Worker (threads, heartbeats, backoff on failure) and an explicit Heartbeat."""
    from sqstask import Heartbeat, Then
    from sqstask.backoff import Backoff
    from sqstask.worker import Worker

    done: set[str] = set()
    lock = threading.Lock()

    def handle(task: Any) -> Any:
        if task.payload.get("n") == 1:
            with lock:
                done.add(task.task_id)
            raise ValueError("task 1 always fails")
        if task.payload.get("n") == 0:
            time.sleep(1.2)  # outlives a heartbeat interval
        with lock:
            done.add(task.task_id)
        if chaining and task.payload.get("n") == 0:
            return Then("next", {"n": 9})
        return {"ok": True}

    def run() -> None:
        queue = team.queue()
        worker = Worker(queue, handle, concurrency=2, wait_seconds=1, heartbeat_interval=0.5, backoff=Backoff(base=1, cap=2, jitter=0))
        thread = threading.Thread(target=worker.run, kwargs={"install_signal_handlers": False}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len({t for t in done if t.startswith("wrk-")}) < 4:
            time.sleep(0.05)
        worker.stop(timeout=10)
        thread.join(30)
        assert not thread.is_alive(), "worker did not stop within 30 s"
        assert len({t for t in done if t.startswith("wrk-")}) == 4, f"the worker ran {sorted(done)} within 30 s"
        with team.recorder.paused():
            seed_tasks(team, "hb", 1)
        messages = queue.receive(max_messages=10, wait_seconds=1)
        assert messages, "no task to keep alive"
        extended = threading.Event()
        with Heartbeat(queue, messages, visibility_timeout=30, interval=0.2, on_extend=lambda _: extended.set()):
            assert extended.wait(10), "the heartbeat extended nothing within 10 s"

    return run


def consumer_paths(team: Team, *, chaining: bool) -> None:
    """The Lambda handler paths, then the worker paths, each on freshly sent tasks."""
    lambda_handler_paths(team, chaining=chaining)()
    with team.recorder.paused():
        purge(team)
        seed_tasks(team, "wrk")
    worker_paths(team, chaining=chaining)()


def purge(team: Team) -> None:
    """Delete every visible task (PurgeQueue is limited to once a minute); in-flight ones stay hidden."""
    sqs = team.queue().sqs
    while True:
        messages = sqs.receive_message(QueueUrl=team.config.queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return
        for message in messages:
            sqs.delete_message(QueueUrl=team.config.queue_url, ReceiptHandle=message["ReceiptHandle"])


def seed_dead_letters(team: Team) -> None:
    """Two dead-lettered tasks (one offloaded) with failed task records, and a metric point."""
    from sqstask.idempotency import TaskStore

    dlq = team.queue(queue_url=team.config.dlq_url)
    dlq.send("work", {"n": 1}, group_id="dead", task_id="dead-1")
    dlq.send("work", {"blob": LARGE}, group_id="dead-large", task_id="dead-2")
    store = TaskStore(dlq.dynamodb, team.config.idempotency_table)
    for message in receive_all(dlq, 2):
        task = dlq.to_task(message)
        store.fail(store.claim(task, lease_seconds=30), ValueError("boom"))
        dlq.sqs.change_message_visibility(QueueUrl=team.config.dlq_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)


def operator_paths(team: Team) -> None:
    """Every operator command of the CLI."""
    team.cli("alarms")
    team.cli("status")
    team.cli("status", "dead-1")
    team.cli("dlq", "list")
    team.cli("dlq", "show", "dead-2")
    team.cli("dlq", "redrive", "--task-id", "dead-1", "--dry-run")
    team.cli("dlq", "redrive", "--task-id", "dead-1")
    team.cli("dlq", "redrive")
    with team.recorder.paused():
        seed_dead_letters(team)
    team.cli("dlq", "purge", "--yes")
    team.cli("schedules", "list")
    team.cli("schedules", "disable", RECURRING)
    team.cli("schedules", "enable", RECURRING)
    team.cli("schedules", "run", RECURRING)


# -- the checks -------------------------------------------------------------------------------


def assert_grants_match(role: str, policy: dict[str, Any], calls: set[str], extra: set[str] = frozenset()) -> None:
    actions, kms = needed(role, calls | extra)
    allowed, allowed_kms = granted(policy)
    problems = []
    if actions - allowed:
        problems.append(f"called but not granted: {sorted(actions - allowed)}")
    if allowed - actions:
        problems.append(f"granted but never called: {sorted(allowed - actions)}")
    if kms - allowed_kms:
        problems.append(f"key use needed but not granted (action, via): {sorted(kms - allowed_kms)}")
    if allowed_kms - kms:
        problems.append(f"key use granted but never needed (action, via): {sorted(allowed_kms - kms)}")
    assert not problems, f"{role} (calls: {sorted(calls)}):\n" + "\n".join(problems)


def assert_targets_granted(role: str, policy: dict[str, Any], targets: set[tuple[str, str]]) -> None:
    """Every (action, resource) a code path called is allowed by a statement of ``policy``."""
    refused = []
    for action, resource in sorted(targets):
        allowed = [
            pattern
            for statement in policy["Statement"]
            if action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
            for pattern in ([statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"])
        ]
        if not any(fnmatchcase(resource, pattern) for pattern in allowed):
            refused.append(f"{action} on {resource} (granted on {allowed or 'nothing'})")
    assert not refused, f"{role} calls outside its policy's resources:\n" + "\n".join(refused)


def test_producer_policy_grants_exactly_what_the_send_paths_call(team, policies):
    calls = team.recorder.run(lambda: producer_paths(team))
    assert_grants_match("producer", policies["producer"], calls)
    assert_targets_granted("producer", policies["producer"], team.recorder.targets)


def test_consumer_policy_grants_exactly_what_handlers_workers_and_heartbeats_call(team, policies):
    calls = team.recorder.run(lambda: consumer_paths(team, chaining=False))
    assert_grants_match("consumer", policies["consumer"], calls)
    assert_targets_granted("consumer", policies["consumer"], team.recorder.targets)


def test_chaining_consumer_policy_adds_exactly_the_follow_up_send(team, policies):
    calls = team.recorder.run(lambda: consumer_paths(team, chaining=True))
    assert "sqs:SendMessage" in calls or "sqs:SendMessageBatch" in calls, sorted(calls)
    assert_grants_match("consumer", policies["chaining_consumer"], calls)
    assert_targets_granted("consumer", policies["chaining_consumer"], team.recorder.targets)


def test_lambda_consumer_policy_grants_what_batch_handler_and_the_lambda_poller_call(team, policies):
    calls = team.recorder.run(lambda_handler_paths(team, chaining=False))
    assert_grants_match("lambda-consumer", policies["lambda_consumer"], calls, LAMBDA_POLLER_ACTIONS)
    assert_targets_granted("lambda-consumer", policies["lambda_consumer"], team.recorder.targets)
    calls = team.recorder.run(lambda_handler_paths(team, chaining=True))
    assert_grants_match("lambda-consumer", policies["chaining_lambda"], calls, LAMBDA_POLLER_ACTIONS)
    assert_targets_granted("lambda-consumer", policies["chaining_lambda"], team.recorder.targets)


def test_operator_policy_grants_exactly_what_the_operator_commands_call(team, policies):
    seed_dead_letters(team)
    calls = team.recorder.run(lambda: operator_paths(team))
    assert_grants_match("operator", policies["operator"], calls)
    assert_targets_granted("operator", policies["operator"], team.recorder.targets)


def test_the_check_fails_on_a_grant_no_code_calls_and_on_a_call_not_granted(policies):
    policy = json.loads(json.dumps(policies["producer"]))
    calls = {"sqs:SendMessage", "sqs:SendMessageBatch", "s3:PutObject", "scheduler:CreateSchedule", "scheduler:GetSchedule"}
    assert_grants_match("producer", policy, calls)
    with pytest.raises(AssertionError, match="granted but never called: \\['s3:PutObject'\\]"):
        assert_grants_match("producer", policy, calls - {"s3:PutObject"})
    with pytest.raises(AssertionError, match="called but not granted: \\['sqs:GetQueueUrl'\\]"):
        assert_grants_match("producer", policy, calls | {"sqs:GetQueueUrl"})
    policy["Statement"][0]["Action"].append("sqs:PurgeQueue")
    with pytest.raises(AssertionError, match="granted but never called: \\['sqs:PurgeQueue'\\]"):
        assert_grants_match("producer", policy, calls)
    dlq = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{TEAM}-dlq.fifo"
    with pytest.raises(AssertionError, match=f"sqs:SendMessage on {dlq}"):
        assert_targets_granted("producer", policies["producer"], {("sqs:SendMessage", dlq)})
