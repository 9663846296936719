"""The user pool through boto3 ``cognito-idp`` (Cognito in the cloud, moto's locally), with
Cognito's errors translated to what a person signing up or in can act on.

Only the public client's unauthenticated calls (and the user's own access token) are used: the
API never holds admin rights over the pool to sign people up or in.
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from chalicelib.adapters.aws_errors import translate
from chalicelib.domain.errors import (
    AuthenticationError,
    ConflictError,
    FieldIssue,
    InvalidInputError,
    NotConfirmedError,
    RateLimitedError,
    StorageError,
    TailorcastError,
)
from chalicelib.domain.identity import PASSWORD_POLICY
from chalicelib.domain.ports import AuthTokens

logger = logging.getLogger(__name__)

_UNAVAILABLE = "sign-in is unavailable right now; try again shortly"
#: Cognito's answers to too many attempts (codes, passwords, requests).
_TOO_MANY = frozenset(
    {
        "LimitExceededException",
        "TooManyFailedAttemptsException",
        "TooManyRequestsException",
        "CodeDeliveryFailureException",
    }
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _weak(field: str) -> InvalidInputError:
    return InvalidInputError(
        "the password is too weak", [FieldIssue(field, f"the password must be {PASSWORD_POLICY}")]
    )


def _bad_code(message: str) -> InvalidInputError:
    return InvalidInputError("the code is not valid", [FieldIssue("body.code", message)])


class CognitoIdentity:
    """The :class:`~chalicelib.domain.ports.IdentityProvider` port on a Cognito app client."""

    def __init__(self, client: Any, client_id: str) -> None:
        self._idp = client
        self._client_id = client_id

    def _call(
        self,
        operation: str,
        password_field: str = "body.password",  # noqa: S107 - the name of the field, not a password
        **kwargs: Any,
    ) -> Any:
        try:
            return getattr(self._idp, operation)(**kwargs)
        except ClientError as exc:
            raise self._translate(exc, operation, password_field) from exc
        except BotoCoreError as exc:
            raise translate(exc, f"cognito-idp.{operation}", _UNAVAILABLE) from exc

    def _translate(self, exc: ClientError, operation: str, password_field: str) -> TailorcastError:
        code = _code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))
        if code in ("UsernameExistsException", "AliasExistsException"):
            return ConflictError(
                "an account with this email already exists: log in, or reset the password "
                "(POST /auth/forgot-password) if you forgot it"
            )
        if code == "InvalidPasswordException":
            return _weak(password_field)
        if code == "CodeMismatchException":
            return _bad_code("the code is wrong: check the latest email, or request a new code")
        if code == "ExpiredCodeException":
            return _bad_code("the code has expired: request a new one (POST /auth/resend-code)")
        if code in _TOO_MANY:
            return RateLimitedError("too many attempts: wait a few minutes, then request a new code", 300)
        if code == "UserNotConfirmedException":
            return NotConfirmedError(
                "this email is not confirmed yet: enter the code we emailed (POST /auth/confirm), "
                "or request a new one (POST /auth/resend-code)"
            )
        if code in ("NotAuthorizedException", "UserNotFoundException"):
            if operation == "initiate_auth":
                return AuthenticationError("wrong email or password")
            if operation == "change_password":
                return AuthenticationError("the current password is wrong, or the session was signed out")
            if operation == "confirm_sign_up":
                return ConflictError("this email is already confirmed: log in")
            if operation in ("confirm_forgot_password", "resend_confirmation_code"):
                return _bad_code("the code is wrong: check the latest email, or request a new code")
            return AuthenticationError("the session is not valid any more: log in again")
        if code == "InvalidParameterException":
            if operation == "resend_confirmation_code":
                return ConflictError("this email is already confirmed: log in")
            return InvalidInputError("the request was refused", [FieldIssue("body.email", message)])
        if code == "UserLambdaValidationException":
            logger.error("the post-confirmation trigger failed", extra={"aws_error_code": code})
            return StorageError(
                "your email is confirmed, but the account could not be set up yet; try logging in shortly"
            )
        return translate(exc, f"cognito-idp.{operation}", _UNAVAILABLE)

    def sign_up(self, email: str, password: str, name: str | None, company: str | None) -> str:
        attributes = [{"Name": "email", "Value": email}]
        if name:
            attributes.append({"Name": "name", "Value": name})
        if company:
            attributes.append({"Name": "custom:company", "Value": company})
        reply = self._call(
            "sign_up", ClientId=self._client_id, Username=email, Password=password, UserAttributes=attributes
        )
        return str(reply["UserSub"])

    def confirm_sign_up(self, email: str, code: str) -> None:
        self._call("confirm_sign_up", ClientId=self._client_id, Username=email, ConfirmationCode=code)

    def resend_code(self, email: str) -> None:
        self._call("resend_confirmation_code", ClientId=self._client_id, Username=email)

    def log_in(self, email: str, password: str) -> AuthTokens:
        reply = self._call(
            "initiate_auth",
            ClientId=self._client_id,
            AuthFlow="USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": email, "PASSWORD": password},
        )
        return _tokens(reply)

    def refresh(self, refresh_token: str) -> AuthTokens:
        try:
            reply = self._call(
                "initiate_auth",
                ClientId=self._client_id,
                AuthFlow="REFRESH_TOKEN_AUTH",
                AuthParameters={"REFRESH_TOKEN": refresh_token},
            )
        except AuthenticationError as exc:
            raise AuthenticationError(
                "the refresh token is not valid (signed out, or expired): log in again"
            ) from exc
        return _tokens(reply)

    def log_out(self, access_token: str) -> None:
        self._call("global_sign_out", AccessToken=access_token)

    def forgot_password(self, email: str) -> None:
        self._call("forgot_password", ClientId=self._client_id, Username=email)

    def reset_password(self, email: str, code: str, password: str) -> None:
        self._call(
            "confirm_forgot_password",
            ClientId=self._client_id,
            Username=email,
            ConfirmationCode=code,
            Password=password,
        )

    def change_password(self, access_token: str, old_password: str, new_password: str) -> None:
        self._call(
            "change_password",
            password_field="body.new_password",  # noqa: S106 - a field name
            AccessToken=access_token,
            PreviousPassword=old_password,
            ProposedPassword=new_password,
        )


def _tokens(reply: dict[str, Any]) -> AuthTokens:
    result = reply.get("AuthenticationResult")
    if not result:  # a challenge (MFA, a new password): the pool is configured for none
        raise AuthenticationError(
            f"this sign-in needs a step the API does not offer ({reply.get('ChallengeName')})"
        )
    return AuthTokens(
        access_token=result["AccessToken"],
        id_token=result["IdToken"],
        refresh_token=result.get("RefreshToken"),
        expires_in=int(result["ExpiresIn"]),
    )
