# The root module's consumers, IAM and alarms wiring: Lambda triggers on the team's queue, the
# team's policies on the team's ARNs, alarms and their names in sdk_config.

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
  mock_data "aws_lambda_function" {
    defaults = { timeout = 30, reserved_concurrent_executions = -1 }
  }
}

variables {
  name = "billing"
  consumers = {
    invoices = { function_name = "billing-invoices", role_name = "billing-invoices-exec", maximum_concurrency = 5 }
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

run "consumer_mapping_reads_the_team_queue" {
  assert {
    condition = (
      module.lambda_trigger.event_source_mapping_uuids != {} &&
      keys(module.lambda_trigger.event_source_mapping_uuids) == ["invoices"] &&
      output.event_source_mapping_uuids == module.lambda_trigger.event_source_mapping_uuids
    )
    error_message = "Each consumer must get one event source mapping, reported by event_source_mapping_uuids."
  }

  assert {
    condition     = jsondecode(module.lambda_trigger.consumer_policy_json["invoices"]).Statement[0].Resource == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    error_message = "The consumer's mapping and policy must use the team's queue."
  }
}

run "policies_name_the_team_table_and_payload_bucket" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(module.lambda_trigger.consumer_policy_json["invoices"]).Statement : s.Sid => s.Resource
      if contains(["RecordTaskState", "ReadLargePayloads"], s.Sid)
      } == {
      RecordTaskState   = "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"
      ReadLargePayloads = "arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*"
    }
    error_message = "The Lambda consumer policy must name the team's task table and payload prefix."
  }

  assert {
    condition = {
      for s in jsondecode(module.iam[0].operator_policy_json).Statement : s.Sid => s.Resource
      if contains(["InspectAndRedriveDeadLetterQueue", "RedriveToTaskQueue", "ReadTaskRecords"], s.Sid)
      } == {
      InspectAndRedriveDeadLetterQueue = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
      RedriveToTaskQueue               = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
      ReadTaskRecords                  = "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"
    }
    error_message = "The operator policy must name the team's DLQ, queue and task table."
  }
}

run "no_policy_of_the_team_allows_a_wildcard_action" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for doc in concat(
        [module.iam[0].producer_policy_json, module.iam[0].consumer_policy_json, module.iam[0].operator_policy_json],
        values(module.lambda_trigger.consumer_policy_json),
        ) : [
        for s in jsondecode(doc).Statement : [for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")]
      ]
    ]))
    error_message = "No policy of the team may allow a wildcard action."
  }
}

run "operators_may_describe_every_team_alarm" {
  command = plan

  assert {
    condition = toset([
      for s in jsondecode(module.iam[0].operator_policy_json).Statement : s.Resource if s.Sid == "ReadTeamAlarms"
      ][0]) == toset([
      for name in values(output.alarm_names) : "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${name}"
    ])
    error_message = "The operator policy must cover exactly the team's alarms."
  }
}

run "alarms_cover_the_queue_and_each_consumer" {
  command = plan

  assert {
    condition = output.alarm_names == tomap({
      "dlq-not-empty"      = "billing-dlq-not-empty"
      "oldest-message-age" = "billing-oldest-message-age"
      "backlog"            = "billing-backlog"
      "invoices-errors"    = "billing-invoices-errors"
      "invoices-throttles" = "billing-invoices-throttles"
      # the schedule dead-letter queue the schedules module creates by default
      "schedule-dlq-not-empty" = "billing-schedule-dlq-not-empty"
      # on the SDK's task metrics
      "task-failure-rate" = "billing-task-failure-rate"
      "task-latency-p99"  = "billing-task-latency-p99"
      "stuck-consumer"    = "billing-stuck-consumer"
    })
    error_message = "The root must create the queue alarms and one errors and throttles alarm per consumer."
  }

  assert {
    condition     = module.alarms[0].alarm_static_arns["invoices-errors"] == "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-invoices-errors" && output.dashboard_name == "billing-tasks"
    error_message = "Alarms and the dashboard must be named after the team."
  }
}

run "sdk_config_lists_the_alarm_names" {
  assert {
    condition = jsondecode(output.sdk_config).alarm_names == [
      "billing-backlog", "billing-dlq-not-empty", "billing-invoices-errors", "billing-invoices-throttles", "billing-oldest-message-age",
      "billing-schedule-dlq-not-empty", "billing-stuck-consumer", "billing-task-failure-rate", "billing-task-latency-p99",
    ]
    error_message = "sdk_config.alarm_names must list every alarm name (sorted by alarm key), for `sqstask alarms`."
  }
}

