"""`sqstask demo` creates its resources with the Terraform module's defaults.

The demo's settings live in `sqstask.demo.MODULE_DEFAULTS` (by module folder) plus the changes
in `DEMO_OVERRIDES`. These tests read the variables' defaults from the Terraform code with
python-hcl2 and fail when the two drift apart, so the demo keeps showing what
`module "tasks" { name = ... }` really creates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import hcl2
import pytest

from sqstask import demo

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL_ATTRIBUTE = re.compile(r"(\w+)\s*=\s*optional\(\s*(\w+)\s*,\s*([^)]+?)\s*\)")


def variables_of(module: str) -> dict[str, dict[str, Any]]:
    """The module's variable blocks by name, as python-hcl2 reads them."""
    blocks: dict[str, dict[str, Any]] = {}
    for path in sorted((ROOT / module).glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for entry in hcl2.load(handle).get("variable", []):
                for label, body in entry.items():
                    blocks[label.strip('"')] = body
    return blocks


def _literal(kind: str, text: str) -> Any:
    if kind == "bool":
        return {"true": True, "false": False}[text]
    if kind == "number":
        return int(text) if re.fullmatch(r"-?\d+", text) else float(text)
    return text.strip('"')


def effective_default(body: dict[str, Any]) -> Any:
    """A variable's default, with an object type's `optional(type, default)` attributes filled in."""
    default = body.get("default")
    type_expr = str(body.get("type", ""))
    if isinstance(default, dict) and type_expr.startswith("${object("):
        filled = {name: _literal(kind, value) for name, kind, value in OPTIONAL_ATTRIBUTE.findall(type_expr)}
        filled.update(default)
        return filled
    return default


SETTINGS = [(module, name, value) for module, defaults in demo.MODULE_DEFAULTS.items() for name, value in defaults.items()]


@pytest.mark.parametrize(("module", "name", "value"), SETTINGS, ids=[f"{m}:{n}" for m, n, _ in SETTINGS])
def test_demo_setting_equals_the_module_default(module: str, name: str, value: Any):
    variables = variables_of(module)
    assert name in variables, f"{module} has no variable {name!r}; update sqstask.demo.MODULE_DEFAULTS"
    actual = effective_default(variables[name])
    assert actual == value, (
        f"{module} variable {name} defaults to {actual!r} but the demo uses {value!r}: "
        "update sqstask.demo.MODULE_DEFAULTS"
    )


def test_every_demo_override_changes_a_known_setting_and_says_why():
    defaults = {name for values in demo.MODULE_DEFAULTS.values() for name in values}
    for name, (value, why) in demo.DEMO_OVERRIDES.items():
        assert name in defaults, f"DEMO_OVERRIDES names {name!r}, which is not a module setting"
        assert value != demo.demo_default(name), f"DEMO_OVERRIDES sets {name} to its default"
        assert why.strip(), f"DEMO_OVERRIDES[{name!r}] needs a reason the narration can show"


def test_demo_settings_are_the_defaults_with_only_the_overrides_changed():
    settings = demo.demo_settings()
    for values in demo.MODULE_DEFAULTS.values():
        for name, value in values.items():
            expected = demo.DEMO_OVERRIDES[name][0] if name in demo.DEMO_OVERRIDES else value
            assert settings[name] == expected, name


def test_the_demo_config_file_has_the_keys_of_the_modules_sdk_config_output():
    with (ROOT / "main.tf").open(encoding="utf-8") as handle:
        parsed = hcl2.load(handle)
    sdk_config = next(block["sdk_config"] for block in parsed.get("locals", []) if "sdk_config" in block)
    team = demo.Team("t", "u", "a", "du", "da", "t-tasks", "b", [], demo.demo_settings())
    assert set(team.sdk_config()) == set(sdk_config)


def test_effective_default_fills_optional_object_attributes():
    body = {"type": "${object({enabled = optional(bool, true), period = optional(number, 60)})}", "default": {"period": 120}}
    assert effective_default(body) == {"enabled": True, "period": 120}
