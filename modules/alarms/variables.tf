variable "name" {
  description = "Team or service name (the `name` given to the queue module). Alarms are named `<name>-<alarm>` and the dashboard `<name>-tasks`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 characters of letters, digits, hyphens (-) and underscores (_), the same rule as the queue module."
  }
}

variable "queue_name" {
  description = "Name of the task queue (`<name>.fifo`): the QueueName dimension of its metrics."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,75}\\.fifo$", var.queue_name))
    error_message = "queue_name must be a FIFO queue name: 1 to 75 letters, digits, - or _, followed by .fifo."
  }
}

variable "dlq_name" {
  description = "Name of the dead-letter queue (`<name>-dlq.fifo`): the QueueName dimension of its metrics."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,75}\\.fifo$", var.dlq_name))
    error_message = "dlq_name must be a FIFO queue name: 1 to 75 letters, digits, - or _, followed by .fifo."
  }
}

variable "priority_queue_names" {
  description = "Queues of the team's other priority tiers (besides queue_name), by tier name. Each tier gets its own `<name>-<tier>-oldest-message-age` and `<name>-<tier>-backlog` alarms (same settings as the queue's) and a dashboard row."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for tier, queue in var.priority_queue_names : can(regex("^[A-Za-z0-9_-]+$", tier)) && can(regex("^[A-Za-z0-9_-]{1,75}\\.fifo$", queue))])
    error_message = "priority_queue_names must map tier names (letters, digits, - or _) to FIFO queue names (1 to 75 letters, digits, - or _, followed by .fifo)."
  }
}

variable "schedule_dlq_name" {
  description = "Name of the standard queue that receives scheduled tasks EventBridge Scheduler could not deliver (`<name>-schedule-dlq` of the schedules module), or null. When set, a `<name>-schedule-dlq-not-empty` alarm watches it."
  type        = string
  default     = null

  validation {
    condition     = var.schedule_dlq_name == null || can(regex("^[A-Za-z0-9_-]{1,80}$", var.schedule_dlq_name))
    error_message = "schedule_dlq_name must be a standard queue name (1 to 80 letters, digits, - or _; Scheduler dead-letter queues cannot be FIFO), or null."
  }
}

variable "consumer_function_names" {
  description = "Lambda consumer functions by consumer name (`function_names` of the lambda-trigger module): bare function names, the FunctionName dimension. Each gets an errors and a throttles alarm."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.consumer_function_names) : can(regex("^[A-Za-z0-9_-]{1,48}$", k))])
    error_message = "Each consumer name (key) must be 1 to 48 characters of letters, digits, hyphens (-) and underscores (_)."
  }

  validation {
    condition     = alltrue([for fn in values(var.consumer_function_names) : can(regex("^[A-Za-z0-9_-]{1,64}$", fn))])
    error_message = "Each function name must be a bare Lambda function name (1 to 64 letters, digits, - or _), not an ARN and without :qualifier."
  }
}

# --- alarms: each `period` is in seconds (a multiple of 60: SQS and Lambda publish one-minute
# metrics); period x evaluation_periods may span at most one day (7 days when period >= 1 hour).

