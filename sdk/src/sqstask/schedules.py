"""Delayed and scheduled tasks through EventBridge Scheduler.

FIFO queues accept no per-message delay, so ``send_at``/``send_after`` create a one-time
schedule (``at(...)``, deleted after it fires) in the team's schedule group. Its target is the
universal ``sqs:sendMessage`` target, and its input is the very SendMessage request ``send()``
would make now: the same envelope, task id, deduplication id and attributes. The recurring
schedules that ``modules/schedules`` creates use the same target; ``list_schedules``,
``set_schedule_state`` and ``run_schedule`` operate on both.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

from .audit import log_event
from .config import QueueConfig
from .exceptions import ConfigError, PayloadTooLarge, ScheduleError, aws_error_code


class SchedulingQueue(Protocol):
    """What scheduling needs of a ``sqstask.TaskQueue``: its settings and two clients.

    A protocol rather than an import, so that queue.py (whose ``send_at`` calls this module)
    and this module do not import each other.
    """

    @property
    def config(self) -> QueueConfig: ...

    @property
    def sqs(self) -> Any: ...

    @property
    def scheduler(self) -> Any: ...

# Scheduler context attributes, replaced by EventBridge Scheduler in a target's input.
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
SCHEDULE_ARN = "<aws.scheduler.schedule-arn>"
EXECUTION_ID = "<aws.scheduler.execution-id>"
ATTEMPT_NUMBER = "<aws.scheduler.attempt-number>"
# The format Scheduler uses for <aws.scheduler.scheduled-time>, e.g. 2030-01-01T02:00:00Z.
SCHEDULED_TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

SEND_MESSAGE_ACTION = "aws-sdk:sqs:sendMessage"
ONE_TIME_PREFIX = "sqstask-at-"
MAX_SCHEDULE_NAME = 64
# EventBridge Scheduler keeps a schedule's payload (the target input) up to 256 KB.
MAX_SCHEDULE_INPUT = 256 * 1024
_SCHEDULE_NAME_RE = re.compile(r"[0-9A-Za-z_.-]{1,64}")
_UNIVERSAL_SEND_RE = re.compile(r"arn:aws[a-z-]*:scheduler:::aws-sdk:sqs:sendMessage")
_SQS_QUEUE_ARN_RE = re.compile(r"arn:(aws[a-z-]*):sqs:([a-z0-9-]+):(\d{12}):([A-Za-z0-9_.-]+)")
_ROLE_ARN_RE = re.compile(r"arn:(aws[a-z-]*):iam::\d{12}:role/\S+")
# Scheduler's defaults, made explicit: retry for up to 24 hours.
DEFAULT_RETRY_POLICY = {"MaximumRetryAttempts": 185, "MaximumEventAgeInSeconds": 86400}
# The schedule fields UpdateSchedule takes; it replaces the whole definition.
_UPDATE_FIELDS = (
    "ActionAfterCompletion",
    "Description",
    "EndDate",
    "FlexibleTimeWindow",
    "GroupName",
    "KmsKeyArn",
    "ScheduleExpression",
    "ScheduleExpressionTimezone",
    "StartDate",
    "State",
    "Target",
)


@dataclass(frozen=True)
class ScheduledSend:
    """A delayed send: the task id and the one-time schedule that will send it."""

    task_id: str
    schedule_name: str
    schedule_arn: str
    group_name: str
    send_at: datetime
    created: bool = True  # False when an identical delayed send already existed


@dataclass(frozen=True)
class ScheduleInfo:
    """One schedule of the team's group, as ``sqstask schedules list`` shows it."""

    name: str
    group_name: str
    state: str
    expression: str | None
    timezone: str | None
    target_arn: str | None
    task_type: str | None = None
    message_group_id: str | None = None
    one_time: bool = False
    arn: str | None = None
    raw: Mapping[str, Any] | None = field(default=None, repr=False, compare=False)

    def to_row(self) -> dict[str, Any]:
        """A flat dict for tables and JSON (without the raw API response)."""
        return {
            "name": self.name,
            "group_name": self.group_name,
            "state": self.state,
            "expression": self.expression,
            "timezone": self.timezone,
            "task_type": self.task_type,
            "message_group_id": self.message_group_id,
            "kind": "one-time" if self.one_time else "recurring",
            "target_arn": self.target_arn,
            "arn": self.arn,
        }


