# A Lambda consumer: the function (from the zip `python build.py` writes), its execution role,
# the event source mapping with a concurrency cap, and alarms sent to an SNS topic.

provider "aws" {
  region = var.region
}

data "aws_partition" "current" {}

locals {
  function_name   = "${var.name}-consumer"
  timeout_seconds = 30
  package         = coalesce(var.package, "${path.module}/build/consumer.zip")
}

module "tasks" {
  source = "../.."

  name = var.name

  # AWS guidance for SQS event sources: visibility timeout >= 6 x the function timeout (the
  # module rejects less).
  visibility_timeout_seconds = 6 * local.timeout_seconds

  consumers = {
    receipts = {
      function_name       = aws_lambda_function.consumer.function_name
      timeout_seconds     = aws_lambda_function.consumer.timeout
      batch_size          = 10
      maximum_concurrency = var.maximum_concurrency
      role_name           = aws_iam_role.consumer.name # gets the queue/table/bucket policy attached
    }
  }

  alarms = {
    create_sns_topic = true # KMS-encrypted `<name>-alarms`; the consumer's errors and throttles alarms included
  }
}

resource "aws_iam_role" "consumer" {
  name = local.function_name
  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "logs" {
  role       = aws_iam_role.consumer.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
}

resource "aws_iam_role_policy_attachment" "tracing" {
  role       = aws_iam_role.consumer.name
  policy_arn = "arn:${data.aws_partition.current.partition}:iam::aws:policy/AWSXRayDaemonWriteAccess"
}

resource "aws_lambda_function" "consumer" {
  #checkov:skip=CKV_AWS_116:an SQS-triggered function has no use for a function DLQ (it serves asynchronous invocations); failed tasks go to the queue's DLQ after max_receive_count
  #checkov:skip=CKV_AWS_117:the function only calls AWS APIs; run it in a VPC with endpoints if your network policy requires it
  #checkov:skip=CKV_AWS_173:the environment holds resource names only, no secrets; Lambda encrypts it at rest with an AWS managed key
  #checkov:skip=CKV_AWS_272:code signing needs a signing profile of your organisation; add code_signing_config_arn in production
  function_name    = local.function_name
  role             = aws_iam_role.consumer.arn
  runtime          = "python3.12"
  handler          = "handler.handler"
  filename         = local.package
  source_code_hash = try(filebase64sha256(local.package), null)
  timeout          = local.timeout_seconds
  memory_size      = 256

  # Reserved concurrency belongs to the function; the mapping's maximum_concurrency must not
  # exceed it, or invocations are throttled and the throttled batches count as receives.
  reserved_concurrent_executions = var.reserved_concurrency

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    precondition {
      condition     = var.maximum_concurrency <= var.reserved_concurrency
      error_message = "maximum_concurrency (${var.maximum_concurrency}) must not exceed reserved_concurrency (${var.reserved_concurrency}): the mapping would start invocations the function cannot run, and throttled batches count as receives toward the DLQ."
    }
  }

  # Individual settings rather than SQSTASK_CONFIG = module.tasks.sdk_config: sdk_config lists
  # the alarm names, which include this function's alarms, so it depends on the function.
  environment {
    variables = {
      SQSTASK_QUEUE_URL          = module.tasks.queue_url
      SQSTASK_DLQ_URL            = module.tasks.dlq_url
      SQSTASK_IDEMPOTENCY_TABLE  = module.tasks.table_name
      SQSTASK_PAYLOAD_BUCKET     = module.tasks.payload_bucket_name
      SQSTASK_VISIBILITY_TIMEOUT = tostring(6 * local.timeout_seconds)
    }
  }
}

resource "aws_sns_topic_subscription" "oncall" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = module.tasks.alarm_sns_topic_arn
  protocol  = "email"
  endpoint  = var.alarm_email
}
