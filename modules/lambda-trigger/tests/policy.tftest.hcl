# The consumer policy: exactly what a Lambda consumer needs, on this team's ARNs only,
# attached to the execution role when one is named.

mock_provider "aws" {
  mock_data "aws_lambda_function" {
    defaults = {
      timeout                        = 30
      reserved_concurrent_executions = -1
    }
  }
}

variables {
  name                             = "billing"
  queue_arn                        = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  queue_visibility_timeout_seconds = 300
  kms_key_arn                      = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  table_arn                        = "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"
  payload_bucket_arn               = "arn:aws:s3:::billing-payloads-123456789012"
  consumers = {
    invoices = { function_name = "billing-invoices", role_name = "billing-invoices-exec" }
    reports  = { function_name = "billing-reports" }
  }
}

run "policy_grants_queue_key_table_and_payload_access" {
  command = plan

  assert {
    condition = {
      for s in jsondecode(output.consumer_policy_json["invoices"]).Statement : s.Sid => { actions = toset(s.Action), resource = s.Resource, condition = try(s.Condition, null) }
      } == {
      ConsumeTaskQueue = {
        actions   = toset(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"])
        resource  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
        condition = null
      }
      UseQueueKey = {
        actions   = toset(["kms:Decrypt"])
        resource  = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
        condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"] } }
      }
      RecordTaskState = {
        actions   = toset(["dynamodb:UpdateItem"])
        resource  = "arn:aws:dynamodb:eu-west-1:123456789012:table/billing-tasks"
        condition = null
      }
      ReadLargePayloads = {
        actions   = toset(["s3:GetObject"])
        resource  = "arn:aws:s3:::billing-payloads-123456789012/sqstask-payloads/*"
        condition = null
      }
    }
    error_message = "The consumer policy must allow exactly: SQS receive/delete/get attributes on the queue (Lambda's poller; no heartbeat), kms:Decrypt through SQS, DynamoDB and S3 only, UpdateItem on the task table and s3:GetObject under the payload prefix."
  }

  assert {
    condition     = alltrue([for s in jsondecode(output.consumer_policy_json["invoices"]).Statement : s.Effect == "Allow"])
    error_message = "Every statement of the consumer policy must be an Allow."
  }
}

run "policy_has_no_wildcard_action_or_resource" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for key, doc in output.consumer_policy_json : [
        for s in jsondecode(doc).Statement : [
          for a in flatten([s.Action]) : a != "*" && !endswith(a, ":*")
        ]
      ]
    ]))
    error_message = "No consumer policy may allow a wildcard action."
  }

  assert {
    condition = alltrue(flatten([
      for key, doc in output.consumer_policy_json : [
        for s in jsondecode(doc).Statement : [for r in flatten([s.Resource]) : r != "*"]
      ]
    ]))
    error_message = "No consumer policy may use Resource \"*\"."
  }
}

run "policy_is_created_per_consumer_and_named_after_it" {
  command = plan

  assert {
    condition = (
      aws_iam_policy.consumer["invoices"].name == "billing-lambda-invoices"
      && aws_iam_policy.consumer["reports"].name == "billing-lambda-reports"
      && aws_iam_policy.consumer["invoices"].policy == output.consumer_policy_json["invoices"]
    )
    error_message = "Each consumer must get a policy named <name>-lambda-<consumer> holding its policy document."
  }
}

run "policy_is_attached_only_to_named_roles" {
  command = plan

  assert {
    condition     = keys(aws_iam_role_policy_attachment.consumer) == ["invoices"]
    error_message = "Only consumers with role_name get an attachment."
  }

  assert {
    condition     = aws_iam_role_policy_attachment.consumer["invoices"].role == "billing-invoices-exec"
    error_message = "The policy must be attached to the consumer's execution role."
  }
}

run "policy_arns_are_output_per_consumer" {
  command = apply

  assert {
    condition = (
      output.consumer_policy_arns["invoices"] == aws_iam_policy.consumer["invoices"].arn
      && output.consumer_policy_arns["reports"] == aws_iam_policy.consumer["reports"].arn
      && aws_iam_role_policy_attachment.consumer["invoices"].policy_arn == aws_iam_policy.consumer["invoices"].arn
    )
    error_message = "consumer_policy_arns must hold each consumer's policy ARN (also for consumers without role_name), and the attachment must use it."
  }
}

run "no_key_statement_without_a_customer_key" {
  command = plan

  variables {
    kms_key_arn        = null
    table_arn          = null
    payload_bucket_arn = null
  }

  assert {
    condition     = [for s in jsondecode(output.consumer_policy_json["invoices"]).Statement : s.Sid] == ["ConsumeTaskQueue"]
    error_message = "Without a key, table or bucket, the policy must hold only the queue statement."
  }
}

run "chaining_adds_send_and_generate_data_key" {
  command = plan

  variables {
    consumers = { invoices = { function_name = "billing-invoices", allow_chaining = true } }
  }

  assert {
    condition = {
      for s in jsondecode(output.consumer_policy_json["invoices"]).Statement : s.Sid => [toset(s.Action), try(s.Condition, null)]
      if contains(["EnqueueFollowUpTasks", "UseQueueKey", "EncryptFollowUpTasks"], s.Sid)
      } == {
      EnqueueFollowUpTasks = [toset(["sqs:SendMessage"]), null]
      UseQueueKey          = [toset(["kms:Decrypt"]), { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"] } }]
      EncryptFollowUpTasks = [toset(["kms:GenerateDataKey"]), { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com"] } }]
    }
    error_message = "allow_chaining must add sqs:SendMessage on the queue and kms:GenerateDataKey through SQS only."
  }
}
