"""CloudFront signed cookies (``adapters/cdn.py``) and the watch secret they are signed with."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from moto import mock_aws

from chalicelib.adapters.cdn import CookieSigner, SetCookie, WatchSecrets
from chalicelib.domain.errors import StorageError

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
PREFIX = "acct/camp/videos/p-1/r-1/"


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


def _cf_decode(value: str) -> bytes:
    return base64.b64decode(value.replace("-", "+").replace("_", "=").replace("~", "/"))


def _by_name(cookies: list[SetCookie]) -> dict[str, SetCookie]:
    return {c.name: c for c in cookies}


def test_the_three_cookies_carry_cloudfronts_custom_policy_signed_with_the_key(
    key: rsa.RSAPrivateKey,
) -> None:
    # GIVEN a signer for key pair K1
    signer = CookieSigner("K1", _pem(key))
    expires = NOW + timedelta(hours=6)

    # WHEN it signs the prospect's render folder on the front door
    cookies = _by_name(signer.signed_cookies("https://d111.cloudfront.net", PREFIX, expires, now=NOW))

    # THEN the policy is exactly CloudFront's compact JSON for that folder, and the signature verifies
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    policy = _cf_decode(cookies["CloudFront-Policy"].value)
    assert policy == (
        b'{"Statement":[{"Resource":"https://d111.cloudfront.net/acct/camp/videos/p-1/r-1/*",'
        b'"Condition":{"DateLessThan":{"AWS:EpochTime":' + str(int(expires.timestamp())).encode() + b"}}}]}"
    )
    signature = _cf_decode(cookies["CloudFront-Signature"].value)
    key.public_key().verify(signature, policy, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303 - CloudFront's algorithm
    assert cookies["CloudFront-Key-Pair-Id"].value == "K1"
    for cookie in cookies.values():
        # CloudFront's alphabet: no '+', '=' or '/' (they would need quoting in a cookie)
        assert not set("+=/") & set(cookie.value)


def test_cookies_are_scoped_to_the_folder_and_secure_only_on_https(key: rsa.RSAPrivateKey) -> None:
    signer = CookieSigner("K1", _pem(key))
    expires = NOW + timedelta(seconds=3600)

    https = signer.signed_cookies("https://watch.example.com/", PREFIX, expires, now=NOW)
    local = signer.signed_cookies("http://127.0.0.1:8080", PREFIX, expires, now=NOW)

    for cookie in https:
        assert str(cookie) == (
            f"{cookie.name}={cookie.value}; Path=/{PREFIX}; Max-Age=3600; Secure; HttpOnly; SameSite=Lax"
        )
    for cookie in local:
        assert cookie.header_value() == (
            f"{cookie.name}={cookie.value}; Path=/{PREFIX}; Max-Age=3600; HttpOnly; SameSite=Lax"
        )
    policy = json.loads(_cf_decode(_by_name(local)["CloudFront-Policy"].value))
    assert policy["Statement"][0]["Resource"] == f"http://127.0.0.1:8080/{PREFIX}*"


def test_max_age_counts_down_to_expiry_and_never_goes_negative(key: rsa.RSAPrivateKey) -> None:
    signer = CookieSigner("K1", _pem(key))
    soon = signer.signed_cookies("http://x", PREFIX, NOW + timedelta(seconds=90), now=NOW)
    gone = signer.signed_cookies("http://x", PREFIX, NOW - timedelta(seconds=5), now=NOW)
    assert {c.max_age for c in soon} == {90}
    assert {c.max_age for c in gone} == {0}


def test_naive_expiry_is_utc(key: rsa.RSAPrivateKey) -> None:
    signer = CookieSigner("K1", _pem(key))
    naive = (NOW + timedelta(hours=1)).replace(tzinfo=None)
    cookies = _by_name(signer.signed_cookies("http://x", PREFIX, naive, now=NOW))
    policy = json.loads(_cf_decode(cookies["CloudFront-Policy"].value))
    assert policy["Statement"][0]["Condition"]["DateLessThan"]["AWS:EpochTime"] == int(NOW.timestamp()) + 3600
    assert cookies["CloudFront-Policy"].max_age == 3600


@pytest.mark.parametrize("prefix", ["acct/camp/videos/p-1/r-1", "/acct/camp/videos/p-1/r-1/"])
def test_a_prefix_must_be_a_folder(key: rsa.RSAPrivateKey, prefix: str) -> None:
    with pytest.raises(ValueError, match="path_prefix"):
        CookieSigner("K1", _pem(key)).signed_cookies("http://x", prefix, NOW + timedelta(hours=1), now=NOW)


def test_a_key_that_is_not_rsa_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )
    with pytest.raises(StorageError, match="not an RSA key"):
        CookieSigner("K1", ec_pem)
    with pytest.raises(StorageError, match="not a readable PEM"):
        CookieSigner("K1", "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")


# --------------------------------------------------------------------------- the watch secret


def _secret(pem: str, session: str = "c2Vzc2lvbi1rZXk=") -> str:
    return json.dumps({"cookie_private_key": pem, "session_key": session})


@pytest.mark.functional  # moto's Secrets Manager
def test_the_watch_secret_is_read_once_from_secrets_manager(key: rsa.RSAPrivateKey) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="tailorcast-test-watch", SecretString=_secret(_pem(key)))
        calls: list[Any] = []
        client.meta.events.register(
            "before-call.secrets-manager.GetSecretValue", lambda **kw: calls.append(1)
        )
        secrets = WatchSecrets(client, "tailorcast-test-watch")

        assert secrets.cookie_private_key == _pem(key)
        assert secrets.session_key == "c2Vzc2lvbi1rZXk="
        assert secrets.cookie_private_key == _pem(key)
        assert len(calls) == 1
        # and what it holds signs cookies
        CookieSigner("K1", secrets.cookie_private_key)


@pytest.mark.functional  # moto's Secrets Manager
def test_a_missing_watch_secret_is_a_clear_storage_error() -> None:
    with mock_aws():
        secrets = WatchSecrets(boto3.client("secretsmanager", region_name="us-east-1"), "nope")
        with pytest.raises(StorageError, match="'nope' does not exist"):
            _ = secrets.session_key


@pytest.mark.functional  # moto's Secrets Manager
@pytest.mark.parametrize(
    "value",
    [
        "not json",
        "[]",
        json.dumps({"session_key": "k"}),
        json.dumps({"cookie_private_key": "not a pem", "session_key": "k"}),
        json.dumps({"cookie_private_key": "-----BEGIN PRIVATE KEY-----", "session_key": ""}),
        json.dumps({"cookie_private_key": "-----BEGIN PRIVATE KEY-----", "session_key": 7}),
    ],
)
def test_a_malformed_watch_secret_is_a_clear_storage_error(value: str) -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="w", SecretString=value)
        with pytest.raises(StorageError, match="'w' is malformed"):
            _ = WatchSecrets(client, "w").cookie_private_key


@pytest.mark.functional  # moto's Secrets Manager
def test_a_binary_watch_secret_is_malformed() -> None:
    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="w", SecretBinary=b"\x00\x01")
        with pytest.raises(StorageError, match="malformed"):
            _ = WatchSecrets(client, "w").session_key


def test_secrets_manager_failing_is_a_storage_error() -> None:
    client = boto3.client("secretsmanager", region_name="us-east-1")
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", "AccessDeniedException", http_status_code=400)
        with pytest.raises(StorageError, match="could not be read"):
            _ = WatchSecrets(client, "w").session_key


@pytest.mark.functional  # moto's Secrets Manager
def test_dependencies_wire_the_signer_from_the_watch_secret(key: rsa.RSAPrivateKey, monkeypatch: Any) -> None:
    from chalicelib import dependencies

    monkeypatch.setenv("TAILORCAST_WATCH_SECRET_NAME", "tailorcast-test-watch")
    monkeypatch.setenv("TAILORCAST_MEDIA_KEY_PAIR_ID", "KTEST")
    with mock_aws():
        dependencies.reset()
        try:
            boto3.client("secretsmanager").create_secret(
                Name="tailorcast-test-watch", SecretString=_secret(_pem(key), "s3cr3t")
            )
            signer = dependencies.get_cookie_signer()
            assert signer is dependencies.get_cookie_signer()
            assert signer.key_pair_id == "KTEST"
            assert dependencies.get_watch_secrets().session_key == "s3cr3t"
        finally:
            dependencies.reset()


# --------------------------------------------------------------------------- placeholder or bad keys


def _ec_pem() -> str:
    from cryptography.hazmat.primitives.asymmetric import ec

    return (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode()
    )


def _cdk_placeholder_secret() -> str:
    """The watch secret as CDK creates it: the placeholder key and a generated session key."""
    from chalicelib.adapters.cdn import COOKIE_KEY_PLACEHOLDER

    return _secret(COOKIE_KEY_PLACEHOLDER, "A" * 64)


@pytest.mark.functional  # moto's Secrets Manager
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (_cdk_placeholder_secret(), "placeholder"),
        (_secret("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n"), "not a readable"),
        (_secret(_ec_pem()), "not an RSA key"),
    ],
    ids=["cdk-placeholder", "not-a-key", "not-rsa"],
)
def test_the_cloud_refuses_a_placeholder_or_unusable_signing_key(
    value: str, problem: str, caplog: pytest.LogCaptureFixture
) -> None:
    from chalicelib.domain.errors import ConfigurationError

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="w", SecretString=value)
        secrets = WatchSecrets(client, "w", strict=True)

        # The whole secret is refused at first use, the session key too, with a 503-class error
        # that tells the viewer nothing of the key and tells the operator (the log) what is wrong.
        with pytest.raises(ConfigurationError, match="signing key is not configured") as caught:
            _ = secrets.session_key
        with pytest.raises(ConfigurationError):
            _ = secrets.cookie_private_key

    assert isinstance(caught.value, StorageError) and caught.value.code == "configuration_error"
    logged = [r for r in caplog.records if r.levelname == "ERROR" and "unusable" in r.getMessage()]
    assert logged and problem in logged[0].__dict__["problem"] and logged[0].__dict__["secret"] == "w"


@pytest.mark.functional  # moto's Secrets Manager
def test_the_local_stage_keeps_the_session_key_but_never_signs_with_a_placeholder(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from chalicelib.domain.errors import ConfigurationError

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="w", SecretString=_cdk_placeholder_secret())
        secrets = WatchSecrets(client, "w", strict=False)
        assert secrets.session_key == "A" * 64
        with pytest.raises(ConfigurationError):
            _ = secrets.cookie_private_key
    assert any(r.levelname == "WARNING" and "unusable" in r.getMessage() for r in caplog.records)


@pytest.mark.functional  # moto's Secrets Manager
def test_a_fixed_secret_is_used_without_a_redeploy(key: rsa.RSAPrivateKey) -> None:
    from chalicelib.domain.errors import ConfigurationError

    with mock_aws():
        client = boto3.client("secretsmanager", region_name="us-east-1")
        client.create_secret(Name="w", SecretString=_cdk_placeholder_secret())
        secrets = WatchSecrets(client, "w")
        with pytest.raises(ConfigurationError):
            _ = secrets.session_key
        client.put_secret_value(SecretId="w", SecretString=_secret(_pem(key)))
        assert secrets.cookie_private_key == _pem(key)


@pytest.mark.parametrize(("stage", "strict"), [("local", False), ("test", True), ("prod", True)])
def test_only_the_local_stage_is_lenient(stage: str, strict: bool, monkeypatch: Any) -> None:
    from chalicelib import dependencies

    monkeypatch.setenv("TAILORCAST_STAGE", stage)
    dependencies.reset()
    try:
        assert dependencies.get_watch_secrets()._strict is strict
    finally:
        monkeypatch.undo()
        dependencies.reset()
