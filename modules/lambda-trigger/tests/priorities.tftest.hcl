# Priority tiers: one mapping per consumer and tier it serves, each with its own maximum
# concurrency; the default tier's mappings keep their consumer-name keys.

mock_provider "aws" {}

variables {
  name                             = "billing"
  queue_arn                        = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  queue_visibility_timeout_seconds = 300
  priority_queue_arns = {
    urgent = "arn:aws:sqs:eu-west-1:123456789012:billing-urgent.fifo"
    bulk   = "arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo"
  }
  consumers = {
    fast = {
      function_name                = "billing-fast"
      timeout_seconds              = 30
      maximum_concurrency          = 5
      priority_maximum_concurrency = { urgent = 50 }
    }
    slow = { function_name = "billing-slow", timeout_seconds = 30, priorities = ["bulk"], maximum_concurrency = 2 }
  }
}

run "one_mapping_per_consumer_and_tier_with_its_own_concurrency" {
  command = plan

  assert {
    condition     = keys(aws_lambda_event_source_mapping.this) == ["fast"] && toset(keys(aws_lambda_event_source_mapping.tier)) == toset(["fast/urgent", "fast/bulk", "slow/bulk"])
    error_message = "fast serves every tier, slow only bulk."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.this["fast"].scaling_config[0].maximum_concurrency == 5 &&
      aws_lambda_event_source_mapping.tier["fast/urgent"].scaling_config[0].maximum_concurrency == 50 &&
      aws_lambda_event_source_mapping.tier["fast/bulk"].scaling_config[0].maximum_concurrency == 5 &&
      aws_lambda_event_source_mapping.tier["slow/bulk"].scaling_config[0].maximum_concurrency == 2
    )
    error_message = "Each mapping takes its tier's maximum_concurrency, else the consumer's."
  }
  assert {
    condition = (
      aws_lambda_event_source_mapping.tier["fast/urgent"].event_source_arn == "arn:aws:sqs:eu-west-1:123456789012:billing-urgent.fifo" &&
      aws_lambda_event_source_mapping.tier["slow/bulk"].function_name == "billing-slow" &&
      aws_lambda_event_source_mapping.tier["slow/bulk"].function_response_types == tolist(["ReportBatchItemFailures"])
    )
    error_message = "A tier's mapping reads that tier's queue with partial batch failures on."
  }
  assert {
    condition     = jsondecode(output.consumer_policy_json["slow"]).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo"
    error_message = "A consumer reads only the tiers it serves."
  }
  assert {
    condition     = length(jsondecode(output.consumer_policy_json["fast"]).Statement[0].Resource) == 3
    error_message = "A consumer serving every tier reads every tier's queue."
  }
}

run "a_consumer_naming_an_unknown_tier_is_rejected" {
  command = plan
  variables {
    consumers = { fast = { function_name = "billing-fast", timeout_seconds = 30, priorities = ["express"] } }
  }
  expect_failures = [var.consumers]
}

run "a_tier_concurrency_of_one_is_rejected" {
  command = plan
  variables {
    consumers = { fast = { function_name = "billing-fast", timeout_seconds = 30, priority_maximum_concurrency = { urgent = 1 } } }
  }
  expect_failures = [var.consumers]
}

run "reserved_concurrency_must_cover_the_sum_over_tiers" {
  command = plan

  override_data {
    target = data.aws_lambda_function.this["fast"]
    values = {
      timeout                        = 30
      reserved_concurrent_executions = 10
    }
  }

  variables {
    # 5 on the default tier + 5 on urgent + 5 on bulk = 15 > 10 reserved, though each is below it.
    consumers = { fast = { function_name = "billing-fast", maximum_concurrency = 5 } }
  }

  expect_failures = [check.reserved_concurrency_covers_maximum_concurrency]
}
