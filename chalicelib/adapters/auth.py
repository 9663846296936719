"""Bearer JWT verification: Cognito access tokens in the cloud, the local issuer's offline.

Both issue RS256 tokens shaped like Cognito *access* tokens (``token_use=access``, ``client_id``),
so one verifier serves both worlds; only where the JWKS comes from differs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jwt

from chalicelib.domain.errors import AuthenticationError

logger = logging.getLogger(__name__)

LEEWAY_SECONDS = 30


class KeySource:
    """Finds the public key for a token's ``kid``: a JWKS URL (Cognito) or a JWKS file (local)."""

    def __init__(self, jwks_url: str | None = None, jwks_path: str | None = None) -> None:
        if not (jwks_url or jwks_path):
            raise ValueError("a JWKS URL or a JWKS file is required to verify tokens")
        self._client = jwt.PyJWKClient(jwks_url, cache_keys=True) if jwks_url else None
        self._path = Path(jwks_path) if jwks_path else None

    def key_for(self, token: str) -> jwt.PyJWK:
        if self._client is not None:
            return self._client.get_signing_key_from_jwt(token)
        assert self._path is not None
        kid = jwt.get_unverified_header(token).get("kid")
        # Re-read each time: the file is tiny and a restarted local issuer may rotate it.
        for key in jwt.PyJWKSet.from_json(self._path.read_text()).keys:
            if key.key_id == kid:
                return key
        raise jwt.InvalidTokenError("unknown key id")


class JwtVerifier:
    """Verifies signature, expiry, issuer and client of an access token."""

    def __init__(self, keys: KeySource, issuer: str, client_id: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._client_id = client_id

    def subject(self, token: str) -> str:
        try:
            key = self._keys.key_for(token)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=["RS256"],
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "sub", "iss"], "verify_aud": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("the token has expired; sign in again") from exc
        except (jwt.PyJWTError, ValueError, OSError) as exc:
            logger.info("token rejected", extra={"reason": type(exc).__name__})
            raise AuthenticationError("the token is not valid") from exc
        # Cognito access tokens carry the app client in `client_id`, not `aud`.
        if claims.get("token_use") != "access" or claims.get("client_id") != self._client_id:
            raise AuthenticationError("the token is not an access token for this API")
        return str(claims["sub"])
