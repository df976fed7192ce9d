output "schedule_group_name" {
  description = "Name of the team's EventBridge Scheduler schedule group (`<name>`); null when not created. The SDK's `schedule_group`."
  value       = var.create ? aws_scheduler_schedule_group.this[0].name : null
}

output "schedule_group_arn" {
  description = "ARN of the schedule group; null when not created."
  value       = var.create ? aws_scheduler_schedule_group.this[0].arn : null
}

output "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler assumes to send to the queue (`<name>-scheduler`); null when not created. The SDK's `scheduler_role_arn`: producers calling `TaskQueue.send_at` need iam:PassRole on it."
  value       = var.create ? aws_iam_role.scheduler[0].arn : null
}

output "scheduler_role_name" {
  description = "Name of the scheduler role; null when not created."
  value       = var.create ? aws_iam_role.scheduler[0].name : null
}

output "scheduler_role_policy_json" {
  description = "The scheduler role's permissions (JSON): sqs:SendMessage on the queue and the schedule dead-letter queue, KMS data keys on the queue's key only."
  value       = var.create ? jsonencode(local.role_policy) : null
}

output "schedule_arns" {
  description = "ARN of each schedule, by schedule name."
  value       = { for k, s in aws_scheduler_schedule.this : k => s.arn }
}

output "schedule_names" {
  description = "Names of the schedules created from `schedules` (sorted)."
  value       = sort(keys(aws_scheduler_schedule.this))
}

output "dead_letter_arn" {
  description = "ARN of the standard queue that receives invocations Scheduler could not deliver (given or created); null when there is none."
  value       = var.create ? local.dead_letter_arn : null
}

output "dead_letter_url" {
  description = "URL of the schedule dead-letter queue this module created (`<name>-schedule-dlq`); null when not created."
  value       = local.create_dlq ? aws_sqs_queue.dead_letter[0].url : null
}
