variable "name" {
  description = "Team or service name. The schedule group is named `<name>`, the scheduler role `<name>-scheduler` and the optional schedule dead-letter queue `<name>-schedule-dlq`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1..71 characters of letters, digits, hyphens and underscores (the scheduler role `<name>-scheduler` further limits it to 54 when this module creates anything)."
  }
}

variable "create" {
  description = "Create the schedule group, the scheduler role and the schedules. The group and role are created even when `schedules` is empty, because `TaskQueue.send_at`/`send_after` create one-time schedules in them. Set to false to create nothing (then `schedules` must be empty)."
  type        = bool
  default     = true
}

variable "queue_arn" {
  description = "ARN of the team's FIFO task queue (`<name>.fifo`) the schedules send to. The scheduler role may send to this queue only."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", var.queue_arn))
    error_message = "queue_arn must be the ARN of a FIFO SQS queue (arn:<partition>:sqs:<region>:<account>:<name>.fifo)."
  }
}

variable "queue_url" {
  description = "URL of the same FIFO task queue: the universal `sqs:sendMessage` target addresses the queue by URL."
  type        = string

  validation {
    condition     = can(regex("^\\S+$", var.queue_url))
    error_message = "queue_url must be the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>.fifo), without spaces."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer KMS key that encrypts the queue, or null for SQS-managed SSE. When given, the scheduler role may use this key (kms:GenerateDataKey, kms:Decrypt) and nothing else, and the created schedule dead-letter queue is encrypted with it too."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/\\S+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account>:key/<key-id>); aliases are not accepted in IAM policies."
  }
}

variable "dead_letter_arn" {
  description = "ARN of an existing standard (non-FIFO) SQS queue that receives invocations EventBridge Scheduler could not deliver after its retries. EventBridge Scheduler does not accept a FIFO queue here, so the team's task DLQ cannot be used. Null: the module creates `<name>-schedule-dlq` when `create_dead_letter_queue` is true."
  type        = string
  default     = null

  validation {
    condition     = var.dead_letter_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.dead_letter_arn))
    error_message = "dead_letter_arn must be null or the ARN of a standard SQS queue; EventBridge Scheduler does not support FIFO (.fifo) dead-letter queues."
  }
}

variable "create_dead_letter_queue" {
  description = "When `dead_letter_arn` is null, create the standard queue `<name>-schedule-dlq` (encrypted, TLS-only, 14 days retention) as the schedules' dead-letter queue. False with no `dead_letter_arn`: undeliverable invocations are dropped after the retries."
  type        = bool
  default     = true
}

variable "dead_letter_retention_seconds" {
  description = "Message retention of the created schedule dead-letter queue, in seconds (60..1209600)."
  type        = number
  default     = 1209600

  validation {
    condition     = var.dead_letter_retention_seconds >= 60 && var.dead_letter_retention_seconds <= 1209600 && floor(var.dead_letter_retention_seconds) == var.dead_letter_retention_seconds
    error_message = "dead_letter_retention_seconds must be a whole number of seconds from 60 (1 minute) to 1209600 (14 days)."
  }
}

