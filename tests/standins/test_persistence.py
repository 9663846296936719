"""The local DynamoDB's journal (``devstack/persistence.py``): what survives a crash."""

from __future__ import annotations

from pathlib import Path

from devstack.persistence import DynamoJournal


def test_journal_survives_a_torn_last_line(tmp_path: Path) -> None:
    journal = DynamoJournal(tmp_path)
    journal.record("PutItem", b'{"TableName": "t", "Item": {"pk": {"S": "1"}}}')
    journal.close()
    with (tmp_path / "journal.jsonl").open("a") as fh:
        fh.write('{"op": "PutItem", "body": "{\\"Tab')  # the process died mid-write
    entries = DynamoJournal(tmp_path).entries()
    assert entries == [("PutItem", {"TableName": "t", "Item": {"pk": {"S": "1"}}})]


def test_checkpoint_truncates_journal(tmp_path: Path) -> None:
    journal = DynamoJournal(tmp_path)
    journal.record("DeleteItem", b"{}")
    journal.checkpoint({"t": [{"pk": {"S": "1"}}]})
    assert journal.entries() == []
    assert journal.snapshot_items() == {"t": [{"pk": {"S": "1"}}]}


def test_the_s3_mirror_writes_an_object_through_from_motos_store_without_a_request(
    aws: None, tmp_path: Path
) -> None:
    import boto3

    from devstack.persistence import S3Mirror, moto_reader

    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="mirror-test")
    s3.put_object(
        Bucket="mirror-test", Key="a/b.gif", Body=b"GIF89a", ContentType="image/gif", Metadata={"k": "v"}
    )
    requests: list[str] = []
    s3.meta.events.register("before-call.s3", lambda model, **_: requests.append(model.name))
    mirror = S3Mirror(tmp_path / "s3", reader=moto_reader("123456789012"))

    mirror.write_through(s3, "mirror-test", "a/b.gif")
    mirror.write_through(s3, "mirror-test", "gone")  # never written: nothing to mirror

    assert requests == ["GetObject"]  # only for the object moto does not have
    restored = boto3.client("s3", region_name="us-east-1")
    restored.delete_object(Bucket="mirror-test", Key="a/b.gif")
    assert S3Mirror(tmp_path / "s3").restore(restored) == 1
    got = restored.get_object(Bucket="mirror-test", Key="a/b.gif")
    assert (got["Body"].read(), got["ContentType"], got["Metadata"]) == (b"GIF89a", "image/gif", {"k": "v"})


def test_a_multi_object_delete_names_its_keys_to_the_mirror() -> None:
    from devstack.stack import deleted_keys

    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>a/1.wav</Key></Object>'
        b"<Object><Key>a/2 &amp; b.png</Key></Object><Quiet>true</Quiet></Delete>"
    )
    assert deleted_keys(body) == ["a/1.wav", "a/2 & b.png"]
    assert deleted_keys(b"<Delete><Object><Key>k</Key></Object></Delete>") == ["k"]
    assert deleted_keys(b"not xml") == []  # the stack then syncs in full
