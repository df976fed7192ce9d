"""Each moto extension of tests/localaws is needed (the gap shows on plain moto) and works.

Two moto servers run side by side, one with every extension and one without any, both with
IAM enforcement; each test makes the same calls on both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws import MotoServer, Principal
from localaws.principals import access_denied
from localaws.extensions import EXTENSIONS

ALL = tuple(extension.__name__ for extension in EXTENSIONS)


@pytest.fixture(scope="module")
def extended() -> Iterator[MotoServer]:
    with MotoServer.start() as server:
        yield server


@pytest.fixture(scope="module")
def plain() -> Iterator[MotoServer]:
    with MotoServer.start(skip_extensions=ALL) as server:
        yield server


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _queue_pair(server: MotoServer, name: str) -> tuple[str, str]:
    sqs = server.client("sqs")
    dlq = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    main = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    return main, dlq


def _arn(server: MotoServer, url: str) -> str:
    return server.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def test_plain_moto_drops_redrive_allow_policy(plain: MotoServer) -> None:
    main, dlq = _queue_pair(plain, "allow")
    sqs = plain.client("sqs")
    policy = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [_arn(plain, main)]})
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": policy})
    with pytest.raises(ClientError) as raised:
        sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["RedriveAllowPolicy"])
    assert "InvalidAttributeName" in error_code(raised.value)


def test_redrive_allow_policy_round_trips(extended: MotoServer) -> None:
    main, dlq = _queue_pair(extended, "allow")
    sqs = extended.client("sqs")
    policy = json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [_arn(extended, main)]})
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": policy})
    named = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["RedriveAllowPolicy"])["Attributes"]
    everything = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]
    assert json.loads(named["RedriveAllowPolicy"]) == json.loads(policy)
    assert json.loads(everything["RedriveAllowPolicy"]) == json.loads(policy)
    # An empty value removes it, as on AWS (what the provider's destroy waits for).
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": ""})
    assert "RedriveAllowPolicy" not in sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["All"])["Attributes"]


def _policy_then_redrive(server: MotoServer) -> dict[str, str]:
    main, dlq = _queue_pair(server, "keep")
    sqs = server.client("sqs")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sqs:*", "Resource": _arn(server, main), "Condition": {"Bool": {"aws:SecureTransport": "false"}}}]}
    sqs.set_queue_attributes(QueueUrl=main, Attributes={"Policy": json.dumps(policy)})
    redrive = {"deadLetterTargetArn": _arn(server, dlq), "maxReceiveCount": 3}
    sqs.set_queue_attributes(QueueUrl=main, Attributes={"RedrivePolicy": json.dumps(redrive)})
    return sqs.get_queue_attributes(QueueUrl=main, AttributeNames=["All"])["Attributes"]


def test_plain_moto_forgets_the_policy_when_another_attribute_is_set(plain: MotoServer) -> None:
    attributes = _policy_then_redrive(plain)
    assert "RedrivePolicy" in attributes
    assert "Policy" not in attributes


def test_setting_one_attribute_keeps_the_others(extended: MotoServer) -> None:
    attributes = _policy_then_redrive(extended)
    assert "RedrivePolicy" in attributes
    assert json.loads(attributes["Policy"])["Statement"][0]["Effect"] == "Deny"


def _table_reader(server: MotoServer, table: str, granted_table: str) -> Principal:
    server.client("dynamodb").create_table(
        TableName=table,
        BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
    )
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["dynamodb:GetItem", "dynamodb:PutItem"], "Resource": f"arn:aws:dynamodb:{server.region}:123456789012:table/{granted_table}"}]}
    return Principal.create(server, f"reader-of-{granted_table}-{table}", policy_documents={"table": grant})


def test_plain_moto_refuses_a_table_scoped_grant(plain: MotoServer) -> None:
    reader = _table_reader(plain, "scoped-tasks", "scoped-tasks")
    with pytest.raises(ClientError) as raised:
        reader.client("dynamodb").get_item(TableName="scoped-tasks", Key={"task_id": {"S": "t1"}})
    assert access_denied(raised.value)


def test_table_scoped_grant_allows_that_table_only(extended: MotoServer) -> None:
    reader = _table_reader(extended, "scoped-tasks", "scoped-tasks")
    dynamodb = reader.client("dynamodb")
    dynamodb.put_item(TableName="scoped-tasks", Item={"task_id": {"S": "t1"}})
    assert dynamodb.get_item(TableName="scoped-tasks", Key={"task_id": {"S": "t1"}})["Item"]["task_id"]["S"] == "t1"
    stranger = _table_reader(extended, "other-tasks", "scoped-tasks")
    with pytest.raises(ClientError) as raised:
        stranger.client("dynamodb").get_item(TableName="other-tasks", Key={"task_id": {"S": "t1"}})
    assert access_denied(raised.value)


def test_plain_moto_rejects_signed_get_requests_of_rest_json_services(plain: MotoServer) -> None:
    scheduler = plain.client("scheduler")
    scheduler.create_schedule_group(Name="signed")
    with pytest.raises(ClientError) as raised:
        scheduler.get_schedule_group(Name="signed")
    assert "SignatureDoesNotMatch" in str(raised.value)


def test_signed_get_requests_verify_and_forged_ones_still_fail(extended: MotoServer) -> None:
    scheduler = extended.client("scheduler")
    scheduler.create_schedule_group(Name="signed")
    assert scheduler.get_schedule_group(Name="signed")["Name"] == "signed"
    forged = extended.session().client(
        "scheduler", endpoint_url=extended.endpoint,
        aws_access_key_id=extended.admin.access_key_id, aws_secret_access_key="wrong-secret",
    )
    with pytest.raises(ClientError) as raised:
        forged.get_schedule_group(Name="signed")
    assert "SignatureDoesNotMatch" in str(raised.value)


def _batch_sender(server: MotoServer, suffix: str) -> tuple[Principal, str]:
    url = server.client("sqs").create_queue(QueueName=f"batch-{suffix}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = _arn(server, url)
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": arn}]}
    return Principal.create(server, f"batch-sender-{suffix}", policy_documents={"send": grant}), url


def _send_batch(principal: Principal, url: str) -> None:
    principal.client("sqs").send_message_batch(
        QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "{}", "MessageGroupId": "g", "MessageDeduplicationId": "d1"}]
    )


def test_plain_moto_wants_a_grant_named_after_the_batch_call(plain: MotoServer) -> None:
    sender, url = _batch_sender(plain, "plain")
    with pytest.raises(ClientError) as raised:
        _send_batch(sender, url)
    assert access_denied(raised.value) and "sqs:SendMessageBatch" in str(raised.value)


def test_send_message_grant_authorises_send_message_batch(extended: MotoServer) -> None:
    sender, url = _batch_sender(extended, "extended")
    _send_batch(sender, url)
    with pytest.raises(ClientError) as raised:  # still scoped: another queue is refused
        _send_batch(sender, extended.client("sqs").create_queue(QueueName="other.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"])
    assert access_denied(raised.value)


def _alarm_reader(server: MotoServer, suffix: str) -> Principal:
    cloudwatch = server.client("cloudwatch")
    for name in (f"team-{suffix}-backlog", f"team-{suffix}-dlq", f"other-{suffix}-dlq"):
        cloudwatch.put_metric_alarm(
            AlarmName=name, Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible", Statistic="Maximum",
            Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanOrEqualToThreshold",
        )
    arns = [f"arn:aws:cloudwatch:{server.region}:123456789012:alarm:team-{suffix}-{kind}" for kind in ("backlog", "dlq")]
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["cloudwatch:DescribeAlarms"], "Resource": arns}]}
    return Principal.create(server, f"alarm-reader-{suffix}", policy_documents={"alarms": grant})


def test_plain_moto_refuses_an_alarm_scoped_cloudwatch_grant(plain: MotoServer) -> None:
    reader = _alarm_reader(plain, "plain")
    with pytest.raises(ClientError) as raised:
        reader.client("cloudwatch").describe_alarms(AlarmNames=["team-plain-backlog"])
    assert access_denied(raised.value)


def test_alarm_scoped_grant_describes_those_alarms_only(extended: MotoServer) -> None:
    reader = _alarm_reader(extended, "ext").client("cloudwatch")
    alarms = reader.describe_alarms(AlarmNames=["team-ext-backlog", "team-ext-dlq"])["MetricAlarms"]
    assert sorted(a["AlarmName"] for a in alarms) == ["team-ext-backlog", "team-ext-dlq"]
    for names in (["other-ext-dlq"], ["team-ext-backlog", "other-ext-dlq"]):
        with pytest.raises(ClientError) as raised:
            reader.describe_alarms(AlarmNames=names)
        assert access_denied(raised.value), names


def _schedule_reader(server: MotoServer, suffix: str) -> Principal:
    scheduler = server.client("scheduler")
    group = f"team-{suffix}"
    scheduler.create_schedule_group(Name=group)
    for name in ("nightly", "weekly"):
        scheduler.create_schedule(
            Name=name, GroupName=group, ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": "arn:aws:sqs:eu-west-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"},
        )
    scheduler.create_schedule(
        Name="nightly", GroupName="default", ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": "arn:aws:sqs:eu-west-1:123456789012:q", "RoleArn": "arn:aws:iam::123456789012:role/r"},
    ) if suffix == "ext" else None
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["scheduler:GetSchedule"], "Resource": f"arn:aws:scheduler:{server.region}:123456789012:schedule/{group}/*"}]}
    return Principal.create(server, f"schedule-reader-{suffix}", policy_documents={"schedules": grant})


def test_plain_moto_refuses_a_group_scoped_schedule_grant(plain: MotoServer) -> None:
    reader = _schedule_reader(plain, "plain")
    with pytest.raises(ClientError) as raised:
        reader.client("scheduler").get_schedule(Name="nightly", GroupName="team-plain")
    assert access_denied(raised.value)


def test_group_scoped_schedule_grant_reads_that_group_only(extended: MotoServer) -> None:
    scheduler = _schedule_reader(extended, "ext").client("scheduler")
    assert scheduler.get_schedule(Name="weekly", GroupName="team-ext")["Name"] == "weekly"
    with pytest.raises(ClientError) as raised:
        scheduler.get_schedule(Name="nightly", GroupName="default")
    assert access_denied(raised.value)

def _bucket_with_policy(server: MotoServer, name: str, statements: list[dict]) -> None:
    s3 = server.client("s3")
    s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": server.region})
    resources = [f"arn:aws:s3:::{name}", f"arn:aws:s3:::{name}/*"]
    policy = {"Version": "2012-10-17", "Statement": [{**st, "Principal": "*", "Resource": resources} for st in statements]}
    s3.put_bucket_policy(Bucket=name, Policy=json.dumps(policy))


TLS_ONLY = [
    {"Sid": "DenyInsecureTransport", "Effect": "Deny", "Action": "s3:*",
     "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
    {"Sid": "DenyOutdatedTls", "Effect": "Deny", "Action": "s3:*",
     "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}}},
]


def test_plain_moto_refuses_every_put_under_a_tls_only_bucket_policy(plain: MotoServer) -> None:
    _bucket_with_policy(plain, "tls-only-plain", TLS_ONLY)
    with pytest.raises(ClientError) as raised:
        plain.client("s3").put_object(Bucket="tls-only-plain", Key="k", Body=b"x")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_tls_only_bucket_policy_lets_tls_requests_through_and_other_denies_still_hold(extended: MotoServer) -> None:
    _bucket_with_policy(extended, "tls-only", TLS_ONLY)
    s3 = extended.client("s3")
    s3.put_object(Bucket="tls-only", Key="k", Body=b"x")
    assert s3.get_object(Bucket="tls-only", Key="k")["Body"].read() == b"x"

    _bucket_with_policy(extended, "deny-puts", [{"Effect": "Deny", "Action": "s3:PutObject"}])
    with pytest.raises(ClientError) as raised:
        s3.put_object(Bucket="deny-puts", Key="k", Body=b"x")
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def _fifo_group(server: MotoServer, name: str, size: int = 3) -> tuple[Any, str]:
    """A FIFO queue holding messages m0, m1, ... of one group, in that order."""
    sqs = server.client("sqs")
    url = sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    for n in range(size):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{n}", MessageGroupId="g", MessageDeduplicationId=f"m{n}")
    return sqs, url


def _bodies(sqs: Any, url: str, *, most: int = 10, wait: int = 0, visibility: int = 30) -> list[str]:
    answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=most, WaitTimeSeconds=wait,
                                 VisibilityTimeout=visibility)
    return [m["Body"] for m in answer.get("Messages", [])]


def _redelivered_after_a_lapse(server: MotoServer, name: str) -> list[str]:
    """Receive a group's three messages together, lose the answer, receive once they lapsed."""
    sqs, url = _fifo_group(server, name)
    assert _bodies(sqs, url, visibility=1) == ["m0", "m1", "m2"]
    deadline = time.monotonic() + 10
    while int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])
              ["Attributes"]["ApproximateNumberOfMessagesNotVisible"]):
        assert time.monotonic() < deadline, "the 1 s visibility timeout did not lapse within 10 s"
        time.sleep(0.2)
    return _bodies(sqs, url)


