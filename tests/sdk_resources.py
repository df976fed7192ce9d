"""The few AWS resources the SDK talks to, made directly with boto3 for fast Python tests.

Not the Terraform module: no policies, alarms, encryption or schedules, and nothing here
is kept equal to the module's defaults. The module itself is applied by real Terraform in
the applied tests (tests/localaws); these tests only need a queue, its DLQ, a task table and
a payload bucket to exercise Python code against in-process moto.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

Client = Callable[[str], Any]


def create_sdk_resources(
    client: Client,
    name: str,
    *,
    region: str,
    visibility_timeout_seconds: int = 300,
    max_message_size: int = 1048576,
    max_receive_count: int = 5,
    alarm_names: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Create `<name>.fifo`, `<name>-dlq.fifo` (after `max_receive_count` receives), the table
    `<name>-tasks`, the bucket `<name>-payloads` and the named alarms (on the DLQ's depth);
    return the `sdk_config` the SDK reads for them."""
    sqs = client("sqs")
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=f"{name}.fifo",
        Attributes={
            "FifoQueue": "true",
            "VisibilityTimeout": str(visibility_timeout_seconds),
            "MaximumMessageSize": str(max_message_size),
            "RedrivePolicy": json.dumps(redrive),
        },
    )["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    table = f"{name}-tasks"
    client("dynamodb").create_table(
        TableName=table,
        AttributeDefinitions=[{"AttributeName": "task_id", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "task_id", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    bucket = f"{name}-payloads"
    client("s3").create_bucket(Bucket=bucket, **_bucket_location(region))
    for alarm in alarm_names:
        client("cloudwatch").put_metric_alarm(
            AlarmName=alarm, Namespace="AWS/SQS", MetricName="ApproximateNumberOfMessagesVisible",
            Dimensions=[{"Name": "QueueName", "Value": f"{name}-dlq.fifo"}], Statistic="Maximum",
            Period=60, EvaluationPeriods=1, Threshold=0, ComparisonOperator="GreaterThanThreshold",
        )
    return {
        "name": name,
        "region": region,
        "queue_url": queue_url,
        "queue_arn": queue_arn,
        "dlq_url": dlq_url,
        "dlq_arn": dlq_arn,
        "idempotency_table": table,
        "payload_bucket": bucket,
        "visibility_timeout": visibility_timeout_seconds,
        "max_message_size": max_message_size,
        "alarm_names": list(alarm_names),
        "schedule_group": None,
        "scheduler_role_arn": None,
    }


def _bucket_location(region: str) -> dict[str, Any]:
    return {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
