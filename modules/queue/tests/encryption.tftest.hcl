# Encryption: SQS-managed SSE by default, a given customer key, or a key the module creates.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "queues_use_sqs_managed_sse_by_default" {
  command = plan

  assert {
    condition     = aws_sqs_queue.main.sqs_managed_sse_enabled == true && aws_sqs_queue.dlq.sqs_managed_sse_enabled == true
    error_message = "Without a KMS key both queues must use SQS-managed SSE."
  }

  assert {
    condition     = aws_sqs_queue.main.kms_master_key_id == null && aws_sqs_queue.dlq.kms_master_key_id == null
    error_message = "Without a KMS key no kms_master_key_id may be set."
  }

  assert {
    condition     = length(aws_kms_key.this) == 0 && output.kms_key_arn == null
    error_message = "No KMS key may be created by default, and kms_key_arn must be null."
  }
}

run "given_kms_key_encrypts_both_queues" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = (
      aws_sqs_queue.main.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
      && aws_sqs_queue.dlq.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    error_message = "Both queues must be encrypted with the given key."
  }

  assert {
    condition     = aws_sqs_queue.main.kms_data_key_reuse_period_seconds == 300
    error_message = "The data key reuse period must default to 300 seconds with a customer key."
  }

  assert {
    condition     = length(aws_kms_key.this) == 0
    error_message = "No key may be created when one is given."
  }

  assert {
    condition     = output.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "The kms_key_arn output must be the given key."
  }
}

run "created_kms_key_encrypts_both_queues" {
  variables {
    create_kms_key = true
  }

  override_resource {
    target = aws_kms_key.this
    values = {
      arn    = "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
      key_id = "0000aaaa-11bb-22cc-33dd-444444eeeeee"
    }
  }

  assert {
    condition = (
      aws_sqs_queue.main.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
      && aws_sqs_queue.dlq.kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
    )
    error_message = "Both queues must be encrypted with the created key."
  }

  assert {
    condition     = output.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/0000aaaa-11bb-22cc-33dd-444444eeeeee"
    error_message = "The kms_key_arn output must be the created key."
  }
}

run "created_kms_key_rotates_and_has_the_team_alias" {
  command = plan

  variables {
    create_kms_key = true
  }

  assert {
    condition     = aws_kms_key.this[0].enable_key_rotation == true
    error_message = "The created key must have rotation on."
  }

  assert {
    condition     = aws_kms_alias.this[0].name == "alias/sqstask/billing"
    error_message = "The created key's alias must be alias/sqstask/billing."
  }
}

run "created_key_policy_keeps_the_account_in_control" {
  command = plan

  variables {
    create_kms_key = true
  }

  assert {
    condition = one([
      for s in jsondecode(aws_kms_key.this[0].policy).Statement : s
      if s.Sid == "EnableAccountAdministration"
    ]).Principal.AWS == "arn:aws:iam::123456789012:root"
    error_message = "The key policy must let this account's root administer the key."
  }
}

run "created_key_policy_names_no_service_principal" {
  command = plan

  variables {
    create_kms_key = true
  }

  # SQS, S3, DynamoDB and EventBridge Scheduler use the key with the caller's credentials (or the
  # scheduler role's): no flow needs a service principal in the key policy.
  assert {
    condition = alltrue([
      for s in jsondecode(aws_kms_key.this[0].policy).Statement : !can(s.Principal.Service)
    ])
    error_message = "The key policy must not admit AWS service principals: no flow needs them."
  }

  assert {
    condition     = [for s in jsondecode(aws_kms_key.this[0].policy).Statement : s.Sid] == ["EnableAccountAdministration"]
    error_message = "Without team principals the key policy holds only the account's administration statement."
  }
}

run "created_key_policy_gives_each_role_its_key_use_through_the_team_services" {
  command = plan

  variables {
    create_kms_key      = true
    producer_principals = ["arn:aws:iam::210987654321:role/billing-api"]
    consumer_principals = ["arn:aws:iam::210987654321:role/billing-worker"]
    operator_principals = ["arn:aws:iam::210987654321:role/oncall"]
  }

  assert {
    condition = {
      for s in jsondecode(aws_kms_key.this[0].policy).Statement : s.Sid => s if s.Sid != "EnableAccountAdministration"
      } == {
      AllowProducersToEncryptTasks = {
        Sid       = "AllowProducersToEncryptTasks"
        Effect    = "Allow"
        Principal = { AWS = ["arn:aws:iam::210987654321:role/billing-api"] }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com"] } }
      }
      AllowConsumersToDecryptTasks = {
        Sid       = "AllowConsumersToDecryptTasks"
        Effect    = "Allow"
        Principal = { AWS = ["arn:aws:iam::210987654321:role/billing-worker"] }
        Action    = ["kms:Decrypt"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com"] } }
      }
      AllowOperatorsToInspectAndRedrive = {
        Sid       = "AllowOperatorsToInspectAndRedrive"
        Effect    = "Allow"
        Principal = { AWS = ["arn:aws:iam::210987654321:role/oncall"] }
        Action    = ["kms:GenerateDataKey", "kms:Decrypt", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = ["sqs.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", "dynamodb.eu-west-1.amazonaws.com", "scheduler.eu-west-1.amazonaws.com"] } }
      }
    }
    error_message = "Each role's principals may use the key only for their role's actions and only through SQS, S3, DynamoDB (and Scheduler for operators)."
  }
}

run "created_key_policy_without_principals_has_no_team_statement" {
  command = plan

  variables {
    create_kms_key      = true
    producer_principals = ["arn:aws:iam::123456789012:role/billing-api"]
  }

  assert {
    condition     = [for s in jsondecode(aws_kms_key.this[0].policy).Statement : s.Sid] == ["EnableAccountAdministration", "AllowProducersToEncryptTasks"]
    error_message = "A role without principals must not produce an (invalid) empty statement."
  }
}

run "given_key_and_created_key_together_are_rejected" {
  command = plan

  variables {
    create_kms_key = true
    kms_key_arn    = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  expect_failures = [aws_kms_key.this]
}

run "kms_alias_instead_of_key_arn_is_rejected" {
  command = plan

  variables {
    kms_key_arn = "alias/billing"
  }

  expect_failures = [var.kms_key_arn]
}

run "kms_deletion_window_under_7_days_is_rejected" {
  command = plan

  variables {
    kms_key_deletion_window_in_days = 6
  }

  expect_failures = [var.kms_key_deletion_window_in_days]
}

run "kms_data_key_reuse_under_a_minute_is_rejected" {
  command = plan

  variables {
    kms_data_key_reuse_period_seconds = 59
  }

  expect_failures = [var.kms_data_key_reuse_period_seconds]
}
