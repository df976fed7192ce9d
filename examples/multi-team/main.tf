# Several teams from one configuration: one instance of the module per team, each with its own
# queue, DLQ, task table, payload bucket, alarms (and alarm topic) and IAM policies scoped to its
# own resources, so no team's consumers can read another team's queue.

provider "aws" {
  region = var.region
}

module "team" {
  source   = "../.."
  for_each = var.teams

  name = each.key
  tags = { team = each.key }

  max_receive_count          = each.value.max_receive_count
  visibility_timeout_seconds = each.value.visibility_timeout_seconds

  alarms = {
    create_sns_topic = true # `<team>-alarms`: subscribe the team's on-call to it
  }

  iam = {
    create_roles = length(each.value.consumer_principals) > 0
    trusted_principal_arns = {
      consumer = each.value.consumer_principals
    }
  }
}
