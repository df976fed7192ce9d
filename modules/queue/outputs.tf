output "queue_arn" {
  description = "ARN of the FIFO task queue."
  value       = aws_sqs_queue.main.arn
}

output "queue_url" {
  description = "URL of the FIFO task queue."
  value       = aws_sqs_queue.main.url
}

output "queue_name" {
  description = "Name of the FIFO task queue (`<name>.fifo`)."
  value       = aws_sqs_queue.main.name
}

output "queue_static_arn" {
  description = "ARN of the task queue built from partition, region, account and name: known at plan time, for policies that must not depend on the queue resource."
  value       = local.queue_static_arn
}

output "dlq_arn" {
  description = "ARN of the dead-letter queue."
  value       = aws_sqs_queue.dlq.arn
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = aws_sqs_queue.dlq.url
}

output "dlq_name" {
  description = "Name of the dead-letter queue (`<name>-dlq.fifo`)."
  value       = aws_sqs_queue.dlq.name
}

output "dlq_static_arn" {
  description = "ARN of the dead-letter queue built from partition, region, account and name: known at plan time."
  value       = local.dlq_static_arn
}

output "kms_key_arn" {
  description = "ARN of the customer managed KMS key encrypting the queues (given or created); null when the queues use SQS-managed encryption."
  value       = local.kms_key_arn
}

output "kms_key_alias" {
  description = "Alias of the KMS key the module created (`alias/sqstask/<name>`); null when it created none."
  value       = var.create_kms_key ? aws_kms_alias.this[0].name : null
}

output "visibility_timeout_seconds" {
  description = "Visibility timeout of the task queue, in seconds."
  value       = aws_sqs_queue.main.visibility_timeout_seconds
}

output "max_message_size" {
  description = "Largest message body the task queue accepts, in bytes."
  value       = aws_sqs_queue.main.max_message_size
}

output "max_receive_count" {
  description = "The redrive backstop: receives after which SQS moves a message to the dead-letter queue (given, or derived from max_attempts)."
  value       = local.max_receive_count
}

output "max_attempts" {
  description = "Handler runs per task id before the SDK moves the task to the dead-letter queue."
  value       = var.max_attempts
}

output "message_retention_seconds" {
  description = "Seconds the task queue keeps a task; the payload bucket's expiry must be longer."
  # The input, not the queue's attribute: the payload bucket's lifecycle rule (which the
  # provider takes about a minute to confirm) then need not wait for the queue to exist.
  value = var.message_retention_seconds
}

output "dlq_message_retention_seconds" {
  description = "Seconds the dead-letter queue keeps a task (its retention restarts there, FIFO); the payload bucket's expiry must outlast this plus the queue's."
  value       = var.dlq_message_retention_seconds
}

# --- priority tiers ---

output "priorities" {
  description = "Priority tiers, highest first."
  value       = var.priorities
}

output "default_priority" {
  description = "The default tier: where tasks sent without a priority go; the `queue_*` outputs name its queue."
  value       = local.default_tier
}

output "priority_queue_names" {
  description = "Queue name of every priority tier, by tier (the default tier included)."
  value       = merge({ (local.default_tier) = aws_sqs_queue.main.name }, { for tier, queue in aws_sqs_queue.tier : tier => queue.name })
}

output "priority_queue_urls" {
  description = "Queue URL of every priority tier, by tier (the default tier included)."
  value       = merge({ (local.default_tier) = aws_sqs_queue.main.url }, { for tier, queue in aws_sqs_queue.tier : tier => queue.url })
}

output "priority_queue_arns" {
  description = "Queue ARN of every priority tier, by tier (the default tier included)."
  value       = merge({ (local.default_tier) = aws_sqs_queue.main.arn }, { for tier, queue in aws_sqs_queue.tier : tier => queue.arn })
}

output "priority_queue_static_arns" {
  description = "Static ARN (known at plan time) of every priority tier's queue, by tier."
  value       = local.tier_static_arns
}
