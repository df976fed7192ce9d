# The classic misconfiguration: a queue visibility timeout shorter than 6 x the function
# timeout. Plan must fail, naming the consumer, both numbers and the fix.

mock_provider "aws" {
  mock_data "aws_lambda_function" {
    defaults = {
      timeout                        = 30
      reserved_concurrent_executions = -1
    }
  }
}

variables {
  name      = "billing"
  queue_arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
}

run "given_timeout_above_one_sixth_of_the_visibility_timeout_fails_plan" {
  command = plan

  variables {
    queue_visibility_timeout_seconds = 300
    consumers                        = { invoices = { function_name = "billing-invoices", timeout_seconds = 60 } }
  }

  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "visibility_timeout_of_exactly_six_times_the_timeout_passes" {
  command = plan

  variables {
    queue_visibility_timeout_seconds = 360
    consumers                        = { invoices = { function_name = "billing-invoices", timeout_seconds = 60 } }
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this) == 1
    error_message = "360 s visibility for a 60 s function is exactly 6x and must be accepted."
  }
}

run "timeout_read_from_the_function_fails_plan_when_too_long" {
  command = plan

  override_data {
    target = data.aws_lambda_function.this["invoices"]
    values = {
      timeout                        = 120
      reserved_concurrent_executions = -1
    }
  }

  variables {
    queue_visibility_timeout_seconds = 300
    consumers                        = { invoices = { function_name = "billing-invoices" } }
  }

  expect_failures = [aws_lambda_event_source_mapping.this]
}

run "timeout_read_from_the_function_passes_when_short_enough" {
  command = plan

  variables {
    queue_visibility_timeout_seconds = 180
    consumers                        = { invoices = { function_name = "billing-invoices" } }
  }

  assert {
    condition     = output.function_timeouts["invoices"] == 30 && length(aws_lambda_event_source_mapping.this) == 1
    error_message = "A 30 s function (read from the function) fits a 180 s visibility timeout."
  }
}

run "reserved_concurrency_below_maximum_concurrency_warns" {
  command = plan

  override_data {
    target = data.aws_lambda_function.this["invoices"]
    values = {
      timeout                        = 30
      reserved_concurrent_executions = 2
    }
  }

  variables {
    queue_visibility_timeout_seconds = 300
    consumers                        = { invoices = { function_name = "billing-invoices", maximum_concurrency = 5 } }
  }

  expect_failures = [check.reserved_concurrency_covers_maximum_concurrency]
}
