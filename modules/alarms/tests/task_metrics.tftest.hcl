# Alarms and widgets on the SDK's task metrics (EMF, namespace `metrics_namespace`): failure
# rate by metric math, p99 end-to-end latency, stuck consumers; tasks per type, failures per
# type, latency percentiles and worker utilisation on the dashboard.

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
  name       = "billing"
  queue_name = "billing.fifo"
  dlq_name   = "billing-dlq.fifo"
}

run "failure_rate_is_metric_math_over_the_sdk_counts" {
  command = plan

  assert {
    condition = toset([for q in aws_cloudwatch_metric_alarm.task["task-failure-rate"].metric_query : q.id]) == toset([
      "failed", "malformed", "succeeded", "bad", "total", "rate"
    ])
    error_message = "The failure-rate alarm reads TasksFailed, TasksMalformed and TasksSucceeded and derives bad, total and rate."
  }

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.task["task-failure-rate"].metric_query : q.id => [
        q.metric[0].namespace, q.metric[0].metric_name, q.metric[0].dimensions["Queue"], q.metric[0].stat, q.metric[0].period
      ] if length(q.metric) > 0
      } == {
      failed    = ["sqstask", "TasksFailed", "billing.fifo", "Sum", 300]
      malformed = ["sqstask", "TasksMalformed", "billing.fifo", "Sum", 300]
      succeeded = ["sqstask", "TasksSucceeded", "billing.fifo", "Sum", 300]
    }
    error_message = "The failure-rate inputs are the queue-level (dimension Queue) sums over 5 minutes in the sqstask namespace."
  }

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.task["task-failure-rate"].metric_query : q.id => q.expression if q.expression != null
      } == {
      bad   = "FILL(failed, 0) + FILL(malformed, 0)"
      total = "bad + FILL(succeeded, 0)"
      rate  = "IF(total >= 10, 100 * bad / total, 0)"
    }
    error_message = "rate = 100 x (failed + malformed) / (that + succeeded), missing counts as 0, and 0 below min_tasks (10) tasks."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.task["task-failure-rate"].comparison_operator == "GreaterThanThreshold"
      && aws_cloudwatch_metric_alarm.task["task-failure-rate"].threshold == 10
      && aws_cloudwatch_metric_alarm.task["task-failure-rate"].evaluation_periods == 1
      && aws_cloudwatch_metric_alarm.task["task-failure-rate"].treat_missing_data == "notBreaching"
      && aws_cloudwatch_metric_alarm.task["task-failure-rate"].alarm_name == "billing-task-failure-rate"
    )
    error_message = "The failure-rate alarm fires above 10 % in one 5-minute period; no data (no task ran) is not breaching."
  }
}

run "failure_rate_settings_reach_the_alarm" {
  command = plan

  variables {
    failure_rate = { threshold_percent = 2.5, min_tasks = 50, period = 60, evaluation_periods = 3 }
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.task["task-failure-rate"].threshold == 2.5
      && aws_cloudwatch_metric_alarm.task["task-failure-rate"].evaluation_periods == 3
      && one([for q in aws_cloudwatch_metric_alarm.task["task-failure-rate"].metric_query : q.expression if q.id == "rate"]) == "IF(total >= 50, 100 * bad / total, 0)"
      && alltrue([for q in aws_cloudwatch_metric_alarm.task["task-failure-rate"].metric_query : q.metric[0].period == 60 if length(q.metric) > 0])
    )
    error_message = "threshold_percent, min_tasks, period and evaluation_periods must reach the failure-rate alarm."
  }
}

