# Outputs of the root module, by part.

# --- queue ---

output "queue_url" {
  description = "URL of the FIFO task queue."
  value       = module.queue.queue_url
}

output "queue_arn" {
  description = "ARN of the FIFO task queue."
  value       = module.queue.queue_arn
}

output "queue_name" {
  description = "Name of the FIFO task queue (`<name>.fifo`)."
  value       = module.queue.queue_name
}

output "queue_static_arn" {
  description = "ARN of the task queue built from partition, region, account and name (known at plan time)."
  value       = module.queue.queue_static_arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.queue.dlq_url
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = module.queue.dlq_arn
}

output "dlq_name" {
  description = "Name of the dead-letter queue (`<name>-dlq.fifo`)."
  value       = module.queue.dlq_name
}

output "dlq_static_arn" {
  description = "ARN of the dead-letter queue built from partition, region, account and name (known at plan time)."
  value       = module.queue.dlq_static_arn
}

output "kms_key_arn" {
  description = "ARN of the customer managed KMS key in use (given or created); null with SQS-managed encryption."
  value       = module.queue.kms_key_arn
}

# --- priorities ---

output "priorities" {
  description = "Priority tiers, highest first."
  value       = module.queue.priorities
}

output "default_priority" {
  description = "The default tier: tasks sent without a priority go there, and `queue_*` outputs name its queue."
  value       = module.queue.default_priority
}

output "priority_queue_urls" {
  description = "Queue URL of every priority tier, by tier."
  value       = module.queue.priority_queue_urls
}

output "priority_queue_arns" {
  description = "Queue ARN of every priority tier, by tier."
  value       = module.queue.priority_queue_arns
}

output "priority_queue_names" {
  description = "Queue name of every priority tier, by tier (`<name>.fifo` for `default`, `<name>-<tier>.fifo` for the others)."
  value       = module.queue.priority_queue_names
}

# --- task state ---

output "table_name" {
  description = "Name of the DynamoDB task table (idempotency and task status)."
  value       = module.task_state.table_name
}

output "table_arn" {
  description = "ARN of the DynamoDB task table."
  value       = module.task_state.table_arn
}

output "payload_bucket_name" {
  description = "Name of the payload bucket; null when `create_payload_bucket` is false."
  value       = module.task_state.payload_bucket_name
}

output "payload_bucket_arn" {
  description = "ARN of the payload bucket; null when `create_payload_bucket` is false."
  value       = module.task_state.payload_bucket_arn
}

# --- SDK configuration ---

output "sdk_config" {
  description = "JSON the SDK reads as-is: set it as `SQSTASK_CONFIG` for task code (keys: name, region, queue_url, queue_arn, dlq_url, dlq_arn, idempotency_table, payload_bucket, visibility_timeout, max_message_size, alarm_names, schedule_group, scheduler_role_arn, schedule_dead_letter_arn, metrics, metrics_namespace, priorities, default_priority, priority_queue_urls)."
  value       = jsonencode(local.sdk_config)
}

# --- consumers, IAM and alarms ---

output "lambda_consumer_policy_arns" {
  description = "ARN of each Lambda consumer's policy (`<name>-lambda-<consumer>`), by consumer name."
  value       = module.lambda_trigger.consumer_policy_arns
}

output "event_source_mapping_uuids" {
  description = "UUID of each Lambda consumer's event source mapping, by consumer name."
  value       = module.lambda_trigger.event_source_mapping_uuids
}

output "priority_event_source_mapping_uuids" {
  description = "UUID of each Lambda consumer's event source mapping on each priority tier it serves: consumer => tier => UUID."
  value       = module.lambda_trigger.priority_event_source_mapping_uuids
}

output "producer_policy_arn" {
  description = "ARN of the producer policy `<name>-producer`; null when `iam.enabled` is false."
  value       = one(module.iam[*].producer_policy_arn)
}

output "consumer_policy_arn" {
  description = "ARN of the consumer policy `<name>-consumer` (workers and other non-Lambda consumers); null when `iam.enabled` is false."
  value       = one(module.iam[*].consumer_policy_arn)
}

output "operator_policy_arn" {
  description = "ARN of the operator policy `<name>-operator` (DLQ inspection and redrive, status, alarms); null when `iam.enabled` is false."
  value       = one(module.iam[*].operator_policy_arn)
}

output "producer_policy_json" {
  description = "The producer policy document as JSON (known at plan time, for review and tests); null when `iam.enabled` is false."
  value       = one(module.iam[*].producer_policy_json)
}

output "consumer_policy_json" {
  description = "The consumer policy document as JSON (known at plan time, for review and tests); null when `iam.enabled` is false."
  value       = one(module.iam[*].consumer_policy_json)
}

output "operator_policy_json" {
  description = "The operator policy document as JSON (known at plan time, for review and tests); null when `iam.enabled` is false."
  value       = one(module.iam[*].operator_policy_json)
}

output "lambda_consumer_policy_json" {
  description = "Each Lambda consumer's policy document as JSON, by consumer name."
  value       = module.lambda_trigger.consumer_policy_json
}

output "producer_role_arn" {
  description = "ARN of the producer role; null unless `iam.create_roles` and producer principals are given."
  value       = one(module.iam[*].producer_role_arn)
}

output "consumer_role_arn" {
  description = "ARN of the consumer role; null unless `iam.create_roles` and consumer principals are given."
  value       = one(module.iam[*].consumer_role_arn)
}

output "operator_role_arn" {
  description = "ARN of the operator role; null unless `iam.create_roles` and operator principals are given."
  value       = one(module.iam[*].operator_role_arn)
}

output "alarm_names" {
  description = "CloudWatch alarm names by alarm key (dlq-not-empty, oldest-message-age, backlog, producer-stopped, <tier>-oldest-message-age, <tier>-backlog, <consumer>-errors, <consumer>-throttles); empty when `alarms.enabled` is false."
  value       = var.alarms.enabled ? module.alarms[0].alarm_names : {}
}

output "alarm_arns" {
  description = "CloudWatch alarm ARNs keyed like alarm_names; empty when `alarms.enabled` is false."
  value       = var.alarms.enabled ? module.alarms[0].alarm_arns : {}
}

output "alarm_sns_topic_arn" {
  description = "ARN of the topic that receives alarm notifications (given or created); null when there is none."
  value       = one(module.alarms[*].sns_topic_arn)
}

output "dashboard_name" {
  description = "Name of the team's CloudWatch dashboard (`<name>-tasks`); null when not created."
  value       = one(module.alarms[*].dashboard_name)
}

# --- schedules ---

output "schedule_group_name" {
  description = "EventBridge Scheduler group of the team's schedules and delayed sends (`<name>`); null when `create_schedule_group` is false."
  value       = module.schedules.schedule_group_name
}

output "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler assumes to send tasks (`<name>-scheduler`); producers using `send_at` need iam:PassRole on it. Null when not created."
  value       = module.schedules.scheduler_role_arn
}

output "schedule_arns" {
  description = "ARN of each schedule, by schedule name."
  value       = module.schedules.schedule_arns
}

output "schedule_dead_letter_arn" {
  description = "ARN of the standard queue receiving undeliverable schedule runs (given or created); null when there is none."
  value       = module.schedules.dead_letter_arn
}

output "schedule_dead_letter_url" {
  description = "URL of the created `<name>-schedule-dlq`; null when not created."
  value       = module.schedules.dead_letter_url
}
