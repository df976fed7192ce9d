"""The team's policy documents as Terraform plans them: modules/iam (plain and with chaining) and
modules/lambda-trigger (plain and chaining consumers), with every part given (customer managed
key, task table, payload bucket, alarms, schedule group)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from terraform_cli import ROOT, output_of, terraform

REGION = "us-east-1"
ACCOUNT = "123456789012"
TEAM = "team"
KEY_ARN = f"arn:aws:kms:{REGION}:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/{TEAM}-scheduler"
ALARM_NAMES = (f"{TEAM}-dlq-not-empty", f"{TEAM}-backlog")

WRAPPER = """
module "iam" {{
  source = "{iam}"

  name               = "{team}"
  queue_arn          = "arn:aws:sqs:{region}:{account}:{team}.fifo"
  dlq_arn            = "arn:aws:sqs:{region}:{account}:{team}-dlq.fifo"
  queue_name         = "{team}.fifo"
  dlq_name           = "{team}-dlq.fifo"
  kms_key_arn        = "{key}"
  table_arn          = "arn:aws:dynamodb:{region}:{account}:table/{team}-tasks"
  payload_bucket_arn = "arn:aws:s3:::{team}-payloads"
  alarm_arns         = {alarms}
  schedule_group_arn = "arn:aws:scheduler:{region}:{account}:schedule-group/{team}"
  scheduler_role_arn = "{role}"
}}

module "chaining" {{
  source = "{iam}"

  name                    = "{team}"
  queue_arn               = "arn:aws:sqs:{region}:{account}:{team}.fifo"
  dlq_arn                 = "arn:aws:sqs:{region}:{account}:{team}-dlq.fifo"
  queue_name              = "{team}.fifo"
  dlq_name                = "{team}-dlq.fifo"
  kms_key_arn             = "{key}"
  table_arn               = "arn:aws:dynamodb:{region}:{account}:table/{team}-tasks"
  payload_bucket_arn      = "arn:aws:s3:::{team}-payloads"
  consumer_allow_chaining = true
}}

module "lambda" {{
  source = "{trigger}"

  name                             = "{team}"
  queue_arn                        = "arn:aws:sqs:{region}:{account}:{team}.fifo"
  queue_visibility_timeout_seconds = 300
  kms_key_arn                      = "{key}"
  table_arn                        = "arn:aws:dynamodb:{region}:{account}:table/{team}-tasks"
  payload_bucket_arn               = "arn:aws:s3:::{team}-payloads"
  consumers = {{
    plain    = {{ function_name = "{team}-plain", timeout_seconds = 30 }}
    chaining = {{ function_name = "{team}-chaining", timeout_seconds = 30, allow_chaining = true }}
  }}
}}

output "policies" {{
  value = {{
    producer          = module.iam.producer_policy_json
    consumer          = module.iam.consumer_policy_json
    operator          = module.iam.operator_policy_json
    chaining_consumer = module.chaining.consumer_policy_json
    lambda_consumer   = module.lambda.consumer_policy_json["plain"]
    chaining_lambda   = module.lambda.consumer_policy_json["chaining"]
  }}
}}
"""



def plan_policies(work: Path) -> dict[str, dict[str, Any]]:
    """Policy documents by role (producer, consumer, operator, chaining_consumer,
    lambda_consumer, chaining_lambda), planned in ``work``."""
    (work / "main.tf").write_text(
        WRAPPER.format(
            iam=(ROOT / "modules" / "iam").as_posix(),
            trigger=(ROOT / "modules" / "lambda-trigger").as_posix(),
            team=TEAM,
            region=REGION,
            account=ACCOUNT,
            key=KEY_ARN,
            role=ROLE_ARN,
            alarms=json.dumps([f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{name}" for name in ALARM_NAMES]),
        )
    )
    for args in (("init", "-backend=false", "-input=false"), ("plan", "-input=false", "-out=roles.plan")):
        result = terraform(f"-chdir={work}", *args, "-no-color")
        if result.returncode != 0:
            raise RuntimeError(f"terraform {args[0]} of the policies failed:\n{output_of(result)}")
    shown = terraform(f"-chdir={work}", "show", "-json", "roles.plan")
    if shown.returncode != 0:
        raise RuntimeError(f"terraform show of the policies failed:\n{output_of(shown)}")
    documents = json.loads(shown.stdout)["planned_values"]["outputs"]["policies"]["value"]
    return {role: json.loads(text) for role, text in documents.items()}


