"""Extensions of moto 5.2.5 for what the real AWS provider and the SDK need from it.

Each function patches one gap (listed in README.md) and is applied by `apply_all()` in the
moto server process, before the server starts (code running moto in-process, such as the chaos
run, may call one directly); nothing here changes the module under test.
"""

from __future__ import annotations

import json
import threading
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


# IAM actions that authorise an API call of another name, and services whose signing name is
# not their IAM prefix (CloudWatch signs as "monitoring"; its IAM actions are "cloudwatch:*").
IAM_ACTION_OF_CALL = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}
IAM_PREFIX_OF_SIGNING_NAME = {"monitoring": "cloudwatch"}


def authorise_calls_by_their_iam_action() -> None:
    """Evaluate each call against the IAM action AWS checks for it.

    moto builds the action from the signing name and the API call, so SendMessageBatch needs
    `sqs:SendMessageBatch` (AWS: `sqs:SendMessage`; likewise the other batch calls) and CloudWatch
    calls need `monitoring:...` (AWS: `cloudwatch:...`): grants written the AWS way are refused.
    """
    from moto.iam.access_control import IAMRequestBase

    original: Callable[..., None] = IAMRequestBase.__init__
    if getattr(original, "_localaws", False):
        return

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        prefix, _, name = self._action.partition(":")
        action = f"{IAM_PREFIX_OF_SIGNING_NAME.get(prefix, prefix)}:{name}"
        self._action = IAM_ACTION_OF_CALL.get(action, action)

    __init__._localaws = True  # type: ignore[attr-defined]
    IAMRequestBase.__init__ = __init__  # type: ignore[method-assign]


def cloudwatch_alarm_resources() -> None:
    """Authorise DescribeAlarms against each named alarm's ARN instead of `*`.

    AWS's authorization reference lists DescribeAlarms against alarm resources, and the module
    grants it on the team's alarm ARNs only; moto evaluates every CloudWatch call against `*`.
    Calls without AlarmNames (by prefix, or all alarms) stay evaluated against `*`.
    """
    from moto.cloudwatch.responses import CloudWatchResponse
    from moto.utilities.utils import get_partition

    if hasattr(CloudWatchResponse, "_determine_resource"):
        return

    def _determine_resource(self: Any) -> str:
        if self._get_action() != "DescribeAlarms":
            return "*"
        names = self._get_param("AlarmNames", []) or []
        if not names:
            return "*"
        arns = [f"arn:{get_partition(self.region)}:cloudwatch:{self.region}:{self.current_account}:alarm:{n}" for n in names]
        # The caller needs the action on every named alarm: the request's own check runs on
        # the first alarm it may not describe (moto calls this outside its error handling, so
        # a refusal here must not raise).
        for arn in arns[1:]:
            try:
                self._authenticate_and_authorize_normal_action(arn)
            except Exception:  # noqa: BLE001 - refused: let the request's check refuse it
                return arn
        return arns[0]

    CloudWatchResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]


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


def scheduler_schedule_resources() -> None:
    """Authorise EventBridge Scheduler calls against the schedule's or the group's ARN.

    moto evaluates them against `*`, so grants on `schedule/<group>/*` (the team's schedules,
    all the module grants) are refused.
    """
    from moto.scheduler.responses import EventBridgeSchedulerResponse
    from moto.utilities.utils import get_partition

    if hasattr(EventBridgeSchedulerResponse, "_determine_resource"):
        return

    def _determine_resource(self: Any) -> str:
        action = self._get_action() or ""
        prefix = f"arn:{get_partition(self.region)}:scheduler:{self.region}:{self.current_account}"
        name = self._get_param("Name")
        if action.endswith("ScheduleGroup") and name:
            return f"{prefix}:schedule-group/{name}"
        if action in ("CreateSchedule", "GetSchedule", "UpdateSchedule", "DeleteSchedule") and name:
            # GroupName: in the JSON body of writes, in the `groupName` query of reads.
            group = self._get_param("GroupName") or (self.querystring.get("groupName") or [None])[0] or "default"
            return f"{prefix}:schedule/{group}/{name}"
        return "*"

    EventBridgeSchedulerResponse._determine_resource = _determine_resource  # type: ignore[attr-defined]


