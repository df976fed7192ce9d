# CloudWatch alarms an on-call person can act on, their notification topic, and the team's
# dashboard. Every alarm description says what the alarm means and what to do first.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  partition  = data.aws_partition.current.partition

  dashboard_name = "${var.name}-tasks"
  topic_name     = "${var.name}-alarms"
  kms_alias_name = "alias/sqstask/${var.name}-alarms"

  topic_static_arn = "arn:${local.partition}:sns:${local.region}:${local.account_id}:${local.topic_name}"
  alarm_arn_prefix = "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:"

  create_topic     = var.create_sns_topic
  create_topic_key = var.create_sns_topic && var.kms_key_arn == null
  topic_kms_key    = local.create_topic_key ? aws_kms_key.sns[0].arn : var.kms_key_arn
  topic_arn        = local.create_topic ? aws_sns_topic.this[0].arn : var.sns_topic_arn
  actions          = local.topic_arn == null ? [] : [local.topic_arn]

  queue_dimensions = { QueueName = var.queue_name }
  dlq_dimensions   = { QueueName = var.dlq_name }

  # One entry per alarm, keyed by the alarm's name suffix: the alarm is `<name>-<key>`.
  queue_alarms = merge(
    {
      "dlq-not-empty" = {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateNumberOfMessagesVisible"
        dimensions          = local.dlq_dimensions
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = 0
        period              = var.dlq_not_empty.period
        evaluation_periods  = var.dlq_not_empty.evaluation_periods
        # SQS stops publishing metrics for a queue nobody touches for six hours; "ignore" keeps
        # the alarm in ALARM until a datapoint shows the DLQ empty again (a redrive or purge
        # makes the queue active), instead of turning OK while failed tasks are still there.
        treat_missing_data = "ignore"
        description        = "Tasks of ${var.name} failed on every attempt and were moved to the dead-letter queue ${var.dlq_name}; they will not run again until someone redrives them. First: run `sqstask dlq list` to see which tasks failed and why, and `sqstask dlq show TASK_ID` for one of them. Fix the cause, then `sqstask dlq redrive` (or `sqstask dlq purge --yes` to drop them)."
      }
    },
    var.schedule_dlq_name == null ? {} : {
      "schedule-dlq-not-empty" = {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateNumberOfMessagesVisible"
        dimensions          = { QueueName = var.schedule_dlq_name }
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = 0
        period              = var.dlq_not_empty.period
        evaluation_periods  = var.dlq_not_empty.evaluation_periods
        treat_missing_data  = "ignore" # as for the task DLQ: stay in ALARM until it is seen empty
        description         = "EventBridge Scheduler could not deliver scheduled tasks of ${var.name} to ${var.queue_name} (the scheduler role, the queue policy or the KMS key refused it, or the queue is gone), so those runs never happened; Scheduler put them in ${var.schedule_dlq_name}. First: read a message there: its ERROR_CODE and ERROR_MESSAGE attributes say why. Fix the cause, then start each missed run with `sqstask schedules run NAME` and purge ${var.schedule_dlq_name}."
      }
    },
    var.oldest_message_age.enabled ? {
      "oldest-message-age" = {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateAgeOfOldestMessage"
        dimensions          = local.queue_dimensions
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.oldest_message_age.threshold_seconds
        period              = var.oldest_message_age.period
        evaluation_periods  = var.oldest_message_age.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: the queue is idle and empty
        description         = "The oldest task on ${var.queue_name} has waited more than ${var.oldest_message_age.threshold_seconds} s: consumers are stopped, failing (a retried task stays on the queue and blocks the later tasks of its message group) or too slow. First: run `sqstask status` for depth and in-flight counts, then check the consumer errors and throttles alarms and the consumers' logs."
      }
    } : {},
    var.backlog.enabled ? {
      "backlog" = {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateNumberOfMessagesVisible"
        dimensions          = local.queue_dimensions
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.backlog.threshold
        period              = var.backlog.period
        evaluation_periods  = var.backlog.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: the queue is idle and empty
        description         = "More than ${var.backlog.threshold} tasks have waited on ${var.queue_name} for ${var.backlog.period * var.backlog.evaluation_periods} s: consumers do not keep up. First: run `sqstask status`; check that the consumers run (event source mapping enabled, workers up) and are not throttled. Then add capacity (maximum_concurrency and reserved concurrency, or workers); FIFO throughput is also bounded by the number of message groups."
      }
    } : {},
    var.producer_stopped.enabled ? {
      "producer-stopped" = {
        namespace           = "AWS/SQS"
        metric_name         = "NumberOfMessagesSent"
        dimensions          = local.queue_dimensions
        statistic           = "Sum"
        comparison_operator = "LessThanOrEqualToThreshold"
        threshold           = 0
        period              = var.producer_stopped.period
        evaluation_periods  = var.producer_stopped.evaluation_periods
        treat_missing_data  = "breaching" # an idle queue stops publishing metrics: that is the condition
        description         = "No task was sent to ${var.queue_name} for ${var.producer_stopped.period * var.producer_stopped.evaluation_periods} s, although producers normally send continuously. First: check the producers (recent deployments, their errors, sqs:SendMessage and KMS permissions) and whether the schedules feeding the queue are enabled; `sqstask send` can confirm the queue accepts tasks."
      }
    } : {},
  )

  consumer_alarms = merge(
    {
      for consumer, fn in var.consumer_function_names : "${consumer}-errors" => {
        namespace           = "AWS/Lambda"
        metric_name         = "Errors"
        dimensions          = { FunctionName = fn }
        statistic           = "Sum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.consumer_errors.threshold
        period              = var.consumer_errors.period
        evaluation_periods  = var.consumer_errors.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: no invocations
        description         = "Lambda function ${fn} (consumer ${consumer} of ${var.queue_name}) failed more than ${var.consumer_errors.threshold} invocations in ${var.consumer_errors.period} s: the handler crashed, ran out of memory or timed out, so its whole batch returns to the queue and moves toward the dead-letter queue. First: read the function's CloudWatch Logs for the error, then run `sqstask dlq list` for tasks that already gave up."
      }
    },
    {
      for consumer, fn in var.consumer_function_names : "${consumer}-throttles" => {
        namespace           = "AWS/Lambda"
        metric_name         = "Throttles"
        dimensions          = { FunctionName = fn }
        statistic           = "Sum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = 0
        period              = var.consumer_throttles.period
        evaluation_periods  = var.consumer_throttles.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: no invocations
        description         = "Lambda function ${fn} (consumer ${consumer} of ${var.queue_name}) was throttled: the event source mapping wants more concurrency than the function's reserved concurrency or the account allows. Throttled batches return to the queue and count as receives, so tasks can reach the dead-letter queue without running. First: keep the function's reserved concurrency >= the mapping's maximum_concurrency, and check the account's concurrency quota."
      }
    },
  )

  # Each other priority tier: its own oldest-age and backlog alarms, keyed `<tier>-<alarm>`, so a
  # flooded low tier and a stuck urgent tier page separately.
  tier_alarms = merge(
    var.oldest_message_age.enabled ? {
      for tier, queue in var.priority_queue_names : "${tier}-oldest-message-age" => {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateAgeOfOldestMessage"
        dimensions          = { QueueName = queue }
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.oldest_message_age.threshold_seconds
        period              = var.oldest_message_age.period
        evaluation_periods  = var.oldest_message_age.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: the queue is idle and empty
        description         = "The oldest task on ${queue} (priority tier ${tier} of ${var.name}) has waited more than ${var.oldest_message_age.threshold_seconds} s: consumers of this tier are stopped, failing or too slow, or higher tiers take all the capacity. First: run `sqstask status` for each tier's depth and in-flight counts, then check that consumers serve tier ${tier} (a Lambda mapping for it, workers polling it) and their errors and throttles."
      }
    } : {},
    var.backlog.enabled ? {
      for tier, queue in var.priority_queue_names : "${tier}-backlog" => {
        namespace           = "AWS/SQS"
        metric_name         = "ApproximateNumberOfMessagesVisible"
        dimensions          = { QueueName = queue }
        statistic           = "Maximum"
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.backlog.threshold
        period              = var.backlog.period
        evaluation_periods  = var.backlog.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: the queue is idle and empty
        description         = "More than ${var.backlog.threshold} tasks have waited on ${queue} (priority tier ${tier} of ${var.name}) for ${var.backlog.period * var.backlog.evaluation_periods} s: consumers of this tier do not keep up. First: run `sqstask status`; check the tier's consumers run and are not throttled, then add capacity for the tier (its mapping's maximum_concurrency, or workers)."
      }
    } : {},
  )

  alarms = merge(local.queue_alarms, local.tier_alarms, local.consumer_alarms)

  # With the alarms on the SDK's task metrics (task_metrics.tf).
  alarm_names      = { for key in concat(keys(local.alarms), keys(local.task_alarms)) : key => "${var.name}-${key}" }
  alarm_static_arn = { for key, name in local.alarm_names : key => "${local.alarm_arn_prefix}${name}" }

  # --- notification topic (created) ---
  topic_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AllowThisTeamsAlarmsToPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = "sns:Publish"
        Resource  = local.topic_static_arn
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.alarm_arn_prefix}${var.name}-*" }
        }
      },
      {
        # A Deny over every action grants nothing; it refuses plain-HTTP calls by anyone other
        # than AWS services (whose calls to SNS stay inside AWS).
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "sns:*"
        Resource  = local.topic_static_arn
        Condition = {
          Bool = {
            "aws:SecureTransport"       = "false"
            "aws:PrincipalIsAWSService" = "false"
          }
        }
      },
    ]
  }

  # Key policy of the dedicated topic key. In a key policy "Resource": "*" means this key. The
  # account-root statement is AWS's default key policy (keeps the key manageable, lets IAM
  # grant its use); CloudWatch needs the key to publish alarm notifications to the topic.
  topic_key_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "EnableAccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        # The same scope as the topic policy: only this team's alarms in this account (the
        # confused-deputy conditions AWS recommends for service principals).
        Sid       = "AllowCloudWatchAlarmsToPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = local.account_id }
          ArnLike      = { "aws:SourceArn" = "${local.alarm_arn_prefix}${var.name}-*" }
        }
      },
    ]
  }

  # --- dashboard ---
  has_consumers = length(var.consumer_function_names) > 0
  consumer_metrics = {
    for metric in ["Errors", "Throttles", "Duration"] : metric => [
      for consumer, fn in var.consumer_function_names : ["AWS/Lambda", metric, "FunctionName", fn, { label = consumer }]
    ]
  }

  # One dashboard row per other priority tier, below the fixed rows and the task-metric rows
  # (task_metrics.tf, y 21..32): depth, in flight, oldest age.
  tier_rows_top = 33
  tier_widgets = flatten([
    for index, tier in sort(keys(var.priority_queue_names)) : [
      {
        type = "metric", x = 0, y = local.tier_rows_top + 6 * index, width = 8, height = 6
        properties = {
          title  = "Tier ${tier}: queue depth (${var.priority_queue_names[tier]})"
          region = local.region
          view   = "timeSeries"
          stat   = "Maximum"
          period = 60
          metrics = [
            ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.priority_queue_names[tier], { label = "waiting" }],
            ["AWS/SQS", "ApproximateNumberOfMessagesDelayed", "QueueName", var.priority_queue_names[tier], { label = "delayed" }],
          ]
        }
      },
      {
        type = "metric", x = 8, y = local.tier_rows_top + 6 * index, width = 8, height = 6
        properties = {
          title   = "Tier ${tier}: in flight"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 60
          metrics = [["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.priority_queue_names[tier], { label = "in flight" }]]
        }
      },
      {
        type = "metric", x = 16, y = local.tier_rows_top + 6 * index, width = 8, height = 6
        properties = {
          title   = "Tier ${tier}: oldest task age, seconds"
          region  = local.region
          view    = "timeSeries"
          stat    = "Maximum"
          period  = 60
          metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.priority_queue_names[tier], { label = "oldest age" }]]
        }
      },
    ]
  ])

  dashboard_body = {
    widgets = concat(
      [
        {
          type = "alarm", x = 0, y = 0, width = 24, height = 3
          properties = {
            title  = "${var.name} alarms"
            alarms = [for key in sort(keys(local.alarm_static_arn)) : local.alarm_static_arn[key]]
          }
        },
        {
          type = "metric", x = 0, y = 3, width = 12, height = 6
          properties = {
            title  = "Queue depth (${var.queue_name})"
            region = local.region
            view   = "timeSeries"
            stat   = "Maximum"
            period = 60
            metrics = [
              ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.queue_name, { label = "waiting" }],
              ["AWS/SQS", "ApproximateNumberOfMessagesDelayed", "QueueName", var.queue_name, { label = "delayed" }],
            ]
          }
        },
        {
          type = "metric", x = 12, y = 3, width = 12, height = 6
          properties = {
            title   = "In flight (${var.queue_name})"
            region  = local.region
            view    = "timeSeries"
            stat    = "Maximum"
            period  = 60
            metrics = [["AWS/SQS", "ApproximateNumberOfMessagesNotVisible", "QueueName", var.queue_name, { label = "in flight" }]]
          }
        },
        {
          type = "metric", x = 0, y = 9, width = 12, height = 6
          properties = {
            title   = "Oldest task age, seconds (${var.queue_name})"
            region  = local.region
            view    = "timeSeries"
            stat    = "Maximum"
            period  = 60
            metrics = [["AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName", var.queue_name, { label = "oldest age" }]]
          }
        },
        {
          type = "metric", x = 12, y = 9, width = 12, height = 6
          properties = {
            title   = "Dead-letter queue depth (${var.dlq_name})"
            region  = local.region
            view    = "timeSeries"
            stat    = "Maximum"
            period  = 60
            metrics = [["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", var.dlq_name, { label = "failed tasks" }]]
          }
        },
      ],
      local.has_consumers ? [
        {
          type = "metric", x = 0, y = 15, width = 8, height = 6
          properties = {
            title   = "Consumer errors"
            region  = local.region
            view    = "timeSeries"
            stat    = "Sum"
            period  = 60
            metrics = local.consumer_metrics["Errors"]
          }
        },
        {
          type = "metric", x = 8, y = 15, width = 8, height = 6
          properties = {
            title   = "Consumer throttles"
            region  = local.region
            view    = "timeSeries"
            stat    = "Sum"
            period  = 60
            metrics = local.consumer_metrics["Throttles"]
          }
        },
        {
          type = "metric", x = 16, y = 15, width = 8, height = 6
          properties = {
            title   = "Consumer duration, ms (p99)"
            region  = local.region
            view    = "timeSeries"
            stat    = "p99"
            period  = 60
            metrics = local.consumer_metrics["Duration"]
          }
        },
      ] : [],
      local.task_widgets, # task_metrics.tf
      local.tier_widgets,
    )
  }
}

