"""Real Terraform over every configuration: formatting, validation and `terraform test`."""

from __future__ import annotations

import json
import re

import pytest

from terraform_cli import ROOT, configurations, init, output_of, terraform, types_in_use

pytestmark = pytest.mark.terraform

CONFIGS = configurations()
SCHEMA = json.loads((ROOT / "tests" / "standin" / "aws-schema.json").read_text())
AWS = SCHEMA["provider_schemas"]["registry.terraform.io/hashicorp/aws"]


def config_id(path) -> str:
    return str(path.relative_to(ROOT)) if path != ROOT else "root"


def test_every_file_is_terraform_fmt_formatted():
    result = terraform("fmt", "-check", "-recursive", "-diff", "-no-color")
    assert result.returncode == 0, "run `scripts/terraform fmt -recursive`:\n" + output_of(result)


@pytest.mark.parametrize("directory", CONFIGS, ids=config_id)
def test_configuration_validates(directory):
    initialised = init(directory)
    assert initialised.returncode == 0, output_of(initialised)
    result = terraform(f"-chdir={directory}", "validate", "-no-color")
    assert result.returncode == 0, output_of(result)


TESTED = [d for d in CONFIGS if any((d / "tests").glob("*.tftest.hcl"))]


@pytest.mark.parametrize("directory", TESTED, ids=config_id)
def test_terraform_test_passes(directory):
    initialised = init(directory)
    assert initialised.returncode == 0, output_of(initialised)
    result = terraform(f"-chdir={directory}", "test", "-no-color", timeout=600)
    assert result.returncode == 0, output_of(result)
    summary = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert summary and int(summary.group(1)) > 0, output_of(result)


def test_every_tested_configuration_mocks_the_aws_provider():
    for directory in TESTED:
        for test_file in (directory / "tests").glob("*.tftest.hcl"):
            assert 'mock_provider "aws"' in test_file.read_text(), f"{test_file} must use mock_provider \"aws\""


def test_schema_covers_every_type_the_repository_uses():
    missing = sorted(
        f"{kind} {name}"
        for kind, name in types_in_use()
        if name not in AWS["resource_schemas" if kind == "resource" else "data_source_schemas"]
    )
    assert not missing, (
        "types without a schema (run `.venv/bin/python tests/standin/schema_from_jsii.py`): " + ", ".join(missing)
    )
