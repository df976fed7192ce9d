output "event_source_mapping_uuids" {
  description = "UUID of each consumer's event source mapping on the default priority tier, by consumer name (see priority_event_source_mapping_uuids for every tier)."
  value       = { for key, mapping in aws_lambda_event_source_mapping.this : key => mapping.uuid }
}

output "priority_event_source_mapping_uuids" {
  description = "UUID of each consumer's event source mapping on each priority tier it serves: consumer name => tier => UUID."
  value = {
    for key in keys(var.consumers) : key => merge(
      contains(keys(aws_lambda_event_source_mapping.this), key) ? { (var.default_priority) = aws_lambda_event_source_mapping.this[key].uuid } : {},
      { for mkey, mapping in aws_lambda_event_source_mapping.tier : local.tier_mappings[mkey].tier => mapping.uuid if local.tier_mappings[mkey].consumer == key },
    )
  }
}

output "event_source_mapping_arns" {
  description = "ARN of each consumer's event source mapping, by consumer name."
  value       = { for key, mapping in aws_lambda_event_source_mapping.this : key => mapping.arn }
}

output "consumer_policy_arns" {
  description = "ARN of each consumer's IAM policy (queue, key, task table and payload read access), by consumer name. Attached to the consumer's role when role_name is set; attach it yourself otherwise."
  value       = { for key, policy in aws_iam_policy.consumer : key => policy.arn }
}

output "consumer_policy_json" {
  description = "Each consumer's IAM policy document as JSON, by consumer name."
  value       = { for key, policy in local.consumer_policies : key => jsonencode(policy) }
}

output "function_names" {
  description = "Bare function name of each consumer (no ARN, no qualifier), by consumer name: the FunctionName dimension of its CloudWatch metrics."
  value       = local.function_names
}

output "function_timeouts" {
  description = "Function timeout in seconds used for each consumer's visibility check, by consumer name."
  value       = local.function_timeouts
}
