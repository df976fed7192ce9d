output "sdk_config" {
  description = "Set as SQSTASK_CONFIG for producer.py and for task code: `export SQSTASK_CONFIG=\"$(terraform output -raw sdk_config)\"`."
  value       = module.tasks.sdk_config
}

output "queue_url" {
  description = "URL of the FIFO task queue."
  value       = module.tasks.queue_url
}

output "dlq_url" {
  description = "URL of the dead-letter queue."
  value       = module.tasks.dlq_url
}

output "producer_policy_arn" {
  description = "Attach to the role of every service that sends tasks."
  value       = module.tasks.producer_policy_arn
}

output "consumer_policy_arn" {
  description = "Attach to the role of workers that process tasks."
  value       = module.tasks.consumer_policy_arn
}

output "operator_policy_arn" {
  description = "Attach to on-call engineers' role: DLQ inspection and redrive, status, alarms."
  value       = module.tasks.operator_policy_arn
}

output "alarm_names" {
  description = "The team's CloudWatch alarms, by alarm key."
  value       = module.tasks.alarm_names
}
