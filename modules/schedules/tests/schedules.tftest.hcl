# Plans modules/schedules against the mocked AWS provider and asserts what EventBridge Scheduler
# would be asked to do: targets, inputs (the sqstask envelope), states, retries and IAM scope.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1", region = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws" }
  }
}

variables {
  name        = "billing"
  queue_arn   = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  queue_url   = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
  kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"
  schedules = {
    nightly-report = {
      expression = "cron(0 2 * * ? *)"
      timezone   = "Europe/Paris"
      task_type  = "build-report"
      payload    = "{\"report\":\"daily\",\"formats\":[\"pdf\",\"csv\"]}"
    }
    poll-partners = {
      expression                   = "rate(5 minutes)"
      enabled                      = false
      task_type                    = "poll"
      group_id                     = "partners"
      flexible_time_window_minutes = 15
      maximum_retry_attempts       = 3
      maximum_event_age_in_seconds = 600
    }
    launch = {
      expression = "at(2030-01-01T09:00:00)"
      task_type  = "announce"
      payload    = "\"hello\""
    }
  }
}

run "every_schedule_uses_the_universal_sqs_sendmessage_target_with_the_scheduler_role" {
  command = plan

  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.target[0].arn == "arn:aws:scheduler:::aws-sdk:sqs:sendMessage"])
    error_message = "every schedule must target arn:aws:scheduler:::aws-sdk:sqs:sendMessage"
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.target[0].role_arn == "arn:aws:iam::123456789012:role/billing-scheduler"])
    error_message = "every schedule must run as the billing-scheduler role"
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : length(s.target[0].sqs_parameters) == 0])
    error_message = "the templated SQS target (sqs_parameters) must not be used"
  }
  assert {
    condition     = length(aws_scheduler_schedule.this) == 3
    error_message = "one schedule per map entry expected"
  }
}

run "schedules_live_in_the_team_group" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule_group.this[0].name == "billing"
    error_message = "the schedule group must be named after the team"
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.group_name == "billing"])
    error_message = "every schedule must be in the team's group"
  }
  assert {
    condition     = output.schedule_group_name == "billing"
    error_message = "schedule_group_name output must be the group name"
  }
  assert {
    condition     = output.schedule_names == tolist(["launch", "nightly-report", "poll-partners"])
    error_message = "schedule_names must list the schedules"
  }
}

run "state_follows_the_enabled_flag" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this["nightly-report"].state == "ENABLED"
    error_message = "a schedule is ENABLED by default"
  }
  assert {
    condition     = aws_scheduler_schedule.this["poll-partners"].state == "DISABLED"
    error_message = "enabled = false must give state DISABLED"
  }
}

run "expression_and_timezone_pass_through" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this["nightly-report"].schedule_expression == "cron(0 2 * * ? *)"
    error_message = "cron expression not passed through"
  }
  assert {
    condition     = aws_scheduler_schedule.this["nightly-report"].schedule_expression_timezone == "Europe/Paris"
    error_message = "timezone not passed through"
  }
  assert {
    condition     = aws_scheduler_schedule.this["launch"].schedule_expression_timezone == "UTC"
    error_message = "timezone must default to UTC"
  }
}

