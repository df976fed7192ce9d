"""Find the hashicorp/aws provider Terraform applies with.

In order: the binary named by `SQSTASK_TF_PROVIDER`; the Terraform registry when it is
reachable (the module's own constraint applies); else a `terraform-provider-aws_v*` binary found
in Terraform's plugin directories, then where local mirrors usually live (/opt, /usr/local,
/usr/share, /usr/lib, the home folder), then anywhere on the root filesystem. A search's find is
remembered in `.cache/localaws-provider` (used while that file still names an executable
provider), because walking `/` takes seconds. A local binary runs through `dev_overrides`, which
skips version constraints: `version` says which one it is.
"""

from __future__ import annotations

import functools
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

ENV_VARIABLE = "SQSTASK_TF_PROVIDER"
REGISTRY_HOST = "registry.terraform.io"
BINARY_PATTERN = re.compile(r"^terraform-provider-aws_v(\d+\.\d+\.\d+)(?:_x\d+)?$")
SEARCH_DEPTH = 8
# Directories the search never enters: virtual filesystems and the places that cannot hold one.
SKIP_DIRS = {"/proc", "/sys", "/dev", "/run", "/tmp", "/var/lib/docker"}
# Folder names that hold Python, Git or npm trees, never a Terraform provider.
SKIP_NAMES = {".git", "__pycache__", "node_modules", "site-packages", "dist-packages"}
# Where local provider mirrors usually live, searched before the whole filesystem.
USUAL_ROOTS = ("/opt", "/usr/local", "/usr/share", "/usr/lib")
CACHE_FILE = Path(__file__).resolve().parents[2] / ".cache" / "localaws-provider"


class ProviderNotFound(RuntimeError):
    """No AWS provider: neither the registry nor a local binary."""


@dataclass(frozen=True)
class Provider:
    """Where the provider comes from: `binary` is None for the registry."""

    binary: Path | None
    version: str | None
    source: str  # "registry", "SQSTASK_TF_PROVIDER" or "search"

    @property
    def major(self) -> int | None:
        return int(self.version.split(".")[0]) if self.version else None

    def describe(self) -> str:
        if self.binary is None:
            return "hashicorp/aws from the Terraform registry"
        return f"hashicorp/aws {self.version or '(unknown version)'} from {self.binary} ({self.source}, via dev_overrides)"


def version_of(binary: Path) -> str | None:
    """The version in a provider binary's name (terraform-provider-aws_v5.100.0_x5 -> 5.100.0)."""
    match = BINARY_PATTERN.match(binary.name)
    return match.group(1) if match else None


def registry_reachable(timeout: float = 3.0) -> bool:
    """Whether a TCP connection to the registry opens (no network: False at once)."""
    try:
        with socket.create_connection((REGISTRY_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def plugin_directories() -> list[Path]:
    """Terraform's implied local mirror directories on Unix, plus TF_PLUGIN_CACHE_DIR."""
    home = Path.home()
    data_home = Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")
    dirs = [home / ".terraform.d" / "plugins", data_home / "terraform" / "plugins"]
    dirs += [Path(d) / "terraform" / "plugins" for d in (os.environ.get("XDG_DATA_DIRS") or "/usr/local/share:/usr/share").split(":") if d]
    if os.environ.get("TF_PLUGIN_CACHE_DIR"):
        dirs.insert(0, Path(os.environ["TF_PLUGIN_CACHE_DIR"]))
    return dirs


def search(roots: list[Path], max_depth: int = SEARCH_DEPTH) -> list[Path]:
    """Provider binaries under `roots` (same filesystem, at most `max_depth` levels down)."""
    found: list[Path] = []
    for root in roots:
        if not root.is_dir():
            continue
        device = root.stat().st_dev
        base_depth = len(root.parts)
        for current, dirs, files in os.walk(root):
            here = Path(current)
            if len(here.parts) - base_depth >= max_depth:
                dirs[:] = []
            dirs[:] = [
                d for d in dirs
                if d not in SKIP_NAMES and not d.startswith(".venv") and str(here / d) not in SKIP_DIRS
                and not (here / d).is_symlink() and _same_device(here / d, device)
            ]
            found += [here / f for f in files if BINARY_PATTERN.match(f) and os.access(here / f, os.X_OK)]
        if found:
            break
    return found


def _same_device(path: Path, device: int) -> bool:
    try:
        return path.stat().st_dev == device
    except OSError:
        return False


def _newest(binaries: list[Path]) -> Path:
    def key(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in (version_of(path) or "0.0.0").split("."))

    return max(binaries, key=key)


@functools.lru_cache(maxsize=1)
def find_provider(*, allow_registry: bool = True) -> Provider:
    """The provider to apply with; raises ProviderNotFound with one line saying what to set."""
    if os.environ.get(ENV_VARIABLE):
        binary = Path(os.environ[ENV_VARIABLE])
        if not (binary.is_file() and os.access(binary, os.X_OK)):
            raise ProviderNotFound(f"{ENV_VARIABLE}={binary} is not an executable terraform-provider-aws binary")
        return Provider(binary, version_of(binary), ENV_VARIABLE)
    if allow_registry and registry_reachable():
        return Provider(None, None, "registry")
    remembered = _remembered()
    if remembered is not None:
        return Provider(remembered, version_of(remembered), "search")
    found = (
        search(plugin_directories())
        or search([Path(root) for root in USUAL_ROOTS] + [Path.home()])
        or search([Path("/")])
    )
    if not found:
        raise ProviderNotFound(
            f"no hashicorp/aws provider: the Terraform registry is unreachable and no terraform-provider-aws_v* "
            f"binary was found; set {ENV_VARIABLE} to the path of one"
        )
    binary = _newest(found)
    _remember(binary)
    return Provider(binary, version_of(binary), "search")


def _remembered() -> Path | None:
    """The binary an earlier search found, if it is still an executable provider."""
    try:
        binary = Path(CACHE_FILE.read_text().strip())
    except OSError:
        return None
    if BINARY_PATTERN.match(binary.name) and binary.is_file() and os.access(binary, os.X_OK):
        return binary
    return None


def _remember(binary: Path) -> None:
    try:
        CACHE_FILE.parent.mkdir(parents=True, exist_ok=True)
        CACHE_FILE.write_text(f"{binary}\n")
    except OSError:
        pass  # a read-only checkout searches again next time

