"""Start and stop a moto server (with the harness's extensions) in its own process.

`MotoServer.start(enforce_iam=True)` creates an administrator with the first free calls, then
moto checks every request's signature and the caller's identity policies (moto evaluates
identity policies only: not resource policies, key policies or trust policies).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

ACCOUNT_ID = "123456789012"  # moto's default account: every key moto issues belongs to it
DEFAULT_REGION = "eu-west-1"
ADMIN_USER = "localaws-admin"
# The free calls that create the administrator: CreateUser, PutUserPolicy, CreateAccessKey.
BOOTSTRAP_CALLS = 3
ADMIN_POLICY = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}'
STARTUP_TIMEOUT_SECONDS = 60
TESTS_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Credentials:
    """An access key of one IAM user of the emulator."""

    access_key_id: str
    secret_access_key: str

    def env(self) -> dict[str, str]:
        """Environment variables for boto3, the CLI and the AWS provider."""
        return {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}


@dataclass
class MotoServer:
    """A running moto server process; `endpoint` is its URL, `admin` the administrator's key."""

    endpoint: str
    region: str
    process: subprocess.Popen[str]
    admin: Credentials
    enforce_iam: bool
    log: list[str] = field(default_factory=list)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, init=False, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)
    _models: boto3.Session | None = field(default=None, init=False, repr=False)

    @classmethod
    def start(
        cls, *, enforce_iam: bool = True, region: str = DEFAULT_REGION, skip_extensions: tuple[str, ...] = ()
    ) -> MotoServer:
        """Start a server on a free port and wait (bounded) until it answers.

        `skip_extensions` names extensions (extensions.py) to leave out, to show a gap is real.
        """
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(
            PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS_DIR), env.get("PYTHONPATH")])),
            # AWS managed policies (e.g. AWSLambdaBasicExecutionRole) exist only with this.
            MOTO_IAM_LOAD_MANAGED_POLICIES="true",
            PYTHONUNBUFFERED="1",
            LOCALAWS_SKIP_EXTENSIONS=",".join(skip_extensions),
        )
        if enforce_iam:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = str(BOOTSTRAP_CALLS)
        process = subprocess.Popen(
            [sys.executable, "-m", "localaws.server"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        endpoint = _read_endpoint(process)
        log: list[str] = []
        threading.Thread(target=_drain, args=(process, log), daemon=True).start()
        try:
            admin = _bootstrap_admin(endpoint, region)
            server = cls(endpoint=endpoint, region=region, process=process, admin=admin, enforce_iam=enforce_iam, log=log)
            if enforce_iam:
                server._assert_enforced()
        except BaseException:
            process.terminate()
            process.wait(timeout=10)
            raise
        return server

    def session(self, credentials: Credentials | None = None) -> boto3.Session:
        """A boto3 session for `credentials` (default: the administrator)."""
        creds = credentials or self.admin
        return boto3.Session(
            aws_access_key_id=creds.access_key_id,
            aws_secret_access_key=creds.secret_access_key,
            region_name=self.region,
        )

    def client(self, service: str, credentials: Credentials | None = None) -> Any:
        """A boto3 client of `service` on this server, without retries (errors surface at once).

        Clients are kept per (service, key): building one loads the service's model, which costs
        more than the call itself (a role matrix makes hundreds). boto3 clients are thread-safe.
        """
        creds = credentials or self.admin
        key = (service, creds.access_key_id)
        with self._clients_lock:
            client = self._clients.get(key)
            if client is None:
                if self._models is None:
                    self._models = boto3.Session(region_name=self.region)  # loads each model once
                client = self._models.client(
                    service, endpoint_url=self.endpoint, aws_access_key_id=creds.access_key_id,
                    aws_secret_access_key=creds.secret_access_key,
                    config=Config(retries={"max_attempts": 1, "mode": "standard"}),
                )
                self._clients[key] = client
        return client

    def env(self, credentials: Credentials | None = None) -> dict[str, str]:
        """Environment for boto3-based programs (the sqstask CLI) talking to this server."""
        creds = credentials or self.admin
        return {
            **creds.env(),
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint,
        }

    def stop(self) -> None:
        """Terminate the server process (bounded wait)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def __enter__(self) -> MotoServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _assert_enforced(self) -> None:
        """Fail loudly if moto still serves unsigned callers (the bootstrap count was wrong)."""
        stranger = Credentials("AKIAFAKEFAKEFAKEFAKE", "not-a-secret")
        try:
            self.client("sqs", stranger).list_queues()
        except Exception as error:  # noqa: BLE001 - any refusal proves enforcement
            if "InvalidClientTokenId" in str(error) or "AccessDenied" in str(error) or "403" in str(error):
                return
            raise
        raise RuntimeError("moto accepted a request with an unknown access key: IAM enforcement is off")


def _read_endpoint(process: subprocess.Popen[str]) -> str:
    deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("localaws listening on "):
            return line.split(" on ", 1)[1].strip()
    process.kill()
    raise RuntimeError("the moto server did not start:\n" + "".join(lines))


def _drain(process: subprocess.Popen[str], log: list[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        log.append(line)
        del log[:-200]  # keep the last lines for failure messages


def _bootstrap_admin(endpoint: str, region: str) -> Credentials:
    iam = boto3.client(
        "iam",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
    )
    iam.create_user(UserName=ADMIN_USER)
    iam.put_user_policy(UserName=ADMIN_USER, PolicyName="administrator", PolicyDocument=ADMIN_POLICY)
    key = iam.create_access_key(UserName=ADMIN_USER)["AccessKey"]
    return Credentials(key["AccessKeyId"], key["SecretAccessKey"])
