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
  description = "JSON the SDK reads as-is: set it as `SQSTASK_CONFIG` for task code (keys: name, region, queue_url, queue_arn, dlq_url, dlq_arn, idempotency_table, payload_bucket, visibility_timeout, max_message_size, alarm_names, schedule_group, scheduler_role_arn)."
  value       = jsonencode(local.sdk_config)
}

# --- consumers, IAM and alarms ---

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
