output "sdk_configs" {
  description = "Each team's sdk_config, by team: `terraform output -json sdk_configs | python teams.py configs/` writes one config file per team."
  value       = { for team, tasks in module.team : team => tasks.sdk_config }
}

output "queue_urls" {
  description = "Each team's queue URL, by team."
  value       = { for team, tasks in module.team : team => tasks.queue_url }
}

output "consumer_policy_arns" {
  description = "Each team's consumer policy ARN, by team: attach it to that team's workers only."
  value       = { for team, tasks in module.team : team => tasks.consumer_policy_arn }
}

output "alarm_topic_arns" {
  description = "Each team's alarm topic, by team."
  value       = { for team, tasks in module.team : team => tasks.alarm_sns_topic_arn }
}
