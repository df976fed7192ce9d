# Producer, consumer and operator policies: the actions each role needs, on this team's ARNs.

mock_provider "aws" {}

variables {
  name               = "billing"
  queue_arn          = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  dlq_arn            = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  queue_name         = "billing.fifo"
  dlq_name           = "billing-dlq.fifo"
  kms_key_arn        = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  table_arn          = "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"
  payload_bucket_arn = "arn:aws:s3:::billing-payloads-123456789012"
  alarm_arns = [
    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-dlq-not-empty",
    "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-backlog",
  ]
}

# Each statement as a whole document: actions, resource and condition. What each role's code
# paths call is checked against these documents by tests/test_role_actions.py.

run "producer_sends_encrypts_and_writes_payloads" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(output.producer_policy_json).Statement : s.Sid => {
        actions = toset(s.Action), resources = toset(flatten([s.Resource])), condition = try(s.Condition, null)
      }
      } == {
      SendTasks = {
        actions   = toset(["sqs:SendMessage"])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"])
        condition = null
      }
      EncryptTasksWithTeamKey = {
        actions   = toset(["kms:GenerateDataKey", "kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com"] } }
      }
      EncryptPayloadsWithTeamKey = {
        actions   = toset(["kms:GenerateDataKey"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["s3.eu-west-1.amazonaws.com"] } }
      }
      WriteLargePayloads = {
        actions   = toset(["s3:PutObject"])
        resources = toset(["arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*"])
        condition = null
      }
    }
    error_message = "The producer policy must allow exactly: send to the queue, the key through SQS (data keys, decrypt) and S3 (data keys), s3:PutObject under the payload prefix."
  }
}

run "consumer_receives_acknowledges_and_records_state" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(output.consumer_policy_json).Statement : s.Sid => {
        actions = toset(s.Action), resources = toset(flatten([s.Resource])), condition = try(s.Condition, null)
      }
      } == {
      ConsumeTasks = {
        actions   = toset(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"])
        condition = null
      }
      DeadLetterExhaustedTasks = {
        actions   = toset(["sqs:SendMessage"])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"])
        condition = null
      }
      EncryptTasksWithTeamKey = {
        actions   = toset(["kms:GenerateDataKey", "kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com"] } }
      }
      DecryptTaskRecordsWithTeamKey = {
        actions   = toset(["kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["dynamodb.eu-west-1.amazonaws.com"] } }
      }
      DecryptPayloadsWithTeamKey = {
        actions   = toset(["kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["s3.eu-west-1.amazonaws.com"] } }
      }
      RecordTaskState = {
        actions   = toset(["dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"])
        resources = toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"])
        condition = null
      }
      ReadLargePayloads = {
        actions   = toset(["s3:GetObject"])
        resources = toset(["arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*"])
        condition = null
      }
    }
    error_message = "The consumer policy must allow exactly: receive/delete/change visibility/get attributes on the queue, SendMessage to the DLQ (the SDK dead-letters exhausted tasks), the key through SQS (decrypt, data keys to send), kms:Decrypt through DynamoDB and S3, UpdateItem on the table, s3:GetObject under the payload prefix."
  }
}

run "operator_handles_the_dlq_redrives_and_reads_status" {
  command = plan

  variables {
    schedule_group_arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/billing"
    scheduler_role_arn = "arn:aws:iam::123456789012:role/billing-scheduler"
  }

  assert {
    condition = {
      for s in jsondecode(output.operator_policy_json).Statement : s.Sid => {
        actions = toset(s.Action), resources = toset(flatten([s.Resource])), condition = try(s.Condition, null)
      }
      } == {
      InspectAndRedriveDeadLetterQueue = {
        actions = toset([
          "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
          "sqs:PurgeQueue", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks",
        ])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"])
        condition = null
      }
      RedriveToTaskQueue = {
        actions   = toset(["sqs:SendMessage", "sqs:GetQueueAttributes"])
        resources = toset(["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"])
        condition = null
      }
      ReadQueueMetrics = {
        actions   = toset(["cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricData"])
        resources = toset(["*"])
        condition = null
      }
      ReadTeamAlarms = {
        actions = toset(["cloudwatch:DescribeAlarms"])
        resources = toset([
          "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-dlq-not-empty",
          "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-backlog",
        ])
        condition = null
      }
      EncryptTasksWithTeamKey = {
        actions   = toset(["kms:GenerateDataKey", "kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com"] } }
      }
      DecryptTaskRecordsWithTeamKey = {
        actions   = toset(["kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["dynamodb.eu-west-1.amazonaws.com"] } }
      }
      DecryptPayloadsWithTeamKey = {
        actions   = toset(["kms:Decrypt"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["s3.eu-west-1.amazonaws.com"] } }
      }
      UseScheduleKeyWithTeamKey = {
        actions   = toset(["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"])
        resources = toset(["arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"])
        condition = { StringEquals = { "kms:ViaService" = ["scheduler.eu-west-1.amazonaws.com"] } }
      }
      ReadTaskRecords = {
        actions   = toset(["dynamodb:GetItem"])
        resources = toset(["arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"])
        condition = null
      }
      ReadLargePayloads = {
        actions   = toset(["s3:GetObject"])
        resources = toset(["arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*"])
        condition = null
      }
      ManageTeamSchedules = {
        actions   = toset(["scheduler:GetSchedule", "scheduler:UpdateSchedule"])
        resources = toset(["arn:aws:scheduler:eu-west-1:123456789012:schedule/billing/*"])
        condition = null
      }
      ListSchedules = {
        actions   = toset(["scheduler:ListSchedules"])
        resources = toset(["*"])
        condition = null
      }
      PassSchedulerRole = {
        actions   = toset(["iam:PassRole"])
        resources = toset(["arn:aws:iam::123456789012:role/billing-scheduler"])
        condition = { StringEquals = { "iam:PassedToService" = "scheduler.amazonaws.com" } }
      }
    }
    error_message = "The operator policy must allow exactly what the operator commands call: the DLQ, redrive sends, GetMetricStatistics and GetMetricData, this team's alarms, the key through SQS/DynamoDB/S3/Scheduler (DescribeKey for UpdateSchedule), GetItem, payload reads, the team's schedules, ListSchedules, PassRole of the scheduler role."
  }
}

run "no_policy_allows_a_wildcard_action" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for doc in [output.producer_policy_json, output.consumer_policy_json, output.operator_policy_json] : [
        for s in jsondecode(doc).Statement : [for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")]
      ]
    ]))
    error_message = "No policy may allow \"*\" or a service-wide wildcard action."
  }
}

