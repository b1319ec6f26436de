"""boto3 against a live broker: clients, policy documents, and brokers shared by a test module."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.exceptions import ClientError

from broker.services.setup import bootstrap_admin
from tests.support.brokers import LiveBroker, free_port, make_runtime, make_settings, postgres_schema

# One attempt: "total_max_attempts" (botocore's "max_attempts" 1 still retries a Throttling once).
NO_RETRIES = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"})
# No client-side parameter checks either: the broker's own validation answers bad input.
UNCHECKED = botocore.config.Config(retries={"total_max_attempts": 1, "mode": "standard"}, parameter_validation=False)
ACCOUNT = "123456789012"
# For module-scoped brokers: one per database backend, shared by a module's tests.
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@contextmanager
def running_broker(workdir: Path, keys_dir: Path, backend: str) -> Iterator[LiveBroker]:
    """A live broker on SQLite or on a fresh PostgreSQL schema."""
    with ExitStack() as stack:
        sqlite = f"sqlite:///{workdir / 'broker.db'}"
        url = sqlite if backend == "sqlite" else stack.enter_context(postgres_schema())
        port = free_port()
        settings = make_settings(workdir, keys_dir, url, f"http://127.0.0.1:{port}")
        yield stack.enter_context(LiveBroker(make_runtime(settings), port))


def document(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: str | list[str], resource: str | list[str] = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def admin_client(broker: LiveBroker, service: str = "iam") -> Any:
    admin = bootstrap_admin(broker.runtime)
    return client(broker, service, admin.access_key_id, admin.secret_access_key)


def user_with_key(iam: Any, name: str, *, path: str = "/", policy: str | None = None) -> tuple[str, str]:
    """A user created through the API (optionally with an inline policy) and its new access key."""
    iam.create_user(UserName=name, Path=path)
    if policy is not None:
        iam.put_user_policy(UserName=name, PolicyName="inline", PolicyDocument=policy)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]


def client(
    broker: LiveBroker,
    service: str,
    key: str,
    secret: str,
    token: str | None = None,
    config: botocore.config.Config = UNCHECKED,
) -> Any:
    return boto3.client(
        service,
        endpoint_url=broker.url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=config,
    )


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str]:
    """(code, message) of the ClientError a call raises."""
    with pytest.raises(ClientError) as raised:
        call(**kwargs)
    return code(raised), str(raised.value.response["Error"]["Message"])


@pytest.fixture(scope="module", params=BACKENDS, name="broker")
def module_broker(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, keys_dir: Path
) -> Iterator[LiveBroker]:
    """One live broker per database backend, shared by the tests of the module that imports it."""
    name = request.module.__name__.rsplit(".", 1)[-1]
    with running_broker(tmp_path_factory.mktemp(name), keys_dir, request.param) as live:
        yield live


@pytest.fixture(scope="module", name="iam")
def module_iam(broker: LiveBroker) -> Any:
    """The bootstrap administrator's IAM client on the module's broker."""
    return admin_client(broker)
