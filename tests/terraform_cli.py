"""Run `scripts/terraform` from tests and find the Terraform configurations in the repository."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TERRAFORM = ROOT / "scripts" / "terraform"
TYPE_PATTERN = re.compile(r'^\s*(resource|data)\s+"(aws_[a-z0-9_]+)"', re.MULTILINE)


# The Terraform releases `scripts/terraform` runs (SQSTASK_TERRAFORM_RELEASE): the oldest the
# module declares (tests/requirements-terraform-oldest.txt) and the newest (tests/requirements.txt).
VERSIONS = ("oldest", "newest")


def terraform(
    *args: str, cwd: Path = ROOT, timeout: int = 300, version: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run terraform with `-no-color`-friendly arguments; output is captured as text.

    ``version`` is one of VERSIONS; None runs what SQSTASK_TERRAFORM_RELEASE says (newest when unset).
    """
    env = dict(os.environ, SQSTASK_TERRAFORM_RELEASE=version) if version else None
    return subprocess.run(
        [str(TERRAFORM), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def output_of(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"


def configurations(root: Path = ROOT) -> list[Path]:
    """The root module, every submodule, every example and the demo's configuration (demo/terraform)."""
    dirs = [root]
    for parent in ("modules", "examples"):
        base = root / parent
        if base.is_dir():
            dirs += sorted(d for d in base.iterdir() if d.is_dir() and any(d.glob("*.tf")))
    demo = root / "demo" / "terraform"
    if any(demo.glob("*.tf")):
        dirs.append(demo)
    return dirs


def tf_files(root: Path = ROOT) -> list[Path]:
    """Every *.tf file of the repository, outside hidden folders (.terraform, .venv, ...)."""
    return [p for p in root.rglob("*.tf") if not any(part.startswith(".") for part in p.relative_to(root).parts)]


def types_in_use(root: Path = ROOT) -> set[tuple[str, str]]:
    return {(kind, name) for path in tf_files(root) for kind, name in TYPE_PATTERN.findall(path.read_text())}


def init(directory: Path, version: str | None = None) -> subprocess.CompletedProcess[str]:
    """`terraform init` without a backend: installs local modules; the AWS provider is overridden."""
    return terraform(f"-chdir={directory}", "init", "-backend=false", "-input=false", "-no-color", version=version)
