"""Large payloads: S3 offload in the AWS SQS extended client pointer format, both directions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from sqstask import TaskSpec
from sqstask.exceptions import ConfigError, MalformedMessage
from sqstask.payloads import POINTER_CLASS, PayloadStore, is_pointer, parse_pointer, pointer_body

BOTH = pytest.mark.parametrize("aws", ["inproc", "server"], indirect=True)
TWO_MIB = 2 * 1024 * 1024


def receive_one(queue) -> dict:
    messages = queue.receive(max_messages=1, wait_seconds=1)
    assert len(messages) == 1, f"expected one message, got {len(messages)}"
    return messages[0]


@BOTH
def test_a_2_mib_payload_round_trips_through_s3_as_an_extended_client_pointer(make_team, aws):
    queue = make_team()
    payload = {"blob": "x" * TWO_MIB, "name": "big"}
    queue.send("ingest", payload, group_id="g", task_id="big-1")

    message = receive_one(queue)
    body = json.loads(message["Body"])
    assert body[0] == "software.amazon.payloadoffloading.PayloadS3Pointer"
    assert set(body[1]) == {"s3BucketName", "s3Key"}
    assert body[1]["s3BucketName"] == "team-payloads"
    stored = aws.client("s3").get_object(Bucket="team-payloads", Key=body[1]["s3Key"])["Body"].read()
    size = message["MessageAttributes"]["ExtendedPayloadSize"]
    assert size == {"DataType": "Number", "StringValue": str(len(stored))}
    assert json.loads(stored)["id"] == "big-1"

    task = queue.to_task(message)
    assert task.payload == payload
    assert (task.task_id, task.task_type) == ("big-1", "ingest")


def test_send_many_offloads_only_the_tasks_that_are_too_large(make_team):
    queue = make_team()
    result = queue.send_many([TaskSpec("x", "small", "g"), TaskSpec("x", "y" * TWO_MIB, "g"), TaskSpec("x", 3, "g")])
    assert result.ok
    messages = queue.receive(max_messages=10, wait_seconds=1)
    assert [is_pointer(m["Body"]) for m in messages] == [False, True, False]
    assert [queue.to_task(m).payload for m in messages] == ["small", "y" * TWO_MIB, 3]


def sqs_size(message: dict) -> int:
    """Bytes SQS counts for a received message: body plus each attribute's name, type and value."""
    size = len(message["Body"].encode("utf-8"))
    for name, attr in message.get("MessageAttributes", {}).items():
        size += len(name.encode()) + len(attr["DataType"].encode()) + len(attr.get("StringValue", "").encode())
    return size


@pytest.mark.parametrize("how", ["send", "send_many"])
def test_a_message_of_exactly_the_limit_stays_in_sqs_and_one_byte_more_goes_to_s3(make_team, how):
    limit = 2048
    queue = make_team(max_message_size=limit)

    def send(payload: str, group_id: str, task_id: str) -> None:
        if how == "send":
            queue.send("x", payload, group_id=group_id, task_id=task_id)
        else:
            assert queue.send_many([TaskSpec("x", payload, group_id, task_id)]).ok

    send("a" * 1000, group_id="probe", task_id="probe-0")
    probe = receive_one(queue)
    assert not is_pointer(probe["Body"])
    # Same task id length, so only the payload's length changes the size (1 byte per "a").
    exact = "a" * (1000 + limit - sqs_size(probe))

    send(exact, group_id="g", task_id="exact-1")
    at_limit = receive_one(queue)
    assert sqs_size(at_limit) == limit
    assert not is_pointer(at_limit["Body"])

    send(exact + "a", group_id="h", task_id="above-1")
    over = receive_one(queue)
    assert is_pointer(over["Body"])
    assert queue.to_task(over).payload == exact + "a"


def test_a_pointer_whose_object_is_gone_is_malformed_with_the_location(make_team, aws):
    queue = make_team()
    queue.send("x", "z" * TWO_MIB, group_id="g")
    message = receive_one(queue)
    bucket, key = parse_pointer(message["Body"])
    aws.client("s3").delete_object(Bucket=bucket, Key=key)
    expected = rf"payload object s3://{bucket}/{key} is missing \(deleted, or expired by the bucket's lifecycle rule\)$"
    with pytest.raises(MalformedMessage, match=expected) as info:
        queue.to_task(message)
    assert info.value.message_id == message["MessageId"]


def test_payload_store_reads_the_legacy_java_pointer_class(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="legacy")
    s3.put_object(Bucket="legacy", Key="k1", Body=b'{"old": true}')
    body = json.dumps(["com.amazon.sqs.javamessaging.MessageS3Pointer", {"s3BucketName": "legacy", "s3Key": "k1"}])
    assert PayloadStore(s3, None).resolve(body) == '{"old": true}'


def test_payload_store_offload_writes_under_its_prefix_and_delete_removes_the_object(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="payloads")
    store = PayloadStore(s3, "payloads")
    pointer, attributes = store.offload("héllo")
    bucket, key = parse_pointer(pointer)
    assert bucket == "payloads" and key.startswith("sqstask-payloads/")
    assert attributes == {"ExtendedPayloadSize": {"DataType": "Number", "StringValue": "6"}}
    assert store.resolve(pointer) == "héllo"
    assert store.delete(pointer) is True
    assert s3.list_objects_v2(Bucket="payloads").get("KeyCount") == 0


