"""Extensions of moto 5.2.5 for what the real AWS provider and the SDK need from it.

Each function patches one gap (listed in README.md) and is applied by `apply_all()` in the
moto server process, before the server starts; nothing here changes the module under test.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any


def keep_redrive_allow_policy() -> None:
    """Store and return the SQS `RedriveAllowPolicy` attribute.

    moto drops it on SetQueueAttributes and answers InvalidAttributeName when GetQueueAttributes
    names it, so the provider's `aws_sqs_queue_redrive_allow_policy` waits forever.
    """
    from moto.sqs.models import Queue

    if "RedriveAllowPolicy" in Queue.BASE_ATTRIBUTES:
        return
    Queue.BASE_ATTRIBUTES = [*Queue.BASE_ATTRIBUTES, "RedriveAllowPolicy"]
    # The generic setter of Queue._set_attributes stores it under this name.
    Queue.redrive_allow_policy = None  # type: ignore[attr-defined]
    original: Callable[..., None] = Queue._set_attributes

    def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        # An empty value removes the attribute, as on AWS (the provider's delete waits for that).
        if attributes.get("RedriveAllowPolicy") == "":
            attributes = {**attributes, "RedriveAllowPolicy": None}
        original(self, attributes, now)

    Queue._set_attributes = _set_attributes  # type: ignore[method-assign]


def keep_policy_on_other_attribute_changes() -> None:
    """SetQueueAttributes without `Policy` leaves the queue policy as it was.

    moto resets the policy to none whenever SetQueueAttributes omits it (e.g. when only the
    redrive policy is set); on AWS each call changes only the attributes it names.
    """
    from moto.sqs.models import Queue

    original: Callable[..., None] = Queue._set_attributes
    if getattr(original, "_localaws", False):
        return

    def _set_attributes(self: Any, attributes: dict[str, Any], now: float | None = None) -> None:
        had_policy = hasattr(self, "policy")
        previous = getattr(self, "policy", None)
        original(self, attributes, now)
        if had_policy and "Policy" not in attributes:
            self.policy = previous

    _set_attributes._localaws = True  # type: ignore[attr-defined]
    Queue._set_attributes = _set_attributes  # type: ignore[method-assign]


def dynamodb_table_resources() -> None:
    """Evaluate DynamoDB requests against the table's ARN instead of `*`.

    Without it moto refuses every table-scoped grant (`Resource: <table arn>`), which is the only
    kind of grant the module writes. Batch requests name their tables in `RequestItems`; one
    table gives its ARN, several give `*` (refused unless a policy grants `*`).
    """
    from moto.dynamodb.responses import DynamoHandler
    from moto.utilities.utils import get_partition

    if hasattr(DynamoHandler, "_determine_resource"):
        return

    def _determine_resource(self: Any) -> str:
        body = getattr(self, "params", None) or {}
        names = {body["TableName"]} if body.get("TableName") else set(body.get("RequestItems") or {})
        if len(names) != 1:
            return "*"
        name = names.pop()
        if name.startswith("arn:"):
            return name
        return f"arn:{get_partition(self.region)}:dynamodb:{self.region}:{self.current_account}:table/{name}"

    DynamoHandler._determine_resource = _determine_resource  # type: ignore[attr-defined]


def verify_signatures_of_bodyless_requests() -> None:
    """Check the signature of GET/HEAD/DELETE requests of REST-JSON services against an empty body.

    moto rebuilds the signed request with its parsed parameters as the body when the raw body is
    empty, so every signed GET of e.g. EventBridge Scheduler (GetScheduleGroup, GetSchedule)
    fails with SignatureDoesNotMatch under IAM enforcement.
    """
    from moto.iam.access_control import IAMRequest

    original: Callable[..., Any] = IAMRequest._create_aws_request
    if getattr(original, "_localaws", False):
        return

    def _create_aws_request(self: Any) -> Any:
        if self._method in ("GET", "HEAD", "DELETE") and not self._body:
            data, self._data = self._data, b""
            try:
                return original(self)
            finally:
                self._data = data
        return original(self)

    _create_aws_request._localaws = True  # type: ignore[attr-defined]
    IAMRequest._create_aws_request = _create_aws_request  # type: ignore[method-assign]


# What AWS's endpoints would put in a request's context: clients reach them over TLS 1.2+.
TLS_CONTEXT = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def bucket_policies_see_tls_requests() -> None:
    """Evaluate bucket policies as for a request over TLS.

    moto evaluates a bucket policy's statements with no request context and knows only the
    StringEquals operator (others count as matched), and a statement whose condition does not
    hold counts as a Deny; so the module's TLS-only Deny statements (`Bool aws:SecureTransport
    false`, `NumericLessThan s3:TlsVersion 1.2`) refuse every PutObject. The emulator speaks plain HTTP on loopback, standing in for AWS's TLS endpoints:
    requests are evaluated as TLS 1.3 ones, with the Bool and numeric operators implemented.
    """
    from moto.iam import policy_conditions
    from moto.iam.access_control import IAMPolicyStatement, PermissionResult
    from moto.s3.models import FakeBucket

    def operation(test: Callable[[str, str], bool]) -> Callable[[Any, str], bool]:
        def verify(expected: Any, actual: str) -> bool:
            values = expected if isinstance(expected, list) else [expected]
            return any(test(str(value), actual) for value in values)

        return verify

    policy_conditions.CONDITION_OPERATIONS.update(
        Bool=operation(lambda expected, actual: expected.lower() == actual.lower()),
        NumericLessThan=operation(lambda expected, actual: float(actual) < float(expected)),
        NumericLessThanEquals=operation(lambda expected, actual: float(actual) <= float(expected)),
        NumericGreaterThan=operation(lambda expected, actual: float(actual) > float(expected)),
        NumericGreaterThanEquals=operation(lambda expected, actual: float(actual) >= float(expected)),
    )

    original: Callable[..., Any] = FakeBucket.get_permission
    if getattr(original, "_localaws", False):
        return

    def get_permission(self: Any, action: str, resource: str) -> Any:
        if self.policy is None:
            return original(self, action, resource)
        statements = json.loads(self.policy.decode())["Statement"]
        result = PermissionResult.NEUTRAL
        for statement in statements if isinstance(statements, list) else [statements]:
            evaluated = IAMPolicyStatement(statement)
            # moto answers DENIED for any statement whose condition does not hold, Allow or
            # Deny alike; on AWS such a statement does not apply.
            if not evaluated._check_conditions(TLS_CONTEXT):
                continue
            permission = evaluated.is_action_permitted(action, resource, incoming_condition_values=TLS_CONTEXT)
            if permission == PermissionResult.DENIED:
                return permission
            if permission == PermissionResult.PERMITTED:
                result = permission
        return result

    get_permission._localaws = True  # type: ignore[attr-defined]
    FakeBucket.get_permission = get_permission  # type: ignore[method-assign]


EXTENSIONS: tuple[Callable[[], None], ...] = (
    keep_redrive_allow_policy,
    keep_policy_on_other_attribute_changes,
    dynamodb_table_resources,
    verify_signatures_of_bodyless_requests,
    bucket_policies_see_tls_requests,
)


def apply_all(skip: Iterable[str] = ()) -> list[str]:
    """Apply every extension except those named in `skip` (idempotent); returns the names applied."""
    skipped = set(skip)
    unknown = skipped - {extension.__name__ for extension in EXTENSIONS}
    if unknown:
        raise ValueError(f"unknown moto extensions: {', '.join(sorted(unknown))}")
    applied = []
    for extension in EXTENSIONS:
        if extension.__name__ not in skipped:
            extension()
            applied.append(extension.__name__)
    return applied
