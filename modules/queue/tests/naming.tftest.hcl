# Queue and dead-letter queue names, and the FIFO name-length limit.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "queue_is_fifo_and_named_after_the_team" {
  command = plan

  assert {
    condition     = aws_sqs_queue.main.name == "billing.fifo" && aws_sqs_queue.main.fifo_queue
    error_message = "The task queue must be the FIFO queue billing.fifo."
  }
}

run "dlq_is_fifo_and_named_team_dlq" {
  command = plan

  assert {
    condition     = aws_sqs_queue.dlq.name == "billing-dlq.fifo" && aws_sqs_queue.dlq.fifo_queue
    error_message = "The dead-letter queue must be the FIFO queue billing-dlq.fifo."
  }
}

run "name_outputs_match_the_queues" {
  command = plan

  assert {
    condition     = output.queue_name == "billing.fifo" && output.dlq_name == "billing-dlq.fifo"
    error_message = "queue_name/dlq_name outputs must be billing.fifo and billing-dlq.fifo."
  }
}

run "static_arns_are_built_from_partition_region_account_and_name" {
  command = plan

  assert {
    condition     = output.queue_static_arn == "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
    error_message = "queue_static_arn was ${output.queue_static_arn}."
  }

  assert {
    condition     = output.dlq_static_arn == "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
    error_message = "dlq_static_arn was ${output.dlq_static_arn}."
  }
}

run "longest_allowed_name_gives_an_80_character_dlq_name" {
  command = plan

  variables {
    name = "n234567890123456789012345678901234567890123456789012345678901234567890a" # 71
  }

  assert {
    condition     = length(aws_sqs_queue.dlq.name) == 80
    error_message = "A 71-character name must give an 80-character DLQ name, the FIFO maximum."
  }
}

run "name_over_71_characters_is_rejected" {
  command = plan

  variables {
    name = "n234567890123456789012345678901234567890123456789012345678901234567890ab" # 72
  }

  expect_failures = [var.name]
}

run "empty_name_is_rejected" {
  command = plan

  variables {
    name = ""
  }

  expect_failures = [var.name]
}

run "name_with_characters_sqs_does_not_allow_is_rejected" {
  command = plan

  variables {
    name = "billing.team"
  }

  expect_failures = [var.name]
}
