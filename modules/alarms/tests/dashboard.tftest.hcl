# The team dashboard: queue depth, in flight, oldest age, DLQ depth, consumer errors, throttles
# and duration, and the alarms.

# Every alarm: its metric, namespace, dimension, statistic, threshold and missing-data rule,
# and a description that tells on-call what to do first.

mock_provider "aws" {
  mock_data "aws_caller_identity" {
    defaults = {
      account_id = "123456789012"
      arn        = "arn:aws:iam::123456789012:user/terraform"
      user_id    = "AIDAEXAMPLE"
    }
  }
  mock_data "aws_region" {
    defaults = {
      id     = "eu-west-1"
      name   = "eu-west-1"
      region = "eu-west-1"
    }
  }
  mock_data "aws_partition" {
    defaults = {
      partition  = "aws"
      dns_suffix = "amazonaws.com"
    }
  }
}

variables {
  name                    = "billing"
  queue_name              = "billing.fifo"
  dlq_name                = "billing-dlq.fifo"
  consumer_function_names = { invoices = "billing-invoices", reports = "billing-reports" }
}

run "dashboard_is_named_after_the_team" {
  command = plan

  assert {
    condition     = aws_cloudwatch_dashboard.this[0].dashboard_name == "billing-tasks" && output.dashboard_name == "billing-tasks"
    error_message = "The dashboard must be named <name>-tasks."
  }
}

run "dashboard_graphs_every_queue_metric" {
  command = plan

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : "${m[0]}/${m[1]}/${m[3]}" if length(m) > 1 # not SEARCH expressions
      ]
      ])) == toset([
      "AWS/SQS/ApproximateNumberOfMessagesVisible/billing.fifo",
      "AWS/SQS/ApproximateNumberOfMessagesDelayed/billing.fifo",
      "AWS/SQS/ApproximateNumberOfMessagesNotVisible/billing.fifo",
      "AWS/SQS/ApproximateAgeOfOldestMessage/billing.fifo",
      "AWS/SQS/ApproximateNumberOfMessagesVisible/billing-dlq.fifo",
      "AWS/Lambda/Errors/billing-invoices",
      "AWS/Lambda/Errors/billing-reports",
      "AWS/Lambda/Throttles/billing-invoices",
      "AWS/Lambda/Throttles/billing-reports",
      "AWS/Lambda/Duration/billing-invoices",
      "AWS/Lambda/Duration/billing-reports",
      "sqstask/TaskLatency/billing.fifo",
      "sqstask/TaskDuration/billing.fifo",
      "sqstask/WorkerUtilization/billing.fifo",
      "sqstask/TasksInFlight/billing.fifo",
    ])
    error_message = "The dashboard must graph depth, delayed, in flight, oldest age, DLQ depth, each consumer's errors, throttles and duration, and the task latency, duration, worker utilisation and tasks in flight."
  }

  assert {
    condition     = alltrue([for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.region == "eu-west-1" if w.type == "metric"])
    error_message = "Every metric widget must name the deployment region."
  }
}

run "dashboard_shows_the_team_alarms" {
  command = plan

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.alarms if w.type == "alarm"
      ])) == toset([
      for name in values(output.alarm_names) : "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:${name}"
    ])
    error_message = "The alarm widget must list every alarm of the team by ARN."
  }
}

run "dashboard_without_consumers_has_no_lambda_widgets" {
  command = plan

  variables {
    consumer_function_names = {}
  }

  assert {
    condition = alltrue(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : m[0] != "AWS/Lambda"
      ]
    ]))
    error_message = "Without consumers the dashboard must not graph Lambda metrics."
  }
}

run "dashboard_can_be_switched_off" {
  command = plan

  variables {
    create_dashboard = false
  }

  assert {
    condition     = length(aws_cloudwatch_dashboard.this) == 0 && output.dashboard_name == null
    error_message = "create_dashboard = false must create no dashboard and output a null name."
  }
}
