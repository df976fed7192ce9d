# Every alarm: its metric, namespace, dimension, statistic, threshold and missing-data rule,
# and a description that tells on-call what to do first.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/terraform"
      user_id    = "AIDAEXAMPLE"
    }
  }
  mock_data "aws_region" {
    defaults = {
      id     = "eu-west-1"
      name   = "eu-west-1"
      region = "eu-west-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
}

variables {
  name       = "billing"
  queue_name = "billing.fifo"
  dlq_name   = "billing-dlq.fifo"
  consumer_function_names = {
    invoices = "billing-invoices"
    reports  = "billing-reports"
  }
}

run "default_alarm_set" {
  command = plan

  assert {
    condition = output.alarm_names == {
      "dlq-not-empty"      = "billing-dlq-not-empty"
      "oldest-message-age" = "billing-oldest-message-age"
      "backlog"            = "billing-backlog"
      "invoices-errors"    = "billing-invoices-errors"
      "invoices-throttles" = "billing-invoices-throttles"
      "reports-errors"     = "billing-reports-errors"
      "reports-throttles"  = "billing-reports-throttles"
      "task-failure-rate"  = "billing-task-failure-rate"
      "task-latency-p99"   = "billing-task-latency-p99"
      "stuck-consumer"     = "billing-stuck-consumer"
    }
    error_message = "By default: DLQ not empty, oldest message age, backlog, errors and throttles per consumer, and the task-metric alarms (failure rate, latency p99, stuck consumer); producer-stopped is off."
  }
}

run "dlq_not_empty_watches_visible_messages_on_the_dlq" {
  command = plan

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["dlq-not-empty"].namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.this["dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.this["dlq-not-empty"].dimensions == tomap({ QueueName = "billing-dlq.fifo" })
      && aws_cloudwatch_metric_alarm.this["dlq-not-empty"].statistic == "Maximum"
      && aws_cloudwatch_metric_alarm.this["dlq-not-empty"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.this["dlq-not-empty"].threshold == 0
    )
    error_message = "The DLQ alarm must fire when ApproximateNumberOfMessagesVisible (Maximum) on the DLQ is > 0."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["dlq-not-empty"].treat_missing_data == "ignore"
    error_message = "An idle DLQ stops publishing metrics; missing data must keep the alarm state (ignore), not turn it OK."
  }
}

run "oldest_message_age_watches_the_queue" {
  command = plan

  variables {
    oldest_message_age = { threshold_seconds = 1800 }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["oldest-message-age"].namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].metric_name == "ApproximateAgeOfOldestMessage"
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].dimensions == tomap({ QueueName = "billing.fifo" })
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].statistic == "Maximum"
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].threshold == 1800
      && aws_cloudwatch_metric_alarm.this["oldest-message-age"].treat_missing_data == "notBreaching"
    )
    error_message = "The age alarm must fire when ApproximateAgeOfOldestMessage on the queue exceeds threshold_seconds."
  }
}

run "backlog_watches_visible_messages_on_the_queue" {
  command = plan

  variables {
    backlog = { threshold = 250, evaluation_periods = 10 }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["backlog"].namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.this["backlog"].metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.this["backlog"].dimensions == tomap({ QueueName = "billing.fifo" })
      && aws_cloudwatch_metric_alarm.this["backlog"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.this["backlog"].threshold == 250
      && aws_cloudwatch_metric_alarm.this["backlog"].period == 60
      && aws_cloudwatch_metric_alarm.this["backlog"].evaluation_periods == 10
      && aws_cloudwatch_metric_alarm.this["backlog"].treat_missing_data == "notBreaching"
    )
    error_message = "The backlog alarm must fire when ApproximateNumberOfMessagesVisible on the queue stays above threshold for evaluation_periods."
  }
}

run "consumer_errors_watch_lambda_errors_per_function" {
  command = plan

  variables {
    consumer_errors = { threshold = 3 }
  }

  assert {
    condition = alltrue([
      for consumer, fn in { invoices = "billing-invoices", reports = "billing-reports" } :
      aws_cloudwatch_metric_alarm.this["${consumer}-errors"].namespace == "AWS/Lambda"
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].metric_name == "Errors"
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].dimensions == tomap({ FunctionName = fn })
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].statistic == "Sum"
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].threshold == 3
      && aws_cloudwatch_metric_alarm.this["${consumer}-errors"].treat_missing_data == "notBreaching"
    ])
    error_message = "Each consumer must have an AWS/Lambda Errors (Sum) > threshold alarm on its FunctionName."
  }
}

