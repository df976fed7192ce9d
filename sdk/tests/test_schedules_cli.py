"""``sqstask schedules list|enable|disable|run`` against moto's EventBridge Scheduler."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sqstask import TaskQueue
from sqstask.cli import main

ROLE_ARN = "arn:aws:iam::123456789012:role/team-scheduler"
SEND_MESSAGE = "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
SCHEDULED_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.fixture
def team(aws: Any, make_team: Any, tmp_path: Path) -> dict[str, Any]:
    """A team queue, its schedule group with one recurring schedule, and a --config file."""
    queue = make_team("team", table=False, payload_bucket=False)
    scheduler = aws.client("scheduler")
    scheduler.create_schedule_group(Name="team")
    task_id = "sched:nightly-report:<aws.scheduler.scheduled-time>"
    body = {
        "v": 1,
        "id": task_id,
        "type": "build-report",
        "payload": {"report": "daily"},
        "created_at": "<aws.scheduler.scheduled-time>",
    }
    request = {
        "QueueUrl": queue.config.queue_url,
        "MessageGroupId": "reports",
        "MessageDeduplicationId": task_id,
        "MessageBody": json.dumps(body),
        "MessageAttributes": {
            "sqstask-task-id": {"DataType": "String", "StringValue": task_id},
            "sqstask-task-type": {"DataType": "String", "StringValue": "build-report"},
        },
    }
    scheduler.create_schedule(
        Name="nightly-report",
        GroupName="team",
        ScheduleExpression="cron(0 2 * * ? *)",
        ScheduleExpressionTimezone="Europe/Paris",
        FlexibleTimeWindow={"Mode": "OFF"},
        State="ENABLED",
        Target={"Arn": SEND_MESSAGE, "RoleArn": ROLE_ARN, "Input": json.dumps(request)},
    )
    config = {
        "queue_url": queue.config.queue_url,
        "region": aws.region,
        "schedule_group": "team",
        "scheduler_role_arn": ROLE_ARN,
    }
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(config))
    args = ["--config", str(path)] + (["--endpoint-url", aws.endpoint_url] if aws.endpoint_url else [])
    return {"queue": queue, "scheduler": scheduler, "args": args, "config_path": path}


def state_of(team: dict[str, Any], name: str) -> str:
    return team["scheduler"].get_schedule(Name=name, GroupName="team")["State"]


def test_list_shows_each_schedule_with_its_state_and_expression(team: dict[str, Any], capsys: Any) -> None:
    assert main(["schedules", "list", *team["args"]]) == 0

    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["NAME", "STATE", "EXPRESSION", "TZ", "TYPE", "GROUP", "KIND"]
    assert out[1].split() == ["nightly-report", "ENABLED", "cron(0", "2", "*", "*", "?", "*)", "Europe/Paris", "build-report", "reports", "recurring"]


def test_list_as_json_includes_pending_delayed_sends(team: dict[str, Any], capsys: Any) -> None:
    queue = TaskQueue(
        config=team["queue"].config.with_overrides(schedule_group="team", scheduler_role_arn=ROLE_ARN),
        sqs_client=team["queue"].sqs,
        scheduler_client=team["scheduler"],
    )
    sent = queue.send_after(timedelta(hours=1), "remind", {}, group_id="users", task_id="remind-7")

    assert main(["schedules", "list", "--json", *team["args"]]) == 0

    rows = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["state"], r["kind"], r["task_type"]) for r in rows] == [
        ("nightly-report", "ENABLED", "recurring", "build-report"),
        (sent.schedule_name, "ENABLED", "one-time", "remind"),
    ]


def test_disable_flips_the_schedule_to_disabled(team: dict[str, Any], capsys: Any) -> None:
    assert main(["schedules", "disable", "nightly-report", *team["args"]]) == 0

    assert capsys.readouterr().out.strip() == "nightly-report: ENABLED -> DISABLED"
    assert state_of(team, "nightly-report") == "DISABLED"


def test_enable_flips_the_schedule_back_to_enabled(team: dict[str, Any], capsys: Any) -> None:
    main(["schedules", "disable", "nightly-report", *team["args"]])
    capsys.readouterr()

    assert main(["schedules", "enable", "nightly-report", *team["args"]]) == 0

    assert capsys.readouterr().out.strip() == "nightly-report: DISABLED -> ENABLED"
    assert state_of(team, "nightly-report") == "ENABLED"


def test_disable_twice_says_it_already_is(team: dict[str, Any], capsys: Any) -> None:
    main(["schedules", "disable", "nightly-report", *team["args"]])
    capsys.readouterr()

    assert main(["schedules", "disable", "--json", "nightly-report", *team["args"]]) == 0

    assert json.loads(capsys.readouterr().out) == {
        "name": "nightly-report",
        "before": "DISABLED",
        "after": "DISABLED",
        "changed": False,
    }


@pytest.mark.parametrize("aws", ["inproc", "server"], indirect=True)
def test_run_sends_the_envelope_the_schedule_would_send_now(team: dict[str, Any], capsys: Any) -> None:
    assert main(["schedules", "run", "nightly-report", *team["args"]]) == 0

    [message] = team["queue"].receive(wait_seconds=0)
    body = json.loads(message["Body"])
    scheduled_time = body["created_at"]
    assert SCHEDULED_TIME.fullmatch(scheduled_time)
    assert body == {
        "v": 1,
        "id": f"sched:nightly-report:{scheduled_time}",
        "type": "build-report",
        "payload": {"report": "daily"},
        "created_at": scheduled_time,
    }
    assert message["Attributes"]["MessageGroupId"] == "reports"
    assert message["MessageAttributes"]["sqstask-task-id"]["StringValue"] == body["id"]
    assert f"sent task {body['id']}" in capsys.readouterr().out


def test_run_as_json_reports_the_task_and_message(team: dict[str, Any], capsys: Any) -> None:
    assert main(["schedules", "run", "--json", "nightly-report", *team["args"]]) == 0

    report = json.loads(capsys.readouterr().out)
    [message] = team["queue"].receive(wait_seconds=0)
    assert report["message_id"] == message["MessageId"]
    assert report["task_id"] == f"sched:nightly-report:{report['scheduled_time']}"


def test_an_unknown_schedule_is_a_one_line_error(team: dict[str, Any], capsys: Any) -> None:
    assert main(["schedules", "enable", "nope", *team["args"]]) == 1

    err = capsys.readouterr().err
    assert err.strip() == "sqstask: error: no schedule 'nope' in group 'team'; `sqstask schedules list` shows the schedules"


def test_without_a_schedule_group_the_error_names_the_setting(team: dict[str, Any], capsys: Any) -> None:
    config = json.loads(team["config_path"].read_text())
    del config["schedule_group"]
    team["config_path"].write_text(json.dumps(config))

    assert main(["schedules", "list", *team["args"]]) == 1

    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "SQSTASK_SCHEDULE_GROUP" in err and "Traceback" not in err
