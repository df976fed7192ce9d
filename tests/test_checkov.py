"""checkov over the module, its submodules and the examples; it runs in its own virtual environment
(it pins an old boto3). A failed check fails the suite unless skipped inline with a reason."""

from __future__ import annotations

import json
import re
import subprocess

import pytest

from terraform_cli import ROOT, tf_files

pytestmark = pytest.mark.checkov

CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"
SKIP = re.compile(r"#\s*checkov:skip=([A-Z0-9_]+)(?::(.*))?")


def test_checkov_finds_no_failed_checks():
    assert CHECKOV.exists(), "run `make checkov-venv` (make test does) to install checkov"
    result = subprocess.run(
        [str(CHECKOV), "--directory", str(ROOT), "--framework", "terraform", "--output", "json",
         "--skip-path", r"\.venv", "--skip-path", r"\.terraform", "--skip-download", "--quiet", "--compact"],
        capture_output=True, text=True, timeout=600, check=False,
    )
    reports = json.loads(result.stdout) if result.stdout.strip().startswith(("[", "{")) else None
    assert reports is not None, f"checkov did not report (exit {result.returncode}):\n{result.stderr[-3000:]}"
    reports = reports if isinstance(reports, list) else [reports]
    failed = [
        f"{check['check_id']} {check['resource']} ({check['file_path']}:{check['file_line_range'][0]}): "
        f"{check['check_name']}"
        for report in reports
        for check in report.get("results", {}).get("failed_checks", [])
    ]
    passed = sum(report.get("summary", {}).get("passed", 0) for report in reports)
    assert passed > 0, "checkov passed no check at all: it scanned nothing"
    # checkov skips a file it cannot parse and still exits 0: an unparsed file is an unscanned file.
    unparsed = sum(report.get("summary", {}).get("parsing_errors", 0) for report in reports)
    assert unparsed == 0, f"checkov could not parse {unparsed} file(s); run checkov by hand to see which"
    assert not failed, "checkov failed checks:\n" + "\n".join(failed)


def test_every_checkov_skip_says_why():
    unexplained = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in tf_files()
        for number, line in enumerate(path.read_text().splitlines(), 1)
        for match in [SKIP.search(line)]
        if match and len((match.group(2) or "").strip()) < 15
    ]
    assert not unexplained, "checkov skips need a reason (#checkov:skip=CKV_X:why):\n" + "\n".join(unexplained)