run "input_is_a_sendmessage_request_carrying_the_sqstask_envelope" {
  command = plan

  assert {
    condition     = jsondecode(aws_scheduler_schedule.this["nightly-report"].target[0].input).QueueUrl == "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    error_message = "QueueUrl must be the team's queue"
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.this["nightly-report"].target[0].input).MessageGroupId == "nightly-report"
    error_message = "MessageGroupId must default to the schedule name"
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.this["poll-partners"].target[0].input).MessageGroupId == "partners"
    error_message = "MessageGroupId must be the schedule's group_id when given"
  }
  assert {
    condition     = jsondecode(aws_scheduler_schedule.this["nightly-report"].target[0].input).MessageDeduplicationId == "sched:nightly-report:<aws.scheduler.scheduled-time>"
    error_message = "MessageDeduplicationId must be the per-run task id"
  }
  assert {
    condition = jsondecode(aws_scheduler_schedule.this["nightly-report"].target[0].input).MessageAttributes == {
      "sqstask-task-id"   = { DataType = "String", StringValue = "sched:nightly-report:<aws.scheduler.scheduled-time>" }
      "sqstask-task-type" = { DataType = "String", StringValue = "build-report" }
    }
    error_message = "the task id and type message attributes are wrong"
  }
  assert {
    condition = jsondecode(jsondecode(aws_scheduler_schedule.this["nightly-report"].target[0].input).MessageBody) == {
      v          = 1
      id         = "sched:nightly-report:<aws.scheduler.scheduled-time>"
      type       = "build-report"
      payload    = { report = "daily", formats = ["pdf", "csv"] }
      created_at = "<aws.scheduler.scheduled-time>"
    }
    error_message = "MessageBody must be the sqstask envelope with the per-run task id"
  }
  assert {
    condition     = jsondecode(jsondecode(aws_scheduler_schedule.this["launch"].target[0].input).MessageBody).payload == "hello"
    error_message = "a JSON string payload must arrive as a string"
  }
  assert {
    condition     = jsondecode(jsondecode(aws_scheduler_schedule.this["poll-partners"].target[0].input).MessageBody).payload == {}
    error_message = "the payload must default to an empty object"
  }
}

run "scheduled_time_keyword_is_written_literally_so_scheduler_substitutes_it" {
  command = plan

  assert {
    condition     = length(regexall("<aws\\.scheduler\\.scheduled-time>", aws_scheduler_schedule.this["nightly-report"].target[0].input)) == 4
    error_message = "the raw input must contain the literal keyword in the dedup id, the task-id attribute, the body id and created_at"
  }
  assert {
    condition     = !strcontains(aws_scheduler_schedule.this["nightly-report"].target[0].input, "\\u003c") && !strcontains(aws_scheduler_schedule.this["nightly-report"].target[0].input, "TOKEN")
    error_message = "the keyword must not be JSON-escaped (\\u003c) nor left as the encoding token"
  }
}

run "retry_policy_and_flexible_window" {
  command = plan

  assert {
    condition     = aws_scheduler_schedule.this["poll-partners"].target[0].retry_policy[0].maximum_retry_attempts == 3 && aws_scheduler_schedule.this["poll-partners"].target[0].retry_policy[0].maximum_event_age_in_seconds == 600
    error_message = "the retry policy must be the schedule's"
  }
  assert {
    condition     = aws_scheduler_schedule.this["nightly-report"].target[0].retry_policy[0].maximum_retry_attempts == 185 && aws_scheduler_schedule.this["nightly-report"].target[0].retry_policy[0].maximum_event_age_in_seconds == 86400
    error_message = "the retry policy must default to 185 attempts within 24 hours"
  }
  assert {
    condition     = aws_scheduler_schedule.this["poll-partners"].flexible_time_window[0].mode == "FLEXIBLE" && aws_scheduler_schedule.this["poll-partners"].flexible_time_window[0].maximum_window_in_minutes == 15
    error_message = "a flexible window must give mode FLEXIBLE with its width"
  }
  assert {
    condition     = aws_scheduler_schedule.this["nightly-report"].flexible_time_window[0].mode == "OFF" && aws_scheduler_schedule.this["nightly-report"].flexible_time_window[0].maximum_window_in_minutes == null
    error_message = "no flexible window must give mode OFF"
  }
}

run "undeliverable_invocations_go_to_a_created_standard_dead_letter_queue" {
  command = plan

  assert {
    condition     = aws_sqs_queue.dead_letter[0].name == "billing-schedule-dlq" && aws_sqs_queue.dead_letter[0].fifo_queue != true
    error_message = "the module must create the standard queue billing-schedule-dlq (Scheduler rejects FIFO DLQs)"
  }
  assert {
    condition     = aws_sqs_queue.dead_letter[0].kms_master_key_id == var.kms_key_arn
    error_message = "the schedule DLQ must be encrypted with the queue's key when one is given"
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.target[0].dead_letter_config[0].arn == "arn:aws:sqs:eu-west-1:123456789012:billing-schedule-dlq"])
    error_message = "every schedule must use the schedule DLQ"
  }
  assert {
    condition = jsondecode(aws_sqs_queue.dead_letter[0].policy).Statement == [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:billing-schedule-dlq"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
    error_message = "the schedule DLQ policy must deny non-TLS access"
  }
}

