# Least-privilege IAM for one team's task pipeline: a producer, a consumer and an operator
# policy scoped to this team's queue, dead-letter queue, key, table, payload prefix and alarms,
# and (optionally) a role for each with a trust policy for the given principals.

locals {
  kinds = ["producer", "consumer", "operator"]

  policy_names = { for kind in local.kinds : kind => "${var.name}-${kind}" }
  role_names   = { for kind in local.kinds : kind => "${var.name}-${kind}" }

  # Every priority tier's queue. One queue stays a plain string, as before tiers existed, so
  # a module without tiers keeps byte-identical policies (jsondecode unifies the two types).
  task_queue_arns = distinct(concat([var.queue_arn], var.priority_queue_arns))
  task_queues     = jsondecode(length(local.task_queue_arns) == 1 ? jsonencode(var.queue_arn) : jsonencode(local.task_queue_arns))

  payload_objects_arn = var.payload_bucket_arn == null ? null : "${var.payload_bucket_arn}/${var.payload_prefix}*"

  # Schedules live under schedule/<group>/<name>; a schedule group ARN names schedule-group/<group>.
  schedules_enabled = var.schedule_group_arn != null && var.scheduler_role_arn != null
  schedules_arn     = local.schedules_enabled ? "${replace(var.schedule_group_arn, ":schedule-group/", ":schedule/")}/*" : null
  # Delayed sends are the one-time schedules `sqstask-at-<task id>` (sqstask.schedules.ONE_TIME_PREFIX):
  # producers create and read back those only, not the recurring schedules (running or reading
  # those is the operator's job).
  delayed_sends_arn = local.schedules_enabled ? "${replace(var.schedule_group_arn, ":schedule-group/", ":schedule/")}/sqstask-at-*" : null
  pass_scheduler_role = {
    Sid       = "PassSchedulerRole"
    Effect    = "Allow"
    Action    = ["iam:PassRole"]
    Resource  = var.scheduler_role_arn
    Condition = { StringEquals = { "iam:PassedToService" = "scheduler.amazonaws.com" } }
  }

  # KMS use is limited to requests AWS services make for this team's code paths (kms:ViaService):
  # SSE-KMS on SQS, S3 and DynamoDB and EventBridge Scheduler's schedule encryption call KMS on
  # the caller's behalf, so a Decrypt grant cannot be used on arbitrary ciphertext directly.
  arn_parts  = split(":", var.queue_arn)
  dns_suffix = local.arn_parts[1] == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"
  via = {
    for service in ["sqs", "s3", "dynamodb", "scheduler"] : service => "${service}.${local.arn_parts[3]}.${local.dns_suffix}"
  }
  use_kms = var.kms_key_arn != null
  kms_statement = {
    for sid, use in {
      # SQS SSE: a send needs a data key (and Decrypt to reuse it), a receive Decrypt.
      EncryptTasks       = { actions = ["kms:GenerateDataKey", "kms:Decrypt"], via = ["sqs"] }
      DecryptTasks       = { actions = ["kms:Decrypt"], via = ["sqs"] }
      EncryptPayloads    = { actions = ["kms:GenerateDataKey"], via = ["s3"] }
      DecryptPayloads    = { actions = ["kms:Decrypt"], via = ["s3"] }
      DecryptTaskRecords = { actions = ["kms:Decrypt"], via = ["dynamodb"] }
      # GetSchedule and UpdateSchedule of a schedule encrypted with a customer managed key: the
      # caller needs kms:DescribeKey (Scheduler checks the key is symmetric), Decrypt and
      # GenerateDataKey (EventBridge Scheduler user guide: identity-based policy examples,
      # UpdateSchedule; "Encryption at rest").
      UseScheduleKey = { actions = ["kms:DescribeKey", "kms:Decrypt", "kms:GenerateDataKey"], via = ["scheduler"] }
      } : sid => {
      Sid       = "${sid}WithTeamKey"
      Effect    = "Allow"
      Action    = use.actions
      Resource  = var.kms_key_arn
      Condition = { StringEquals = { "kms:ViaService" = [for service in use.via : local.via[service]] } }
    }
  }
  has_table  = var.table_arn != null
  has_bucket = var.payload_bucket_arn != null

  # --- producer: send tasks, offload large payloads, schedule delayed sends ---
  producer_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "SendTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = local.task_queues
      }],
      local.use_kms ? [local.kms_statement.EncryptTasks] : [],
      local.use_kms && local.has_bucket ? [local.kms_statement.EncryptPayloads] : [],
      local.has_bucket ? [{
        Sid      = "WriteLargePayloads"
        Effect   = "Allow"
        Action   = ["s3:PutObject"]
        Resource = local.payload_objects_arn
      }] : [],
      # Delayed sends are one-time schedules in the team's group (TaskQueue.send_at); GetSchedule
      # answers a repeated send_at of the same task id. Their input is encrypted with an AWS
      # owned key (send_at sets no KmsKeyArn), so no key grant is needed for them.
      local.schedules_enabled ? [{
        Sid      = "ScheduleDelayedTasks"
        Effect   = "Allow"
        Action   = ["scheduler:CreateSchedule", "scheduler:GetSchedule"]
        Resource = local.delayed_sends_arn
      }] : [],
      local.schedules_enabled ? [local.pass_scheduler_role] : [],
    )
  }

  # --- consumer: receive, acknowledge, extend visibility, record task state ---
  consumer_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "ConsumeTasks"
        Effect   = "Allow"
        Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
        Resource = local.task_queues
      }],
      var.consumer_allow_chaining ? [{
        Sid      = "EnqueueFollowUpTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = local.task_queues
      }] : [],
      [{
        # The SDK copies a task that used its max_attempts to the DLQ itself, then deletes it.
        Sid      = "DeadLetterExhaustedTasks"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = var.dlq_arn
      }],
      # It receives (Decrypt) and sends to the DLQ (a data key) with the queue key.
      local.use_kms ? [local.kms_statement.EncryptTasks] : [],
      local.use_kms && local.has_table ? [local.kms_statement.DecryptTaskRecords] : [],
      local.use_kms && local.has_bucket ? [local.kms_statement.DecryptPayloads] : [],
      # Claim, complete, fail and renew are conditional UpdateItems that return what they need.
      local.has_table ? [{
        Sid      = "RecordTaskState"
        Effect   = "Allow"
        Action   = ["dynamodb:UpdateItem", "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem"]
        Resource = var.table_arn
      }] : [],
      local.has_bucket ? [{
        Sid      = "ReadLargePayloads"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.payload_objects_arn
      }] : [],
    )
  }

  # --- operator: inspect, redrive and purge the DLQ; read status, alarms, metrics, schedules ---
  operator_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [
        {
          Sid    = "InspectAndRedriveDeadLetterQueue"
          Effect = "Allow"
          Action = [
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:ChangeMessageVisibility",
            "sqs:GetQueueAttributes",
            "sqs:PurgeQueue",
            "sqs:StartMessageMoveTask",
            "sqs:ListMessageMoveTasks",
          ]
          Resource = var.dlq_arn
        },
        {
          # Redrive is a send to the main queue (by StartMessageMoveTask or `sqstask dlq
          # redrive`); `sqstask status` reads the main queue's attributes.
          Sid      = "RedriveToTaskQueue"
          Effect   = "Allow"
          Action   = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
          Resource = local.task_queues
        },
        {
          # `sqstask status` calls GetMetricStatistics (the queue's oldest message age) and
          # GetMetricData (the last hour's task throughput, failure rate and p99 latency from the
          # SDK's metrics, sqstask.status.task_activity). Neither supports resource-level
          # permissions: AWS accepts only "*" (Service Authorization Reference, CloudWatch).
          # Both are read-only.
          Sid      = "ReadQueueMetrics"
          Effect   = "Allow"
          Action   = ["cloudwatch:GetMetricStatistics", "cloudwatch:GetMetricData"]
          Resource = "*"
        },
      ],
      # `sqstask alarms` asks for the team's metric alarms by name (AlarmTypes MetricAlarm):
      # returning composite alarms would need DescribeAlarms on "*" (DescribeAlarms API
      # reference), so the grant stays on the team's alarm ARNs.
      length(var.alarm_arns) == 0 ? [] : [{
        Sid      = "ReadTeamAlarms"
        Effect   = "Allow"
        Action   = ["cloudwatch:DescribeAlarms"]
        Resource = var.alarm_arns
      }],
      local.use_kms ? [local.kms_statement.EncryptTasks] : [],
      local.use_kms && local.has_table ? [local.kms_statement.DecryptTaskRecords] : [],
      local.use_kms && local.has_bucket ? [local.kms_statement.DecryptPayloads] : [],
      local.use_kms && local.schedules_enabled ? [local.kms_statement.UseScheduleKey] : [],
      local.has_table ? [{
        Sid      = "ReadTaskRecords"
        Effect   = "Allow"
        Action   = ["dynamodb:GetItem"]
        Resource = var.table_arn
      }] : [],
      local.has_bucket ? [{
        Sid      = "ReadLargePayloads"
        Effect   = "Allow"
        Action   = ["s3:GetObject"]
        Resource = local.payload_objects_arn
      }] : [],
      # `sqstask schedules enable|disable|run` read and update the team's schedules.
      local.schedules_enabled ? [{
        Sid      = "ManageTeamSchedules"
        Effect   = "Allow"
        Action   = ["scheduler:GetSchedule", "scheduler:UpdateSchedule"]
        Resource = local.schedules_arn
      }] : [],
      # `sqstask schedules list`: ListSchedules supports no resource-level permissions (AWS
      # accepts only "*", Service Authorization Reference, EventBridge Scheduler). It returns
      # names, groups and states, not inputs; reading a schedule stays limited to the team's group.
      local.schedules_enabled ? [{
        Sid      = "ListSchedules"
        Effect   = "Allow"
        Action   = ["scheduler:ListSchedules"]
        Resource = "*"
      }] : [],
      local.schedules_enabled ? [local.pass_scheduler_role] : [],
    )
  }

  policies = {
    producer = local.producer_policy
    consumer = local.consumer_policy
    operator = local.operator_policy
  }

  policy_descriptions = {
    producer = "sqstask ${var.name}: send tasks to ${var.queue_name}"
    consumer = "sqstask ${var.name}: receive, acknowledge and record tasks from ${var.queue_name}"
    operator = "sqstask ${var.name}: inspect, redrive and purge ${var.dlq_name}; read status, alarms and metrics"
  }

  # --- optional roles ---
  trusted_principals = {
    producer = distinct(var.trusted_principal_arns.producer)
    consumer = distinct(var.trusted_principal_arns.consumer)
    operator = distinct(var.trusted_principal_arns.operator)
  }
  trusted_services = {
    producer = distinct(var.trusted_services.producer)
    consumer = distinct(var.trusted_services.consumer)
    operator = distinct(var.trusted_services.operator)
  }

  # A role nobody may assume is useless: create one per kind that trusts someone.
  role_kinds = toset([
    for kind in local.kinds : kind
    if var.create_roles && length(local.trusted_principals[kind]) + length(local.trusted_services[kind]) > 0
  ])

  trust_policies = {
    for kind in local.role_kinds : kind => {
      Version = "2012-10-17"
      Statement = concat(
        length(local.trusted_principals[kind]) == 0 ? [] : [merge(
          {
            Sid       = "TrustedPrincipals"
            Effect    = "Allow"
            Principal = { AWS = local.trusted_principals[kind] }
            Action    = "sts:AssumeRole"
          },
          var.external_id == null ? {} : { Condition = { StringEquals = { "sts:ExternalId" = var.external_id } } },
        )],
        length(local.trusted_services[kind]) == 0 ? [] : [{
          Sid       = "TrustedServices"
          Effect    = "Allow"
          Principal = { Service = local.trusted_services[kind] }
          Action    = "sts:AssumeRole"
        }],
      )
    }
  }
}

