variable "name" {
  description = "Team or service name (the `name` given to the queue module). Policies and roles are named `<name>-producer`, `<name>-consumer` and `<name>-operator`."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,71}$", var.name))
    error_message = "name must be 1 to 71 characters of letters, digits, hyphens (-) and underscores (_), the same rule as the queue module."
  }
}

variable "queue_arn" {
  description = "ARN of the team's FIFO task queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", var.queue_arn))
    error_message = "queue_arn must be the ARN of a FIFO queue: arn:<partition>:sqs:<region>:<account-id>:<name>.fifo."
  }
}

variable "priority_queue_arns" {
  description = "ARNs of the team's other priority tier queues (besides queue_arn). Every policy covers every tier: producers send to any tier, consumers read all of them, operators redrive into them."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.priority_queue_arns : can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", arn))])
    error_message = "priority_queue_arns must be ARNs of FIFO queues: arn:<partition>:sqs:<region>:<account-id>:<name>-<tier>.fifo."
  }
}

variable "dlq_arn" {
  description = "ARN of the team's FIFO dead-letter queue."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,75}\\.fifo$", var.dlq_arn))
    error_message = "dlq_arn must be the ARN of a FIFO queue: arn:<partition>:sqs:<region>:<account-id>:<name>-dlq.fifo."
  }
}

variable "queue_name" {
  description = "Name of the task queue (`<name>.fifo`): the QueueName dimension operators may read metrics for. Used in policy descriptions."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,75}\\.fifo$", var.queue_name))
    error_message = "queue_name must be a FIFO queue name: 1 to 75 letters, digits, - or _, followed by .fifo."
  }
}

variable "dlq_name" {
  description = "Name of the dead-letter queue (`<name>-dlq.fifo`). Used in policy descriptions."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,75}\\.fifo$", var.dlq_name))
    error_message = "dlq_name must be a FIFO queue name: 1 to 75 letters, digits, - or _, followed by .fifo."
  }
}

variable "kms_key_arn" {
  description = "ARN of the customer KMS key that encrypts the queues, table and payload bucket, or null for AWS-managed encryption. When set, producers may generate data keys and decrypt, consumers decrypt, operators both — with this key only, and only through the services that encrypt the team's data (kms:ViaService)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/.+$", var.kms_key_arn))
    error_message = "kms_key_arn must be null or a KMS key ARN (arn:<partition>:kms:<region>:<account-id>:key/<key-id>); an alias is not accepted in IAM policies."
  }
}

variable "table_arn" {
  description = "ARN of the team's DynamoDB task table, or null when there is none. Consumers read and write items; operators read."
  type        = string
  default     = null

  validation {
    condition     = var.table_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:dynamodb:[a-z0-9-]+:[0-9]{12}:table/[A-Za-z0-9_.-]{3,255}$", var.table_arn))
    error_message = "table_arn must be null or a DynamoDB table ARN (arn:<partition>:dynamodb:<region>:<account-id>:table/<name>)."
  }
}

variable "payload_bucket_arn" {
  description = "ARN of the team's payload bucket, or null when there is none. Producers put objects under payload_prefix; consumers and operators read them."
  type        = string
  default     = null

  validation {
    condition     = var.payload_bucket_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:s3:::[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.payload_bucket_arn))
    error_message = "payload_bucket_arn must be null or an S3 bucket ARN (arn:<partition>:s3:::<bucket-name>)."
  }
}

variable "payload_prefix" {
  description = "Key prefix of payload objects in the payload bucket. Object access is limited to keys under it."
  type        = string
  default     = "sqstask-payloads/"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'/-]{1,512}/$", var.payload_prefix)) && !startswith(var.payload_prefix, "/")
    error_message = "payload_prefix must be a non-empty S3 key prefix ending in `/` (letters, digits and !_.()'/-), not starting with `/`."
  }
}

variable "alarm_arns" {
  description = "ARNs of this team's CloudWatch alarms (`alarm_arns` of the alarms module). Operators may describe these alarms, by name, as `sqstask alarms` does with the names in sdk_config."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_arns : can(regex("^arn:aws[a-zA-Z-]*:cloudwatch:[a-z0-9-]+:[0-9]{12}:alarm:[^*]+$", arn))])
    error_message = "Each entry of alarm_arns must be a CloudWatch alarm ARN (arn:<partition>:cloudwatch:<region>:<account-id>:alarm:<name>) without wildcards."
  }
}

