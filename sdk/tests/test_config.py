"""QueueConfig: the module's sdk_config JSON and SQSTASK_* variables."""

from __future__ import annotations

import json

import pytest

from sqstask.config import QueueConfig
from sqstask.exceptions import ConfigError

QUEUE_URL = "https://sqs.eu-west-1.amazonaws.com/123456789012/team.fifo"
SDK_CONFIG = {
    "region": "eu-west-1",
    "queue_url": QUEUE_URL,
    "dlq_url": "https://sqs.eu-west-1.amazonaws.com/123456789012/team-dlq.fifo",
    "idempotency_table": "team-tasks",
    "payload_bucket": "team-payloads",
    "visibility_timeout": 120,
    "alarm_names": ["team-dlq-not-empty", "team-oldest-message"],
    "some_future_key": {"ignored": True},
}


def test_from_json_reads_the_modules_sdk_config_and_ignores_unknown_keys():
    config = QueueConfig.from_json(json.dumps(SDK_CONFIG))
    assert config.queue_url == QUEUE_URL
    assert config.region == "eu-west-1"
    assert config.idempotency_table == "team-tasks"
    assert config.payload_bucket == "team-payloads"
    assert config.visibility_timeout == 120
    assert config.alarm_names == ("team-dlq-not-empty", "team-oldest-message")
    assert config.max_message_size == 1048576
    assert config.queue_name == "team.fifo"
    assert config.dlq_name == "team-dlq.fifo"


def test_from_json_rejects_invalid_json_naming_the_source():
    with pytest.raises(ConfigError, match=r"SQSTASK_CONFIG is not valid JSON"):
        QueueConfig.from_json("{not json")


def test_from_json_rejects_a_wrong_type_naming_the_key():
    with pytest.raises(ConfigError, match=r"'visibility_timeout' must be an integer number of seconds"):
        QueueConfig.from_json(json.dumps({"queue_url": QUEUE_URL, "visibility_timeout": "soon"}))
    with pytest.raises(ConfigError, match=r"'payload_bucket' must be a string"):
        QueueConfig.from_json(json.dumps({"queue_url": QUEUE_URL, "payload_bucket": 7}))


def test_from_json_without_queue_url_says_what_to_set():
    with pytest.raises(ConfigError, match=r"no queue_url"):
        QueueConfig.from_json(json.dumps({"region": "eu-west-1"}))


def test_from_env_reads_sqstask_config():
    config = QueueConfig.from_env({"SQSTASK_CONFIG": json.dumps(SDK_CONFIG)})
    assert config.queue_url == QUEUE_URL
    assert config.visibility_timeout == 120


def test_from_env_individual_variables_override_the_json():
    config = QueueConfig.from_env(
        {
            "SQSTASK_CONFIG": json.dumps(SDK_CONFIG),
            "SQSTASK_PAYLOAD_BUCKET": "other-bucket",
            "SQSTASK_VISIBILITY_TIMEOUT": "45",
            "SQSTASK_ALARM_NAMES": "a, b,,c",
        }
    )
    assert config.payload_bucket == "other-bucket"
    assert config.visibility_timeout == 45
    assert config.alarm_names == ("a", "b", "c")
    assert config.idempotency_table == "team-tasks"


def test_from_env_reads_a_config_file(tmp_path):
    path = tmp_path / "sdk_config.json"
    path.write_text(json.dumps(SDK_CONFIG))
    config = QueueConfig.from_env({"SQSTASK_CONFIG_FILE": str(path)})
    assert config.dlq_url == SDK_CONFIG["dlq_url"]


def test_from_env_with_a_missing_config_file_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match=r"SQSTASK_CONFIG_FILE: cannot read .*missing\.json"):
        QueueConfig.from_env({"SQSTASK_CONFIG_FILE": str(tmp_path / "missing.json")})


def test_from_env_without_any_queue_setting_names_sqstask_queue_url():
    with pytest.raises(ConfigError, match=r"SQSTASK_QUEUE_URL is not set"):
        QueueConfig.from_env({})


def test_from_env_individual_variables_alone_are_enough():
    config = QueueConfig.from_env(
        {
            "SQSTASK_QUEUE_URL": QUEUE_URL,
            "SQSTASK_DLQ_URL": "https://example/dlq.fifo",
            "SQSTASK_IDEMPOTENCY_TABLE": "t",
            "SQSTASK_ENDPOINT_URL": "http://127.0.0.1:5000",
            "SQSTASK_MAX_MESSAGE_SIZE": "262144",
            "SQSTASK_SCHEDULE_GROUP": "team",
            "SQSTASK_SCHEDULER_ROLE_ARN": "arn:aws:iam::123456789012:role/scheduler",
            "SQSTASK_SCHEDULE_DEAD_LETTER_ARN": "arn:aws:sqs:us-east-1:123456789012:team-schedule-dlq",
        }
    )
    assert config.endpoint_url == "http://127.0.0.1:5000"
    assert config.max_message_size == 262144
    assert config.schedule_group == "team"
    assert config.scheduler_role_arn.endswith(":role/scheduler")
    assert config.schedule_dead_letter_arn.endswith(":team-schedule-dlq")


def test_from_env_region_falls_back_to_aws_region_variables():
    assert (
        QueueConfig.from_env({"SQSTASK_QUEUE_URL": QUEUE_URL, "AWS_DEFAULT_REGION": "ap-south-1"}).region
        == "ap-south-1"
    )
    env = {"SQSTASK_QUEUE_URL": QUEUE_URL, "AWS_REGION": "us-west-2", "SQSTASK_REGION": "eu-north-1"}
    assert QueueConfig.from_env(env).region == "eu-north-1"


def test_from_env_rejects_a_non_numeric_variable_naming_it():
    with pytest.raises(
        ConfigError, match=r"^SQSTASK_VISIBILITY_TIMEOUT must be an integer number of seconds, got 'abc'"
    ):
        QueueConfig.from_env({"SQSTASK_QUEUE_URL": QUEUE_URL, "SQSTASK_VISIBILITY_TIMEOUT": "abc"})


def test_out_of_range_settings_say_what_is_allowed():
    with pytest.raises(ConfigError, match=r"visibility_timeout \(SQSTASK_VISIBILITY_TIMEOUT\) must be 0\.\.43200"):
        QueueConfig(queue_url=QUEUE_URL, visibility_timeout=50000)
    with pytest.raises(ConfigError, match=r"max_message_size \(SQSTASK_MAX_MESSAGE_SIZE\) must be 1024\.\.1048576"):
        QueueConfig.from_env({"SQSTASK_QUEUE_URL": QUEUE_URL, "SQSTASK_MAX_MESSAGE_SIZE": "2000000"})


def test_sqstask_config_that_is_not_an_object_is_rejected():
    with pytest.raises(ConfigError, match=r"SQSTASK_CONFIG must be a JSON object, got list"):
        QueueConfig.from_env({"SQSTASK_CONFIG": "[1, 2]"})