@dataclass(frozen=True)
class StateChange:
    """What ``set_schedule_state`` did."""

    name: str
    before: str
    after: str

    @property
    def changed(self) -> bool:
        """True when the schedule's state was actually updated."""
        return self.before != self.after


@dataclass(frozen=True)
class RunResult:
    """A manual run of a schedule: the message sent now."""

    schedule_name: str
    scheduled_time: str
    task_id: str
    message_id: str
    sequence_number: str | None
    queue_url: str


# -- delayed sends ---------------------------------------------------------------------------


def send_at(
    queue: SchedulingQueue,
    when: datetime,
    task_type: str,
    payload: Any,
    *,
    group_id: str,
    task_id: str | None = None,
    now: datetime | None = None,
) -> ScheduledSend:
    """Send a task at ``when`` (timezone-aware) via a one-time schedule in the team's group.

    The schedule fires at ``when`` rounded up to the whole second, sends the message ``send()``
    would send now (same envelope, task id, deduplication id and attributes), and deletes
    itself; a run Scheduler cannot deliver goes to ``schedule_dead_letter_arn`` when configured.
    Raises ScheduleError for a naive or past ``when``, InvalidTaskError for a bad task,
    PayloadTooLarge for a message over the queue's limit or over the 256 KiB EventBridge Scheduler
    keeps per schedule (delayed sends are not offloaded to S3), ConfigError when the schedule group
    or scheduler role is not configured. Calling it again with the same ``task_id`` and time
    returns the existing schedule (``created`` False).
    """
    from .task import TaskSpec, deduplication_id, encode_envelope, message_size, task_attributes

    current = _utc_now(now)
    fire_at = _fire_time(when, current)
    group_name, role_arn = _delayed_send_config(queue)
    spec = TaskSpec(task_type, payload, group_id, task_id).validated()
    assert spec.task_id is not None

    body = encode_envelope(spec.task_id, spec.task_type, spec.payload, current)
    attributes = task_attributes(spec.task_id, spec.task_type)
    size = message_size(body, attributes)
    limit = queue.config.max_message_size
    if size > limit:
        raise PayloadTooLarge(
            size,
            limit,
            f"payload of delayed task {spec.task_id} makes a {size}-byte message; the queue accepts {limit} bytes. "
            "Delayed sends carry the message inside the schedule and are not offloaded to S3 "
            "(the object could expire before the schedule fires): store the data yourself and send a reference",
        )
    request = {
        "QueueUrl": queue.config.queue_url,
        "MessageGroupId": spec.group_id,
        "MessageDeduplicationId": deduplication_id(spec.task_id),
        "MessageBody": body,
        "MessageAttributes": attributes,
    }
    target_input = json.dumps(request, separators=(",", ":"), ensure_ascii=False)
    input_size = len(target_input.encode("utf-8"))
    if input_size > MAX_SCHEDULE_INPUT:
        raise PayloadTooLarge(
            input_size,
            MAX_SCHEDULE_INPUT,
            f"delayed task {spec.task_id} needs a {input_size}-byte schedule input; EventBridge Scheduler keeps at "
            f"most {MAX_SCHEDULE_INPUT} bytes (256 KiB) per schedule. Delayed sends carry the message inside the "
            "schedule and are not offloaded to S3: store the data yourself and send a reference",
        )
    name = one_time_schedule_name(spec.task_id)
    expression = f"at({fire_at.strftime('%Y-%m-%dT%H:%M:%S')})"
    target: dict[str, Any] = {
        "Arn": universal_send_message_arn(_partition_of(role_arn)),
        "RoleArn": role_arn,
        "Input": target_input,
        "RetryPolicy": dict(DEFAULT_RETRY_POLICY),
    }
    # A run Scheduler cannot deliver (after its retries) lands in the team's schedule DLQ, as
    # for the module's recurring schedules, instead of vanishing.
    if queue.config.schedule_dead_letter_arn:
        target["DeadLetterConfig"] = {"Arn": queue.config.schedule_dead_letter_arn}
    description = f"sqstask delayed send of task {spec.task_id} ({spec.task_type})"[:512]
    client = queue.scheduler
    try:
        response = client.create_schedule(
            Name=name,
            GroupName=group_name,
            ScheduleExpression=expression,
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion="DELETE",
            State="ENABLED",
            Description=description,
            Target=target,
        )
    except Exception as exc:
        code = aws_error_code(exc)
        if code == "ConflictException":
            return _existing_delayed_send(queue, name, group_name, expression, request, spec.task_id, fire_at)
        if code == "ResourceNotFoundException":
            raise ConfigError(
                f"schedule group {group_name!r} does not exist ({_client_error_message(exc)}); "
                "set SQSTASK_SCHEDULE_GROUP to the module's schedule_group output"
            ) from None
        if code == "ValidationException":
            raise ScheduleError(f"EventBridge Scheduler rejected the delayed send of task {spec.task_id}: {_client_error_message(exc)}") from None
        raise
    result = ScheduledSend(spec.task_id, name, response["ScheduleArn"], group_name, fire_at)
    log_event(
        "scheduled",
        task_id=spec.task_id,
        task_type=spec.task_type,
        group_id=spec.group_id,
        schedule=name,
        schedule_group=group_name,
        send_at=fire_at.strftime(SCHEDULED_TIME_FORMAT),
    )
    return result


