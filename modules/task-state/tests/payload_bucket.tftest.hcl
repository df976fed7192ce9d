# The optional payload bucket for payloads larger than a queue message.

# Account 123456789012, region eu-west-1, partition aws: see aws.tfmock.hcl.
mock_provider "aws" {
  source = "./tests"
}

variables {
  name = "billing"
}

run "bucket_is_created_by_default_and_named_per_account" {
  command = plan

  assert {
    condition     = aws_s3_bucket.this[0].bucket == "billing-payloads-123456789012"
    error_message = "The payload bucket must be billing-payloads-123456789012."
  }

  assert {
    condition     = output.payload_bucket_name == "billing-payloads-123456789012" && output.payload_prefix == "sqstask-payloads/"
    error_message = "The outputs must name the bucket and the sqstask-payloads/ prefix."
  }
}

run "bucket_name_is_lowercased_without_underscores" {
  command = plan

  variables {
    name = "Billing_Jobs"
  }

  assert {
    condition     = aws_s3_bucket.this[0].bucket == "billing-jobs-payloads-123456789012"
    error_message = "Bucket names must be lowercase and use hyphens for underscores."
  }
}

run "bucket_name_can_be_given" {
  command = plan

  variables {
    payload_bucket_name = "acme-billing-payloads"
  }

  assert {
    condition     = aws_s3_bucket.this[0].bucket == "acme-billing-payloads"
    error_message = "payload_bucket_name must name the bucket."
  }
}

run "bucket_blocks_all_public_access" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_public_access_block.this[0].block_public_acls
      && aws_s3_bucket_public_access_block.this[0].block_public_policy
      && aws_s3_bucket_public_access_block.this[0].ignore_public_acls
      && aws_s3_bucket_public_access_block.this[0].restrict_public_buckets
    )
    error_message = "All four public access blocks must be on."
  }
}

run "bucket_owner_owns_every_object" {
  command = plan

  assert {
    condition     = aws_s3_bucket_ownership_controls.this[0].rule[0].object_ownership == "BucketOwnerEnforced"
    error_message = "Object ownership must be BucketOwnerEnforced (ACLs disabled)."
  }
}

run "bucket_uses_sse_s3_without_a_customer_key" {
  command = plan

  assert {
    condition     = one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default).sse_algorithm == "AES256"
    error_message = "Without a customer key the bucket must default to SSE-S3 (AES256)."
  }
}

run "bucket_uses_the_customer_key_when_given" {
  command = plan

  variables {
    kms_key_arn = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition = one(one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).apply_server_side_encryption_by_default) == {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    }
    error_message = "With a customer key the bucket must default to SSE-KMS with that key."
  }

  assert {
    condition     = one(aws_s3_bucket_server_side_encryption_configuration.this[0].rule).bucket_key_enabled
    error_message = "S3 bucket keys must be on with SSE-KMS, to keep KMS calls down."
  }
}

run "bucket_policy_denies_requests_without_tls" {
  command = plan

  assert {
    condition = one([
      for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s
      if s.Sid == "DenyInsecureTransport"
      ]) == {
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:aws:s3:::billing-payloads-123456789012", "arn:aws:s3:::billing-payloads-123456789012/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }
    error_message = "The bucket policy must deny every non-TLS request to the bucket and its objects."
  }

  assert {
    condition = one([
      for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s
      if s.Sid == "DenyOutdatedTls"
      ]) == {
      Sid       = "DenyOutdatedTls"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = ["arn:aws:s3:::billing-payloads-123456789012", "arn:aws:s3:::billing-payloads-123456789012/*"]
      Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
    }
    error_message = "The bucket policy must deny requests over TLS older than 1.2."
  }

  assert {
    condition     = [for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s.Sid] == ["DenyInsecureTransport", "DenyOutdatedTls"]
    error_message = "The bucket policy holds only the two TLS denials: access comes from the team's IAM policies."
  }
}

run "bucket_policy_only_denies" {
  command = plan

  assert {
    condition     = toset([for s in jsondecode(aws_s3_bucket_policy.this[0].policy).Statement : s.Effect]) == toset(["Deny"])
    error_message = "The bucket policy must not grant anything."
  }
}

