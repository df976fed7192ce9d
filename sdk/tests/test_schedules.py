"""Delayed sends and schedule management against moto's EventBridge Scheduler."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from sqstask import ConfigError, InvalidTaskError, PayloadTooLarge, ScheduleError, TaskQueue
from sqstask.schedules import (
    ONE_TIME_PREFIX,
    ScheduledSend,
    get_schedule,
    list_schedules,
    one_time_schedule_name,
    run_schedule,
    send_after,
    set_schedule_state,
    update_request,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/team-scheduler"
SEND_MESSAGE = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
NOW = datetime(2031, 5, 4, 12, 0, 0, tzinfo=timezone.utc)
LATER = datetime(2031, 5, 4, 15, 30, 0, tzinfo=timezone.utc)


@pytest.fixture
def team(aws: Any, make_team: Any) -> TaskQueue:
    """The team's queue with its schedule group `team` and scheduler role configured."""
    base = make_team("team", table=False, payload_bucket=False)
    aws.client("scheduler").create_schedule_group(Name="team")
    config = base.config.with_overrides(schedule_group="team", scheduler_role_arn=ROLE_ARN)
    return TaskQueue(config=config, sqs_client=base.sqs, scheduler_client=aws.client("scheduler"))


def schedule_of(queue: TaskQueue, name: str) -> dict[str, Any]:
    return queue.scheduler.get_schedule(Name=name, GroupName="team")


def input_of(queue: TaskQueue, name: str) -> dict[str, Any]:
    return json.loads(schedule_of(queue, name)["Target"]["Input"])


def receive_all(queue: TaskQueue) -> list[dict[str, Any]]:
    return queue.receive(max_messages=10, wait_seconds=0)


def create_recurring(queue: TaskQueue, name: str, **overrides: Any) -> None:
    """A schedule shaped exactly like the ones modules/schedules creates."""
    task_id = f"sched:{name}:<aws.scheduler.scheduled-time>"
    body = {
        "v": 1,
        "id": task_id,
        "type": "build-report",
        "payload": {"report": "daily"},
        "created_at": "<aws.scheduler.scheduled-time>",
    }
    request = {
        "QueueUrl": queue.config.queue_url,
        "MessageGroupId": name,
        "MessageDeduplicationId": task_id,
        "MessageBody": json.dumps(body),
        "MessageAttributes": {
            "sqstask-task-id": {"DataType": "String", "StringValue": task_id},
            "sqstask-task-type": {"DataType": "String", "StringValue": "build-report"},
        },
    }
    kwargs: dict[str, Any] = dict(
        Name=name,
        GroupName="team",
        ScheduleExpression="cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        State="ENABLED",
        Description="nightly report",
        Target={
            "Arn": SEND_MESSAGE,
            "RoleArn": ROLE_ARN,
            "Input": json.dumps(request),
            "RetryPolicy": {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 600},
            "DeadLetterConfig": {"Arn": "arn:aws:sqs:us-east-1:123456789012:team-schedule-dlq"},
        },
    )
    kwargs.update(overrides)
    queue.scheduler.create_schedule(**kwargs)


# -- send_at / send_after --------------------------------------------------------------------


