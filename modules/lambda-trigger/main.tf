# Lambda consumers of one team's FIFO task queue: an event source mapping per consumer with
# partial batch failures always on, the least-privilege policy each consumer's execution role
# needs, and a plan-time guard on the visibility timeout / function timeout ratio.

locals {
  # AWS guidance for SQS event sources: queue visibility timeout >= 6 x function timeout, so
  # that a batch retried after throttling or a slow invocation is not redelivered while it is
  # still being processed.
  visibility_to_timeout_ratio = 6

  # Function timeouts: the one given, or the one the function has (read only when not given,
  # so a function created in the same configuration can pass its timeout instead).
  function_timeouts = {
    for key, consumer in var.consumers : key => (
      consumer.timeout_seconds != null ? consumer.timeout_seconds : data.aws_lambda_function.this[key].timeout
    )
  }

  # CloudWatch's FunctionName dimension is the bare function name, without ARN or qualifier.
  function_names = {
    for key, consumer in var.consumers : key => (
      startswith(consumer.function_name, "arn:")
      ? split(":", consumer.function_name)[6]
      : split(":", consumer.function_name)[0]
    )
  }

  policy_names = { for key in keys(var.consumers) : key => "${var.name}-lambda-${key}" }

  # The services that use the team key on the function's behalf (kms:ViaService values).
  queue_arn_parts = split(":", var.queue_arn)
  kms_via_services = [
    for service in concat(["sqs"], var.table_arn == null ? [] : ["dynamodb"], var.payload_bucket_arn == null ? [] : ["s3"]) :
    "${service}.${local.queue_arn_parts[3]}.${local.queue_arn_parts[1] == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"}"
  ]


  # Priority tiers: the queue of each tier, the tiers each consumer serves (every tier unless
  # it names some), and one mapping per consumer and served tier other than the default tier
  # (the default tier's mapping is `this`, keyed by consumer name as before tiers existed).
  tier_queue_arns = merge({ (var.default_priority) = var.queue_arn }, var.priority_queue_arns)
  served_tiers = {
    for key, consumer in var.consumers : key => (
      consumer.priorities == null ? concat([var.default_priority], sort(keys(var.priority_queue_arns))) : distinct(consumer.priorities)
    )
  }
  default_tier_consumers = { for key, consumer in var.consumers : key => consumer if contains(local.served_tiers[key], var.default_priority) }
  tier_mappings = merge([
    for key, consumer in var.consumers : {
      for tier in local.served_tiers[key] : "${key}/${tier}" => {
        consumer            = key
        tier                = tier
        settings            = consumer
        maximum_concurrency = lookup(consumer.priority_maximum_concurrency, tier, consumer.maximum_concurrency)
      } if tier != var.default_priority
    }
  ]...)

  # What a consumer's mappings may run at once, over every tier it serves (null: a mapping is
  # uncapped). The function's reserved concurrency must cover the sum.
  capped_concurrency = {
    for key, consumer in var.consumers : key => (
      anytrue([for tier in local.served_tiers[key] : lookup(consumer.priority_maximum_concurrency, tier, consumer.maximum_concurrency) == null])
      ? null
      : sum([for tier in local.served_tiers[key] : lookup(consumer.priority_maximum_concurrency, tier, consumer.maximum_concurrency)])
    )
  }

  # A single queue stays a plain string, as before tiers (jsondecode unifies string and list).
  served_queues = {
    for key in keys(var.consumers) : key => jsondecode(
      length(local.served_tiers[key]) == 1 ? jsonencode(local.tier_queue_arns[local.served_tiers[key][0]]) : jsonencode([for tier in local.served_tiers[key] : local.tier_queue_arns[tier]])
    )
  }
  all_queues = jsondecode(length(local.tier_queue_arns) == 1 ? jsonencode(var.queue_arn) : jsonencode(concat([var.queue_arn], [for tier in sort(keys(var.priority_queue_arns)) : var.priority_queue_arns[tier]])))

  # What a Lambda consumer needs and nothing more. Lambda's poller receives, deletes and reads
  # queue attributes with the function's role (Lambda developer guide, SQS execution role);
  # batch_handler reads the redrive policy. No heartbeat: the visibility timeout is at least
  # 6 x the function timeout, so a running batch never needs its visibility extended.
  # Each consumer reads the tiers it serves; a follow-up task may go to any tier.
  chain_statement = {
    Sid      = "EnqueueFollowUpTasks"
    Effect   = "Allow"
    Action   = ["sqs:SendMessage"]
    Resource = local.all_queues
  }
  table_statements = var.table_arn == null ? [] : [{
    Sid    = "RecordTaskState"
    Effect = "Allow"
    # Claim, complete, fail and renew are conditional UpdateItems that return what they need.
    Action   = ["dynamodb:UpdateItem"]
    Resource = var.table_arn
  }]
  payload_statements = var.payload_bucket_arn == null ? [] : [{
    Sid      = "ReadLargePayloads"
    Effect   = "Allow"
    Action   = ["s3:GetObject"]
    Resource = "${var.payload_bucket_arn}/${var.payload_prefix}*"
  }]

  consumer_policies = {
    for key, consumer in var.consumers : key => {
      Version = "2012-10-17"
      Statement = concat(
        [{
          Sid      = "ConsumeTaskQueue"
          Effect   = "Allow"
          Action   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"]
          Resource = local.served_queues[key]
        }],
        consumer.allow_chaining ? [local.chain_statement] : [],
        var.kms_key_arn == null ? [] : [{
          Sid      = "UseQueueKey"
          Effect   = "Allow"
          Action   = ["kms:Decrypt"]
          Resource = var.kms_key_arn
          # Only as SSE of the queue, task table and payload bucket: not to decrypt other data.
          Condition = { StringEquals = { "kms:ViaService" = local.kms_via_services } }
        }],
        # Sending a follow-up task encrypts it: a data key, through SQS only.
        var.kms_key_arn != null && consumer.allow_chaining ? [{
          Sid       = "EncryptFollowUpTasks"
          Effect    = "Allow"
          Action    = ["kms:GenerateDataKey"]
          Resource  = var.kms_key_arn
          Condition = { StringEquals = { "kms:ViaService" = [local.kms_via_services[0]] } }
        }] : [],
        local.table_statements,
        local.payload_statements,
      )
    }
  }

  attached_roles = { for key, consumer in var.consumers : key => consumer.role_name if consumer.role_name != null }
}

