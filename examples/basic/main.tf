# The smallest useful sqstask: one service's task pipeline with the module's defaults.
# FIFO queue + DLQ (after 5 receives), task table, payload bucket, alarms and dashboard,
# producer/consumer/operator policies. `producer.py` sends tasks to it.

provider "aws" {
  region = var.region
}

module "tasks" {
  source = "../.."

  name = var.name
}
