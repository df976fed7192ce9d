"""IAM principals of the emulator that hold exactly the given policies.

`Principal.create(server, name, policy_arns=[...])` makes an IAM user with those managed
policies attached (or `policy_documents` inline) and an access key; `.session()`, `.client()` and
`.env()` act as that user (boto3, or the environment of the `sqstask` CLI).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3

from .moto import Credentials, MotoServer


@dataclass(frozen=True)
class Principal:
    """An IAM user of a moto server and its access key."""

    name: str
    arn: str
    server: MotoServer
    credentials: Credentials

    @classmethod
    def create(
        cls,
        server: MotoServer,
        name: str,
        *,
        policy_arns: Sequence[str] = (),
        policy_documents: Mapping[str, Any] | None = None,
    ) -> Principal:
        """A new user holding exactly `policy_arns` (managed) and `policy_documents` (inline, by name)."""
        iam = server.client("iam")
        user = iam.create_user(UserName=name)["User"]
        for arn in policy_arns:
            iam.attach_user_policy(UserName=name, PolicyArn=arn)
        for policy_name, document in (policy_documents or {}).items():
            text = document if isinstance(document, str) else json.dumps(document)
            iam.put_user_policy(UserName=name, PolicyName=policy_name, PolicyDocument=text)
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return cls(name, user["Arn"], server, Credentials(key["AccessKeyId"], key["SecretAccessKey"]))

    def session(self) -> boto3.Session:
        return self.server.session(self.credentials)

    def client(self, service: str) -> Any:
        """A boto3 client acting as this principal, without retries."""
        return self.server.client(service, self.credentials)

    def env(self) -> dict[str, str]:
        """Environment variables that make boto3 programs act as this principal on the server."""
        return self.server.env(self.credentials)


def policy_arn(server: MotoServer, name: str) -> str:
    """The ARN of the customer managed policy `name` in the server's account."""
    iam = server.client("iam")
    for page in iam.get_paginator("list_policies").paginate(Scope="Local"):
        for policy in page["Policies"]:
            if policy["PolicyName"] == name:
                return policy["Arn"]
    raise LookupError(f"no IAM policy named {name!r}")


def access_denied(error: BaseException) -> bool:
    """Whether an exception from boto3 (or the SDK wrapping one) is an IAM refusal.

    moto answers refusals of JSON services with an XML body botocore cannot parse, so the code
    is then just "403": the status and the body's text are what is checked.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        response = getattr(current, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if code.startswith("AccessDenied") or (status == 403 and "AccessDenied" in str(current)):
                return True
        if "AccessDenied" in str(current):
            return True
        current = current.__cause__ or current.__context__
    return False