data "aws_lambda_function" "this" {
  for_each = { for key, consumer in var.consumers : key => consumer if consumer.timeout_seconds == null }

  function_name = each.value.function_name
}

resource "aws_iam_policy" "consumer" {
  for_each = var.consumers

  name        = local.policy_names[each.key]
  description = "sqstask ${var.name}: Lambda consumer ${each.key} reads and acknowledges tasks from ${var.queue_arn}"
  policy      = jsonencode(local.consumer_policies[each.key])
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "consumer" {
  for_each = local.attached_roles

  role       = each.value
  policy_arn = aws_iam_policy.consumer[each.key].arn
}

resource "aws_lambda_event_source_mapping" "this" {
  for_each = local.default_tier_consumers

  event_source_arn = var.queue_arn
  function_name    = each.value.function_name
  enabled          = each.value.enabled
  batch_size       = each.value.batch_size

  # Always on: the handler reports failed records ({"batchItemFailures": [...]}) so only those
  # are retried; without it one failure would redeliver the whole batch. No batching window:
  # FIFO event sources do not support maximum_batching_window_in_seconds.
  function_response_types = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = each.value.maximum_concurrency == null ? [] : [each.value.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  # On by default: the mapping's EventCount metrics (AWS/Lambda, by EventSourceMappingUUID) show
  # what was polled, filtered out, invoked and dropped before any task code runs.
  dynamic "metrics_config" {
    for_each = each.value.event_metrics ? [["EventCount"]] : []
    content {
      metrics = metrics_config.value
    }
  }

  # Provisioned mode: pollers kept ready for bursts (validated not to meet maximum_concurrency).
  dynamic "provisioned_poller_config" {
    for_each = each.value.provisioned_poller_config == null ? [] : [each.value.provisioned_poller_config]
    content {
      minimum_pollers = provisioned_poller_config.value.minimum_pollers
      maximum_pollers = provisioned_poller_config.value.maximum_pollers
    }
  }

  dynamic "filter_criteria" {
    for_each = length(each.value.filter_patterns) == 0 ? [] : [each.value.filter_patterns]
    content {
      dynamic "filter" {
        for_each = filter_criteria.value
        content {
          pattern = filter.value
        }
      }
    }
  }

  tags = var.tags

  # Lambda checks the execution role's SQS permissions when the mapping is created.
  depends_on = [aws_iam_role_policy_attachment.consumer]

  lifecycle {
    precondition {
      condition     = var.queue_visibility_timeout_seconds >= local.visibility_to_timeout_ratio * local.function_timeouts[each.key]
      error_message = "Consumer \"${each.key}\" (function ${each.value.function_name}) has a ${local.function_timeouts[each.key]} s timeout, but the queue visibility timeout is ${var.queue_visibility_timeout_seconds} s. The visibility timeout must be at least ${local.visibility_to_timeout_ratio} x the function timeout (${local.visibility_to_timeout_ratio * local.function_timeouts[each.key]} s here; AWS guidance for SQS event sources), or batches retried after throttling are redelivered while still being processed. Raise the queue's visibility_timeout_seconds to at least ${local.visibility_to_timeout_ratio * local.function_timeouts[each.key]}, or lower the function timeout to at most ${floor(var.queue_visibility_timeout_seconds / local.visibility_to_timeout_ratio)} s."
    }
  }
}

# The mappings on the other priority tiers: the same settings, the tier's queue, and the
# tier's own maximum concurrency, so urgent work keeps capacity when a low tier is flooded.
resource "aws_lambda_event_source_mapping" "tier" {
  for_each = local.tier_mappings

  event_source_arn        = var.priority_queue_arns[each.value.tier]
  function_name           = each.value.settings.function_name
  enabled                 = each.value.settings.enabled
  batch_size              = each.value.settings.batch_size
  function_response_types = ["ReportBatchItemFailures"]

  dynamic "scaling_config" {
    for_each = each.value.maximum_concurrency == null ? [] : [each.value.maximum_concurrency]
    content {
      maximum_concurrency = scaling_config.value
    }
  }

  dynamic "metrics_config" {
    for_each = each.value.settings.event_metrics ? [["EventCount"]] : []
    content {
      metrics = metrics_config.value
    }
  }

  dynamic "provisioned_poller_config" {
    for_each = each.value.settings.provisioned_poller_config == null ? [] : [each.value.settings.provisioned_poller_config]
    content {
      minimum_pollers = provisioned_poller_config.value.minimum_pollers
      maximum_pollers = provisioned_poller_config.value.maximum_pollers
    }
  }

  dynamic "filter_criteria" {
    for_each = length(each.value.settings.filter_patterns) == 0 ? [] : [each.value.settings.filter_patterns]
    content {
      dynamic "filter" {
        for_each = filter_criteria.value
        content {
          pattern = filter.value
        }
      }
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy_attachment.consumer]

  lifecycle {
    precondition {
      condition     = var.queue_visibility_timeout_seconds >= local.visibility_to_timeout_ratio * local.function_timeouts[each.value.consumer]
      error_message = "Consumer \"${each.value.consumer}\" (function ${each.value.settings.function_name}) has a ${local.function_timeouts[each.value.consumer]} s timeout, but the queue visibility timeout is ${var.queue_visibility_timeout_seconds} s. The visibility timeout must be at least ${local.visibility_to_timeout_ratio} x the function timeout (${local.visibility_to_timeout_ratio * local.function_timeouts[each.value.consumer]} s here)."
    }
  }
}

# A warning, not an error: a mapping whose maximum_concurrency exceeds the function's reserved
# concurrency gets its invocations throttled (they return to the queue and count as receives).
check "reserved_concurrency_covers_maximum_concurrency" {
  assert {
    condition = alltrue([
      for key, fn in data.aws_lambda_function.this :
      local.capped_concurrency[key] == null || fn.reserved_concurrent_executions < 0 || fn.reserved_concurrent_executions >= coalesce(local.capped_concurrency[key], 0)
    ])
    error_message = "A consumer's maximum_concurrency (summed over the priority tiers it serves) is above its function's reserved concurrency (${join(", ", [for key, fn in data.aws_lambda_function.this : "${key}: reserved ${fn.reserved_concurrent_executions}, maximum_concurrency ${local.capped_concurrency[key]}" if local.capped_concurrency[key] != null && fn.reserved_concurrent_executions >= 0 && fn.reserved_concurrent_executions < coalesce(local.capped_concurrency[key], 0)])}). Raise reserved_concurrent_executions on the function or lower maximum_concurrency, or invocations will be throttled."
  }
}