run "latency_alarm_watches_p99_of_the_end_to_end_latency" {
  command = plan

  variables {
    task_latency = { threshold_ms = 120000 }
  }

  assert {
    condition = [
      for q in aws_cloudwatch_metric_alarm.task["task-latency-p99"].metric_query : [
        q.metric[0].namespace, q.metric[0].metric_name, q.metric[0].dimensions["Queue"], q.metric[0].stat, q.metric[0].period, q.return_data
      ]
    ] == [["sqstask", "TaskLatency", "billing.fifo", "p99", 300, true]]
    error_message = "The latency alarm reads the p99 of TaskLatency (dimension Queue) over 5 minutes."
  }

  assert {
    condition = (
      aws_cloudwatch_metric_alarm.task["task-latency-p99"].threshold == 120000
      && aws_cloudwatch_metric_alarm.task["task-latency-p99"].comparison_operator == "GreaterThanThreshold"
    )
    error_message = "The latency alarm fires above task_latency.threshold_ms."
  }
}

run "stuck_consumer_needs_waiting_work_and_no_finished_task" {
  command = plan

  assert {
    condition = {
      for q in aws_cloudwatch_metric_alarm.task["stuck-consumer"].metric_query : q.id => [
        q.metric[0].namespace, q.metric[0].metric_name, q.metric[0].dimensions, q.metric[0].stat
      ] if length(q.metric) > 0
      } == {
      waiting   = ["AWS/SQS", "ApproximateNumberOfMessagesVisible", tomap({ QueueName = "billing.fifo" }), "Maximum"]
      succeeded = ["sqstask", "TasksSucceeded", tomap({ Queue = "billing.fifo" }), "Sum"]
      duplicate = ["sqstask", "TasksDuplicate", tomap({ Queue = "billing.fifo" }), "Sum"]
    }
    error_message = "The stuck-consumer alarm compares the queue's waiting messages with the tasks the SDK finished."
  }

  assert {
    condition = (
      one([for q in aws_cloudwatch_metric_alarm.task["stuck-consumer"].metric_query : q.expression if q.return_data]) == "IF(waiting > 0 AND FILL(succeeded, 0) + FILL(duplicate, 0) == 0, 1, 0)"
      && aws_cloudwatch_metric_alarm.task["stuck-consumer"].comparison_operator == "GreaterThanOrEqualToThreshold"
      && aws_cloudwatch_metric_alarm.task["stuck-consumer"].threshold == 1
      && aws_cloudwatch_metric_alarm.task["stuck-consumer"].evaluation_periods == 3
      && aws_cloudwatch_metric_alarm.task["stuck-consumer"].treat_missing_data == "notBreaching"
    )
    error_message = "Stuck: work waiting and nothing finished, for 3 periods in a row."
  }
}

run "every_expression_names_only_queries_of_its_alarm" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for alarm in aws_cloudwatch_metric_alarm.task : [
        for q in alarm.metric_query : [
          for word in regexall("[a-z][a-z0-9_]*", coalesce(q.expression, "-")) : contains([for other in alarm.metric_query : other.id], word)
        ]
      ]
    ]))
    error_message = "A metric math expression refers to an id that is not a query of its alarm."
  }

  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.task :
      length([for q in alarm.metric_query : q if q.return_data]) == 1 && alltrue([for q in alarm.metric_query : can(regex("^[a-z][A-Za-z0-9_]*$", q.id))])
    ])
    error_message = "Each alarm returns exactly one query, and every query id starts with a lowercase letter (CloudWatch's rule)."
  }
}

run "descriptions_are_runbooks" {
  command = plan

  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.task :
      strcontains(alarm.alarm_description, "First:") && strcontains(alarm.alarm_description, "billing.fifo") && length(alarm.alarm_description) <= 1024
    ])
    error_message = "Every task-metric alarm says what happened on which queue and what to do first, within CloudWatch's 1024 characters."
  }
}

