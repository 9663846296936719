"""The local token issuer: an RSA key in the state directory, tokens shaped like Cognito's.

The app verifies these exactly as it verifies Cognito access tokens (``adapters/auth.py``);
only the JWKS location differs (a file here, Cognito's URL in the cloud).
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devstack.private import private_dir, tighten, write_private

ISSUER = "http://127.0.0.1/tailorcast-local-issuer"
CLIENT_ID = "tailorcast-local-client"
DEFAULT_TTL_SECONDS = 12 * 3600


class LocalIssuer:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.private_path = directory / "signing-key.pem"
        self.jwks_path = directory / "jwks.json"
        self._ensure_key()
        self._key = serialization.load_pem_private_key(self.private_path.read_bytes(), password=None)
        self.kid = json.loads(self.jwks_path.read_text())["keys"][0]["kid"]

    def _ensure_key(self) -> None:
        private_dir(self.directory)
        if self.private_path.exists() and self.jwks_path.exists():
            tighten(self.directory)  # written world-readable by an older version
            return
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_private(self.private_path, pem)
        public_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        public_jwk.update({"kid": uuid.uuid4().hex, "alg": "RS256", "use": "sig"})
        write_private(self.jwks_path, json.dumps({"keys": [public_jwk]}))

    def issue(self, subject: str, ttl_seconds: int = DEFAULT_TTL_SECONDS, now: float | None = None) -> str:
        """An access token for ``subject`` (claims as Cognito puts them in access tokens)."""
        issued = int(now if now is not None else time.time())
        claims = {
            "sub": subject,
            "iss": ISSUER,
            "client_id": CLIENT_ID,
            "token_use": "access",
            "scope": "aws.cognito.signin.user.admin",
            "iat": issued,
            "exp": issued + ttl_seconds,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.kid})  # type: ignore[arg-type]

    def settings_env(self) -> dict[str, str]:
        return {
            "TAILORCAST_AUTH_MODE": "local",
            "TAILORCAST_LOCAL_JWKS_PATH": str(self.jwks_path),
            "TAILORCAST_JWT_ISSUER": ISSUER,
            "TAILORCAST_JWT_AUDIENCE": CLIENT_ID,
        }
