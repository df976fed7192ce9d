"""`sqstask alarms`, `sqstask status` and how the CLI reports errors."""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

import pytest

from sqstask import TaskQueue, TaskSpec
from sqstask.cli import main, parse_duration
from sqstask.idempotency import TaskStore

SERVER = pytest.mark.parametrize("aws", ["server"], indirect=True)
SQSTASK = Path(sys.executable).with_name("sqstask")


def config_file(tmp_path: Path, queue: TaskQueue, **changes: object) -> str:
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(asdict(replace(queue.config, **changes))))
    return str(path)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def alarm(aws, name: str, state: str = "OK", reason: str = "fine") -> None:
    cloudwatch = aws.client("cloudwatch")
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace="AWS/SQS",
        MetricName="ApproximateNumberOfMessagesVisible",
        Dimensions=[{"Name": "QueueName", "Value": "team-dlq.fifo"}],
        Statistic="Maximum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=0,
        ComparisonOperator="GreaterThanThreshold",
    )
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- alarms ----------------------------------------------------------------------------------


@SERVER
def test_alarms_exits_2_when_an_alarm_is_in_alarm(make_team, aws, tmp_path, capsys):
    queue = make_team()
    alarm(aws, "team-dlq-not-empty", "ALARM", "Threshold Crossed: 3 messages in the DLQ")
    alarm(aws, "team-oldest-message-age")

    code, out, _ = run(capsys, "alarms", "--config", config_file(tmp_path, queue))

    assert code == 2
    first, second = out.splitlines()[1:3]
    assert first.startswith("team-dlq-not-empty") and "ALARM" in first and "3 messages in the DLQ" in first
    assert second.startswith("team-oldest-message-age") and " OK " in second
    assert "1 of 2 in ALARM (alarms named team-*)" in out


@SERVER
def test_alarms_exits_0_when_all_are_ok(make_team, aws, tmp_path, capsys):
    queue = make_team()
    alarm(aws, "team-dlq-not-empty")
    alarm(aws, "other-team-dlq-not-empty", "ALARM")

    code, out, _ = run(capsys, "alarms", "--json", "--config", config_file(tmp_path, queue))

    data = json.loads(out)
    assert code == 0
    assert [(a["name"], a["state"]) for a in data["alarms"]] == [("team-dlq-not-empty", "OK")]


@SERVER
def test_alarms_uses_the_configured_names_and_flags_missing_ones(make_team, aws, tmp_path, capsys):
    queue = make_team()
    alarm(aws, "team-dlq-not-empty", "ALARM")
    alarm(aws, "team-backlog")
    config = config_file(tmp_path, queue, alarm_names=("team-dlq-not-empty", "team-gone"))

    code, out, _ = run(capsys, "alarms", "--json", "--config", config)

    data = json.loads(out)
    assert code == 2
    assert [(a["name"], a["state"]) for a in data["alarms"]] == [("team-dlq-not-empty", "ALARM"), ("team-gone", "MISSING")]
    assert data["selected_by"] == "alarm names from the configuration"


def test_alarms_asks_cloudwatch_for_metric_alarms_only(aws):
    # Composite alarms are returned only to callers allowed DescribeAlarms on "*"; the operator
    # policy grants it on the team's alarm ARNs, so the request must not ask for them.
    from sqstask.alarms import describe_alarms

    alarm(aws, "team-dlq-not-empty", "ALARM")
    cloudwatch = aws.client("cloudwatch")
    requests: list[dict] = []
    cloudwatch.meta.events.register(
        "provide-client-params.cloudwatch.DescribeAlarms", lambda params, **_: requests.append(dict(params))
    )

    found = describe_alarms(cloudwatch, names=["team-dlq-not-empty"])

    assert [(a.name, a.state) for a in found] == [("team-dlq-not-empty", "ALARM")]
    assert [r["AlarmTypes"] for r in requests] == [["MetricAlarm"]]
    assert requests[0]["AlarmNames"] == ["team-dlq-not-empty"]


@SERVER
def test_alarms_prefix_option_overrides_the_default(make_team, aws, tmp_path, capsys):
    queue = make_team()
    alarm(aws, "shared-lambda-errors", "ALARM")

    code, out, _ = run(capsys, "alarms", "--prefix", "shared-", "--json", "--config", config_file(tmp_path, queue))

    assert code == 2
    assert [a["name"] for a in json.loads(out)["alarms"]] == ["shared-lambda-errors"]


# -- status ----------------------------------------------------------------------------------


@SERVER
def test_status_shows_queue_and_dlq_depth(make_team, tmp_path, capsys):
    queue = make_team()
    queue.send_many([TaskSpec("t", {}, "g", f"t{i}") for i in range(3)], raise_on_failure=True)
    queue.receive(max_messages=1, wait_seconds=0)
    queue.sqs.send_message(QueueUrl=queue.config.dlq_url, **queue.build_message(TaskSpec("t", {}, "g", "dead-1")))

    code, out, _ = run(capsys, "status", "--json", "--config", config_file(tmp_path, queue))

    data = json.loads(out)
    assert code == 0
    assert (data["visible"], data["in_flight"], data["delayed"]) == (2, 1, 0)
    assert (data["dlq"], data["dlq_visible"]) == ("team-dlq.fifo", 1)
    assert data["oldest_message_age_seconds"] is None
    assert data["oldest_message_age_note"].startswith("unknown")