def test_plain_moto_hands_out_the_last_message_of_a_lapsed_fifo_group_first(plain: MotoServer) -> None:
    assert _redelivered_after_a_lapse(plain, "lapsed") == ["m2"]


def test_a_lapsed_fifo_group_comes_back_from_its_first_message(extended: MotoServer) -> None:
    assert _redelivered_after_a_lapse(extended, "lapsed") == ["m0", "m1", "m2"]


def test_a_fifo_group_waits_behind_its_message_in_flight(extended: MotoServer) -> None:
    sqs, url = _fifo_group(extended, "in-flight")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=30)["Messages"]
    assert [m["Body"] for m in first] == ["m0", "m1"]
    assert _bodies(sqs, url) == []  # m2 waits while m0 and m1 are in flight
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[1]["ReceiptHandle"], VisibilityTimeout=0)
    assert _bodies(sqs, url, wait=1) == []  # m1 is visible again, but m0 ahead of it is in flight
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=first[0]["ReceiptHandle"], VisibilityTimeout=0)
    assert _bodies(sqs, url, wait=2) == ["m0", "m1", "m2"]


def _scheduler_role(server: MotoServer, name: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole"}]}
    return server.client("iam").create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


def _pass_role(role: str) -> dict:
    return {"Effect": "Allow", "Action": ["iam:PassRole"], "Resource": role,
            "Condition": {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}}}