run "a_given_dead_letter_queue_is_used_and_none_is_created" {
  command = plan

  variables {
    dead_letter_arn = "arn:aws:sqs:eu-west-1:123456789012:platform-schedule-failures"
  }

  assert {
    condition     = length(aws_sqs_queue.dead_letter) == 0
    error_message = "no DLQ must be created when one is given"
  }
  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.target[0].dead_letter_config[0].arn == var.dead_letter_arn])
    error_message = "every schedule must use the given DLQ"
  }
  assert {
    condition     = contains(flatten([for st in jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement : st.Resource]), var.dead_letter_arn)
    error_message = "the scheduler role must be allowed to send to the given DLQ"
  }
}

run "no_dead_letter_queue_when_disabled" {
  command = plan

  variables {
    create_dead_letter_queue = false
  }

  assert {
    condition     = length(aws_sqs_queue.dead_letter) == 0 && alltrue([for s in aws_scheduler_schedule.this : length(s.target[0].dead_letter_config) == 0])
    error_message = "create_dead_letter_queue = false must leave the schedules without a DLQ"
  }
  assert {
    condition     = output.dead_letter_arn == null
    error_message = "dead_letter_arn output must be null without a DLQ"
  }
}

run "role_may_send_to_this_queue_and_use_this_key_only" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role_policy.scheduler[0].policy).Statement == [
      { Sid = "SendToTaskQueue", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"] },
      { Sid = "SendToScheduleDeadLetterQueue", Effect = "Allow", Action = ["sqs:SendMessage"], Resource = ["arn:aws:sqs:eu-west-1:123456789012:billing-schedule-dlq"] },
      { Sid = "UseQueueKey", Effect = "Allow", Action = ["kms:GenerateDataKey", "kms:Decrypt"], Resource = ["arn:aws:kms:eu-west-1:123456789012:key/0a1b2c3d-4e5f-6789-abcd-ef0123456789"] },
    ]
    error_message = "the scheduler role policy must allow exactly SendMessage on the queue and the schedule DLQ and the data-key actions on the queue's key"
  }
  assert {
    condition     = !strcontains(aws_iam_role_policy.scheduler[0].policy, "*")
    error_message = "the scheduler role policy must not contain a wildcard"
  }
}

run "without_a_customer_key_the_role_gets_no_kms_permission" {
  command = plan

  variables {
    kms_key_arn = null
  }

  assert {
    condition     = !strcontains(aws_iam_role_policy.scheduler[0].policy, "kms:")
    error_message = "no KMS permission without a customer key"
  }
  assert {
    condition     = aws_sqs_queue.dead_letter[0].sqs_managed_sse_enabled == true && aws_sqs_queue.dead_letter[0].kms_master_key_id == null
    error_message = "the schedule DLQ must use SQS-managed SSE without a customer key"
  }
}

run "only_eventbridge_scheduler_for_this_group_may_assume_the_role" {
  command = plan

  assert {
    condition = jsondecode(aws_iam_role.scheduler[0].assume_role_policy).Statement == [{
      Sid       = "EventBridgeSchedulerForThisGroup"
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = {
          "aws:SourceAccount" = "123456789012"
          "aws:SourceArn"     = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/billing"
        }
      }
    }]
    error_message = "the trust policy must admit scheduler.amazonaws.com for this account and schedule group only"
  }
  assert {
    condition     = aws_iam_role.scheduler[0].name == "billing-scheduler"
    error_message = "the role must be named <name>-scheduler"
  }
}

run "group_and_role_exist_without_schedules_for_delayed_sends" {
  command = plan

  variables {
    schedules = {}
  }

  assert {
    condition     = length(aws_scheduler_schedule_group.this) == 1 && length(aws_iam_role.scheduler) == 1 && length(aws_scheduler_schedule.this) == 0
    error_message = "the group and role must be created even with no schedules (TaskQueue.send_at uses them)"
  }
}

