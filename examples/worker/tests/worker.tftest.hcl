# The worker example: the consumer role ECS tasks (or EC2 instances) assume, and its scope.

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
  target = module.tasks.module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/reports.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:reports.fifo"
  }
}

override_resource {
  target = module.tasks.module.iam[0].aws_iam_role.this["consumer"]
  values = {
    arn = "arn:aws:iam::123456789012:role/reports-consumer"
  }
}

run "the_workers_get_the_consumer_role" {
  command = apply

  assert {
    condition     = output.worker_role_arn == "arn:aws:iam::123456789012:role/reports-consumer"
    error_message = "The example must create the reports-consumer role for the workers."
  }

  assert {
    condition     = module.tasks.producer_role_arn == null && module.tasks.operator_role_arn == null
    error_message = "Only the consumer role is trusted by someone, so only it is created."
  }
}

run "the_worker_role_consumes_this_queue_only" {
  command = plan

  assert {
    condition = [
      for s in jsondecode(module.tasks.consumer_policy_json).Statement : s.Resource if startswith(s.Action[0], "sqs:")
    ] == ["arn:aws:sqs:eu-west-1:123456789012:reports.fifo"]
    error_message = "The workers' policy must reach the reports queue and no other."
  }

  assert {
    condition = contains(flatten([
      for s in jsondecode(module.tasks.consumer_policy_json).Statement : s.Action if startswith(s.Action[0], "sqs:")
    ]), "sqs:ChangeMessageVisibility")
    error_message = "Workers must be allowed to extend visibility: that is the heartbeat."
  }
}

run "the_visibility_timeout_is_short_and_the_heartbeat_extends_it" {
  assert {
    condition     = jsondecode(output.sdk_config).visibility_timeout == 120
    error_message = "The worker example uses a 2-minute visibility timeout."
  }
}

run "only_ecs_or_ec2_may_run_the_worker" {
  command = plan

  variables {
    worker_services = ["lambda.amazonaws.com"]
  }

  expect_failures = [var.worker_services]
}
