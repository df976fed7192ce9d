# Redrive to the dead-letter queue and the redrive-allow policy that admits only this queue.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "redrive_policy_targets_the_dlq" {
  command = plan

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy).deadLetterTargetArn == "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
    error_message = "The redrive policy must target the DLQ's ARN."
  }
}

run "backstop_is_derived_from_five_attempts_by_default" {
  command = plan

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy).maxReceiveCount == 60 && output.max_attempts == 5
    error_message = "By default max_attempts must be 5 and the maxReceiveCount backstop 10 x (5 + 1) = 60."
  }
}

run "backstop_follows_max_attempts" {
  command = plan

  variables {
    max_attempts = 3
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy).maxReceiveCount == 40 && output.max_receive_count == 40
    error_message = "The maxReceiveCount backstop must be 10 x (max_attempts + 1)."
  }
}

run "max_attempts_of_zero_is_rejected" {
  command = plan

  variables {
    max_attempts = 0
  }

  expect_failures = [var.max_attempts]
}

run "max_attempts_over_99_is_rejected" {
  command = plan

  variables {
    max_attempts = 100
  }

  expect_failures = [var.max_attempts]
}

run "fractional_max_attempts_is_rejected" {
  command = plan

  variables {
    max_attempts = 2.5
  }

  expect_failures = [var.max_attempts]
}

run "redrive_after_max_receive_count_receives" {
  command = plan

  variables {
    max_receive_count = 3
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_policy.this.redrive_policy).maxReceiveCount == 3
    error_message = "maxReceiveCount must follow max_receive_count."
  }

  assert {
    condition     = output.max_receive_count == 3
    error_message = "The max_receive_count output must follow the variable."
  }
}

run "redrive_allow_admits_only_this_queue" {
  command = plan

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.this.redrive_allow_policy).redrivePermission == "byQueue"
    error_message = "The DLQ must admit source queues by queue, not allowAll."
  }

  assert {
    condition     = jsondecode(aws_sqs_queue_redrive_allow_policy.this.redrive_allow_policy).sourceQueueArns == ["arn:aws:sqs:eu-west-1:123456789012:billing.fifo"]
    error_message = "The DLQ's only source queue must be billing.fifo."
  }
}

run "redrive_policies_are_set_on_the_right_queues" {
  # apply, so the queue URLs exist and can be compared
  override_resource {
    target = aws_sqs_queue.main
    values = {
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
      arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    }
  }

  override_resource {
    target = aws_sqs_queue.dlq
    values = {
      url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
      arn = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
    }
  }

  assert {
    condition     = aws_sqs_queue_redrive_policy.this.queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    error_message = "The redrive policy belongs on the main queue."
  }

  assert {
    condition     = aws_sqs_queue_redrive_allow_policy.this.queue_url == "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
    error_message = "The redrive-allow policy belongs on the DLQ."
  }

  assert {
    condition     = output.queue_arn == output.queue_static_arn && output.dlq_arn == output.dlq_static_arn
    error_message = "The static ARNs must equal the ARNs AWS reports for the queues."
  }
}

run "max_receive_count_of_zero_is_rejected" {
  command = plan

  variables {
    max_receive_count = 0
  }

  expect_failures = [var.max_receive_count]
}

run "max_receive_count_over_1000_is_rejected" {
  command = plan

  variables {
    max_receive_count = 1001
  }

  expect_failures = [var.max_receive_count]
}
