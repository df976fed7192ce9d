# Alarms and dashboard widgets on the task metrics the SDK writes as CloudWatch Embedded Metric
# Format (sqstask.metrics): counts by outcome, duration and end-to-end latency, worker
# utilisation, in `metrics_namespace` with dimensions Queue (and TaskType). Kept apart from the
# SQS and Lambda alarms of main.tf; main.tf merges their names and widgets in.

locals {
  task_metrics = var.metrics_namespace != null

  # The SDK's queue-level metric (dimension set [Queue]) as a metric_query `metric` block.
  task_metric = {
    for name in ["TasksSucceeded", "TasksFailed", "TasksMalformed", "TasksDuplicate", "TaskLatency"] : name => {
      namespace   = var.metrics_namespace
      metric_name = name
      dimensions  = { Queue = var.queue_name }
    }
  }

  # One entry per alarm, keyed like those of main.tf (the alarm is `<name>-<key>`). `queries`
  # are metric_query blocks: a metric (`metric`, stat and period) or an expression; the one
  # with return_data = true is what the threshold compares.
  task_alarms = merge(
    local.task_metrics && var.failure_rate.enabled ? {
      "task-failure-rate" = {
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.failure_rate.threshold_percent
        evaluation_periods  = var.failure_rate.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: no task ran
        queries = [
          { id = "failed", metric = merge(local.task_metric["TasksFailed"], { stat = "Sum", period = var.failure_rate.period }), expression = null, label = "failed", return_data = false },
          { id = "malformed", metric = merge(local.task_metric["TasksMalformed"], { stat = "Sum", period = var.failure_rate.period }), expression = null, label = "malformed", return_data = false },
          { id = "succeeded", metric = merge(local.task_metric["TasksSucceeded"], { stat = "Sum", period = var.failure_rate.period }), expression = null, label = "succeeded", return_data = false },
          { id = "bad", metric = null, expression = "FILL(failed, 0) + FILL(malformed, 0)", label = "failed or malformed", return_data = false },
          { id = "total", metric = null, expression = "bad + FILL(succeeded, 0)", label = "tasks run", return_data = false },
          # Below min_tasks a period says too little (1 failure of 1 is 100 %): report 0.
          { id = "rate", metric = null, expression = "IF(total >= ${var.failure_rate.min_tasks}, 100 * bad / total, 0)", label = "failure rate, %", return_data = true },
        ]
        description = "More than ${var.failure_rate.threshold_percent} % of the tasks run on ${var.queue_name} failed or were malformed in ${var.failure_rate.period * var.failure_rate.evaluation_periods} s (at least ${var.failure_rate.min_tasks} tasks per period; SDK metrics TasksFailed and TasksMalformed over those plus TasksSucceeded, namespace ${var.metrics_namespace}). Failed tasks are retried and then move to the dead-letter queue. First: open the dashboard's failures-by-type widget to see which task type fails, then search the consumers' logs for its \"failed\" and \"malformed\" events (the reason and error are in each line); `sqstask dlq list` shows tasks that already gave up. A deployment that broke the handler is the usual cause: roll back, then `sqstask dlq redrive`."
      }
    } : {},
    local.task_metrics && var.task_latency.enabled ? {
      "task-latency-p99" = {
        comparison_operator = "GreaterThanThreshold"
        threshold           = var.task_latency.threshold_ms
        evaluation_periods  = var.task_latency.evaluation_periods
        treat_missing_data  = "notBreaching" # no data: no task succeeded (the stuck-consumer alarm covers that)
        queries = [
          { id = "latency", metric = merge(local.task_metric["TaskLatency"], { stat = "p99", period = var.task_latency.period }), expression = null, label = "p99 end-to-end latency, ms", return_data = true },
        ]
        description = "The 99th percentile of end-to-end task latency on ${var.queue_name} (from a task's creation by the producer to its successful finish; SDK metric TaskLatency, namespace ${var.metrics_namespace}) was above ${var.task_latency.threshold_ms} ms for ${var.task_latency.period * var.task_latency.evaluation_periods} s: tasks wait too long on the queue, are retried several times, or run slowly. First: run `sqstask status` for the backlog and the last hour's throughput; compare the dashboard's latency and duration: latency far above duration means waiting (add consumers or message groups, check the backlog and throttles alarms), high duration means slow handlers or their dependencies."
      }
    } : {},
    local.task_metrics && var.stuck_consumer.enabled ? {
      "stuck-consumer" = {
        comparison_operator = "GreaterThanOrEqualToThreshold"
        threshold           = 1
        evaluation_periods  = var.stuck_consumer.evaluation_periods
        treat_missing_data  = "notBreaching" # no SQS data: the queue is idle
        queries = [
          { id = "waiting", metric = { namespace = "AWS/SQS", metric_name = "ApproximateNumberOfMessagesVisible", dimensions = local.queue_dimensions, stat = "Maximum", period = var.stuck_consumer.period }, expression = null, label = "waiting", return_data = false },
          { id = "succeeded", metric = merge(local.task_metric["TasksSucceeded"], { stat = "Sum", period = var.stuck_consumer.period }), expression = null, label = "succeeded", return_data = false },
          { id = "duplicate", metric = merge(local.task_metric["TasksDuplicate"], { stat = "Sum", period = var.stuck_consumer.period }), expression = null, label = "skipped as done", return_data = false },
          { id = "stuck", metric = null, expression = "IF(waiting > 0 AND FILL(succeeded, 0) + FILL(duplicate, 0) == 0, 1, 0)", label = "work waiting, none done", return_data = true },
        ]
        description = "Tasks waited on ${var.queue_name} for ${var.stuck_consumer.period * var.stuck_consumer.evaluation_periods} s while no consumer finished a single task (SDK metrics TasksSucceeded and TasksDuplicate, namespace ${var.metrics_namespace}, were 0): consumers are down, hung, cannot reach the queue or the task table, or every task fails. First: check that consumers run (event source mapping enabled, workers up) and read their logs; run `sqstask status` for in-flight counts and `sqstask alarms` for the consumer errors, throttles and failure-rate alarms. Tasks longer than a period with nothing else finishing also look like this: raise stuck_consumer.period for such queues."
      }
    } : {},
  )

  # Dashboard rows below those of main.tf. Task types are not known here, so the per-type
  # widgets use SEARCH over the TaskType dimension.
  # (the widgets below are dropped when metrics are off, but built first: no null in the template)
  task_search_prefix = "{\"${coalesce(var.metrics_namespace, "off")}\",Queue,TaskType} Queue=\"${var.queue_name}\""
  task_widgets = [for widget in [
    {
      type = "metric", x = 0, y = 21, width = 12, height = 6
      properties = {
        title   = "Tasks succeeded per minute, by type (${var.queue_name})"
        region  = local.region
        view    = "timeSeries"
        stacked = true
        period  = 60
        metrics = [[{ id = "succeeded", expression = "SEARCH('${local.task_search_prefix} MetricName=\"TasksSucceeded\"', 'Sum', 60)", label = "" }]]
      }
    },
    {
      type = "metric", x = 12, y = 21, width = 12, height = 6
      properties = {
        title  = "Failures per minute, by type (${var.queue_name})"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [{ id = "failed", expression = "SEARCH('${local.task_search_prefix} MetricName=\"TasksFailed\"', 'Sum', 60)", label = "failed" }],
          [{ id = "malformed", expression = "SEARCH('${local.task_search_prefix} MetricName=\"TasksMalformed\"', 'Sum', 60)", label = "malformed" }],
        ]
      }
    },
    {
      type = "metric", x = 0, y = 27, width = 12, height = 6
      properties = {
        title  = "Task latency and duration, ms (${var.queue_name})"
        region = local.region
        view   = "timeSeries"
        period = 60
        metrics = [
          [var.metrics_namespace, "TaskLatency", "Queue", var.queue_name, { stat = "p50", label = "latency p50" }],
          [var.metrics_namespace, "TaskLatency", "Queue", var.queue_name, { stat = "p99", label = "latency p99" }],
          [var.metrics_namespace, "TaskDuration", "Queue", var.queue_name, { stat = "p50", label = "duration p50" }],
          [var.metrics_namespace, "TaskDuration", "Queue", var.queue_name, { stat = "p99", label = "duration p99" }],
        ]
      }
    },
    {
      type = "metric", x = 12, y = 27, width = 12, height = 6
      properties = {
        title  = "Worker utilisation, % and tasks in flight (${var.queue_name})"
        region = local.region
        view   = "timeSeries"
        period = 60
        yAxis  = { left = { min = 0, max = 100 } }
        metrics = [
          [var.metrics_namespace, "WorkerUtilization", "Queue", var.queue_name, { stat = "Average", label = "busy threads, %" }],
          [var.metrics_namespace, "TasksInFlight", "Queue", var.queue_name, { stat = "Sum", label = "in flight", yAxis = "right" }],
        ]
      }
    },
  ] : widget if local.task_metrics]
}

resource "aws_cloudwatch_metric_alarm" "task" {
  for_each = local.task_alarms

  alarm_name          = local.alarm_names[each.key]
  alarm_description   = each.value.description
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  evaluation_periods  = each.value.evaluation_periods
  treat_missing_data  = each.value.treat_missing_data

  dynamic "metric_query" {
    for_each = each.value.queries
    content {
      id          = metric_query.value.id
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = metric_query.value.return_data

      dynamic "metric" {
        for_each = metric_query.value.metric == null ? [] : [metric_query.value.metric]
        content {
          namespace   = metric.value.namespace
          metric_name = metric.value.metric_name
          dimensions  = metric.value.dimensions
          stat        = metric.value.stat
          period      = metric.value.period
        }
      }
    }
  }

  actions_enabled = true
  alarm_actions   = local.actions
  ok_actions      = local.actions

  tags = var.tags
}
