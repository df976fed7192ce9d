"""Large payloads in S3, in the pointer format of the AWS SQS extended client libraries.

A message too big for the queue is stored as an S3 object and replaced by the body
``["software.amazon.payloadoffloading.PayloadS3Pointer", {"s3BucketName": ..., "s3Key": ...}]``
with the ``ExtendedPayloadSize`` message attribute, so the Java and Python extended clients
and sqstask read each other's messages.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from .exceptions import ConfigError, MalformedMessage, aws_error_code

POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
DEFAULT_PREFIX = "sqstask-payloads/"
_POINTER_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)
_MISSING_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}


def parse_pointer(body: Any) -> tuple[str, str] | None:
    """``(bucket, key)`` when ``body`` is an extended-client S3 pointer, else None."""
    if not isinstance(body, str) or not body.startswith("[") or "S3Pointer" not in body[:120]:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return None
    if not (isinstance(data, list) and len(data) == 2 and data[0] in _POINTER_CLASSES and isinstance(data[1], dict)):
        return None
    bucket, key = data[1].get("s3BucketName"), data[1].get("s3Key")
    if not isinstance(bucket, str) or not isinstance(key, str) or not bucket or not key:
        return None
    return bucket, key


def is_pointer(body: Any) -> bool:
    """True when ``body`` is an extended-client S3 pointer."""
    return parse_pointer(body) is not None


def pointer_body(bucket: str, key: str) -> str:
    """The message body that points at ``s3://bucket/key``."""
    return json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


class PayloadStore:
    """Puts large message bodies in an S3 bucket and resolves pointers to them.

    ``s3_client`` is a boto3 S3 client or a zero-argument callable returning one (so the
    client is created only when a pointer is actually met). ``bucket`` may be None for a
    store that only reads pointers (they name their own bucket).
    """

    def __init__(self, s3_client: Any, bucket: str | None, prefix: str = DEFAULT_PREFIX) -> None:
        self._client = s3_client
        self.bucket = bucket
        self.prefix = prefix

    @property
    def s3(self) -> Any:
        """The S3 client (created on first use when a factory was given)."""
        if callable(self._client) and not hasattr(self._client, "get_object"):
            self._client = self._client()
        return self._client

    def offload(self, body: str) -> tuple[str, dict[str, dict[str, str]]]:
        """Store ``body`` in S3; return the pointer body and the ``ExtendedPayloadSize`` attribute."""
        if not self.bucket:
            raise ConfigError(
                "payload_bucket (SQSTASK_PAYLOAD_BUCKET) is not set, so large payloads cannot be offloaded"
            )
        data = body.encode("utf-8")
        key = f"{self.prefix}{uuid.uuid4()}"
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType="application/json")
        attributes = {SIZE_ATTRIBUTE: {"DataType": "Number", "StringValue": str(len(data))}}
        return pointer_body(self.bucket, key), attributes

    def resolve(self, body: str) -> str:
        """The original body a pointer refers to (a non-pointer body is returned unchanged).

        A missing object raises MalformedMessage: the message can never succeed.
        """
        location = parse_pointer(body)
        if location is None:
            return body
        bucket, key = location
        try:
            response = self.s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:  # botocore ClientError, without importing botocore here
            if aws_error_code(exc) in _MISSING_CODES:
                raise MalformedMessage(
                    f"payload object s3://{bucket}/{key} is missing "
                    "(deleted, or expired by the bucket's lifecycle rule)"
                ) from None
            raise
        try:
            return response["Body"].read().decode("utf-8")
        except UnicodeDecodeError:
            raise MalformedMessage(f"payload object s3://{bucket}/{key} is not UTF-8 text") from None

    def delete(self, body: str) -> bool:
        """Delete the object a pointer refers to; False when ``body`` is not a pointer."""
        location = parse_pointer(body)
        if location is None:
            return False
        bucket, key = location
        try:
            self.s3.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if aws_error_code(exc) not in _MISSING_CODES:
                raise
        return True