run "create_false_creates_nothing" {
  command = plan

  variables {
    create    = false
    schedules = {}
  }

  assert {
    condition     = length(aws_scheduler_schedule_group.this) == 0 && length(aws_iam_role.scheduler) == 0 && length(aws_sqs_queue.dead_letter) == 0
    error_message = "create = false must create nothing"
  }
  assert {
    condition     = output.schedule_group_name == null && output.scheduler_role_arn == null && output.dead_letter_arn == null
    error_message = "outputs must be null when nothing is created"
  }
}

run "create_false_with_schedules_is_rejected" {
  command = plan

  variables {
    create = false
  }

  expect_failures = [data.aws_caller_identity.current]
}

run "rejects_a_name_in_the_delayed_sends_prefix" {
  command = plan

  variables {
    schedules = { sqstask-at-nightly = { expression = "cron(0 2 * * ? *)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_cron_expression_with_five_fields" {
  command = plan

  variables {
    schedules = { bad = { expression = "cron(0 2 * * *)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_cron_expression_with_both_day_fields_set" {
  command = plan

  variables {
    schedules = { bad = { expression = "cron(0 2 1 * MON *)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_rate_with_a_wrong_unit" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(5 minute)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_an_at_expression_with_an_impossible_month" {
  command = plan

  variables {
    schedules = { bad = { expression = "at(2030-13-01T00:00:00)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_free_text_as_an_expression" {
  command = plan

  variables {
    schedules = { bad = { expression = "every day at noon", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "accepts_singular_rate_and_day_of_week_cron" {
  command = plan

  variables {
    schedules = {
      hourly  = { expression = "rate(1 hour)", task_type = "t" }
      mondays = { expression = "cron(30 8 ? * MON-FRI *)", task_type = "t" }
    }
  }

  assert {
    condition     = length(aws_scheduler_schedule.this) == 2
    error_message = "valid expressions must be accepted"
  }
}

run "rejects_a_schedule_name_scheduler_does_not_allow" {
  command = plan

  variables {
    schedules = { "nightly report" = { expression = "rate(1 day)", task_type = "t" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_payload_that_is_not_json" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(1 day)", task_type = "t", payload = "{report: daily}" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_flexible_window_above_a_day" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(1 day)", task_type = "t", flexible_time_window_minutes = 1441 } }
  }

  expect_failures = [var.schedules]
}

run "rejects_more_than_185_retries" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(1 day)", task_type = "t", maximum_retry_attempts = 186 } }
  }

  expect_failures = [var.schedules]
}

run "rejects_an_event_age_below_a_minute" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(1 day)", task_type = "t", maximum_event_age_in_seconds = 59 } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_group_id_with_spaces" {
  command = plan

  variables {
    schedules = { bad = { expression = "rate(1 day)", task_type = "t", group_id = "two words" } }
  }

  expect_failures = [var.schedules]
}

run "rejects_a_fifo_dead_letter_queue" {
  command = plan

  variables {
    dead_letter_arn = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  }

  expect_failures = [var.dead_letter_arn]
}

run "rejects_a_standard_queue_as_the_task_queue" {
  command = plan

  variables {
    queue_arn = "arn:aws:sqs:eu-west-1:123456789012:billing"
  }

  expect_failures = [var.queue_arn]
}

run "rejects_a_name_too_long_for_the_scheduler_role" {
  command = plan

  variables {
    name = "a-team-name-that-is-far-too-long-for-an-iam-role-name-x"
  }

  expect_failures = [aws_iam_role.scheduler]
}

run "schedules_are_encrypted_with_the_team_key" {
  command = plan

  assert {
    condition     = alltrue([for s in aws_scheduler_schedule.this : s.kms_key_arn == var.kms_key_arn])
    error_message = "schedule inputs must be encrypted with the team's customer key when there is one"
  }
}

run "rejects_a_payload_beyond_the_scheduler_input_limit" {
  command = plan

  variables {
    schedules = { big = { expression = "rate(1 day)", task_type = "t", payload = "\"${join("", [for i in range(270) : format("%01000d", i)])}\"" } }
  }

  expect_failures = [aws_scheduler_schedule.this]
}
