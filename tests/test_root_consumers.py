"""The root's `consumers` type declares every field modules/lambda-trigger reads.

Terraform converts the root variable to its declared object type before passing it on, so a
field missing from the root's type is silently dropped (the submodule then sees its default).
"""

from __future__ import annotations

import re
from pathlib import Path

import hcl2

ROOT = Path(__file__).resolve().parents[1]


def consumer_fields(module: Path) -> set[str]:
    """Attribute names (nested ones included) in the module's `consumers` variable type."""
    for path in sorted(module.glob("*.tf")):
        with path.open(encoding="utf-8") as handle:
            for entry in hcl2.load(handle).get("variable", []):
                body = entry.get("consumers") or entry.get('"consumers"')
                if body is not None:
                    return set(re.findall(r"(\w+)\s*=", str(body["type"])))
    raise AssertionError(f"{module} declares no consumers variable")


def test_root_consumers_type_has_every_field_of_the_lambda_trigger_module():
    root, module = consumer_fields(ROOT), consumer_fields(ROOT / "modules" / "lambda-trigger")
    assert "provisioned_poller_config" in module and "event_metrics" in module
    assert root == module, f"only in the module: {sorted(module - root)}; only in the root: {sorted(root - module)}"
