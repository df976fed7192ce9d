"""localaws: apply this repository's Terraform to a local AWS (moto) and act as its principals.

    from localaws import Deployment, MotoServer, Principal

    with MotoServer.start() as aws:                 # moto + extensions, IAM enforced
        deployment = Deployment("basic", aws)       # temporary copy of examples/basic
        deployment.apply()                          # real Terraform, real hashicorp/aws provider
        config = deployment.output_raw("sdk_config")
        producer = Principal.create(aws, "producer", policy_arns=[deployment.output("producer_policy_arn")])
        ...
        deployment.destroy()

See README.md beside this file for the emulator's gaps and how each is handled.
"""

from .moto import Credentials, MotoServer
from .principals import Principal, access_denied, policy_arn
from .provider import Provider, ProviderNotFound, find_provider
from .terraform import Deployment, TerraformFailed, terraform_command

__all__ = [
    "Credentials",
    "Deployment",
    "MotoServer",
    "Principal",
    "Provider",
    "ProviderNotFound",
    "TerraformFailed",
    "access_denied",
    "find_provider",
    "policy_arn",
    "terraform_command",
]