def fifo_groups_in_order() -> None:
    """FIFO receives hand out each message group in order: never a message of a group ahead of
    an earlier one of that group.

    SQS returns a group's messages in order, and none after a message that is in flight
    (received, visibility timeout not yet expired). moto 5.2.5 decides per message from a set of
    in-flight groups that goes stale: it snapshots the set when a receive starts and refreshes it
    only when, in the middle of a pass, it meets a message whose visibility lapsed. So a pass can
    skip a group's first message (its group still counted as in flight) and then, after a
    refresh, return a later message of the same group alone. Seen when several messages of a
    group were received together and all lapsed (a lost ReceiveMessage answer: the first is
    skipped because a later one still counts, the later one is cleared and returned), and when a
    long poll's snapshot outlives a group's in-flight message. Here each pass walks every group
    from its oldest message and takes visible messages up to the first one that is invisible (in
    flight, or made invisible again by ChangeMessageVisibility) or delayed; the rest of that
    group waits. Standard queues keep moto's receive.
    """
    from copy import deepcopy

    from moto.core.utils import unix_time, unix_time_millis
    from moto.sqs import models

    original: Callable[..., list[Any]] = models.SQSBackend.receive_message
    if getattr(original, "_localaws", False):
        return

    def take_in_group_order(backend: Any, queue_name: str, queue: Any, count: int, visibility_timeout: int,
                            attribute_names: list[str]) -> list[Any]:
        """One pass over the queue: the messages a receive may hand out now, oldest first."""
        now = unix_time_millis()
        waiting: set[Any] = set()  # groups whose next message must wait for an earlier one
        taken: list[Any] = []
        to_dlq: list[Any] = []
        redrive = queue.redrive_policy if queue.dead_letter_queue is not None else None
        for message in list(queue._messages):
            group = message.group_id
            if group in waiting:
                continue
            if message.delayed or now <= message.visible_at:  # in flight (or not yet deliverable)
                waiting.add(group)
                continue
            queue.pending_messages.discard(message)  # visible: not in flight (an earlier receive lapsed)
            if redrive and message.approximate_receive_count >= redrive["maxReceiveCount"]:
                to_dlq.append(message)  # as on SQS: moved on its next receive; the group goes on
                continue
            if not backend.is_message_valid_based_on_retention_period(queue_name, message):
                continue  # past its retention period: SQS has deleted it
            queue.pending_messages.add(message)
            message.mark_received(visibility_timeout=visibility_timeout)
            copy = deepcopy(message)  # the answer must not change when the message does
            models._filter_message_attributes(copy, attribute_names)
            taken.append(copy)
            if len(taken) >= count:
                break
        for message in to_dlq:
            queue._messages.remove(message)
            queue.dead_letter_queue.add_message(message)
        return taken

    lock = threading.Lock()  # one pass at a time: two receives must not both take a group

    def receive_message(self: Any, queue_name: str, count: int, wait_seconds_timeout: int, visibility_timeout: int,
                        message_attribute_names: list[str] | None = None) -> list[Any]:
        queue = self.get_queue(queue_name)
        if not queue.fifo_queue:
            return original(self, queue_name, count, wait_seconds_timeout, visibility_timeout, message_attribute_names)
        polling_end = unix_time() + wait_seconds_timeout
        while True:
            with lock:
                taken = take_in_group_order(self, queue_name, queue, count, visibility_timeout,
                                            message_attribute_names or [])
            remaining = polling_end - unix_time()
            if taken or remaining <= 0:
                return taken
            # Woken by a send; otherwise look again soon, for visibility timeouts that lapse.
            with queue._messages_lock:
                queue._messages_lock.wait(timeout=min(0.1, remaining))

    receive_message._localaws = True  # type: ignore[attr-defined]
    models.SQSBackend.receive_message = receive_message  # type: ignore[method-assign]