variable "dlq_not_empty" {
  description = "The dead-letter queue holds messages (ApproximateNumberOfMessagesVisible > 0). Always created: it is the alarm an operator acts on."
  type = object({
    period             = optional(number, 60)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition = (
      var.dlq_not_empty.period >= 60 && var.dlq_not_empty.period % 60 == 0 && var.dlq_not_empty.period <= 86400 &&
      var.dlq_not_empty.evaluation_periods >= 1 && floor(var.dlq_not_empty.evaluation_periods) == var.dlq_not_empty.evaluation_periods &&
      var.dlq_not_empty.period * var.dlq_not_empty.evaluation_periods <= (var.dlq_not_empty.period >= 3600 ? 604800 : 86400)
    )
    error_message = "dlq_not_empty.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "oldest_message_age" {
  description = "The oldest task on the queue is older than threshold_seconds (ApproximateAgeOfOldestMessage): consumers are stuck, failing or too slow."
  type = object({
    enabled            = optional(bool, true)
    threshold_seconds  = optional(number, 900)
    period             = optional(number, 60)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.oldest_message_age.threshold_seconds >= 60 && var.oldest_message_age.threshold_seconds <= 1209600
    error_message = "oldest_message_age.threshold_seconds must be from 60 to 1209600 (14 days, the longest SQS retention)."
  }

  validation {
    condition = (
      var.oldest_message_age.period >= 60 && var.oldest_message_age.period % 60 == 0 && var.oldest_message_age.period <= 86400 &&
      var.oldest_message_age.evaluation_periods >= 1 && floor(var.oldest_message_age.evaluation_periods) == var.oldest_message_age.evaluation_periods &&
      var.oldest_message_age.period * var.oldest_message_age.evaluation_periods <= (var.oldest_message_age.period >= 3600 ? 604800 : 86400)
    )
    error_message = "oldest_message_age.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "backlog" {
  description = "More than threshold tasks wait on the queue (ApproximateNumberOfMessagesVisible) for evaluation_periods periods in a row: consumers do not keep up."
  type = object({
    enabled            = optional(bool, true)
    threshold          = optional(number, 1000)
    period             = optional(number, 60)
    evaluation_periods = optional(number, 5)
  })
  default = {}

  validation {
    condition     = var.backlog.threshold >= 1 && floor(var.backlog.threshold) == var.backlog.threshold
    error_message = "backlog.threshold must be a whole number of messages >= 1."
  }

  validation {
    condition = (
      var.backlog.period >= 60 && var.backlog.period % 60 == 0 && var.backlog.period <= 86400 &&
      var.backlog.evaluation_periods >= 1 && floor(var.backlog.evaluation_periods) == var.backlog.evaluation_periods &&
      var.backlog.period * var.backlog.evaluation_periods <= (var.backlog.period >= 3600 ? 604800 : 86400)
    )
    error_message = "backlog.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "consumer_errors" {
  description = "A consumer function had more than threshold failed invocations (AWS/Lambda Errors, Sum) in a period: the handler crashed or timed out, so its whole batch returns to the queue. Task failures reported through batchItemFailures are not Lambda errors."
  type = object({
    threshold          = optional(number, 0)
    period             = optional(number, 300)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.consumer_errors.threshold >= 0 && floor(var.consumer_errors.threshold) == var.consumer_errors.threshold
    error_message = "consumer_errors.threshold must be a whole number of errors >= 0 (the alarm fires above it)."
  }

  validation {
    condition = (
      var.consumer_errors.period >= 60 && var.consumer_errors.period % 60 == 0 && var.consumer_errors.period <= 86400 &&
      var.consumer_errors.evaluation_periods >= 1 && floor(var.consumer_errors.evaluation_periods) == var.consumer_errors.evaluation_periods &&
      var.consumer_errors.period * var.consumer_errors.evaluation_periods <= (var.consumer_errors.period >= 3600 ? 604800 : 86400)
    )
    error_message = "consumer_errors.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "consumer_throttles" {
  description = "A consumer function was throttled (AWS/Lambda Throttles, Sum > 0): its reserved or account concurrency is below what the event source mapping tries to use."
  type = object({
    period             = optional(number, 300)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition = (
      var.consumer_throttles.period >= 60 && var.consumer_throttles.period % 60 == 0 && var.consumer_throttles.period <= 86400 &&
      var.consumer_throttles.evaluation_periods >= 1 && floor(var.consumer_throttles.evaluation_periods) == var.consumer_throttles.evaluation_periods &&
      var.consumer_throttles.period * var.consumer_throttles.evaluation_periods <= (var.consumer_throttles.period >= 3600 ? 604800 : 86400)
    )
    error_message = "consumer_throttles.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "producer_stopped" {
  description = "No task was sent to the queue for period x evaluation_periods (NumberOfMessagesSent <= 0). Off by default: only meaningful for queues that always receive work."
  type = object({
    enabled            = optional(bool, false)
    period             = optional(number, 3600)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition = (
      var.producer_stopped.period >= 60 && var.producer_stopped.period % 60 == 0 && var.producer_stopped.period <= 86400 &&
      var.producer_stopped.evaluation_periods >= 1 && floor(var.producer_stopped.evaluation_periods) == var.producer_stopped.evaluation_periods &&
      var.producer_stopped.period * var.producer_stopped.evaluation_periods <= (var.producer_stopped.period >= 3600 ? 604800 : 86400)
    )
    error_message = "producer_stopped.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

# --- alarms on the SDK's task metrics (task_metrics.tf) ---

variable "metrics_namespace" {
  description = "CloudWatch namespace of the task metrics the SDK writes (the root module's `metrics.namespace`, `metrics_namespace` in sdk_config), or null when the SDK's metrics are off: then no failure-rate, task-latency or stuck-consumer alarm and no task widgets."
  type        = string
  default     = "sqstask"

  validation {
    condition     = var.metrics_namespace == null || (can(regex("^[A-Za-z0-9.\\-_/#: ]{1,255}$", var.metrics_namespace)) && !startswith(coalesce(var.metrics_namespace, "-"), "AWS/"))
    error_message = "metrics_namespace must be null or a CloudWatch namespace: 1 to 255 letters, digits, spaces and . - _ / # : characters, not starting with AWS/ (reserved for AWS services)."
  }
}

variable "failure_rate" {
  description = "More than threshold_percent of the tasks run in a period failed or were malformed (metric math over the SDK's TasksFailed, TasksMalformed and TasksSucceeded); periods with fewer than min_tasks tasks count as 0 %."
  type = object({
    enabled            = optional(bool, true)
    threshold_percent  = optional(number, 10)
    min_tasks          = optional(number, 10)
    period             = optional(number, 300)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.failure_rate.threshold_percent >= 0 && var.failure_rate.threshold_percent < 100
    error_message = "failure_rate.threshold_percent must be from 0 to less than 100 (the alarm fires above it)."
  }

  validation {
    condition     = var.failure_rate.min_tasks >= 1 && floor(var.failure_rate.min_tasks) == var.failure_rate.min_tasks
    error_message = "failure_rate.min_tasks must be a whole number of tasks >= 1."
  }

  validation {
    condition = (
      var.failure_rate.period >= 60 && var.failure_rate.period % 60 == 0 && var.failure_rate.period <= 86400 &&
      var.failure_rate.evaluation_periods >= 1 && floor(var.failure_rate.evaluation_periods) == var.failure_rate.evaluation_periods &&
      var.failure_rate.period * var.failure_rate.evaluation_periods <= (var.failure_rate.period >= 3600 ? 604800 : 86400)
    )
    error_message = "failure_rate.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "task_latency" {
  description = "The p99 of end-to-end task latency (the SDK's TaskLatency: from the task's creation to its successful finish) is above threshold_ms."
  type = object({
    enabled            = optional(bool, true)
    threshold_ms       = optional(number, 300000)
    period             = optional(number, 300)
    evaluation_periods = optional(number, 1)
  })
  default = {}

  validation {
    condition     = var.task_latency.threshold_ms >= 1 && floor(var.task_latency.threshold_ms) == var.task_latency.threshold_ms
    error_message = "task_latency.threshold_ms must be a whole number of milliseconds >= 1."
  }

  validation {
    condition = (
      var.task_latency.period >= 60 && var.task_latency.period % 60 == 0 && var.task_latency.period <= 86400 &&
      var.task_latency.evaluation_periods >= 1 && floor(var.task_latency.evaluation_periods) == var.task_latency.evaluation_periods &&
      var.task_latency.period * var.task_latency.evaluation_periods <= (var.task_latency.period >= 3600 ? 604800 : 86400)
    )
    error_message = "task_latency.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

variable "stuck_consumer" {
  description = "Tasks wait on the queue (ApproximateNumberOfMessagesVisible > 0) while the SDK reports no task succeeded or skipped as done, for evaluation_periods periods in a row: consumers are down, hung or failing everything."
  type = object({
    enabled            = optional(bool, true)
    period             = optional(number, 300)
    evaluation_periods = optional(number, 3)
  })
  default = {}

  validation {
    condition = (
      var.stuck_consumer.period >= 60 && var.stuck_consumer.period % 60 == 0 && var.stuck_consumer.period <= 86400 &&
      var.stuck_consumer.evaluation_periods >= 1 && floor(var.stuck_consumer.evaluation_periods) == var.stuck_consumer.evaluation_periods &&
      var.stuck_consumer.period * var.stuck_consumer.evaluation_periods <= (var.stuck_consumer.period >= 3600 ? 604800 : 86400)
    )
    error_message = "stuck_consumer.period must be a multiple of 60 from 60 to 86400 seconds and evaluation_periods a whole number >= 1, with period x evaluation_periods at most 86400 s (604800 s when period >= 3600)."
  }
}

# --- notifications and dashboard ---

variable "sns_topic_arn" {
  description = "ARN of an existing SNS topic that receives alarm and OK notifications, or null. If the topic is KMS-encrypted, its key policy must allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey*."
  type        = string
  default     = null

  validation {
    condition     = var.sns_topic_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\\.fifo)?$", var.sns_topic_arn))
    error_message = "sns_topic_arn must be null or an SNS topic ARN (arn:<partition>:sns:<region>:<account-id>:<topic-name>)."
  }
}

variable "create_sns_topic" {
  description = "Create a KMS-encrypted SNS topic `<name>-alarms` for alarm and OK notifications (subscribe on-call to it). Set this or sns_topic_arn, not both; with neither, alarms change state without notifying anyone."
  type        = bool
  default     = false
}

variable "kms_key_arn" {
  description = "ARN of the customer KMS key that encrypts the created SNS topic, or null to create a dedicated key. Its key policy must allow cloudwatch.amazonaws.com kms:Decrypt and kms:GenerateDataKey* (the AWS-managed alias/aws/sns key does not, so alarms could not publish)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:key/<key-id>)."
  }
}

variable "kms_key_deletion_window_in_days" {
  description = "Waiting period before the dedicated SNS topic key (created when create_sns_topic is true and kms_key_arn is null) is deleted."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30 && floor(var.kms_key_deletion_window_in_days) == var.kms_key_deletion_window_in_days
    error_message = "kms_key_deletion_window_in_days must be a whole number from 7 to 30."
  }
}

variable "create_dashboard" {
  description = "Create the CloudWatch dashboard `<name>-tasks`: queue depth, in flight, oldest age, DLQ depth, consumer errors, throttles and duration, the alarms, and (with metrics_namespace) tasks and failures per type, task latency and duration percentiles, worker utilisation."
  type        = bool
  default     = true
}

variable "tags" {
  description = "Tags applied to every resource the module creates (dashboards take no tags)."
  type        = map(string)
  default     = {}
}
