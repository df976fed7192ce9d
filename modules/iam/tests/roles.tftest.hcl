# Optional roles: one per kind that trusts someone, with the kind's policy attached, and an
# sts:ExternalId condition for principals when an external id is given.

mock_provider "aws" {}

variables {
  name       = "billing"
  queue_arn  = "arn:aws:sqs:eu-west-1:123456789012:billing.fifo"
  dlq_arn    = "arn:aws:sqs:eu-west-1:123456789012:billing-dlq.fifo"
  queue_name = "billing.fifo"
  dlq_name   = "billing-dlq.fifo"
}

run "no_roles_by_default" {
  command = plan

  assert {
    condition     = length(aws_iam_role.this) == 0 && output.producer_role_arn == null && output.consumer_role_arn == null && output.operator_role_arn == null
    error_message = "No role may be created unless create_roles is true; role ARN outputs must then be null."
  }
}

run "roles_are_created_for_kinds_with_trusted_principals" {
  command = plan

  variables {
    create_roles           = true
    trusted_principal_arns = { producer = ["arn:aws:iam::111122223333:role/billing-api"], operator = ["arn:aws:iam::123456789012:role/oncall"] }
    trusted_services       = { consumer = ["lambda.amazonaws.com"] }
  }

  assert {
    condition     = toset(keys(aws_iam_role.this)) == toset(["producer", "consumer", "operator"])
    error_message = "A role must be created for each kind that trusts a principal or a service."
  }

  assert {
    condition = (
      aws_iam_role.this["producer"].name == "billing-producer"
      && aws_iam_role.this["consumer"].name == "billing-consumer"
      && aws_iam_role.this["operator"].name == "billing-operator"
    )
    error_message = "Roles must be named <name>-<kind>."
  }

  assert {
    condition = jsondecode(aws_iam_role.this["producer"].assume_role_policy).Statement == [{
      Sid       = "TrustedPrincipals"
      Effect    = "Allow"
      Principal = { AWS = ["arn:aws:iam::111122223333:role/billing-api"] }
      Action    = "sts:AssumeRole"
    }]
    error_message = "The producer role must trust exactly the given principal, without conditions when no external id is set."
  }

  assert {
    condition = jsondecode(aws_iam_role.this["consumer"].assume_role_policy).Statement == [{
      Sid       = "TrustedServices"
      Effect    = "Allow"
      Principal = { Service = ["lambda.amazonaws.com"] }
      Action    = "sts:AssumeRole"
    }]
    error_message = "The consumer role must trust exactly the given service."
  }
}

run "each_role_gets_its_own_policy" {
  command = apply

  variables {
    create_roles           = true
    trusted_principal_arns = { producer = ["123456789012"], consumer = ["123456789012"], operator = ["123456789012"] }
  }

  assert {
    condition = (
      aws_iam_role_policy_attachment.this["producer"].policy_arn == aws_iam_policy.producer.arn
      && aws_iam_role_policy_attachment.this["consumer"].policy_arn == aws_iam_policy.consumer.arn
      && aws_iam_role_policy_attachment.this["operator"].policy_arn == aws_iam_policy.operator.arn
    )
    error_message = "Each role must have its kind's policy attached."
  }

  assert {
    condition = (
      aws_iam_role_policy_attachment.this["producer"].role == aws_iam_role.this["producer"].name
      && aws_iam_role_policy_attachment.this["operator"].role == aws_iam_role.this["operator"].name
    )
    error_message = "Each attachment must target its kind's role."
  }

  assert {
    condition     = output.operator_role_arn == aws_iam_role.this["operator"].arn && output.producer_role_arn == aws_iam_role.this["producer"].arn
    error_message = "Role ARN outputs must be the created roles' ARNs."
  }
}

run "a_kind_without_trusted_principals_gets_no_role" {
  command = plan

  variables {
    create_roles           = true
    trusted_principal_arns = { operator = ["arn:aws:iam::123456789012:role/oncall"] }
  }

  assert {
    condition     = keys(aws_iam_role.this) == ["operator"] && output.producer_role_arn == null
    error_message = "Only kinds that trust someone get a role."
  }
}

run "external_id_is_required_of_principals_but_not_of_services" {
  command = plan

  variables {
    create_roles           = true
    trusted_principal_arns = { consumer = ["arn:aws:iam::111122223333:root"] }
    trusted_services       = { consumer = ["ecs-tasks.amazonaws.com"] }
    external_id            = "billing-7f3a2c"
  }

  assert {
    condition = {
      for s in jsondecode(aws_iam_role.this["consumer"].assume_role_policy).Statement : s.Sid => try(s.Condition, null)
      } == {
      TrustedPrincipals = { StringEquals = { "sts:ExternalId" = "billing-7f3a2c" } }
      TrustedServices   = null
    }
    error_message = "Principals must present sts:ExternalId; service principals cannot and get no condition."
  }
}

run "role_names_over_64_characters_fail_plan" {
  command = plan

  variables {
    name                   = "a-team-name-that-is-long-enough-to-push-role-names-over-the-limit"
    create_roles           = true
    trusted_principal_arns = { operator = ["arn:aws:iam::123456789012:role/oncall"] }
  }

  expect_failures = [aws_iam_role.this]
}

run "wildcard_principal_is_rejected" {
  command = plan

  variables {
    create_roles           = true
    trusted_principal_arns = { producer = ["*"] }
  }

  expect_failures = [var.trusted_principal_arns]
}

run "permissions_boundary_is_set_on_created_roles" {
  command = plan

  variables {
    create_roles             = true
    trusted_principal_arns   = { operator = ["arn:aws:iam::123456789012:role/oncall"] }
    permissions_boundary_arn = "arn:aws:iam::123456789012:policy/team-boundary"
  }

  assert {
    condition     = aws_iam_role.this["operator"].permissions_boundary == "arn:aws:iam::123456789012:policy/team-boundary"
    error_message = "The permissions boundary must be set on created roles."
  }
}