def _create_one_time_schedule(principal: Principal, group: str, name: str, role: str, **extra: object) -> None:
    principal.client("scheduler").create_schedule(
        Name=name, GroupName=group, ScheduleExpression="at(2030-01-01T00:00:00)", ScheduleExpressionTimezone="UTC",
        FlexibleTimeWindow={"Mode": "OFF"}, ActionAfterCompletion="DELETE",
        Target={"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "RoleArn": role, "Input": "{}"}, **extra,
    )


def _delayed_sender(server: MotoServer, suffix: str, *, pass_role: bool = True) -> tuple[Principal, str]:
    """A principal holding what the producer policy grants for delayed sends in group team-<suffix>."""
    server.client("scheduler").create_schedule_group(Name=f"team-{suffix}")
    role = _scheduler_role(server, f"team-{suffix}-scheduler")
    statements = [{"Effect": "Allow", "Action": ["scheduler:CreateSchedule", "scheduler:GetSchedule"],
                   "Resource": f"arn:aws:scheduler:{server.region}:123456789012:schedule/team-{suffix}/*"}]
    if pass_role:
        statements.append(_pass_role(role))
    name = f"delayed-sender-{suffix}{'' if pass_role else '-no-pass'}"
    return Principal.create(server, name, policy_documents={"send-at": {"Version": "2012-10-17", "Statement": statements}}), role


def test_plain_moto_refuses_create_schedule_granted_on_the_groups_schedules(plain: MotoServer) -> None:
    """Why `TaskQueue.send_at` was refused: moto authorised CreateSchedule against `*`."""
    sender, role = _delayed_sender(plain, "create-plain")
    with pytest.raises(ClientError) as raised:
        _create_one_time_schedule(sender, "team-create-plain", "sqstask-at-t1", role)
    assert access_denied(raised.value) and "scheduler:CreateSchedule" in str(raised.value)


def test_create_schedule_granted_on_the_groups_schedules_creates_there_only(extended: MotoServer) -> None:
    sender, role = _delayed_sender(extended, "create")
    _create_one_time_schedule(sender, "team-create", "sqstask-at-t1", role)
    assert extended.client("scheduler").get_schedule(Name="sqstask-at-t1", GroupName="team-create")["State"] == "ENABLED"
    extended.client("scheduler").create_schedule_group(Name="other-create")
    with pytest.raises(ClientError) as raised:
        _create_one_time_schedule(sender, "other-create", "sqstask-at-t1", role)
    assert access_denied(raised.value)


def test_plain_moto_lets_a_schedule_be_created_without_pass_role(plain: MotoServer) -> None:
    plain_sender, role = _delayed_sender(plain, "pass-plain", pass_role=False)
    grant = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["scheduler:CreateSchedule"], "Resource": "*"}]}
    plain.client("iam").put_user_policy(UserName=plain_sender.name, PolicyName="anywhere", PolicyDocument=json.dumps(grant))
    _create_one_time_schedule(plain_sender, "team-pass-plain", "sqstask-at-t1", role)