def test_offloaded_objects_are_json_and_need_a_bucket(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="payloads")
    pointer, _ = PayloadStore(s3, "payloads").offload('{"a": 1}')
    bucket, key = parse_pointer(pointer)
    assert s3.head_object(Bucket=bucket, Key=key)["ContentType"] == "application/json"
    with pytest.raises(ConfigError, match=r"^payload_bucket \(SQSTASK_PAYLOAD_BUCKET\) is not set, so large payloads "):
        PayloadStore(s3, None).offload("x")


def test_a_payload_object_that_is_not_utf8_is_malformed(aws):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="payloads")
    s3.put_object(Bucket="payloads", Key="bad", Body=b"\xff\xfe")
    with pytest.raises(MalformedMessage, match=r"^payload object s3://payloads/bad is not UTF-8 text$"):
        PayloadStore(s3, None).resolve(pointer_body("payloads", "bad"))


class DeniedS3:
    """An S3 client whose every call is refused with AccessDenied."""

    def __getattr__(self, name):
        from botocore.exceptions import ClientError

        def refuse(**_):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "denied"}}, name)

        return refuse


def test_delete_ignores_a_missing_object_or_bucket_but_not_other_errors(aws):
    s3 = aws.client("s3")
    store = PayloadStore(s3, None)
    assert store.delete("plain text") is False  # not a pointer: nothing to delete
    assert store.delete(pointer_body("no-such-bucket", "k")) is True
    with pytest.raises(Exception, match="AccessDenied"):
        PayloadStore(DeniedS3(), None).delete(pointer_body("payloads", "k"))


def test_only_well_formed_pointers_with_a_bucket_and_a_key_are_pointers():
    assert parse_pointer(pointer_body("b", "k")) == ("b", "k")
    assert parse_pointer(None) is None and parse_pointer(b"[]") is None
    assert parse_pointer(" " + pointer_body("b", "k")) is None  # a pointer body starts with "["
    assert parse_pointer(pointer_body("", "k")) is None
    assert parse_pointer(pointer_body("b", "")) is None
    assert parse_pointer(json.dumps([POINTER_CLASS, {"s3BucketName": 7, "s3Key": "k"}])) is None
    assert parse_pointer(json.dumps([POINTER_CLASS, {"s3BucketName": "b", "s3Key": 7}])) is None


def test_bodies_that_only_look_like_pointers_are_not_pointers():
    assert not is_pointer('["software.amazon.payloadoffloading.PayloadS3Pointer"]')
    assert not is_pointer(json.dumps([POINTER_CLASS, {"s3BucketName": "b"}]))
    assert not is_pointer('["other", {"s3BucketName": "b", "s3Key": "k"}]')
    assert not is_pointer("plain text")


# -- interoperability with the amazon-sqs-extended-client package (it patches boto3 globally,
#    so it runs in a subprocess against the ThreadedMotoServer) --------------------------------

EXTENDED_CLIENT_SEND = textwrap.dedent(
    """
    import json, sys
    import boto3
    import sqs_extended_client  # noqa: F401  (replaces boto3.Session)

    queue_url, bucket, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
    sqs = boto3.session.Session(region_name="us-east-1").client("sqs")
    sqs.large_payload_support = bucket
    body = json.dumps({"from": "extended-client", "data": "e" * size})
    sqs.send_message(
        QueueUrl=queue_url,
        MessageBody=body,
        MessageGroupId="ext",
        MessageDeduplicationId="ext-1",
        MessageAttributes={"sqstask-task-type": {"DataType": "String", "StringValue": "imported"}},
    )
    """
)

EXTENDED_CLIENT_RECEIVE = textwrap.dedent(
    """
    import json, sys
    import boto3
    import sqs_extended_client  # noqa: F401

    queue_url, bucket = sys.argv[1], sys.argv[2]
    sqs = boto3.session.Session(region_name="us-east-1").client("sqs")
    sqs.large_payload_support = bucket
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1, WaitTimeSeconds=1).get("Messages", [])
    print(json.dumps([m["Body"] for m in messages]))
    """
)


def run_extended_client(script: str, endpoint: str, *args: str) -> str:
    env = dict(os.environ, AWS_ENDPOINT_URL=endpoint)
    done = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"extended client failed:\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_a_large_message_written_by_the_extended_client_is_read_by_sqstask(make_team, aws):
    queue = make_team()
    run_extended_client(EXTENDED_CLIENT_SEND, aws.endpoint_url, queue.config.queue_url, "team-payloads", str(TWO_MIB))
    message = receive_one(queue)
    assert is_pointer(message["Body"])
    task = queue.to_task(message)
    assert task.payload == {"from": "extended-client", "data": "e" * TWO_MIB}
    assert task.task_type == "imported"
    assert task.task_id == "ext-1"
    assert task.enveloped is False


@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_a_large_message_written_by_sqstask_is_read_by_the_extended_client(make_team, aws):
    queue = make_team()
    queue.send("export", {"data": "s" * TWO_MIB}, group_id="g", task_id="to-ext")
    out = run_extended_client(EXTENDED_CLIENT_RECEIVE, aws.endpoint_url, queue.config.queue_url, "team-payloads")
    (body,) = json.loads(out)
    envelope = json.loads(body)
    assert (envelope["v"], envelope["id"], envelope["type"]) == (1, "to-ext", "export")
    assert envelope["payload"] == {"data": "s" * TWO_MIB}
