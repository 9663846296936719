from __future__ import annotations

from pathlib import Path

import pytest

from devstack.persistence import DynamoJournal
from state_machines import MissingPlaceholderError, function_placeholder, placeholders, substitute


def test_substitute_all_or_fail() -> None:
    text = '{"Resource": "${LoadCampaignFunctionArn}", "Bucket": "${MediaBucket}"}'
    assert placeholders(text) == {"LoadCampaignFunctionArn", "MediaBucket"}
    out = substitute(text, {"LoadCampaignFunctionArn": "arn:x", "MediaBucket": "b", "Unused": "u"})
    assert out == '{"Resource": "arn:x", "Bucket": "b"}'
    with pytest.raises(MissingPlaceholderError, match="MediaBucket"):
        substitute(text, {"LoadCampaignFunctionArn": "arn:x"})
    # JSONPath's own "$.x" and intrinsic "States.Format('{}')" are not placeholders
    assert placeholders('{"a.$": "$.b", "c.$": "States.Format(\'{}\', $.d)"}') == set()


def test_function_placeholder() -> None:
    assert function_placeholder("load_campaign") == "LoadCampaignFunctionArn"


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
