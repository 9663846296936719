"""The local stack's state directory is private (folders 0700, files 0600, whatever the umask,
older files fixed on start), and its sealing key survives a restart of moto's KMS."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from devstack.private import open_private, private_dir, tighten, write_private


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    """The common default: without explicit modes, files would be 0644 and folders 0755."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _modes(root: Path) -> dict[str, int]:
    """Every folder and file under ``root`` (itself included) and its mode."""
    found = {".": _mode(root)}
    for path in root.rglob("*"):
        if not path.is_symlink():
            found[str(path.relative_to(root))] = _mode(path)
    return found


def _assert_private(root: Path) -> None:
    modes = _modes(root)
    wrong = {
        name: oct(mode)
        for name, mode in modes.items()
        if mode != (0o700 if (root / name).is_dir() else 0o600)
    }
    assert not wrong, wrong
    assert len(modes) > 1 or root.is_file()


def _loosen(root: Path) -> None:
    """What an older version left: folders 0755, files 0644."""
    for path in [root, *root.rglob("*")]:
        os.chmod(path, 0o755 if path.is_dir() else 0o644)


# --------------------------------------------------------------------------- the helpers


def test_written_files_are_0600_and_folders_0700(tmp_path: Path) -> None:
    target = tmp_path / "state" / "deep" / "key.pem"
    write_private(target, b"secret")
    assert target.read_bytes() == b"secret" and _mode(target) == 0o600
    assert _mode(target.parent) == 0o700 and _mode(tmp_path / "state") == 0o700
    assert not target.with_name("key.pem.tmp").exists()


def test_rewriting_or_appending_to_a_world_readable_file_makes_it_private(tmp_path: Path) -> None:
    old = tmp_path / "journal.jsonl"
    old.write_text("line 1\n")
    os.chmod(old, 0o644)
    with open_private(old, "a") as fh:
        fh.write("line 2\n")
    assert old.read_text() == "line 1\nline 2\n" and _mode(old) == 0o600
    os.chmod(old, 0o644)
    write_private(old, "fresh")
    assert old.read_text() == "fresh" and _mode(old) == 0o600
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    assert _mode(private_dir(folder)) == 0o700


def test_tighten_fixes_every_mode_and_leaves_links_alone(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "s3" / "blobs").mkdir(parents=True)
    (root / "s3" / "blobs" / "abc").write_bytes(b"x")
    (root / "stack.json").write_text("{}")
    outside = tmp_path / "outside.txt"
    outside.write_text("not ours")
    os.chmod(outside, 0o644)
    (root / "link").symlink_to(outside)
    _loosen(root)

    assert tighten(root) == 5  # root, s3, blobs, abc, stack.json
    _assert_private(root)
    assert _mode(outside) == 0o644  # the link's target is not ours to change
    assert tighten(root) == 0


# --------------------------------------------------------------------------- devstack's writers


def test_the_dynamodb_journal_and_snapshot_are_private(tmp_path: Path) -> None:
    from devstack.persistence import DynamoJournal

    journal = DynamoJournal(tmp_path / "dynamodb")
    journal.record("PutItem", b'{"Item": {}}')
    _assert_private(tmp_path / "dynamodb")
    journal.checkpoint({"t": [{"pk": {"S": "p"}}]})
    journal.record("PutItem", b'{"Item": {}}')
    journal.close()
    assert {p.name for p in (tmp_path / "dynamodb").iterdir()} == {"journal.jsonl", "snapshot.json"}
    _assert_private(tmp_path / "dynamodb")


def test_the_s3_mirror_is_private(tmp_path: Path) -> None:
    from devstack.persistence import S3Mirror

    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="tc-bucket")
        s3.put_object(Bucket="tc-bucket", Key="acct/prospects.csv", Body=b"Ada,ada@example.com")
        mirror = S3Mirror(tmp_path / "s3")
        mirror.write_through(s3, "tc-bucket", "acct/prospects.csv")  # a blob and the index log
        _assert_private(tmp_path / "s3")
        s3.put_object(Bucket="tc-bucket", Key="acct/other.csv", Body=b"x")
        mirror.sync(s3, ["tc-bucket"])  # the whole index
    assert (tmp_path / "s3" / "index.json").exists()
    _assert_private(tmp_path / "s3")


