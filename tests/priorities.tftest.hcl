# Priority tiers: the default (one tier) keeps today's resources, addresses, names and policies;
# three tiers give three queues sharing the DLQ, per-tier alarms, mappings and sdk_config.

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
  name                = "billing"
  producer_principals = ["arn:aws:iam::123456789012:role/billing-api"]
  consumer_principals = ["arn:aws:iam::123456789012:role/billing-worker"]
  operator_principals = ["arn:aws:iam::123456789012:role/oncall"]
  consumers = {
    fast = { function_name = "billing-fast", timeout_seconds = 30, maximum_concurrency = 5, allow_chaining = true }
  }
}

override_resource {
  target = module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  }
}

override_resource {
  target = module.queue.aws_sqs_queue.dlq
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  }
}

# Every tier queue gets the same stand-in values; tests read names and static ARNs instead.
override_resource {
  target = module.queue.aws_sqs_queue.tier
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-tier.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing-tier.fifo"
  }
}

run "default_keeps_the_single_queue_and_its_policies" {
  assert {
    condition     = output.queue_name == "billing.fifo" && output.dlq_name == "billing-dlq.fifo"
    error_message = "Without priorities the queues stay billing.fifo and billing-dlq.fifo."
  }
  assert {
    condition = (
      jsondecode(output.producer_policy_json).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo" &&
      jsondecode(output.consumer_policy_json).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo" &&
      jsondecode(output.lambda_consumer_policy_json["fast"]).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo" &&
      jsondecode(output.lambda_consumer_policy_json["fast"]).Statement[1].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    )
    error_message = "Without priorities every policy must name the queue as a plain string, as before tiers."
  }
  assert {
    condition     = keys(output.event_source_mapping_uuids) == ["fast"] && jsonencode(keys(output.priority_event_source_mapping_uuids["fast"])) == jsonencode(["default"])
    error_message = "Without priorities the consumer keeps its one mapping, keyed by its name."
  }
  assert {
    condition     = toset(keys(output.alarm_names)) == toset(["dlq-not-empty", "schedule-dlq-not-empty", "oldest-message-age", "backlog", "fast-errors", "fast-throttles", "task-failure-rate", "task-latency-p99", "stuck-consumer"])
    error_message = "Without priorities the alarms must be today's: ${jsonencode(keys(output.alarm_names))}."
  }
  assert {
    condition     = jsonencode(output.priorities) == jsonencode(["default"]) && output.default_priority == "default" && jsonencode(output.priority_queue_names) == jsonencode({ default = "billing.fifo" })
    error_message = "The default tier list is [\"default\"], named billing.fifo."
  }
  assert {
    condition     = jsondecode(output.sdk_config).priority_queue_urls == { default = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo" }
    error_message = "sdk_config must list the one tier's URL."
  }
}

run "three_tiers_share_policies_alarms_and_sdk_config" {
  variables {
    priorities = ["urgent", "default", "bulk"]
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

  assert {
    condition     = jsonencode(output.priority_queue_names) == jsonencode({ bulk = "billing-bulk.fifo", default = "billing.fifo", urgent = "billing-urgent.fifo" })
    error_message = "Tiers must be billing.fifo (default), billing-urgent.fifo and billing-bulk.fifo: ${jsonencode(output.priority_queue_names)}."
  }
  assert {
    condition = alltrue([
      for doc in [output.producer_policy_json, output.consumer_policy_json] :
      toset(jsondecode(doc).Statement[0].Resource) == toset(["arn:aws:sqs:eu-west-1:123456789012:billing.fifo", "arn:aws:sqs:eu-west-1:123456789012:billing-urgent.fifo", "arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo"])
    ])
    error_message = "Producer and consumer policies must cover every tier."
  }
  assert {
    condition     = length([for s in jsondecode(output.operator_policy_json).Statement : s if s.Sid == "RedriveToTaskQueue" && length(s.Resource) == 3]) == 1
    error_message = "Operators must be able to redrive into every tier."
  }
  assert {
    condition     = jsondecode(output.lambda_consumer_policy_json["slow"]).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing-tier.fifo"
    error_message = "A consumer serving one tier reads that tier's queue only."
  }
  assert {
    condition     = length(jsondecode(output.lambda_consumer_policy_json["fast"]).Statement[0].Resource) == 3
    error_message = "A consumer serving every tier reads every tier's queue."
  }
  assert {
    condition     = jsonencode({ for c, tiers in output.priority_event_source_mapping_uuids : c => sort(keys(tiers)) }) == jsonencode({ fast = ["bulk", "default", "urgent"], slow = ["bulk"] })
    error_message = "Each consumer must get one mapping per tier it serves: ${jsonencode(output.priority_event_source_mapping_uuids)}."
  }
  assert {
    condition     = alltrue([for key in ["urgent-oldest-message-age", "urgent-backlog", "bulk-oldest-message-age", "bulk-backlog", "oldest-message-age", "backlog"] : contains(keys(output.alarm_names), key)])
    error_message = "Every tier needs its oldest-message-age and backlog alarms: ${jsonencode(keys(output.alarm_names))}."
  }
  assert {
    condition     = output.alarm_names["urgent-backlog"] == "billing-urgent-backlog"
    error_message = "A tier's alarms are named <name>-<tier>-<alarm>."
  }
  assert {
    condition = (
      jsondecode(output.sdk_config).priorities == ["urgent", "default", "bulk"] &&
      jsondecode(output.sdk_config).default_priority == "default" &&
      keys(jsondecode(output.sdk_config).priority_queue_urls) == ["bulk", "default", "urgent"]
    )
    error_message = "sdk_config must list the tiers highest first, the default tier and each tier's URL."
  }
}

run "without_a_default_tier_the_lowest_is_the_default" {
  variables {
    priorities = ["high", "low"]
  }

  assert {
    condition     = output.queue_name == "billing-low.fifo" && output.default_priority == "low" && output.priority_queue_names["high"] == "billing-high.fifo"
    error_message = "Without a tier named default, the lowest tier is the default and queue_name names it."
  }
}

run "tier_names_over_the_fifo_limit_are_rejected" {
  command = plan
  variables {
    name       = "billing-and-invoicing-for-all-regions-01"
    priorities = ["urgent-and-important-for-all-customers", "default"]
  }
  expect_failures = [var.priorities]
}

run "a_tier_named_dlq_is_rejected" {
  command = plan
  variables {
    priorities = ["dlq", "default"]
  }
  expect_failures = [var.priorities]
}

run "duplicate_tiers_are_rejected" {
  command = plan
  variables {
    priorities = ["high", "high"]
  }
  expect_failures = [var.priorities]
}

run "more_than_ten_tiers_are_rejected" {
  command = plan
  variables {
    priorities = ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "p9", "p10"]
  }
  expect_failures = [var.priorities]
}
