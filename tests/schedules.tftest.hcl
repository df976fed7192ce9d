# The root module's schedules wiring: the schedules module gets the team's queue, and the
# SDK configuration names the schedule group and scheduler role.

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

variables {
  name = "billing"
  schedules = {
    nightly-report = {
      expression = "cron(0 2 * * ? *)"
      task_type  = "build-report"
      payload    = "{\"report\":\"daily\"}"
    }
  }
}

override_resource {
  target = module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  }
}

override_resource {
  target = module.schedules.aws_iam_role.scheduler
  values = { arn = "arn:aws:iam::123456789012:role/billing-scheduler" }
}

run "sdk_config_names_the_schedule_group_and_scheduler_role" {
  command = apply

  assert {
    condition     = jsondecode(output.sdk_config).schedule_group == "billing"
    error_message = "sdk_config.schedule_group must be the team's schedule group"
  }
  assert {
    condition     = jsondecode(output.sdk_config).scheduler_role_arn == "arn:aws:iam::123456789012:role/billing-scheduler"
    error_message = "sdk_config.scheduler_role_arn must be the scheduler role"
  }
  assert {
    condition     = jsondecode(output.sdk_config).schedule_dead_letter_arn == "arn:aws:sqs:eu-west-1:123456789012:billing-schedule-dlq"
    error_message = "sdk_config.schedule_dead_letter_arn must be the team's schedule DLQ, so delayed sends (send_at) get it too"
  }
}

run "schedules_send_to_the_team_queue" {
  command = plan

  assert {
    condition     = jsondecode(module.schedules.scheduler_role_policy_json).Statement[0].Resource == ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"]
    error_message = "the scheduler role must be scoped to the team's queue"
  }
  assert {
    condition     = length(module.schedules.schedule_names) == 1 && module.schedules.schedule_names[0] == "nightly-report"
    error_message = "the root must pass its schedules to the module"
  }
}

run "no_schedule_group_means_no_scheduling_keys_in_sdk_config" {
  command = apply

  variables {
    create_schedule_group = false
    schedules             = {}
  }

  assert {
    condition     = jsondecode(output.sdk_config).schedule_group == null && jsondecode(output.sdk_config).scheduler_role_arn == null && jsondecode(output.sdk_config).schedule_dead_letter_arn == null
    error_message = "without a schedule group the SDK must not be told about one"
  }
}