def send_after(
    queue: SchedulingQueue,
    delay: timedelta | float,
    task_type: str,
    payload: Any,
    *,
    group_id: str,
    task_id: str | None = None,
    now: datetime | None = None,
) -> ScheduledSend:
    """Send a task after ``delay`` (a timedelta or a number of seconds, > 0); see ``send_at``."""
    if isinstance(delay, bool) or not isinstance(delay, (timedelta, int, float)):
        raise ScheduleError(f"delay must be a timedelta or a number of seconds, got {type(delay).__name__}")
    seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
    if not math.isfinite(seconds) or seconds <= 0:
        raise ScheduleError(f"delay must be positive, got {seconds:g} seconds; use send() to send now")
    current = _utc_now(now)
    try:
        when = current + timedelta(seconds=seconds)
    except OverflowError:
        raise ScheduleError(f"delay of {seconds:g} seconds is too far in the future") from None
    return send_at(queue, when, task_type, payload, group_id=group_id, task_id=task_id, now=current)


def one_time_schedule_name(task_id: str) -> str:
    """The one-time schedule name of a delayed task: readable when the task id allows it."""
    room = MAX_SCHEDULE_NAME - len(ONE_TIME_PREFIX)
    if _SCHEDULE_NAME_RE.fullmatch(task_id) and len(task_id) <= room:
        return ONE_TIME_PREFIX + task_id
    return ONE_TIME_PREFIX + hashlib.sha256(task_id.encode("utf-8")).hexdigest()[:40]


def universal_send_message_arn(partition: str = "aws") -> str:
    """The universal target ARN for SQS SendMessage in ``partition``."""
    return f"arn:{partition}:scheduler:::{SEND_MESSAGE_ACTION}"


