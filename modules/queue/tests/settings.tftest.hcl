# Queue settings: defaults, high-throughput FIFO, and the validated ranges.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "defaults_suit_a_task_queue" {
  command = plan

  assert {
    condition     = aws_sqs_queue.main.visibility_timeout_seconds == 300
    error_message = "Default visibility timeout must be 5 minutes."
  }

  assert {
    condition     = aws_sqs_queue.main.message_retention_seconds == 345600
    error_message = "Default retention must be 4 days."
  }

  assert {
    condition     = aws_sqs_queue.main.max_message_size == 1048576
    error_message = "Default max message size must be 1 MiB."
  }

  assert {
    condition     = aws_sqs_queue.main.receive_wait_time_seconds == 20
    error_message = "The queue must long-poll for 20 seconds."
  }

  assert {
    condition     = aws_sqs_queue.main.delay_seconds == 0
    error_message = "Default queue-level delay must be 0."
  }

  assert {
    condition     = aws_sqs_queue.main.content_based_deduplication == false
    error_message = "Content-based deduplication must be off by default (the SDK sets deduplication ids)."
  }
}

run "dlq_keeps_tasks_for_14_days" {
  command = plan

  assert {
    condition     = aws_sqs_queue.dlq.message_retention_seconds == 1209600
    error_message = "The DLQ must keep tasks for 14 days."
  }
}

run "settings_follow_the_variables" {
  command = plan

  variables {
    visibility_timeout_seconds  = 900
    message_retention_seconds   = 86400
    max_message_size            = 262144
    receive_wait_time_seconds   = 10
    delay_seconds               = 30
    content_based_deduplication = true
  }

  assert {
    condition = (
      aws_sqs_queue.main.visibility_timeout_seconds == 900
      && aws_sqs_queue.main.message_retention_seconds == 86400
      && aws_sqs_queue.main.max_message_size == 262144
      && aws_sqs_queue.main.receive_wait_time_seconds == 10
      && aws_sqs_queue.main.delay_seconds == 30
      && aws_sqs_queue.main.content_based_deduplication
    )
    error_message = "The queue settings must follow the variables."
  }

  assert {
    condition     = output.visibility_timeout_seconds == 900 && output.max_message_size == 262144
    error_message = "The visibility_timeout_seconds and max_message_size outputs must follow the queue."
  }
}

run "throughput_is_per_queue_by_default" {
  command = plan

  assert {
    condition     = aws_sqs_queue.main.deduplication_scope == "queue" && aws_sqs_queue.main.fifo_throughput_limit == "perQueue"
    error_message = "Without high_throughput the queue must deduplicate and throttle per queue."
  }
}

run "high_throughput_works_per_message_group" {
  command = plan

  variables {
    high_throughput = true
  }

  assert {
    condition     = aws_sqs_queue.main.deduplication_scope == "messageGroup" && aws_sqs_queue.main.fifo_throughput_limit == "perMessageGroupId"
    error_message = "high_throughput must set deduplication_scope = messageGroup and fifo_throughput_limit = perMessageGroupId."
  }

  assert {
    condition     = aws_sqs_queue.dlq.deduplication_scope == "messageGroup" && aws_sqs_queue.dlq.fifo_throughput_limit == "perMessageGroupId"
    error_message = "The DLQ must use the same throughput mode as the queue."
  }
}

run "negative_visibility_timeout_is_rejected" {
  command = plan

  variables {
    visibility_timeout_seconds = -1
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "visibility_timeout_over_12_hours_is_rejected" {
  command = plan

  variables {
    visibility_timeout_seconds = 43201
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "fractional_visibility_timeout_is_rejected" {
  command = plan

  variables {
    visibility_timeout_seconds = 30.5
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "retention_under_a_minute_is_rejected" {
  command = plan

  variables {
    message_retention_seconds = 59
  }

  expect_failures = [var.message_retention_seconds]
}

run "retention_over_14_days_is_rejected" {
  command = plan

  variables {
    message_retention_seconds = 1209601
  }

  expect_failures = [var.message_retention_seconds]
}

run "dlq_retention_over_14_days_is_rejected" {
  command = plan

  variables {
    dlq_message_retention_seconds = 1209601
  }

  expect_failures = [var.dlq_message_retention_seconds]
}

run "max_message_size_under_1_kib_is_rejected" {
  command = plan

  variables {
    max_message_size = 1023
  }

  expect_failures = [var.max_message_size]
}

run "max_message_size_over_1_mib_is_rejected" {
  command = plan

  variables {
    max_message_size = 1048577
  }

  expect_failures = [var.max_message_size]
}

run "receive_wait_over_20_seconds_is_rejected" {
  command = plan

  variables {
    receive_wait_time_seconds = 21
  }

  expect_failures = [var.receive_wait_time_seconds]
}

run "delay_over_15_minutes_is_rejected" {
  command = plan

  variables {
    delay_seconds = 901
  }

  expect_failures = [var.delay_seconds]
}
