# The task table: idempotency and task status for the SDK.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "table_is_named_after_the_team_and_billed_on_demand" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.name == "billing-tasks"
    error_message = "The task table must be named billing-tasks."
  }

  assert {
    condition     = aws_dynamodb_table.this.billing_mode == "PAY_PER_REQUEST"
    error_message = "The task table must use on-demand billing."
  }
}

run "table_is_keyed_by_task_id_string" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.hash_key == "task_id"
    error_message = "The partition key must be task_id."
  }

  assert {
    condition     = [for a in aws_dynamodb_table.this.attribute : a.type if a.name == "task_id"] == ["S"]
    error_message = "task_id must be a string attribute."
  }
}

run "records_expire_through_ttl_on_expires_at" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.ttl[0].attribute_name == "expires_at" && aws_dynamodb_table.this.ttl[0].enabled
    error_message = "TTL must be enabled on the expires_at attribute."
  }
}

run "point_in_time_recovery_is_on" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.point_in_time_recovery[0].enabled
    error_message = "Point-in-time recovery must be on."
  }
}

run "table_is_encrypted_with_the_aws_managed_key_without_a_customer_key" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.server_side_encryption[0].enabled && aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == null
    error_message = "Without a customer key, SSE must be on with the AWS managed key."
  }
}

run "table_is_encrypted_with_the_customer_key_when_given" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = (
      aws_dynamodb_table.this.server_side_encryption[0].enabled
      && aws_dynamodb_table.this.server_side_encryption[0].kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    )
    error_message = "With a customer key, the table must be encrypted with it."
  }
}

run "deletion_protection_is_on_by_default" {
  command = plan

  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled == true
    error_message = "Deletion protection must be on by default."
  }
}

run "deletion_protection_can_be_switched_off" {
  command = plan

  variables {
    deletion_protection_enabled = false
  }

  assert {
    condition     = aws_dynamodb_table.this.deletion_protection_enabled == false
    error_message = "deletion_protection_enabled = false must switch deletion protection off."
  }
}

run "table_outputs_name_it" {
  command = plan

  assert {
    condition     = output.table_name == "billing-tasks"
    error_message = "The table_name output must be billing-tasks."
  }
}

run "name_with_invalid_characters_is_rejected" {
  command = plan

  variables {
    name = "billing team"
  }

  expect_failures = [var.name]
}

run "kms_alias_instead_of_key_arn_is_rejected" {
  command = plan

  variables {
    kms_key_arn = "alias/billing"
  }

  expect_failures = [var.kms_key_arn]
}

run "customer_key_is_reported" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = output.kms_key_arn == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    error_message = "The kms_key_arn output must name the key encrypting the task state."
  }
}
