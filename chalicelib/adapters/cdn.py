"""CloudFront signed cookies for the watch page, and the secret they are signed with.

The watch page opens the prospect's media folders to the viewer's browser with CloudFront's three
signed cookies (custom policy), one set per folder, each scoped by its cookie ``Path`` so a request
carries exactly one set. The policy's ``Resource`` ends in ``*``, so every playlist and segment
under the folder is covered without signing each URL. The local gateway (``devstack/gateway.py``)
checks the same cookies the way CloudFront does.
"""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from botocore.signers import CloudFrontSigner
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from chalicelib.adapters.aws_errors import translate_aws_errors
from chalicelib.domain.errors import ConfigurationError, StorageError

logger = logging.getLogger(__name__)

POLICY_COOKIE = "CloudFront-Policy"
SIGNATURE_COOKIE = "CloudFront-Signature"
KEY_PAIR_ID_COOKIE = "CloudFront-Key-Pair-Id"
#: What CDK stores as the watch secret's cookie signing key until the operator puts the real one
#: there (infrastructure/cdk/README.md § Watch secret); a key starting so is never used.
COOKIE_KEY_PLACEHOLDER = "REPLACE-ME: the CloudFront key pair's private key (PEM), see the CDK README"
_PLACEHOLDER_MARK = "REPLACE-ME"
#: What a viewer is told while the key is unusable (the details go to the log, for the operator).
_UNCONFIGURED = "the watch page is unavailable: its media signing key is not configured yet"
#: The custom header the front door adds to every request it sends the API (its value is the
#: ``origin_verify_secret`` setting): what tells a request through CloudFront from a direct one.
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"


@dataclass(frozen=True)
class SetCookie:
    """One cookie as a ``Set-Cookie`` response header sets it (``str()`` is the header value)."""

    name: str
    value: str
    path: str
    max_age: int
    secure: bool
    http_only: bool = True
    same_site: str = "Lax"

    def header_value(self) -> str:
        parts = [f"{self.name}={self.value}", f"Path={self.path}", f"Max-Age={self.max_age}"]
        if self.secure:
            parts.append("Secure")
        if self.http_only:
            parts.append("HttpOnly")
        parts.append(f"SameSite={self.same_site}")
        return "; ".join(parts)

    def __str__(self) -> str:
        return self.header_value()


@dataclass(frozen=True)
class _Secret:
    cookie_private_key: str = field(repr=False)  # never in a log line or a traceback
    session_key: str = field(repr=False)
    cookie_key_problem: str | None = None  # why the cookie key is unusable (local stage only)


def cookie_key_problem(pem: str) -> str | None:
    """Why ``pem`` cannot sign CloudFront cookies (CDK's placeholder, not an unencrypted RSA private
    key in PEM), or ``None`` if it can."""
    if pem.lstrip().startswith(_PLACEHOLDER_MARK):
        return "it is still the placeholder CDK stored; put the CloudFront key pair's private key there"
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        return "it is not a readable, unencrypted PEM private key"
    except Exception:  # an unsupported algorithm: cryptography raises its own errors
        return "it is not a private key this service can read"
    if not isinstance(key, rsa.RSAPrivateKey):
        return "it is not an RSA key (CloudFront requires RSA)"
    return None


