variable "name" {
  description = "Team or service name: the queue is `<name>.fifo`, the worker's role `<name>-consumer`."
  type        = string
  default     = "reports"
}

variable "region" {
  description = "AWS region to create the team's resources in."
  type        = string
  default     = "eu-west-1"
}

variable "worker_services" {
  description = "AWS services whose tasks or instances run the worker and assume its role: ecs-tasks.amazonaws.com (ECS/Fargate task role) and/or ec2.amazonaws.com (EC2 instance profile)."
  type        = list(string)
  default     = ["ecs-tasks.amazonaws.com"]

  validation {
    condition     = length(var.worker_services) > 0 && alltrue([for s in var.worker_services : contains(["ecs-tasks.amazonaws.com", "ec2.amazonaws.com"], s)])
    error_message = "worker_services must list ecs-tasks.amazonaws.com and/or ec2.amazonaws.com."
  }
}

variable "priorities" {
  description = "Priority tiers, highest first (the module's `priorities`): one queue per tier; `sqstask worker` serves them highest first."
  type        = list(string)
  default     = ["default"]
}