def test_creating_a_schedule_needs_pass_role_on_its_target_role(extended: MotoServer) -> None:
    sender, role = _delayed_sender(extended, "pass", pass_role=False)
    with pytest.raises(ClientError) as raised:
        _create_one_time_schedule(sender, "team-pass", "sqstask-at-t1", role)
    assert access_denied(raised.value) and "iam:PassRole" in str(raised.value)
    # Granted on that role, for Scheduler: allowed; on another role: still refused.
    iam = extended.client("iam")
    iam.put_user_policy(UserName=sender.name, PolicyName="pass", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [_pass_role(role)]}))
    _create_one_time_schedule(sender, "team-pass", "sqstask-at-t1", role)
    other = _scheduler_role(extended, "other-pass-scheduler")
    with pytest.raises(ClientError) as raised:
        _create_one_time_schedule(sender, "team-pass", "sqstask-at-t2", other)
    assert access_denied(raised.value) and "iam:PassRole" in str(raised.value)


def _key_encrypted_queue(server: MotoServer, name: str) -> tuple[str, str]:
    """A FIFO queue encrypted with a new customer managed key: (queue URL, key ARN)."""
    key = server.client("kms").create_key(Description=name)["KeyMetadata"]["Arn"]
    url = server.client("sqs").create_queue(
        QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true", "KmsMasterKeyId": key})["QueueUrl"]
    return url, key


def _queue_user(server: MotoServer, name: str, url: str, key: str, via: str | None) -> Principal:
    """Send and receive on the queue, plus (when `via` is given) the key's use through that service."""
    statements = [{"Effect": "Allow", "Action": ["sqs:SendMessage", "sqs:ReceiveMessage"], "Resource": _arn(server, url)}]
    if via is not None:
        statements.append({"Effect": "Allow", "Action": ["kms:GenerateDataKey", "kms:Decrypt"], "Resource": key,
                           "Condition": {"StringEquals": {"kms:ViaService": f"{via}.{server.region}.amazonaws.com"}}})
    return Principal.create(server, name, policy_documents={"queue": {"Version": "2012-10-17", "Statement": statements}})


def _send(principal: Principal, url: str) -> None:
    principal.client("sqs").send_message(QueueUrl=url, MessageBody="{}", MessageGroupId="g", MessageDeduplicationId="d1")


def test_plain_moto_sends_to_a_customer_key_queue_without_any_key_grant(plain: MotoServer) -> None:
    url, key = _key_encrypted_queue(plain, "cmk-plain")
    _send(_queue_user(plain, "cmk-plain-sender", url, key, via=None), url)


def test_a_customer_key_queue_needs_the_key_through_sqs(extended: MotoServer) -> None:
    url, key = _key_encrypted_queue(extended, "cmk")
    for name, via in (("cmk-no-key", None), ("cmk-key-via-s3", "s3")):
        user = _queue_user(extended, name, url, key, via=via)
        with pytest.raises(ClientError) as raised:
            _send(user, url)
        assert access_denied(raised.value) and "kms:GenerateDataKey" in str(raised.value), name
        with pytest.raises(ClientError) as raised:
            user.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)
        assert access_denied(raised.value) and "kms:Decrypt" in str(raised.value), name
    user = _queue_user(extended, "cmk-key-via-sqs", url, key, via="sqs")
    _send(user, url)
    assert len(user.client("sqs").receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]) == 1
    # SQS-managed SSE needs no key grant.
    plain_url = extended.client("sqs").create_queue(QueueName="sse-sqs.fifo", Attributes={"FifoQueue": "true", "SqsManagedSseEnabled": "true"})["QueueUrl"]
    _send(_queue_user(extended, "sse-sqs-sender", plain_url, key, via=None), plain_url)


