"""`sqstask status`: the last hour's throughput, failure rate and p99 latency from the task metrics."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from sqstask.cli import main
from sqstask.status import task_activity


class RecordingCloudWatch:
    """A CloudWatch client that answers GetMetricData with canned values and counts the calls."""

    def __init__(self, values=None, error=None):
        self.values = values or {}
        self.error = error
        self.calls = []

    def get_metric_data(self, **kwargs):
        self.calls.append(kwargs)
        if self.error is not None:
            raise self.error
        return {"MetricDataResults": [
            {"Id": q["Id"], "Values": self.values.get(q["Id"], []), "StatusCode": "Complete"}
            for q in kwargs["MetricDataQueries"]
        ]}


NOW = datetime(2026, 5, 4, 12, 30, 45, tzinfo=timezone.utc)


def test_one_get_metric_data_call_reads_counts_and_p99_by_queue():
    cloudwatch = RecordingCloudWatch({"succeeded": [570.0], "failed": [25.0], "malformed": [5.0], "latency": [1834.5]})
    activity = task_activity(cloudwatch, "sqstask", "billing.fifo", now=NOW)

    assert len(cloudwatch.calls) == 1
    call = cloudwatch.calls[0]
    assert call["EndTime"] == NOW.replace(second=0) and call["EndTime"] - call["StartTime"] == timedelta(hours=1)
    stats = {q["Id"]: (q["MetricStat"]["Metric"]["MetricName"], q["MetricStat"]["Stat"], q["MetricStat"]["Period"])
             for q in call["MetricDataQueries"]}
    assert stats == {"succeeded": ("TasksSucceeded", "Sum", 3600), "failed": ("TasksFailed", "Sum", 3600),
                     "malformed": ("TasksMalformed", "Sum", 3600), "latency": ("TaskLatency", "p99", 3600)}
    assert all(q["MetricStat"]["Metric"]["Dimensions"] == [{"Name": "Queue", "Value": "billing.fifo"}]
               and q["MetricStat"]["Metric"]["Namespace"] == "sqstask" for q in call["MetricDataQueries"])
    assert (activity.tasks, activity.succeeded, activity.failed, activity.malformed) == (600, 570, 25, 5)
    assert activity.failure_rate == pytest.approx(5.0)
    assert activity.p99_latency_ms == 1834.5


def test_no_datapoints_say_that_there_are_no_task_metrics():
    activity = task_activity(RecordingCloudWatch(), "Team/Tasks", "billing.fifo", now=NOW)
    assert activity.tasks is None and activity.failure_rate is None
    assert activity.note.startswith("no task metrics in Team/Tasks for the last hour")


def test_a_refused_call_is_reported_not_raised():
    denied = ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetMetricData")
    activity = task_activity(RecordingCloudWatch(error=denied), "sqstask", "billing.fifo", now=NOW)
    assert activity.tasks is None and activity.note == "unknown (CloudWatch: AccessDenied)"


def config_file(tmp_path, queue, **changes):
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(asdict(replace(queue.config, **changes))))
    return str(path)


def put_counts(aws, queue_name, **counts):
    aws.client("cloudwatch").put_metric_data(
        Namespace="sqstask",
        MetricData=[
            {"MetricName": name, "Dimensions": [{"Name": "Queue", "Value": queue_name}], "Value": value,
             "Unit": "Count", "Timestamp": datetime.now(timezone.utc) - timedelta(minutes=5)}
            for name, value in counts.items()
        ],
    )


@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_status_shows_the_last_hour_from_the_metrics(aws, make_team, tmp_path, capsys):
    queue = make_team("st")
    put_counts(aws, "st.fifo", TasksSucceeded=90, TasksFailed=8, TasksMalformed=2)

    assert main(["status", "--json", "--config", config_file(tmp_path, queue)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["last_hour_tasks"], data["last_hour_succeeded"], data["last_hour_failed"]) == (100, 90, 8)
    assert data["last_hour_failure_rate_percent"] == pytest.approx(10.0)

    assert main(["status", "--config", config_file(tmp_path, queue)]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("last hour"))
    assert "100 tasks (1.7/min)" in line and "10 failed or malformed (10.0 %)" in line


@pytest.mark.parametrize("aws", ["server"], indirect=True)
def test_status_says_when_there_are_no_task_metrics(make_team, tmp_path, capsys):
    queue = make_team("none")
    assert main(["status", "--config", config_file(tmp_path, queue)]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("last hour"))
    assert "no task metrics in sqstask for the last hour" in line

    assert main(["status", "--config", config_file(tmp_path, queue, metrics=False)]) == 0
    line = next(row for row in capsys.readouterr().out.splitlines() if row.startswith("last hour"))
    assert "task metrics are off" in line
