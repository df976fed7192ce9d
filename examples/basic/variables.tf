variable "name" {
  description = "Team or service name: the queue is `<name>.fifo`, the DLQ `<name>-dlq.fifo`, the task table `<name>-tasks`."
  type        = string
  default     = "billing"
}

variable "region" {
  description = "AWS region to create the team's resources in."
  type        = string
  default     = "eu-west-1"
}