run "bucket_versioning_is_off" {
  command = plan

  assert {
    condition     = aws_s3_bucket_versioning.this[0].versioning_configuration[0].status == "Disabled"
    error_message = "Payload objects are transient: versioning must stay off."
  }
}

run "payloads_expire_after_19_days_by_default" {
  command = plan

  assert {
    condition = (
      aws_s3_bucket_lifecycle_configuration.this[0].rule[0].status == "Enabled"
      && aws_s3_bucket_lifecycle_configuration.this[0].rule[0].expiration[0].days == 19
    )
    error_message = "Payload objects must expire after 19 days by default (longer than the 4-day queue plus 14-day DLQ retention)."
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this[0].rule[0].abort_incomplete_multipart_upload[0].days_after_initiation == 1
    error_message = "Incomplete multipart uploads must be cleaned up after a day."
  }
}

run "payload_expiry_follows_the_variable" {
  command = plan

  variables {
    payload_expiration_days = 30
  }

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this[0].rule[0].expiration[0].days == 30
    error_message = "payload_expiration_days must set the expiry."
  }
}

run "payload_expiry_not_longer_than_queue_retention_is_rejected" {
  command = plan

  variables {
    payload_expiration_days         = 4
    queue_message_retention_seconds = 345600
  }

  expect_failures = [aws_s3_bucket_lifecycle_configuration.this]
}

run "payload_expiry_must_outlast_queue_and_dlq_retention_together" {
  command = plan

  # 15 days outlasts the queue's 4 days but not 4 + 14: a FIFO message's retention restarts in
  # the DLQ, so its payload could be deleted while the task still waits there.
  variables {
    payload_expiration_days         = 15
    queue_message_retention_seconds = 345600
    dlq_message_retention_seconds   = 1209600
  }

  expect_failures = [aws_s3_bucket_lifecycle_configuration.this]
}

run "default_payload_expiry_outlasts_default_queue_and_dlq_retention" {
  command = plan

  assert {
    condition     = aws_s3_bucket_lifecycle_configuration.this[0].rule[0].expiration[0].days * 86400 > 345600 + 1209600
    error_message = "The default payload expiry must outlast the default queue (4 d) plus DLQ (14 d) retention."
  }
}

run "payload_expiry_of_zero_days_is_rejected" {
  command = plan

  variables {
    payload_expiration_days = 0
  }

  expect_failures = [var.payload_expiration_days]
}

run "name_too_long_for_a_bucket_is_rejected" {
  command = plan

  variables {
    name = "a-team-name-that-is-far-too-long-for-a-bucket-name"
  }

  expect_failures = [aws_s3_bucket.this]
}

run "long_name_works_with_a_given_bucket_name" {
  command = plan

  variables {
    name                = "a-team-name-that-is-far-too-long-for-a-bucket-name"
    payload_bucket_name = "long-team-payloads"
  }

  assert {
    condition     = aws_s3_bucket.this[0].bucket == "long-team-payloads"
    error_message = "A given bucket name must be used for long team names."
  }
}

run "invalid_bucket_name_is_rejected" {
  command = plan

  variables {
    payload_bucket_name = "Billing_Payloads"
  }

  expect_failures = [var.payload_bucket_name]
}

run "bucket_can_be_left_out" {
  command = plan

  variables {
    create_payload_bucket = false
  }

  assert {
    condition = (
      length(aws_s3_bucket.this) == 0
      && length(aws_s3_bucket_policy.this) == 0
      && length(aws_s3_bucket_lifecycle_configuration.this) == 0
    )
    error_message = "create_payload_bucket = false must create no bucket resources."
  }

  assert {
    condition     = output.payload_bucket_name == null && output.payload_bucket_arn == null
    error_message = "Without a bucket the bucket outputs must be null."
  }
}

run "long_name_without_a_bucket_is_accepted" {
  command = plan

  variables {
    name                  = "a-team-name-that-is-far-too-long-for-a-bucket-name"
    create_payload_bucket = false
  }

  assert {
    condition     = aws_dynamodb_table.this.name == "a-team-name-that-is-far-too-long-for-a-bucket-name-tasks"
    error_message = "A long name must still give a task table when no bucket is created."
  }
}
