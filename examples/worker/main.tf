# Long-poll workers on ECS or EC2: the team's queue with a visibility timeout sized for the
# worker (its heartbeat extends it while a long task runs) and the consumer role the worker's
# task or instance assumes. The Dockerfile builds the worker image: `sqstask worker tasks:handle`.

provider "aws" {
  region = var.region
}

module "tasks" {
  source = "../.."

  name = var.name

  # How long a received task stays hidden before the heartbeat first extends it: short, so
  # a worker that dies is replaced quickly; long tasks are kept alive by the heartbeat.
  visibility_timeout_seconds = 120

  # `["default"]`: one queue. With tiers, e.g. ["urgent", "default", "bulk"], each is a queue and
  # the worker takes the highest tier that has work, with a share for the lower ones.
  priorities = var.priorities

  iam = {
    create_roles = true
    trusted_services = {
      consumer = var.worker_services # the worker's role: receive, delete, extend, task table
    }
  }
}
