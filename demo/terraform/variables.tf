variable "name" {
  description = "The demo team's name: queue `<name>.fifo`, DLQ `<name>-dlq.fifo`, task table `<name>-tasks`."
  type        = string
  default     = "orders"
}

variable "region" {
  description = "Region of the emulated AWS account."
  type        = string
  default     = "us-east-1"
}
