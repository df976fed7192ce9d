# Several teams from one configuration: each gets its own resources, and no team's policies
# reach another team's queue, dead-letter queue, task table or payload bucket.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = { account_id = "123456789012" }
  }
  mock_data "aws_region" {
    defaults = { id = "eu-west-1", name = "eu-west-1", region = "eu-west-1" }
  }
  mock_data "aws_partition" {
    defaults = { partition = "aws", dns_suffix = "amazonaws.com" }
  }
}

override_resource {
  target = module.team["payments"].module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/payments.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:payments.fifo"
  }
}

override_resource {
  target = module.team["search"].module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/search.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:search.fifo"
  }
}

override_resource {
  target = module.team["reports"].module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/reports.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:reports.fifo"
  }
}

run "every_team_gets_its_own_queue_dlq_table_and_alarms" {
  command = plan

  assert {
    condition     = toset(keys(module.team)) == toset(["payments", "search", "reports"])
    error_message = "The default configuration has three teams."
  }

  assert {
    condition = alltrue([
      for team, tasks in module.team :
      tasks.queue_name == "${team}.fifo" && tasks.dlq_name == "${team}-dlq.fifo" && tasks.table_name == "${team}-tasks"
    ])
    error_message = "Each team must get <team>.fifo, <team>-dlq.fifo and <team>-tasks."
  }

  assert {
    condition = alltrue([
      for team, tasks in module.team : alltrue([for key, alarm in tasks.alarm_names : startswith(alarm, "${team}-")])
    ])
    error_message = "Each team's alarms must be named after it."
  }

  assert {
    condition = (
      alltrue([for tasks in module.team : contains(keys(tasks.alarm_names), "dlq-not-empty")]) &&
      length(distinct(flatten([for tasks in module.team : values(tasks.alarm_names)]))) == sum([for tasks in module.team : length(tasks.alarm_names)])
    )
    error_message = "Each team must get its own alarms (a DLQ alarm at least), none shared; got ${jsonencode([for tasks in module.team : tasks.alarm_names])}."
  }
}

run "teams_keep_their_own_queue_settings" {
  assert {
    condition     = jsondecode(output.sdk_configs["reports"]).visibility_timeout == 120 && jsondecode(output.sdk_configs["search"]).visibility_timeout == 300
    error_message = "reports has a 120 s visibility timeout, search the default 300 s."
  }

  assert {
    condition     = jsondecode(output.sdk_configs["payments"]).queue_arn != jsondecode(output.sdk_configs["search"]).queue_arn
    error_message = "Teams must not share a queue."
  }
}

run "no_team_can_read_another_teams_queue" {
  command = plan

  # Every SQS resource in a team's consumer policy is that team's own queue.
  assert {
    condition = alltrue([
      for team, tasks in module.team : [
        for r in flatten([for s in jsondecode(tasks.consumer_policy_json).Statement : s.Resource]) : r if startswith(r, "arn:aws:sqs:")
      ] == ["arn:aws:sqs:eu-west-1:123456789012:${team}.fifo"]
    ])
    error_message = "A team's consumer policy must name its own queue and no other queue."
  }

  # The producer and operator policies too: only the team's own queue and DLQ.
  assert {
    condition = alltrue(flatten([
      for team, tasks in module.team : [
        for policy in [tasks.producer_policy_json, tasks.operator_policy_json] : [
          for r in flatten([for s in jsondecode(policy).Statement : s.Resource]) :
          contains(["arn:aws:sqs:eu-west-1:123456789012:${team}.fifo", "arn:aws:sqs:eu-west-1:123456789012:${team}-dlq.fifo"], r)
          if startswith(r, "arn:aws:sqs:")
        ]
      ]
    ]))
    error_message = "A team's producer and operator policies must name only its own queue and dead-letter queue."
  }

  # No policy of a team mentions another team's queue, DLQ, table or bucket at all.
  assert {
    condition = alltrue(flatten([
      for team, tasks in module.team : [
        for other in keys(module.team) : [
          for policy in [tasks.producer_policy_json, tasks.consumer_policy_json, tasks.operator_policy_json] :
          !strcontains(policy, ":${other}.fifo") && !strcontains(policy, ":${other}-dlq.fifo") &&
          !strcontains(policy, "table/${other}-tasks") && !strcontains(policy, ":::${other}-payloads-")
        ] if other != team
      ]
    ]))
    error_message = "A team's policies must not mention another team's queue, DLQ, task table or payload bucket."
  }
}

run "only_teams_with_consumer_principals_get_a_consumer_role" {
  command = plan

  variables {
    teams = {
      payments = { consumer_principals = ["arn:aws:iam::123456789012:role/payments-workers"] }
      search   = {}
    }
  }

  assert {
    condition     = module.team["search"].consumer_role_arn == null
    error_message = "A team without consumer principals needs no consumer role."
  }

  assert {
    condition     = toset(keys(module.team)) == toset(["payments", "search"])
    error_message = "The teams come from var.teams."
  }
}

run "team_names_must_be_usable_resource_names" {
  command = plan

  variables {
    teams = { "Payments Team" = {} }
  }

  expect_failures = [var.teams]
}
