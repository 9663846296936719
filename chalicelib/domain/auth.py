"""Who is calling: the authenticated principal, resolved from a verified token subject."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.domain.errors import AuthenticationError, NotFoundError
from chalicelib.domain.models import Role
from chalicelib.domain.ports import AccountRepository, TokenVerifier


@dataclass(frozen=True)
class Principal:
    account_id: str
    user_id: str
    email: str
    role: Role


def authenticate(
    authorization: str | None, verifier: TokenVerifier, accounts: AccountRepository
) -> Principal:
    """Turn an ``Authorization`` header into the caller's principal.

    Raises
    ------
    AuthenticationError
        Missing or non-Bearer header, a token that does not verify, or a subject with no account.
    """
    if not authorization:
        raise AuthenticationError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    subject = verifier.subject(token.strip())
    try:
        user = accounts.user_by_subject(subject)
    except NotFoundError as exc:
        raise AuthenticationError("the token's user has no Tailorcast account") from exc
    return Principal(account_id=user.account_id, user_id=user.user_id, email=str(user.email), role=user.role)
