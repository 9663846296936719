"""Who is calling: the authenticated principal, from a verified access token or an API key."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chalicelib.domain.api_keys import authenticate_key, is_api_key
from chalicelib.domain.errors import AuthenticationError, NotFoundError
from chalicelib.domain.models import Account, Role
from chalicelib.domain.ports import AccountRepository, ApiKeyRepository, TokenVerifier
from chalicelib.domain.usage import RateStanding


@dataclass(frozen=True)
class Principal:
    account_id: str
    user_id: str
    email: str
    role: Role
    # The account as authentication read it (with the user, in the same round trip): its plan
    # and standing decide the rate limit and what may be created, with no read of their own.
    account: Account | None = field(default=None, compare=False, hash=False)
    api_key_id: str | None = None  # set when the request came with an API key
    rate: RateStanding | None = None  # this request's place in the hourly rate limit (set by the API)


def authenticate(
    authorization: str | None,
    verifier: TokenVerifier,
    accounts: AccountRepository,
    keys: ApiKeyRepository | None = None,
    on_account: Callable[[str], None] | None = None,
) -> Principal:
    """Turn an ``Authorization`` header into the caller's principal.

    ``Bearer <access token>`` (Cognito; locally the same kind of token) or ``Bearer tc_live_…``
    (an API key, when ``keys`` is given). ``on_account`` is told the account id as soon as it is
    known, before the user and account are read: the API starts counting the request against the
    account's rate limit then, beside that read (see ``api._http._count``).

    Raises
    ------
    AuthenticationError
        Missing or non-Bearer header, a token that does not verify, an unknown or revoked key, or
        a subject with no account.
    PlanFeatureError
        (402) An API key on a plan that no longer includes API keys.
    """
    if not authorization:
        raise AuthenticationError("missing Authorization header; send 'Authorization: Bearer <token>'")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    if keys is not None and is_api_key(token):
        key, user, account = authenticate_key(token, keys, accounts, on_account=on_account)
        return Principal(user.account_id, user.user_id, str(user.email), user.role, account, key.key_id)
    subject = verifier.subject(token)
    try:
        account_id, user_id = accounts.login_of(subject)
        if on_account is not None:
            on_account(account_id)
        user, account = accounts.user_and_account(account_id, user_id)
    except NotFoundError as exc:
        raise AuthenticationError("the token's user has no Tailorcast account") from exc
    return Principal(user.account_id, user.user_id, str(user.email), user.role, account)