run "a_team_namespace_reaches_alarms_and_widgets" {
  command = plan

  variables {
    metrics_namespace = "Acme/Tasks"
  }

  assert {
    condition = alltrue(flatten([
      for alarm in aws_cloudwatch_metric_alarm.task : [
        # A conditional, not &&: Terraform before 1.12 evaluates both sides, and q.metric may be empty.
        for q in alarm.metric_query : q.metric[0].namespace == "Acme/Tasks" if length(q.metric) > 0 ? q.metric[0].namespace != "AWS/SQS" : false
      ]
    ]))
    error_message = "The SDK metrics must be read from metrics_namespace."
  }

  assert {
    condition     = strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "{\\\"Acme/Tasks\\\",Queue,TaskType}")
    error_message = "The per-type widgets must SEARCH metrics_namespace (quoted) by Queue and TaskType."
  }
}

run "dashboard_has_the_task_widgets" {
  command = plan

  assert {
    condition = [
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : w.properties.metrics[0][0].expression
      if strcontains(try(w.properties.title, ""), "by type")
      ] == [
      "SEARCH('{\"sqstask\",Queue,TaskType} Queue=\"billing.fifo\" MetricName=\"TasksSucceeded\"', 'Sum', 60)",
      "SEARCH('{\"sqstask\",Queue,TaskType} Queue=\"billing.fifo\" MetricName=\"TasksFailed\"', 'Sum', 60)",
    ]
    error_message = "Tasks per minute by type and failures by type come from SEARCH over the TaskType dimension."
  }

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this[0].dashboard_body).widgets : [
        for m in try(w.properties.metrics, []) : "${m[1]} ${m[4].stat}" if length(m) > 1 && m[0] == "sqstask"
      ]
    ])) == toset(["TaskLatency p50", "TaskLatency p99", "TaskDuration p50", "TaskDuration p99", "WorkerUtilization Average", "TasksInFlight Sum"])
    error_message = "The dashboard graphs latency and duration p50/p99, average worker utilisation and tasks in flight."
  }
}

run "without_sdk_metrics_there_are_no_task_alarms_or_widgets" {
  command = plan

  variables {
    metrics_namespace = null
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.task) == 0 && !strcontains(aws_cloudwatch_dashboard.this[0].dashboard_body, "TaskType")
    error_message = "metrics_namespace = null (the SDK's metrics off) must create no task alarm and no task widget."
  }
}

run "each_task_alarm_can_be_switched_off" {
  command = plan

  variables {
    failure_rate   = { enabled = false }
    task_latency   = { enabled = false }
    stuck_consumer = { enabled = false }
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.task) == 0 && length(output.alarm_names) == 3
    error_message = "Each task-metric alarm has its own enabled switch."
  }
}

run "task_alarms_notify_like_the_others" {
  command = plan

  variables {
    sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:on-call"
  }

  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.task :
      toset(alarm.alarm_actions) == toset(["arn:aws:sns:eu-west-1:123456789012:on-call"]) && toset(alarm.ok_actions) == toset(["arn:aws:sns:eu-west-1:123456789012:on-call"])
    ])
    error_message = "Task-metric alarms notify the same topic, on ALARM and on OK."
  }
}

run "failure_rate_threshold_of_100_percent_is_rejected" {
  command = plan

  variables {
    failure_rate = { threshold_percent = 100 }
  }

  expect_failures = [var.failure_rate]
}

run "failure_rate_min_tasks_zero_is_rejected" {
  command = plan

  variables {
    failure_rate = { min_tasks = 0 }
  }

  expect_failures = [var.failure_rate]
}

run "latency_threshold_zero_is_rejected" {
  command = plan

  variables {
    task_latency = { threshold_ms = 0 }
  }

  expect_failures = [var.task_latency]
}

run "stuck_consumer_period_not_a_whole_minute_is_rejected" {
  command = plan

  variables {
    stuck_consumer = { period = 90 }
  }

  expect_failures = [var.stuck_consumer]
}

run "aws_namespace_is_rejected" {
  command = plan

  variables {
    metrics_namespace = "AWS/SQS"
  }

  expect_failures = [var.metrics_namespace]
}
