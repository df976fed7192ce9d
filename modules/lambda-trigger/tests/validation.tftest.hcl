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

run "provisioned_mode_with_maximum_concurrency_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", maximum_concurrency = 5, provisioned_poller_config = { minimum_pollers = 2 } } }
  }

  expect_failures = [var.consumers]
}

run "one_minimum_poller_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", provisioned_poller_config = { minimum_pollers = 1 } } }
  }

  expect_failures = [var.consumers]
}

run "more_than_200_minimum_pollers_are_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", provisioned_poller_config = { minimum_pollers = 201, maximum_pollers = 1000 } } }
  }

  expect_failures = [var.consumers]
}

run "more_than_10000_maximum_pollers_are_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", provisioned_poller_config = { maximum_pollers = 10001 } } }
  }

  expect_failures = [var.consumers]
}

run "minimum_above_maximum_pollers_is_rejected" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", provisioned_poller_config = { minimum_pollers = 20, maximum_pollers = 10 } } }
  }

  expect_failures = [var.consumers]
}

run "limits_of_the_poller_ranges_are_accepted" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", provisioned_poller_config = { minimum_pollers = 200, maximum_pollers = 10000 } } }
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["invoices"].provisioned_poller_config[0].maximum_pollers == 10000
    error_message = "200 minimum and 10000 maximum pollers are within AWS's limits and must be accepted."
  }
}
