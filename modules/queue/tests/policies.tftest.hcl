# Queue policies: TLS only on both queues, and grants to the team's principals when given.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "queue_policy_denies_requests_without_tls" {
  command = plan

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "DenyInsecureTransport"
      ]) == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The queue policy must deny every request to the queue made without TLS."
  }
}

run "dlq_policy_denies_requests_without_tls" {
  command = plan

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : s
      if s.Sid == "DenyInsecureTransport"
      ]) == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "sqs:*"
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The DLQ policy must deny every request to the DLQ made without TLS."
  }
}

run "without_principals_the_policies_only_deny" {
  command = plan

  assert {
    condition     = [for s in jsondecode(aws_sqs_queue.main.policy).Statement : s.Effect] == ["Deny"]
    error_message = "With no principal lists the queue policy must grant nothing."
  }

  assert {
    condition     = [for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : s.Effect] == ["Deny"]
    error_message = "With no principal lists the DLQ policy must grant nothing."
  }
}

run "policies_never_allow_everyone" {
  command = plan

  variables {
    producer_principals = ["arn:aws:iam::123456789012:role/billing-api"]
    consumer_principals = ["arn:aws:iam::123456789012:role/billing-worker"]
    operator_principals = ["arn:aws:iam::123456789012:role/oncall"]
  }

  assert {
    condition = alltrue([
      for s in concat(jsondecode(aws_sqs_queue.main.policy).Statement, jsondecode(aws_sqs_queue.dlq.policy).Statement) :
      s.Effect == "Deny" || (s.Principal != "*" && !contains(flatten([s.Action]), "sqs:*"))
    ])
    error_message = "Allow statements must name principals and actions explicitly."
  }
}

run "producers_may_send_to_the_queue" {
  command = plan

  variables {
    producer_principals = ["arn:aws:iam::123456789012:role/billing-api"]
  }

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowProducers"
    ]).Principal.AWS == ["arn:aws:iam::123456789012:role/billing-api"]
    error_message = "The queue policy must name the producers."
  }

  assert {
    condition = contains(one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowProducers"
    ]).Action, "sqs:SendMessage")
    error_message = "Producers must be allowed sqs:SendMessage."
  }

  assert {
    condition = one([for s in jsondecode(aws_sqs_queue.main.policy).Statement : s if s.Sid == "AllowProducers"]) == {
      Sid       = "AllowProducers"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::123456789012:role/billing-api"] }
      Action    = ["sqs:SendMessage"]
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    }
    error_message = "Producers may only send, to this queue."
  }

  assert {
    condition = !contains(one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowProducers"
    ]).Action, "sqs:ReceiveMessage")
    error_message = "Producers must not be allowed to receive tasks."
  }

  assert {
    condition     = length([for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : s if s.Effect == "Allow"]) == 0
    error_message = "Producers get nothing on the DLQ."
  }
}

run "consumers_may_receive_delete_and_extend_visibility" {
  command = plan

  variables {
    consumer_principals = ["arn:aws:iam::123456789012:role/billing-worker"]
  }

  assert {
    condition = toset(one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowConsumers"
      ]).Action) == toset([
      "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
    ])
    error_message = "Consumers must be allowed exactly receive, delete, change visibility and queue attributes (what the SDK's consumers call)."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowConsumers"
    ]).Principal.AWS == ["arn:aws:iam::123456789012:role/billing-worker"]
    error_message = "The queue policy must name the consumers."
  }

  assert {
    condition = [
      for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : [s.Action, s.Principal.AWS]
      if s.Sid == "AllowConsumersToDeadLetter"
    ] == [[["sqs:SendMessage"], ["arn:aws:iam::123456789012:role/billing-worker"]]]
    error_message = "Consumers must be allowed to send to the DLQ (the SDK dead-letters exhausted tasks) and nothing else there."
  }
}

run "operators_may_inspect_purge_and_redrive_the_dlq" {
  command = plan

  variables {
    operator_principals = ["arn:aws:iam::123456789012:role/oncall"]
  }

  assert {
    condition = length(setsubtract(
      ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:PurgeQueue", "sqs:StartMessageMoveTask"],
      one([for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : s if s.Sid == "AllowOperators"]).Action,
    )) == 0
    error_message = "Operators must be able to read, delete, purge and redrive DLQ messages."
  }

  assert {
    condition = contains(one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowOperatorsToRedrive"
    ]).Action, "sqs:SendMessage")
    error_message = "Operators must be able to send redriven tasks back to the queue."
  }

  assert {
    condition = one([for s in jsondecode(aws_sqs_queue.dlq.policy).Statement : s if s.Sid == "AllowOperators"]) == {
      Sid       = "AllowOperators"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::123456789012:role/oncall"] }
      Action = [
        "sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
        "sqs:PurgeQueue", "sqs:StartMessageMoveTask", "sqs:ListMessageMoveTasks",
      ]
      Resource = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
    }
    error_message = "The DLQ policy must give operators exactly what `sqstask dlq` calls, on the DLQ, with no condition to weaken it."
  }

  assert {
    condition = one([for s in jsondecode(aws_sqs_queue.main.policy).Statement : s if s.Sid == "AllowOperatorsToRedrive"]) == {
      Sid       = "AllowOperatorsToRedrive"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::123456789012:role/oncall"] }
      Action    = ["sqs:SendMessage", "sqs:GetQueueAttributes"]
      Resource  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    }
    error_message = "On the main queue operators may only send (redrive) and read attributes (status); not ListDeadLetterSourceQueues, which no command calls."
  }

  assert {
    condition = !contains(one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowOperatorsToRedrive"
    ]).Action, "sqs:PurgeQueue")
    error_message = "Operators must not be able to purge the main queue."
  }
}

run "duplicate_principals_are_listed_once" {
  command = plan

  variables {
    producer_principals = ["arn:aws:iam::123456789012:role/billing-api", "arn:aws:iam::123456789012:role/billing-api"]
  }

  assert {
    condition = one([
      for s in jsondecode(aws_sqs_queue.main.policy).Statement : s
      if s.Sid == "AllowProducers"
    ]).Principal.AWS == ["arn:aws:iam::123456789012:role/billing-api"]
    error_message = "A principal listed twice must appear once."
  }
}

run "producer_principal_that_is_not_an_iam_arn_is_rejected" {
  command = plan

  variables {
    producer_principals = ["billing-api"]
  }

  expect_failures = [var.producer_principals]
}

run "consumer_principal_wildcard_is_rejected" {
  command = plan

  variables {
    consumer_principals = ["*"]
  }

  expect_failures = [var.consumer_principals]
}

run "operator_principal_of_another_service_is_rejected" {
  command = plan

  variables {
    operator_principals = ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"]
  }

  expect_failures = [var.operator_principals]
}
