output "worker_role_arn" {
  description = "The consumer role: the ECS task role (taskRoleArn) or the EC2 instance profile's role of the workers."
  value       = module.tasks.consumer_role_arn
}

output "sdk_config" {
  description = "Pass to the worker container as the SQSTASK_CONFIG environment variable."
  value       = module.tasks.sdk_config
}

output "queue_url" {
  description = "URL of the FIFO task queue the workers poll."
  value       = module.tasks.queue_url
}
