# sqstask: one team's task pipeline on SQS FIFO. This root module wires the parts in
# modules/; each part has its own section below (and its own sections in variables.tf and
# outputs.tf). Parts talk only through module outputs.

data "aws_region" "current" {}

# --- queue -------------------------------------------------------------------------------

module "queue" {
  source = "./modules/queue"

  name = var.name
  tags = var.tags

  visibility_timeout_seconds  = var.visibility_timeout_seconds
  message_retention_seconds   = var.message_retention_seconds
  max_message_size            = var.max_message_size
  delay_seconds               = var.delay_seconds
  max_receive_count           = var.max_receive_count
  content_based_deduplication = var.content_based_deduplication
  high_throughput             = var.high_throughput

  priorities = var.priorities

  kms_key_arn    = var.kms_key_arn
  create_kms_key = var.create_kms_key

  producer_principals = var.producer_principals
  consumer_principals = var.consumer_principals
  operator_principals = var.operator_principals
}

# --- task state --------------------------------------------------------------------------

module "task_state" {
  source = "./modules/task-state"

  name = var.name
  tags = var.tags

  # The queue's key (given or created), so everything a task touches is encrypted alike.
  kms_key_arn = module.queue.kms_key_arn

  deletion_protection_enabled     = var.table_deletion_protection
  create_payload_bucket           = var.create_payload_bucket
  payload_bucket_name             = var.payload_bucket_name
  payload_expiration_days         = var.payload_expiration_days
  payload_bucket_force_destroy    = var.payload_bucket_force_destroy
  queue_message_retention_seconds = module.queue.message_retention_seconds
  dlq_message_retention_seconds   = module.queue.dlq_message_retention_seconds
}

# --- SDK configuration ---------------------------------------------------------------------

locals {
  # Filled in by the alarms and schedules sections when those parts are wired in.
  sdk_alarm_names        = local.operations_alarm_names
  sdk_schedule_group     = module.schedules.schedule_group_name
  sdk_scheduler_role_arn = module.schedules.scheduler_role_arn
  # Delayed sends (send_at) get the same dead-letter queue as the recurring schedules.
  sdk_schedule_dead_letter_arn = module.schedules.schedule_group_name == null ? null : module.schedules.dead_letter_arn

  # Read as-is by the SDK (`SQSTASK_CONFIG`, `sqstask.QueueConfig.from_json`).
  sdk_config = {
    name               = var.name
    region             = data.aws_region.current.id
    queue_url          = module.queue.queue_url
    queue_arn          = module.queue.queue_arn
    dlq_url            = module.queue.dlq_url
    dlq_arn            = module.queue.dlq_arn
    idempotency_table  = module.task_state.table_name
    payload_bucket     = module.task_state.payload_bucket_name
    visibility_timeout = module.queue.visibility_timeout_seconds
    max_message_size   = module.queue.max_message_size
    alarm_names        = local.sdk_alarm_names
    schedule_group     = local.sdk_schedule_group
    scheduler_role_arn = local.sdk_scheduler_role_arn
    metrics            = var.metrics.enabled
    metrics_namespace  = var.metrics.namespace

    schedule_dead_letter_arn = local.sdk_schedule_dead_letter_arn

    # Priority tiers, highest first, and each tier's queue (`send(..., priority=)`, Worker).
    priorities          = module.queue.priorities
    default_priority    = module.queue.default_priority
    priority_queue_urls = module.queue.priority_queue_urls
  }
}

# --- consumers, IAM and alarms -------------------------------------------------------------

# Module blocks in operations.tf: lambda_trigger, alarms, iam.

# --- schedules -----------------------------------------------------------------------------
