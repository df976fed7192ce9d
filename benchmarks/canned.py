"""Canned AWS answers: a botocore ``before-send`` hook, so no request leaves the process.

With every call answered from memory, timing a client measures only client-side CPU:
building the request, botocore's serialisation and signing, parsing the answer, and the
library's own work. The hook is the same for every side of a comparison.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

from botocore.awsrequest import AWSResponse

Answer = tuple[int, dict[str, Any]]
Responder = Callable[[str, dict[str, Any]], Answer]

_JSON_CONTENT_TYPE = "application/x-amz-json-1.0"


class _Body:
    """The ``raw`` of an AWSResponse: botocore reads it through ``stream()``."""

    def __init__(self, data: bytes) -> None:
        self._data = data

    def stream(self, **_: Any) -> Any:
        yield self._data


def json_response(url: str, status: int, body: dict[str, Any]) -> AWSResponse:
    """An AWSResponse for a JSON-protocol service (SQS and DynamoDB both speak it)."""
    data = json.dumps(body).encode("utf-8")
    headers = {"x-amzn-RequestId": "canned", "Content-Type": _JSON_CONTENT_TYPE, "Content-Length": str(len(data))}
    return AWSResponse(url, status, headers, _Body(data))


class CannedAWS:
    """Answers every call of the attached clients with ``responder(operation, request)``.

    ``responder`` gets the operation name (``SendMessageBatch``) and the decoded JSON request
    body, and returns ``(http_status, body)``. ``calls`` counts answered calls per operation.
    ``round_trip`` seconds are slept before each answer: a fixed simulated network round trip,
    so wall time shows what a side's number of sequential calls costs (0: CPU only).
    """

    def __init__(self, responder: Responder, *, round_trip: float = 0.0) -> None:
        self.responder = responder
        self.round_trip = round_trip
        self.calls: dict[str, int] = {}
        self.clients: list[Any] = []

    def attach(self, *clients: Any) -> CannedAWS:
        """Answer the calls of ``clients`` from now on."""
        for client in clients:
            self.clients.append(client)
            client.meta.events.register("before-send", self._answer, unique_id=f"bench-canned-{id(self)}")
        return self

    def _answer(self, request: Any, event_name: str, **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        self.calls[operation] = self.calls.get(operation, 0) + 1
        body = request.body
        if isinstance(body, bytes):
            body = body.decode("utf-8")
        decoded = json.loads(body) if body else {}
        status, answer = self.responder(operation, decoded)
        if self.round_trip:
            time.sleep(self.round_trip)
        return json_response(request.url, status, answer)


# -- SQS ----------------------------------------------------------------------------------


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8"), usedforsecurity=False).hexdigest()


class SqsResponder:
    """Plausible SQS answers: every send succeeds with a fresh message id and sequence number."""

    def __init__(self) -> None:
        self._sequence = 10**19

    def _next_sequence(self) -> str:
        self._sequence += 1
        return str(self._sequence)

    def __call__(self, operation: str, request: dict[str, Any]) -> Answer:
        if operation == "SendMessage":
            return 200, {
                "MessageId": str(uuid.uuid4()),
                "MD5OfMessageBody": _md5(request.get("MessageBody", "")),
                "SequenceNumber": self._next_sequence(),
            }
        if operation == "SendMessageBatch":
            return 200, {
                "Successful": [
                    {
                        "Id": entry["Id"],
                        "MessageId": str(uuid.uuid4()),
                        "MD5OfMessageBody": _md5(entry.get("MessageBody", "")),
                        "SequenceNumber": self._next_sequence(),
                    }
                    for entry in request.get("Entries", [])
                ],
                "Failed": [],
            }
        if operation in ("DeleteMessageBatch", "ChangeMessageVisibilityBatch"):
            return 200, {"Successful": [{"Id": e["Id"]} for e in request.get("Entries", [])], "Failed": []}
        return 200, {}


# -- DynamoDB -----------------------------------------------------------------------------


def conditional_check_failed(item: dict[str, Any]) -> Answer:
    """The 400 answer to a conditional write whose condition failed, with the old item."""
    return 400, {
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": item,
    }


class DynamoResponder:
    """DynamoDB answers for idempotency records: writes succeed, or (duplicates) fail with the item.

    ``existing(operation, request)`` returns the stored item a conditional write should
    collide with, or None to let the write succeed. ``UpdateItem`` with ``ReturnValues`` ALL_NEW
    or UPDATED_NEW answers the item it would have written (enough for the callers measured
    here); with ALL_OLD or UPDATED_OLD it answers no attributes, as DynamoDB does when the
    item did not exist before the write.
    """

    def __init__(self, existing: Callable[[str, dict[str, Any]], dict[str, Any] | None] | None = None) -> None:
        self.existing = existing

    def __call__(self, operation: str, request: dict[str, Any]) -> Answer:
        if operation == "BatchGetItem":  # every key found (existing given) or none
            responses = {
                table: [item for key in spec["Keys"] if (item := self._stored(operation, key)) is not None]
                for table, spec in request.get("RequestItems", {}).items()
            }
            return 200, {"Responses": responses, "UnprocessedKeys": {}}
        if operation == "BatchWriteItem":
            return 200, {"UnprocessedItems": {}}
        if operation in ("PutItem", "UpdateItem") and self.existing is not None and "ConditionExpression" in request:
            item = self.existing(operation, request)
            if item is not None:
                return conditional_check_failed(item)
        if operation == "UpdateItem" and request.get("ReturnValues", "NONE") in ("ALL_NEW", "UPDATED_NEW"):
            attributes = dict(request.get("Key", {}))
            attributes.update({"status": {"S": "IN_PROGRESS"}, "attempt": {"N": "1"}})
            return 200, {"Attributes": attributes}
        return 200, {}

    def _stored(self, operation: str, key: dict[str, Any]) -> dict[str, Any] | None:
        return None if self.existing is None else self.existing(operation, {"Key": key})
