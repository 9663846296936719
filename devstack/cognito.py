"""The Cognito stand-in: moto's cognito-idp, completed where the product needs Cognito's behaviour.

moto 5.2.5 keeps users, passwords, the auth flows, refresh tokens and GlobalSignOut, but its
``ConfirmSignUp`` accepts any code, it sends no email, runs no Lambda trigger, has no
``ResendConfirmationCode``, and ``ForgotPassword`` hands the code back in a response header.
:func:`install` keeps moto's logic (as ``dynamotx`` does for DynamoDB) and adds what is missing:

* ``SignUp`` and ``ResendConfirmationCode`` make a random 6-digit code, valid 24 hours, and email it
  through moto's SES from the stack's sender (a verified SES identity), so it lands in the local
  outbox (``devstack/outbox.py``); nothing returns it to the caller.
* ``ConfirmSignUp`` checks the code as Cognito does (``CodeMismatchException``,
  ``ExpiredCodeException``, ``LimitExceededException`` after repeated wrong codes), then invokes the
  pool's ``LambdaConfig.PostConfirmation`` function through moto's Lambda service with Cognito's
  event (``triggerSource`` ``PostConfirmation_ConfirmSignUp``); a failing trigger is reported as
  ``UserLambdaValidationException``, the user staying confirmed, as in Cognito.
* ``ForgotPassword`` emails a code (no header); ``ConfirmForgotPassword`` checks it and the pool's
  password policy.
* Requests are answered one at a time (moto's Cognito keeps plain dicts), and after each the pools,
  users, tokens and pending codes are written to the state directory, so that a restarted stack
  keeps its users and their sign-ins (:meth:`CognitoStandIn.restore`).

Tokens are signed with moto's own key for the pool; :func:`jwks_document` is its public half, which
the stack serves on a plain local URL (moto's route needs a Cognito ``Host``).
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("devstack.cognito")

CODE_TTL_SECONDS = 24 * 3600
#: Wrong codes in a row before Cognito answers ``LimitExceededException``.
MAX_CODE_FAILURES = 5
SIGN_UP = "sign_up"
RESET = "reset_password"
DEFAULT_SUBJECTS = {SIGN_UP: "Your verification code", RESET: "Your password reset code"}
DEFAULT_MESSAGES = {
    SIGN_UP: "Your verification code is {####}. It expires in 24 hours.",
    RESET: "Your password reset code is {####}. It expires in 24 hours.",
}
#: Cognito's ``ClientMetadata``-free trigger event version.
TRIGGER_VERSION = "1"

_install_lock = threading.Lock()
#: Held while moto answers one cognito-idp request (re-entrant: a handler may call another).
_request_lock = threading.RLock()
_active: CognitoStandIn | None = None


@dataclass
class PendingCode:
    code: str
    expires_at: float
    failures: int = 0


class CognitoStandIn:
    """Codes, emails, triggers and persistence for moto's Cognito (see the module's docstring).

    ``state_path``: where the pools, users and tokens are kept between starts (None: nowhere).
    ``sender``: the ``From`` of the emails (an SES identity the stack has verified).
    """

    def __init__(self, state_path: Path | None, sender: str, clock: Callable[[], float] = time.time) -> None:
        self.state_path = state_path
        self.sender = sender
        self.clock = clock
        self.codes: dict[tuple[str, str, str], PendingCode] = {}

    # ------------------------------------------------------------------ codes

    def issue_code(self, pool: Any, user: Any, purpose: str) -> str:
        """Make a new code for ``user`` (replacing any pending one) and email it; returns the
        message id of the email."""
        code = f"{secrets.randbelow(1_000_000):06d}"
        self.codes[(pool.id, user.id, purpose)] = PendingCode(code, self.clock() + CODE_TTL_SECONDS)
        email = user.attribute_lookup.get("email")
        if not email:
            raise _error("InvalidParameterException", "the user has no email address to send a code to")
        template = pool.extended_config.get("VerificationMessageTemplate") or {}
        if purpose == SIGN_UP:
            subject = template.get("EmailSubject") or DEFAULT_SUBJECTS[purpose]
            message = template.get("EmailMessage") or DEFAULT_MESSAGES[purpose]
        else:
            subject, message = DEFAULT_SUBJECTS[purpose], DEFAULT_MESSAGES[purpose]
        from moto.ses.models import ses_backends

        sent = ses_backends[pool.account_id][pool.region].send_email(
            source=self.sender,
            subject=subject,
            body=message.replace("{####}", code),
            destinations={"ToAddresses": [email]},
        )
        return str(sent.id)

    def check_code(self, pool: Any, user: Any, purpose: str, code: str) -> None:
        """Consume the pending code if ``code`` is it.

        Raises moto errors as Cognito names them: ``CodeMismatchException`` (wrong, or none
        pending), ``ExpiredCodeException`` (past 24 hours), ``LimitExceededException`` (too many
        wrong codes: a new code must be requested).
        """
        key = (pool.id, user.id, purpose)
        pending = self.codes.get(key)
        if pending is None:
            raise _error("CodeMismatchException", "Invalid verification code provided, please try again.")
        if pending.failures >= MAX_CODE_FAILURES:
            raise _error("LimitExceededException", "Attempt limit exceeded, please try after some time.")
        if pending.expires_at <= self.clock():
            raise _error("ExpiredCodeException", "Invalid code provided, please request a code again.")
        if not secrets.compare_digest(pending.code, str(code or "")):
            pending.failures += 1
            raise _error("CodeMismatchException", "Invalid verification code provided, please try again.")
        del self.codes[key]

    # ------------------------------------------------------------------ trigger

    def post_confirmation(self, pool: Any, user: Any, client_id: str) -> None:
        """Invoke the pool's PostConfirmation function as Cognito does (synchronously; Cognito
        requires the event back).

        Raises ``UserLambdaValidationException`` when the function fails.
        """
        arn = (pool.extended_config.get("LambdaConfig") or {}).get("PostConfirmation")
        if not arn:
            return
        attributes = {**user.attribute_lookup, "sub": user.id, "cognito:user_status": "CONFIRMED"}
        event = {
            "version": TRIGGER_VERSION,
            "region": pool.region,
            "userPoolId": pool.id,
            "userName": user.username,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": client_id},
            "triggerSource": "PostConfirmation_ConfirmSignUp",
            "request": {"userAttributes": attributes},
            "response": {},
        }
        from moto.awslambda.models import lambda_backends

        headers: dict[str, str] = {}
        payload = lambda_backends[pool.account_id][pool.region].invoke(
            arn.rsplit(":", 1)[-1], None, json.dumps(event), {}, headers
        )
        if "x-amz-function-error" in headers:
            text = payload.decode() if isinstance(payload, bytes) else str(payload)
            try:
                reason = json.loads(text).get("errorMessage", text)
            except ValueError:
                reason = text
            raise _error("UserLambdaValidationException", f"PostConfirmation failed with error {reason}.")

    # ------------------------------------------------------------------ persistence

    def snapshot(self) -> dict[str, Any]:
        """The pools, clients, users, live tokens and pending codes of every moto Cognito backend."""
        from moto.cognitoidp.models import cognitoidp_backends

        now = self.clock()
        pools = []
        for account_id, regions in cognitoidp_backends.items():
            for region, backend in regions.items():
                if region == "global":
                    continue
                for pool in backend.user_pools.values():
                    pools.append(_pool_state(pool, account_id, region, now))
        codes = [
            {"pool": k[0], "user": k[1], "purpose": k[2], **asdict(v)}
            for k, v in self.codes.items()
            if v.expires_at > now
        ]
        return {"version": 1, "pools": pools, "codes": codes}

    def save(self) -> None:
        if self.state_path is None:
            return
        from devstack.private import write_private

        write_private(self.state_path, json.dumps(self.snapshot()))

    def restore(self) -> int:
        """Put back what :meth:`save` wrote (before the stack bootstraps); returns users restored."""
        if self.state_path is None or not self.state_path.exists():
            return 0
        data = json.loads(self.state_path.read_text())
        restored = sum(_restore_pool(p) for p in data.get("pools", []))
        for c in data.get("codes", []):
            self.codes[(c["pool"], c["user"], c["purpose"])] = PendingCode(
                c["code"], c["expires_at"], c.get("failures", 0)
            )
        return restored


def _error(kind: str, message: str) -> Exception:
    from moto.core.exceptions import JsonRESTError

    return JsonRESTError(kind, message)


def _token_live(token: str, now: float) -> bool:
    import jwt

    try:
        exp = jwt.decode(token, options={"verify_signature": False}).get("exp", 0)
    except jwt.PyJWTError:
        return False
    return bool(exp > now)


def _pool_state(pool: Any, account_id: str, region: str, now: float) -> dict[str, Any]:
    return {
        "account_id": account_id,
        "region": region,
        "id": pool.id,
        "name": pool.name,
        "config": {k: v for k, v in pool.extended_config.items() if _jsonable(v)},
        "clients": [
            {
                "id": c.id,
                "generate_secret": c.generate_secret,
                "secret": c.secret,
                "config": c.extended_config,
            }
            for c in pool.clients.values()
        ],
        "users": [
            {
                "id": u.id,
                "username": u.username,
                "password": u.password,
                "status": str(u.status.value if hasattr(u.status, "value") else u.status),
                "enabled": u.enabled,
                "attributes": u.attributes,
                "created": u.create_date.timestamp(),
            }
            for u in pool.users.values()
        ],
        "refresh_tokens": {t: list(v) if v else None for t, v in pool.refresh_tokens.items()},
        "access_tokens": {t: list(v) for t, v in pool.access_tokens.items() if _token_live(t, now)},
        "id_tokens": {t: list(v) for t, v in pool.id_tokens.items() if _token_live(t, now)},
    }


def _jsonable(value: Any) -> bool:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return False
    return True


def _restore_pool(state: dict[str, Any]) -> int:
    from datetime import UTC, datetime

    from moto.cognitoidp.models import CognitoIdpUser, UserStatus, cognitoidp_backends

    backend = cognitoidp_backends[state["account_id"]][state["region"]]
    pool = backend.create_user_pool(state["name"], dict(state["config"]))
    del backend.user_pools[pool.id]
    pool.id = state["id"]
    pool.arn = pool.arn.rsplit("/", 1)[0] + "/" + pool.id
    backend.user_pools[pool.id] = pool
    for c in state["clients"]:
        client = backend.create_user_pool_client(pool.id, c["generate_secret"], dict(c["config"]))
        del pool.clients[client.id]
        client.id, client.secret = c["id"], c["secret"]
        pool.clients[client.id] = client
    for u in state["users"]:
        user = CognitoIdpUser(pool.id, u["username"], u["password"], UserStatus(u["status"]), u["attributes"])
        user.id = u["id"]
        user.enabled = u["enabled"]
        user.update_attributes(u["attributes"])
        user.create_date = datetime.fromtimestamp(u["created"], UTC)
        pool.users[user.username] = user
    pool.refresh_tokens = {t: tuple(v) if v else None for t, v in state["refresh_tokens"].items()}
    pool.access_tokens = {t: (v[0], v[1]) for t, v in state["access_tokens"].items()}
    pool.id_tokens = {t: (v[0], v[1]) for t, v in state["id_tokens"].items()}
    return len(state["users"])


def jwks_document() -> bytes:
    """The public key moto signs every pool's tokens with (its ``jwks.json``), as served."""
    from moto.cognitoidp.responses import CognitoIdpJsonWebKeyResponse

    return bytes(CognitoIdpJsonWebKeyResponse.json_web_key)


