# Input validation: the limits AWS puts on SQS event source mappings, rejected at plan time.

mock_provider "aws" {
  mock_data "aws_lambda_function" {
    defaults = {
      timeout                        = 30
      reserved_concurrent_executions = -1
    }
  }
}

variables {
  name                             = "billing"
  queue_arn                        = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  queue_visibility_timeout_seconds = 300
}

run "fifo_batch_size_above_ten_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", batch_size = 11 } }
  }

  expect_failures = [var.consumers]
}

run "batch_size_zero_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", batch_size = 0 } }
  }

  expect_failures = [var.consumers]
}

run "batch_size_ten_is_accepted" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", batch_size = 10 } }
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["invoices"].batch_size == 10
    error_message = "batch_size 10 is the FIFO maximum and must be accepted."
  }
}

run "maximum_concurrency_one_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", maximum_concurrency = 1 } }
  }

  expect_failures = [var.consumers]
}

run "maximum_concurrency_above_1000_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", maximum_concurrency = 1001 } }
  }

  expect_failures = [var.consumers]
}

run "maximum_concurrency_two_is_accepted" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", maximum_concurrency = 2 } }
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["invoices"].scaling_config[0].maximum_concurrency == 2
    error_message = "maximum_concurrency 2 is the AWS minimum and must be accepted."
  }
}

run "filter_pattern_that_is_not_a_json_object_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", filter_patterns = ["type = report"] } }
  }

  expect_failures = [var.consumers]
}

run "consumer_name_with_a_space_is_rejected" {
  command = plan

  variables {
    consumers = { "nightly reports" = { function_name = "billing-reports" } }
  }

  expect_failures = [var.consumers]
}

run "role_arn_instead_of_role_name_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", role_name = "arn:aws:iam::123456789012:role/billing-invoices" } }
  }

  expect_failures = [var.consumers]
}

run "function_timeout_above_the_lambda_maximum_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", timeout_seconds = 901 } }
  }

  expect_failures = [var.consumers]
}

run "queue_that_is_not_fifo_is_rejected" {
  command = plan

  variables {
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:billing"
    consumers = {}
  }

  expect_failures = [var.queue_arn]
}
