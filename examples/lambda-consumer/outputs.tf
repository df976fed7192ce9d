output "function_name" {
  description = "Name of the consumer function."
  value       = aws_lambda_function.consumer.function_name
}

output "event_source_mapping_uuid" {
  description = "UUID of the queue -> function event source mapping."
  value       = module.tasks.event_source_mapping_uuids["receipts"]
}

output "alarm_topic_arn" {
  description = "SNS topic the alarms notify: subscribe on-call to it."
  value       = module.tasks.alarm_sns_topic_arn
}

output "alarm_names" {
  description = "The team's alarms by key, including `receipts-errors` and `receipts-throttles` for the function."
  value       = module.tasks.alarm_names
}

output "sdk_config" {
  description = "SQSTASK_CONFIG for producers and for operators' `sqstask` commands."
  value       = module.tasks.sdk_config
}