variable "schedules" {
  description = <<-EOT
    Recurring and one-off tasks, keyed by schedule name (1..64 of letters, digits, `-`, `_`, `.`).
    Each run sends the sqstask envelope `{"v":1,"id":"sched:<schedule>:<scheduled-time>","type":task_type,"payload":payload,"created_at":"<scheduled-time>"}` to the queue.
    - `expression`: `cron(min hour day-of-month month day-of-week year)`, `rate(N minute(s)|hour(s)|day(s))` or `at(yyyy-mm-ddThh:mm:ss)`.
    - `timezone`: IANA time zone the expression is evaluated in (default `UTC`).
    - `enabled`: false keeps the schedule but pauses it (state `DISABLED`).
    - `task_type`: the task type handlers dispatch on.
    - `payload`: the task payload as JSON text, e.g. `jsonencode({ report = "daily" })` (default `{}`).
    - `group_id`: SQS message group (default: the schedule name), so runs of one schedule are processed in order.
    - `description`: free text shown in the console.
    - `flexible_time_window_minutes`: null runs at the exact time (mode `OFF`); 1..1440 lets Scheduler spread the run within that window (mode `FLEXIBLE`).
    - `maximum_retry_attempts` (0..185, default 185) and `maximum_event_age_in_seconds` (60..86400, default 86400): Scheduler's retry policy when SQS rejects the send.
    - `start_date`/`end_date`: optional UTC bounds for recurring schedules, e.g. `2030-01-01T00:00:00Z`.
  EOT
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
  default = {}

  validation {
    condition     = alltrue([for k in keys(var.schedules) : can(regex("^[0-9A-Za-z_.-]{1,64}$", k))])
    error_message = "Each schedule name (map key) must be 1..64 characters of letters, digits, '-', '_' and '.' (EventBridge Scheduler's limit)."
  }

  validation {
    # Producers may create and read the schedules named sqstask-at-* (the SDK's send_at), so a
    # recurring schedule under that prefix would be theirs to read.
    condition     = alltrue([for k in keys(var.schedules) : !startswith(k, "sqstask-at-")])
    error_message = "Schedule names must not start with \"sqstask-at-\": that prefix is reserved for the SDK's delayed sends (send_at), which producers may create and read. Choose another name."
  }

  validation {
    condition = alltrue([for s in values(var.schedules) : anytrue([
      can(regex("^at\\([0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\\)$", s.expression)),
      can(regex("^rate\\((1 (minute|hour|day)|([2-9]|[1-9][0-9]+) (minutes|hours|days))\\)$", s.expression)),
      can(regex("^cron\\([^ ()]+( [^ ()]+){5}\\)$", s.expression)) && length(regexall("^cron\\([^ ()]+ [^ ()]+ \\? [^ ()]+ [^ ()]+ [^ ()]+\\)$", s.expression)) + length(regexall("^cron\\([^ ()]+ [^ ()]+ [^ ()]+ [^ ()]+ \\? [^ ()]+\\)$", s.expression)) == 1,
    ])])
    error_message = "Each schedule expression must be cron(minutes hours day-of-month month day-of-week year) with exactly one of day-of-month/day-of-week set to '?', rate(N unit) with unit minute|hour|day (singular for 1, plural otherwise, e.g. rate(5 minutes)), or at(yyyy-mm-ddThh:mm:ss)."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : can(regex("^[A-Za-z0-9_+/-]{1,50}$", s.timezone))])
    error_message = "Each schedule timezone must be an IANA time zone name such as UTC, Europe/Paris or America/New_York."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : can(regex("^[\\x21-\\x7e]{1,256}$", s.task_type))])
    error_message = "Each schedule task_type must be 1..256 printable ASCII characters without whitespace."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : can(jsondecode(s.payload))])
    error_message = "Each schedule payload must be JSON text, e.g. jsonencode({ report = \"daily\" })."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.group_id == null || can(regex("^[\\x21-\\x7e]{1,128}$", s.group_id))])
    error_message = "Each schedule group_id must be 1..128 characters of letters, digits and ASCII punctuation (SQS MessageGroupId rules), or null to use the schedule name."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.description == null || try(length(s.description) <= 512, false)])
    error_message = "Each schedule description must be at most 512 characters."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.flexible_time_window_minutes == null || try(s.flexible_time_window_minutes >= 1 && s.flexible_time_window_minutes <= 1440 && floor(s.flexible_time_window_minutes) == s.flexible_time_window_minutes, false)])
    error_message = "Each schedule flexible_time_window_minutes must be null (run at the exact time) or a whole number of minutes from 1 to 1440."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.maximum_retry_attempts >= 0 && s.maximum_retry_attempts <= 185 && floor(s.maximum_retry_attempts) == s.maximum_retry_attempts])
    error_message = "Each schedule maximum_retry_attempts must be a whole number from 0 to 185."
  }

  validation {
    condition     = alltrue([for s in values(var.schedules) : s.maximum_event_age_in_seconds >= 60 && s.maximum_event_age_in_seconds <= 86400 && floor(s.maximum_event_age_in_seconds) == s.maximum_event_age_in_seconds])
    error_message = "Each schedule maximum_event_age_in_seconds must be a whole number of seconds from 60 to 86400 (24 hours)."
  }

  validation {
    condition = alltrue([for s in values(var.schedules) : alltrue([
      for d in [s.start_date, s.end_date] : d == null || can(regex("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$", d))
    ])])
    error_message = "Each schedule start_date/end_date must be null or a UTC timestamp like 2030-01-01T00:00:00Z."
  }
}

variable "tags" {
  description = "Tags for every taggable resource (schedule group, role, dead-letter queue). Schedules themselves cannot be tagged."
  type        = map(string)
  default     = {}
}
