# Notifications: alarm and OK actions go to the given topic, or to a created KMS-encrypted one.

# Every alarm: its metric, namespace, dimension, statistic, threshold and missing-data rule,
# and a description that tells on-call what to do first.

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
  name                    = "billing"
  queue_name              = "billing.fifo"
  dlq_name                = "billing-dlq.fifo"
  consumer_function_names = { invoices = "billing-invoices" }
  producer_stopped        = { enabled = true }
}

run "given_topic_receives_alarm_and_ok_notifications" {
  command = plan

  variables {
    sns_topic_arn = "arn:aws:sns:eu-west-1:123456789012:oncall-billing"
  }

  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.this :
      toset(a.alarm_actions) == toset(["arn:aws:sns:eu-west-1:123456789012:oncall-billing"]) && toset(a.ok_actions) == toset(["arn:aws:sns:eu-west-1:123456789012:oncall-billing"]) && a.actions_enabled
    ])
    error_message = "Every alarm must notify the given topic on ALARM and on OK."
  }

  assert {
    condition     = length(aws_sns_topic.this) == 0 && length(aws_kms_key.sns) == 0 && output.sns_topic_arn == "arn:aws:sns:eu-west-1:123456789012:oncall-billing"
    error_message = "With a given topic nothing is created and sns_topic_arn is the given one."
  }
}

run "created_topic_is_encrypted_and_receives_notifications" {
  command = apply

  variables {
    create_sns_topic = true
  }

  assert {
    condition     = aws_sns_topic.this[0].name == "billing-alarms" && aws_sns_topic.this[0].kms_master_key_id == aws_kms_key.sns[0].arn
    error_message = "The created topic must be <name>-alarms, encrypted with the dedicated key."
  }

  assert {
    condition     = aws_kms_key.sns[0].enable_key_rotation && aws_kms_alias.sns[0].name == "alias/sqstask/billing-alarms"
    error_message = "The dedicated key must rotate and be aliased alias/sqstask/<name>-alarms."
  }

  assert {
    condition = alltrue([
      for a in aws_cloudwatch_metric_alarm.this :
      toset(a.alarm_actions) == toset([aws_sns_topic.this[0].arn]) && toset(a.ok_actions) == toset([aws_sns_topic.this[0].arn])
    ])
    error_message = "Every alarm must notify the created topic on ALARM and on OK."
  }

  assert {
    condition     = output.sns_topic_arn == aws_sns_topic.this[0].arn && output.sns_kms_key_arn == aws_kms_key.sns[0].arn
    error_message = "sns_topic_arn and sns_kms_key_arn must be the created topic and key."
  }
}

run "dedicated_key_lets_cloudwatch_encrypt_notifications" {
  command = plan

  variables {
    create_sns_topic = true
  }

  assert {
    condition = [
      for s in jsondecode(aws_kms_key.sns[0].policy).Statement : s
      if s.Sid == "AllowCloudWatchAlarmsToPublish"
      ] == [{
        Sid       = "AllowCloudWatchAlarmsToPublish"
        Effect    = "Allow"
        Principal = { Service = "cloudwatch.amazonaws.com" }
        Action    = ["kms:Decrypt", "kms:GenerateDataKey*"]
        Resource  = "*"
        Condition = {
          StringEquals = { "aws:SourceAccount" = "123456789012" }
          ArnLike      = { "aws:SourceArn" = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-*" }
        }
    }]
    error_message = "The key policy must let cloudwatch.amazonaws.com use the key for this team's alarms in this account only, or alarms cannot publish to the encrypted topic."
  }

  assert {
    condition = [for s in jsondecode(aws_kms_key.sns[0].policy).Statement : [s.Sid, s.Principal]] == [
      ["EnableAccountAdministration", { AWS = "arn:aws:iam::123456789012:root" }],
      ["AllowCloudWatchAlarmsToPublish", { Service = "cloudwatch.amazonaws.com" }],
    ]
    error_message = "The topic key policy may name only this account (administration) and CloudWatch."
  }
}

run "topic_policy_admits_this_teams_alarms_and_requires_tls" {
  command = plan

  variables {
    create_sns_topic = true
  }

  assert {
    condition = {
      for s in jsondecode(aws_sns_topic.this[0].policy).Statement : s.Sid => s
      }["AllowThisTeamsAlarmsToPublish"] == {
      Sid       = "AllowThisTeamsAlarmsToPublish"
      Effect    = "Allow"
      Principal = { Service = "cloudwatch.amazonaws.com" }
      Action    = "sns:Publish"
      Resource  = "arn:aws:sns:eu-west-1:123456789012:billing-alarms"
      Condition = {
        StringEquals = { "aws:SourceAccount" = "123456789012" }
        ArnLike      = { "aws:SourceArn" = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:billing-*" }
      }
    }
    error_message = "CloudWatch may publish to the topic only for this team's alarms in this account."
  }

  assert {
    condition = {
      for s in jsondecode(aws_sns_topic.this[0].policy).Statement : s.Sid => [s.Effect, s.Condition]
    }["DenyInsecureTransport"] == ["Deny", { Bool = { "aws:SecureTransport" = "false", "aws:PrincipalIsAWSService" = "false" } }]
    error_message = "The topic policy must deny requests without TLS."
  }
}

run "given_key_encrypts_the_created_topic" {
  command = plan

  variables {
    create_sns_topic = true
    kms_key_arn      = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
  }

  assert {
    condition     = aws_sns_topic.this[0].kms_master_key_id == "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab" && length(aws_kms_key.sns) == 0
    error_message = "A given key must encrypt the created topic, and no dedicated key be created."
  }
}

run "topic_given_and_created_at_once_fails_plan" {
  command = plan

  variables {
    create_sns_topic = true
    sns_topic_arn    = "arn:aws:sns:eu-west-1:123456789012:oncall-billing"
  }

  expect_failures = [aws_sns_topic.this]
}

run "without_a_topic_alarms_have_no_actions" {
  command = plan

  assert {
    condition     = alltrue([for a in aws_cloudwatch_metric_alarm.this : length(a.alarm_actions) == 0 && length(a.ok_actions) == 0]) && output.sns_topic_arn == null
    error_message = "Without a topic alarms change state without notifying, and sns_topic_arn is null."
  }
}