resource "aws_kms_key" "sns" {
  count = local.create_topic_key ? 1 : 0

  description             = "sqstask ${var.name}: alarm notification topic ${local.topic_name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = jsonencode(local.topic_key_policy)
  tags                    = var.tags
}

resource "aws_kms_alias" "sns" {
  count = local.create_topic_key ? 1 : 0

  name          = local.kms_alias_name
  target_key_id = aws_kms_key.sns[0].key_id
}

resource "aws_sns_topic" "this" {
  count = local.create_topic ? 1 : 0

  name              = local.topic_name
  kms_master_key_id = local.topic_kms_key
  policy            = jsonencode(local.topic_policy)
  tags              = var.tags

  lifecycle {
    precondition {
      condition     = var.sns_topic_arn == null
      error_message = "Set either sns_topic_arn (notify an existing topic) or create_sns_topic = true (create one), not both."
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = local.alarms

  alarm_name          = local.alarm_names[each.key]
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  treat_missing_data  = each.value.treat_missing_data

  actions_enabled = true
  alarm_actions   = local.actions
  ok_actions      = local.actions

  tags = var.tags
}

resource "aws_cloudwatch_dashboard" "this" {
  count = var.create_dashboard ? 1 : 0

  dashboard_name = local.dashboard_name
  dashboard_body = jsonencode(local.dashboard_body)
}
