# Thresholds and periods: values CloudWatch would reject, or that make no sense, fail at plan.

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
}

run "period_that_is_not_a_whole_minute_is_rejected" {
  command = plan

  variables {
    backlog = { period = 90 }
  }

  expect_failures = [var.backlog]
}

run "zero_evaluation_periods_are_rejected" {
  command = plan

  variables {
    dlq_not_empty = { evaluation_periods = 0 }
  }

  expect_failures = [var.dlq_not_empty]
}

run "evaluation_window_over_one_day_is_rejected_for_short_periods" {
  command = plan

  variables {
    consumer_errors = { period = 300, evaluation_periods = 289 }
  }

  expect_failures = [var.consumer_errors]
}

run "evaluation_window_of_a_week_is_accepted_for_hourly_periods" {
  command = plan

  variables {
    producer_stopped = { enabled = true, period = 3600, evaluation_periods = 168 }
  }

  assert {
    condition     = aws_cloudwatch_metric_alarm.this["producer-stopped"].evaluation_periods == 168
    error_message = "7 days of hourly periods is within CloudWatch's limit and must be accepted."
  }
}

run "evaluation_window_over_a_week_is_rejected" {
  command = plan

  variables {
    producer_stopped = { enabled = true, period = 3600, evaluation_periods = 169 }
  }

  expect_failures = [var.producer_stopped]
}

run "oldest_age_threshold_beyond_retention_is_rejected" {
  command = plan

  variables {
    oldest_message_age = { threshold_seconds = 1209601 }
  }

  expect_failures = [var.oldest_message_age]
}

run "backlog_threshold_zero_is_rejected" {
  command = plan

  variables {
    backlog = { threshold = 0 }
  }

  expect_failures = [var.backlog]
}

run "negative_error_threshold_is_rejected" {
  command = plan

  variables {
    consumer_errors = { threshold = -1 }
  }

  expect_failures = [var.consumer_errors]
}

run "throttle_period_over_a_day_is_rejected" {
  command = plan

  variables {
    consumer_throttles = { period = 86460 }
  }

  expect_failures = [var.consumer_throttles]
}

run "function_arn_instead_of_name_is_rejected" {
  command = plan

  variables {
    consumer_function_names = { invoices = "arn:aws:lambda:eu-west-1:123456789012:function:billing-invoices" }
  }

  expect_failures = [var.consumer_function_names]
}
