# Inputs of the root module, by part. Each part keeps its variables in its own section.

# --- team ---

variable "name" {
  description = "Team or service name; every resource is named after it: queue `<name>.fifo`, DLQ `<name>-dlq.fifo`, table `<name>-tasks`, bucket `<name>-payloads-<account_id>`."
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

# --- queue ---

variable "visibility_timeout_seconds" {
  description = "Seconds a received task stays invisible before it is redelivered. Must cover the longest task run (or be extended by the SDK's heartbeat); for Lambda consumers at least 6 x the function timeout."
  type        = number
  default     = 300
  nullable    = false

  validation {
    condition     = var.visibility_timeout_seconds >= 0 && var.visibility_timeout_seconds <= 43200 && floor(var.visibility_timeout_seconds) == var.visibility_timeout_seconds
    error_message = "visibility_timeout_seconds must be a whole number from 0 to 43200 (12 hours)."
  }
}

variable "message_retention_seconds" {
  description = "Seconds SQS keeps a task on the queue before discarding it (the DLQ keeps tasks 14 days)."
  type        = number
  default     = 345600 # 4 days
  nullable    = false

  validation {
    condition     = var.message_retention_seconds >= 60 && var.message_retention_seconds <= 1209600 && floor(var.message_retention_seconds) == var.message_retention_seconds
    error_message = "message_retention_seconds must be a whole number from 60 (1 minute) to 1209600 (14 days)."
  }
}

variable "max_message_size" {
  description = "Largest message body, in bytes, the queue accepts; the SDK offloads larger payloads to the payload bucket."
  type        = number
  default     = 1048576 # 1 MiB
  nullable    = false

  validation {
    condition     = var.max_message_size >= 1024 && var.max_message_size <= 1048576 && floor(var.max_message_size) == var.max_message_size
    error_message = "max_message_size must be a whole number of bytes from 1024 (1 KiB) to 1048576 (1 MiB)."
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

variable "content_based_deduplication" {
  description = "Derive the deduplication id from the body when a sender gives none. Off by default: the SDK sends explicit deduplication ids derived from task ids."
  type        = bool
  default     = false
  nullable    = false
}

variable "high_throughput" {
  description = "High-throughput FIFO mode: deduplication and throughput quota per message group instead of per queue."
  type        = bool
  default     = false
  nullable    = false
}

# --- priorities ---

variable "priorities" {
  description = "Priority tiers, highest first (see modules/queue, which validates them): one FIFO queue per tier sharing the DLQ, task table, bucket, key and policies, with per-tier alarms and dashboard rows. The tier `default` keeps `<name>.fifo`, others are `<name>-<tier>.fifo`; tasks sent without a priority go to `default`, or to the lowest tier when none is called that. `[\"default\"]` is one queue, as without tiers."
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

# --- principals ---

variable "producer_principals" {
  description = "IAM principal ARNs (roles, users or account roots) the queue policy allows to send tasks."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.producer_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "producer_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}

variable "consumer_principals" {
  description = "IAM principal ARNs the queue policy allows to receive, delete and extend the visibility of tasks."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.consumer_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "consumer_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}

variable "operator_principals" {
  description = "IAM principal ARNs the DLQ policy allows to inspect, purge and redrive dead-lettered tasks."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for p in var.operator_principals : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/.+|user/.+)$", p))])
    error_message = "operator_principals must be IAM ARNs of the form arn:aws:iam::<12-digit account>:root, ...:role/<name> or ...:user/<name>."
  }
}

# --- encryption ---

variable "kms_key_arn" {
  description = "ARN of an existing customer managed KMS key for the queues, the task table and the payload bucket. Null (with `create_kms_key` false): SQS-managed SSE, the AWS managed DynamoDB key and SSE-S3."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[A-Za-z0-9-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN such as arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab (an alias or a bare key id is not accepted: IAM policies need the key ARN)."
  }
}

variable "create_kms_key" {
  description = "Create a customer managed KMS key (`alias/sqstask/<name>`, rotation on) for the queues, table and bucket. Cannot be combined with `kms_key_arn`."
  type        = bool
  default     = false
  nullable    = false
}

# --- task state ---

variable "table_deletion_protection" {
  description = "Protect the task table (idempotency records) from deletion. Set false for throwaway environments so `terraform destroy` can remove it."
  type        = bool
  default     = true
  nullable    = false
}

variable "create_payload_bucket" {
  description = "Create the S3 bucket the SDK offloads payloads larger than `max_message_size` to."
  type        = bool
  default     = true
  nullable    = false
}

variable "payload_bucket_name" {
  description = "Name for the payload bucket instead of `<name>-payloads-<account_id>` (needed when that exceeds 63 characters)."
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
  description = "Days after which offloaded payloads are deleted; must be longer than `message_retention_seconds` plus the DLQ's 14 days (a FIFO message's retention restarts in the DLQ)."
  type        = number
  default     = 19
  nullable    = false

  validation {
    condition     = var.payload_expiration_days >= 1 && floor(var.payload_expiration_days) == var.payload_expiration_days
    error_message = "payload_expiration_days must be a whole number of days, at least 1 (and longer than the queue's plus the dead-letter queue's message retention)."
  }
}

variable "payload_bucket_force_destroy" {
  description = "Let `terraform destroy` delete the payload bucket even when it still holds payloads."
  type        = bool
  default     = false
  nullable    = false
}

# --- schedules ---

variable "schedules" {
  description = "Recurring (`cron(...)`, `rate(...)`) and one-off (`at(...)`) tasks, keyed by schedule name: `expression`, `timezone`, `enabled`, `task_type`, `payload` (JSON text, e.g. `jsonencode({...})`), `group_id`, `description`, `flexible_time_window_minutes`, `maximum_retry_attempts`, `maximum_event_age_in_seconds`, `start_date`, `end_date`. Validated by modules/schedules; see its README."
  type = map(object({
    expression                   = string
    timezone                     = optional(string, "UTC")
    enabled                      = optional(bool, true)
    task_type                    = string
    payload                      = optional(string, "{}")
    group_id                     = optional(string)
    description                  = optional(string)
    flexible_time_window_minutes = optional(number)
    maximum_retry_attempts       = optional(number, 185)
    maximum_event_age_in_seconds = optional(number, 86400)
    start_date                   = optional(string)
    end_date                     = optional(string)
  }))
  default  = {}
  nullable = false
}

variable "create_schedule_group" {
  description = "Create the EventBridge Scheduler group `<name>` and the role `<name>-scheduler` (needed by `schedules` and by the SDK's `send_at`/`send_after`); requires a `name` of at most 54 characters. False: no scheduling at all (then `schedules` must be empty)."
  type        = bool
  default     = true
  nullable    = false
}

variable "schedule_dead_letter_arn" {
  description = "An existing standard (not FIFO) SQS queue for schedule runs EventBridge Scheduler could not deliver; null: the module creates `<name>-schedule-dlq` (see `create_schedule_dead_letter_queue`). Scheduler does not accept the team's FIFO DLQ."
  type        = string
  default     = null
}

variable "create_schedule_dead_letter_queue" {
  description = "Create the standard queue `<name>-schedule-dlq` for undeliverable schedule runs when `schedule_dead_letter_arn` is null."
  type        = bool
  default     = true
  nullable    = false
}

# --- consumers, IAM and alarms ---

variable "consumers" {
  description = <<-EOT
    Lambda functions that consume the queue, keyed by a stable consumer name (see
    modules/lambda-trigger, which validates every field): `function_name` (name or ARN),
    `batch_size` (1..10, default 10), `maximum_concurrency` (2..1000 or null), `enabled`
    (default true), `filter_patterns` (JSON objects), `role_name` (execution role to attach the
    consumer policy to), `timeout_seconds` (null: read from the function; the queue's visibility
    timeout must be at least 6x it), `allow_chaining` (may send follow-up tasks, default false),
    `event_metrics` (the mapping's EventCount metrics, default true), `provisioned_poller_config`
    ({minimum_pollers 2..200, maximum_pollers 2..10000}: provisioned mode, not with
    `maximum_concurrency`), `priorities` (tiers served, null: every tier; one mapping per tier),
    `priority_maximum_concurrency` (per-tier maximum_concurrency, by tier).
  EOT
  type = map(object({
    function_name       = string
    batch_size          = optional(number, 10)
    maximum_concurrency = optional(number)
    enabled             = optional(bool, true)
    filter_patterns     = optional(list(string), [])
    role_name           = optional(string)
    timeout_seconds     = optional(number)
    allow_chaining      = optional(bool, false)
    event_metrics       = optional(bool, true)
    provisioned_poller_config = optional(object({
      minimum_pollers = optional(number)
      maximum_pollers = optional(number)
    }))

    priorities                   = optional(list(string))
    priority_maximum_concurrency = optional(map(number), {})
  }))
  default  = {}
  nullable = false
}

variable "alarms" {
  description = <<-EOT
    CloudWatch alarms and dashboard (see modules/alarms, which validates every field and holds the
    defaults). `enabled` (default true); notifications to `sns_topic_arn`, or to a created
    KMS-encrypted topic with `create_sns_topic` (key `sns_kms_key_arn`, or a dedicated one);
    `create_dashboard` (default true); per alarm, optional thresholds and periods:
    `dlq_not_empty` {period, evaluation_periods}, `oldest_message_age` {enabled, threshold_seconds,
    period, evaluation_periods}, `backlog` {enabled, threshold, period, evaluation_periods},
    `consumer_errors` {threshold, period, evaluation_periods}, `consumer_throttles` {period,
    evaluation_periods}, `producer_stopped` {enabled (default false), period, evaluation_periods};
    on the SDK's task metrics (when `metrics.enabled`): `failure_rate` {enabled, threshold_percent,
    min_tasks, period, evaluation_periods}, `task_latency` {enabled, threshold_ms (p99), period,
    evaluation_periods}, `stuck_consumer` {enabled, period, evaluation_periods}.
  EOT
  type = object({
    enabled          = optional(bool, true)
    sns_topic_arn    = optional(string)
    create_sns_topic = optional(bool, false)
    sns_kms_key_arn  = optional(string)
    create_dashboard = optional(bool, true)
    dlq_not_empty = optional(object({
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    oldest_message_age = optional(object({
      enabled            = optional(bool)
      threshold_seconds  = optional(number)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    backlog = optional(object({
      enabled            = optional(bool)
      threshold          = optional(number)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    consumer_errors = optional(object({
      threshold          = optional(number)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    consumer_throttles = optional(object({
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    producer_stopped = optional(object({
      enabled            = optional(bool)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    failure_rate = optional(object({
      enabled            = optional(bool)
      threshold_percent  = optional(number)
      min_tasks          = optional(number)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    task_latency = optional(object({
      enabled            = optional(bool)
      threshold_ms       = optional(number)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
    stuck_consumer = optional(object({
      enabled            = optional(bool)
      period             = optional(number)
      evaluation_periods = optional(number)
    }), {})
  })
  default  = {}
  nullable = false
}

variable "metrics" {
  description = "Task metrics the SDK writes to stdout as CloudWatch Embedded Metric Format (outcomes, duration and end-to-end latency by task type, worker utilisation): `enabled` (default true; false sets `metrics = false` in sdk_config, so the SDK writes none, and drops the alarms and widgets that read them) and `namespace` (default `sqstask`)."
  type = object({
    enabled   = optional(bool, true)
    namespace = optional(string, "sqstask")
  })
  default  = {}
  nullable = false

  validation {
    condition     = can(regex("^[A-Za-z0-9.\\-_/#: ]{1,255}$", var.metrics.namespace)) && !startswith(var.metrics.namespace, "AWS/")
    error_message = "metrics.namespace must be a CloudWatch namespace: 1 to 255 letters, digits, spaces and . - _ / # : characters, not starting with AWS/ (reserved for AWS services)."
  }
}

variable "iam" {
  description = <<-EOT
    Producer, consumer and operator policies for this team (see modules/iam). `enabled` (default
    true); `consumer_allow_chaining` (consumers may send follow-up tasks); `create_roles` (default
    false) creates `<name>-<kind>` roles for the kinds that trust someone:
    `trusted_principal_arns` and `trusted_services`, each {producer, consumer, operator} lists;
    `external_id` (required of trusted principals when set); `permissions_boundary_arn`.
  EOT
  type = object({
    enabled                 = optional(bool, true)
    consumer_allow_chaining = optional(bool, false)
    create_roles            = optional(bool, false)
    trusted_principal_arns = optional(object({
      producer = optional(list(string), [])
      consumer = optional(list(string), [])
      operator = optional(list(string), [])
    }), {})
    trusted_services = optional(object({
      producer = optional(list(string), [])
      consumer = optional(list(string), [])
      operator = optional(list(string), [])
    }), {})
    external_id              = optional(string)
    permissions_boundary_arn = optional(string)
  })
  default  = {}
  nullable = false
}
