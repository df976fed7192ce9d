variable "region" {
  description = "AWS region to create every team's resources in."
  type        = string
  default     = "eu-west-1"
}

variable "teams" {
  description = "The teams, keyed by team name (the `name` of each team's resources): `max_receive_count` and `visibility_timeout_seconds` for its queue, and `consumer_principals`, the IAM roles allowed to assume its `<team>-consumer` role."
  type = map(object({
    max_receive_count          = optional(number, 5)
    visibility_timeout_seconds = optional(number, 300)
    consumer_principals        = optional(list(string), [])
  }))
  default = {
    payments = { max_receive_count = 3 }
    search   = {}
    reports  = { visibility_timeout_seconds = 120 }
  }

  validation {
    condition     = length(var.teams) > 0 && alltrue([for team in keys(var.teams) : can(regex("^[a-z0-9-]{1,40}$", team))])
    error_message = "teams must name at least one team; each name 1 to 40 lowercase letters, digits or hyphens (it names the team's queue, table, bucket, roles and alarms)."
  }
}