run "alarm_switches_and_topic_reach_the_alarms_module" {
  command = plan

  variables {
    alarms = {
      backlog          = { threshold = 50 }
      producer_stopped = { enabled = true }
      sns_topic_arn    = "arn:aws:sns:eu-west-1:123456789012:oncall"
    }
  }

  assert {
    condition = (
      module.alarms[0].alarm_names["producer-stopped"] == "billing-producer-stopped" &&
      output.alarm_sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:oncall"
    )
    error_message = "Alarm switches and the topic must reach the alarms module."
  }

  assert {
    condition     = module.alarms[0].alarm_names["backlog"] == "billing-backlog" && output.dashboard_name == "billing-tasks"
    error_message = "The backlog alarm and the dashboard must still exist."
  }
}

run "task_metrics_are_on_by_default_in_the_sdk_and_the_alarms" {
  command = plan

  assert {
    condition = (
      jsondecode(output.sdk_config).metrics == true && jsondecode(output.sdk_config).metrics_namespace == "sqstask"
      && length(setintersection(keys(output.alarm_names), ["task-failure-rate", "task-latency-p99", "stuck-consumer"])) == 3
    )
    error_message = "By default the SDK writes task metrics to the sqstask namespace and the alarms read them."
  }
}

run "task_metric_settings_reach_the_sdk_and_the_alarms" {
  command = plan

  variables {
    metrics = { namespace = "Billing/Tasks" }
    alarms  = { task_latency = { threshold_ms = 60000 }, stuck_consumer = { enabled = false } }
  }

  assert {
    condition     = jsondecode(output.sdk_config).metrics_namespace == "Billing/Tasks"
    error_message = "metrics.namespace must reach sdk_config."
  }

  assert {
    condition = (
      module.alarms[0].alarm_names["task-latency-p99"] == "billing-task-latency-p99"
      && !contains(keys(module.alarms[0].alarm_names), "stuck-consumer")
    )
    error_message = "alarms.task_latency and alarms.stuck_consumer must reach the alarms module."
  }
}

run "task_metrics_can_be_switched_off" {
  command = plan

  variables {
    metrics = { enabled = false }
  }

  assert {
    condition = (
      jsondecode(output.sdk_config).metrics == false
      && length(setintersection(keys(output.alarm_names), ["task-failure-rate", "task-latency-p99", "stuck-consumer"])) == 0
    )
    error_message = "metrics.enabled = false turns the SDK's metrics off (sdk_config.metrics) and drops the alarms that read them."
  }
}

run "aws_namespace_for_task_metrics_is_rejected" {
  command = plan

  variables {
    metrics = { namespace = "AWS/Lambda" }
  }

  expect_failures = [var.metrics]
}

run "alarms_can_be_switched_off" {
  variables {
    alarms = { enabled = false }
  }

  assert {
    condition     = output.alarm_names == {} && output.dashboard_name == null && jsondecode(output.sdk_config).alarm_names == []
    error_message = "With alarms disabled there are no alarm names, no dashboard, and sdk_config.alarm_names is empty."
  }
}

run "iam_can_be_switched_off" {
  command = plan

  variables {
    iam = { enabled = false }
  }

  assert {
    condition     = output.producer_policy_arn == null && output.consumer_policy_arn == null && output.operator_policy_arn == null && output.operator_role_arn == null
    error_message = "With IAM disabled every policy and role ARN output must be null."
  }
}

run "operator_role_is_created_on_request" {
  command = plan

  variables {
    iam = {
      create_roles           = true
      trusted_principal_arns = { operator = ["arn:aws:iam::123456789012:role/oncall"] }
    }
  }

  assert {
    condition     = module.iam[0].role_names == { operator = "billing-operator" }
    error_message = "create_roles must create the operator role for the given principal, and no other."
  }
}

run "producers_may_schedule_delayed_sends_in_the_team_group" {
  command = plan

  assert {
    condition = one([
      for s in jsondecode(output.producer_policy_json).Statement : s.Resource if s.Sid == "ScheduleDelayedTasks"
    ]) == "arn:aws:scheduler:eu-west-1:123456789012:schedule/${var.name}/sqstask-at-*"
    error_message = "The producer policy must allow delayed sends (sqstask-at-*) in this team's schedule group only, not its recurring schedules."
  }

  assert {
    condition = one([
      for s in jsondecode(output.producer_policy_json).Statement : s.Resource if s.Sid == "PassSchedulerRole"
    ]) == "arn:aws:iam::123456789012:role/${var.name}-scheduler"
    error_message = "Producers may pass only this team's scheduler role."
  }
}
