# Task state next to the queue: the DynamoDB table the SDK uses for idempotency and task
# status, and the optional S3 bucket for payloads larger than a queue message.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  table_name = "${var.name}-tasks"

  # Bucket names are lowercase and have no underscores; the account id makes them unique.
  default_bucket_name = "${replace(lower(var.name), "_", "-")}-payloads-${local.account_id}"
  bucket_name         = coalesce(var.payload_bucket_name, local.default_bucket_name)
  bucket_name_valid = (
    can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", local.bucket_name)) &&
    !strcontains(local.bucket_name, "..") &&
    !startswith(local.bucket_name, "xn--") &&
    !endswith(local.bucket_name, "-s3alias")
  )
  bucket_arn = "arn:${local.partition}:s3:::${local.bucket_name}"

  # Where the SDK writes offloaded payloads inside the bucket.
  payload_prefix = "sqstask-payloads/"

  use_kms = var.kms_key_arn != null

  # The TLS statements deny `s3:*` to Principal "*": a Deny over every action is the
  # standard AWS pattern for TLS-only buckets and grants nothing.
  bucket_policy = {
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
      {
        Sid       = "DenyOutdatedTls"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [local.bucket_arn, "${local.bucket_arn}/*"]
        Condition = { NumericLessThan = { "s3:TlsVersion" = "1.2" } }
      },
    ]
  }
}

# --- task table ---

resource "aws_dynamodb_table" "this" {
  name         = local.table_name
  billing_mode = "PAY_PER_REQUEST"
  hash_key     = "task_id"

  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "task_id"
    type = "S"
  }

  # The SDK writes an epoch-seconds `expires_at` on every record; DynamoDB deletes expired ones.
  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  point_in_time_recovery {
    enabled = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.kms_key_arn
  }

  tags = var.tags
}

# --- payload bucket ---

resource "aws_s3_bucket" "this" {
  #checkov:skip=CKV_AWS_18:Payload objects are transient copies of message bodies that expire with the queue; access logging would need a second bucket per team for no audit value (task state changes are logged by the SDK).
  #checkov:skip=CKV_AWS_144:Payloads live only as long as their messages, which are regional; replicating them to another region has nothing to serve.
  #checkov:skip=CKV2_AWS_62:Nothing reacts to payload uploads: the queue message that points at the payload is the notification.
  #checkov:skip=CKV_AWS_21:Versioning is off by design: payloads are written once, read by the consumer and expired by the lifecycle rule; old versions would only keep data longer.
  count = var.create_payload_bucket ? 1 : 0

  bucket        = local.bucket_name
  force_destroy = var.payload_bucket_force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = local.bucket_name_valid
      error_message = "The payload bucket name \"${local.bucket_name}\" is not a valid S3 bucket name (3 to 63 lowercase letters, digits, dots or hyphens). Use a shorter name, set payload_bucket_name, or set create_payload_bucket = false."
    }
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket                  = aws_s3_bucket.this[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = local.use_kms ? "aws:kms" : "AES256"
      kms_master_key_id = var.kms_key_arn
    }
    bucket_key_enabled = local.use_kms
  }
}

resource "aws_s3_bucket_versioning" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  # "Disabled" is valid for a bucket that has never been versioned, which this one is.
  versioning_configuration {
    status = "Disabled"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id

  # The whole bucket is transient payloads, whichever client wrote them (the SDK uses
  # payload_prefix; extended clients of other languages may write at the top level).
  rule {
    id     = "expire-payloads"
    status = "Enabled"

    filter {}

    expiration {
      days = var.payload_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  lifecycle {
    precondition {
      # A FIFO message's enqueue timestamp resets when it moves to the dead-letter queue (SQS
      # developer guide, "Setting-up dead-letter queue retention"), so a task lives up to both
      # retentions; its payload must outlast the sum, or `dlq show` and redrive lose it.
      condition     = var.payload_expiration_days * 86400 > var.queue_message_retention_seconds + var.dlq_message_retention_seconds
      error_message = "payload_expiration_days (${var.payload_expiration_days}) must be longer than the queue's message retention plus the dead-letter queue's (${var.queue_message_retention_seconds} + ${var.dlq_message_retention_seconds} seconds = ${ceil((var.queue_message_retention_seconds + var.dlq_message_retention_seconds) / 86400)} days, as a FIFO message's retention restarts in the DLQ), or tasks could outlive their payloads: set it to at least ${floor((var.queue_message_retention_seconds + var.dlq_message_retention_seconds) / 86400) + 1}."
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count = var.create_payload_bucket ? 1 : 0

  bucket = aws_s3_bucket.this[0].id
  policy = jsonencode(local.bucket_policy)

  # Public access settings first, so the policy is judged against them.
  depends_on = [aws_s3_bucket_public_access_block.this]
}
