variable "name" {
  description = "Team or service name: the queue is `<name>.fifo`, the function `<name>-consumer`."
  type        = string
  default     = "receipts"
}

variable "region" {
  description = "AWS region to create the team's resources in."
  type        = string
  default     = "eu-west-1"
}

variable "package" {
  description = "Path of the function's zip; null: `build/consumer.zip` beside this file, as `python build.py` writes it."
  type        = string
  default     = null
}

variable "maximum_concurrency" {
  description = "Most concurrent invocations the event source mapping starts (2..1000); keep it at or below `reserved_concurrency`."
  type        = number
  default     = 5

  validation {
    condition     = var.maximum_concurrency >= 2 && var.maximum_concurrency <= 1000 && floor(var.maximum_concurrency) == var.maximum_concurrency
    error_message = "maximum_concurrency must be a whole number from 2 to 1000 (an SQS event source mapping's limits)."
  }
}

variable "reserved_concurrency" {
  description = "Concurrency reserved for the function; at least `maximum_concurrency`, or batches are throttled and count as receives toward the DLQ."
  type        = number
  default     = 10

  validation {
    condition     = var.reserved_concurrency >= 1 && floor(var.reserved_concurrency) == var.reserved_concurrency
    error_message = "reserved_concurrency must be a whole number of at least 1."
  }
}

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (it must confirm the subscription); null: subscribe on-call yourself."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be null or an e-mail address such as oncall@example.com."
  }
}
