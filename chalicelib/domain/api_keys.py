"""API keys for programmatic access, an Agency entitlement (``PlanSpec.api_keys``).

A key is ``tc_live_`` and 43 URL-safe characters (256 random bits), shown once when created; only
its SHA-256 is stored, so a leaked table holds no usable key. It authenticates as the user who
created it (``Authorization: Bearer tc_live_…``), with that user's account scope. On a plan without
API keys (after a downgrade) a key stops working with a 402 that says which plan brings them
back; creating one there is refused the same way. The last-used time is written at most once a
minute per key (:data:`TOUCH_EVERY`), never on every request.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.domain.errors import AuthenticationError, NotFoundError, PlanFeatureError
from chalicelib.domain.models import Account, ApiKey, User, new_id, utcnow
from chalicelib.domain.plans import cheapest_with, spec
from chalicelib.domain.ports import AccountRepository, ApiKeyRepository

KEY_PREFIX = "tc_live_"
#: How many characters of a key are kept in clear to tell keys apart in a list.
SHOWN_PREFIX_LENGTH = len(KEY_PREFIX) + 6
#: The last-used time is precise to this much (a write at most this often per key).
TOUCH_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class CreatedKey:
    key: ApiKey
    secret: str  # shown once; never stored


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def key_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_plan_has_keys(account: Account) -> None:
    """Raises PlanFeatureError (402) unless the account's plan includes API keys."""
    if spec(account.plan).api_keys:
        return
    unlock = cheapest_with("api_keys")
    title = unlock.title if unlock else "a higher plan"
    raise PlanFeatureError(
        f"API keys are part of the {title} plan; this account is on {spec(account.plan).title}: "
        f"upgrade to {title} to use them",
        quota="api_keys",
        limit=0,
        unlock=unlock.plan.value if unlock else None,
    )


def create_api_key(keys: ApiKeyRepository, account: Account, user_id: str, name: str) -> CreatedKey:
    """Make a key for ``user_id`` of ``account``.

    Raises
    ------
    PlanFeatureError
        (402) The account's plan has no API keys.
    """
    ensure_plan_has_keys(account)
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        account_id=account.account_id,
        key_id=new_id("key"),
        user_id=user_id,
        name=name,
        prefix=secret[:SHOWN_PREFIX_LENGTH],
    )
    return CreatedKey(keys.add(key, key_hash(secret)), secret)


def authenticate_key(
    secret: str,
    keys: ApiKeyRepository,
    accounts: AccountRepository,
    now: datetime | None = None,
    on_account: Callable[[str], None] | None = None,
) -> tuple[ApiKey, User, Account]:
    """The key, its creator and their account, for a request that sent ``secret``.

    Raises
    ------
    AuthenticationError
        No such key (unknown or revoked), or its creator is gone.
    PlanFeatureError
        (402) The account's plan no longer includes API keys (a downgrade): the key is kept, and
        works again after an upgrade.
    """
    digest = key_hash(secret)
    try:
        key = keys.by_hash(digest)
        if on_account is not None:
            on_account(key.account_id)
        user, account = accounts.user_and_account(key.account_id, key.user_id)
    except NotFoundError as exc:
        raise AuthenticationError("the API key is not valid (revoked, or never issued)") from exc
    ensure_plan_has_keys(account)
    now = now or utcnow()
    if key.last_used_at is None or key.last_used_at < now - TOUCH_EVERY:
        keys.touch(digest, now, unless_since=now - TOUCH_EVERY)
    return key, user, account
