output "alarm_names" {
  description = "Alarm names keyed by alarm (dlq-not-empty, oldest-message-age, backlog, producer-stopped, <consumer>-errors, <consumer>-throttles, task-failure-rate, task-latency-p99, stuck-consumer); only created alarms appear."
  value       = { for key, alarm in merge(aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.task) : key => alarm.alarm_name }
}

output "alarm_arns" {
  description = "Alarm ARNs keyed like alarm_names."
  value       = { for key, alarm in merge(aws_cloudwatch_metric_alarm.this, aws_cloudwatch_metric_alarm.task) : key => alarm.arn }
}

output "alarm_static_arns" {
  description = "Alarm ARNs keyed like alarm_names, built from partition, region, account and name: known at plan time, for policies that must not wait for the alarms."
  value       = local.alarm_static_arn
}

output "sns_topic_arn" {
  description = "ARN of the topic that receives alarm and OK notifications (created or given), or null when alarms notify no one."
  value       = local.topic_arn
}

output "sns_kms_key_arn" {
  description = "ARN of the KMS key that encrypts the created topic (dedicated or given), or null when no topic is created."
  value       = local.create_topic ? local.topic_kms_key : null
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard, or null when not created."
  value       = try(aws_cloudwatch_dashboard.this[0].dashboard_name, null)
}
