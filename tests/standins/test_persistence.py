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
