"""devstack.dynamotx: moto's transactions with item-level rollback (what the local stack runs)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.backends import get_backend

from devstack import dynamotx

TABLE = "tx"


@pytest.fixture
def ddb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    dynamotx.install()
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName=TABLE,
            BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": n, "AttributeType": "S"} for n in ("pk", "sk")],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
        )
        yield client


def _put(key: str, value: str, condition: str | None = None) -> dict[str, Any]:
    put: dict[str, Any] = {
        "TableName": TABLE,
        "Item": {"pk": {"S": "p"}, "sk": {"S": key}, "v": {"S": value}},
    }
    if condition:
        put["ConditionExpression"] = condition
    return {"Put": put}


def _items(client: Any) -> dict[str, str]:
    rows = client.scan(TableName=TABLE)["Items"]
    return {r["sk"]["S"]: r["v"]["S"] for r in rows}


def _table() -> Any:
    return get_backend("dynamodb")["123456789012"]["us-east-1"].tables[TABLE]


def test_a_transaction_applies_every_write(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "a"}, "v": {"S": "old"}})
    ddb.transact_write_items(TransactItems=[_put("a", "new"), _put("b", "made")])
    assert _items(ddb) == {"a": "new", "b": "made"}


def test_a_cancelled_transaction_changes_nothing_and_keeps_the_table(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "a"}, "v": {"S": "old"}})
    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "c"}, "v": {"S": "taken"}})
    table = _table()
    with pytest.raises(ClientError) as caught:
        ddb.transact_write_items(
            TransactItems=[
                _put("a", "overwritten"),  # applied by moto before the next one fails…
                _put("b", "created"),
                _put("c", "again", "attribute_not_exists(sk)"),  # …and this one is refused
            ]
        )
    reasons = [r["Code"] for r in caught.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "ConditionalCheckFailed"]
    assert _items(ddb) == {"a": "old", "c": "taken"}  # rolled back item by item
    assert _table() is table  # the table itself was never swapped for a deep copy


def test_a_table_is_still_deep_copied_outside_transactions(ddb: Any) -> None:
    import copy

    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "a"}, "v": {"S": "x"}})
    clone = copy.deepcopy(_table())
    assert clone is not _table() and clone.items is not _table().items


def test_the_item_size_limit_still_holds(ddb: Any) -> None:
    big = "x" * 200_000
    item = {"pk": {"S": "p"}, "sk": {"S": "big"}, "a": {"S": big}}
    ddb.put_item(TableName=TABLE, Item=item)  # 200 KB: fine
    with pytest.raises(ClientError) as caught:
        ddb.put_item(TableName=TABLE, Item={**item, "b": {"S": big}, "c": {"S": "y" * 10_000}})
    assert "Item size has exceeded the maximum allowed size" in str(caught.value)
    ddb.update_item(  # a value replaced in place is measured again, not added on top
        TableName=TABLE,
        Key={"pk": {"S": "p"}, "sk": {"S": "big"}},
        UpdateExpression="SET a = :v",
        ExpressionAttributeValues={":v": {"S": "z" * 201_000}},
    )
    stored = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "big"}})["Item"]
    assert len(stored["a"]["S"]) == 201_000


def test_concurrent_conditional_writes_are_atomic(ddb: Any) -> None:
    # GIVEN a counter that may not pass 10, and 16 threads moving it at once
    import threading

    ddb.put_item(TableName=TABLE, Item={"pk": {"S": "p"}, "sk": {"S": "count"}, "n": {"N": "0"}})
    barrier = threading.Barrier(16)
    won: list[bool] = []

    def bump() -> None:
        client = boto3.client("dynamodb")
        barrier.wait()
        for _ in range(3):
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"pk": {"S": "p"}, "sk": {"S": "count"}},
                                "UpdateExpression": "ADD n :one",
                                "ConditionExpression": "n < :limit",
                                "ExpressionAttributeValues": {":one": {"N": "1"}, ":limit": {"N": "10"}},
                            }
                        }
                    ]
                )
                won.append(True)
            except ClientError:
                won.append(False)

    threads = [threading.Thread(target=bump) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # THEN moto, like DynamoDB, let exactly 10 through: no two checked the same value
    item = ddb.get_item(TableName=TABLE, Key={"pk": {"S": "p"}, "sk": {"S": "count"}})["Item"]
    assert (won.count(True), item["n"]["N"]) == (10, "10")
