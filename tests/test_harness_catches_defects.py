"""The offline harness must fail a broken module: a harness that passes anything is worse than none.

Each test copies the repository's Terraform to a temporary folder, breaks one thing in the
queue module, and checks that `terraform validate` fails with the provider schema's message.
"""

from __future__ import annotations

import re
import shutil

import pytest

from terraform_cli import ROOT, init, output_of, terraform

pytestmark = pytest.mark.terraform

QUEUE_RESOURCE = re.compile(r'resource "aws_sqs_queue" "\w+" \{')


@pytest.fixture
def queue_module(tmp_path):
    """A copy of modules/queue, validated clean before a test breaks it."""
    copy = tmp_path / "queue"
    shutil.copytree(ROOT / "modules" / "queue", copy, ignore=shutil.ignore_patterns(".terraform*", "tests"))
    assert init(copy).returncode == 0
    clean = terraform(f"-chdir={copy}", "validate", "-no-color")
    assert clean.returncode == 0, "the unbroken copy must validate:\n" + output_of(clean)
    return copy


def break_queue(module, replacement: str) -> None:
    """Insert `replacement` as the first line of the first aws_sqs_queue resource."""
    for path in sorted(module.glob("*.tf")):
        text = path.read_text()
        match = QUEUE_RESOURCE.search(text)
        if match:
            path.write_text(text[: match.end()] + "\n  " + replacement + text[match.end() :])
            return
    raise AssertionError("modules/queue declares no aws_sqs_queue resource")


def validate_errors(module) -> str:
    result = terraform(f"-chdir={module}", "validate", "-no-color")
    assert result.returncode != 0, "validate passed a broken module:\n" + output_of(result)
    return " ".join((result.stderr + result.stdout).split())  # Terraform wraps long messages


def test_misspelt_argument_fails_with_a_suggestion(queue_module):
    # Terraform suggests only names the block does not set already, so misspell an unset one.
    break_queue(queue_module, 'name_prefx = "tasks-"')
    errors = validate_errors(queue_module)
    assert 'An argument named "name_prefx" is not expected here. Did you mean "name_prefix"?' in errors


def test_wrong_typed_value_fails(queue_module):
    break_queue(queue_module, "name_prefix = [\"tasks\"]")
    errors = validate_errors(queue_module)
    assert 'Inappropriate value for attribute "name_prefix": string required' in errors


def test_unknown_resource_type_fails(queue_module):
    (queue_module / "broken.tf").write_text('resource "aws_sqs_queue_typo" "x" {\n  name = "x"\n}\n')
    errors = validate_errors(queue_module)
    assert 'The provider hashicorp/aws does not support resource type "aws_sqs_queue_typo"' in errors


def test_unknown_nested_block_fails(queue_module):
    break_queue(queue_module, "scaling_config {\n    maximum_concurrency = 2\n  }")
    errors = validate_errors(queue_module)
    assert 'Blocks of type "scaling_config" are not expected here' in errors
