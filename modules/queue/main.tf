# One team's FIFO task queue: the queue, its dead-letter queue, redrive in both directions,
# encryption (SQS-managed or a customer KMS key) and TLS-only queue policies.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  region     = data.aws_region.current.id
  partition  = data.aws_partition.current.partition

  dlq_name = "${var.name}-dlq.fifo"

  # Priority tiers, highest first. The default tier (`default` when listed, else the lowest)
  # is `aws_sqs_queue.main`, so a module without tiers keeps its addresses; the other tiers
  # are `aws_sqs_queue.tier`, keyed by tier name.
  default_tier     = contains(var.priorities, "default") ? "default" : var.priorities[length(var.priorities) - 1]
  tier_queue_names = { for tier in var.priorities : tier => tier == "default" ? "${var.name}.fifo" : "${var.name}-${tier}.fifo" }
  other_tiers      = { for tier, queue_name in local.tier_queue_names : tier => queue_name if tier != local.default_tier }
  queue_name       = local.tier_queue_names[local.default_tier]

  # Static ARNs are known at plan time and do not depend on the queue resources, which
  # breaks the queue <-> DLQ cycle of redrive and redrive-allow policies.
  tier_static_arns = { for tier, queue_name in local.tier_queue_names : tier => "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${queue_name}" }
  queue_static_arn = local.tier_static_arns[local.default_tier]
  dlq_static_arn   = "arn:${local.partition}:sqs:${local.region}:${local.account_id}:${local.dlq_name}"

  # The SDK counts attempts (handler runs) and dead-letters a task after max_attempts. SQS
  # counts receives, and a FIFO group's later messages are received again, unrun, each time a
  # task ahead of them fails: up to 10 messages in flight per group (a receive batch), each
  # with max_attempts runs. So the backstop allows every message of a full batch its attempts,
  # plus one more round for receives that run nothing (drains, a task table outage).
  max_receive_count = coalesce(var.max_receive_count, 10 * (var.max_attempts + 1))

  kms_alias_name = "alias/sqstask/${var.name}"
  kms_key_arn    = var.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  use_kms        = var.create_kms_key || var.kms_key_arn != null

  # High-throughput FIFO: dedup and throughput quota per message group instead of per queue.
  deduplication_scope   = var.high_throughput ? "messageGroup" : "queue"
  fifo_throughput_limit = var.high_throughput ? "perMessageGroupId" : "perQueue"

  producer_principals = distinct(var.producer_principals)
  consumer_principals = distinct(var.consumer_principals)
  operator_principals = distinct(var.operator_principals)

  # Actions per role, the same as the role's identity policy in modules/iam (what the SDK's code
  # paths call). Operators send to the main queue because redriving a task from the dead-letter
  # queue is a send (by StartMessageMoveTask or by the SDK's own redrive).
  producer_actions       = ["sqs:SendMessage"]
  consumer_actions       = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
  operator_queue_actions = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
  operator_dlq_actions = [
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibility",
    "sqs:GetQueueAttributes",
    "sqs:PurgeQueue",
    "sqs:StartMessageMoveTask",
    "sqs:ListMessageMoveTasks",
  ]

  # Resource policies. The TLS statement denies `sqs:*` to Principal "*": a Deny over every
  # action is the standard AWS pattern for enforcing aws:SecureTransport and grants nothing;
  # the no-wildcard rule is about what policies allow.
  deny_insecure_transport = {
    Sid       = "DenyInsecureTransport"
    Effect    = "Deny"
    Principal = "*"
    Action    = "sqs:*"
    Condition = { Bool = { "aws:SecureTransport" = "false" } }
  }

  # One policy per tier queue, each naming its own queue: every role covers every tier.
  queue_policies = {
    for tier, queue_arn in local.tier_static_arns : tier => {
      Version = "2012-10-17"
      Statement = concat(
        [merge(local.deny_insecure_transport, { Resource = queue_arn })],
        length(local.producer_principals) == 0 ? [] : [{
          Sid       = "AllowProducers"
          Effect    = "Allow"
          Principal = { AWS = local.producer_principals }
          Action    = local.producer_actions
          Resource  = queue_arn
        }],
        length(local.consumer_principals) == 0 ? [] : [{
          Sid       = "AllowConsumers"
          Effect    = "Allow"
          Principal = { AWS = local.consumer_principals }
          Action    = local.consumer_actions
          Resource  = queue_arn
        }],
        length(local.operator_principals) == 0 ? [] : [{
          Sid       = "AllowOperatorsToRedrive"
          Effect    = "Allow"
          Principal = { AWS = local.operator_principals }
          Action    = local.operator_queue_actions
          Resource  = queue_arn
        }],
      )
    }
  }

  dlq_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [merge(local.deny_insecure_transport, { Resource = local.dlq_static_arn })],
      length(local.consumer_principals) == 0 ? [] : [{
        # The SDK moves a task that used its max_attempts to the DLQ itself (a send).
        Sid       = "AllowConsumersToDeadLetter"
        Effect    = "Allow"
        Principal = { AWS = local.consumer_principals }
        Action    = ["sqs:SendMessage"]
        Resource  = local.dlq_static_arn
      }],
      length(local.operator_principals) == 0 ? [] : [{
        Sid       = "AllowOperators"
        Effect    = "Allow"
        Principal = { AWS = local.operator_principals }
        Action    = local.operator_dlq_actions
        Resource  = local.dlq_static_arn
      }],
    )
  }

  redrive_policy = {
    deadLetterTargetArn = local.dlq_static_arn
    maxReceiveCount     = local.max_receive_count
  }

  redrive_allow_policy = {
    redrivePermission = "byQueue"
    # Every tier dead-letters here; StartMessageMoveTask returns each message to its own source.
    sourceQueueArns = [for tier in var.priorities : local.tier_static_arns[tier]]
  }

  # Key policy of the created key. In a key policy "Resource": "*" means this key only.
  # The account-root statement is AWS's default key policy: it keeps the key manageable
  # and lets IAM policies in this account grant its use (kms:* here is administration of
  # this one key, not an IAM identity policy). No AWS service principal is named: SQS, S3,
  # DynamoDB and EventBridge Scheduler use the key with the credentials of the caller (or of the
  # scheduler role), which IAM policies of this account grant.
  # The team principals (which may be in other accounts) get what their role needs, and only
  # through the services that encrypt the team's data (kms:ViaService).
  kms_via = {
    for service in ["sqs", "s3", "dynamodb", "scheduler"] : service => "${service}.${local.region}.${local.partition == "aws-cn" ? "amazonaws.com.cn" : "amazonaws.com"}"
  }
  kms_team_statements = {
    AllowProducersToEncryptTasks = {
      principals = local.producer_principals
      actions    = ["kms:GenerateDataKey", "kms:Decrypt"]
      via        = ["sqs", "s3"]
    }
    AllowConsumersToDecryptTasks = {
      principals = local.consumer_principals
      actions    = ["kms:Decrypt"]
      via        = ["sqs", "s3", "dynamodb"]
    }
    AllowOperatorsToInspectAndRedrive = {
      principals = local.operator_principals
      actions    = ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
      via        = ["sqs", "s3", "dynamodb", "scheduler"]
    }
  }

  kms_key_policy = {
    Version = "2012-10-17"
    Statement = concat(
      [{
        Sid       = "EnableAccountAdministration"
        Effect    = "Allow"
        Principal = { AWS = "arn:${local.partition}:iam::${local.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      }],
      [
        for sid, use in local.kms_team_statements : {
          Sid       = sid
          Effect    = "Allow"
          Principal = { AWS = use.principals }
          Action    = use.actions
          Resource  = "*"
          Condition = { StringEquals = { "kms:ViaService" = [for service in use.via : local.kms_via[service]] } }
        } if length(use.principals) > 0
      ],
    )
  }
}

# --- encryption ---

resource "aws_kms_key" "this" {
  count = var.create_kms_key ? 1 : 0

  description             = "sqstask ${var.name}: task queues, task table and payload bucket"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = jsonencode(local.kms_key_policy)
  tags                    = var.tags

  lifecycle {
    precondition {
      condition     = var.kms_key_arn == null
      error_message = "Set either kms_key_arn (use an existing key) or create_kms_key = true (create one), not both."
    }
  }
}

resource "aws_kms_alias" "this" {
  count = var.create_kms_key ? 1 : 0

  name          = local.kms_alias_name
  target_key_id = aws_kms_key.this[0].key_id
}

# --- queues ---

resource "aws_sqs_queue" "dlq" {
  name       = local.dlq_name
  fifo_queue = true

  content_based_deduplication = var.content_based_deduplication
  deduplication_scope         = local.deduplication_scope
  fifo_throughput_limit       = local.fifo_throughput_limit

  message_retention_seconds  = var.dlq_message_retention_seconds
  max_message_size           = var.max_message_size
  visibility_timeout_seconds = var.visibility_timeout_seconds
  receive_wait_time_seconds  = var.receive_wait_time_seconds

  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? var.kms_data_key_reuse_period_seconds : null

  policy = jsonencode(local.dlq_policy)

  tags = var.tags
}

resource "aws_sqs_queue" "main" {
  name       = local.queue_name
  fifo_queue = true

  content_based_deduplication = var.content_based_deduplication
  deduplication_scope         = local.deduplication_scope
  fifo_throughput_limit       = local.fifo_throughput_limit

  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  max_message_size           = var.max_message_size
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  delay_seconds              = var.delay_seconds

  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? var.kms_data_key_reuse_period_seconds : null

  policy = jsonencode(local.queue_policies[local.default_tier])

  tags = var.tags
}

# The other priority tiers: the same settings as the main queue.
resource "aws_sqs_queue" "tier" {
  for_each = local.other_tiers

  name       = each.value
  fifo_queue = true

  content_based_deduplication = var.content_based_deduplication
  deduplication_scope         = local.deduplication_scope
  fifo_throughput_limit       = local.fifo_throughput_limit

  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  max_message_size           = var.max_message_size
  receive_wait_time_seconds  = var.receive_wait_time_seconds
  delay_seconds              = var.delay_seconds

  sqs_managed_sse_enabled           = local.use_kms ? null : true
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = local.use_kms ? var.kms_data_key_reuse_period_seconds : null

  policy = jsonencode(local.queue_policies[each.key])

  tags = var.tags
}

# Each queue is created with its queue policy (built from its static ARN), so it never exists
# without TLS enforcement and needs no second write for it. Redrive and redrive-allow name the
# other queue, which SQS wants to exist, so each is one write after both queues exist: one
# SetQueueAttributes per queue after creation (SQS takes up to 60 s to propagate a change, and
# parallel writes to one queue can lose one of them), and the queues are created in parallel.
resource "aws_sqs_queue_redrive_policy" "this" {
  queue_url      = aws_sqs_queue.main.url
  redrive_policy = jsonencode(local.redrive_policy)

  depends_on = [aws_sqs_queue.dlq]
}

resource "aws_sqs_queue_redrive_policy" "tier" {
  for_each = aws_sqs_queue.tier

  queue_url      = each.value.url
  redrive_policy = jsonencode(local.redrive_policy)

  depends_on = [aws_sqs_queue.dlq]
}

resource "aws_sqs_queue_redrive_allow_policy" "this" {
  queue_url            = aws_sqs_queue.dlq.url
  redrive_allow_policy = jsonencode(local.redrive_allow_policy)

  depends_on = [aws_sqs_queue.main, aws_sqs_queue.tier]
}

# Queue policies used to be separate resources. Forget them without destroying: deleting one
# would clear the policy the queue itself now sets.
removed {
  from = aws_sqs_queue_policy.main
  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_sqs_queue_policy.tier
  lifecycle {
    destroy = false
  }
}

removed {
  from = aws_sqs_queue_policy.dlq
  lifecycle {
    destroy = false
  }
}
