# The Lambda consumer example: the function, its trigger's limits, its permissions and alarms.

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
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/receipts.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:receipts.fifo"
  }
}

override_resource {
  target = module.tasks.module.queue.aws_sqs_queue.dlq
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/receipts-dlq.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:receipts-dlq.fifo"
  }
}

override_resource {
  target = module.tasks.module.alarms[0].aws_sns_topic.this[0]
  values = {
    arn = "arn:aws:sns:eu-west-1:123456789012:receipts-alarms"
  }
}

run "the_function_runs_the_handler_from_the_built_zip" {
  command = plan

  assert {
    condition     = aws_lambda_function.consumer.function_name == "receipts-consumer" && aws_lambda_function.consumer.handler == "handler.handler"
    error_message = "The function must be receipts-consumer running handler.handler."
  }

  assert {
    condition     = endswith(aws_lambda_function.consumer.filename, "/build/consumer.zip") && aws_lambda_function.consumer.runtime == "python3.12"
    error_message = "The function's code must be build/consumer.zip, as build.py writes it."
  }

  assert {
    condition     = aws_lambda_function.consumer.tracing_config[0].mode == "Active"
    error_message = "Tracing must be on."
  }
}

run "the_queue_outlasts_six_function_timeouts" {
  assert {
    condition     = jsondecode(output.sdk_config).visibility_timeout == 6 * aws_lambda_function.consumer.timeout
    error_message = "The queue's visibility timeout must be 6 x the function timeout (AWS guidance; the module enforces at least that)."
  }

  assert {
    condition     = aws_lambda_function.consumer.environment[0].variables["SQSTASK_VISIBILITY_TIMEOUT"] == "180"
    error_message = "The function must know the queue's visibility timeout."
  }
}

run "the_function_reads_the_teams_resources_from_its_environment" {
  assert {
    condition = jsonencode(aws_lambda_function.consumer.environment[0].variables) == jsonencode({
      SQSTASK_QUEUE_URL          = "https://sqs.eu-west-1.amazonaws.com/123456789012/receipts.fifo"
      SQSTASK_DLQ_URL            = "https://sqs.eu-west-1.amazonaws.com/123456789012/receipts-dlq.fifo"
      SQSTASK_IDEMPOTENCY_TABLE  = "receipts-tasks"
      SQSTASK_PAYLOAD_BUCKET     = "receipts-payloads-123456789012"
      SQSTASK_VISIBILITY_TIMEOUT = "180"
    })
    error_message = "The function's environment must name the team's queue, DLQ, task table and payload bucket."
  }
}

run "one_trigger_whose_policy_reads_this_queue_only" {
  command = plan

  assert {
    condition     = keys(module.tasks.lambda_consumer_policy_json) == ["receipts"]
    error_message = "The example must have exactly one consumer, receipts."
  }

  assert {
    condition = [
      for s in jsondecode(module.tasks.lambda_consumer_policy_json["receipts"]).Statement : s.Resource if startswith(s.Sid, "Consume")
    ] == ["arn:aws:sqs:eu-west-1:123456789012:receipts.fifo"]
    error_message = "The consumer policy must grant the receipts queue and nothing else."
  }
}

run "alarms_include_the_function_and_notify_the_topic" {
  command = plan

  assert {
    condition     = output.alarm_names["receipts-errors"] == "receipts-receipts-errors" && output.alarm_names["receipts-throttles"] == "receipts-receipts-throttles"
    error_message = "The function must get an errors and a throttles alarm; got ${jsonencode(output.alarm_names)}."
  }

  assert {
    condition     = output.alarm_topic_arn == "arn:aws:sns:eu-west-1:123456789012:receipts-alarms"
    error_message = "Alarms must notify the created receipts-alarms topic."
  }

  assert {
    condition     = length(aws_sns_topic_subscription.oncall) == 0
    error_message = "Without alarm_email nobody is subscribed."
  }
}

run "an_alarm_email_is_subscribed_to_the_topic" {
  command = plan

  variables {
    alarm_email = "oncall@example.com"
  }

  assert {
    condition     = aws_sns_topic_subscription.oncall[0].endpoint == "oncall@example.com" && aws_sns_topic_subscription.oncall[0].protocol == "email"
    error_message = "alarm_email must be subscribed to the alarm topic by e-mail."
  }

  assert {
    condition     = aws_sns_topic_subscription.oncall[0].topic_arn == "arn:aws:sns:eu-west-1:123456789012:receipts-alarms"
    error_message = "The subscription must be on the alarm topic."
  }
}

run "reserved_concurrency_is_the_functions_and_caps_the_trigger" {
  command = plan

  assert {
    condition     = aws_lambda_function.consumer.reserved_concurrent_executions == 10
    error_message = "The function must reserve 10 concurrent executions by default."
  }
}

run "maximum_concurrency_above_the_reserved_concurrency_is_rejected" {
  command = plan

  variables {
    maximum_concurrency  = 20
    reserved_concurrency = 10
  }

  expect_failures = [aws_lambda_function.consumer]
}

run "maximum_concurrency_of_one_is_rejected" {
  command = plan

  variables {
    maximum_concurrency = 1
  }

  expect_failures = [var.maximum_concurrency]
}
