"""Real Terraform over every configuration: formatting, validation and `terraform test`.

Validation and `terraform test` run on the oldest Terraform the module declares and on the
newest (VERSIONS). Each (release, configuration) pair is one job: init, validate, then test; the
jobs of the selected tests run in a thread pool, a job per core, longest first. The oldest release
costs about three times the newest: Terraform 1.8 and 1.9 start the stand-in provider again for
nearly every run block, 1.15 about once per test command.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from terraform_cli import ROOT, VERSIONS, configurations, init, output_of, terraform, tf_files, types_in_use

pytestmark = pytest.mark.terraform

CONFIGS = configurations()
TESTED = [d for d in CONFIGS if any((d / "tests").glob("*.tftest.hcl"))]
SCHEMA = json.loads((ROOT / "tests" / "standin" / "aws-schema.json").read_text())
AWS = SCHEMA["provider_schemas"]["registry.terraform.io/hashicorp/aws"]
# Each job runs Terraform and the stand-in provider; more than a few at once only adds memory.
WORKERS = max(1, min(4, os.cpu_count() or 1))
REQUIRED_VERSION = re.compile(r'^\s*required_version\s*=\s*"([^"]*)"', re.MULTILINE)

Result = subprocess.CompletedProcess[str]


def config_id(path) -> str:
    return str(path.relative_to(ROOT)) if path != ROOT else "root"


class TerraformJob:
    """init + validate, then `terraform test` (where the folder has tests), of one configuration."""

    def __init__(self, version: str, directory: Path):
        self.version = version
        self.directory = directory
        self.validated: Future[tuple[Result, Result | None]] = Future()
        self.tested: Future[Result | None] = Future()

    @property
    def weight(self) -> int:
        """Rough cost, to start the longest jobs first: the size of the folder's test files."""
        return sum(p.stat().st_size for p in (self.directory / "tests").glob("*.tftest.hcl"))

    def run(self) -> None:
        try:
            initialised = init(self.directory, self.version)
            validated = None
            if initialised.returncode == 0:
                validated = terraform(f"-chdir={self.directory}", "validate", "-no-color", version=self.version)
            self.validated.set_result((initialised, validated))
            tested = None
            if self.directory in TESTED and validated is not None and validated.returncode == 0:
                tested = terraform(f"-chdir={self.directory}", "test", "-no-color", timeout=600, version=self.version)
            self.tested.set_result(tested)
        except BaseException as error:  # a timeout, typically: each waiting test reports it
            for future in (self.validated, self.tested):
                if not future.done():
                    future.set_exception(error)


@pytest.fixture(scope="module")
def terraform_jobs(request):
    """The TerraformJob of every (version, directory) the session's selected tests ask for, started now."""
    wanted = {
        (item.callspec.params["version"], item.callspec.params["directory"])
        for item in request.session.items
        if "terraform_jobs" in getattr(item, "fixturenames", ()) and hasattr(item, "callspec")
    }
    jobs = {key: TerraformJob(*key) for key in wanted}
    pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="terraform")
    for job in sorted(jobs.values(), key=lambda j: j.weight, reverse=True):
        pool.submit(job.run)
    yield jobs
    pool.shutdown(wait=True, cancel_futures=True)


def test_every_file_is_terraform_fmt_formatted():
    result = terraform("fmt", "-check", "-recursive", "-diff", "-no-color")
    assert result.returncode == 0, "run `scripts/terraform fmt -recursive`:\n" + output_of(result)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("directory", CONFIGS, ids=config_id)
def test_configuration_validates(directory, version, terraform_jobs):
    initialised, validated = terraform_jobs[(version, directory)].validated.result()
    assert initialised.returncode == 0, output_of(initialised)
    assert validated.returncode == 0, output_of(validated)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("directory", TESTED, ids=config_id)
def test_terraform_test_passes(directory, version, terraform_jobs):
    job = terraform_jobs[(version, directory)]
    initialised, validated = job.validated.result()
    assert validated is not None and validated.returncode == 0, "validation failed first:\n" + output_of(
        validated or initialised
    )
    result = job.tested.result()
    assert result.returncode == 0, output_of(result)
    summary = re.search(r"Success! (\d+) passed, 0 failed", result.stdout)
    assert summary and int(summary.group(1)) > 0, output_of(result)


def terraform_version(version: str) -> str:
    result = terraform("version", "-json", version=version)
    assert result.returncode == 0, output_of(result)
    return json.loads(result.stdout)["terraform_version"]


def release(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def test_every_configuration_requires_exactly_the_oldest_tested_terraform():
    oldest = terraform_version("oldest")
    declared = {
        str(path.relative_to(ROOT)): match
        for path in tf_files()
        for match in REQUIRED_VERSION.findall(path.read_text())
    }
    wrong = {path: constraint for path, constraint in declared.items() if constraint != f">= {oldest}"}
    assert declared and not wrong, (
        f"the oldest Terraform the tests run is {oldest}; declare required_version = \">= {oldest}\" in {wrong}"
    )
    undeclared = [
        config_id(d) for d in CONFIGS
        if not any(REQUIRED_VERSION.search(p.read_text()) for p in d.glob("*.tf"))
    ]
    assert not undeclared, f"configurations without required_version: {undeclared}"
    assert f"Terraform >= {oldest} " in (ROOT / "README.md").read_text(), f"README.md must say: Terraform >= {oldest}"


def test_the_oldest_release_rejects_what_only_newer_ones_accept(tmp_path):
    """Why both run: before 1.12, both sides of || are evaluated, so a null guard does not guard."""
    (tmp_path / "main.tf").write_text(
        'variable "name" {\n'
        "  type    = string\n"
        "  default = null\n"
        "  validation {\n"
        '    condition     = var.name == null || startswith(var.name, "team-")\n'
        '    error_message = "name must start with team-."\n'
        "  }\n"
        "}\n"
    )
    plans = {version: terraform(f"-chdir={tmp_path}", "plan", "-input=false", "-no-color", version=version)
             for version in VERSIONS}
    assert plans["newest"].returncode == 0, output_of(plans["newest"])
    assert plans["oldest"].returncode != 0, output_of(plans["oldest"])
    assert "argument must not be null" in plans["oldest"].stderr, output_of(plans["oldest"])


def test_the_two_releases_differ_and_the_newest_is_newer():
    oldest, newest = terraform_version("oldest"), terraform_version("newest")
    assert release(oldest) < release(newest), (oldest, newest)


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


def test_the_standin_is_offered_as_the_provider_release_of_its_schema():
    import importlib.util

    spec = importlib.util.spec_from_file_location("terraform_wrapper", ROOT / "scripts" / "terraform.py")
    wrapper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wrapper)
    assert f"terraform-provider-aws {wrapper.STANDIN_VERSION})" in SCHEMA["source"], SCHEMA["source"]