def test_a_customer_key_schedule_needs_the_key_through_scheduler_to_be_read(extended: MotoServer) -> None:
    scheduler = extended.client("scheduler")
    scheduler.create_schedule_group(Name="team-cmk")
    key = extended.client("kms").create_key(Description="schedules")["KeyMetadata"]["Arn"]
    role = _scheduler_role(extended, "team-cmk-scheduler")
    scheduler.create_schedule(
        Name="nightly", GroupName="team-cmk", ScheduleExpression="rate(1 day)", FlexibleTimeWindow={"Mode": "OFF"},
        KmsKeyArn=key, Target={"Arn": "arn:aws:scheduler:::aws-sdk:sqs:sendMessage", "RoleArn": role, "Input": "{}"},
    )
    read = {"Effect": "Allow", "Action": ["scheduler:GetSchedule"], "Resource": f"arn:aws:scheduler:{extended.region}:123456789012:schedule/team-cmk/*"}
    reader = Principal.create(extended, "cmk-schedule-reader", policy_documents={"read": {"Version": "2012-10-17", "Statement": [read]}})
    with pytest.raises(ClientError) as raised:
        reader.client("scheduler").get_schedule(Name="nightly", GroupName="team-cmk")
    assert access_denied(raised.value) and "kms:Decrypt" in str(raised.value)
    decrypt = {"Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": key,
               "Condition": {"StringEquals": {"kms:ViaService": f"scheduler.{extended.region}.amazonaws.com"}}}
    extended.client("iam").put_user_policy(UserName=reader.name, PolicyName="key", PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [decrypt]}))
    assert reader.client("scheduler").get_schedule(Name="nightly", GroupName="team-cmk")["KmsKeyArn"] == key