resource "aws_iam_policy" "producer" {
  name        = local.policy_names.producer
  description = local.policy_descriptions.producer
  policy      = jsonencode(local.producer_policy)
  tags        = var.tags
}

resource "aws_iam_policy" "consumer" {
  name        = local.policy_names.consumer
  description = local.policy_descriptions.consumer
  policy      = jsonencode(local.consumer_policy)
  tags        = var.tags
}

resource "aws_iam_policy" "operator" {
  name        = local.policy_names.operator
  description = local.policy_descriptions.operator
  policy      = jsonencode(local.operator_policy)
  tags        = var.tags
}

resource "aws_iam_role" "this" {
  for_each = local.role_kinds

  name                 = local.role_names[each.key]
  description          = "sqstask ${var.name}: ${each.key} role"
  assume_role_policy   = jsonencode(local.trust_policies[each.key])
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags

  lifecycle {
    precondition {
      condition     = length(local.role_names[each.key]) <= 64
      error_message = "The ${each.key} role name \"${local.role_names[each.key]}\" is ${length(local.role_names[each.key])} characters; IAM role names are at most 64. Shorten `name` to at most ${64 - length("-${each.key}")} characters or set create_roles = false and attach the policies to roles of your own."
    }
  }
}

resource "aws_iam_role_policy_attachment" "this" {
  for_each = local.role_kinds

  role = aws_iam_role.this[each.key].name
  policy_arn = {
    producer = aws_iam_policy.producer.arn
    consumer = aws_iam_policy.consumer.arn
    operator = aws_iam_policy.operator.arn
  }[each.key]
}
