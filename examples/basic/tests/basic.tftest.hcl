# The basic example: one service with the module's defaults.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1", region = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
}

# Realistic queue URLs and ARNs instead of the mock provider's random strings.
override_resource {
  target = module.tasks.module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  }
}

override_resource {
  target = module.tasks.module.queue.aws_sqs_queue.dlq
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  }
}

run "one_service_gets_a_queue_dlq_table_and_bucket_named_after_it" {
  command = plan

  assert {
    condition     = module.tasks.queue_name == "billing.fifo" && module.tasks.dlq_name == "billing-dlq.fifo"
    error_message = "The example must create billing.fifo and billing-dlq.fifo."
  }

  assert {
    condition     = module.tasks.table_name == "billing-tasks"
    error_message = "The example must create the billing-tasks table."
  }

  assert {
    condition     = module.tasks.payload_bucket_name == "billing-payloads-123456789012"
    error_message = "The example must create the payload bucket (a default of the module)."
  }
}

run "the_defaults_bring_the_operator_alarms" {
  command = plan

  assert {
    condition = (
      output.alarm_names["dlq-not-empty"] == "billing-dlq-not-empty" &&
      output.alarm_names["oldest-message-age"] == "billing-oldest-message-age" &&
      output.alarm_names["backlog"] == "billing-backlog"
    )
    error_message = "With defaults the service gets the DLQ, oldest-message-age and backlog alarms; got ${jsonencode(output.alarm_names)}."
  }

  assert {
    condition     = alltrue([for key, alarm in output.alarm_names : alarm == "billing-${key}"])
    error_message = "Every alarm must be named <name>-<key>; got ${jsonencode(output.alarm_names)}."
  }
}

run "sdk_config_points_the_producer_at_this_queue" {
  assert {
    condition     = jsondecode(output.sdk_config).queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    error_message = "sdk_config must carry the queue URL producer.py sends to."
  }

  assert {
    condition     = jsondecode(output.sdk_config).payload_bucket == "billing-payloads-123456789012" && jsondecode(output.sdk_config).idempotency_table == "billing-tasks"
    error_message = "sdk_config must name the payload bucket and the task table."
  }

  assert {
    condition     = jsondecode(output.sdk_config).visibility_timeout == 300 && jsondecode(output.sdk_config).region == "eu-west-1"
    error_message = "sdk_config must carry the default visibility timeout and the region."
  }
}

run "the_producer_policy_may_send_to_this_queue_only" {
  command = plan

  assert {
    condition = [
      for s in jsondecode(module.tasks.producer_policy_json).Statement : s.Resource if s.Sid == "SendTasks"
    ] == ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"]
    error_message = "The producer policy must allow sending to billing.fifo and nothing else."
  }
}

run "name_is_a_variable" {
  command = plan

  variables {
    name = "search-indexer"
  }

  assert {
    condition     = output.alarm_names["dlq-not-empty"] == "search-indexer-dlq-not-empty" && module.tasks.queue_name == "search-indexer.fifo"
    error_message = "Every name must follow var.name."
  }
}
