from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from chalicelib.domain.models import Plan


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
    from chalicelib.domain.models import Account, Role, User, new_id, utcnow

    def make(email: str = "seller@example.com", plan: Plan = Plan.AGENCY) -> Tenant:
        """A seller with an account on ``plan``: Agency (the highest limits) unless the test is
        about a plan's limits, since the trial now allows 5 videos and 1 campaign."""
        subject = str(uuid.uuid4())
        if plan is Plan.TRIAL:
            account, _ = create_account(dependencies.get_account_repo(), email, "Acme", subject)
        else:
            now = utcnow()
            account = Account.start_trial(name="Acme", now=now).model_copy(
                update={"plan": plan, "period_start": now, "period_end": now + timedelta(days=30)}
            )
            owner = User(
                account_id=account.account_id,
                user_id=new_id("user"),
                subject=subject,
                email=email,
                role=Role.OWNER,
            )
            dependencies.get_account_repo().create(account, owner)
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


def get_json(client: Client, tenant: Tenant, path: str) -> Any:
    """GET ``path`` as ``tenant``; it must answer 200."""
    response = call(client, "GET", path, tenant)
    assert response.status_code == 200, (path, response.body)
    return json.loads(response.body)


def all_prospects(client: Client, tenant: Tenant, cid: str, limit: int = 100) -> list[dict[str, Any]]:
    """Every prospect of the campaign, following the list's cursor ``limit`` at a time."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = f"?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        page = get_json(client, tenant, f"/campaigns/{cid}/prospects{query}")
        items.extend(page["items"])
        cursor = page["cursor"]
        if cursor is None:
            return items


def request_csv_upload(
    client: Client, tenant: Tenant, cid: str, size: int, filename: str = "leads.csv"
) -> dict[str, Any]:
    """The presigned upload a browser would ask for to send a prospects CSV of ``size`` bytes."""
    response = call(
        client,
        "POST",
        f"/campaigns/{cid}/uploads",
        tenant,
        {"kind": "prospects_csv", "filename": filename, "content_type": "text/csv", "size_bytes": size},
    )
    assert response.status_code == 201, response.body
    return dict(json.loads(response.body))


def deliver_upload(
    client: Client, tenant: Tenant, cid: str, ticket: dict[str, Any], data: bytes
) -> tuple[Any, dict[str, Any]]:
    """Put the object where the presigned POST would, deliver its S3 event to the ingest Lambda;
    returns the Lambda's outcome and the import as the API shows it."""
    import boto3

    from tests.conftest import TEST_ENV

    boto3.client("s3").put_object(Bucket=TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], Key=ticket["key"], Body=data)
    event = client.events.generate_s3_event(bucket=TEST_ENV["TAILORCAST_UPLOADS_BUCKET"], key=ticket["key"])
    outcome = client.lambda_.invoke("ingest_upload", event).payload
    return outcome, get_json(client, tenant, f"/campaigns/{cid}/imports/{ticket['upload_id']}")


def upload_csv(
    client: Client, tenant: Tenant, cid: str, data: bytes, filename: str = "leads.csv"
) -> tuple[Any, dict[str, Any]]:
    """A prospects CSV uploaded and imported: request → S3 → the ingest Lambda → the import."""
    ticket = request_csv_upload(client, tenant, cid, max(len(data), 1), filename)
    return deliver_upload(client, tenant, cid, ticket, data)
