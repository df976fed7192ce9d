# Priority tiers: every other tier gets its own oldest-age and backlog alarms and a dashboard row.

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
  priority_queue_names = {
    urgent = "billing-urgent.fifo"
    bulk   = "billing-bulk.fifo"
  }
}

run "each_tier_has_its_own_alarms_on_its_own_queue" {
  command = plan

  assert {
    condition     = toset([for k in keys(output.alarm_names) : k if startswith(k, "urgent-") || startswith(k, "bulk-")]) == toset(["urgent-oldest-message-age", "urgent-backlog", "bulk-oldest-message-age", "bulk-backlog"]) && contains(keys(output.alarm_names), "backlog")
    error_message = "Each tier needs oldest-message-age and backlog alarms: ${jsonencode(keys(output.alarm_names))}."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.this["urgent-backlog"].dimensions["QueueName"] == "billing-urgent.fifo" &&
      aws_cloudwatch_metric_alarm.this["bulk-oldest-message-age"].dimensions["QueueName"] == "billing-bulk.fifo" &&
      aws_cloudwatch_metric_alarm.this["bulk-oldest-message-age"].metric_name == "ApproximateAgeOfOldestMessage" &&
      aws_cloudwatch_metric_alarm.this["urgent-backlog"].threshold == 1000 &&
      aws_cloudwatch_metric_alarm.this["urgent-backlog"].alarm_name == "billing-urgent-backlog"
    )
    error_message = "A tier's alarms watch that tier's queue, with the queue's thresholds."
  }
  assert {
    condition     = strcontains(aws_cloudwatch_metric_alarm.this["urgent-oldest-message-age"].alarm_description, "priority tier urgent")
    error_message = "A tier's alarm description names the tier."
  }
  assert {
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.title if startswith(w.properties.title, "Tier ")
      ] == [
      "Tier bulk: queue depth (billing-bulk.fifo)", "Tier bulk: in flight", "Tier bulk: oldest task age, seconds",
      "Tier urgent: queue depth (billing-urgent.fifo)", "Tier urgent: in flight", "Tier urgent: oldest task age, seconds",
    ]
    error_message = "The dashboard has a row per other tier."
  }
}

run "tier_alarms_follow_the_enabled_switches" {
  command = plan

  variables {
    backlog = { enabled = false }
  }

  assert {
    condition     = !contains(keys(output.alarm_names), "urgent-backlog") && contains(keys(output.alarm_names), "urgent-oldest-message-age")
    error_message = "Disabling backlog disables it on every tier."
  }
}