def _utc_now(now: datetime | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if now.tzinfo is None:
        raise ScheduleError("now must be timezone-aware")
    return now.astimezone(timezone.utc)


def _fire_time(when: Any, now: datetime) -> datetime:
    """``when`` in UTC rounded up to the second; rejects naive and past times."""
    if not isinstance(when, datetime):
        raise ScheduleError(f"when must be a timezone-aware datetime, got {type(when).__name__}")
    if when.tzinfo is None or when.tzinfo.utcoffset(when) is None:
        raise ScheduleError(
            f"when={when.isoformat()} has no time zone; pass an aware datetime, "
            "e.g. datetime(2030, 1, 1, 9, tzinfo=timezone.utc)"
        )
    utc = when.astimezone(timezone.utc)
    if utc.microsecond:
        utc = utc.replace(microsecond=0) + timedelta(seconds=1)
    if utc <= now:
        raise ScheduleError(
            f"when={when.isoformat()} is not in the future (now is {now.strftime(SCHEDULED_TIME_FORMAT)}); "
            "use send() to send now"
        )
    return utc


def _delayed_send_config(queue: SchedulingQueue) -> tuple[str, str]:
    config = queue.config
    if not config.schedule_group:
        raise ConfigError(
            "schedule_group is not configured: set SQSTASK_SCHEDULE_GROUP (or SQSTASK_CONFIG from the module's "
            "sdk_config) to the team's EventBridge Scheduler group; delayed sends need it"
        )
    if not config.scheduler_role_arn:
        raise ConfigError(
            "scheduler_role_arn is not configured: set SQSTASK_SCHEDULER_ROLE_ARN (or SQSTASK_CONFIG from the "
            "module's sdk_config) to the role EventBridge Scheduler assumes to send to the queue"
        )
    if not _ROLE_ARN_RE.fullmatch(config.scheduler_role_arn):
        raise ConfigError(
            f"scheduler_role_arn {config.scheduler_role_arn!r} is not an IAM role ARN "
            "(arn:aws:iam::<account>:role/<name>-scheduler)"
        )
    return config.schedule_group, config.scheduler_role_arn


def _partition_of(arn: str) -> str:
    return arn.split(":", 2)[1]


def _existing_delayed_send(
    queue: SchedulingQueue,
    name: str,
    group_name: str,
    expression: str,
    request: Mapping[str, Any],
    task_id: str,
    fire_at: datetime,
) -> ScheduledSend:
    """The schedule already there for this task id: the same send (idempotent) or a clash."""
    existing = _get_schedule(queue, name, group_name)
    existing_request = _load_input(existing)
    same = (
        existing.get("ScheduleExpression") == expression
        and existing_request.get("MessageDeduplicationId") == request["MessageDeduplicationId"]
        and existing_request.get("QueueUrl") == request["QueueUrl"]
    )
    if not same:
        raise ScheduleError(
            f"task {task_id} is already scheduled by {name} ({existing.get('ScheduleExpression')}, group {group_name}); "
            "a task id is sent once: use another task id, or delete that schedule first"
        )
    return ScheduledSend(task_id, name, str(existing.get("Arn", "")), group_name, fire_at, created=False)


# -- managing schedules ----------------------------------------------------------------------


def list_schedules(queue: SchedulingQueue, *, prefix: str | None = None) -> list[ScheduleInfo]:
    """Every schedule of the team's group (recurring and pending delayed sends), by name."""
    group_name = _group_name(queue)
    client = queue.scheduler
    kwargs: dict[str, Any] = {"GroupName": group_name}
    if prefix:
        kwargs["NamePrefix"] = prefix
    names: list[str] = []
    token: str | None = None
    try:
        while True:
            response = client.list_schedules(**kwargs, **({"NextToken": token} if token else {}))
            names.extend(s["Name"] for s in response.get("Schedules", []) if s.get("GroupName", group_name) == group_name)
            token = response.get("NextToken")
            if not token:
                break
    except Exception as exc:
        if aws_error_code(exc) == "ResourceNotFoundException":
            raise ConfigError(f"schedule group {group_name!r} does not exist: {_client_error_message(exc)}") from None
        raise
    infos = []
    for name in sorted(set(names)):
        try:
            infos.append(schedule_info(_get_schedule(queue, name, group_name)))
        except ScheduleError:
            continue  # deleted between the list and the get (a delayed send that just fired)
    return infos


def get_schedule(queue: SchedulingQueue, name: str) -> ScheduleInfo:
    """One schedule of the team's group; ScheduleError when there is none by that name."""
    return schedule_info(_get_schedule(queue, name, _group_name(queue)))


def set_schedule_state(queue: SchedulingQueue, name: str, *, enabled: bool) -> StateChange:
    """Enable or disable a schedule (GetSchedule, then UpdateSchedule with its full definition).

    A schedule managed by Terraform returns to its configured ``enabled`` value on the next
    ``terraform apply``: change it there for good; this is for incidents.
    """
    group_name = _group_name(queue)
    current = _get_schedule(queue, name, group_name)
    before = str(current.get("State", "ENABLED"))
    after = "ENABLED" if enabled else "DISABLED"
    if before == after:
        return StateChange(name, before, after)
    update = update_request(current, state=after)
    try:
        queue.scheduler.update_schedule(Name=name, **update)
    except Exception as exc:
        code = aws_error_code(exc)
        if code == "ResourceNotFoundException":
            raise ScheduleError(f"schedule {name!r} no longer exists in group {group_name!r}") from None
        if code in ("ValidationException", "ConflictException"):
            raise ScheduleError(f"EventBridge Scheduler refused to update {name!r}: {_client_error_message(exc)}") from None
        raise
    log_event("schedule-state", schedule=name, schedule_group=group_name, before=before, after=after)
    return StateChange(name, before, after)


def update_request(schedule: Mapping[str, Any], *, state: str, now: datetime | None = None) -> dict[str, Any]:
    """UpdateSchedule arguments (without Name) that keep ``schedule`` as it is except its state.

    UpdateSchedule replaces the whole definition, so every field is carried over; a start
    date already in the past is dropped (Scheduler rejects those, and it no longer matters).
    """
    request = {key: schedule[key] for key in _UPDATE_FIELDS if schedule.get(key) not in (None, "", {})}
    request["State"] = state
    start = request.get("StartDate")
    if isinstance(start, datetime):
        aware = start if start.tzinfo else start.replace(tzinfo=timezone.utc)
        if aware <= _utc_now(now):
            del request["StartDate"]
    return request


def run_schedule(queue: SchedulingQueue, name: str, *, now: datetime | None = None) -> RunResult:
    """Send now the message the schedule would send, as if it had been scheduled for now.

    Scheduler's context attributes are filled in as Scheduler would: the scheduled time is
    now (to the second, in Scheduler's format), so the run gets its own task id.
    """
    group_name = _group_name(queue)
    schedule = _get_schedule(queue, name, group_name)
    target = schedule.get("Target") or {}
    target_arn = str(target.get("Arn", ""))
    scheduled_time = _utc_now(now).strftime(SCHEDULED_TIME_FORMAT)
    rendered = render_input(
        str(target.get("Input", "")),
        scheduled_time=scheduled_time,
        schedule_arn=str(schedule.get("Arn", "")),
    )
    if _UNIVERSAL_SEND_RE.fullmatch(target_arn):
        try:
            request = json.loads(rendered)
        except ValueError as exc:
            raise ScheduleError(f"schedule {name!r} has an input that is not a JSON SendMessage request: {exc}") from None
        if not isinstance(request, dict) or not request.get("QueueUrl") or "MessageBody" not in request:
            raise ScheduleError(f"schedule {name!r} input lacks QueueUrl or MessageBody; it is not a SendMessage request")
    elif _SQS_QUEUE_ARN_RE.fullmatch(target_arn):
        request = _templated_sqs_request(queue, target, rendered)
    else:
        raise ScheduleError(
            f"schedule {name!r} targets {target_arn or 'nothing'}, not SQS; `run` only triggers schedules that send to a queue"
        )
    response = queue.sqs.send_message(**request)
    task_id = _task_id_of(request) or response["MessageId"]
    result = RunResult(
        name, scheduled_time, task_id, response["MessageId"], response.get("SequenceNumber"), request["QueueUrl"]
    )
    log_event(
        "sent",
        task_id=task_id,
        group_id=request.get("MessageGroupId"),
        message_id=result.message_id,
        sequence_number=result.sequence_number,
        schedule=name,
        schedule_group=group_name,
        trigger="manual",
    )
    return result


def render_input(
    text: str,
    *,
    scheduled_time: str,
    schedule_arn: str,
    execution_id: str | None = None,
    attempt_number: int = 1,
) -> str:
    """``text`` with Scheduler's context attributes replaced, as Scheduler does when it fires."""
    values = {
        SCHEDULED_TIME: scheduled_time,
        SCHEDULE_ARN: schedule_arn,
        EXECUTION_ID: execution_id or f"manual-{uuid.uuid4().hex[:16]}",
        ATTEMPT_NUMBER: str(attempt_number),
    }
    for keyword, value in values.items():
        text = text.replace(keyword, value)
    return text


def schedule_info(schedule: Mapping[str, Any]) -> ScheduleInfo:
    """A ScheduleInfo from a GetSchedule response."""
    target = schedule.get("Target") or {}
    target_arn = target.get("Arn")
    task_type = message_group_id = None
    if isinstance(target_arn, str) and _UNIVERSAL_SEND_RE.fullmatch(target_arn):
        request = _load_input(schedule)
        message_group_id = request.get("MessageGroupId")
        attrs = request.get("MessageAttributes") or {}
        task_type = (attrs.get("sqstask-task-type") or {}).get("StringValue")
    elif isinstance(target_arn, str) and _SQS_QUEUE_ARN_RE.fullmatch(target_arn):
        message_group_id = (target.get("SqsParameters") or {}).get("MessageGroupId")
    expression = schedule.get("ScheduleExpression")
    return ScheduleInfo(
        name=str(schedule.get("Name", "")),
        group_name=str(schedule.get("GroupName", "")),
        state=str(schedule.get("State", "")),
        expression=expression,
        timezone=schedule.get("ScheduleExpressionTimezone"),
        target_arn=target_arn,
        task_type=task_type,
        message_group_id=message_group_id,
        one_time=isinstance(expression, str) and expression.startswith("at("),
        arn=schedule.get("Arn"),
        raw=schedule,
    )


def _group_name(queue: SchedulingQueue) -> str:
    group = queue.config.schedule_group
    if not group:
        raise ConfigError(
            "schedule_group is not configured: set SQSTASK_SCHEDULE_GROUP (or SQSTASK_CONFIG from the module's "
            "sdk_config) to the team's EventBridge Scheduler group"
        )
    return group


def _get_schedule(queue: SchedulingQueue, name: str, group_name: str) -> dict[str, Any]:
    try:
        return dict(queue.scheduler.get_schedule(Name=name, GroupName=group_name))
    except Exception as exc:
        if aws_error_code(exc) == "ResourceNotFoundException":
            raise ScheduleError(
                f"no schedule {name!r} in group {group_name!r}; `sqstask schedules list` shows the schedules"
            ) from None
        raise


def _load_input(schedule: Mapping[str, Any]) -> dict[str, Any]:
    text = (schedule.get("Target") or {}).get("Input")
    try:
        value = json.loads(text) if isinstance(text, str) else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _templated_sqs_request(queue: SchedulingQueue, target: Mapping[str, Any], body: str) -> dict[str, Any]:
    """SendMessage arguments for a templated SQS target (queue ARN + SqsParameters)."""
    match = _SQS_QUEUE_ARN_RE.fullmatch(str(target.get("Arn")))
    assert match is not None
    queue_name, account = match.group(4), match.group(3)
    if queue.config.queue_arn == target.get("Arn") or queue.config.queue_name == queue_name:
        url = queue.config.queue_url
    else:
        url = queue.sqs.get_queue_url(QueueName=queue_name, QueueOwnerAWSAccountId=account)["QueueUrl"]
    request: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
    group = (target.get("SqsParameters") or {}).get("MessageGroupId")
    if group:
        request["MessageGroupId"] = group
    return request


def _task_id_of(request: Mapping[str, Any]) -> str | None:
    attrs = request.get("MessageAttributes") or {}
    value = (attrs.get("sqstask-task-id") or {}).get("StringValue")
    if isinstance(value, str) and value:
        return value
    try:
        body = json.loads(request.get("MessageBody", ""))
    except (TypeError, ValueError):
        return None
    return body.get("id") if isinstance(body, dict) and isinstance(body.get("id"), str) else None




def _client_error_message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        message = response.get("Error", {}).get("Message")
        if message:
            return str(message)
    return str(exc)