variable "schedule_group_arn" {
  description = "ARN of the team's EventBridge Scheduler schedule group (`schedule_group_arn` of the schedules module), or null. Producers may then create delayed sends (TaskQueue.send_at / send_after) in it, and operators may read, enable and disable its schedules."
  type        = string
  default     = null

  validation {
    condition     = var.schedule_group_arn == null || can(regex("^arn:aws[a-zA-Z-]*:scheduler:[a-z0-9-]+:[0-9]{12}:schedule-group/[0-9a-zA-Z-_.]+$", var.schedule_group_arn))
    error_message = "schedule_group_arn must be a schedule group ARN (arn:<partition>:scheduler:<region>:<account-id>:schedule-group/<name>) without wildcards, or null."
  }
}

variable "scheduler_role_arn" {
  description = "ARN of the role EventBridge Scheduler assumes to send to the queue (`scheduler_role_arn` of the schedules module), or null. Creating or updating a schedule passes this role, so producers and operators may pass it to scheduler.amazonaws.com only."
  type        = string
  default     = null

  validation {
    condition     = var.scheduler_role_arn == null || can(regex("^arn:aws[a-zA-Z-]*:iam::[0-9]{12}:role/[^*]+$", var.scheduler_role_arn))
    error_message = "scheduler_role_arn must be an IAM role ARN (arn:<partition>:iam::<account-id>:role/<name>) without wildcards, or null."
  }
}

variable "consumer_allow_chaining" {
  description = "Also allow consumers sqs:SendMessage on the queue (and kms:GenerateDataKey), for handlers that enqueue follow-up tasks (`sqstask.Then`)."
  type        = bool
  default     = false
}

variable "create_roles" {
  description = "Create an IAM role for each of producer, consumer and operator that has at least one trusted principal or service, with that role's policy attached. Role names are `<name>-<role>`, so `name` must then be at most 55 characters."
  type        = bool
  default     = false
}

variable "trusted_principal_arns" {
  description = "IAM principals (account root, role or user ARNs, or 12-digit account ids) allowed to assume each role. With external_id set, they must pass it as sts:ExternalId."
  type = object({
    producer = optional(list(string), [])
    consumer = optional(list(string), [])
    operator = optional(list(string), [])
  })
  default = {}

  validation {
    condition = alltrue([
      for arn in concat(var.trusted_principal_arns.producer, var.trusted_principal_arns.consumer, var.trusted_principal_arns.operator) :
      can(regex("^([0-9]{12}|arn:aws[a-zA-Z-]*:iam::[0-9]{12}:(root|role/[A-Za-z0-9+=,.@_/-]+|user/[A-Za-z0-9+=,.@_/-]+))$", arn))
    ])
    error_message = "Each trusted principal must be a 12-digit account id or an IAM ARN of an account root, role or user (arn:<partition>:iam::<account-id>:root|role/<name>|user/<name>); wildcards are not allowed."
  }
}

variable "trusted_services" {
  description = "AWS service principals allowed to assume each role, e.g. consumer = [\"lambda.amazonaws.com\"] for a Lambda execution role or [\"ecs-tasks.amazonaws.com\"] for an ECS task role."
  type = object({
    producer = optional(list(string), [])
    consumer = optional(list(string), [])
    operator = optional(list(string), [])
  })
  default = {}

  validation {
    condition = alltrue([
      for service in concat(var.trusted_services.producer, var.trusted_services.consumer, var.trusted_services.operator) :
      can(regex("^[a-z0-9.-]+\\.amazonaws\\.com(\\.cn)?$", service))
    ])
    error_message = "Each trusted service must be an AWS service principal such as lambda.amazonaws.com or ecs-tasks.amazonaws.com."
  }
}

variable "external_id" {
  description = "When set, principals in trusted_principal_arns must pass this value as sts:ExternalId to assume a role (for roles assumed from another account by a third party; AWS treats it as an identifier, not a secret). Not applied to trusted services."
  type        = string
  default     = null

  validation {
    condition     = var.external_id == null ? true : (length(var.external_id) >= 2 && length(var.external_id) <= 1224 && can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.external_id)))
    error_message = "external_id must be null or 2 to 1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "permissions_boundary_arn" {
  description = "ARN of an IAM policy used as permissions boundary of the created roles, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null ? true : can(regex("^arn:aws[a-zA-Z-]*:iam::([0-9]{12}|aws):policy/.+$", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be null or an IAM policy ARN (arn:<partition>:iam::<account-id>:policy/<name>)."
  }
}

variable "tags" {
  description = "Tags applied to every resource the module creates."
  type        = map(string)
  default     = {}
}
