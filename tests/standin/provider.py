"""A schema-only stand-in for the hashicorp/aws provider (plugin protocol v6).

It serves the real provider's schema for the types this repository uses (`aws-schema.json`,
derived by `schema_from_jsii.py`), so Terraform itself checks argument names, types, required
arguments and block nesting. Plans propose the configured values with computed attributes
unknown. Nothing here talks to AWS: apply and data source reads fail with a clear message
(`terraform test` with `mock_provider "aws"` is how the module's behaviour is tested).

The `tf` package provides the gRPC plumbing and plugin handshake; its own schema classes only
know set/single nesting and primitive types, so this servicer builds the protobuf schema
directly from the JSON (list nesting with min/max items, object types).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import tf.provider
import tf.runner
from tf.gen import tfplugin_pb2 as pb
from tf.gen import tfplugin_pb2_grpc as rpc
from tf.types import Unknown
from tf.utils import read_dynamic_value, to_dynamic_value

SCHEMA_PATH = Path(__file__).with_name("aws-schema.json")
PROVIDER_ADDRESS = "registry.terraform.io/hashicorp/aws"
NESTING = {
    "single": pb.Schema.NestedBlock.SINGLE,
    "list": pb.Schema.NestedBlock.LIST,
    "set": pb.Schema.NestedBlock.SET,
    "map": pb.Schema.NestedBlock.MAP,
}


def block_to_pb(block: dict) -> pb.Schema.Block:
    attributes = [
        pb.Schema.Attribute(
            name=name,
            type=json.dumps(spec["type"]).encode(),
            required=spec.get("required", False),
            optional=spec.get("optional", False),
            computed=spec.get("computed", False),
            sensitive=spec.get("sensitive", False),
        )
        for name, spec in sorted(block.get("attributes", {}).items())
    ]
    block_types = [
        pb.Schema.NestedBlock(
            type_name=name,
            nesting=NESTING[spec["nesting_mode"]],
            block=block_to_pb(spec["block"]),
            min_items=spec.get("min_items", 0),
            max_items=spec.get("max_items", 0),
        )
        for name, spec in sorted(block.get("block_types", {}).items())
    ]
    return pb.Schema.Block(attributes=attributes, block_types=block_types)


def schema_to_pb(schema: dict) -> pb.Schema:
    return pb.Schema(version=schema.get("version", 0), block=block_to_pb(schema["block"]))


def plan_value(block: dict, proposed: Any, prior: Any) -> Any:
    """The planned object: configured values kept, unset computed attributes unknown (or prior)."""
    if proposed is None or proposed is Unknown:
        return proposed
    planned = dict(proposed)
    for name, spec in block.get("attributes", {}).items():
        if planned.get(name) is None and spec.get("computed"):
            previous = prior.get(name) if isinstance(prior, dict) else None
            planned[name] = previous if previous is not None else Unknown
    for name, spec in block.get("block_types", {}).items():
        value = planned.get(name)
        if value is None or value is Unknown:
            continue
        inner = spec["block"]
        if spec["nesting_mode"] == "single":
            planned[name] = plan_value(inner, value, None)
        elif spec["nesting_mode"] == "map":
            planned[name] = {k: plan_value(inner, v, None) for k, v in value.items()}
        else:
            planned[name] = [plan_value(inner, v, None) for v in value]
    return planned


def error(summary: str, detail: str = "") -> pb.Diagnostic:
    return pb.Diagnostic(severity=pb.Diagnostic.ERROR, summary=summary, detail=detail)


class SchemaOnlyServicer(rpc.ProviderServicer):
    def __init__(self, _app: Any = None):
        doc = json.loads(SCHEMA_PATH.read_text())["provider_schemas"][PROVIDER_ADDRESS]
        self.provider = doc["provider"]
        self.resources = doc["resource_schemas"]
        self.data_sources = doc["data_source_schemas"]

    def GetMetadata(self, request, context):
        return pb.GetMetadata.Response(
            server_capabilities=pb.ServerCapabilities(plan_destroy=True, get_provider_schema_optional=False),
            resources=[pb.GetMetadata.ResourceMetadata(type_name=t) for t in self.resources],
            data_sources=[pb.GetMetadata.DataSourceMetadata(type_name=t) for t in self.data_sources],
        )

    def GetProviderSchema(self, request, context):
        return pb.GetProviderSchema.Response(
            provider=schema_to_pb(self.provider),
            resource_schemas={t: schema_to_pb(s) for t, s in self.resources.items()},
            data_source_schemas={t: schema_to_pb(s) for t, s in self.data_sources.items()},
            server_capabilities=pb.ServerCapabilities(plan_destroy=True),
        )

    def ValidateProviderConfig(self, request, context):
        return pb.ValidateProviderConfig.Response()

    def ValidateResourceConfig(self, request, context):
        return pb.ValidateResourceConfig.Response()

    def ValidateDataResourceConfig(self, request, context):
        return pb.ValidateDataResourceConfig.Response()

    def ConfigureProvider(self, request, context):
        return pb.ConfigureProvider.Response()

    def UpgradeResourceState(self, request, context):
        state = json.loads(request.raw_state.json) if request.raw_state.json else None
        return pb.UpgradeResourceState.Response(upgraded_state=to_dynamic_value(state))

    def ReadResource(self, request, context):
        return pb.ReadResource.Response(new_state=request.current_state, private=request.private)

    def PlanResourceChange(self, request, context):
        proposed = read_dynamic_value(request.proposed_new_state)
        if proposed is None:  # destroy
            return pb.PlanResourceChange.Response(planned_state=request.proposed_new_state)
        prior = read_dynamic_value(request.prior_state)
        planned = plan_value(self.resources[request.type_name]["block"], proposed, prior)
        return pb.PlanResourceChange.Response(planned_state=to_dynamic_value(planned))

    def ApplyResourceChange(self, request, context):
        return pb.ApplyResourceChange.Response(
            diagnostics=[
                error(
                    f"The schema-only AWS provider cannot create {request.type_name}",
                    "This stand-in serves the AWS provider schema for validate, plan and "
                    "`terraform test` with mock_provider; it never talks to AWS.",
                )
            ]
        )

    def ReadDataSource(self, request, context):
        return pb.ReadDataSource.Response(
            diagnostics=[
                error(
                    f"The schema-only AWS provider cannot read data source {request.type_name}",
                    "Use `terraform test` with mock_provider \"aws\" (and mock_data) to plan configurations "
                    "that read data sources.",
                )
            ]
        )

    def ImportResourceState(self, request, context):
        return pb.ImportResourceState.Response(diagnostics=[error("The schema-only AWS provider cannot import")])

    def GetFunctions(self, request, context):
        return pb.GetFunctions.Response()

    def StopProvider(self, request, context):
        return pb.StopProvider.Response()


class _Provider:
    """What `tf.runner.run_provider` needs to know about the provider besides its servicer."""

    def full_name(self) -> str:
        return PROVIDER_ADDRESS


def main() -> None:
    # run_provider builds `tf.provider.ProviderServicer(provider)`; serve ours instead, keeping
    # the package's go-plugin handshake, TLS and shutdown handling.
    tf.provider.ProviderServicer = SchemaOnlyServicer
    tf.runner.run_provider(_Provider(), sys.argv)


if __name__ == "__main__":
    main()