# ----------------------------------------------------------------------------- the patches


def _pool_for_client(response: Any, client_id: str) -> Any:
    from moto.cognitoidp.exceptions import ResourceNotFoundError
    from moto.cognitoidp.models import cognitoidp_backends, find_account_region_by_value

    account, region = find_account_region_by_value(
        "client_id", client_id, fallback=(response.current_account, response.region)
    )
    for pool in cognitoidp_backends[account][region].user_pools.values():
        if client_id in pool.clients:
            return pool
    raise ResourceNotFoundError(client_id)


def _user(pool: Any, username: str) -> Any:
    from moto.cognitoidp.exceptions import UserNotFoundError

    user = pool._get_user(username)
    if not user:
        raise UserNotFoundError("Username/client id combination not found.")
    return user


def _stand_in() -> CognitoStandIn:
    if _active is None:
        raise _error("InternalErrorException", "the Cognito stand-in is not installed")
    return _active


def _sign_up(self: Any) -> Any:
    if _active is None:  # no stand-in: moto as it is
        return _originals["sign_up"](self)
    result = _originals["sign_up"](self)
    client_id, username = self._get_param("ClientId"), self._get_param("Username")
    pool = _pool_for_client(self, client_id)
    user = _user(pool, username)
    from moto.cognitoidp.models import UserStatus

    if user.status is UserStatus.UNCONFIRMED:
        _stand_in().issue_code(pool, user, SIGN_UP)
    return result