def test_the_issuer_keys_are_private_and_older_ones_are_fixed(tmp_path: Path) -> None:
    from devstack.issuer import LocalIssuer

    LocalIssuer(tmp_path / "issuer")
    _assert_private(tmp_path / "issuer")
    _loosen(tmp_path / "issuer")
    issuer = LocalIssuer(tmp_path / "issuer")  # the next start
    _assert_private(tmp_path / "issuer")
    assert issuer.issue("sub-1")  # the same key, still usable


def test_the_cdn_keys_are_private_and_older_ones_are_fixed(tmp_path: Path) -> None:
    from devstack.cdnkeys import CdnKeys

    first = CdnKeys(tmp_path / "cdn")
    _assert_private(tmp_path / "cdn")
    _loosen(tmp_path / "cdn")
    again = CdnKeys(tmp_path / "cdn")
    _assert_private(tmp_path / "cdn")
    assert again.private_key_pem == first.private_key_pem


def test_the_stack_makes_its_whole_state_directory_private_on_start(tmp_path: Path) -> None:
    from devstack.stack import LocalStack

    # GIVEN state an older version left readable by everyone
    state = tmp_path / ".tailorcast"
    (state / "dynamodb").mkdir(parents=True)
    (state / "dynamodb" / "snapshot.json").write_text("{}")
    (state / "athena" / "data").mkdir(parents=True)
    (state / "athena" / "manifest.json").write_text("{}")
    _loosen(state)

    # WHEN the stack is made (before anything starts)
    stack = LocalStack(state)

    # THEN everything in it, and all it made (keys included), is the owner's only
    _assert_private(state)
    for made in (
        "cdn/cookie-signing-key.pem",
        "kms/sealing-key.json",
    ):
        assert (state / made).exists(), made
    assert stack.sealing_key.path == state / "kms" / "sealing-key.json"


# --------------------------------------------------------------------------- the local sealing key


def test_the_local_sealing_key_opens_what_it_sealed_after_moto_restarts(tmp_path: Path) -> None:
    from moto.moto_api._internal.models import moto_api_backend

    from chalicelib.adapters.secrets import KmsSecretSealer
    from devstack.sealing import SealingKey

    context = {"purpose": "webhook-signing-secret", "account_id": "acct_a", "endpoint_id": "whk_1"}
    with mock_aws():
        kms = boto3.client("kms", region_name="us-east-1")
        arn = SealingKey(tmp_path / "kms").install(kms, "alias/sealing", "123456789012", "us-east-1")
        sealed = KmsSecretSealer(kms, "alias/sealing").seal("whsec_abc", context)
        assert arn.endswith(
            ":key/" + json.loads((tmp_path / "kms" / "sealing-key.json").read_text())["key_id"]
        )
    moto_api_backend.reset()  # what stopping the stack does to moto's state

    with mock_aws():  # the next start: a new moto KMS, the same key file
        kms = boto3.client("kms", region_name="us-east-1")
        with pytest.raises(kms.exceptions.NotFoundException):
            kms.describe_key(KeyId="alias/sealing")
        SealingKey(tmp_path / "kms").install(kms, "alias/sealing", "123456789012", "us-east-1")
        assert KmsSecretSealer(kms, "alias/sealing").open(sealed, context) == "whsec_abc"
        # installing twice (a restart in the same process) keeps one key under the alias
        SealingKey(tmp_path / "kms").install(kms, "alias/sealing", "123456789012", "us-east-1")
        assert len(kms.list_keys()["Keys"]) == 1
    _assert_private(tmp_path / "kms")
