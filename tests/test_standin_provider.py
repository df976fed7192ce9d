"""The stand-in provider itself, driven by real Terraform: plans keep configured values and leave
computed attributes unknown; anything that would need AWS fails with a message that says so."""

from __future__ import annotations

import json

import pytest

from terraform_cli import init, output_of, terraform

pytestmark = pytest.mark.terraform

QUEUE_AND_MAPPING = """
terraform {
  required_providers {
    aws = { source = "hashicorp/aws", version = ">= 6.8, < 7.0" }
  }
}

resource "aws_sqs_queue" "tasks" {
  name       = "team.fifo"
  fifo_queue = true
}

resource "aws_lambda_event_source_mapping" "consumer" {
  function_name           = "consumer"
  event_source_arn        = aws_sqs_queue.tasks.arn
  function_response_types = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = 2
  }
}
"""


@pytest.fixture
def planned(tmp_path):
    (tmp_path / "main.tf").write_text(QUEUE_AND_MAPPING)
    assert init(tmp_path).returncode == 0
    plan = terraform(f"-chdir={tmp_path}", "plan", "-out=plan.bin", "-input=false", "-no-color")
    assert plan.returncode == 0, output_of(plan)
    shown = terraform(f"-chdir={tmp_path}", "show", "-json", "plan.bin")
    assert shown.returncode == 0, output_of(shown)
    return {change["address"]: change["change"] for change in json.loads(shown.stdout)["resource_changes"]}


def test_plan_keeps_configured_values(planned):
    queue = planned["aws_sqs_queue.tasks"]
    assert queue["actions"] == ["create"]
    assert queue["after"]["name"] == "team.fifo"
    assert queue["after"]["fifo_queue"] is True


def test_plan_leaves_computed_attributes_unknown(planned):
    assert planned["aws_sqs_queue.tasks"]["after_unknown"]["arn"] is True
    assert planned["aws_sqs_queue.tasks"]["after_unknown"]["url"] is True
    mapping = planned["aws_lambda_event_source_mapping.consumer"]
    assert mapping["after_unknown"]["uuid"] is True
    assert mapping["after_unknown"]["event_source_arn"] is True  # it refers to the unknown queue ARN


def test_plan_unset_optional_arguments_are_null(planned):
    assert planned["aws_sqs_queue.tasks"]["after"]["kms_master_key_id"] is None


def test_single_object_blocks_are_lists_of_one(planned):
    mapping = planned["aws_lambda_event_source_mapping.consumer"]["after"]
    assert mapping["scaling_config"] == [{"maximum_concurrency": 2}]


def test_apply_fails_saying_the_provider_never_talks_to_aws(tmp_path):
    (tmp_path / "main.tf").write_text(QUEUE_AND_MAPPING)
    assert init(tmp_path).returncode == 0
    result = terraform(f"-chdir={tmp_path}", "apply", "-auto-approve", "-input=false", "-no-color")
    assert result.returncode != 0
    assert "schema-only AWS provider cannot create aws_sqs_queue" in " ".join(result.stderr.split())


def test_data_source_read_fails_pointing_at_mock_provider(tmp_path):
    (tmp_path / "main.tf").write_text('data "aws_caller_identity" "current" {}\n')
    assert init(tmp_path).returncode == 0
    result = terraform(f"-chdir={tmp_path}", "plan", "-input=false", "-no-color")
    assert result.returncode != 0
    assert 'Use `terraform test` with mock_provider "aws"' in " ".join(result.stderr.split())
