# Consumers, IAM and alarms: Lambda triggers on the queue, least-privilege policies (and
# optional roles) per team, and the alarms and dashboard on-call people read. Inputs are in the
# "consumers, IAM and alarms" sections of variables.tf, outputs in that of outputs.tf.

locals {
  # Partition, region and account of this deployment, read from the queue's static ARN
  # (arn:<partition>:sqs:<region>:<account-id>:<name>.fifo), so that policies can name the task
  # table and payload bucket at plan time, like the queues.
  deployment_arn_parts = split(":", module.queue.queue_static_arn)
  deployment_partition = local.deployment_arn_parts[1]
  deployment_region    = local.deployment_arn_parts[3]
  deployment_account   = local.deployment_arn_parts[4]

  table_static_arn = "arn:${local.deployment_partition}:dynamodb:${local.deployment_region}:${local.deployment_account}:table/${module.task_state.table_name}"
  payload_bucket_static_arn = (
    module.task_state.payload_bucket_name == null ? null : "arn:${local.deployment_partition}:s3:::${module.task_state.payload_bucket_name}"
  )

  # Static ARNs of the schedule group and scheduler role (null when not created), for the same reason.
  schedule_group_static_arn = (
    module.schedules.schedule_group_name == null ? null : "arn:${local.deployment_partition}:scheduler:${local.deployment_region}:${local.deployment_account}:schedule-group/${module.schedules.schedule_group_name}"
  )
  scheduler_role_static_arn = (
    module.schedules.scheduler_role_name == null ? null : "arn:${local.deployment_partition}:iam::${local.deployment_account}:role/${module.schedules.scheduler_role_name}"
  )

  # The names `sqstask alarms` reads from sdk_config, in a stable order.
  operations_alarm_names = var.alarms.enabled ? [for key in sort(keys(module.alarms[0].alarm_names)) : module.alarms[0].alarm_names[key]] : []
}

module "lambda_trigger" {
  source = "./modules/lambda-trigger"

  name = var.name
  tags = var.tags

  # The queue's resource ARN, not the static one: a mapping can only be created once the
  # queue exists.
  queue_arn                        = module.queue.queue_arn
  queue_visibility_timeout_seconds = module.queue.visibility_timeout_seconds
  kms_key_arn                      = module.queue.kms_key_arn
  table_arn                        = local.table_static_arn
  payload_bucket_arn               = local.payload_bucket_static_arn
  payload_prefix                   = module.task_state.payload_prefix

  consumers = var.consumers

  # The other priority tiers' queues (resource ARNs, like queue_arn).
  default_priority    = module.queue.default_priority
  priority_queue_arns = { for tier, arn in module.queue.priority_queue_arns : tier => arn if tier != module.queue.default_priority }
}

module "alarms" {
  source = "./modules/alarms"
  count  = var.alarms.enabled ? 1 : 0

  name = var.name
  tags = var.tags

  queue_name              = module.queue.queue_name
  dlq_name                = module.queue.dlq_name
  priority_queue_names    = { for tier, queue in module.queue.priority_queue_names : tier => queue if tier != module.queue.default_priority }
  consumer_function_names = module.lambda_trigger.function_names
  # Scheduler's dead-letter queue is a standard queue: its name is the last part of its ARN.
  schedule_dlq_name = module.schedules.dead_letter_arn == null ? null : element(split(":", module.schedules.dead_letter_arn), 5)

  dlq_not_empty      = var.alarms.dlq_not_empty
  oldest_message_age = var.alarms.oldest_message_age
  backlog            = var.alarms.backlog
  consumer_errors    = var.alarms.consumer_errors
  consumer_throttles = var.alarms.consumer_throttles
  producer_stopped   = var.alarms.producer_stopped

  # Alarms and widgets on the SDK's task metrics (none when the SDK writes none).
  metrics_namespace = var.metrics.enabled ? var.metrics.namespace : null
  failure_rate      = var.alarms.failure_rate
  task_latency      = var.alarms.task_latency
  stuck_consumer    = var.alarms.stuck_consumer

  sns_topic_arn    = var.alarms.sns_topic_arn
  create_sns_topic = var.alarms.create_sns_topic
  kms_key_arn      = var.alarms.sns_kms_key_arn
  create_dashboard = var.alarms.create_dashboard
}

module "iam" {
  source = "./modules/iam"
  count  = var.iam.enabled ? 1 : 0

  name = var.name
  tags = var.tags

  queue_arn = module.queue.queue_static_arn
  dlq_arn   = module.queue.dlq_static_arn
  # The other priority tiers, highest first.
  priority_queue_arns = [for tier in module.queue.priorities : module.queue.priority_queue_static_arns[tier] if tier != module.queue.default_priority]
  queue_name          = module.queue.queue_name
  dlq_name            = module.queue.dlq_name
  kms_key_arn         = module.queue.kms_key_arn
  table_arn           = local.table_static_arn
  payload_bucket_arn  = local.payload_bucket_static_arn
  payload_prefix      = module.task_state.payload_prefix
  alarm_arns          = var.alarms.enabled ? [for key in sort(keys(module.alarms[0].alarm_static_arns)) : module.alarms[0].alarm_static_arns[key]] : []

  schedule_group_arn = local.schedule_group_static_arn
  scheduler_role_arn = local.scheduler_role_static_arn

  consumer_allow_chaining  = var.iam.consumer_allow_chaining
  create_roles             = var.iam.create_roles
  trusted_principal_arns   = var.iam.trusted_principal_arns
  trusted_services         = var.iam.trusted_services
  external_id              = var.iam.external_id
  permissions_boundary_arn = var.iam.permissions_boundary_arn
}