run "only_cloudwatch_metric_reads_use_a_wildcard_resource" {
  command = plan

  assert {
    condition = flatten([
      for doc in [output.producer_policy_json, output.consumer_policy_json, output.operator_policy_json] : [
        for s in jsondecode(doc).Statement : s.Sid if contains(flatten([s.Resource]), "*")
      ]
    ]) == ["ReadQueueMetrics"]
    error_message = "Resource \"*\" is allowed only on the CloudWatch metric-read statement of the operator policy (and ListSchedules, with a schedule group)."
  }
}

run "every_other_resource_is_one_of_this_teams_arns" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for doc in [output.producer_policy_json, output.consumer_policy_json, output.operator_policy_json] : [
        for s in jsondecode(doc).Statement : [
          for r in flatten([s.Resource]) : contains([
            "arn:aws:sqs:eu-west-1:123456789012:billing.fifo",
            "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo",
            "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks",
            "arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-dlq-not-empty",
            "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-backlog",
          ], r)
        ] if s.Sid != "ReadQueueMetrics"
      ]
    ]))
    error_message = "Every resource (besides the metric reads) must be this team's queue, DLQ, key, table, payload prefix or alarms."
  }
}

run "policies_are_named_after_the_team_and_hold_the_documents" {
  command = plan

  assert {
    condition = (
      aws_iam_policy.producer.name == "billing-producer" && aws_iam_policy.producer.policy == output.producer_policy_json
      && aws_iam_policy.consumer.name == "billing-consumer" && aws_iam_policy.consumer.policy == output.consumer_policy_json
      && aws_iam_policy.operator.name == "billing-operator" && aws_iam_policy.operator.policy == output.operator_policy_json
    )
    error_message = "Policies must be named <name>-producer, <name>-consumer, <name>-operator and hold the documented JSON."
  }
}

run "without_key_table_bucket_or_alarms_only_queue_statements_remain" {
  command = plan

  variables {
    kms_key_arn        = null
    table_arn          = null
    payload_bucket_arn = null
    alarm_arns         = []
  }

  assert {
    condition = (
      [for s in jsondecode(output.producer_policy_json).Statement : s.Sid] == ["SendTasks"]
      && [for s in jsondecode(output.consumer_policy_json).Statement : s.Sid] == ["ConsumeTasks", "DeadLetterExhaustedTasks"]
      && [for s in jsondecode(output.operator_policy_json).Statement : s.Sid] == ["InspectAndRedriveDeadLetterQueue", "RedriveToTaskQueue", "ReadQueueMetrics"]
    )
    error_message = "Statements for the key, table, bucket and alarms must appear only when those ARNs are given."
  }
}