def test_send_at_creates_a_one_time_schedule_in_the_team_group_that_deletes_itself(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    schedule = schedule_of(team, sent.schedule_name)
    assert schedule["GroupName"] == "team"
    assert schedule["ScheduleExpression"] == "at(2031-05-04T15:30:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC"
    assert schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["State"] == "ENABLED"
    assert schedule["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert sent.schedule_arn == schedule["Arn"]
    assert sent.send_at == LATER and sent.created is True


def test_send_at_targets_the_universal_sqs_send_message_with_the_scheduler_role(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    target = schedule_of(team, sent.schedule_name)["Target"]
    assert target["Arn"] == SEND_MESSAGE
    assert target["RoleArn"] == ROLE_ARN


def test_send_at_gives_the_one_time_schedule_the_teams_schedule_dead_letter_queue(team: TaskQueue) -> None:
    dlq_arn = "arn:aws:sqs:us-east-1:123456789012:team-schedule-dlq"
    queue = TaskQueue(
        config=team.config.with_overrides(schedule_dead_letter_arn=dlq_arn),
        sqs_client=team.sqs,
        scheduler_client=team.scheduler,
    )

    sent = queue.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    assert schedule_of(team, sent.schedule_name)["Target"]["DeadLetterConfig"] == {"Arn": dlq_arn}


def test_send_at_without_a_schedule_dead_letter_queue_configured_sets_none(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    assert "DeadLetterConfig" not in schedule_of(team, sent.schedule_name)["Target"]


def test_send_at_input_is_the_send_message_request_with_the_envelope_and_task_id(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", task_id="reminder-7", now=NOW)

    request = input_of(team, sent.schedule_name)
    assert sent.task_id == "reminder-7"
    assert request["QueueUrl"] == team.config.queue_url
    assert request["MessageGroupId"] == "users"
    assert request["MessageDeduplicationId"] == "reminder-7"
    assert request["MessageAttributes"] == {
        "sqstask-task-id": {"DataType": "String", "StringValue": "reminder-7"},
        "sqstask-task-type": {"DataType": "String", "StringValue": "remind"},
    }
    assert json.loads(request["MessageBody"]) == {
        "v": 1,
        "id": "reminder-7",
        "type": "remind",
        "payload": {"user": 7},
        "created_at": "2031-05-04T12:00:00.000Z",
    }


def test_a_fired_delayed_send_reaches_the_queue_as_the_same_task(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    run_schedule(team, sent.schedule_name)  # what Scheduler does at LATER

    [message] = receive_all(team)
    task = team.to_task(message)
    assert (task.task_id, task.task_type, task.payload, task.group_id) == (sent.task_id, "remind", {"user": 7}, "users")


def test_send_at_generates_a_task_id_when_none_is_given(team: TaskQueue) -> None:
    first = team.send_at(LATER, "remind", {}, group_id="users", now=NOW)
    second = team.send_at(LATER, "remind", {}, group_id="users", now=NOW)

    assert first.task_id and second.task_id and first.task_id != second.task_id
    assert first.schedule_name == ONE_TIME_PREFIX + first.task_id


def test_send_at_converts_other_time_zones_to_utc(team: TaskQueue) -> None:
    paris_summer = timezone(timedelta(hours=2))
    sent = team.send_at(datetime(2031, 5, 4, 17, 30, tzinfo=paris_summer), "remind", {}, group_id="g", now=NOW)

    assert schedule_of(team, sent.schedule_name)["ScheduleExpression"] == "at(2031-05-04T15:30:00)"


def test_send_at_rounds_a_fraction_of_a_second_up_never_early(team: TaskQueue) -> None:
    sent = team.send_at(LATER + timedelta(microseconds=1), "remind", {}, group_id="g", now=NOW)

    assert schedule_of(team, sent.schedule_name)["ScheduleExpression"] == "at(2031-05-04T15:30:01)"


def test_send_at_again_with_the_same_task_and_time_returns_the_existing_schedule(team: TaskQueue) -> None:
    first = team.send_at(LATER, "remind", {}, group_id="g", task_id="once", now=NOW)
    again = team.send_at(LATER, "remind", {}, group_id="g", task_id="once", now=NOW + timedelta(seconds=30))

    assert again.created is False
    assert (again.schedule_name, again.schedule_arn) == (first.schedule_name, first.schedule_arn)
    assert [s.name for s in list_schedules(team)] == [first.schedule_name]


def test_send_at_with_a_used_task_id_for_another_time_is_rejected(team: TaskQueue) -> None:
    team.send_at(LATER, "remind", {}, group_id="g", task_id="once", now=NOW)

    with pytest.raises(ScheduleError, match="task once is already scheduled"):
        team.send_at(LATER + timedelta(hours=1), "remind", {}, group_id="g", task_id="once", now=NOW)


def test_a_task_id_that_is_no_valid_schedule_name_gets_a_hashed_name(team: TaskQueue) -> None:
    task_id = "order:42/step#3-" + "x" * 80

    sent = team.send_at(LATER, "remind", {}, group_id="g", task_id=task_id, now=NOW)

    assert sent.schedule_name == one_time_schedule_name(task_id)
    assert sent.schedule_name.startswith(ONE_TIME_PREFIX) and len(sent.schedule_name) <= 64
    assert input_of(team, sent.schedule_name)["MessageAttributes"]["sqstask-task-id"]["StringValue"] == task_id


def test_send_after_schedules_the_task_delay_seconds_from_now(team: TaskQueue) -> None:
    in_seconds = team.send_after(90, "remind", {}, group_id="g", now=NOW)
    as_timedelta = team.send_after(timedelta(days=2), "remind", {}, group_id="g", now=NOW)

    assert schedule_of(team, in_seconds.schedule_name)["ScheduleExpression"] == "at(2031-05-04T12:01:30)"
    assert schedule_of(team, as_timedelta.schedule_name)["ScheduleExpression"] == "at(2031-05-06T12:00:00)"


@pytest.mark.parametrize("delay", [0, -5, timedelta(0), timedelta(seconds=-1), math.nan, math.inf])
def test_send_after_rejects_a_delay_that_is_not_positive(team: TaskQueue, delay: Any) -> None:
    with pytest.raises(ScheduleError, match="delay must be positive"):
        team.send_after(delay, "remind", {}, group_id="g", now=NOW)


@pytest.mark.parametrize("delay", [True, "60", None])
def test_send_after_rejects_a_delay_that_is_not_a_duration(team: TaskQueue, delay: Any) -> None:
    with pytest.raises(ScheduleError, match="timedelta or a number of seconds"):
        team.send_after(delay, "remind", {}, group_id="g", now=NOW)


def test_send_after_rejects_a_delay_beyond_the_calendar(team: TaskQueue) -> None:
    with pytest.raises(ScheduleError, match="too far in the future"):
        team.send_after(timedelta(days=3_000_000), "remind", {}, group_id="g", now=NOW)


def test_send_at_rejects_a_naive_datetime(team: TaskQueue) -> None:
    with pytest.raises(ScheduleError, match="has no time zone"):
        team.send_at(datetime(2031, 5, 4, 15, 30), "remind", {}, group_id="g", now=NOW)


@pytest.mark.parametrize("when", [NOW, NOW - timedelta(seconds=1), NOW - timedelta(days=400)])
def test_send_at_rejects_a_time_that_is_not_in_the_future(team: TaskQueue, when: datetime) -> None:
    with pytest.raises(ScheduleError, match="is not in the future"):
        team.send_at(when, "remind", {}, group_id="g", now=NOW)


def test_send_at_rejects_a_when_that_is_not_a_datetime(team: TaskQueue) -> None:
    with pytest.raises(ScheduleError, match="timezone-aware datetime"):
        team.send_at("2031-05-04T15:30:00Z", "remind", {}, group_id="g", now=NOW)  # type: ignore[arg-type]


def test_send_at_rejects_an_invalid_group_id_before_creating_anything(team: TaskQueue) -> None:
    with pytest.raises(InvalidTaskError, match="group_id"):
        team.send_at(LATER, "remind", {}, group_id="two words", now=NOW)

    assert list_schedules(team) == []


def test_send_at_rejects_a_payload_that_is_not_json(team: TaskQueue) -> None:
    with pytest.raises(InvalidTaskError, match="JSON"):
        team.send_at(LATER, "remind", {"when": object()}, group_id="g", now=NOW)


def test_send_at_rejects_a_message_over_the_queue_limit_without_offloading(team: TaskQueue) -> None:
    with pytest.raises(PayloadTooLarge, match="not offloaded to S3") as caught:
        team.send_at(LATER, "remind", {"blob": "x" * 1_100_000}, group_id="g", now=NOW)

    assert caught.value.limit == 1048576 and caught.value.size > 1_100_000
    assert list_schedules(team) == []


def test_send_at_rejects_a_message_over_the_scheduler_input_limit(team: TaskQueue) -> None:
    with pytest.raises(PayloadTooLarge, match="EventBridge Scheduler keeps at most 262144 bytes") as caught:
        team.send_at(LATER, "remind", {"blob": "x" * 300_000}, group_id="g", now=NOW)

    assert caught.value.limit == 262144 and caught.value.size > 300_000
    assert list_schedules(team) == []


def test_send_at_accepts_a_payload_just_under_the_scheduler_input_limit(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"blob": "x" * 250_000}, group_id="g", now=NOW)

    assert json.loads(json.loads(schedule_of(team, sent.schedule_name)["Target"]["Input"])["MessageBody"])["payload"]["blob"] == "x" * 250_000


def test_send_at_without_a_schedule_group_names_the_setting(team: TaskQueue) -> None:
    queue = TaskQueue(config=replace(team.config, schedule_group=None), sqs_client=team.sqs, scheduler_client=team.scheduler)

    with pytest.raises(ConfigError, match="SQSTASK_SCHEDULE_GROUP"):
        queue.send_at(LATER, "remind", {}, group_id="g", now=NOW)


def test_send_at_without_a_scheduler_role_names_the_setting(team: TaskQueue) -> None:
    queue = TaskQueue(
        config=replace(team.config, scheduler_role_arn=None), sqs_client=team.sqs, scheduler_client=team.scheduler
    )

    with pytest.raises(ConfigError, match="SQSTASK_SCHEDULER_ROLE_ARN"):
        queue.send_at(LATER, "remind", {}, group_id="g", now=NOW)


def test_send_at_with_a_malformed_scheduler_role_names_the_setting(team: TaskQueue) -> None:
    queue = TaskQueue(
        config=team.config.with_overrides(scheduler_role_arn="team-scheduler"),
        sqs_client=team.sqs,
        scheduler_client=team.scheduler,
    )

    with pytest.raises(ConfigError, match="scheduler_role_arn 'team-scheduler' is not an IAM role ARN"):
        queue.send_at(LATER, "remind", {}, group_id="g", now=NOW)


def test_send_after_is_also_a_module_function(team: TaskQueue) -> None:
    sent = send_after(team, 60, "remind", {}, group_id="g", now=NOW)

    assert isinstance(sent, ScheduledSend)
    assert schedule_of(team, sent.schedule_name)["ScheduleExpression"] == "at(2031-05-04T12:01:00)"


@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_send_at_works_over_http(team: TaskQueue) -> None:
    sent = team.send_at(LATER, "remind", {"user": 7}, group_id="users", now=NOW)

    request = input_of(team, sent.schedule_name)
    assert json.loads(request["MessageBody"])["id"] == sent.task_id
    assert schedule_of(team, sent.schedule_name)["ActionAfterCompletion"] == "DELETE"


# -- list / enable / disable -----------------------------------------------------------------


def test_list_shows_recurring_schedules_and_pending_delayed_sends(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report")
    sent = team.send_at(LATER, "remind", {}, group_id="users", now=NOW)

    rows = {info.name: info.to_row() for info in list_schedules(team)}

    assert rows["nightly-report"] | {"arn": None, "target_arn": None} == {
        "name": "nightly-report",
        "group_name": "team",
        "state": "ENABLED",
        "expression": "cron(0 2 * * ? *)",
        "timezone": "Europe/Paris",
        "task_type": "build-report",
        "message_group_id": "nightly-report",
        "kind": "recurring",
        "arn": None,
        "target_arn": None,
    }
    assert rows[sent.schedule_name]["kind"] == "one-time"
    assert rows[sent.schedule_name]["expression"] == "at(2031-05-04T15:30:00)"
    assert rows[sent.schedule_name]["task_type"] == "remind"


def test_list_filters_by_name_prefix(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report")
    team.send_at(LATER, "remind", {}, group_id="users", now=NOW)

    assert [i.name for i in list_schedules(team, prefix="nightly")] == ["nightly-report"]


def test_list_leaves_out_other_groups(team: TaskQueue) -> None:
    team.scheduler.create_schedule_group(Name="other-team")
    create_recurring(team, "theirs", GroupName="other-team")
    create_recurring(team, "ours")

    assert [i.name for i in list_schedules(team)] == ["ours"]


def test_disable_flips_the_state_and_keeps_the_rest_of_the_definition(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report")
    before = schedule_of(team, "nightly-report")

    change = set_schedule_state(team, "nightly-report", enabled=False)

    after = schedule_of(team, "nightly-report")
    assert (change.before, change.after, change.changed) == ("ENABLED", "DISABLED", True)
    assert after["State"] == "DISABLED"
    for key in ("ScheduleExpression", "ScheduleExpressionTimezone", "FlexibleTimeWindow", "Target", "Description"):
        assert after[key] == before[key], key


def test_enable_flips_a_disabled_schedule_back(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report", State="DISABLED")

    change = set_schedule_state(team, "nightly-report", enabled=True)

    assert change.changed and get_schedule(team, "nightly-report").state == "ENABLED"


def test_disabling_a_disabled_schedule_changes_nothing(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report", State="DISABLED")
    modified = schedule_of(team, "nightly-report")["LastModificationDate"]

    change = set_schedule_state(team, "nightly-report", enabled=False)

    assert change.changed is False
    assert schedule_of(team, "nightly-report")["LastModificationDate"] == modified


def test_enabling_an_unknown_schedule_says_how_to_find_the_names(team: TaskQueue) -> None:
    with pytest.raises(ScheduleError, match="no schedule 'nope' in group 'team'.*schedules list"):
        set_schedule_state(team, "nope", enabled=True)


def test_update_request_carries_the_whole_definition_but_a_past_start_date() -> None:
    schedule = {
        "Name": "n",
        "Arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/team/n",
        "GroupName": "team",
        "ScheduleExpression": "rate(5 minutes)",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": SEND_MESSAGE, "RoleArn": ROLE_ARN, "Input": "{}"},
        "StartDate": NOW - timedelta(days=1),
        "EndDate": NOW + timedelta(days=30),
        "State": "ENABLED",
        "KmsKeyArn": None,
        "CreationDate": NOW,
        "ResponseMetadata": {},
    }

    request = update_request(schedule, state="DISABLED", now=NOW)

    assert request == {
        "GroupName": "team",
        "ScheduleExpression": "rate(5 minutes)",
        "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": SEND_MESSAGE, "RoleArn": ROLE_ARN, "Input": "{}"},
        "EndDate": NOW + timedelta(days=30),
        "State": "DISABLED",
    }


def test_update_request_keeps_a_future_start_date() -> None:
    schedule = {"ScheduleExpression": "rate(1 day)", "StartDate": NOW + timedelta(days=1), "State": "ENABLED"}

    assert update_request(schedule, state="DISABLED", now=NOW)["StartDate"] == NOW + timedelta(days=1)


# -- run -------------------------------------------------------------------------------------


def test_run_sends_the_schedules_envelope_with_the_scheduled_time_set_to_now(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report")

    result = run_schedule(team, "nightly-report", now=NOW)

    [message] = receive_all(team)
    assert json.loads(message["Body"]) == {
        "v": 1,
        "id": "sched:nightly-report:2031-05-04T12:00:00Z",
        "type": "build-report",
        "payload": {"report": "daily"},
        "created_at": "2031-05-04T12:00:00Z",
    }
    assert message["Attributes"]["MessageGroupId"] == "nightly-report"
    assert message["Attributes"]["MessageDeduplicationId"] == "sched:nightly-report:2031-05-04T12:00:00Z"
    assert message["MessageAttributes"]["sqstask-task-id"]["StringValue"] == "sched:nightly-report:2031-05-04T12:00:00Z"
    assert (result.task_id, result.message_id, result.scheduled_time) == (
        "sched:nightly-report:2031-05-04T12:00:00Z",
        message["MessageId"],
        "2031-05-04T12:00:00Z",
    )


def test_run_gives_each_manual_run_its_own_task(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report")

    first = run_schedule(team, "nightly-report", now=NOW)
    second = run_schedule(team, "nightly-report", now=NOW + timedelta(minutes=1))

    assert first.task_id != second.task_id
    assert len(receive_all(team)) == 2


def test_run_works_on_a_disabled_schedule(team: TaskQueue) -> None:
    create_recurring(team, "nightly-report", State="DISABLED")

    run_schedule(team, "nightly-report", now=NOW)

    assert len(receive_all(team)) == 1


def test_run_sends_a_templated_sqs_target_input_as_the_body(team: TaskQueue) -> None:
    team.sqs.set_queue_attributes(QueueUrl=team.config.queue_url, Attributes={"ContentBasedDeduplication": "true"})
    create_recurring(
        team,
        "plain",
        Target={
            "Arn": team.config.queue_arn,
            "RoleArn": ROLE_ARN,
            "Input": '{"ping": "<aws.scheduler.scheduled-time>"}',
            "SqsParameters": {"MessageGroupId": "pings"},
        },
    )

    run_schedule(team, "plain", now=NOW)

    [message] = receive_all(team)
    assert json.loads(message["Body"]) == {"ping": "2031-05-04T12:00:00Z"}
    assert message["Attributes"]["MessageGroupId"] == "pings"


def test_run_refuses_a_schedule_that_does_not_send_to_sqs(team: TaskQueue) -> None:
    create_recurring(
        team,
        "lambda",
        Target={"Arn": "arn:aws:lambda:us-east-1:123456789012:function:f", "RoleArn": ROLE_ARN, "Input": "{}"},
    )

    with pytest.raises(ScheduleError, match="not SQS"):
        run_schedule(team, "lambda", now=NOW)
    assert receive_all(team) == []


def test_run_of_an_unknown_schedule_is_a_schedule_error(team: TaskQueue) -> None:
    with pytest.raises(ScheduleError, match="no schedule 'nope'"):
        run_schedule(team, "nope", now=NOW)
