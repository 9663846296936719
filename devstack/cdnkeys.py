"""The local stand-in for the CloudFront key pair and the watch secret.

In AWS an operator uploads a public key to CloudFront (its id is ``media_key_pair_id``) and keeps
the private key in the watch secret. Locally an RSA-2048 key pair and a session key are made once
in ``{state_dir}/cdn/`` (so cookies and sessions survive a restart), the same secret is stored in
moto's Secrets Manager for the app to read, and the gateway verifies cookies with the public key.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.adapters.cdn import CookieSigner, SetCookie
from devstack.private import private_dir, tighten, write_private


class CdnKeys:
    """The key pair and session key in ``directory`` (created on first use, then reused)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.private_path = directory / "cookie-signing-key.pem"
        self.public_path = directory / "cookie-signing-key.pub.pem"
        self.session_path = directory / "session-key"
        self._ensure()
        self.private_key_pem = self.private_path.read_text()
        self.public_key_pem = self.public_path.read_bytes()
        self.session_key = self.session_path.read_text().strip()

    def _ensure(self) -> None:
        private_dir(self.directory)
        tighten(self.directory)  # files an older version left world-readable
        if not (self.private_path.exists() and self.public_path.exists()):
            key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            write_private(
                self.private_path,
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.TraditionalOpenSSL,  # CloudFront's documented format
                    serialization.NoEncryption(),
                ),
            )
            write_private(
                self.public_path,
                key.public_key().public_bytes(
                    serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
                ),
            )
        if not self.session_path.exists():
            write_private(self.session_path, base64.b64encode(secrets.token_bytes(32)))

    def public_key(self) -> rsa.RSAPublicKey:
        """The key the gateway verifies cookie signatures with."""
        key = serialization.load_pem_public_key(self.public_key_pem)
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def secret_string(self) -> str:
        """The watch secret's value, as the app reads it (``adapters/cdn.WatchSecrets``)."""
        return json.dumps({"cookie_private_key": self.private_key_pem, "session_key": self.session_key})

    def ensure_secret(self, secretsmanager: Any, name: str) -> str:
        """Create the watch secret ``name`` (or set its value to this key pair's); returns its ARN."""
        try:
            arn: str = secretsmanager.create_secret(Name=name, SecretString=self.secret_string())["ARN"]
        except secretsmanager.exceptions.ResourceExistsException:
            arn = secretsmanager.put_secret_value(SecretId=name, SecretString=self.secret_string())["ARN"]
        return arn

    def signer(self, key_pair_id: str) -> CookieSigner:
        return CookieSigner(key_pair_id, self.private_key_pem)

    def viewer_cookies(
        self, key_pair_id: str, base_url: str, prefixes: list[str], ttl_seconds: int = 3600
    ) -> list[SetCookie]:
        """The cookies the watch page would set for ``prefixes`` (media folders ending in ``/``):
        for tests, the demo and ffmpeg, which play protected media without opening the page."""
        signer = self.signer(key_pair_id)
        expires = datetime.now(UTC) + timedelta(seconds=ttl_seconds)
        return [cookie for prefix in prefixes for cookie in signer.signed_cookies(base_url, prefix, expires)]


def campaign_folder(url: str) -> str:
    """``{account}/{campaign}/`` of a media URL or key: the folder a seller's own tools may read
    (the watch page opens narrower ones: one render and the campaign's base)."""
    parts = urlsplit(url).path.lstrip("/").split("/")
    if len(parts) < 3 or not all(parts[:2]):
        raise ValueError(f"not a campaign's media: {url!r}")
    return f"{parts[0]}/{parts[1]}/"


def ffmpeg_cookies(cookies: list[SetCookie]) -> str:
    """``cookies`` as ffmpeg's HTTP ``-cookies`` option takes them: ``Set-Cookie`` values, one per
    line. ffmpeg sends each only under its ``Path``, as a browser does, and keeps them for the
    segments and variant playlists of an HLS stream."""
    return "\n".join(f"{c.name}={c.value}; path={c.path}" for c in cookies)
