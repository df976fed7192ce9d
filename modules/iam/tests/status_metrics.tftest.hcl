# The operator policy lets `sqstask status` read metrics: GetMetricStatistics for the oldest
# message age, GetMetricData for the last hour of the SDK's task metrics.

mock_provider "aws" {}

variables {
  name       = "billing"
  queue_arn  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  dlq_arn    = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  queue_name = "billing.fifo"
  dlq_name   = "billing-dlq.fifo"
}

run "operator_may_read_the_metrics_sqstask_status_shows" {
  command = plan

  assert {
    condition = length(setintersection(
      toset(flatten([for s in jsondecode(output.operator_policy_json).Statement : s.Action if s.Effect == "Allow"])),
      ["cloudwatch:GetMetricData", "cloudwatch:GetMetricStatistics"]
    )) == 2
    error_message = "The operator policy must allow cloudwatch:GetMetricData (task metrics in `sqstask status`) and cloudwatch:GetMetricStatistics (oldest message age)."
  }
}
