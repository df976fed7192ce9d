# Event source mappings: one per consumer, partial batch failures always on, FIFO-compatible
# settings, optional scaling cap and filters.

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
  consumers = {
    invoices = {
      function_name = "billing-invoices"
    }
    reports = {
      function_name       = "arn:aws:lambda:eu-west-1:123456789012:function:billing-reports:live"
      batch_size          = 5
      maximum_concurrency = 4
      enabled             = false
      filter_patterns     = ["{\"body\":{\"type\":[\"report\"]}}", "{\"attributes\":{\"MessageGroupId\":[{\"prefix\":\"eu-\"}]}}"]
      timeout_seconds     = 45
    }
  }
}

run "one_mapping_per_consumer_from_the_queue" {
  command = plan

  assert {
    condition     = toset(keys(aws_lambda_event_source_mapping.this)) == toset(["invoices", "reports"])
    error_message = "There must be exactly one event source mapping per consumer, keyed by consumer name."
  }

  assert {
    condition     = alltrue([for m in aws_lambda_event_source_mapping.this : m.event_source_arn == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"])
    error_message = "Every mapping must read from the team's queue."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.this["invoices"].function_name == "billing-invoices"
      && aws_lambda_event_source_mapping.this["reports"].function_name == "arn:aws:lambda:eu-west-1:123456789012:function:billing-reports:live"
    )
    error_message = "Each mapping must invoke its consumer's function, by name or ARN as given."
  }
}

run "every_mapping_reports_batch_item_failures" {
  command = plan

  assert {
    condition     = alltrue([for m in aws_lambda_event_source_mapping.this : toset(m.function_response_types) == toset(["ReportBatchItemFailures"])])
    error_message = "function_response_types must be [\"ReportBatchItemFailures\"] on every mapping."
  }
}

run "batch_size_defaults_to_ten_and_follows_the_consumer" {
  command = plan

  assert {
    condition     = aws_lambda_event_source_mapping.this["invoices"].batch_size == 10
    error_message = "batch_size must default to 10, the FIFO maximum."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["reports"].batch_size == 5
    error_message = "batch_size must be the consumer's value."
  }
}

run "no_batching_window_on_a_fifo_queue" {
  command = plan

  assert {
    condition     = alltrue([for m in aws_lambda_event_source_mapping.this : m.maximum_batching_window_in_seconds == null])
    error_message = "maximum_batching_window_in_seconds must not be set: FIFO event sources do not support it."
  }
}

run "scaling_config_only_when_maximum_concurrency_is_set" {
  command = plan

  assert {
    condition     = length(aws_lambda_event_source_mapping.this["invoices"].scaling_config) == 0
    error_message = "Without maximum_concurrency the mapping must have no scaling_config."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["reports"].scaling_config[0].maximum_concurrency == 4
    error_message = "scaling_config.maximum_concurrency must be the consumer's maximum_concurrency."
  }
}

run "filter_criteria_holds_each_pattern" {
  command = plan

  assert {
    condition     = length(aws_lambda_event_source_mapping.this["invoices"].filter_criteria) == 0
    error_message = "Without filter patterns the mapping must have no filter_criteria."
  }

  assert {
    condition = (
      toset([for f in aws_lambda_event_source_mapping.this["reports"].filter_criteria[0].filter : f.pattern])
      == toset(["{\"body\":{\"type\":[\"report\"]}}", "{\"attributes\":{\"MessageGroupId\":[{\"prefix\":\"eu-\"}]}}"])
    )
    error_message = "filter_criteria must hold one filter per pattern, unchanged."
  }
}

run "enabled_switch_follows_the_consumer" {
  command = plan

  assert {
    condition     = aws_lambda_event_source_mapping.this["invoices"].enabled == true
    error_message = "A mapping must be enabled by default."
  }

  assert {
    condition     = aws_lambda_event_source_mapping.this["reports"].enabled == false
    error_message = "enabled = false must disable the mapping."
  }
}

run "function_names_are_bare_names_for_cloudwatch" {
  command = plan

  assert {
    condition     = output.function_names == { invoices = "billing-invoices", reports = "billing-reports" }
    error_message = "function_names must strip the ARN prefix and the :qualifier, leaving the FunctionName dimension."
  }
}

run "function_timeout_comes_from_the_input_or_the_function" {
  command = plan

  assert {
    condition     = output.function_timeouts == { invoices = 30, reports = 45 }
    error_message = "timeout_seconds must win when given; otherwise the function's own timeout (30 s in the mock) is used."
  }

  assert {
    condition     = toset(keys(data.aws_lambda_function.this)) == toset(["invoices"])
    error_message = "The function is looked up only for consumers without timeout_seconds."
  }
}

run "event_source_metrics_are_on_by_default" {
  command = plan

  assert {
    condition = alltrue([
      for m in aws_lambda_event_source_mapping.this : length(m.metrics_config) == 1 && toset(m.metrics_config[0].metrics) == toset(["EventCount"])
    ])
    error_message = "Every mapping must publish its EventCount metrics (metrics_config) unless the consumer turns them off."
  }
}

run "event_source_metrics_can_be_switched_off" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", event_metrics = false } }
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this["invoices"].metrics_config) == 0
    error_message = "event_metrics = false must leave metrics_config out."
  }
}

run "provisioned_mode_only_when_configured" {
  command = plan

  variables {
    consumers = {
      invoices = { function_name = "billing-invoices" }
      bursty   = { function_name = "billing-bursty", provisioned_poller_config = { minimum_pollers = 3, maximum_pollers = 50 } }
      defaults = { function_name = "billing-defaults", provisioned_poller_config = {} }
    }
  }

  assert {
    condition     = length(aws_lambda_event_source_mapping.this["invoices"].provisioned_poller_config) == 0
    error_message = "Without provisioned_poller_config the mapping polls on demand."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.this["bursty"].provisioned_poller_config[0].minimum_pollers == 3
      && aws_lambda_event_source_mapping.this["bursty"].provisioned_poller_config[0].maximum_pollers == 50
      && length(aws_lambda_event_source_mapping.this["bursty"].scaling_config) == 0
    )
    error_message = "provisioned_poller_config must reach the mapping, without a scaling_config."
  }

  assert {
    condition = (
      aws_lambda_event_source_mapping.this["defaults"].provisioned_poller_config[0].minimum_pollers == 2
      && aws_lambda_event_source_mapping.this["defaults"].provisioned_poller_config[0].maximum_pollers == 200
    )
    error_message = "An empty provisioned_poller_config takes AWS's defaults for SQS: 2 to 200 pollers."
  }
}