def _resend_confirmation_code(self: Any) -> Any:
    from moto.cognitoidp.models import UserStatus
    from moto.core.responses import ActionResult

    pool = _pool_for_client(self, self._get_param("ClientId"))
    user = _user(pool, self._get_param("Username"))
    if user.status is not UserStatus.UNCONFIRMED:
        raise _error("InvalidParameterException", "User is already confirmed.")
    _stand_in().issue_code(pool, user, SIGN_UP)
    email = user.attribute_lookup.get("email", "")
    first, _, domain = email.partition("@")
    return ActionResult(
        {
            "CodeDeliveryDetails": {
                "Destination": f"{first[:1]}***@{domain[:1]}***",
                "DeliveryMedium": "EMAIL",
                "AttributeName": "email",
            }
        }
    )


def _confirm_sign_up(self: Any) -> Any:
    if _active is None:  # no stand-in: moto as it is
        return _originals["confirm_sign_up"](self)
    from moto.cognitoidp.models import UserStatus

    client_id = self._get_param("ClientId")
    pool = _pool_for_client(self, client_id)
    user = _user(pool, self._get_param("Username"))
    if user.status is not UserStatus.UNCONFIRMED:
        raise _error(
            "NotAuthorizedException", f"User cannot be confirmed. Current status is {user.status.value}"
        )
    stand_in = _stand_in()
    stand_in.check_code(pool, user, SIGN_UP, self._get_param("ConfirmationCode"))
    result = _originals["confirm_sign_up"](self)
    user.update_attributes([{"Name": "email_verified", "Value": "true"}])
    stand_in.post_confirmation(pool, user, client_id)
    return result


