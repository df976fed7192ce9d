"""Every module's README documents exactly the variables and outputs its code declares.

Covers the root module and each folder under modules/ that holds Terraform files. The code
side is read with python-hcl2; the README side is the first column of the markdown tables
under the `## Inputs` and `## Outputs` headings.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import hcl2
import pytest

ROOT = Path(__file__).resolve().parents[1]


def module_dirs(root: Path = ROOT) -> list[Path]:
    """The root module and every module under modules/ (folders holding *.tf files)."""
    modules = root / "modules"
    subdirs = sorted(d for d in modules.iterdir() if d.is_dir() and any(d.glob("*.tf"))) if modules.is_dir() else []
    return [root, *subdirs]


def module_id(directory: Path) -> str:
    return "root" if directory == ROOT else str(directory.relative_to(ROOT))


def declared(directory: Path, block: str) -> list[str]:
    """Names of the `variable` or `output` blocks declared in the module's *.tf files."""
    names: list[str] = []
    for path in sorted(directory.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            parsed = hcl2.load(handle)
        for entry in parsed.get(block, []):
            names += [label.strip('"') for label in entry]
    return names


def table_names(readme: str, heading: str) -> list[str]:
    """First-column names of the markdown table(s) in the `## <heading>` section."""
    section = re.search(rf"^##\s+{heading}\s*$(.*?)(?=^#{{1,2}}\s|\Z)", readme, re.MULTILINE | re.DOTALL)
    if section is None:
        return []
    names: list[str] = []
    for line in section.group(1).splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.lstrip().startswith("|") or not cells[0]:
            continue
        if set(cells[0]) <= set("-: ") or cells[0].lower() == "name":
            continue  # separator or header row
        names.append(cells[0].strip("`").strip())
    return names


def readme_of(directory: Path) -> str:
    readme = directory / "README.md"
    assert readme.is_file(), f"{module_id(directory)} has no README.md with Inputs and Outputs tables"
    return readme.read_text(encoding="utf-8")


def duplicates(names: list[str]) -> list[str]:
    return sorted(name for name, count in Counter(names).items() if count > 1)


MODULES = module_dirs()


def test_root_and_every_module_are_checked():
    checked = {module_id(d) for d in MODULES}
    assert {"root", "modules/queue", "modules/task-state"} <= checked


@pytest.mark.parametrize("directory", MODULES, ids=module_id)
def test_module_has_the_standard_files(directory: Path):
    missing = [f for f in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md") if not (directory / f).is_file()]
    assert not missing, f"{module_id(directory)} lacks {', '.join(missing)}"


@pytest.mark.parametrize("directory", MODULES, ids=module_id)
def test_readme_inputs_table_lists_exactly_the_variables(directory: Path):
    readme = readme_of(directory)
    documented = table_names(readme, "Inputs")
    variables = declared(directory, "variable")
    assert not duplicates(documented), f"{module_id(directory)}/README.md lists inputs twice: {duplicates(documented)}"
    assert set(documented) == set(variables), (
        f"{module_id(directory)}/README.md Inputs table: "
        f"missing {sorted(set(variables) - set(documented))}, not in the code {sorted(set(documented) - set(variables))}"
    )


@pytest.mark.parametrize("directory", MODULES, ids=module_id)
def test_readme_outputs_table_lists_exactly_the_outputs(directory: Path):
    readme = readme_of(directory)
    documented = table_names(readme, "Outputs")
    outputs = declared(directory, "output")
    assert not duplicates(documented), f"{module_id(directory)}/README.md lists outputs twice: {duplicates(documented)}"
    assert set(documented) == set(outputs), (
        f"{module_id(directory)}/README.md Outputs table: "
        f"missing {sorted(set(outputs) - set(documented))}, not in the code {sorted(set(documented) - set(outputs))}"
    )


def test_table_names_reads_the_first_column_of_its_section_only():
    readme = "\n".join(
        [
            "# m",
            "## Inputs",
            "",
            "| Name | Description |",
            "|------|-------------|",
            "| `name` | the name |",
            "| tags | tags with a \\| pipe |",
            "### Note inside the section",
            "## Outputs",
            "| Name | Description |",
            "|:---|---:|",
            "| `queue_url` | url |",
            "## Examples",
            "| `not_an_output` | x |",
        ]
    )
    assert table_names(readme, "Inputs") == ["name", "tags"]
    assert table_names(readme, "Outputs") == ["queue_url"]
    assert table_names(readme, "Missing") == []


def test_declared_reads_variable_and_output_names_from_every_tf_file(tmp_path: Path):
    (tmp_path / "variables.tf").write_text('variable "name" {\n  type = string\n}\n')
    (tmp_path / "extra.tf").write_text('variable "tags" {\n  type = map(string)\n}\noutput "arn" {\n  value = 1\n}\n')
    assert sorted(declared(tmp_path, "variable")) == ["name", "tags"]
    assert declared(tmp_path, "output") == ["arn"]
