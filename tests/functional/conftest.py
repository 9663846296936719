from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from chalice.test import Client


@dataclass
class Tenant:
    account_id: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}


@pytest.fixture
def client(aws: None) -> Iterator[Client]:
    import app

    with Client(app.app, stage_name="test") as c:
        yield c


@pytest.fixture
def new_tenant(aws: None, issuer: Any):  # type: ignore[no-untyped-def]
    from chalicelib import dependencies
    from chalicelib.domain.accounts import create_account

    def make(email: str = "seller@example.com") -> Tenant:
        subject = str(uuid.uuid4())
        account, _ = create_account(dependencies.get_account_repo(), email, "Acme", subject)
        return Tenant(account.account_id, issuer.issue(subject))

    return make


def call(
    client: Client, method: str, path: str, tenant: Tenant | None = None, body: Any = None, **kw: Any
) -> Any:
    headers = dict(tenant.headers) if tenant else {"Content-Type": "application/json"}
    headers.update(kw.pop("headers", {}))
    if body is None:
        payload = b""
    elif isinstance(body, bytes):
        payload = body
    else:
        payload = (body if isinstance(body, str) else json.dumps(body)).encode()
    return client.http.request(method, path, headers=headers, body=payload)
