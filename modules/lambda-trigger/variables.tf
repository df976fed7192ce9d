variable "name" {
  description = "Team or service name (the `name` given to the queue module). Consumer policies are named `<name>-lambda-<consumer>`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 characters of letters, digits, hyphens (-) and underscores (_), the same rule as the queue module."
  }
}

variable "queue_arn" {
  description = "ARN of the team's FIFO task queue (`queue_arn` or `queue_static_arn` of the queue module). The event source of every mapping."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", var.queue_arn))
    error_message = "queue_arn must be the ARN of a FIFO queue: arn:<partition>:sqs:<region>:<account-id>:<name>.fifo."
  }
}

variable "default_priority" {
  description = "Priority tier of queue_arn (the queue module's `default_priority`). Mappings on it keep the consumer's name as key."
  type        = string
  default     = "default"
  nullable    = false
}

variable "priority_queue_arns" {
  description = "Queue ARNs of the other priority tiers (besides queue_arn), by tier name. Consumers get one event source mapping per tier they serve."
  type        = map(string)
  default     = {}
  nullable    = false

  validation {
    condition     = alltrue([for arn in values(var.priority_queue_arns) : can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", arn))])
    error_message = "priority_queue_arns must map tier names to FIFO queue ARNs: arn:<partition>:sqs:<region>:<account-id>:<name>-<tier>.fifo."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the queue (`visibility_timeout_seconds` of the queue module). Every consumer's function timeout must be at most one sixth of it."
  type        = number

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200 && floor(var.queue_visibility_timeout_seconds) == var.queue_visibility_timeout_seconds
    error_message = "queue_visibility_timeout_seconds must be a whole number from 0 to 43200 (12 hours), the range SQS allows."
  }
}

variable "consumers" {
  description = <<-EOT
    Lambda functions that consume the queue, keyed by a stable consumer name (1 to 48 letters,
    digits, `-` or `_`). For each entry:
    - `function_name`: function name or ARN (an ARN may end in `:<alias>` or `:<version>`).
    - `batch_size`: records per invocation, 1..10 (the FIFO limit). Default 10.
    - `maximum_concurrency`: cap on concurrent invocations by this mapping, 2..1000; null means no cap
      beyond the function's own limits. Keep the function's reserved concurrency >= this value.
    - `enabled`: whether the mapping polls the queue. Default true.
    - `filter_patterns`: Lambda event filter patterns (JSON objects, at most 10); records that match
      none are deleted from the queue without invoking the function.
    - `role_name`: name of the function's execution role; when set, the consumer policy is attached to it.
    - `timeout_seconds`: the function timeout, 1..900. When null it is read from the function
      (`data.aws_lambda_function`), which must then exist before plan.
    - `allow_chaining`: also allow sqs:SendMessage (and kms:GenerateDataKey) on the queue, for handlers
      that enqueue follow-up tasks (`sqstask.Then`). Default false.
    - `event_metrics`: the mapping's own CloudWatch metrics (`metrics_config`, EventCount: polled,
      filtered, invoked, failed and dropped events). Default true.
    - `provisioned_poller_config`: provisioned mode, `minimum_pollers` (2..200, default 2) and
      `maximum_pollers` (2..10000, default 200) event pollers kept for the mapping; null (default)
      for on-demand polling. Not with `maximum_concurrency`: in provisioned mode the pollers bound
      concurrency.
    - `priorities`: the priority tiers this consumer serves (null: every tier). One event source
      mapping per tier, so each tier keeps its own capacity.
    - `priority_maximum_concurrency`: `maximum_concurrency` of this consumer's mapping on a given
      tier, by tier name (2..1000); tiers not listed use `maximum_concurrency`.
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
      minimum_pollers = optional(number, 2)
      maximum_pollers = optional(number, 200)
    }))

    priorities                   = optional(list(string))
    priority_maximum_concurrency = optional(map(number), {})
  }))
  default = {}

  validation {
    condition = alltrue([
      for c in values(var.consumers) : alltrue([
        for tier in concat(coalesce(c.priorities, [var.default_priority]), keys(c.priority_maximum_concurrency)) :
        tier == var.default_priority || contains(keys(var.priority_queue_arns), tier)
      ]) && (c.priorities == null || length(coalesce(c.priorities, [])) > 0)
    ])
    error_message = "Each consumer's priorities (and priority_maximum_concurrency keys) must name the queue's priority tiers (${join(", ", concat([var.default_priority], keys(var.priority_queue_arns)))}); priorities may be null (every tier) but not empty."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) : alltrue([
        for n in values(c.priority_maximum_concurrency) : n >= 2 && n <= 1000 && floor(n) == n
      ])
    ])
    error_message = "Each consumer's priority_maximum_concurrency values must be whole numbers from 2 to 1000 (AWS's range for an SQS event source's maximum concurrency)."
  }

  validation {
    condition     = alltrue([for c in values(var.consumers) : c.provisioned_poller_config == null || length(c.priority_maximum_concurrency) == 0])
    error_message = "A consumer with provisioned_poller_config cannot set priority_maximum_concurrency: in provisioned mode the pollers bound each mapping's concurrency (AWS rejects both on one mapping)."
  }

  validation {
    condition     = alltrue([for k in keys(var.consumers) : can(regex("^[A-Za-z0-9_-]{1,48}$", k))])
    error_message = "Each consumer key must be 1 to 48 characters of letters, digits, hyphens (-) and underscores (_); it becomes part of policy and alarm names."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      can(regex("^(arn:aws[a-zA-Z-]*:lambda:[a-z0-9-]+:[0-9]{12}:function:)?[A-Za-z0-9_-]{1,64}(:[A-Za-z0-9_$-]{1,128})?$", c.function_name))
    ])
    error_message = "Each consumer's function_name must be a Lambda function name (1 to 64 letters, digits, - or _), optionally with :<alias> or :<version>, or a full function ARN arn:<partition>:lambda:<region>:<account-id>:function:<name>[:<qualifier>]."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      c.batch_size >= 1 && c.batch_size <= 10 && floor(c.batch_size) == c.batch_size
    ])
    error_message = "Each consumer's batch_size must be a whole number from 1 to 10: Lambda reads at most 10 records per batch from a FIFO queue."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      c.maximum_concurrency == null ? true : (c.maximum_concurrency >= 2 && c.maximum_concurrency <= 1000 && floor(c.maximum_concurrency) == c.maximum_concurrency)
    ])
    error_message = "Each consumer's maximum_concurrency must be null (no cap) or a whole number from 2 to 1000: AWS rejects a maximum concurrency of 1 for SQS event sources. To process one batch at a time, set the function's reserved concurrency instead."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      length(c.filter_patterns) <= 10 && alltrue([for p in c.filter_patterns : can(keys(jsondecode(p))) && length(p) <= 4096])
    ])
    error_message = "Each consumer's filter_patterns must hold at most 10 patterns (5 unless the Lambda quota was raised), each a JSON object of at most 4096 characters, e.g. jsonencode({ body = { type = [\"report\"] } })."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      c.role_name == null ? true : can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", c.role_name))
    ])
    error_message = "Each consumer's role_name must be null or an IAM role name (1 to 64 characters of letters, digits and +=,.@_-), not an ARN."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) :
      c.timeout_seconds == null ? true : (c.timeout_seconds >= 1 && c.timeout_seconds <= 900 && floor(c.timeout_seconds) == c.timeout_seconds)
    ])
    error_message = "Each consumer's timeout_seconds must be null (read it from the function) or a whole number from 1 to 900, the Lambda timeout range."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) : c.provisioned_poller_config == null || c.maximum_concurrency == null
    ])
    error_message = "A consumer sets either maximum_concurrency (on-demand polling) or provisioned_poller_config (provisioned mode, where maximum_pollers bounds concurrency), not both."
  }

  validation {
    condition = alltrue([
      for c in values(var.consumers) : c.provisioned_poller_config == null ? true : (
        c.provisioned_poller_config.minimum_pollers >= 2 && c.provisioned_poller_config.minimum_pollers <= 200 &&
        floor(c.provisioned_poller_config.minimum_pollers) == c.provisioned_poller_config.minimum_pollers &&
        c.provisioned_poller_config.maximum_pollers >= 2 && c.provisioned_poller_config.maximum_pollers <= 10000 &&
        floor(c.provisioned_poller_config.maximum_pollers) == c.provisioned_poller_config.maximum_pollers &&
        c.provisioned_poller_config.minimum_pollers <= c.provisioned_poller_config.maximum_pollers
      )
    ])
    error_message = "Each consumer's provisioned_poller_config needs whole numbers with minimum_pollers from 2 to 200, maximum_pollers from 2 to 10000 (the AWS limits for SQS event sources), and minimum_pollers <= maximum_pollers."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer KMS key that encrypts the queue (and task table and payload bucket), or null for SQS-managed encryption. When set, consumers may kms:Decrypt with this key only."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:key/<key-id>); an alias is not accepted in IAM policies."
  }
}

variable "table_arn" {
  description = "ARN of the team's DynamoDB task table (idempotency and status), or null when handlers do not use it. Consumers may get, put, update and delete items in it."
  type        = string
  default     = null

  validation {
    condition     = var.table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", var.table_arn))
    error_message = "table_arn must be null or a DynamoDB table ARN (arn:<partition>:dynamodb:<region>:<account-id>:table/<name>)."
  }
}

variable "payload_bucket_arn" {
  description = "ARN of the team's payload bucket for large task payloads, or null when there is none. Consumers may read objects under payload_prefix."
  type        = string
  default     = null

  validation {
    condition     = var.payload_bucket_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.payload_bucket_arn))
    error_message = "payload_bucket_arn must be null or an S3 bucket ARN (arn:<partition>:s3:::<bucket-name>)."
  }
}

variable "payload_prefix" {
  description = "Key prefix of payload objects in the payload bucket (`payload_prefix` of the task-state module)."
  type        = string
  default     = "sqstask-payloads/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'/-]{1,512}/$", var.payload_prefix)) && !startswith(var.payload_prefix, "/")
    error_message = "payload_prefix must be a non-empty S3 key prefix ending in `/` (letters, digits and !_.()'/-), not starting with `/`."
  }
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
}
