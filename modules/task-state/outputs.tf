output "table_name" {
  description = "Name of the DynamoDB task table (`<name>-tasks`): the SDK's idempotency and task-status table."
  value       = aws_dynamodb_table.this.name
}

output "table_arn" {
  description = "ARN of the DynamoDB task table."
  value       = aws_dynamodb_table.this.arn
}

output "payload_bucket_name" {
  description = "Name of the payload bucket; null when `create_payload_bucket` is false."
  value       = var.create_payload_bucket ? aws_s3_bucket.this[0].bucket : null
}

output "payload_bucket_arn" {
  description = "ARN of the payload bucket; null when `create_payload_bucket` is false."
  value       = var.create_payload_bucket ? aws_s3_bucket.this[0].arn : null
}

output "payload_prefix" {
  description = "Key prefix under which the SDK writes offloaded payloads (`sqstask-payloads/`)."
  value       = local.payload_prefix
}

output "kms_key_arn" {
  description = "ARN of the customer managed KMS key encrypting the table and the bucket; null when AWS managed keys are used."
  value       = var.kms_key_arn
}
