# What `make demo` applies to its local AWS emulator: the root module for one team, "orders",
# with the module's defaults except the settings below. The demo prints each of them with the
# comment beside it, so keep one setting per line and its reason on the same line.

provider "aws" {
  region = var.region
}

module "tasks" {
  source = "../.."

  name = var.name

  visibility_timeout_seconds   = 4     # so a failed task comes back in seconds instead of 5 minutes
  max_attempts                 = 3     # so the poison task reaches the dead-letter queue after 3 runs instead of 5
  table_deletion_protection    = false # so `terraform destroy` removes the task table at the end
  payload_bucket_force_destroy = true  # so `terraform destroy` removes the bucket with the offloaded payload
}