@SERVER
def test_status_human_output_names_every_figure(make_team, tmp_path, capsys):
    queue = make_team()

    code, out, _ = run(capsys, "status", "--config", config_file(tmp_path, queue))

    assert code == 0
    labels = [line.split("  ")[0] for line in out.splitlines()]
    assert labels == ["queue", "visible", "in flight", "delayed", "oldest message", "dead-letter queue", "last hour"]


@SERVER
def test_status_of_a_task_shows_its_lifecycle(make_team, tmp_path, capsys):
    queue = make_team()
    queue.send("report", {"month": 5}, group_id="finance", task_id="rep-5")
    (message,) = queue.receive(max_messages=1, wait_seconds=0)
    store = TaskStore(queue.dynamodb, queue.config.idempotency_table)
    store.complete(store.claim(queue.to_task(message), lease_seconds=60), result={"rows": 12}, duration_ms=150)

    code, out, _ = run(capsys, "status", "rep-5", "--config", config_file(tmp_path, queue))

    assert code == 0
    fields = dict(line.split(None, 1) for line in out.splitlines() if " " in line.strip())
    assert fields["status"] == "COMPLETED"
    assert fields["task_type"] == "report" and fields["group_id"] == "finance"
    assert fields["duration_ms"] == "150"
    assert list(fields).index("started_at") < list(fields).index("finished_at")


@SERVER
def test_status_of_an_unknown_task_is_a_one_line_error(make_team, tmp_path, capsys):
    queue = make_team()

    code, out, err = run(capsys, "status", "nope", "--config", config_file(tmp_path, queue))

    assert code == 1 and out == ""
    assert err.startswith("sqstask: error: task nope has no record in team-tasks") and err.count("\n") == 1


# -- errors ----------------------------------------------------------------------------------


def test_bad_configuration_is_one_line_from_the_console_script(tmp_path):
    bad = tmp_path / "sdk_config.json"
    bad.write_text('{"queue_url": "https://sqs.us-east-1.amazonaws.com/1/team.fifo", "visibility_timeout": "soon"}')
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQSTASK_")}

    result = subprocess.run(
        [str(SQSTASK), "status", "--config", str(bad)], capture_output=True, text=True, timeout=60, env=env
    )

    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"sqstask: error: --config {bad} key 'visibility_timeout' must be an integer number of seconds, got 'soon'\n"
    )


def test_missing_configuration_says_what_to_set(capsys):
    code, _, err = run(capsys, "dlq", "list")

    assert code == 1
    assert err == (
        "sqstask: error: no queue configured: pass --config FILE (the module's sdk_config output) or --queue-url URL, "
        "or set SQSTASK_CONFIG or SQSTASK_QUEUE_URL\n"
    )


def test_malformed_config_json_in_the_environment_is_one_line(monkeypatch, capsys):
    monkeypatch.setenv("SQSTASK_CONFIG", "{not json")

    code, _, err = run(capsys, "status")

    assert code == 1
    assert err.startswith("sqstask: error: SQSTASK_CONFIG is not valid JSON") and err.count("\n") == 1


@SERVER
def test_a_queue_that_does_not_exist_is_one_line(aws, capsys):
    url = f"{aws.endpoint_url}/123456789012/ghost.fifo"

    code, _, err = run(capsys, "status", "--queue-url", url, "--endpoint-url", aws.endpoint_url)

    assert code == 1
    assert err.startswith("sqstask: error: GetQueueAttributes failed: the queue does not exist") and err.count("\n") == 1
    assert "Traceback" not in err


def test_an_unreachable_endpoint_is_one_line(capsys):
    endpoint = f"http://127.0.0.1:{closed_port()}"

    code, _, err = run(capsys, "status", "--queue-url", f"{endpoint}/123456789012/team.fifo", "--endpoint-url", endpoint)

    assert code == 1
    assert err == f'sqstask: error: cannot reach {endpoint}: check --endpoint-url, --region and the network\n'


def test_debug_adds_the_traceback(capsys):
    endpoint = f"http://127.0.0.1:{closed_port()}"

    code, _, err = run(
        capsys, "--debug", "status", "--queue-url", f"{endpoint}/123456789012/team.fifo", "--endpoint-url", endpoint
    )

    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().splitlines()[-1].startswith("sqstask: error: cannot reach")


def test_usage_errors_exit_2_without_a_traceback(capsys):
    code, _, err = run(capsys, "dlq", "redrive", "--older-than", "soon")

    assert code == 2
    assert "invalid duration 'soon'" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("90", 90), ("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400), ("1h30m", 5400), ("1.5h", 5400)],
)
def test_parse_duration_reads_units(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "h", "5x", "m5", "-5m"])
def test_parse_duration_rejects_garbage(text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration(text)
