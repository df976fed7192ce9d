"""The task envelope, input validation, and decoding received messages and Lambda records."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from sqstask.exceptions import InvalidTaskError, MalformedMessage
from sqstask.task import (
    ENVELOPE_VERSION,
    Task,
    TaskSpec,
    Then,
    deduplication_id,
    encode_envelope,
    payload_hash,
    task_from_message,
    task_from_record,
    validate_group_id,
    validate_task_id,
    validate_task_type,
)


def sqs_message(body: str, *, group="g1", task_id=None, task_type=None, dedup=None, count="1") -> dict:
    attributes = {"MessageGroupId": group, "ApproximateReceiveCount": count, "SentTimestamp": "1700000000000"}
    if dedup:
        attributes["MessageDeduplicationId"] = dedup
    message_attributes = {}
    if task_id:
        message_attributes["sqstask-task-id"] = {"DataType": "String", "StringValue": task_id}
    if task_type:
        message_attributes["sqstask-task-type"] = {"DataType": "String", "StringValue": task_type}
    return {
        "MessageId": "m-1",
        "ReceiptHandle": "rh-1",
        "Body": body,
        "Attributes": attributes,
        "MessageAttributes": message_attributes,
    }


def lambda_record(body: str, *, group="g1", task_type=None) -> dict:
    attrs = {}
    if task_type:
        attrs["sqstask-task-type"] = {"stringValue": task_type, "dataType": "String"}
    return {
        "messageId": "r-1",
        "receiptHandle": "rh-r",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "3",
            "SentTimestamp": "1700000000000",
            "MessageGroupId": group,
            "MessageDeduplicationId": "d-1",
        },
        "messageAttributes": attrs,
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:team.fifo",
    }


# -- the envelope ----------------------------------------------------------------------------


def test_envelope_is_versioned_json_with_id_type_payload_and_utc_created_at():
    created = datetime(2024, 5, 1, 12, 30, 0, 123000, tzinfo=timezone.utc)
    body = json.loads(encode_envelope("t-1", "resize", {"w": 10}, created))
    assert body == {
        "v": 1,
        "id": "t-1",
        "type": "resize",
        "payload": {"w": 10},
        "created_at": "2024-05-01T12:30:00.123Z",
    }
    assert ENVELOPE_VERSION == 1


def test_envelope_escapes_characters_sqs_rejects():
    body = encode_envelope("t-1", "x", {"s": "a\ud800b\uffff"})
    assert "\ud800" not in body and "\\ud800" in body
    assert json.loads(body)["payload"]["s"] == "a\ud800b\uffff"


def test_envelope_keeps_non_ascii_text_compact():
    body = encode_envelope("t-1", "x", {"s": "héllo 日本"})
    assert "héllo 日本" in body


def test_a_payload_that_is_not_json_serialisable_is_rejected():
    with pytest.raises(InvalidTaskError, match=r"payload .*not JSON-serialisable"):
        encode_envelope("t-1", "x", {"when": datetime.now()})
    with pytest.raises(InvalidTaskError, match=r"not JSON-serialisable"):
        TaskSpec("x", float("nan"), "g").validated()


def test_deduplication_id_is_the_task_id_when_sqs_accepts_it_else_its_sha256():
    assert deduplication_id("order-42:v1") == "order-42:v1"
    hashed = deduplication_id("has space")
    assert len(hashed) == 64 and hashed != "has space"


# -- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"group_id must not be empty"),
        ("a" * 129, r"group_id is 129 characters; SQS allows at most 128"),
        ("has space", r"group_id 'has space' contains ' '; SQS allows only letters, digits and ASCII punctuation"),
        ("caf\u00e9", r"contains 'é'"),
        (42, r"group_id must be a string, got int"),
    ],
)
def test_bad_group_ids_are_rejected_with_the_reason(value, message):
    with pytest.raises(InvalidTaskError, match=message):
        validate_group_id(value)


def test_group_ids_may_use_every_punctuation_character_sqs_allows():
    punctuation = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
    assert validate_group_id("Ab9" + punctuation) == "Ab9" + punctuation
    assert validate_group_id("a" * 128) == "a" * 128


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"task_id must not be empty; leave it out to generate one"),
        ("x" * 200, r"at most 128"),
        ("a\tb", r"contains"),
    ],
)
def test_bad_task_ids_are_rejected_with_the_reason(value, message):
    with pytest.raises(InvalidTaskError, match=message):
        validate_task_id(value)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", r"task_type must not be empty"),
        ("send email", r"must be printable characters without whitespace"),
        ("t" * 257, r"at most 256"),
        (None, r"task_type must be a string, got NoneType"),
    ],
)
def test_bad_task_types_are_rejected_with_the_reason(value, message):
    with pytest.raises(InvalidTaskError, match=message):
        validate_task_type(value)


def test_invalid_task_error_is_a_value_error():
    with pytest.raises(ValueError):
        validate_group_id("")


def test_validated_spec_gets_a_generated_task_id_and_keeps_a_given_one():
    generated = TaskSpec("x", {}, "g").validated()
    assert generated.task_id and len(generated.task_id) == 32
    assert TaskSpec("x", {}, "g", "mine").validated().task_id == "mine"


def test_taskspec_coerce_accepts_dicts_and_names_missing_or_unknown_keys():
    assert TaskSpec.coerce({"task_type": "x", "payload": 1, "group_id": "g"}) == TaskSpec("x", 1, "g")
    with pytest.raises(InvalidTaskError, match=r"missing payload, group_id"):
        TaskSpec.coerce({"task_type": "x"})
    with pytest.raises(InvalidTaskError, match=r"unknown task key\(s\) \['group'\]"):
        TaskSpec.coerce({"task_type": "x", "payload": 1, "group": "g"})
    with pytest.raises(InvalidTaskError, match=r"TaskSpec or a dict, got str"):
        TaskSpec.coerce("x")


def test_then_defaults_to_the_group_of_the_task_that_returned_it():
    assert Then("b", {"n": 1}).to_spec("orders-7") == TaskSpec("b", {"n": 1}, "orders-7", None)
    assert Then("b", 1, group_id="other").to_spec("orders-7").group_id == "other"


# -- decoding ----------------------------------------------------------------------------------


def test_an_sqs_message_with_an_envelope_becomes_a_task():
    created = datetime(2024, 5, 1, tzinfo=timezone.utc)
    message = sqs_message(encode_envelope("t-9", "resize", {"w": 1}, created), count="2")
    task = task_from_message(message)
    assert (task.task_id, task.task_type, task.payload, task.group_id) == ("t-9", "resize", {"w": 1}, "g1")
    assert task.receive_count == 2 and task.attempt == 2
    assert task.message_id == "m-1" and task.receipt_handle == "rh-1"
    assert task.sent_at == datetime.fromtimestamp(1700000000, tz=timezone.utc)
    assert task.created_at == created
    assert task.payload_hash == payload_hash({"w": 1})
    assert task.enveloped and task.raw is message


def test_a_lambda_record_with_an_envelope_becomes_a_task():
    task = task_from_record(lambda_record(encode_envelope("t-1", "resize", [1, 2])))
    assert (task.task_id, task.task_type, task.payload, task.group_id) == ("t-1", "resize", [1, 2], "g1")
    assert task.receive_count == 3 and task.message_id == "r-1" and task.receipt_handle == "rh-r"


def test_a_plain_json_body_becomes_a_default_task_identified_by_its_deduplication_id():
    task = task_from_message(sqs_message('{"order": 7}', dedup="dedup-7"))
    assert task.payload == {"order": 7}
    assert task.task_type == "default"
    assert task.task_id == "dedup-7"
    assert not task.enveloped


def test_a_plain_body_takes_type_and_id_from_the_sqstask_attributes():
    task = task_from_message(sqs_message("just text", task_id="tid", task_type="notify", dedup="d"))
    assert (task.task_id, task.task_type, task.payload) == ("tid", "notify", "just text")


def test_a_plain_lambda_record_takes_its_type_from_the_message_attribute():
    task = task_from_record(lambda_record("[1, 2]", task_type="sum"))
    assert (task.task_type, task.payload, task.task_id) == ("sum", [1, 2], "d-1")


def test_a_body_without_any_id_falls_back_to_the_message_id():
    message = sqs_message("hello")
    assert task_from_message(message).task_id == "m-1"


def test_a_body_with_non_standard_json_constants_is_a_plain_string():
    task = task_from_message(sqs_message('{"x": NaN}'))
    assert task.payload == '{"x": NaN}'


def test_json_with_a_v_key_but_no_envelope_fields_is_a_plain_payload():
    assert task_from_message(sqs_message('{"v": 3, "x": 1}')).payload == {"v": 3, "x": 1}


def test_an_envelope_of_an_unsupported_version_is_malformed():
    body = json.dumps({"v": 2, "id": "t", "type": "x", "payload": {}})
    with pytest.raises(MalformedMessage, match=r"message m-1: unsupported envelope version 2") as info:
        task_from_message(sqs_message(body))
    assert info.value.message_id == "m-1"
    assert "version" in info.value.reason


@pytest.mark.parametrize(
    ("envelope", "reason"),
    [
        ({"v": 1, "type": "x", "payload": 1}, r"envelope has no task id"),
        ({"v": 1, "id": "t", "payload": 1}, r"envelope has no task type"),
        ({"v": 1, "id": 5, "type": "x", "payload": 1}, r"envelope has no task id"),
    ],
)
def test_an_envelope_missing_id_or_type_is_malformed(envelope, reason):
    with pytest.raises(MalformedMessage, match=reason):
        task_from_record(lambda_record(json.dumps(envelope)))


def test_a_message_without_a_body_or_id_is_malformed():
    with pytest.raises(MalformedMessage, match=r"SQS message has no Body"):
        task_from_message({"MessageId": "m"})
    with pytest.raises(MalformedMessage, match=r"SQS event record has no messageId"):
        task_from_record({"body": "x"})


def test_an_s3_pointer_without_a_store_is_malformed():
    pointer = json.dumps(["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": "b", "s3Key": "k"}])
    with pytest.raises(MalformedMessage, match=r"S3 payload pointer"):
        task_from_message(sqs_message(pointer))


def test_tasks_compare_without_their_raw_message():
    a = task_from_message(sqs_message(encode_envelope("t", "x", 1, datetime(2024, 1, 1, tzinfo=timezone.utc))))
    b = Task(**{**a.__dict__, "raw": None})
    assert a == b
    assert "ReceiptHandle" not in repr(a) and "rh-1" not in repr(a)
