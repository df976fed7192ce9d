"""Each moto extension of tests/localaws is needed (the gap shows on plain moto) and works.

Two moto servers run side by side, one with every extension and one without any, both with
IAM enforcement; each test makes the same calls on both.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

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
