"""Build the function's zip: ``handler.py`` and the ``sqstask`` package (boto3 is in the runtime).

    python build.py                 # writes build/consumer.zip beside this file
    python build.py --output x.zip

The zip is reproducible (sorted entries, fixed timestamps and modes), so ``source_code_hash``
in main.tf changes only when the code does.
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from collections.abc import Iterator, Sequence
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "build" / "consumer.zip"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)


def package_dir() -> Path:
    """The installed ``sqstask`` package's folder."""
    import sqstask

    return Path(sqstask.__file__).resolve().parent


def files(sdk: Path) -> Iterator[tuple[Path, str]]:
    """(source, name in the zip) for everything the function needs, in a stable order."""
    yield HERE / "handler.py", "handler.py"
    for path in sorted(sdk.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in (".py", ".typed"):
            yield path, f"sqstask/{path.relative_to(sdk).as_posix()}"


def build(output: Path = DEFAULT_OUTPUT, *, sdk: Path | None = None) -> Path:
    """Write the zip to ``output`` and return its path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(output, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for source, name in files(sdk or package_dir()):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, source.read_bytes())
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``python build.py [--output PATH]``."""
    parser = argparse.ArgumentParser(description="Build the receipts consumer's Lambda zip.")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help=f"default {DEFAULT_OUTPUT.relative_to(HERE)}")
    args = parser.parse_args(argv)
    path = build(args.output)
    print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
