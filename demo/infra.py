"""The demo's AWS: a moto server, and the team's resources applied to it by real Terraform.

Everything comes from the test harness (``tests/localaws``): the moto server with its
extensions, discovery of the AWS provider, and ``Deployment``, which applies a configuration
of this repository with real Terraform and destroys it. Here the demo only narrates it.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqstask.exceptions import SqstaskError

from .narration import Narrator

ROOT = Path(__file__).resolve().parents[1]
CONFIGURATION = "demo/terraform"  # what `make demo` applies, relative to the repository
REGION = "us-east-1"
# `name = value # why` inside the module block of demo/terraform/main.tf.
SETTING_LINE = re.compile(r"^\s*([a-z_]+)\s*=\s*(.+?)\s*#\s*(.+)$")
PROGRESS = re.compile(r"\d+ resources (created|destroyed)")

if str(ROOT / "tests") not in sys.path:  # the harness lives with the tests
    sys.path.insert(0, str(ROOT / "tests"))


class InfraFailed(SqstaskError):
    """The emulator or Terraform failed; the message is one line a person can act on."""


class LocalAws:
    """A running moto server and, once applied, the demo's Terraform deployment on it."""

    def __init__(self, moto: Any) -> None:
        self.moto = moto
        self.deployment: Any = None

    @classmethod
    @contextlib.contextmanager
    def start(cls, say: Narrator) -> Iterator[LocalAws]:
        """Start the emulator and point boto3 (the SDK and the CLI) at it while the demo runs."""
        from localaws import MotoServer, ProviderNotFound, find_provider

        try:
            find_provider()  # before anything starts: "no provider" is the likeliest failure
        except ProviderNotFound as exc:
            raise InfraFailed(str(exc).splitlines()[0]) from None
        try:
            moto = MotoServer.start(enforce_iam=False, region=REGION)
        except (OSError, RuntimeError) as exc:
            raise InfraFailed(f"the local AWS emulator did not start: {_first_line(exc)}") from None
        saved = dict(os.environ)
        try:
            for name in [n for n in os.environ if n.startswith(("AWS_", "SQSTASK_"))]:
                del os.environ[name]
            os.environ.update(moto.env(), AWS_EC2_METADATA_DISABLED="true")
            yield cls(moto)
        finally:
            os.environ.clear()
            os.environ.update(saved)
            moto.stop()

    @property
    def endpoint(self) -> str:
        return str(self.moto.endpoint)

    @property
    def applied(self) -> bool:
        return bool(self.deployment is not None and self.deployment.applied)

    def client(self, service: str) -> Any:
        return self.moto.client(service)

    def overrides(self) -> list[str]:
        """The demo's settings (demo/terraform/main.tf) and the harness's, each with its reason."""
        from localaws import Deployment

        lines = []
        for line in (ROOT / CONFIGURATION / "main.tf").read_text(encoding="utf-8").splitlines():
            match = SETTING_LINE.match(line)
            if match:
                name, value, why = match.groups()
                lines.append(f"{name} = {value}: {why}")
        self.deployment = Deployment(CONFIGURATION, self.moto, log=lambda _line: None)
        set_here = {line.split(" = ")[0] for line in lines}
        for note in self.deployment.notes:
            # The harness's own settings, unless this configuration already sets them.
            if not set(re.findall(r"(\w+) = ", note)) <= set_here:
                lines.append(note)
        return lines

    def apply(self, say: Narrator) -> str:
        """`terraform apply` with a progress line; returns `terraform output -raw sdk_config`."""
        from localaws import TerraformFailed

        deployment = self.deployment
        # Only the harness's progress counter: the notes and the summary are said here.
        deployment.log = lambda line: say.progress(line.split(": ", 1)[-1], every=0) if PROGRESS.search(line) else None
        say.say(f"provider: {deployment.provider.describe()}")
        try:
            summary = deployment.apply()
            say.done(summary)
            return str(deployment.output_raw("sdk_config"))
        except TerraformFailed as exc:
            raise InfraFailed(terraform_error(str(exc))) from None

    def destroy(self, say: Narrator) -> None:
        from localaws import TerraformFailed

        try:
            say.done(self.deployment.destroy())
        except TerraformFailed as exc:
            raise InfraFailed(terraform_error(str(exc))) from None
        finally:
            self.deployment.cleanup()


def terraform_error(output: str) -> str:
    """One line from Terraform's failure output: the first error and the resource it names."""
    error = re.search(r"Error: (.+)", output)
    resource = re.search(r"with ([\w.\-\[\]\"]+),", output)
    command = re.search(r"terraform (\w+) of", output)
    what = f"terraform {command.group(1)}" if command else "terraform"
    where = f" at {resource.group(1)}" if resource else ""
    return f"{what} failed{where}: {error.group(1).strip() if error else _first_line(output)}"


def _first_line(exc: object) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