def _forgot_password(self: Any) -> Any:
    if _active is None:  # no stand-in: moto as it is
        return _originals["forgot_password"](self)
    from moto.cognitoidp.models import cognitoidp_backends, find_account_region_by_value
    from moto.core.responses import ActionResult

    client_id, username = self._get_param("ClientId"), self._get_param("Username")
    account, region = find_account_region_by_value(
        "client_id", client_id, fallback=(self.current_account, self.region)
    )
    _, response = cognitoidp_backends[account][region].forgot_password(client_id, username)
    pool = _pool_for_client(self, client_id)
    user = pool._get_user(username)
    if user:
        user.confirmation_code = None  # moto's own code (returned in a header) is not used
        _stand_in().issue_code(pool, user, RESET)
    return ActionResult(response)


def _confirm_forgot_password(self: Any) -> Any:
    if _active is None:  # no stand-in: moto as it is
        return _originals["confirm_forgot_password"](self)
    from moto.cognitoidp.models import cognitoidp_backends

    client_id = self._get_param("ClientId")
    pool = _pool_for_client(self, client_id)
    user = _user(pool, self._get_param("Username"))
    # The password first: a weak one leaves the code usable for the next try.
    cognitoidp_backends[pool.account_id][pool.region]._validate_password(pool.id, self._get_param("Password"))
    _stand_in().check_code(pool, user, RESET, self._get_param("ConfirmationCode"))
    return _originals["confirm_forgot_password"](self)


_MUTATING_PREFIXES = ("List", "Describe", "Get")
_originals: dict[str, Callable[..., Any]] = {}


def _call_action(self: Any) -> Any:
    with _request_lock:
        result = _originals["call_action"](self)
        action = self._get_action()
        if _active is not None and not action.startswith(_MUTATING_PREFIXES):
            try:
                _active.save()
            except Exception:  # a failed save must not fail the request; the next one retries
                logger.exception("could not save the Cognito state")
        return result


def install(stand_in: CognitoStandIn) -> None:
    """Patch moto's cognito-idp responses (idempotent, process-wide) and route them to ``stand_in``."""
    global _active
    _active = stand_in
    from moto.cognitoidp.responses import CognitoIdpResponse

    with _install_lock:
        if getattr(CognitoIdpResponse, "_tailorcast_patched", False):
            return
        patches: dict[str, Callable[..., Any]] = {
            "sign_up": _sign_up,
            "confirm_sign_up": _confirm_sign_up,
            "forgot_password": _forgot_password,
            "confirm_forgot_password": _confirm_forgot_password,
            "call_action": _call_action,
        }
        for name, patched in patches.items():
            _originals[name] = getattr(CognitoIdpResponse, name)
            setattr(CognitoIdpResponse, name, patched)
        CognitoIdpResponse.resend_confirmation_code = _resend_confirmation_code  # type: ignore[attr-defined]
        CognitoIdpResponse._tailorcast_patched = True  # type: ignore[attr-defined]


def uninstall() -> None:
    """Forget the active stand-in (the patches stay: without one, they answer an error)."""
    global _active
    _active = None
