output "producer_policy_arn" {
  description = "ARN of the producer policy (send tasks, encrypt with the queue key, write large payloads)."
  value       = aws_iam_policy.producer.arn
}

output "consumer_policy_arn" {
  description = "ARN of the consumer policy (receive, delete and extend tasks, decrypt, record task state, read large payloads)."
  value       = aws_iam_policy.consumer.arn
}

output "operator_policy_arn" {
  description = "ARN of the operator policy (inspect, redrive and purge the dead-letter queue; read task state, alarms and metrics)."
  value       = aws_iam_policy.operator.arn
}

output "producer_policy_json" {
  description = "The producer policy document as JSON."
  value       = jsonencode(local.producer_policy)
}

output "consumer_policy_json" {
  description = "The consumer policy document as JSON."
  value       = jsonencode(local.consumer_policy)
}

output "operator_policy_json" {
  description = "The operator policy document as JSON."
  value       = jsonencode(local.operator_policy)
}

output "producer_role_arn" {
  description = "ARN of the producer role, or null when not created."
  value       = try(aws_iam_role.this["producer"].arn, null)
}

output "consumer_role_arn" {
  description = "ARN of the consumer role, or null when not created."
  value       = try(aws_iam_role.this["consumer"].arn, null)
}

output "operator_role_arn" {
  description = "ARN of the operator role, or null when not created."
  value       = try(aws_iam_role.this["operator"].arn, null)
}

output "role_names" {
  description = "Names of the created roles by kind (producer, consumer, operator); only created roles appear."
  value       = { for kind, role in aws_iam_role.this : kind => role.name }
}
