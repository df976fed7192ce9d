variable "name" {
  description = "Team or service name. The task table is named `<name>-tasks` and the payload bucket `<name>-payloads-<account_id>` (lowercased, `_` becomes `-`)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 characters of letters, digits, hyphens (-) and underscores (_)."
  }
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
  nullable    = false
}

variable "kms_key_arn" {
  description = "ARN of the customer managed KMS key to encrypt the table and the payload bucket with (normally the queue's key). When null the table uses the AWS managed key for DynamoDB and the bucket SSE-S3 (AES256)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab."
  }
}

# --- task table ---

variable "deletion_protection_enabled" {
  description = "Protect the task table from deletion (it holds idempotency records: losing them lets redelivered tasks run twice). Set false for throwaway environments so `terraform destroy` can remove it."
  type        = bool
  default     = true
  nullable    = false
}

# --- payload bucket ---

variable "create_payload_bucket" {
  description = "Create the S3 bucket the SDK offloads payloads larger than the queue's message size to."
  type        = bool
  default     = true
  nullable    = false
}

variable "payload_bucket_name" {
  description = "Name for the payload bucket instead of `<name>-payloads-<account_id>` (for long team names, which would exceed the 63-character bucket name limit)."
  type        = string
  default     = null

  validation {
    condition = var.payload_bucket_name == null ? true : (
      can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.payload_bucket_name)) &&
      !strcontains(var.payload_bucket_name, "..") &&
      !startswith(var.payload_bucket_name, "xn--") &&
      !endswith(var.payload_bucket_name, "-s3alias")
    )
    error_message = "payload_bucket_name must be null or a valid S3 bucket name: 3 to 63 characters of lowercase letters, digits, dots and hyphens, beginning and ending with a letter or digit, without \"..\", not starting with \"xn--\" and not ending with \"-s3alias\"."
  }
}

variable "payload_expiration_days" {
  description = "Days after which offloaded payload objects are deleted. Must outlast the queue's message retention plus the dead-letter queue's (a FIFO message's retention restarts when it moves to the DLQ), or a task could outlive its payload."
  type        = number
  default     = 19
  nullable    = false

  validation {
    condition     = var.payload_expiration_days >= 1 && floor(var.payload_expiration_days) == var.payload_expiration_days
    error_message = "payload_expiration_days must be a whole number of days, at least 1 (and longer than the queue's plus the dead-letter queue's message retention)."
  }
}

variable "queue_message_retention_seconds" {
  description = "Message retention of the task queue, in seconds; `payload_expiration_days` must be longer than it plus `dlq_message_retention_seconds`."
  type        = number
  default     = 345600 # 4 days
  nullable    = false

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be from 60 (1 minute) to 1209600 (14 days), the SQS limits."
  }
}

variable "payload_bucket_force_destroy" {
  description = "Let `terraform destroy` delete the payload bucket even when it still holds payload objects."
  type        = bool
  default     = false
  nullable    = false
}

variable "dlq_message_retention_seconds" {
  description = "Message retention of the dead-letter queue, in seconds. A FIFO message's retention restarts when it moves to the DLQ, so a task can live `queue_message_retention_seconds` + this; `payload_expiration_days` must be longer than the sum."
  type        = number
  default     = 1209600 # 14 days
  nullable    = false

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600
    error_message = "dlq_message_retention_seconds must be from 60 (1 minute) to 1209600 (14 days), the SQS limits."
  }
}
