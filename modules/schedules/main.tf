data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_caller_identity" "current" {
  lifecycle {
    precondition {
      condition     = var.create || length(var.schedules) == 0
      error_message = "schedules are given but create = false: set create = true, or remove the schedules."
    }
  }
}

locals {
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.id
  account_id = data.aws_caller_identity.current.account_id

  group_name     = var.name
  group_arn      = "arn:${local.partition}:scheduler:${local.region}:${local.account_id}:schedule-group/${local.group_name}"
  role_name      = "${var.name}-scheduler"
  role_arn       = "arn:${local.partition}:iam::${local.account_id}:role/${local.role_name}"
  dlq_name       = "${var.name}-schedule-dlq"
  dlq_static_arn = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dlq_name}"

  create_dlq      = var.create && var.dead_letter_arn == null && var.create_dead_letter_queue
  dead_letter_arn = var.dead_letter_arn != null ? var.dead_letter_arn : (local.create_dlq ? local.dlq_static_arn : null)

  # The universal target calls SQS SendMessage with `input` as the request, so the message carries
  # an explicit group id and deduplication id (see README: universal vs templated target).
  universal_target_arn = "arn:${local.partition}:scheduler:::aws-sdk:sqs:sendMessage"

  # EventBridge Scheduler replaces this keyword in the input with each run's scheduled time
  # (e.g. 2030-01-01T00:00:00Z); its retries of one run keep the same value.
  scheduled_time = "<aws.scheduler.scheduled-time>"
  # jsonencode() escapes "<" and ">" as \u003c/\u003e, which Scheduler would not recognise, so the
  # input is encoded with this plain token and the token is replaced by the keyword afterwards.
  # The token has no character JSON escapes, so it survives the nested encoding of MessageBody.
  time_token = "SQSTASK0SCHEDULED0TIME0TOKEN"

  schedules = var.create ? var.schedules : {}

  # EventBridge Scheduler's limit on a schedule's payload (the target input): 256 KB.
  max_input_chars = 262144

  # Task id (and deduplication id): one per run, identical for Scheduler's retries of that run.
  task_ids = { for k, s in local.schedules : k => "sched:${k}:${local.time_token}" }

  message_bodies = {
    for k, s in local.schedules : k => jsonencode({
      v          = 1
      id         = local.task_ids[k]
      type       = s.task_type
      payload    = jsondecode(s.payload)
      created_at = local.time_token
    })
  }

  target_inputs = {
    for k, s in local.schedules : k => replace(jsonencode({
      QueueUrl               = var.queue_url
      MessageGroupId         = coalesce(s.group_id, k)
      MessageDeduplicationId = local.task_ids[k]
      MessageBody            = local.message_bodies[k]
      MessageAttributes = {
        "sqstask-task-id"   = { DataType = "String", StringValue = local.task_ids[k] }
        "sqstask-task-type" = { DataType = "String", StringValue = s.task_type }
      }
    }), local.time_token, local.scheduled_time)
  }

  trust_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgeSchedulerForThisGroup"
      Effect    = "Allow"
      Principal = { Service = "scheduler.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = {
          "aws:SourceAccount" = local.account_id
          "aws:SourceArn"     = local.group_arn
        }
      }
    }]
  }

  role_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid      = "SendToTaskQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [var.queue_arn]
      }],
      local.dead_letter_arn == null ? [] : [{
        Sid      = "SendToScheduleDeadLetterQueue"
        Effect   = "Allow"
        Action   = ["sqs:SendMessage"]
        Resource = [local.dead_letter_arn]
      }],
      var.kms_key_arn == null ? [] : [{
        Sid      = "UseQueueKey"
        Effect   = "Allow"
        Action   = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource = [var.kms_key_arn]
      }],
    )
  }

  dead_letter_queue_policy = {
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = local.dlq_static_arn
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  }
}

resource "aws_scheduler_schedule_group" "this" {
  count = var.create ? 1 : 0

  name = local.group_name
  tags = var.tags
}

resource "aws_iam_role" "scheduler" {
  count = var.create ? 1 : 0

  name               = local.role_name
  description        = "Lets EventBridge Scheduler (schedule group ${local.group_name}) send tasks to ${var.queue_arn}"
  assume_role_policy = jsonencode(local.trust_policy)
  tags               = var.tags

  lifecycle {
    precondition {
      condition     = length(local.role_name) <= 64
      error_message = "name must be at most 54 characters when the schedule group and role are created: the scheduler role is named <name>-scheduler and IAM role names are limited to 64 characters. A team without schedules or delayed sends can set create = false (create_schedule_group = false in the root module)."
    }
  }
}

resource "aws_iam_role_policy" "scheduler" {
  count = var.create ? 1 : 0

  name   = "send-tasks"
  role   = aws_iam_role.scheduler[0].id
  policy = jsonencode(local.role_policy)
}

resource "aws_sqs_queue" "dead_letter" {
  count = local.create_dlq ? 1 : 0

  name                              = local.dlq_name
  message_retention_seconds         = var.dead_letter_retention_seconds
  sqs_managed_sse_enabled           = var.kms_key_arn == null ? true : null
  kms_master_key_id                 = var.kms_key_arn
  kms_data_key_reuse_period_seconds = var.kms_key_arn == null ? null : 300
  # Set at creation (static ARN): the queue never exists without TLS enforcement.
  policy = jsonencode(local.dead_letter_queue_policy)
  tags   = var.tags
}

# The policy used to be a separate resource: forget it without destroying (deleting it would
# clear the policy the queue now sets).
removed {
  from = aws_sqs_queue_policy.dead_letter
  lifecycle {
    destroy = false
  }
}

resource "aws_scheduler_schedule" "this" {
  #checkov:skip=CKV_AWS_297:The input is encrypted with the team's customer key when the queue has one (kms_key_arn); without one it uses an AWS owned key, as the queue uses SQS-managed SSE.
  for_each = local.schedules

  name                         = each.key
  kms_key_arn                  = var.kms_key_arn
  group_name                   = aws_scheduler_schedule_group.this[0].name
  description                  = each.value.description
  schedule_expression          = each.value.expression
  schedule_expression_timezone = each.value.timezone
  state                        = each.value.enabled ? "ENABLED" : "DISABLED"
  start_date                   = each.value.start_date
  end_date                     = each.value.end_date

  flexible_time_window {
    mode                      = each.value.flexible_time_window_minutes == null ? "OFF" : "FLEXIBLE"
    maximum_window_in_minutes = each.value.flexible_time_window_minutes
  }

  target {
    arn      = local.universal_target_arn
    role_arn = local.role_arn
    input    = local.target_inputs[each.key]

    retry_policy {
      maximum_retry_attempts       = each.value.maximum_retry_attempts
      maximum_event_age_in_seconds = each.value.maximum_event_age_in_seconds
    }

    dynamic "dead_letter_config" {
      for_each = local.dead_letter_arn == null ? [] : [local.dead_letter_arn]
      content {
        arn = dead_letter_config.value
      }
    }
  }

  # The role and dead-letter queue are referenced by their static ARNs (known at plan time);
  # they must exist, with their permissions, before a schedule can fire.
  depends_on = [aws_iam_role_policy.scheduler, aws_sqs_queue.dead_letter]

  lifecycle {
    precondition {
      condition     = length(local.target_inputs[each.key]) <= local.max_input_chars
      error_message = "The input of schedule ${each.key} is ${length(local.target_inputs[each.key])} characters; EventBridge Scheduler accepts at most 256 KB: make its payload smaller (store large data elsewhere and send a reference)."
    }
  }
}