def _identity_allows(principal: Any, action: str, resource: str, context: dict[str, str]) -> bool:
    """Whether the caller's identity policies allow `action` on `resource` in a request context.

    Evaluated as AWS does, unlike moto's own check: a statement whose condition names a key the
    context lacks does not apply (moto treats such a condition as met), and an Allow whose
    condition fails does not apply (moto counts it as a Deny).
    """
    from moto.iam.access_control import IAMPolicy, IAMPolicyStatement, PermissionResult

    allowed = False
    for policy in principal.collect_policies():
        statements = IAMPolicy(policy)._policy_json["Statement"]
        for statement in statements if isinstance(statements, list) else [statements]:
            keys = {key for values in (statement.get("Condition") or {}).values() for key in values}
            if not keys <= context.keys():
                continue
            result = IAMPolicyStatement(statement).is_action_permitted(action, resource, incoming_condition_values=context)
            if statement.get("Effect") == "Deny" and result == PermissionResult.DENIED:
                return False
            if statement.get("Effect") == "Allow" and result == PermissionResult.PERMITTED:
                allowed = True
    return allowed


def _customer_key_arn(account: str, region: str, key_id: str | None) -> str | None:
    """The ARN of the customer managed key `key_id` names (ARN, id or alias); None for none or an AWS managed key."""
    from moto.kms.models import kms_backends

    if not key_id:
        return None
    try:
        key = kms_backends[account][region].describe_key(key_id)
    except Exception:  # noqa: BLE001 - unknown keys (e.g. alias/aws/sqs) are AWS managed ones
        return None
    return key.arn if key.key_manager == "CUSTOMER" else None


# KMS actions a caller needs when a service uses a customer managed key on its behalf. SQS
# developer guide (key management): a producer needs GenerateDataKey and Decrypt, a consumer
# Decrypt. EventBridge Scheduler user guide (encryption at rest; identity-based policy examples):
# creating or updating a schedule with a customer managed key needs DescribeKey (the key must be
# symmetric), GenerateDataKey and Decrypt; reading one back decrypts its input.
KMS_ACTIONS_OF_CALL = {
    "sqs:SendMessage": ("kms:GenerateDataKey", "kms:Decrypt"),
    "sqs:ReceiveMessage": ("kms:Decrypt",),
    "scheduler:CreateSchedule": ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"),
    "scheduler:UpdateSchedule": ("kms:DescribeKey", "kms:GenerateDataKey", "kms:Decrypt"),
    "scheduler:GetSchedule": ("kms:Decrypt",),
}


def _key_of_call(request: Any, resource: str) -> str | None:
    """The customer managed key a call makes its service use, if any: the queue's SSE key, or
    the schedule's key (the one a create or update names, the stored one for a read)."""
    service, _, call = request._action.partition(":")
    account, region = request.account_id, request._region
    if service == "sqs" and resource.startswith("arn:"):
        from moto.sqs.models import sqs_backends

        queue = sqs_backends[account][region].queues.get(resource.rsplit(":", 1)[-1])
        return _customer_key_arn(account, region, getattr(queue, "kms_master_key_id", None))
    if service == "scheduler" and call in ("CreateSchedule", "UpdateSchedule"):
        try:
            body = json.loads(request._body or b"{}")
        except ValueError:
            return None
        return _customer_key_arn(account, region, body.get("KmsKeyArn") if isinstance(body, dict) else None)
    if service == "scheduler" and call == "GetSchedule" and ":schedule/" in resource:
        from moto.scheduler.models import scheduler_backends

        group, _, name = resource.split(":schedule/", 1)[1].partition("/")
        try:
            schedule = scheduler_backends[account][region].get_schedule(group, name)
        except Exception:  # noqa: BLE001 - no such schedule: the call itself answers that
            return None
        return _customer_key_arn(account, region, schedule.kms_key_arn)
    return None