class WatchSecrets:
    """The watch secret (Secrets Manager): the cookie signing key and the session HMAC key.

    Read once, on first use, and kept for the life of the container (a failed read is tried again
    on the next use, so fixing the secret needs no redeploy).

    Parameters
    ----------
    client, secret_name
        A boto3 ``secretsmanager`` client, and the secret's name.
    strict
        Refuse the whole secret (session key included) while its cookie key is CDK's placeholder
        or not a valid RSA private key: every stage but ``local``, so a misconfigured deployment
        fails loudly at first use instead of serving pages whose media cannot play. Not strict,
        only the cookie key is refused.
    """

    def __init__(self, client: Any, secret_name: str, strict: bool = True) -> None:
        self._client = client
        self._name = secret_name
        self._strict = strict
        self._lock = threading.Lock()
        self._secret: _Secret | None = None

    @property
    def cookie_private_key(self) -> str:
        """The PEM of the RSA key whose public half is the CloudFront public key ``media_key_pair_id``.

        Raises
        ------
        ConfigurationError
            The key is CDK's placeholder or not a valid RSA private key (logged).
        StorageError
            The secret is missing, unreadable or malformed.
        """
        secret = self._load()
        if secret.cookie_key_problem is not None:
            raise ConfigurationError(_UNCONFIGURED)
        return secret.cookie_private_key

    @property
    def session_key(self) -> str:
        """The key the watch page's session tokens are signed with (HMAC-SHA256).

        Raises
        ------
        ConfigurationError
            Strict, and the cookie key is CDK's placeholder or not a valid RSA private key.
        StorageError
            The secret is missing, unreadable or malformed.
        """
        return self._load().session_key

    def _load(self) -> _Secret:
        with self._lock:
            if self._secret is None:
                self._secret = self._read()
            return self._secret

    def _read(self) -> _Secret:
        with translate_aws_errors(
            f"secretsmanager.get_secret_value {self._name}",
            f"the watch secret {self._name!r} could not be read",
            not_found=lambda _: StorageError(f"the watch secret {self._name!r} does not exist"),
        ):
            response = self._client.get_secret_value(SecretId=self._name)
        malformed = StorageError(
            f"the watch secret {self._name!r} is malformed: expected a JSON object with "
            "'cookie_private_key' (PEM) and 'session_key'"
        )
        text = response.get("SecretString")
        if not isinstance(text, str):
            raise malformed
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise malformed from exc
        if not isinstance(data, dict):
            raise malformed
        key, session = data.get("cookie_private_key"), data.get("session_key")
        if not isinstance(key, str) or not isinstance(session, str) or not session:
            raise malformed
        if not key.lstrip().startswith(_PLACEHOLDER_MARK) and "PRIVATE KEY" not in key:
            raise malformed
        problem = cookie_key_problem(key)
        if problem is not None:
            where = {"secret": self._name, "problem": problem}
            if self._strict:
                logger.error("the watch secret's cookie signing key is unusable", extra=where)
                raise ConfigurationError(_UNCONFIGURED)
            logger.warning(
                "the watch secret's cookie signing key is unusable (media cookies fail)", extra=where
            )
        return _Secret(cookie_private_key=key, session_key=session, cookie_key_problem=problem)


class CookieSigner:
    """Signs CloudFront custom-policy cookies with the key of CloudFront public key ``key_pair_id``.

    Raises
    ------
    ConfigurationError
        The PEM is not an unencrypted RSA private key (a ``StorageError``: 503).
    """

    def __init__(self, key_pair_id: str, private_key_pem: str) -> None:
        try:
            key = serialization.load_pem_private_key(private_key_pem.encode(), password=None)
        except (ValueError, TypeError) as exc:
            raise ConfigurationError("the cookie signing key is not a readable PEM private key") from exc
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ConfigurationError("the cookie signing key is not an RSA key (CloudFront requires RSA)")
        self._key = key
        self.key_pair_id = key_pair_id
        self._signer = CloudFrontSigner(key_pair_id, self._sign)

    def _sign(self, message: bytes) -> bytes:
        # CloudFront verifies RSA-SHA1 (PKCS#1 v1.5) and nothing else.
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA1())  # noqa: S303

    def policy(self, resource: str, expires_at: datetime) -> str:
        """The custom policy for ``resource`` (CloudFront wildcards allowed), as CloudFront reads it."""
        return self._signer.build_policy(resource, expires_at)

    def signed_cookies(
        self, base_url: str, path_prefix: str, expires_at: datetime, now: datetime | None = None
    ) -> list[SetCookie]:
        """The three CloudFront cookies that open every object under ``path_prefix``.

        Parameters
        ----------
        base_url
            The front door's URL (CloudFront's domain; the gateway locally), e.g. ``https://d1.cloudfront.net``.
        path_prefix
            A media folder, no leading ``/``, ending with ``/`` (``acct/camp/videos/p/r/``).
        expires_at
            When the cookies stop working (the policy's ``DateLessThan``, and the cookies' ``Max-Age``).
        now
            The current time (tests).

        Raises
        ------
        ValueError
            ``path_prefix`` does not end with ``/`` (the cookies would open sibling folders too).
        """
        if not path_prefix.endswith("/") or path_prefix.startswith("/"):
            raise ValueError(f"path_prefix must be a folder without a leading '/': {path_prefix!r}")
        origin = base_url.rstrip("/")
        resource = f"{origin}/{path_prefix}*"
        # Only the public API of the botocore signer: the query string of a signed URL carries the
        # very values the cookies carry (CloudFront's url-safe base64 of the policy and signature).
        signed = self._signer.generate_presigned_url(resource, policy=self.policy(resource, expires_at))
        params = {k: v[0] for k, v in parse_qs(urlsplit(signed).query, keep_blank_values=True).items()}
        moment = now or datetime.now(UTC)
        if expires_at.tzinfo is None:
            expires_at = expires_at.replace(tzinfo=UTC)
        max_age = max(0, int((expires_at - moment).total_seconds()))
        split = urlsplit(origin)
        path = f"{split.path}/{path_prefix}"
        secure = split.scheme == "https"
        return [
            SetCookie(name, params[param], path=path, max_age=max_age, secure=secure)
            for name, param in (
                (POLICY_COOKIE, "Policy"),
                (SIGNATURE_COOKIE, "Signature"),
                (KEY_PAIR_ID_COOKIE, "Key-Pair-Id"),
            )
        ]
