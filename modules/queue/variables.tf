variable "name" {
  description = "Team or service name. The queue is named `<name>.fifo` and the dead-letter queue `<name>-dlq.fifo`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 characters of letters, digits, hyphens (-) and underscores (_), so that the dead-letter queue name `<name>-dlq.fifo` fits the 80-character limit for FIFO queue names."
  }
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
  nullable    = false
}

# --- priority tiers ---

variable "priorities" {
  description = "Priority tiers, highest first: one FIFO queue per tier, all sharing the dead-letter queue, key and policies. The tier named `default` keeps `<name>.fifo`; every other tier is `<name>-<tier>.fifo`. The default tier (where tasks sent without a priority go, and what `queue_*` outputs name) is `default` when listed, else the lowest tier. The default `[\"default\"]` is the single queue of a module without tiers."
  type        = list(string)
  default     = ["default"]
  nullable    = false

  validation {
    condition     = length(var.priorities) >= 1 && length(var.priorities) <= 10 && length(distinct(var.priorities)) == length(var.priorities)
    error_message = "priorities must list 1 to 10 distinct tier names, highest first: a dead-letter queue's redrive-allow policy names at most 10 source queues."
  }

  validation {
    condition     = alltrue([for tier in var.priorities : can(regex("^[A-Za-z0-9_-]+$", tier)) && tier != "dlq"])
    error_message = "Each priority tier name must be letters, digits, hyphens (-) and underscores (_), and not \"dlq\" (`<name>-dlq.fifo` is the dead-letter queue)."
  }

  validation {
    condition     = alltrue([for tier in var.priorities : tier == "default" || length("${var.name}-${tier}.fifo") <= 80])
    error_message = "Each priority tier's queue `<name>-<tier>.fifo` must fit the 80-character limit for FIFO queue names: with this name, tier names may be at most ${75 - length(var.name)} characters (too long: ${join(", ", [for tier in var.priorities : tier if tier != "default" && length("${var.name}-${tier}.fifo") > 80])})."
  }
}

# --- queue settings ---

variable "visibility_timeout_seconds" {
  description = "Seconds a received task stays invisible to other consumers before it is redelivered. Must cover the longest task run (or be extended by a heartbeat); for Lambda consumers AWS requires at least 6 x the function timeout."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number from 0 to 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "Seconds SQS keeps a task on the main queue before discarding it."
  type        = number
  default     = 345600 # 4 days
  nullable    = false

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number from 60 (1 minute) to 1209600 (14 days)."
  }
}

variable "dlq_message_retention_seconds" {
  description = "Seconds SQS keeps a task on the dead-letter queue. The maximum by default, to leave operators time to inspect and redrive."
  type        = number
  default     = 1209600 # 14 days
  nullable    = false

  validation {
    condition     = var.dlq_message_retention_seconds >= 60 && var.dlq_message_retention_seconds <= 1209600 && floor(var.dlq_message_retention_seconds) == var.dlq_message_retention_seconds
    error_message = "dlq_message_retention_seconds must be a whole number from 60 (1 minute) to 1209600 (14 days)."
  }
}

variable "max_message_size" {
  description = "Largest message body, in bytes, the queue accepts. Larger payloads are offloaded to the payload bucket by the SDK."
  type        = number
  default     = 1048576 # 1 MiB
  nullable    = false

  validation {
    condition     = var.max_message_size >= 1024 && var.max_message_size <= 1048576 && floor(var.max_message_size) == var.max_message_size
    error_message = "max_message_size must be a whole number of bytes from 1024 (1 KiB) to 1048576 (1 MiB)."
  }
}

variable "receive_wait_time_seconds" {
  description = "Long-polling wait, in seconds, for ReceiveMessage calls that do not set their own."
  type        = number
  default     = 20
  nullable    = false

  validation {
    condition     = var.receive_wait_time_seconds >= 0 && var.receive_wait_time_seconds <= 20 && floor(var.receive_wait_time_seconds) == var.receive_wait_time_seconds
    error_message = "receive_wait_time_seconds must be a whole number from 0 to 20."
  }
}

variable "delay_seconds" {
  description = "Seconds every new task stays hidden after it is sent (queue-level delay)."
  type        = number
  default     = 0
  nullable    = false

  validation {
    condition     = var.delay_seconds >= 0 && var.delay_seconds <= 900 && floor(var.delay_seconds) == var.delay_seconds
    error_message = "delay_seconds must be a whole number from 0 to 900 (15 minutes)."
  }
}

variable "content_based_deduplication" {
  description = "Derive the deduplication id from a SHA-256 of the body when a sender gives none. Off by default: the SDK sends an explicit deduplication id derived from the task id."
  type        = bool
  default     = false
  nullable    = false
}

variable "high_throughput" {
  description = "High-throughput FIFO mode: deduplication and the throughput quota apply per message group (`deduplication_scope = messageGroup`, `fifo_throughput_limit = perMessageGroupId`) instead of per queue."
  type        = bool
  default     = false
  nullable    = false
}

variable "max_receive_count" {
  description = "Receives after which a task that keeps failing moves to the dead-letter queue."
  type        = number
  default     = 5
  nullable    = false

  validation {
    condition     = var.max_receive_count >= 1 && var.max_receive_count <= 1000 && floor(var.max_receive_count) == var.max_receive_count
    error_message = "max_receive_count must be a whole number from 1 to 1000."
  }
}

# --- encryption ---

variable "kms_key_arn" {
  description = "ARN of an existing customer managed KMS key to encrypt both queues with. When null (and `create_kms_key` is false) the queues use SQS-managed encryption (SSE-SQS)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (an alias or a bare key id is not accepted: IAM policies need the key ARN)."
  }
}

variable "create_kms_key" {
  description = "Create a customer managed KMS key (alias `alias/sqstask/<name>`, rotation on) for the queues, whose key policy admits this team's principals and EventBridge Scheduler. Cannot be combined with `kms_key_arn`."
  type        = bool
  default     = false
  nullable    = false
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period, in days, before a created KMS key is deleted after `terraform destroy`."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30 && floor(var.kms_key_deletion_window_in_days) == var.kms_key_deletion_window_in_days
    error_message = "kms_key_deletion_window_in_days must be a whole number from 7 to 30."
  }
}

variable "kms_data_key_reuse_period_seconds" {
  description = "Seconds SQS reuses a data key before calling KMS again (customer managed key only). Longer means fewer KMS calls."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.kms_data_key_reuse_period_seconds >= 60 && var.kms_data_key_reuse_period_seconds <= 86400 && floor(var.kms_data_key_reuse_period_seconds) == var.kms_data_key_reuse_period_seconds
    error_message = "kms_data_key_reuse_period_seconds must be a whole number from 60 (1 minute) to 86400 (24 hours)."
  }
}

# --- principals admitted by the queue policies (and the created key's policy) ---

variable "producer_principals" {
  description = "IAM principal ARNs (roles, users or account roots) allowed to send tasks to the queue. Empty: the queue policy grants nothing beyond denying non-TLS requests, and access comes from IAM policies alone."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.producer_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "producer_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}

variable "consumer_principals" {
  description = "IAM principal ARNs allowed to receive, delete and extend the visibility of tasks on the queue."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.consumer_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "consumer_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}

variable "operator_principals" {
  description = "IAM principal ARNs allowed to inspect, purge and redrive the dead-letter queue (and send the redriven tasks back to the queue)."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.operator_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "operator_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}
