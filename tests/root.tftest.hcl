# The root module: the parts wired together, its input validation, and the sdk_config output.

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
  name = "billing"
}

# Realistic queue URLs and ARNs instead of the mock provider's random strings.
override_resource {
  target = module.queue.aws_sqs_queue.main
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  }
}

override_resource {
  target = module.queue.aws_sqs_queue.dlq
  values = {
    url = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
    arn = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  }
}

override_resource {
  target = module.queue.aws_kms_key.this
  values = {
    arn    = "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
    key_id = "0000aaaa-11bb-22cc-33dd-444444eeeeee"
  }
}

run "resources_are_named_after_the_team" {
  command = plan

  assert {
    condition     = output.queue_name == "billing.fifo" && output.dlq_name == "billing-dlq.fifo"
    error_message = "The root must create billing.fifo and billing-dlq.fifo."
  }

  assert {
    condition     = output.table_name == "billing-tasks"
    error_message = "The root must create the billing-tasks table."
  }

  assert {
    condition     = output.payload_bucket_name == "billing-payloads-123456789012"
    error_message = "The root must create the payload bucket by default."
  }
}

run "sdk_config_has_exactly_the_keys_the_sdk_reads" {
  assert {
    condition = toset(keys(jsondecode(output.sdk_config))) == toset([
      "name", "region", "queue_url", "queue_arn", "dlq_url", "dlq_arn", "idempotency_table",
      "payload_bucket", "visibility_timeout", "max_message_size", "alarm_names",
      "schedule_group", "scheduler_role_arn", "schedule_dead_letter_arn", "metrics", "metrics_namespace",
      "priorities", "default_priority", "priority_queue_urls",
    ])
    error_message = "sdk_config keys were ${jsonencode(keys(jsondecode(output.sdk_config)))}."
  }
}

run "sdk_config_points_at_this_teams_queue_table_and_bucket" {
  assert {
    condition = jsondecode(output.sdk_config) == merge(jsondecode(output.sdk_config), {
      name               = "billing"
      region             = "eu-west-1"
      queue_url          = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing.fifo"
      queue_arn          = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
      dlq_url            = "https://sqs.eu-west-1.amazonaws.com/123456789012/billing-dlq.fifo"
      dlq_arn            = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
      idempotency_table  = "billing-tasks"
      payload_bucket     = "billing-payloads-123456789012"
      visibility_timeout = 300
      max_message_size   = 1048576
    })
    error_message = "sdk_config was ${output.sdk_config}."
  }
}

run "sdk_config_follows_the_queue_settings" {
  variables {
    visibility_timeout_seconds = 900
    max_message_size           = 262144
  }

  assert {
    condition     = jsondecode(output.sdk_config).visibility_timeout == 900 && jsondecode(output.sdk_config).max_message_size == 262144
    error_message = "sdk_config must carry the queue's visibility timeout and message size."
  }
}

run "sdk_config_has_no_payload_bucket_without_one" {
  variables {
    create_payload_bucket = false
  }

  assert {
    condition     = jsondecode(output.sdk_config).payload_bucket == null && output.payload_bucket_arn == null
    error_message = "Without a payload bucket sdk_config.payload_bucket must be null."
  }
}

run "queue_uses_sqs_managed_sse_by_default" {
  command = plan

  assert {
    condition     = output.kms_key_arn == null
    error_message = "By default no customer key is used."
  }
}

run "created_kms_key_is_reported" {
  variables {
    create_kms_key = true
  }

  assert {
    condition     = output.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
    error_message = "The created key must be the module's kms_key_arn."
  }
}

run "created_kms_key_also_encrypts_the_task_state" {
  variables {
    create_kms_key = true
  }

  assert {
    condition     = module.task_state.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
    error_message = "The task table and payload bucket must use the queue's key."
  }
}

run "given_kms_key_encrypts_queue_and_task_state" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = (
      output.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      && module.task_state.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    error_message = "A given key must encrypt the queues and the task state."
  }
}

run "name_over_71_characters_is_rejected" {
  command = plan

  variables {
    name = "n234567890123456789012345678901234567890123456789012345678901234567890ab"
  }

  expect_failures = [var.name]
}

run "visibility_timeout_over_12_hours_is_rejected" {
  command = plan

  variables {
    visibility_timeout_seconds = 43201
  }

  expect_failures = [var.visibility_timeout_seconds]
}

run "retention_over_14_days_is_rejected" {
  command = plan

  variables {
    message_retention_seconds = 1209601
  }

  expect_failures = [var.message_retention_seconds]
}

run "max_message_size_over_1_mib_is_rejected" {
  command = plan

  variables {
    max_message_size = 1048577
  }

  expect_failures = [var.max_message_size]
}

run "delay_over_15_minutes_is_rejected" {
  command = plan

  variables {
    delay_seconds = 901
  }

  expect_failures = [var.delay_seconds]
}

run "max_receive_count_over_1000_is_rejected" {
  command = plan

  variables {
    max_receive_count = 1001
  }

  expect_failures = [var.max_receive_count]
}

run "producer_principal_that_is_not_an_iam_arn_is_rejected" {
  command = plan

  variables {
    producer_principals = ["*"]
  }

  expect_failures = [var.producer_principals]
}

run "consumer_principal_that_is_not_an_iam_arn_is_rejected" {
  command = plan

  variables {
    consumer_principals = ["123456789012"]
  }

  expect_failures = [var.consumer_principals]
}

run "operator_principal_that_is_not_an_iam_arn_is_rejected" {
  command = plan

  variables {
    operator_principals = ["arn:aws:sts::123456789012:assumed-role/oncall/alice"]
  }

  expect_failures = [var.operator_principals]
}

run "kms_alias_instead_of_key_arn_is_rejected" {
  command = plan

  variables {
    kms_key_arn = "alias/billing"
  }

  expect_failures = [var.kms_key_arn]
}

run "invalid_payload_bucket_name_is_rejected" {
  command = plan

  variables {
    payload_bucket_name = "Billing_Payloads"
  }

  expect_failures = [var.payload_bucket_name]
}

run "payload_expiry_of_zero_days_is_rejected" {
  command = plan

  variables {
    payload_expiration_days = 0
  }

  expect_failures = [var.payload_expiration_days]
}
