"""The CLI's sign-in, kept like ``gh auth login`` keeps it: the tokens in a file only you can read.

``tailorcast login`` stores the access, id and refresh tokens in ``<state dir>/credentials.json``
(0600, its folder 0700). Every command that talks to the API then uses the stored access token,
refreshing it with the refresh token when it has expired or the API answers 401, so a session
outlives the access token's hour; ``tailorcast logout`` revokes every token (Cognito's
GlobalSignOut) and deletes the file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from chalicelib.api.auth import AuthMessage, TokensOut
from tailorcast_cli.client import ApiError, TailorcastClient

#: Refresh this long before the access token's expiry (clock skew, a slow request).
EXPIRY_MARGIN_SECONDS = 60


class NotLoggedInError(RuntimeError):
    """No stored sign-in, or one that can no longer be refreshed."""


@dataclass
class Credentials:
    api: str
    email: str
    access_token: str
    id_token: str
    refresh_token: str
    expires_at: float

    @classmethod
    def of(cls, api: str, email: str, tokens: TokensOut, refresh_token: str | None = None) -> Credentials:
        refresh = tokens.refresh_token or refresh_token
        if not refresh:
            raise ValueError("a sign-in without a refresh token")
        return cls(api, email, tokens.access_token, tokens.id_token, refresh, time.time() + tokens.expires_in)


def credentials_path(state_dir: Path) -> Path:
    return state_dir / "credentials.json"


def save(state_dir: Path, credentials: Credentials) -> Path:
    from devstack.private import write_private

    path = credentials_path(state_dir)
    write_private(path, json.dumps(asdict(credentials), indent=2))
    return path


def load(state_dir: Path) -> Credentials | None:
    path = credentials_path(state_dir)
    if not path.exists():
        return None
    try:
        return Credentials(**json.loads(path.read_text()))
    except (ValueError, TypeError):
        return None


def forget(state_dir: Path) -> bool:
    path = credentials_path(state_dir)
    existed = path.exists()
    path.unlink(missing_ok=True)
    return existed


class AuthApi:
    """The API's public ``/auth`` routes."""

    def __init__(self, api_url: str, timeout: float = 30.0) -> None:
        self.api_url = api_url
        self._timeout = timeout

    def _post(self, path: str, body: dict[str, Any], token: str | None = None) -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = httpx.post(self.api_url + path, json=body, headers=headers, timeout=self._timeout)
        data = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, data)
        return data

    def message(self, path: str, body: dict[str, Any]) -> AuthMessage:
        return AuthMessage.model_validate(self._post(path, body))

    def login(self, email: str, password: str) -> TokensOut:
        return TokensOut.model_validate(self._post("/auth/login", {"email": email, "password": password}))

    def refresh(self, refresh_token: str) -> TokensOut:
        return TokensOut.model_validate(self._post("/auth/refresh", {"refresh_token": refresh_token}))

    def logout(self, access_token: str) -> None:
        self._post("/auth/logout", {}, token=access_token)

    def change_password(self, access_token: str, old: str, new: str) -> None:
        self._post("/me/password", {"old_password": old, "new_password": new}, token=access_token)


def refreshed(state_dir: Path, credentials: Credentials) -> Credentials:
    """New access and id tokens from the stored refresh token, stored.

    Raises
    ------
    NotLoggedInError
        The refresh token was revoked (a log-out elsewhere) or has expired.
    """
    try:
        tokens = AuthApi(credentials.api).refresh(credentials.refresh_token)
    except ApiError as exc:
        if exc.status in (400, 401, 403, 422):
            raise NotLoggedInError("your session has ended: log in again with `tailorcast login`") from exc
        raise
    renewed = Credentials.of(credentials.api, credentials.email, tokens, credentials.refresh_token)
    save(state_dir, renewed)
    return renewed


def stored_client(state_dir: Path, api_url: str) -> TailorcastClient:
    """A client of the API signed in with the stored credentials, refreshing them as needed.

    Raises
    ------
    NotLoggedInError
        Nothing is stored (never logged in, or logged out).
    """
    credentials = load(state_dir)
    if credentials is None:
        raise NotLoggedInError("you are not logged in: run `tailorcast login` (or pass --token)")
    if credentials.api != api_url:
        credentials.api = api_url  # the stack restarted on other ports: same pool, same tokens
    if credentials.expires_at - EXPIRY_MARGIN_SECONDS <= time.time():
        credentials = refreshed(state_dir, credentials)
    current = credentials

    def refresh() -> str | None:
        nonlocal current
        current = refreshed(state_dir, current)
        return current.access_token

    return TailorcastClient(api_url, credentials.access_token, refresh=refresh)
