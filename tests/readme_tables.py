"""The root module's Inputs and Outputs tables in README.md, generated from the Terraform code.

    .venv/bin/python tests/readme_tables.py          # rewrite the tables in README.md
    .venv/bin/python tests/readme_tables.py --check  # exit 1 when they are out of date

The tables sit between `<!-- inputs:begin -->` / `<!-- inputs:end -->` and
`<!-- outputs:begin -->` / `<!-- outputs:end -->`; everything else in README.md is left alone.
Variables and outputs are listed in the order the *.tf files declare them (by section).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import hcl2

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TF_FILES_IN_ORDER = ("variables.tf", "outputs.tf")
MAX_TYPE_CHARS = 40


def blocks(directory: Path, kind: str) -> list[tuple[str, dict[str, Any]]]:
    """(name, body) of every `variable` or `output` block, in file and declaration order."""
    paths = sorted(directory.glob("*.tf"), key=lambda p: (p.name not in TF_FILES_IN_ORDER, p.name))
    found: list[tuple[str, dict[str, Any]]] = []
    for path in paths:
        with path.open(encoding="utf-8") as handle:
            for entry in hcl2.load(handle).get(kind, []):
                for label, body in entry.items():
                    found.append((label.strip('"'), body))
    return found


def plain(text: Any) -> str:
    """An HCL string as python-hcl2 returns it, as one line of markdown-safe text."""
    value = str(text)
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    heredoc = re.match(r"^<<-?(\w+)\n(.*)\n\s*\1\s*$", value, re.DOTALL)
    if heredoc:
        value = heredoc.group(2)
    value = value.replace('\\"', '"').replace("\\n", " ")
    value = " ".join(value.split()).replace("|", "\\|")
    # `<name>` outside code spans would be read as an HTML tag.
    parts = value.split("`")
    return "`".join(part.replace("<", "&lt;") if i % 2 == 0 else part for i, part in enumerate(parts))


def type_of(body: dict[str, Any]) -> str:
    text = str(body.get("type", "any"))
    if text.startswith("${") and text.endswith("}"):
        text = text[2:-1]
    text = " ".join(text.split())
    if len(text) > MAX_TYPE_CHARS:
        text = re.sub(r"\(\{.*\}\)", "({...})", text, count=1)
    return f"`{text}`"


def default_of(body: dict[str, Any]) -> str:
    if "default" not in body:
        return "required"
    value = body["default"]
    if isinstance(value, str):
        if value.startswith("${") and value.endswith("}"):
            return f"`{value[2:-1]}`"
        return f"`{json.dumps(plain(value))}`"
    return f"`{json.dumps(value)}`"


def inputs_table(directory: Path = ROOT) -> str:
    rows = ["| Name | Description | Type | Default |", "|------|-------------|------|---------|"]
    for name, body in blocks(directory, "variable"):
        rows.append(f"| `{name}` | {plain(body.get('description', ''))} | {type_of(body)} | {default_of(body)} |")
    return "\n".join(rows)


def outputs_table(directory: Path = ROOT) -> str:
    rows = ["| Name | Description |", "|------|-------------|"]
    for name, body in blocks(directory, "output"):
        rows.append(f"| `{name}` | {plain(body.get('description', ''))} |")
    return "\n".join(rows)


def with_tables(readme: str, directory: Path = ROOT) -> str:
    """``readme`` with both generated tables put between their markers."""
    for marker, table in (("inputs", inputs_table(directory)), ("outputs", outputs_table(directory))):
        pattern = re.compile(rf"(<!-- {marker}:begin -->\n).*?(<!-- {marker}:end -->)", re.DOTALL)
        if not pattern.search(readme):
            raise ValueError(f"README.md has no <!-- {marker}:begin --> ... <!-- {marker}:end --> markers")
        readme = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), readme)
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Regenerate the root module's Inputs/Outputs tables in README.md.")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    current = args.readme.read_text(encoding="utf-8")
    updated = with_tables(current)
    if args.check:
        if updated != current:
            print(f"{args.readme}: the Inputs/Outputs tables are out of date; run .venv/bin/python tests/readme_tables.py",
                  file=sys.stderr)
            return 1
        return 0
    if updated != current:
        args.readme.write_text(updated, encoding="utf-8")
        print(f"updated the tables in {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
