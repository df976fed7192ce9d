# Priority tiers: the default keeps the single queue's addresses; more tiers add for_each
# queues keyed by tier name that share the dead-letter queue.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name                = "billing"
  producer_principals = ["arn:aws:iam::123456789012:role/billing-api"]
  consumer_principals = ["arn:aws:iam::123456789012:role/billing-worker"]
  operator_principals = ["arn:aws:iam::123456789012:role/oncall"]
}

run "default_is_one_tier_at_the_old_addresses" {
  command = plan

  assert {
    condition     = aws_sqs_queue.main.name == "billing.fifo" && length(aws_sqs_queue.tier) == 0
    error_message = "Without priorities the module plans aws_sqs_queue.main = billing.fifo and no tier queue."
  }
  assert {
    condition     = length(aws_sqs_queue_redrive_policy.tier) == 0 && length(aws_sqs_queue.tier) == 0
    error_message = "Without priorities there are no per-tier redrive or queue policy resources."
  }
  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.this.redrive_allow_policy).sourceQueueArns == ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"]
    error_message = "The redrive-allow policy lists billing.fifo alone."
  }
  assert {
    condition     = alltrue([for s in jsondecode(aws_sqs_queue.main.policy).Statement : s.Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"])
    error_message = "The queue policy names the queue as a plain string, as before tiers."
  }
}

run "three_tiers_share_the_dead_letter_queue" {
  command = plan

  variables {
    priorities = ["urgent", "default", "bulk"]
  }

  assert {
    condition     = aws_sqs_queue.main.name == "billing.fifo" && { for k, q in aws_sqs_queue.tier : k => q.name } == { urgent = "billing-urgent.fifo", bulk = "billing-bulk.fifo" }
    error_message = "The tiers are billing.fifo (default), billing-urgent.fifo and billing-bulk.fifo."
  }
  assert {
    condition     = alltrue([for q in aws_sqs_queue.tier : q.fifo_queue && q.sqs_managed_sse_enabled && q.visibility_timeout_seconds == 300 && q.message_retention_seconds == 345600])
    error_message = "Tier queues are encrypted FIFO queues with the main queue's settings."
  }
  assert {
    condition = jsondecode(aws_sqs_queue_redrive_allow_policy.this.redrive_allow_policy).sourceQueueArns == [
      "arn:aws:sqs:eu-west-1:123456789012:billing-urgent.fifo",
      "arn:aws:sqs:eu-west-1:123456789012:billing.fifo",
      "arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo",
    ]
    error_message = "The shared DLQ's redrive-allow policy lists every tier, highest first."
  }
  assert {
    condition = length(aws_sqs_queue_redrive_policy.tier) == 2 && alltrue([
      for r in aws_sqs_queue_redrive_policy.tier :
      jsondecode(r.redrive_policy).deadLetterTargetArn == "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo" && jsondecode(r.redrive_policy).maxReceiveCount == 60
    ])
    error_message = "Every tier dead-letters into billing-dlq.fifo after the maxReceiveCount backstop (10 x (5 + 1) by default)."
  }
  assert {
    condition     = jsonencode({ for k, p in aws_sqs_queue.tier : k => distinct([for s in jsondecode(p.policy).Statement : s.Resource]) }) == jsonencode({ bulk = ["arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo"], urgent = ["arn:aws:sqs:eu-west-1:123456789012:billing-urgent.fifo"] })
    error_message = "Each tier's queue policy names its own queue."
  }
  assert {
    condition     = [for s in jsondecode(aws_sqs_queue.tier["urgent"].policy).Statement : s.Sid] == ["DenyInsecureTransport", "AllowProducers", "AllowConsumers", "AllowOperatorsToRedrive"]
    error_message = "Each tier's queue policy denies plain HTTP and admits producers, consumers and operators."
  }
  assert {
    condition     = output.default_priority == "default" && output.priority_queue_static_arns["bulk"] == "arn:aws:sqs:eu-west-1:123456789012:billing-bulk.fifo"
    error_message = "Outputs name the default tier and every tier's static ARN."
  }
}

run "without_a_default_tier_the_lowest_is_main" {
  command = plan

  variables {
    priorities = ["high", "low"]
  }

  assert {
    condition     = aws_sqs_queue.main.name == "billing-low.fifo" && keys(aws_sqs_queue.tier) == ["high"] && output.default_priority == "low"
    error_message = "Without a tier called default, the lowest tier is aws_sqs_queue.main."
  }
}

run "a_tier_whose_queue_name_is_too_long_is_rejected" {
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
    priorities = ["default", "dlq"]
  }
  expect_failures = [var.priorities]
}

run "an_empty_tier_list_is_rejected" {
  command = plan
  variables {
    priorities = []
  }
  expect_failures = [var.priorities]
}