def customer_managed_keys_need_the_callers_grants() -> None:
    """Require the caller's KMS grants when SQS or EventBridge Scheduler uses a customer managed key.

    moto encrypts nothing and calls no KMS API for SSE, so a principal holding only
    `sqs:SendMessage` on a queue encrypted with a customer managed key can send, and the KMS
    statements of the module's policies are never evaluated. With this extension such a call
    also needs each KMS action AWS checks for it (KMS_ACTIONS_OF_CALL) on the key, in the context
    AWS evaluates it in: `kms:ViaService` = `<service>.<region>.amazonaws.com`. It is checked on
    every such call, even one that returns no message (on AWS an empty receive decrypts nothing):
    the applied role matrix therefore gives receives something to receive. SSE-KMS of S3 and
    DynamoDB is not modelled.
    """
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMRequestBase

    original: Callable[..., None] = IAMRequestBase.check_action_permitted
    if getattr(original, "_localaws_kms", False):
        return

    def check_action_permitted(self: Any, resource: str) -> None:
        original(self, resource)
        needed = KMS_ACTIONS_OF_CALL.get(self._action)
        key = _key_of_call(self, resource) if needed else None
        if key is None:
            return
        service = self._action.partition(":")[0]
        context = {"kms:ViaService": f"{service}.{self._region}.amazonaws.com"}
        for kms_action in needed:
            if not _identity_allows(self._access_key, kms_action, key, context):
                raise AccessDeniedError(
                    user_arn=self._access_key.arn,
                    action=f"{kms_action} on resource: {key} (via {context['kms:ViaService']}, for {self._action})",
                )

    check_action_permitted._localaws_kms = True  # type: ignore[attr-defined]
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


def scheduler_writes_need_pass_role() -> None:
    """Require `iam:PassRole` on a schedule's target role for CreateSchedule and UpdateSchedule.

    AWS checks that the caller may pass the role EventBridge Scheduler assumes
    (`iam:PassedToService` = `scheduler.amazonaws.com`); moto never evaluates PassRole, so a
    policy without it (or with it on another role) would pass.
    """
    from moto.core.exceptions import AccessDeniedError
    from moto.iam.access_control import IAMRequestBase

    original: Callable[..., None] = IAMRequestBase.check_action_permitted
    if getattr(original, "_localaws_pass_role", False):
        return

    def check_action_permitted(self: Any, resource: str) -> None:
        original(self, resource)
        if self._action not in ("scheduler:CreateSchedule", "scheduler:UpdateSchedule"):
            return
        try:
            body = json.loads(self._body or b"{}")
        except ValueError:
            return
        role = ((body.get("Target") or {}) if isinstance(body, dict) else {}).get("RoleArn")
        context = {"iam:PassedToService": "scheduler.amazonaws.com"}
        if role and not _identity_allows(self._access_key, "iam:PassRole", role, context):
            raise AccessDeniedError(user_arn=self._access_key.arn, action=f"iam:PassRole on resource: {role} (for {self._action})")

    check_action_permitted._localaws_pass_role = True  # type: ignore[attr-defined]
    IAMRequestBase.check_action_permitted = check_action_permitted  # type: ignore[method-assign]


EXTENSIONS: tuple[Callable[[], None], ...] = (
    keep_redrive_allow_policy,
    keep_policy_on_other_attribute_changes,
    dynamodb_table_resources,
    verify_signatures_of_bodyless_requests,
    authorise_calls_by_their_iam_action,
    cloudwatch_alarm_resources,
    bucket_policies_see_tls_requests,
    scheduler_schedule_resources,
    customer_managed_keys_need_the_callers_grants,
    scheduler_writes_need_pass_role,
    fifo_groups_in_order,
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