run "consumer_throttles_fire_on_any_throttle" {
  command = plan

  assert {
    condition = alltrue([
      for consumer, fn in { invoices = "billing-invoices", reports = "billing-reports" } :
      aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].namespace == "AWS/Lambda"
      && aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].metric_name == "Throttles"
      && aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].dimensions == tomap({ FunctionName = fn })
      && aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].statistic == "Sum"
      && aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.this["${consumer}-throttles"].threshold == 0
    ])
    error_message = "Each consumer must have an AWS/Lambda Throttles (Sum) > 0 alarm on its FunctionName."
  }
}

run "producer_stopped_watches_sends_when_enabled" {
  command = plan

  variables {
    producer_stopped = { enabled = true, period = 1800, evaluation_periods = 2 }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["producer-stopped"].alarm_name == "billing-producer-stopped"
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].namespace == "AWS/SQS"
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].metric_name == "NumberOfMessagesSent"
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].dimensions == tomap({ QueueName = "billing.fifo" })
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].statistic == "Sum"
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].comparison_operator == "LessThanOrEqualToThreshold"
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].threshold == 0
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].period == 1800
      && aws_cloudwatch_metric_alarm.this["producer-stopped"].evaluation_periods == 2
    )
    error_message = "The producer-stopped alarm must fire when NumberOfMessagesSent (Sum) on the queue is <= 0 over the window."
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["producer-stopped"].treat_missing_data == "breaching"
    error_message = "A queue nobody sends to stops publishing metrics: missing data must count as breaching."
  }
}

run "optional_queue_alarms_can_be_switched_off" {
  command = plan

  variables {
    oldest_message_age      = { enabled = false }
    backlog                 = { enabled = false }
    consumer_function_names = {}
  }

  assert {
    condition     = keys(aws_cloudwatch_metric_alarm.this) == ["dlq-not-empty"]
    error_message = "With the age and backlog alarms off and no consumers, only the DLQ alarm remains."
  }
}

run "descriptions_say_what_to_do_first" {
  command = plan

  variables {
    producer_stopped = { enabled = true }
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : strcontains(a.alarm_description, "First:")])
    error_message = "Every alarm description must say what to do first."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.this["dlq-not-empty"].alarm_description, "`sqstask dlq list`")
    error_message = "The DLQ alarm must point the on-call person to `sqstask dlq list`."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.this["backlog"].alarm_description, "`sqstask status`") && strcontains(aws_cloudwatch_metric_alarm.this["oldest-message-age"].alarm_description, "`sqstask status`")
    error_message = "The backlog and age alarms must point to `sqstask status`."
  }

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : length(a.alarm_description) <= 1024])
    error_message = "CloudWatch limits alarm descriptions to 1024 characters."
  }
}

run "null_settings_take_the_defaults" {
  command = plan

  # The root module passes every unset alarm setting as null.
  variables {
    backlog            = { enabled = null, threshold = null, period = null, evaluation_periods = null }
    oldest_message_age = { enabled = null, threshold_seconds = 1200, period = null, evaluation_periods = null }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["backlog"].threshold == 1000 &&
      aws_cloudwatch_metric_alarm.this["backlog"].period == 60 &&
      aws_cloudwatch_metric_alarm.this["backlog"].evaluation_periods == 5 &&
      aws_cloudwatch_metric_alarm.this["oldest-message-age"].threshold == 1200
    )
    error_message = "Null alarm settings must take the module defaults, and set ones must be kept."
  }
}

run "schedule_dead_letter_queue_gets_its_own_alarm" {
  command = plan

  variables {
    schedule_dlq_name = "billing-schedule-dlq"
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["schedule-dlq-not-empty"].alarm_name == "billing-schedule-dlq-not-empty"
      && aws_cloudwatch_metric_alarm.this["schedule-dlq-not-empty"].metric_name == "ApproximateNumberOfMessagesVisible"
      && aws_cloudwatch_metric_alarm.this["schedule-dlq-not-empty"].dimensions == tomap({ QueueName = "billing-schedule-dlq" })
      && aws_cloudwatch_metric_alarm.this["schedule-dlq-not-empty"].threshold == 0
      && strcontains(aws_cloudwatch_metric_alarm.this["schedule-dlq-not-empty"].alarm_description, "sqstask schedules run NAME")
    )
    error_message = "A schedule dead-letter queue must get a 'not empty' alarm on its visible messages that says how to restart missed runs."
  }
}

run "no_schedule_dead_letter_alarm_without_that_queue" {
  command = plan

  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.this), "schedule-dlq-not-empty")
    error_message = "Without schedule_dlq_name there is no schedule dead-letter alarm."
  }
}

run "schedule_dlq_name_must_be_a_standard_queue" {
  command = plan

  variables {
    schedule_dlq_name = "billing-schedule-dlq.fifo"
  }

  expect_failures = [var.schedule_dlq_name]
}
