"""TaskStore: claiming, completing and failing tasks with single conditional DynamoDB writes."""

from __future__ import annotations

import dataclasses
import json

import boto3
import pytest
from moto import mock_aws

from sqstask.exceptions import PayloadMismatch, TaskInProgress
from sqstask.idempotency import (
    COMPLETED,
    DEAD_LETTERED,
    FAILED,
    IN_PROGRESS,
    MAX_ERROR_CHARS,
    MAX_RESULT_BYTES,
    Claim,
    TaskStore,
    encode_result,
)
from sqstask.task import Task

TABLE = "tasks"


class Clock:
    """A settable clock so lease expiry is tested without sleeping."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def dynamodb(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        client = boto3.client("dynamodb", region_name="us-east-1")
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        yield client


@pytest.fixture
def calls(dynamodb):
    """Names of the DynamoDB API calls made through the client, in order."""
    made: list[str] = []
    dynamodb.meta.events.register("before-call.dynamodb", lambda model, **_: made.append(model.name))
    return made


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(dynamodb, clock):
    return TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-a:1")


def make_task(task_id="t-1", payload=None, receive_count=1) -> Task:
    return Task(
        task_id=task_id,
        task_type="resize",
        payload={"n": 1} if payload is None else payload,
        group_id="g1",
        receive_count=receive_count,
        message_id=f"m-{task_id}-{receive_count}",
        sent_at=None,
    )


def test_claim_of_new_task_records_in_progress_with_lease(store, clock):
    claim = store.claim(make_task(), lease_seconds=60)

    assert claim.acquired
    record = store.get("t-1")
    assert record["status"] == IN_PROGRESS
    assert record["owner"] == claim.owner and claim.owner.startswith("host-a:1:")
    assert record["lease_expires_at"] == pytest.approx(clock.now + 60)
    assert record["attempt"] == 1
    assert record["task_type"] == "resize" and record["group_id"] == "g1"
    assert record["payload_hash"] == make_task().payload_hash
    assert record["started_at"].endswith("Z") and record["first_received_at"] == record["started_at"]
    assert record["expires_at"] > clock.now


def test_fresh_task_costs_two_dynamodb_calls(store, calls):
    claim = store.claim(make_task(), lease_seconds=60)
    store.complete(claim, result={"ok": True}, duration_ms=5)

    assert calls == ["UpdateItem", "UpdateItem"]


def test_duplicate_of_completed_task_costs_one_call_and_is_not_acquired(store, calls):
    store.complete(store.claim(make_task(), lease_seconds=60), result=None, duration_ms=1)
    calls.clear()

    again = store.claim(make_task(receive_count=2), lease_seconds=60)

    assert not again.acquired and again.duplicate
    assert again.record["status"] == COMPLETED
    assert calls == ["UpdateItem"]


def test_complete_records_finish_duration_result_and_releases_lease(store):
    claim = store.claim(make_task(), lease_seconds=60)
    store.complete(claim, result={"rows": 3}, duration_ms=42)

    record = store.get("t-1")
    assert record["status"] == COMPLETED
    assert record["duration_ms"] == 42
    assert json.loads(record["result"]) == {"rows": 3}
    assert record["finished_at"].endswith("Z")
    assert "lease_expires_at" not in record


def test_live_lease_held_by_another_consumer_raises_task_in_progress(store, dynamodb, clock):
    store.claim(make_task(), lease_seconds=60)
    other = TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-b:2")
    clock.now += 30

    with pytest.raises(TaskInProgress) as info:
        other.claim(make_task(receive_count=2), lease_seconds=60)

    assert str(info.value) == "task t-1 is being run by " + info.value.owner + (
        " (lease expires in 30s); it will be retried after that"
    )
    assert info.value.owner.startswith("host-a:1:") and info.value.task_id == "t-1"
    assert info.value.lease_expires_at == pytest.approx(clock.now + 30)


def test_expired_lease_is_taken_over(store, dynamodb, clock):
    first = store.claim(make_task(), lease_seconds=60)
    other = TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-b:2")
    clock.now += 61

    second = other.claim(make_task(receive_count=2), lease_seconds=60)

    assert second.acquired and second.owner != first.owner
    record = other.get("t-1")
    assert record["owner"] == second.owner and record["attempt"] == 2


def test_a_lease_still_holds_at_the_instant_it_ends_and_is_free_a_millisecond_later(store, dynamodb, clock):
    first = store.claim(make_task(), lease_seconds=60)
    other = TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-b:2")

    clock.now = first.lease_expires_at  # the last instant the lease covers
    with pytest.raises(TaskInProgress, match=r"is being run by host-a:1:\w+ \(lease expires in 0s\)"):
        other.claim(make_task(receive_count=2), lease_seconds=60)
    assert other.get("t-1")["owner"] == first.owner

    clock.now = first.lease_expires_at + 0.001  # leases are stored to the millisecond
    second = other.claim(make_task(receive_count=2), lease_seconds=60)
    assert second.acquired and other.get("t-1")["owner"] == second.owner != first.owner


@pytest.mark.parametrize(
    "error, stored",
    [
        (RuntimeError("e" * MAX_ERROR_CHARS), "e" * MAX_ERROR_CHARS),  # exactly the limit: kept whole
        (RuntimeError("e" * (MAX_ERROR_CHARS + 1)), "e" * (MAX_ERROR_CHARS - 3) + "..."),
        (RuntimeError(), "RuntimeError"),  # no message: the type says what happened
    ],
)
def test_fail_stores_the_error_text_capped_at_its_limit(store, error, stored):
    store.fail(store.claim(make_task(), lease_seconds=60), error)

    record = store.get("t-1")
    assert record["error"] == stored and len(record["error"]) <= MAX_ERROR_CHARS
    assert record["error_type"] == "RuntimeError"


def test_fail_records_error_and_releases_lease_so_a_retry_can_claim(store, clock):
    claim = store.claim(make_task(), lease_seconds=600)
    assert store.fail(claim, ValueError("disk full"), duration_ms=7)

    record = store.get("t-1")
    assert record["status"] == FAILED
    assert record["error_type"] == "ValueError" and record["error"] == "disk full"
    assert "lease_expires_at" not in record

    retry = store.claim(make_task(receive_count=2), lease_seconds=600)  # no time has passed
    assert retry.acquired and retry.attempt == 2


def test_fail_after_lease_was_taken_over_leaves_the_new_owner_alone(store, dynamodb, clock):
    first = store.claim(make_task(), lease_seconds=10)
    clock.now += 11
    second = TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-b:2").claim(make_task(), lease_seconds=60)

    assert store.fail(first, RuntimeError("late")) is False
    record = store.get("t-1")
    assert record["status"] == IN_PROGRESS and record["owner"] == second.owner


def test_renew_extends_the_lease_so_the_task_is_not_taken_over(store, dynamodb, clock):
    claim = store.claim(make_task(), lease_seconds=10)
    clock.now += 8
    assert store.renew(claim, lease_seconds=10)
    clock.now += 8  # 16 s after the claim: past the first lease, inside the renewed one

    with pytest.raises(TaskInProgress):
        TaskStore(dynamodb, TABLE, clock=clock, owner_prefix="host-b:2").claim(make_task(), lease_seconds=10)


def test_a_duplicate_reports_the_attempt_that_completed_the_task(store):
    store.fail(store.claim(make_task(), lease_seconds=60), RuntimeError("first try"))
    store.complete(store.claim(make_task(receive_count=2), lease_seconds=60))

    again = store.claim(make_task(receive_count=3), lease_seconds=60)

    assert again.duplicate and again.record["status"] == COMPLETED
    assert again == Claim(task_id="t-1", acquired=False, attempt=2, record=store.get("t-1"))


def test_leases_last_at_least_one_second(store, clock):
    claim = store.claim(make_task(), lease_seconds=0.2)
    assert claim.lease_expires_at == clock.now + 1.0
    clock.now += 0.5

    assert store.renew(claim, lease_seconds=0.2) is True
    assert store.get("t-1")["lease_expires_at"] == clock.now + 1.0  # stored to the millisecond: exact here


def test_renew_by_a_claim_that_is_not_the_owner_returns_false(store, dynamodb, clock):
    store.claim(make_task(), lease_seconds=60)
    stranger = dataclasses.replace(store.claim(make_task("t-2"), lease_seconds=60), task_id="t-1")
    ownerless = dataclasses.replace(stranger, owner=None)

    assert store.renew(stranger, lease_seconds=60) is False
    assert store.renew(ownerless, lease_seconds=60) is False


def test_renew_of_a_lost_lease_returns_false(store, dynamodb, clock):
    claim = store.claim(make_task(), lease_seconds=10)
    store.complete(claim)

    assert store.renew(claim, lease_seconds=10) is False


def test_redelivery_with_a_different_payload_raises_payload_mismatch(store, calls):
    store.complete(store.claim(make_task(payload={"n": 1}), lease_seconds=60))
    calls.clear()

    first, again = make_task(payload={"n": 1}), make_task(payload={"n": 2}, receive_count=2)
    with pytest.raises(PayloadMismatch) as info:
        store.claim(again, lease_seconds=60)
    assert calls == ["UpdateItem"]
    assert str(info.value) == (
        f"task t-1 was delivered again with a different payload (sha256 {again.payload_hash[:12]}..., first seen "
        f"with {first.payload_hash[:12]}...); task ids must identify one payload: send changed work under a new task id"
    )
    assert (info.value.task_id, info.value.stored_hash, info.value.received_hash) == (
        "t-1", first.payload_hash, again.payload_hash
    )


def test_failed_task_redelivered_with_a_different_payload_is_not_claimed(store):
    claim = store.claim(make_task(payload={"n": 1}), lease_seconds=60)
    store.fail(claim, ValueError("x"))

    with pytest.raises(PayloadMismatch):
        store.claim(make_task(payload={"n": 2}, receive_count=2), lease_seconds=60)
    assert store.get("t-1")["status"] == FAILED


def test_retry_keeps_the_first_receipt_time_and_counts_the_attempt(store, clock):
    first = store.claim(make_task(), lease_seconds=60)
    store.fail(first, ValueError("boom"))
    first_started = store.get("t-1")["started_at"]
    clock.now += 5

    retry = store.claim(make_task(receive_count=2), lease_seconds=60)

    record = store.get("t-1")
    assert retry.attempt == 2 and record["attempt"] == 2
    assert record["first_received_at"] == first_started
    assert record["started_at"] > first_started
    assert record["receive_count"] == 2 and record["message_id"] == "m-t-1-2"


def test_first_receive_of_a_failed_task_after_redrive_counts_the_attempt(store):
    store.fail(store.claim(make_task(), lease_seconds=60), ValueError("boom"))

    again = store.claim(make_task(receive_count=1), lease_seconds=60)  # redriven: a new message

    assert again.acquired and again.attempt == 2
    assert store.get("t-1")["attempt"] == 2


def test_complete_after_a_failed_attempt_clears_the_error(store):
    store.fail(store.claim(make_task(), lease_seconds=60), ValueError("boom"))
    retry = store.claim(make_task(receive_count=2), lease_seconds=60)

    store.complete(retry, result={"ok": True}, duration_ms=3)

    record = store.get("t-1")
    assert record["status"] == COMPLETED
    assert "error" not in record and "error_type" not in record


def test_get_reads_consistently_and_returns_every_attribute_type_as_plain_python(store, dynamodb):
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "task_id": {"S": "t-types"},
            "whole": {"N": "3"},
            "whole_decimal": {"N": "1.0"},
            "exponent": {"N": "1E+2"},
            "fraction": {"N": "1.5"},
            "yes": {"BOOL": True},
            "no": {"BOOL": False},
            "nothing": {"NULL": True},
            "map": {"M": {"a": {"N": "1"}, "b": {"L": [{"S": "x"}, {"N": "2.5"}]}}},
            "strings": {"SS": ["b", "a"]},
            "numbers": {"NS": ["2", "1.5"]},
            "blob": {"B": b"\x00\x01"},
            "blobs": {"BS": [b"\x02", b"\x01"]},
        },
    )
    seen: list[dict] = []
    dynamodb.meta.events.register("provide-client-params.dynamodb.GetItem", lambda params, **_: seen.append(dict(params)))

    record = store.get("t-types")

    assert seen and seen[-1]["ConsistentRead"] is True  # a read right after a write must see it
    assert record == {
        "task_id": "t-types",
        "whole": 3,
        "whole_decimal": 1,
        "exponent": 100,
        "fraction": 1.5,
        "yes": True,
        "no": False,
        "nothing": None,
        "map": {"a": 1, "b": ["x", 2.5]},
        "strings": ["a", "b"],
        "numbers": [1.5, 2],
        "blob": b"\x00\x01",
        "blobs": [b"\x01", b"\x02"],
    }
    assert type(record["whole_decimal"]) is int and type(record["fraction"]) is float


def test_a_failed_record_expires_after_the_ttl(store, clock):
    store.fail(store.claim(make_task(), lease_seconds=60), RuntimeError("x"))

    assert store.get("t-1")["expires_at"] == int(clock.now + store.ttl_seconds)


def test_get_of_unknown_task_is_none(store):
    assert store.get("nope") is None


def test_large_result_is_capped_with_a_truncation_marker():
    encoded = encode_result({"blob": "x" * 10_000})

    assert len(encoded.encode()) <= MAX_RESULT_BYTES
    marker = json.loads(encoded)
    assert marker["truncated"] is True and marker["bytes"] > 10_000


def test_a_result_of_exactly_the_limit_is_kept_whole_and_one_byte_more_is_truncated():
    exact = "é" * 2000 + "x" * (MAX_RESULT_BYTES - 4002)  # JSON: 2 quotes + 4000 + the rest = the limit
    assert len(encode_result(exact).encode()) == MAX_RESULT_BYTES
    assert encode_result(exact) == json.dumps(exact, ensure_ascii=False)

    marker = json.loads(encode_result(exact + "x"))
    assert marker == {"truncated": True, "bytes": MAX_RESULT_BYTES + 1, "preview": ('"' + exact)[: MAX_RESULT_BYTES // 4]}
    assert "é" in encode_result(exact + "x")  # the preview keeps UTF-8 text as it is


def test_a_tiny_limit_leaves_an_empty_preview():
    assert json.loads(encode_result("abc", limit=3)) == {"truncated": True, "bytes": 5, "preview": ""}


def test_lifecycle_timestamps_are_utc_iso_8601_to_the_millisecond(store, clock):
    clock.now = 1_700_000_000.123
    claim = store.claim(make_task(), lease_seconds=60)
    clock.now = 1_700_003_661.5
    store.complete(claim)

    record = store.get("t-1")
    assert record["started_at"] == "2023-11-14T22:13:20.123Z"
    assert record["finished_at"] == "2023-11-14T23:14:21.500Z"


class Ticks:
    """A clock that returns the given instants in turn, then stays at the last one."""

    def __init__(self, *instants: float) -> None:
        self.instants = list(instants)

    def __call__(self) -> float:
        return self.instants.pop(0) if len(self.instants) > 1 else self.instants[0]


def test_a_claim_refused_within_the_millisecond_its_lease_ended_is_tried_again(store, dynamodb):
    first = store.claim(make_task(), lease_seconds=60)
    # Stored to the millisecond, "now" rounds down to the lease's own instant: refused, though
    # the lease has ended by the clock. The second round, a moment later, takes it over.
    other = TaskStore(dynamodb, TABLE, clock=Ticks(first.lease_expires_at + 0.0004, first.lease_expires_at + 0.002),
                      owner_prefix="host-b:2")

    second = other.claim(make_task(receive_count=2), lease_seconds=60)

    assert second.acquired and other.get("t-1")["owner"] == second.owner != first.owner


def test_a_claim_refused_twice_in_a_row_gives_up_with_task_in_progress(store, dynamodb):
    first = store.claim(make_task(), lease_seconds=60)
    ended = first.lease_expires_at + 0.0004  # refused on each round, claimable a moment later
    other = TaskStore(dynamodb, TABLE, clock=Ticks(ended, ended, first.lease_expires_at + 0.002),
                      owner_prefix="host-b:2")

    with pytest.raises(TaskInProgress) as info:
        other.claim(make_task(receive_count=2), lease_seconds=60)

    assert str(info.value) == "task t-1 changed while it was being claimed; another consumer is working on it"
    assert store.get("t-1")["owner"] == first.owner


class RefusesFirstClaimWithoutItem:
    """The DynamoDB client, except that the first UpdateItem is refused without the old item."""

    def __init__(self, client) -> None:
        self.client = client
        self.exceptions = client.exceptions
        self.refused = False

    def update_item(self, **request):
        if not self.refused:
            self.refused = True
            raise self.exceptions.ConditionalCheckFailedException(
                {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
                "UpdateItem",
            )
        return self.client.update_item(**request)

    def get_item(self, **request):
        return self.client.get_item(**request)


def test_a_claim_refused_without_the_stored_item_is_tried_again(dynamodb, clock):
    store = TaskStore(RefusesFirstClaimWithoutItem(dynamodb), TABLE, clock=clock, owner_prefix="host-a:1")

    claim = store.claim(make_task(), lease_seconds=60)

    assert claim.acquired and store.get("t-1")["owner"] == claim.owner


def test_a_completed_record_without_an_attempt_count_is_still_a_duplicate(store, dynamodb):
    # Written by hand or by another tool: no attempt, owner or payload hash.
    dynamodb.put_item(TableName=TABLE, Item={"task_id": {"S": "t-1"}, "status": {"S": COMPLETED}})

    again = store.claim(make_task(), lease_seconds=60)

    assert again.duplicate and again.attempt == 0 and again.status == COMPLETED


def test_a_live_lease_without_an_owner_is_reported_as_another_consumers(store, dynamodb, clock):
    dynamodb.put_item(
        TableName=TABLE,
        Item={"task_id": {"S": "t-1"}, "status": {"S": IN_PROGRESS}, "lease_expires_at": {"N": str(clock.now + 30)}},
    )

    with pytest.raises(TaskInProgress) as info:
        store.claim(make_task(), lease_seconds=60)

    assert str(info.value) == "task t-1 is being run by another consumer (lease expires in 30s); it will be retried after that"
    assert info.value.owner is None


def test_a_task_without_a_group_is_stored_with_a_null_group(store, dynamodb):
    # Standard (non-FIFO) queues deliver no MessageGroupId; DynamoDB accepts NULL only as true.
    store.claim(dataclasses.replace(make_task(), group_id=None), lease_seconds=60)

    item = dynamodb.get_item(TableName=TABLE, Key={"task_id": {"S": "t-1"}})["Item"]
    assert item["group_id"] == {"NULL": True}
    assert store.get("t-1")["group_id"] is None


def test_give_up_records_dead_lettered_with_the_error_duration_and_ttl(store, clock):
    claim = store.claim(make_task(), lease_seconds=60)
    clock.now += 2

    assert store.give_up(claim, RuntimeError(), duration_ms=9) is True

    record = store.get("t-1")
    assert record["status"] == DEAD_LETTERED and record["dead_lettered_attempt"] == 1
    assert (record["error_type"], record["error"]) == ("RuntimeError", "RuntimeError")  # no message: the type
    assert record["duration_ms"] == 9 and "lease_expires_at" not in record
    assert record["expires_at"] == int(clock.now + store.ttl_seconds)


def test_a_redriven_copy_of_a_dead_lettered_task_gets_a_fresh_attempt_budget(store):
    store.give_up(store.claim(make_task(), lease_seconds=60), RuntimeError("poison"))
    redriven = dataclasses.replace(make_task(), message_id="m-redriven")

    again = store.claim(redriven, lease_seconds=60)

    assert again.acquired and again.attempt == 2 and again.attempts_used == 1


def test_follow_ups_sent_for_a_record_that_is_gone_creates_no_record(store, dynamodb):
    with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
        store.follow_ups_sent("t-gone")

    assert store.get("t-gone") is None


@pytest.mark.parametrize("task_id", ["", None, 5])
def test_get_refuses_an_empty_or_non_string_task_id_without_a_request(store, calls, task_id):
    with pytest.raises(ValueError, match=r"^a task id must be a non-empty string, got " + repr(task_id) + "$"):
        store.get(task_id)
    assert calls == []


class ReturnsItem:
    """A DynamoDB client whose GetItem returns one fixed item."""

    def __init__(self, item) -> None:
        self.item = item

    def get_item(self, **_request):
        return {"Item": self.item}


def test_a_record_with_an_unknown_attribute_type_fails_with_an_error_naming_it(clock):
    store = TaskStore(ReturnsItem({"task_id": {"S": "t-1"}, "odd": {"QQ": "1"}}), TABLE, clock=clock, owner_prefix="a")

    with pytest.raises(ValueError, match=r"^unknown DynamoDB attribute type 'QQ'$"):
        store.get("t-1")