run "consumer_chaining_adds_send_and_data_keys" {
  command = plan

  variables {
    consumer_allow_chaining = true
  }

  assert {
    condition = {
      for s in jsondecode(output.consumer_policy_json).Statement : s.Sid => [toset(s.Action), try(s.Condition, null)]
      if contains(["EnqueueFollowUpTasks", "EncryptTasksWithTeamKey", "DecryptTasksWithTeamKey"], s.Sid)
      } == {
      EnqueueFollowUpTasks    = [toset(["sqs:SendMessage"]), null]
      EncryptTasksWithTeamKey = [toset(["kms:GenerateDataKey", "kms:Decrypt"]), { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com"] } }]
    }
    error_message = "consumer_allow_chaining must add sqs:SendMessage on the queue and kms:GenerateDataKey through SQS."
  }
}

run "alarm_arn_with_a_wildcard_is_rejected" {
  command = plan

  variables {
    alarm_arns = ["arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-*"]
  }

  expect_failures = [var.alarm_arns]
}

run "delayed_sends_need_the_schedule_group_and_the_scheduler_role" {
  command = plan

  variables {
    schedule_group_arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/billing"
    scheduler_role_arn = "arn:aws:iam::123456789012:role/billing-scheduler"
  }

  assert {
    condition = [for s in jsondecode(output.producer_policy_json).Statement : {
      actions = toset(s.Action), resource = s.Resource, condition = try(s.Condition, null)
      } if contains(["ScheduleDelayedTasks", "PassSchedulerRole"], s.Sid)] == [
      {
        actions   = toset(["scheduler:CreateSchedule", "scheduler:GetSchedule"])
        resource  = "arn:aws:scheduler:eu-west-1:123456789012:schedule/billing/sqstask-at-*"
        condition = null
      },
      {
        actions   = toset(["iam:PassRole"])
        resource  = "arn:aws:iam::123456789012:role/billing-scheduler"
        condition = { StringEquals = { "iam:PassedToService" = "scheduler.amazonaws.com" } }
      },
    ]
    error_message = "Producers may create and read only delayed sends (sqstask-at-*) in the team's group, not its recurring schedules, and pass only the scheduler role, only to EventBridge Scheduler."
  }

  assert {
    condition = [for s in jsondecode(output.operator_policy_json).Statement : {
      actions = toset(s.Action), resource = s.Resource
      } if contains(["ManageTeamSchedules", "PassSchedulerRole"], s.Sid)] == [
      {
        actions  = toset(["scheduler:GetSchedule", "scheduler:UpdateSchedule"])
        resource = "arn:aws:scheduler:eu-west-1:123456789012:schedule/billing/*"
      },
      {
        actions  = toset(["iam:PassRole"])
        resource = "arn:aws:iam::123456789012:role/billing-scheduler"
      },
    ]
    error_message = "Operators may read and update (enable/disable) the team's schedules only, passing only the scheduler role."
  }

  assert {
    condition = [for s in jsondecode(output.operator_policy_json).Statement : {
      actions = toset(s.Action), resource = s.Resource
    } if s.Sid == "ListSchedules"] == [{ actions = toset(["scheduler:ListSchedules"]), resource = "*" }]
    error_message = "Operators may list schedules (`sqstask schedules list`); ListSchedules has no resource-level permissions."
  }
}

run "without_a_schedule_group_no_scheduler_permissions" {
  command = plan

  assert {
    condition = length(flatten([
      for doc in [output.producer_policy_json, output.consumer_policy_json, output.operator_policy_json] : [
        for s in jsondecode(doc).Statement : s.Sid if contains(["ScheduleDelayedTasks", "ManageTeamSchedules", "ListSchedules", "UseScheduleKeyWithTeamKey", "PassSchedulerRole"], s.Sid)
      ]
    ])) == 0
    error_message = "Without schedule_group_arn and scheduler_role_arn no policy grants scheduler or iam:PassRole actions."
  }
}

run "schedule_group_arn_must_be_a_group_arn" {
  command = plan

  variables {
    schedule_group_arn = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/*"
  }

  expect_failures = [var.schedule_group_arn]
}

run "every_key_grant_is_limited_to_requests_through_the_teams_services" {
  command = plan

  variables {
    consumer_allow_chaining = true
    schedule_group_arn      = "arn:aws:scheduler:eu-west-1:123456789012:schedule-group/billing"
    scheduler_role_arn      = "arn:aws:iam::123456789012:role/billing-scheduler"
  }

  assert {
    condition = alltrue(flatten([
      for doc in [output.producer_policy_json, output.consumer_policy_json, output.operator_policy_json] : [
        for s in jsondecode(doc).Statement : length(s.Condition.StringEquals["kms:ViaService"]) > 0
        if anytrue([for a in flatten([s.Action]) : startswith(a, "kms:")])
      ]
    ]))
    error_message = "Every kms: grant must carry kms:ViaService, so the key decrypts only through SQS, S3, DynamoDB or Scheduler."
  }
}
